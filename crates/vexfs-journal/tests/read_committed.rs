//! Read committed through every read path of the facade: point reads, queries,
//! visits, subscriptions, replays, rates, for a writer and for a reader — also after
//! the indexes are rebuilt from the segments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use proptest::prelude::*;
use vexfs_journal::tx::Decision;
use vexfs_journal::*;

/// One step of a journal's history.
#[derive(Clone, Debug)]
enum Op {
    /// `n` ordinary events.
    Plain(usize),
    /// `n` events of coordinated transaction `tx`, in one batch.
    Member(u64, usize),
    /// The marker deciding `tx`.
    Marker(u64, Decision),
}

/// What a record is, for the model.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Plain,
    Member(u64),
    Marker(u64, Decision),
}

fn plain(i: usize) -> Event {
    Event::filesystem(FsOp::Write).path(format!("/data/{}", i % 7))
}

fn marker(decision: Decision) -> Event {
    let mut e = Event::new(SemanticOp::TransactionEnd);
    e.subtype = decision.marker_subtype();
    e
}

fn tx(id: u64) -> NonZeroU64 {
    NonZeroU64::new(id).unwrap()
}

/// Writes `ops`; returns each record's kind by sequence (from 1).
fn write(j: &Journal, ops: &[Op]) -> Vec<(u64, Kind)> {
    let mut out = Vec::new();
    for op in ops {
        let (range, kind) = match op {
            Op::Plain(n) => (
                j.emit_batch_atomic((0..*n).map(plain).collect()).unwrap(),
                Kind::Plain,
            ),
            Op::Member(t, n) => (
                ext::emit_transactional(j, tx(*t), (0..*n).map(plain).collect(), false).unwrap(),
                Kind::Member(*t),
            ),
            Op::Marker(t, d) => (
                ext::emit_transactional(j, tx(*t), vec![marker(*d)], false).unwrap(),
                Kind::Marker(*t, *d),
            ),
        };
        out.extend(range.map(|s| (s, kind)));
    }
    j.sync().unwrap();
    out
}

/// The model: the sequences a read-committed reader delivers, and the stable end.
fn expected(records: &[(u64, Kind)], end: u64) -> (Vec<u64>, u64) {
    let first_marker = |t: u64| {
        records.iter().find_map(|(s, k)| match k {
            Kind::Marker(m, d) if *m == t => Some((*s, *d)),
            _ => None,
        })
    };
    let stable = records
        .iter()
        .filter_map(|(s, k)| match k {
            Kind::Member(t) if first_marker(*t).is_none() => Some(*s),
            _ => None,
        })
        .min()
        .unwrap_or(end);
    let delivered = records
        .iter()
        .filter(|(s, k)| {
            *s < stable
                && match k {
                    Kind::Plain | Kind::Marker(..) => true,
                    Kind::Member(t) => {
                        matches!(first_marker(*t), Some((m, Decision::Commit)) if m > *s)
                    }
                }
        })
        .map(|(s, _)| *s)
        .collect();
    (delivered, stable)
}

fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Checks every read path of `f` against the model.
fn check_reads<F: Follow>(f: &F, want: &[u64], stable: u64, end: u64) {
    let page = f.query(&Query::new()).unwrap();
    assert_eq!(seqs(&page.events), want, "query");
    // A page of 3 counts only delivered events.
    let first3 = f.query(&Query::new().limit(3)).unwrap();
    assert_eq!(
        seqs(&first3.events),
        want[..want.len().min(3)],
        "query limit"
    );
    let newest = f.query(&Query::new().reverse(true).limit(2)).unwrap();
    let rev: Vec<u64> = want.iter().rev().take(2).copied().collect();
    assert_eq!(seqs(&newest.events), rev, "reverse query");
    let mut visited = Vec::new();
    f.query_visit(&Query::new(), |v| {
        visited.push(v.raw_ext.userspace_sequence.get());
        true
    })
    .unwrap();
    assert_eq!(visited, want, "query_visit");
    let got: Vec<u64> = (0..end + 2)
        .filter(|s| f.get(*s).unwrap().is_some())
        .collect();
    assert_eq!(got, want, "get");
    assert_eq!(f.followable_end(), stable, "followable_end");
    let mut sub = f.subscribe(Query::new(), StartAt::Beginning).unwrap();
    let mut followed = Vec::new();
    while let Some(e) = sub.try_next().unwrap() {
        followed.push(e.seq);
    }
    assert_eq!(followed, want, "subscription");
    let (replayed, counts) = replayed_with_counts(f, ReplayStart::Beginning);
    assert_eq!(replayed, want, "replay");
    let n = want.len() as u64;
    assert_eq!(counts, (n, n), "replay and replay_unordered reports");
    let rate = f
        .rate(&RateQuery {
            by: RateBy::Type,
            step_ns: 3_600_000_000_000,
            since_ns: None,
            until_ns: None,
            visibility: None,
        })
        .unwrap();
    let counted: u64 = rate.buckets.iter().flat_map(|b| b.counts.values()).sum();
    assert_eq!(counted, want.len() as u64, "rate");
}

fn small_blocks() -> Config {
    Config {
        block_bytes: 1024,
        segment_size: 64 * 1024,
        ..Config::default()
    }
}

/// Every reader of a journal with committed, aborted and undecided transactions sees
/// the same read-committed history, before and after its indexes are rebuilt.
fn check_history(ops: &[Op]) {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), small_blocks()).unwrap();
    let records = write(&j, ops);
    let end = j.next_seq();
    let (want, stable) = expected(&records, end);
    check_reads(&j, &want, stable, end);
    let r = JournalReader::open(dir.path()).unwrap();
    check_reads(&r, &want, stable, end);
    j.close().unwrap();
    drop(r);
    // Indexes rebuilt from the segments carry the same summary flags.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let r = JournalReader::open(dir.path()).unwrap();
    check_reads(&r, &want, stable, end);
}

// Checks I53 (docs/invariants.md).
#[test]
fn every_read_path_is_read_committed() {
    use Decision::{Abort, Commit};
    check_history(&[
        Op::Plain(3),
        Op::Member(1, 2),
        Op::Member(2, 3),
        Op::Plain(200),
        Op::Marker(2, Abort),
        Op::Marker(1, Commit),
        Op::Plain(2),
        Op::Member(3, 1),
        Op::Plain(50),
    ]);
    // Decided: everything delivered but the aborted events; an event written after
    // its transaction's marker is never delivered; a second marker does not count.
    check_history(&[
        Op::Member(4, 3),
        Op::Plain(300),
        Op::Marker(4, Commit),
        Op::Member(5, 2),
        Op::Marker(5, Abort),
        Op::Member(5, 1),
        Op::Marker(5, Commit),
        Op::Plain(1),
    ]);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1usize..40).prop_map(Op::Plain),
        2 => (1u64..6, 1usize..5).prop_map(|(t, n)| Op::Member(t, n)),
        2 => (1u64..6, any::<bool>())
            .prop_map(|(t, c)| Op::Marker(t, if c { Decision::Commit } else { Decision::Abort })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    // Checks I53 (docs/invariants.md).
    #[test]
    fn random_histories_match_the_model(ops in prop::collection::vec(op(), 1..30)) {
        check_history(&ops);
    }
}

// Checks I53 (docs/invariants.md).
#[test]
fn a_subscription_waits_for_the_decision_then_delivers_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), small_blocks()).unwrap();
    let mut sub = j.subscribe(Query::new(), StartAt::Now).unwrap();
    let a = j.emit_durable(plain(0)).unwrap();
    let members = ext::emit_transactional(&j, tx(9), vec![plain(1), plain(2)], true).unwrap();
    let b = j.emit_durable(plain(3)).unwrap();
    assert_eq!(
        sub.next_timeout(Duration::from_secs(5))
            .unwrap()
            .unwrap()
            .seq,
        a
    );
    // Held at the undecided transaction: nothing more, however long it waits.
    assert!(
        sub.next_timeout(Duration::from_millis(300))
            .unwrap()
            .is_none()
    );
    assert_eq!(j.followable_end(), members.start);
    // A subscription started now begins at the followable end: it will see the
    // transaction's events once decided.
    let mut late = j.subscribe(Query::new(), StartAt::Now).unwrap();
    let decider = {
        let j = j.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            ext::emit_transactional(&j, tx(9), vec![marker(Decision::Commit)], true).unwrap()
        })
    };
    let mut got = Vec::new();
    while got.len() < 4 {
        got.push(
            sub.next_timeout(Duration::from_secs(5))
                .unwrap()
                .unwrap()
                .seq,
        );
    }
    let m = decider.join().unwrap();
    let want = vec![members.start, members.start + 1, b, m.start];
    assert_eq!(got, want);
    let mut late_got = Vec::new();
    while late_got.len() < 4 {
        late_got.push(
            late.next_timeout(Duration::from_secs(5))
                .unwrap()
                .unwrap()
                .seq,
        );
    }
    assert_eq!(late_got, want);
    assert_eq!(j.wait_followable(0, Duration::ZERO).unwrap(), m.end);
}

// Checks I53 (docs/invariants.md).
#[test]
fn an_aborted_transaction_never_reaches_a_follower() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), small_blocks()).unwrap();
    let r = JournalReader::open(dir.path()).unwrap();
    let mut sub = r.subscribe(Query::new(), StartAt::Beginning).unwrap();
    let members = ext::emit_transactional(&j, tx(3), vec![plain(1)], true).unwrap();
    let after = j.emit_durable(plain(2)).unwrap();
    // The reader waits at the undecided transaction (polling the files).
    r.refresh().unwrap();
    assert!(
        sub.next_timeout(Duration::from_millis(200))
            .unwrap()
            .is_none()
    );
    let m = ext::emit_transactional(&j, tx(3), vec![marker(Decision::Abort)], true).unwrap();
    let mut got = Vec::new();
    while got.len() < 2 {
        got.push(
            sub.next_timeout(Duration::from_secs(5))
                .unwrap()
                .unwrap()
                .seq,
        );
    }
    assert_eq!(got, vec![after, m.start]);
    assert!(r.get(members.start).unwrap().is_none());
}

// Checks I53 (docs/invariants.md).
#[test]
fn a_marker_past_what_a_read_sees_does_not_decide_for_it() {
    // A writer's queries see written records, its subscriptions durable ones; the
    // handle's one view is fed as far as the furthest read.
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        fsync: FsyncPolicy::Interval(Duration::from_secs(3600)),
        ..Config::default()
    };
    let j = Journal::create(dir.path(), config).unwrap();
    let member = ext::emit_transactional(&j, tx(7), vec![plain(1)], true).unwrap();
    let m = ext::emit_transactional(&j, tx(7), vec![marker(Decision::Commit)], false).unwrap();
    j.flush().unwrap();
    assert!(
        j.durable_seq() <= m.start,
        "the marker must not be durable yet"
    );
    // The query sees the marker (written), and feeds the view that far.
    let seen = seqs(&j.query(&Query::new()).unwrap().events);
    assert_eq!(seen, vec![member.start, m.start]);
    // A subscription sees durable records only: the member is still undecided there.
    let mut sub = j.subscribe(Query::new(), StartAt::Beginning).unwrap();
    assert!(sub.try_next().unwrap().is_none());
    assert_eq!(j.followable_end(), member.start);
    j.sync().unwrap();
    assert_eq!(sub.try_next().unwrap().unwrap().seq, member.start);
}

/// Sequences a replay from `start` delivers, through all three replays (which must
/// agree).
fn replayed<F: Follow>(f: &F, start: ReplayStart) -> Vec<u64> {
    replayed_with_counts(f, start).0
}

/// [`replayed`], with the event counts the ordered and unordered replays report.
fn replayed_with_counts<F: Follow>(f: &F, start: ReplayStart) -> (Vec<u64>, (u64, u64)) {
    let cancel = AtomicBool::new(false);
    let mut ordered = Vec::new();
    let report = f
        .replay(
            ReplayOptions::default(),
            start.clone(),
            &cancel,
            &mut |_| {},
            &mut |e| {
                ordered.push(e.seq);
                true
            },
        )
        .unwrap();
    let mut views = Vec::new();
    f.replay_views(
        ReplayOptions::default(),
        start.clone(),
        &cancel,
        &mut |_| {},
        &mut |v| {
            views.push(v.raw_ext.userspace_sequence.get());
            true
        },
    )
    .unwrap();
    assert_eq!(views, ordered, "replay_views");
    let unordered = Mutex::new(BTreeSet::new());
    let unordered_report = f
        .replay_unordered(
            ReplayOptions::default(),
            start,
            &cancel,
            &mut |_| {},
            &|e| {
                unordered.lock().unwrap().insert(e.seq);
            },
        )
        .unwrap();
    let unordered: Vec<u64> = unordered.into_inner().unwrap().into_iter().collect();
    assert_eq!(unordered, ordered, "replay_unordered");
    (ordered, (report.events, unordered_report.events))
}

// Checks I53 (docs/invariants.md).
#[test]
fn a_replay_from_a_checkpoint_starts_where_read_committed_readers_stopped() {
    // A transaction undecided at the checkpoint: a read-committed reader then stopped
    // at its first event, so the incremental replay from that checkpoint must start
    // there (not at the checkpoint's durable position), or its events — and the
    // ordinary ones after it — would reach neither replay.
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    let before = j.emit_batch_atomic(vec![plain(0)]).unwrap();
    let member = ext::emit_transactional(&j, tx(9), vec![plain(1)], false).unwrap();
    let after = j.emit_batch_atomic(vec![plain(2)]).unwrap();
    j.sync().unwrap();
    let at_checkpoint = replayed(&j, ReplayStart::Beginning);
    assert_eq!(at_checkpoint, vec![before.start]);
    let id = j.create_checkpoint().unwrap().id;
    let m = ext::emit_transactional(&j, tx(9), vec![marker(Decision::Commit)], false).unwrap();
    let last = j.emit_batch_atomic(vec![plain(3)]).unwrap();
    j.sync().unwrap();
    let incremental = replayed(&j, ReplayStart::Checkpoint(id));
    assert_eq!(
        incremental,
        vec![member.start, after.start, m.start, last.start]
    );
    // Together: every committed event exactly once, as a full replay now.
    let mut both = at_checkpoint;
    both.extend(&incremental);
    assert_eq!(both, replayed(&j, ReplayStart::Beginning));
    // With nothing undecided at a checkpoint, its replay starts right after it.
    let id2 = j.create_checkpoint().unwrap().id;
    let newest = j.emit_batch_atomic(vec![plain(4)]).unwrap();
    j.sync().unwrap();
    assert_eq!(
        replayed(&j, ReplayStart::Checkpoint(id2)),
        vec![newest.start]
    );
    // The same through a reader of the files.
    j.close().unwrap();
    let r = JournalReader::open(dir.path()).unwrap();
    let mut through_reader = incremental;
    through_reader.push(newest.start);
    assert_eq!(replayed(&r, ReplayStart::Checkpoint(id)), through_reader);
    assert_eq!(
        replayed(&r, ReplayStart::Checkpoint(id2)),
        vec![newest.start]
    );
}
