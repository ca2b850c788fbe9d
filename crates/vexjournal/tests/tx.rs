//! `vexjournal tx list|show|resolve` on a coordinator left with transactions in every
//! state, as an operator would meet it after a crash.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use common::run_in;
use vexfs_journal::{Config, Event, FsOp, Journal};
use vexfs_journal_coordinator::{Coordinator, CoordinatorConfig, JournalParticipant, Participant};

fn event(tag: &str) -> Event {
    Event::filesystem(FsOp::Write).path(format!("/t/{tag}"))
}

#[test]
fn an_operator_lists_shows_and_resolves_what_a_crash_left_open() {
    let tmp = tempfile::tempdir().unwrap();
    let coord_dir = tmp.path().join("coordinator");
    let (committed, open) = {
        let journals: Vec<Journal> = ["fuse", "graph"]
            .iter()
            .map(|n| Journal::open(tmp.path().join(n), Config::default()).unwrap())
            .collect();
        let parts: Vec<Arc<dyn Participant>> = ["fuse", "graph"]
            .iter()
            .zip(&journals)
            .map(|(n, j)| Arc::new(JournalParticipant::new(*n, j.clone())) as Arc<dyn Participant>)
            .collect();
        let (c, _) = Coordinator::open(&coord_dir, parts, CoordinatorConfig::default()).unwrap();
        let committed = c.begin(&["fuse", "graph"]).unwrap();
        c.add_events(committed, "fuse", vec![event("a"), event("b")])
            .unwrap();
        c.add_events(committed, "graph", vec![event("c")]).unwrap();
        c.commit(committed).unwrap();
        let open = c.begin(&["fuse", "graph"]).unwrap();
        c.add_events(open, "graph", vec![event("d")]).unwrap();
        // The process stops here: `open` is neither committed nor aborted.
        drop(c);
        for j in journals {
            j.close().unwrap();
        }
        (committed.get(), open.get())
    };

    let list = run_in(&coord_dir, &["tx", "list"], b"", &[]).ok();
    assert!(
        list.stdout.contains(&open.to_string()) && list.stdout.contains("undecided"),
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains(" committed"), "{}", list.stdout);
    let all = run_in(&coord_dir, &["tx", "list", "--all", "-o", "json"], b"", &[])
        .ok()
        .json();
    let states: Vec<(u64, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tx"].as_u64().unwrap(),
                t["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [(committed, "committed".into()), (open, "undecided".into())]
    );

    let shown = run_in(
        &coord_dir,
        &["tx", "show", &committed.to_string(), "-o", "json"],
        b"",
        &[],
    )
    .ok()
    .json();
    assert_eq!(
        shown["written"]["fuse"][1].as_u64().unwrap()
            - shown["written"]["fuse"][0].as_u64().unwrap(),
        2
    );
    assert_eq!(shown["at_participants"]["fuse"]["events_found"], 2);
    assert_eq!(
        shown["at_participants"]["graph"]["marker"]["decision"],
        "commit"
    );
    let shown = run_in(&coord_dir, &["tx", "show", &open.to_string()], b"", &[]).ok();
    assert!(
        shown.stdout.contains("undecided") && shown.stdout.contains("none"),
        "{}",
        shown.stdout
    );

    let resolved = run_in(&coord_dir, &["tx", "resolve", "-o", "json"], b"", &[])
        .ok()
        .json();
    assert_eq!(resolved["aborted"], serde_json::json!([open]));
    assert_eq!(resolved["in_doubt"], serde_json::json!([]));
    let list = run_in(&coord_dir, &["tx", "list"], b"", &[]).ok();
    assert!(
        list.stdout.contains("no unfinished transactions"),
        "{}",
        list.stdout
    );
    let shown = run_in(
        &coord_dir,
        &["tx", "show", &open.to_string(), "-o", "json"],
        b"",
        &[],
    )
    .ok()
    .json();
    assert_eq!(shown["state"], "aborted");
    assert_eq!(
        shown["at_participants"]["graph"]["marker"]["decision"],
        "abort"
    );
    // A participant journal is not mistaken for a damaged coordinator log.
    let e = run_in(&tmp.path().join("fuse"), &["tx", "list"], b"", &[]).fails();
    assert!(
        e.stderr
            .contains("participant journal, not a coordinator log"),
        "{}",
        e.stderr
    );
    // Resolving again has nothing to do.
    let again = run_in(&coord_dir, &["tx", "resolve"], b"", &[]).ok();
    assert!(again.stdout.contains("aborted: none"), "{}", again.stdout);
}

#[test]
fn tx_refuses_what_is_not_a_coordinator_or_a_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let nothing = tmp.path().join("nothing");
    let e = run_in(&nothing, &["tx", "list"], b"", &[]).fails();
    assert!(e.stderr.contains("coordinator"), "{}", e.stderr);
    // Resolve does not create a coordinator where there is none.
    run_in(&nothing, &["tx", "resolve"], b"", &[]).fails();
    assert!(!nothing.exists());
    let coord = tmp.path().join("c");
    let (c, _) = Coordinator::open(&coord, Vec::new(), CoordinatorConfig::default()).unwrap();
    drop(c);
    let e = run_in(&coord, &["tx", "show", "42"], b"", &[]).fails();
    assert!(e.stderr.contains("no transaction 42"), "{}", e.stderr);
    let e = run_in(
        &coord,
        &["tx", "resolve", "--participant", "fuse"],
        b"",
        &[],
    )
    .fails();
    assert!(e.stderr.contains("NAME=DIR"), "{}", e.stderr);
    let e = run_in(
        &coord,
        &["tx", "resolve", "--participant", "fuse=/nonexistent/j"],
        b"",
        &[],
    )
    .fails();
    assert!(e.stderr.contains("participant fuse"), "{}", e.stderr);
}

/// Leaves a coordinator in `tmp` with one committed and one undecided transaction over
/// participants fuse and graph; returns (coordinator dir, committed, undecided).
fn crashed_coordinator(tmp: &std::path::Path) -> (std::path::PathBuf, u64, u64) {
    let coord_dir = tmp.join("coordinator");
    let journals: Vec<Journal> = ["fuse", "graph"]
        .iter()
        .map(|n| Journal::open(tmp.join(n), Config::default()).unwrap())
        .collect();
    let parts: Vec<Arc<dyn Participant>> = ["fuse", "graph"]
        .iter()
        .zip(&journals)
        .map(|(n, j)| Arc::new(JournalParticipant::new(*n, j.clone())) as Arc<dyn Participant>)
        .collect();
    let (c, _) = Coordinator::open(&coord_dir, parts, CoordinatorConfig::default()).unwrap();
    let committed = c.begin(&["fuse", "graph"]).unwrap();
    c.add_events(committed, "fuse", vec![event("a")]).unwrap();
    c.commit(committed).unwrap();
    let open = c.begin(&["fuse", "graph"]).unwrap();
    c.add_events(open, "graph", vec![event("d")]).unwrap();
    drop(c);
    for j in journals {
        j.close().unwrap();
    }
    (coord_dir, committed.get(), open.get())
}

#[test]
fn consistency_check_reports_then_repairs() {
    let tmp = tempfile::tempdir().unwrap();
    let (coord, _, open) = crashed_coordinator(tmp.path());
    let found = run_in(&coord, &["consistency", "check"], b"", &[]).fails_with(1);
    assert!(
        found.stdout.contains("undecided") && found.stdout.contains(&open.to_string()),
        "{}",
        found.stdout
    );
    let json = run_in(&coord, &["consistency", "check", "-o", "json"], b"", &[])
        .fails_with(1)
        .json();
    assert_eq!(json["consistent"], false);
    assert_eq!(json["report"]["undecided"], serde_json::json!([open]));
    // A read-committed reader of graph is held at the undecided transaction.
    let cat = run_in(&tmp.path().join("graph"), &["cat"], b"", &[]).ok();
    assert!(!cat.stdout.contains("/t/d"), "{}", cat.stdout);
    assert!(
        cat.stderr
            .contains(&format!("coordinated transaction {open} is undecided")),
        "{}",
        cat.stderr
    );
    let repaired = run_in(&coord, &["consistency", "check", "--repair"], b"", &[]).ok();
    assert!(
        repaired.stdout.contains(&format!("aborted: {open}"))
            && repaired.stdout.contains("consistent"),
        "{}",
        repaired.stdout
    );
    run_in(&coord, &["consistency", "check"], b"", &[]).ok();
    // The aborted event is never shown; the markers are, with their transaction.
    let cat = run_in(
        &tmp.path().join("graph"),
        &["cat", "-o", "ndjson"],
        b"",
        &[],
    )
    .ok();
    assert!(!cat.stdout.contains("/t/d"), "{}", cat.stdout);
    assert!(
        cat.stdout
            .contains(&format!("\"cross_boundary_id\":{open}")),
        "{}",
        cat.stdout
    );
    // Not a coordinator: refused, nothing created.
    let e = run_in(
        &tmp.path().join("nothing"),
        &["consistency", "check"],
        b"",
        &[],
    )
    .fails();
    assert!(e.stderr.contains("coordinator"), "{}", e.stderr);
}

// Checks I55 (docs/invariants.md).
#[test]
fn recover_coordinated_recovers_each_participant_and_names_the_lost_one() {
    let tmp = tempfile::tempdir().unwrap();
    let (coord, committed, open) = crashed_coordinator(tmp.path());
    let ghost = format!("ghost={}", tmp.path().join("gone").display());
    let r = run_in(
        &coord,
        &["recover", "--coordinated", "--participant", &ghost],
        b"",
        &[],
    )
    .fails_with(1);
    assert!(
        r.stderr.contains("[1/4] recovering participant fuse"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("ghost") && r.stdout.contains("NOT RECOVERED"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!("aborted: {open}")),
        "{}",
        r.stdout
    );
    // Without the lost participant, everything is decided and consistent.
    let ok = run_in(
        &coord,
        &["recover", "--coordinated", "-o", "json"],
        b"",
        &[],
    )
    .ok()
    .json();
    assert_eq!(ok["consistent"], true);
    assert_eq!(ok["participants"].as_array().unwrap().len(), 2);
    let shown = run_in(
        &coord,
        &["tx", "show", &committed.to_string(), "-o", "json"],
        b"",
        &[],
    )
    .ok()
    .json();
    assert_eq!(shown["state"], "committed");
    // --participant needs --coordinated.
    run_in(&coord, &["recover", "--participant", "a=b"], b"", &[]).fails_with(2);
}
