//! `vexjournal why SEQ`: causality chains of emitted events, through the binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::{Run, run_in};
use serde_json::{Value, json};

fn vj(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    run_in(dir, args, stdin, &[])
}

/// A journal holding this tree (ids are sequences, from 1):
///
/// ```text
/// 1 agent.decision (root)
/// ├─ 2 filesystem.write /a            parent 1
/// │  └─ 3 filesystem.write /b         parent 2, and a link from 1
/// │     └─ 5 filesystem.write /d      parent 3
/// 4 filesystem.write /c               parent 99 (no such event)
/// 6 ⇄ 7                               6 is caused by 7 (link), 7's parent is 6
/// ```
fn journal() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    vj(dir, &["init"], b"").ok();
    let events = [
        json!({"type": "agent.decision", "agent": "planner"}),
        json!({"type": "filesystem.write", "path": "/a", "parent": 1}),
        json!({"type": "filesystem.write", "path": "/b", "parent": 2,
               "links": [{"cause": 1, "effect": 3, "type": 1, "strength": 80,
                          "description": "from reasoning"}]}),
        json!({"type": "filesystem.write", "path": "/c", "parent": 99}),
        json!({"type": "filesystem.write", "path": "/d", "parent": 3}),
        json!({"type": "agent.decision", "agent": "x",
               "links": [{"cause": 7, "effect": 6, "type": 2}]}),
        json!({"type": "agent.decision", "agent": "y", "parent": 6}),
    ];
    let input: String = events.iter().map(|e| format!("{e}\n")).collect();
    assert_eq!(vj(dir, &["emit"], input.as_bytes()).ok().stdout, "1..=7\n");
    tmp
}

fn why_json(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["why"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "json"]);
    vj(dir, &all, b"").ok().json()
}

/// (seq, depth, status, via kind) of each hop.
fn hops(list: &Value) -> Vec<(Option<u64>, u64, String, String)> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["seq"].as_u64(),
                h["depth"].as_u64().unwrap(),
                h["status"].as_str().unwrap().to_string(),
                h["via"]["kind"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn hop(
    seq: Option<u64>,
    depth: u64,
    status: &str,
    via: &str,
) -> (Option<u64>, u64, String, String) {
    (seq, depth, status.to_string(), via.to_string())
}

#[test]
fn ancestors_follow_parents_and_links_to_the_root() {
    let tmp = journal();
    let doc = why_json(tmp.path(), &["3"]);
    assert_eq!(doc["event"]["seq"], 3);
    assert_eq!(doc["event"]["subject"], "/b");
    assert_eq!(
        hops(&doc["ancestors"]),
        vec![
            hop(Some(2), 1, "found", "parent"),
            hop(Some(1), 2, "found", "parent"),
            // The link from 1 reaches the root already shown.
            hop(Some(1), 1, "repeat", "link"),
        ]
    );
    let link = &doc["ancestors"][2]["via"];
    assert_eq!(link["strength"], 80);
    assert_eq!(link["description"], "from reasoning");
    assert_eq!(doc["missing"], 0);
    assert_eq!(doc["cycles"], 0);
    assert!(doc.get("descendants").is_none());
    // A root has no ancestors.
    let root = why_json(tmp.path(), &["1"]);
    assert_eq!(root["ancestors"], json!([]));
}

#[test]
fn table_shows_each_hop() {
    let tmp = journal();
    let out = vj(tmp.path(), &["why", "5"], b"").ok().stdout;
    for text in [
        "/d",
        "/b",
        "/a",
        "planner",
        "parent",
        "from reasoning",
        "this event",
    ] {
        assert!(out.contains(text), "{text:?} missing in:\n{out}");
    }
    let root = vj(tmp.path(), &["why", "1"], b"").ok().stdout;
    assert!(root.contains("no recorded cause"), "{root}");
}

#[test]
fn descendants_are_a_tree_of_effects() {
    let tmp = journal();
    let doc = why_json(tmp.path(), &["1", "--descendants"]);
    assert_eq!(
        hops(&doc["descendants"]),
        vec![
            hop(Some(2), 1, "found", "parent"),
            hop(Some(3), 2, "found", "parent"),
            hop(Some(5), 3, "found", "parent"),
            hop(Some(3), 1, "repeat", "link"),
        ]
    );
    let out = vj(tmp.path(), &["why", "2", "--descendants"], b"")
        .ok()
        .stdout;
    assert!(out.contains("/b") && out.contains("/d"), "{out}");
}

#[test]
fn a_missing_parent_is_reported() {
    let tmp = journal();
    let doc = why_json(tmp.path(), &["4"]);
    assert_eq!(
        hops(&doc["ancestors"]),
        vec![hop(None, 1, "missing", "parent")]
    );
    assert_eq!(doc["ancestors"][0]["id"], 99);
    assert_eq!(doc["missing"], 1);
    let out = vj(tmp.path(), &["why", "4"], b"").ok().stdout;
    assert!(out.contains("id 99 not found"), "{out}");
}

#[test]
fn a_cycle_made_by_links_is_reported_not_followed() {
    let tmp = journal();
    let doc = why_json(tmp.path(), &["7", "--descendants"]);
    assert_eq!(
        hops(&doc["ancestors"]),
        vec![
            hop(Some(6), 1, "found", "parent"),
            hop(Some(7), 2, "cycle", "link"),
        ]
    );
    assert_eq!(doc["cycles"], 1);
    assert_eq!(
        hops(&doc["descendants"]),
        vec![
            hop(Some(6), 1, "found", "link"),
            hop(Some(7), 2, "cycle", "parent"),
        ]
    );
    let out = vj(tmp.path(), &["why", "6"], b"").ok().stdout;
    assert!(out.contains("cycle"), "{out}");
}

#[test]
fn a_bad_seq_is_an_error_naming_it() {
    let tmp = journal();
    let run = vj(tmp.path(), &["why", "50"], b"").fails();
    assert!(run.stderr.contains("sequence 50"), "{}", run.stderr);
    vj(tmp.path(), &["why", "seven"], b"").fails();
}
