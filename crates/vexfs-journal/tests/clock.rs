//! The journal's hybrid logical clock: assigned times rise strictly with sequence,
//! whatever the producers' interleaving, pass every observed time, and survive a
//! restart; explicit times are kept as given.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use vexfs_journal::{Config, Event, FsOp, Journal, StoredEvent};

fn now_ns() -> i64 {
    vexfs_journal::system_ns(SystemTime::now())
}

fn ev(tag: &str) -> Event {
    Event::filesystem(FsOp::Write).path(format!("/c/{tag}"))
}

fn all(j: &Journal) -> Vec<StoredEvent> {
    j.flush().unwrap();
    j.scan(1..j.next_seq()).map(|e| e.unwrap()).collect()
}

fn assert_rising(events: &[StoredEvent]) {
    for w in events.windows(2) {
        assert!(
            w[1].event.timestamp.ktime_ns > w[0].event.timestamp.ktime_ns,
            "event {} at {} is not later than event {} at {}",
            w[1].seq,
            w[1].event.timestamp.ktime_ns,
            w[0].seq,
            w[0].event.timestamp.ktime_ns
        );
    }
}

// Checks I56 (docs/invariants.md).
#[test]
fn assigned_times_rise_strictly_with_sequence_under_concurrent_producers() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let j = j.clone();
            s.spawn(move || {
                for i in 0..2_000 {
                    if i % 100 == 0 {
                        let batch = (0..5).map(|k| ev(&format!("{t}-{i}-{k}"))).collect();
                        j.emit_batch_atomic(batch).unwrap();
                    } else {
                        j.emit(ev(&format!("{t}-{i}"))).unwrap();
                    }
                }
            });
        }
    });
    let events = all(&j);
    assert_eq!(events.len(), 4 * (1_980 + 20 * 5));
    assert_rising(&events);
    assert_eq!(
        j.clock_time(),
        events.last().unwrap().event.timestamp.ktime_ns
    );
    j.close().unwrap();
}

// Checks I56 (docs/invariants.md).
#[test]
fn an_observed_time_orders_later_events_after_it_even_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    j.emit(ev("before")).unwrap();
    // (The clock applies to what the writer takes after the observation: make sure it
    // took "before" already.)
    j.flush().unwrap();
    // Another journal's clock runs a minute ahead: what follows its event here is later.
    let ahead = now_ns() + Duration::from_secs(60).as_nanos() as i64;
    j.observe_time(ahead);
    assert!(j.clock_time() >= ahead);
    j.emit(ev("after")).unwrap();
    let events = all(&j);
    assert!(events[1].event.timestamp.ktime_ns > ahead);
    assert!(events[0].event.timestamp.ktime_ns < ahead);
    let highest = events[1].event.timestamp.ktime_ns;
    j.close().unwrap();
    // The wall clock is still a minute behind: the clock restarts above what is stored.
    let j = Journal::open(dir.path(), Config::default()).unwrap();
    assert_eq!(j.clock_time(), highest);
    j.emit(ev("reopened")).unwrap();
    let events = all(&j);
    assert_eq!(events.len(), 3);
    assert_rising(&events);
    j.close().unwrap();
}

#[test]
fn an_explicit_time_is_kept_as_given_and_does_not_move_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    j.emit(ev("a")).unwrap();
    let mut old = ev("historical");
    old.timestamp.ktime_ns = 1_000;
    j.emit(old).unwrap();
    let mut future = ev("future");
    let far = now_ns() + Duration::from_secs(2 * 3_600).as_nanos() as i64;
    future.timestamp.ktime_ns = far;
    j.emit(future).unwrap();
    j.emit(ev("b")).unwrap();
    let events = all(&j);
    assert_eq!(events[1].event.timestamp.ktime_ns, 1_000);
    assert_eq!(events[2].event.timestamp.ktime_ns, far);
    let (a, b) = (
        events[0].event.timestamp.ktime_ns,
        events[3].event.timestamp.ktime_ns,
    );
    assert!(b > a && b < far, "a {a}, b {b}, far {far}");
    j.close().unwrap();
    // Nor does it at the next open: a time hours ahead is no clock's doing.
    let j = Journal::open(dir.path(), Config::default()).unwrap();
    assert!(j.clock_time() < far);
    j.emit(ev("c")).unwrap();
    let c = all(&j)[4].event.timestamp.ktime_ns;
    assert!(c > b && c < far, "b {b}, c {c}, far {far}");
    j.close().unwrap();
}
