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
fn resolve_names_a_transaction_found_only_in_a_participant() {
    let tmp = tempfile::tempdir().unwrap();
    let coord_dir = tmp.path().join("coordinator");
    let graph = Journal::open(tmp.path().join("graph"), Config::default()).unwrap();
    let part = Arc::new(JournalParticipant::new("graph", graph.clone())) as Arc<dyn Participant>;
    let (c, _) = Coordinator::open(&coord_dir, vec![part], CoordinatorConfig::default()).unwrap();
    let done = c.begin(&["graph"]).unwrap();
    c.add_events(done, "graph", vec![event("a")]).unwrap();
    c.commit(done).unwrap();
    c.close().unwrap();
    // Events of a later id of this coordinator whose begin record never reached its
    // log (as after a crash): the log knows nothing of it.
    let lost = std::num::NonZeroU64::new(done.get() + 1).unwrap();
    vexfs_journal::ext::emit_transactional(&graph, lost, vec![event("lost")], true).unwrap();
    graph.close().unwrap();
    let graph_dir = format!("graph={}", tmp.path().join("graph").display());
    let resolved = run_in(
        &coord_dir,
        &["tx", "resolve", "--participant", &graph_dir],
        b"",
        &[],
    )
    .ok();
    assert!(
        resolved.stdout.contains(&format!(
            "found only in participants (begin record lost in a crash): {lost}"
        )),
        "{}",
        resolved.stdout
    );
    let shown = run_in(
        &coord_dir,
        &["tx", "show", &lost.to_string(), "-o", "json"],
        b"",
        &[],
    )
    .ok()
    .json();
    assert_eq!(
        shown["at_participants"]["graph"]["marker"]["decision"],
        "abort"
    );
    let again = run_in(&coord_dir, &["tx", "resolve", "-o", "json"], b"", &[])
        .ok()
        .json();
    assert_eq!(again["orphans"], serde_json::json!([]));
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

// Checks I55 (docs/invariants.md).
#[test]
fn recover_coordinated_with_a_damaged_log_recovers_the_participants_and_decides_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (coord, _, open) = crashed_coordinator(tmp.path());
    std::fs::write(coord.join("journal.json"), b"{ damaged").unwrap();
    let r = run_in(&coord, &["recover", "--coordinated"], b"", &[]).fails_with(1);
    for name in ["fuse", "graph"] {
        assert!(
            r.stdout.contains(&format!("{name} (")) && r.stdout.contains("recovered, "),
            "{}",
            r.stdout
        );
    }
    assert!(
        r.stdout.contains("coordinator (") && r.stdout.contains("NOT RECOVERED"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("[3/3] recovering the coordinator"),
        "{}",
        r.stderr
    );
    // Nothing was decided: the open transaction still holds graph's readers.
    let graph = vexfs_journal::JournalReader::open(tmp.path().join("graph")).unwrap();
    assert_eq!(graph.held_by().unwrap().map(|(tx, _)| tx), Some(open));
    let json = run_in(
        &coord,
        &["recover", "--coordinated", "-o", "json"],
        b"",
        &[],
    )
    .fails_with(1)
    .json();
    assert_eq!(json["consistent"], false);
    assert!(
        json["coordinator_error"]
            .as_str()
            .unwrap()
            .contains("journal.json"),
        "{json}"
    );
    assert_eq!(json["participants"].as_array().unwrap().len(), 2);
    // A participant given in the wrong place (another participant's journal) is
    // refused before anything is touched.
    let wrong = format!("fuse={}", tmp.path().join("graph").display());
    let r = run_in(
        &coord,
        &["recover", "--coordinated", "--participant", &wrong],
        b"",
        &[],
    )
    .fails_with(1);
    assert!(r.stderr.contains("\"fuse\" was journal"), "{}", r.stderr);
    assert!(!r.stderr.contains("recovering participant"), "{}", r.stderr);
    // A --dir that is no directory at all is told at once.
    let gone = tmp.path().join("no-such-coordinator");
    let r = run_in(&gone, &["recover", "--coordinated"], b"", &[]).fails_with(1);
    assert!(
        r.stderr.contains("no coordinator directory"),
        "{}",
        r.stderr
    );
}

// Checks I56 (docs/invariants.md).
#[test]
fn timeline_merges_participants_and_the_log_in_causal_order() {
    let tmp = tempfile::tempdir().unwrap();
    let coord_dir = tmp.path().join("coordinator");
    let names = ["fuse", "graph"];
    let journals: Vec<Journal> = names
        .iter()
        .map(|n| Journal::open(tmp.path().join(n), Config::default()).unwrap())
        .collect();
    // fuse's clock runs five seconds ahead of graph's.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    journals[0].observe_time(now + 5_000_000_000);
    let parts: Vec<Arc<dyn Participant>> = names
        .iter()
        .zip(&journals)
        .map(|(n, j)| Arc::new(JournalParticipant::new(*n, j.clone())) as Arc<dyn Participant>)
        .collect();
    let (c, _) = Coordinator::open(&coord_dir, parts, CoordinatorConfig::default()).unwrap();
    journals[1].emit(event("graph-first")).unwrap();
    let tx = c.begin(&names).unwrap();
    c.add_events(tx, "fuse", vec![event("fuse-in-tx")]).unwrap();
    c.add_events(tx, "graph", vec![event("graph-in-tx")])
        .unwrap();
    c.commit(tx).unwrap();
    journals[1].emit(event("graph-after")).unwrap();
    c.close().unwrap();
    for j in journals {
        j.close().unwrap();
    }
    let dirs: Vec<String> = ["fuse", "graph"]
        .iter()
        .map(|n| tmp.path().join(n).display().to_string())
        .chain([format!("log={}", coord_dir.display())])
        .collect();
    let mut args = vec!["timeline", "-o", "ndjson"];
    args.extend(dirs.iter().map(String::as_str));
    let lines = run_in(tmp.path(), &args, b"", &[]).ok().ndjson();
    let at = |journal: &str, path: &str| {
        lines
            .iter()
            .position(|l| l["journal"] == journal && l["path"] == path)
            .unwrap_or_else(|| panic!("{journal} {path} missing: {lines:#?}"))
    };
    let marker = |journal: &str| {
        lines
            .iter()
            .position(|l| {
                l["journal"] == journal
                    && l["cross_boundary_id"] == tx.get()
                    && l["type"] == "semantic.transaction_end"
            })
            .unwrap_or_else(|| panic!("{journal} marker missing: {lines:#?}"))
    };
    // Graph's own order; fuse (ahead) puts its transaction event after graph-first.
    assert!(at("graph", "/t/graph-first") < at("graph", "/t/graph-in-tx"));
    assert!(at("fuse", "/t/fuse-in-tx") > at("graph", "/t/graph-first"));
    // Both markers after both events of the transaction, although graph's clock lags.
    for m in ["fuse", "graph"] {
        assert!(marker(m) > at("fuse", "/t/fuse-in-tx"), "{lines:#?}");
        assert!(marker(m) > at("graph", "/t/graph-in-tx"), "{lines:#?}");
    }
    assert!(at("graph", "/t/graph-after") > marker("graph"));
    // The log's records are in it too, named as asked.
    assert!(lines.iter().any(|l| l["journal"] == "log"));
    // Text output names each journal; --head stops early.
    let short = run_in(
        tmp.path(),
        &["timeline", "--head", "2", &dirs[0], &dirs[1]],
        b"",
        &[],
    )
    .ok();
    assert_eq!(short.stdout.lines().count(), 2, "{}", short.stdout);
    assert!(short.stdout.contains(" graph "), "{}", short.stdout);
    // An operator's mistakes: the same name twice, a directory that is no journal.
    let twice = run_in(tmp.path(), &["timeline", &dirs[0], &dirs[0]], b"", &[]).fails();
    assert!(twice.stderr.contains("NAME=DIR"), "{}", twice.stderr);
    let none = run_in(tmp.path(), &["timeline", "/nonexistent/j"], b"", &[]).fails();
    assert!(none.stderr.contains("/nonexistent/j"), "{}", none.stderr);
    run_in(tmp.path(), &["timeline"], b"", &[]).fails_with(2);
}
