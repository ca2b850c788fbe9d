//! Deterministic simulation of coordinator crashes: the coordinator stops at every
//! decision point of a workload (each pass through each crash point), is reopened,
//! and every participant must then agree on every transaction, each transaction must
//! be all-or-nothing for read-committed readers, every commit acknowledged to a client
//! must stand, and nothing a reader was ever shown may end up aborted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroU64;

use common::{NAMES, World, agreed_decisions, event, quick, visible_payloads};
use proptest::prelude::*;
use vexfs_journal::tx::{TxRole, role_of};
use vexfs_journal_coordinator::{CoordinatorError, Decision};

/// One client step.
#[derive(Clone, Debug)]
enum Op {
    /// Begin a transaction over these participants (indexes into `NAMES`).
    Begin(Vec<usize>),
    /// Add an event to participant `.1` of the `.0`th transaction begun.
    Add(usize, usize),
    Commit(usize),
    Abort(usize),
}

/// What the clients were told, and what readers were shown, before the crash.
#[derive(Default)]
struct Seen {
    txs: Vec<NonZeroU64>,
    /// Events each transaction wrote successfully: (participant, payload).
    acked: BTreeMap<u64, Vec<(usize, String)>>,
    /// Commits acknowledged to a client.
    committed: BTreeSet<u64>,
    /// Transactions a client asked to commit (acknowledged or not).
    commit_asked: BTreeSet<u64>,
    /// Transactions a read-committed reader delivered an event of.
    shown: BTreeSet<u64>,
}

fn observe(w: &World, seen: &mut Seen) {
    for i in 0..NAMES.len() {
        for e in w.committed(i) {
            if let TxRole::Member(tx) = role_of(&e) {
                seen.shown.insert(tx);
            }
        }
    }
}

/// Runs `ops` until the injected crash (or the end); returns what was seen.
fn run(w: &World, ops: &[Op]) -> Seen {
    let c = w.coord();
    let mut seen = Seen::default();
    let mut crashed = false;
    for (k, op) in ops.iter().enumerate() {
        let result = match op {
            Op::Begin(parts) => {
                let names: Vec<&str> = parts.iter().map(|&i| NAMES[i]).collect();
                c.begin(&names).map(|tx| seen.txs.push(tx))
            }
            Op::Add(t, p) => match seen.txs.get(*t) {
                Some(&tx) => {
                    let tag = format!("{}-{k}", tx.get());
                    c.add_events(tx, NAMES[*p], vec![event(&tag)]).map(|_| {
                        seen.acked.entry(tx.get()).or_default().push((*p, tag));
                    })
                }
                None => Ok(()),
            },
            Op::Commit(t) => match seen.txs.get(*t) {
                Some(&tx) => {
                    seen.commit_asked.insert(tx.get());
                    c.commit(tx).map(|()| {
                        seen.committed.insert(tx.get());
                    })
                }
                None => Ok(()),
            },
            Op::Abort(t) => match seen.txs.get(*t) {
                Some(&tx) => c.abort(tx),
                None => Ok(()),
            },
        };
        // Other refusals are ones a client may meet (not a participant, decided
        // already, ...).
        if let Err(CoordinatorError::Crashed(_)) = result {
            crashed = true;
        }
        observe(w, &mut seen);
        if crashed {
            break;
        }
    }
    seen
}

/// Reopens after the crash and checks agreement, atomicity, durability of
/// acknowledged commits, and that nothing shown was aborted.
fn check_after_restart(w: &mut World, seen: &Seen, label: &str) {
    let report = w.reopen();
    assert!(report.in_doubt.is_empty(), "{label}: {report:?}");
    assert!(w.coord().list_active().is_empty(), "{label}");
    // No participant undecided, every one holding events of a transaction holds its
    // marker, and all markers of a transaction agree.
    let decided = agreed_decisions(w, label);
    // Atomicity for readers: a committed transaction shows every acknowledged write,
    // an aborted one none.
    let visible = visible_payloads(w);
    for (tx, writes) in &seen.acked {
        let commit = decided.get(tx) == Some(&Decision::Commit);
        for (p, tag) in writes {
            assert_eq!(
                visible[*p].contains(tag),
                commit,
                "{label}: tx {tx} write {tag} at {}",
                NAMES[*p]
            );
        }
    }
    for tx in &seen.committed {
        assert_eq!(
            decided.get(tx),
            Some(&Decision::Commit),
            "{label}: acked commit {tx} lost"
        );
    }
    // Presumed abort: what no client asked to commit is aborted.
    for tx in &seen.txs {
        if !seen.commit_asked.contains(&tx.get()) {
            assert_ne!(
                decided.get(&tx.get()),
                Some(&Decision::Commit),
                "{label}: {tx} committed unasked"
            );
        }
    }
    for tx in &seen.shown {
        assert_eq!(
            decided.get(tx),
            Some(&Decision::Commit),
            "{label}: shown {tx} was not committed"
        );
    }
    // And the coordinator still works.
    let tx = w.coord().begin(&NAMES).unwrap();
    w.coord()
        .add_events(tx, "fuse", vec![event("after")])
        .unwrap();
    w.coord().commit(tx).unwrap();
}

fn workload() -> Vec<Op> {
    use Op::*;
    vec![
        Begin(vec![0, 1, 2]),
        Add(0, 0),
        Add(0, 1),
        Add(0, 2),
        Begin(vec![0, 2]),
        Add(1, 0),
        Commit(0),
        Add(1, 2),
        Begin(vec![1]),
        Add(2, 1),
        Abort(1),
        Commit(2),
    ]
}

// Checks I52, I53, I54 (docs/invariants.md).
#[test]
fn every_crash_point_of_a_workload_resolves_to_agreement() {
    let points = [
        ("begin-logged", 3),
        ("written", 6),
        ("prepared", 4),
        ("decision-logged", 3),
        ("marker", 6),
        ("completed", 3),
    ];
    let mut runs = 0;
    for (point, passes) in points {
        for nth in 0..passes {
            let dir = tempfile::tempdir().unwrap();
            let (mut w, _) = World::new(dir.path(), quick());
            w.coord().crash_at(point, nth);
            let seen = run(&w, &workload());
            check_after_restart(&mut w, &seen, &format!("{point}#{nth}"));
            runs += 1;
        }
    }
    assert_eq!(runs, 25);
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        proptest::sample::subsequence(vec![0usize, 1, 2], 1..=3).prop_map(Op::Begin),
        (0..4usize, 0..3usize).prop_map(|(t, p)| Op::Add(t, p)),
        (0..4usize).prop_map(Op::Commit),
        (0..4usize).prop_map(Op::Abort),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_workloads_with_a_random_crash_resolve_to_agreement(
        ops in proptest::collection::vec(op(), 1..16),
        point in proptest::sample::select(vec![
            "begin-logged", "written", "prepared", "decision-logged", "marker", "completed",
        ]),
        nth in 0u32..4,
        crash_participant_marker in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut w, _) = World::new(dir.path(), quick());
        w.coord().crash_at(point, nth);
        if crash_participant_marker {
            // A participant also fails to take markers until the restart.
            w.parts[2].fail_decide.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let seen = run(&w, &ops);
        check_after_restart(&mut w, &seen, &format!("{point}#{nth} {ops:?}"));
    }
}
