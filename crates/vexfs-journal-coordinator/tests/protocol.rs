//! The protocol without crashes: commit, abort, read committed, fencing, timeouts,
//! participant failures, bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use std::num::NonZeroU64;
use std::sync::Arc;

use common::{NAMES, World, agreed_decisions, event, payloads, quick};
use vexfs_journal::OpenOptions;
use vexfs_journal::{Config, FullPolicy, Journal};
use vexfs_journal_coordinator::{
    Coordinator, CoordinatorConfig, CoordinatorError, Decision, JournalParticipant, Participant,
    TxState,
};
use vexfs_journal_storage::faults::Faults;

#[test]
fn a_committed_transaction_becomes_visible_in_every_participant() {
    let dir = tempfile::tempdir().unwrap();
    let (w, report) = World::new(dir.path(), quick());
    assert_eq!(report.log_records, 0);
    let c = w.coord();
    let tx = c.begin(&NAMES).unwrap();
    let mut ends = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        let r = c
            .add_events(
                tx,
                name,
                vec![event(&format!("a{i}")), event(&format!("b{i}"))],
            )
            .unwrap();
        assert_eq!(r.end - r.start, 2);
        ends.push(r.end);
    }
    // Before the decision no read-committed reader sees any of it.
    for (i, name) in NAMES.iter().enumerate() {
        assert!(payloads(&w, i).is_empty(), "{name}");
        let (events, _) = w.read(i);
        assert!(events.iter().all(|e| e.ext.cross_boundary_id == tx.get()));
    }
    assert_eq!(c.list_active().len(), 1);
    // Prepared: every participant's events of the transaction are durable.
    c.prepare(tx).unwrap();
    for (i, end) in ends.iter().enumerate() {
        assert!(w.journals[i].durable_seq() >= *end, "{}", NAMES[i]);
    }
    assert!(payloads(&w, 0).is_empty());
    c.commit(tx).unwrap();
    // Read your commit: a query right after it (no flush) sees the events.
    for (i, name) in NAMES.iter().enumerate() {
        let seen = w.journals[i].query(&vexfs_journal::Query::new()).unwrap();
        assert_eq!(seen.events.len(), 3, "{name}: two events and the marker");
    }
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(
            payloads(&w, i),
            [format!("a{i}"), format!("b{i}")],
            "{name}"
        );
    }
    assert!(
        w.decisions()
            .iter()
            .all(|d| d.get(&tx.get()) == Some(&Decision::Commit))
    );
    let s = c.status(tx.get()).unwrap();
    assert!(s.finished && s.state == TxState::Committed && s.undelivered.is_empty());
    assert_eq!(s.written.len(), 3);
    assert!(c.list_active().is_empty());
    let m = c.metrics();
    assert_eq!((m.begun, m.committed, m.aborted, m.in_doubt), (1, 1, 0, 0));
    assert_eq!(m.commit.samples, 1);
    // Finished: it cannot be changed any more.
    assert!(matches!(
        c.abort(tx),
        Err(CoordinatorError::UnknownTransaction { .. })
    ));
}

// Checks I53 (docs/invariants.md).
#[test]
fn an_aborted_transaction_is_never_delivered_and_stops_holding_readers_back() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = World::new(dir.path(), quick());
    let c = w.coord();
    w.journals[0].emit(event("before")).unwrap();
    let tx = c.begin(&NAMES[..2]).unwrap();
    c.add_events(tx, "fuse", vec![event("doomed")]).unwrap();
    // An ordinary event after an undecided transaction waits behind it (read
    // committed does not pass the first undecided event) ...
    w.journals[0].emit(event("after")).unwrap();
    assert_eq!(payloads(&w, 0), ["before"]);
    // ... but ordinary events of another journal do not.
    w.journals[2].emit(event("elsewhere")).unwrap();
    assert_eq!(payloads(&w, 2), ["elsewhere"]);
    c.abort(tx).unwrap();
    assert_eq!(payloads(&w, 0), ["before", "after"]);
    let d = w.decisions();
    assert_eq!(d[0].get(&tx.get()), Some(&Decision::Abort));
    assert_eq!(d[1].get(&tx.get()), Some(&Decision::Abort));
    assert!(d[2].is_empty(), "graph was not a participant");
    assert_eq!(c.status(tx.get()).unwrap().state, TxState::Aborted);
    assert_eq!(c.metrics().aborted, 1);
}

// Checks I52 (docs/invariants.md).
#[test]
fn a_restart_aborts_undecided_transactions_and_fences_their_writers() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    let open = w.coord().begin(&NAMES).unwrap();
    w.coord()
        .add_events(open, "vectors", vec![event("x")])
        .unwrap();
    let done = w.coord().begin(&NAMES[..1]).unwrap();
    w.coord()
        .add_events(done, "fuse", vec![event("y")])
        .unwrap();
    w.coord().commit(done).unwrap();
    let report = w.reopen();
    assert_eq!(report.aborted, [open.get()]);
    assert!(report.committed.is_empty() && report.in_doubt.is_empty());
    // The old transaction's writer is fenced off.
    assert!(matches!(
        w.coord().add_events(open, "vectors", vec![event("late")]),
        Err(CoordinatorError::UnknownTransaction { .. })
    ));
    assert!(payloads(&w, 1).is_empty());
    assert_eq!(payloads(&w, 0), ["y"]);
    let d = w.decisions();
    for i in 0..NAMES.len() {
        assert_eq!(
            d[i].get(&open.get()),
            Some(&Decision::Abort),
            "{}",
            NAMES[i]
        );
    }
    // New transactions get new ids.
    let next = w.coord().begin(&NAMES).unwrap();
    assert!(next > done);
    // A second restart aborts only what was left open since.
    let report = w.reopen();
    assert_eq!(report.aborted, [next.get()]);
    assert!(report.committed.is_empty());
    let report = w.reopen();
    assert!(report.aborted.is_empty() && report.committed.is_empty());
    assert!(report.log_records >= 6);
}

#[test]
fn a_transaction_that_runs_out_of_time_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let config = CoordinatorConfig {
        timeout: Duration::from_millis(50),
        reap_interval: Duration::from_millis(10),
    };
    let (w, _) = World::new(dir.path(), config);
    let c = w.coord();
    let tx = c.begin(&NAMES).unwrap();
    c.add_events(tx, "graph", vec![event("slow")]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while c.status(tx.get()).is_some_and(|s| !s.finished) {
        assert!(
            std::time::Instant::now() < deadline,
            "the reaper never aborted it"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(c.status(tx.get()).unwrap().state, TxState::Aborted);
    assert!(matches!(
        c.commit(tx),
        Err(CoordinatorError::UnknownTransaction { .. })
    ));
    let m = c.metrics();
    assert_eq!((m.aborted, m.timed_out), (1, 1));
    assert!(payloads(&w, 2).is_empty());
}

#[test]
fn a_participant_failing_before_the_decision_aborts_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = World::new(dir.path(), quick());
    let c = w.coord();
    let tx = c.begin(&NAMES).unwrap();
    c.add_events(tx, "fuse", vec![event("f")]).unwrap();
    c.add_events(tx, "graph", vec![event("g")]).unwrap();
    w.parts[1].fail_prepare.store(true, Ordering::Relaxed);
    let err = c.commit(tx).unwrap_err();
    assert!(
        matches!(&err, CoordinatorError::Aborted { step: "prepare", name, .. } if name == "vectors"),
        "{err}"
    );
    let d = w.decisions();
    assert!(d.iter().all(|d| d.get(&tx.get()) == Some(&Decision::Abort)));
    assert!(payloads(&w, 0).is_empty() && payloads(&w, 2).is_empty());

    // A failed write aborts too.
    let tx = c.begin(&NAMES).unwrap();
    w.parts[2].fail_write.store(true, Ordering::Relaxed);
    let err = c.add_events(tx, "graph", vec![event("g")]).unwrap_err();
    assert!(
        matches!(err, CoordinatorError::Aborted { step: "write", .. }),
        "{err}"
    );
    assert_eq!(c.status(tx.get()).unwrap().state, TxState::Aborted);
}

// Checks I54 (docs/invariants.md).
#[test]
fn a_participant_failing_after_the_decision_gets_it_on_resolve_or_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    let tx = w.coord().begin(&NAMES).unwrap();
    for name in NAMES {
        w.coord().add_events(tx, name, vec![event(name)]).unwrap();
    }
    w.parts[2].fail_decide.store(true, Ordering::Relaxed);
    let err = w.coord().commit(tx).unwrap_err();
    assert!(
        matches!(&err, CoordinatorError::Undelivered { pending, .. } if pending == &["graph"]),
        "{err}"
    );
    // Committed: visible where the marker is, still hidden where it is not.
    assert_eq!(payloads(&w, 0), ["fuse"]);
    assert!(payloads(&w, 2).is_empty());
    let s = w.coord().status(tx.get()).unwrap();
    assert_eq!((s.state, s.finished), (TxState::Committed, false));
    assert_eq!(w.coord().metrics().in_doubt, 1);
    assert!(matches!(
        w.coord().abort(tx),
        Err(CoordinatorError::WrongState { .. })
    ));
    w.parts[2].fail_decide.store(false, Ordering::Relaxed);
    w.coord().resolve(tx).unwrap();
    assert_eq!(payloads(&w, 2), ["graph"]);

    // The same through a restart instead of resolve.
    let tx = w.coord().begin(&NAMES).unwrap();
    w.coord()
        .add_events(tx, "graph", vec![event("g2")])
        .unwrap();
    w.parts[2].fail_decide.store(true, Ordering::Relaxed);
    assert!(w.coord().commit(tx).is_err());
    let report = w.reopen();
    assert_eq!(report.committed, [tx.get()]);
    assert_eq!(payloads(&w, 2), ["graph", "g2"]);
}

/// Whether the coordinator log holds a completion record for `tx`.
fn logged_complete(w: &World, tx: NonZeroU64) -> bool {
    let log = w.coord().log();
    log.flush().unwrap();
    let tag = vexfs_journal_coordinator::log::tag_of(log.journal_id());
    vexfs_journal_coordinator::summarize(tag, log.scan(1..log.next_seq())).unwrap()[&tx.get()]
        .complete
}

// Checks I54 (docs/invariants.md).
#[test]
fn a_completion_is_logged_only_once_every_marker_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    // A participant whose markers cannot be made durable: the commit stands (its
    // decision is durable) and every marker is written, but the transaction is not
    // logged complete, so a restart delivers its markers again.
    w.parts[1].fail_sync.store(true, Ordering::Relaxed);
    let tx = w.coord().begin(&NAMES).unwrap();
    for name in NAMES {
        w.coord().add_events(tx, name, vec![event(name)]).unwrap();
    }
    w.coord().commit(tx).unwrap();
    assert_eq!(payloads(&w, 1), ["vectors"]);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !logged_complete(&w, tx),
        "completed before the marker was durable"
    );
    assert_eq!(w.coord().metrics().completing, 1);
    let report = w.reopen();
    assert_eq!(
        report.committed,
        [tx.get()],
        "redelivered after the restart"
    );

    // Once the markers are durable, the completion follows without being asked, and
    // a restart has nothing to deliver.
    let tx = w.coord().begin(&NAMES).unwrap();
    w.coord().add_events(tx, "graph", vec![event("g")]).unwrap();
    w.coord().commit(tx).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !logged_complete(&w, tx) {
        assert!(std::time::Instant::now() < deadline, "never completed");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(w.coord().metrics().completing, 0);
    for i in 0..NAMES.len() {
        assert!(w.journals[i].durable_seq() >= w.journals[i].next_seq());
    }
    let report = w.reopen();
    assert!(report.committed.is_empty(), "{report:?}");
}

#[test]
fn bad_input_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = World::new(dir.path(), quick());
    let c = w.coord();
    let msg = |e: CoordinatorError| e.to_string();
    assert!(msg(c.begin(&[]).unwrap_err()).contains("none given"));
    assert!(msg(c.begin(&["fuse", "fuse"]).unwrap_err()).contains("named twice"));
    assert!(msg(c.begin(&["disk"]).unwrap_err()).contains("no participant named \"disk\""));
    let tx = c.begin(&["fuse"]).unwrap();
    let e = c.add_events(tx, "graph", vec![event("x")]).unwrap_err();
    assert!(matches!(e, CoordinatorError::NotAParticipant { .. }), "{e}");
    c.prepare(tx).unwrap();
    let e = c.add_events(tx, "fuse", vec![event("x")]).unwrap_err();
    assert!(msg(e).contains("is prepared: cannot add events"));
    let e = c.resolve(tx).unwrap_err();
    assert!(msg(e).contains("not decided"));
    c.commit(tx).unwrap();
    let ghost = std::num::NonZeroU64::new(999_999).unwrap();
    assert!(msg(c.commit(ghost).unwrap_err()).contains("999999 is not open"));
}

#[test]
fn a_clean_close_aborts_what_is_undecided_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    let open = w.coord().begin(&NAMES).unwrap();
    w.coord()
        .add_events(open, "fuse", vec![event("never")])
        .unwrap();
    let done = w.coord().begin(&NAMES[..1]).unwrap();
    w.coord()
        .add_events(done, "fuse", vec![event("kept")])
        .unwrap();
    w.coord().commit(done).unwrap();
    w.coord.take().unwrap().close().unwrap();
    // Readers need not wait for a restart: the open transaction is aborted already.
    assert_eq!(payloads(&w, 0), ["kept"]);
    assert!(
        w.decisions()
            .iter()
            .all(|d| d.get(&open.get()) == Some(&Decision::Abort))
    );
    let report = w.reopen();
    assert!(report.aborted.is_empty() && report.committed.is_empty() && report.in_doubt.is_empty());
}

#[test]
fn a_participant_missing_after_a_restart_keeps_the_transaction_in_doubt_until_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    let tx = w.coord().begin(&NAMES).unwrap();
    w.coord().add_events(tx, "graph", vec![event("g")]).unwrap();
    // The coordinator stops undecided; it comes back without the graph journal.
    w.coord.take();
    let parts: Vec<Arc<dyn Participant>> = w.parts[..2]
        .iter()
        .map(|p| p.clone() as Arc<dyn Participant>)
        .collect();
    let (c, report) = Coordinator::open(dir.path().join("coordinator"), parts, quick()).unwrap();
    assert_eq!(report.in_doubt.len(), 1, "{report:?}");
    assert_eq!(report.in_doubt[0].missing, ["graph"]);
    // Resolving cannot reach graph: the transaction stays, it is not marked finished.
    let e = c.resolve(tx).unwrap_err();
    assert!(
        matches!(&e, CoordinatorError::Undelivered { pending, .. } if pending == &["graph"]),
        "{e}"
    );
    assert!(!c.status(tx.get()).unwrap().finished);
    drop(c);
    let report = w.reopen();
    assert_eq!(report.aborted, [tx.get()]);
    let (_, view) = w.read(2);
    assert_eq!(view.undecided().count(), 0);
    assert!(
        w.decisions()
            .iter()
            .all(|d| d.get(&tx.get()) == Some(&Decision::Abort))
    );
}

#[test]
fn an_undelivered_decision_is_retried_without_being_asked() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = World::new(dir.path(), quick());
    let c = w.coord();
    let tx = c.begin(&NAMES).unwrap();
    c.add_events(tx, "graph", vec![event("g")]).unwrap();
    w.parts[2].fail_decide.store(true, Ordering::Relaxed);
    assert!(c.commit(tx).is_err());
    w.parts[2].fail_decide.store(false, Ordering::Relaxed);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !c.status(tx.get()).unwrap().finished {
        assert!(std::time::Instant::now() < deadline, "never retried");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(payloads(&w, 2), ["g"]);
}

#[test]
fn transaction_ids_carry_the_log_tag_and_journals_that_drop_events_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (w, _) = World::new(dir.path(), quick());
    let tx = w.coord().begin(&NAMES).unwrap();
    let tag = vexfs_journal_coordinator::log::tag_of(w.coord().log().journal_id());
    assert_eq!(tx.get() >> vexfs_journal_coordinator::log::SEQ_BITS, tag);
    assert!(tx.get() < 1 << 53, "ids stay exact in JSON");

    let lossy = Journal::open(
        dir.path().join("lossy"),
        Config {
            full_policy: FullPolicy::DropOldest,
            ..Config::default()
        },
    )
    .unwrap();
    let p: Arc<dyn Participant> = Arc::new(JournalParticipant::new("lossy", lossy));
    let e = Coordinator::open(dir.path().join("c2"), vec![p], quick()).unwrap_err();
    assert!(e.to_string().contains("drop-oldest"), "{e}");
}

/// `w`'s coordinator reopened over its log with failure injection armed by the
/// returned `Faults`.
fn with_faulty_log(w: &mut World) -> (Coordinator, Arc<Faults>) {
    w.coord = None;
    let faults = Arc::new(Faults::new());
    let log = Journal::open_with(
        w.root.join("coordinator"),
        OpenOptions {
            faults: Some(faults.clone()),
            ..Default::default()
        },
    )
    .unwrap();
    let parts = w
        .parts
        .iter()
        .map(|p| p.clone() as Arc<dyn Participant>)
        .collect();
    let (c, _) = Coordinator::open_with_log(log, parts, quick()).unwrap();
    (c, faults)
}

// Checks I54 (docs/invariants.md).
#[test]
fn a_commit_decision_that_cannot_be_made_durable_is_settled_by_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    // The same coordinator directory, over a log whose fsyncs can be made to fail.
    let (c, faults) = with_faulty_log(&mut w);
    let tx = c.begin(&NAMES).unwrap();
    for name in NAMES {
        c.add_events(tx, name, vec![event(name)]).unwrap();
    }
    const EIO: i32 = 5;
    faults.fail_syncs_after(0, EIO);
    let err = c.commit(tx).unwrap_err();
    assert!(
        matches!(err, CoordinatorError::OutcomeUnknown { tx: t, .. } if t == tx.get()),
        "{err}"
    );
    assert!(err.to_string().contains("reopened"), "{err}");
    // This coordinator decides nothing more, and no reader sees the transaction.
    assert!(matches!(c.begin(&NAMES), Err(CoordinatorError::Stopped)));
    assert!(matches!(c.abort(tx), Err(CoordinatorError::Stopped)));
    for (i, name) in NAMES.iter().enumerate() {
        assert!(payloads(&w, i).is_empty(), "{name}");
    }
    drop(c);
    // Reopening settles it from what the log holds, the same in every participant.
    let report = w.reopen();
    assert_eq!(
        report.committed.len() + report.aborted.len(),
        1,
        "{report:?}"
    );
    let decided = agreed_decisions(&w, "outcome unknown");
    let committed = decided[&tx.get()] == Decision::Commit;
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(payloads(&w, i).len(), usize::from(committed), "{name}");
    }
}

// Checks I57 (docs/invariants.md).
#[test]
fn a_transaction_whose_begin_record_was_lost_is_found_in_the_participants_and_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    // The same coordinator directory, over a log whose writes can be made to fail.
    let (c, faults) = with_faulty_log(&mut w);
    let first = c.begin(&NAMES).unwrap();
    for name in NAMES {
        c.add_events(first, name, vec![event(&format!("{name}-kept"))])
            .unwrap();
    }
    c.commit(first).unwrap();
    // From here the log writes nothing: the next begin record never reaches the
    // file, while the participants take the transaction's events and vote yes.
    const EIO: i32 = 5;
    faults.fail_writes_after(0, EIO);
    let lost = c.begin(&NAMES).unwrap();
    for name in NAMES {
        c.add_events(lost, name, vec![event(&format!("{name}-lost"))])
            .unwrap();
    }
    assert!(c.commit(lost).is_err());
    drop(c);
    let logged = {
        let r = vexfs_journal::JournalReader::open(w.root.join("coordinator")).unwrap();
        let tag = vexfs_journal_coordinator::log::tag_of(r.journal_id());
        vexfs_journal_coordinator::summarize(tag, r.scan(1..r.visible_end())).unwrap()
    };
    assert!(logged.contains_key(&first.get()), "{logged:?}");
    assert!(
        !logged.contains_key(&lost.get()),
        "the begin record was lost"
    );
    // The reopened coordinator finds the transaction in the participants and aborts
    // it everywhere: readers are no longer held back, and its events stay hidden.
    let report = w.reopen();
    assert_eq!(report.orphans, [lost.get()], "{report:?}");
    assert!(report.aborted.contains(&lost.get()), "{report:?}");
    let decided = agreed_decisions(&w, "lost begin");
    assert_eq!(decided.get(&lost.get()), Some(&Decision::Abort));
    // The log now names the participants found holding it, so a crash before its
    // markers were all written would still deliver them at the next open.
    let log = w.coord().log();
    log.flush().unwrap();
    let tag = vexfs_journal_coordinator::log::tag_of(log.journal_id());
    let now = vexfs_journal_coordinator::summarize(tag, log.scan(1..log.next_seq())).unwrap();
    let mut named = now[&lost.get()].participants.clone();
    named.sort();
    let mut all = NAMES.map(String::from).to_vec();
    all.sort();
    assert_eq!(named, all);
    assert_eq!(decided.get(&first.get()), Some(&Decision::Commit));
    // A new transaction gets an id never handed out before.
    let next = w.coord().begin(&NAMES).unwrap();
    assert!(
        next > lost && next > first,
        "{next} after {first} and {lost}"
    );
    for name in NAMES {
        w.coord()
            .add_events(next, name, vec![event(&format!("{name}-next"))])
            .unwrap();
    }
    w.coord().commit(next).unwrap();
    for (i, name) in NAMES.iter().enumerate() {
        assert_eq!(
            payloads(&w, i),
            [format!("{name}-kept"), format!("{name}-next")],
            "{name}"
        );
    }
}

// Checks I52 (docs/invariants.md).
#[test]
fn a_journal_given_under_another_participants_name_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, _) = World::new(dir.path(), quick());
    let recorded = std::fs::read_to_string(w.root.join("coordinator/participants.json")).unwrap();
    assert!(
        recorded.contains(&w.journals[0].journal_id().to_string()),
        "{recorded}"
    );
    w.coord = None;
    // fuse and graph swapped: each would get the other's markers.
    let swapped: Vec<Arc<dyn Participant>> = [(0, 2), (1, 1), (2, 0)]
        .iter()
        .map(|&(name, journal)| {
            Arc::new(JournalParticipant::new(
                NAMES[name],
                w.journals[journal].clone(),
            )) as Arc<dyn Participant>
        })
        .collect();
    let err = Coordinator::open(w.root.join("coordinator"), swapped, quick()).unwrap_err();
    assert!(
        matches!(&err, CoordinatorError::BadParticipants { reason } if reason.contains("\"fuse\" was journal")),
        "{err}"
    );
    // The right journals still open it.
    let report = w.reopen();
    assert!(report.in_doubt.is_empty());
}
