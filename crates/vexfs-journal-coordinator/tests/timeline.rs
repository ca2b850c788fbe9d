//! Causal order across journals: the coordinator orders decisions and markers after
//! every event of their transaction, the checker reports clocks that contradict that,
//! and the merged timeline is a linear extension of happens-before (I56).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::time::SystemTime;

use common::{NAMES, World, dirs, event, quick, stop};
use proptest::prelude::*;
use vexfs_journal::tx::{TxRole, role_of};
use vexfs_journal::{JournalReader, Query};
use vexfs_journal_coordinator::consistency::check;
use vexfs_journal_coordinator::timeline::merge;

fn now_ns() -> i64 {
    vexfs_journal::system_ns(SystemTime::now())
}

fn readers(w: &World) -> Vec<JournalReader> {
    for j in &w.journals {
        j.flush().unwrap();
    }
    NAMES
        .iter()
        .map(|n| JournalReader::open(w.root.join(n)).unwrap())
        .collect()
}

// Checks I56 (docs/invariants.md).
#[test]
fn every_marker_is_later_than_every_event_of_its_transaction_in_every_participant() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    // The first participant's clock runs ten seconds ahead of the others'.
    let ahead = now_ns() + 10_000_000_000;
    w.journals[0].observe_time(ahead);
    let c = w.coord();
    let tx = c.begin(&NAMES).unwrap();
    for n in NAMES {
        c.add_events(tx, n, vec![event(n)]).unwrap();
    }
    c.commit(tx).unwrap();
    let mut latest_event = i64::MIN;
    let mut markers = Vec::new();
    for i in 0..NAMES.len() {
        let (events, _) = w.read(i);
        for e in events {
            match role_of(&e) {
                TxRole::Member(_) => latest_event = latest_event.max(e.event.timestamp.ktime_ns),
                TxRole::Marker(..) => markers.push((i, e.event.timestamp.ktime_ns)),
                TxRole::None => {}
            }
        }
    }
    assert!(latest_event > ahead);
    assert_eq!(markers.len(), 3);
    for (i, t) in markers {
        assert!(t > latest_event, "{}: marker at {t}", NAMES[i]);
    }
    // The coordinator log's decision is later too.
    let log = w.coord().log();
    log.flush().unwrap();
    let decision = log
        .scan(1..log.next_seq())
        .map(|e| e.unwrap())
        .last()
        .unwrap();
    assert!(decision.event.timestamp.ktime_ns > latest_event);
    stop(&mut w);
    let report = check(&w.root.join("coordinator"), &dirs(&w)).unwrap();
    assert!(report.is_consistent(), "{report:#?}");
}

#[test]
fn a_commit_marker_not_later_than_its_transaction_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    let c = w.coord();
    let tx = c.begin(&NAMES).unwrap();
    // An explicit time an hour ahead: kept as given, and no clock follows it.
    let mut future = event("future");
    future.timestamp.ktime_ns = now_ns() + 3_600_000_000_000;
    c.add_events(tx, NAMES[0], vec![future]).unwrap();
    c.add_events(tx, NAMES[1], vec![event("now")]).unwrap();
    c.commit(tx).unwrap();
    stop(&mut w);
    let report = check(&w.root.join("coordinator"), &dirs(&w)).unwrap();
    assert!(!report.is_consistent());
    let mut at: Vec<&str> = report
        .clock_order
        .iter()
        .map(|f| f.participant.as_str())
        .collect();
    at.sort();
    // Every participant's marker, the one holding no event of it included.
    assert_eq!(at, ["fuse", "graph", "vectors"], "{report:#?}");
    assert!(report.clock_order.iter().all(|f| f.tx == tx.get()));
    assert!(
        report.clock_order[0].detail.contains("not later than"),
        "{}",
        report.clock_order[0].detail
    );
}

/// What a step of the random history does.
#[derive(Clone, Debug)]
enum Op {
    /// An event in one journal.
    Local(usize),
    /// An event in `from`, then (its time observed) an event it causes in `to`.
    Message { from: usize, to: usize },
    /// A journal's clock jumps ahead by this many milliseconds (a clock running fast).
    Skew(usize, u16),
    /// A committed transaction over the participants in the mask.
    Commit(u8),
    /// An aborted one (its events are never read; its markers are).
    Abort(u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3usize).prop_map(Op::Local),
        3 => (0..3usize, 0..3usize)
            .prop_filter("two journals", |(a, b)| a != b)
            .prop_map(|(from, to)| Op::Message { from, to }),
        1 => (0..3usize, 1..2_000u16).prop_map(|(j, ms)| Op::Skew(j, ms)),
        2 => (1..8u8).prop_map(Op::Commit),
        1 => (1..8u8).prop_map(Op::Abort),
    ]
}

/// An event's place: journal and sequence.
type At = (usize, u64);

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    // Checks I56 (docs/invariants.md).
    #[test]
    fn the_merged_timeline_is_a_linear_extension_of_happens_before(
        ops in proptest::collection::vec(op(), 1..30)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (w, _) = World::new(dir.path(), quick());
        let c = w.coord();
        // Happens-before edges, by payload tag (cause, effect); transactions' members.
        let mut edges: Vec<(String, String)> = Vec::new();
        let mut committed: Vec<(u64, Vec<String>)> = Vec::new();
        let mut n = 0usize;
        let mut tag = || { n += 1; format!("e{n}") };
        for op in &ops {
            match op {
                Op::Local(j) => {
                    w.journals[*j].emit(event(&tag())).unwrap();
                }
                Op::Message { from, to } => {
                    let (cause, effect) = (tag(), tag());
                    w.journals[*from].emit(event(&cause)).unwrap();
                    // The message carries the sender's clock once its event is written.
                    w.journals[*from].flush().unwrap();
                    let t = w.journals[*from].clock_time();
                    w.journals[*to].observe_time(t);
                    w.journals[*to].emit(event(&effect)).unwrap();
                    edges.push((cause, effect));
                }
                Op::Skew(j, ms) => {
                    let t = w.journals[*j].clock_time().max(now_ns());
                    w.journals[*j].observe_time(t + i64::from(*ms) * 1_000_000);
                }
                Op::Commit(mask) | Op::Abort(mask) => {
                    let names: Vec<&str> = (0..3).filter(|i| mask & (1 << i) != 0).map(|i| NAMES[i]).collect();
                    let tx = c.begin(&names).unwrap();
                    let mut members = Vec::new();
                    for name in &names {
                        let t = tag();
                        c.add_events(tx, name, vec![event(&t)]).unwrap();
                        members.push(t);
                    }
                    if matches!(op, Op::Commit(_)) {
                        c.commit(tx).unwrap();
                        committed.push((tx.get(), members));
                    } else {
                        c.abort(tx).unwrap();
                    }
                }
            }
        }
        let readers = readers(&w);
        let timeline: Vec<_> = merge(&readers, &Query::new()).map(|e| e.unwrap()).collect();
        // Where each event landed.
        let mut by_tag: HashMap<String, usize> = HashMap::new();
        let mut markers: HashMap<u64, Vec<usize>> = HashMap::new();
        let mut last_seq: HashMap<usize, u64> = HashMap::new();
        for (pos, t) in timeline.iter().enumerate() {
            let at: At = (t.journal, t.event.seq);
            // A journal's own order is kept.
            if let Some(prev) = last_seq.insert(at.0, at.1) {
                prop_assert!(prev < at.1, "journal {} out of order: {prev} then {}", at.0, at.1);
            }
            match role_of(&t.event) {
                TxRole::Marker(tx, _) => markers.entry(tx).or_default().push(pos),
                _ => {
                    let tag = String::from_utf8_lossy(&t.event.event.payload).into_owned();
                    by_tag.insert(tag, pos);
                }
            }
        }
        // Every committed event is there (aborted ones are not read).
        for (_, members) in &committed {
            for m in members {
                prop_assert!(by_tag.contains_key(m), "{m} missing");
            }
        }
        for (cause, effect) in &edges {
            prop_assert!(by_tag[cause] < by_tag[effect], "{cause} after its effect {effect}");
        }
        for (tx, members) in &committed {
            let marks = &markers[tx];
            prop_assert!(!marks.is_empty());
            for m in members {
                for mark in marks {
                    prop_assert!(by_tag[m] < *mark, "tx {tx}: {m} after a marker");
                }
            }
        }
        drop(readers);
        let mut w = w;
        stop(&mut w);
    }
}

/// The property above can fail: a message whose receiver does not observe the sender's
/// clock is ordered by wall clocks alone, and a sender running ahead puts the effect
/// first.
#[test]
fn without_the_observed_time_an_effect_can_come_before_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    w.journals[0].observe_time(now_ns() + 5_000_000_000);
    w.journals[0].emit(event("cause")).unwrap();
    w.journals[0].flush().unwrap();
    w.journals[1].emit(event("effect")).unwrap();
    let readers = readers(&w);
    let order: Vec<String> = merge(&readers, &Query::new())
        .map(|e| String::from_utf8_lossy(&e.unwrap().event.event.payload).into_owned())
        .collect();
    assert_eq!(order, ["effect", "cause"]);
    drop(readers);
    stop(&mut w);
}
