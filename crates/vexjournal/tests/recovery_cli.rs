//! The recovery commands of the `vexjournal` binary, end to end: `verify` (exit status,
//! each problem with file, offset and sequences, `--deep`, JSON), `recover` in its three
//! modes, `checkpoint create|list|restore [--rollback]`, `replay` (filters, from a
//! checkpoint, after a cursor, parallel and validated, a damaged block named) and
//! `compact` (by type and size, refused while a writer holds the journal).
//!
//! Journals are built and crashed with the library (a copy of an open journal's
//! directory is what a killed process leaves); every check goes through the binary.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use vexfs_journal_testkit::blocks::segment_blocks;
use vexfs_journal_testkit::{copy_dir, flip_byte, noise_text, segment_files};

use std::path::Path;

use common::bin;
use serde_json::Value;
use vexfs_journal::{AgentOp, Config, Event, FsOp, Journal, VectorOp};

type Out = common::Run;

fn vj(dir: &Path, args: &[&str]) -> Out {
    common::run_in(dir, args, b"", &[])
}

fn event(i: u64) -> Event {
    let ev = match i % 3 {
        0 => Event::filesystem(FsOp::Write).path(format!("/data/{}/{i}", i % 5)),
        1 => Event::agent(AgentOp::Decision).agent_id(format!("agent-{}", i % 4)),
        _ => Event::vector(VectorOp::Search),
    };
    ev.inode(i + 1)
        .payload(noise_text(i, 200 + (i % 5) as usize * 60, b'!', 90))
}

fn config() -> Config {
    Config {
        segment_size: 64 << 10,
        block_bytes: 2048,
        checkpoint_interval_s: 0,
        ..Config::default()
    }
}

/// A journal of `n` events in `dir`, closed cleanly or (`crash`) left as a killed
/// process leaves it.
fn build(tmp: &Path, dir: &Path, n: u64, crash: bool) {
    let live = tmp.join(format!(
        "live-{}",
        dir.file_name().unwrap().to_string_lossy()
    ));
    let j = Journal::create(&live, config()).unwrap();
    for i in 0..n {
        j.emit(event(i)).unwrap();
    }
    j.sync().unwrap();
    if crash {
        copy_dir(&live, dir);
        // A power cut that lost the writer's (unsynced) preallocation: the files end
        // with their last written block, where these tests add their damage.
        vexfs_journal_testkit::blocks::drop_preallocated(dir);
        j.close().unwrap();
    } else {
        j.close().unwrap();
        copy_dir(&live, dir);
    }
}

fn cat_seqs(dir: &Path) -> Vec<u64> {
    vj(dir, &["cat", "-o", "ndjson"])
        .ok()
        .ndjson()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

#[test]
fn verify_exits_0_when_clean_and_1_with_each_problem_located() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    build(tmp.path(), &dir, 500, false);
    let out = vj(&dir, &["verify"]).ok();
    assert!(out.stdout.trim_end().ends_with("clean"), "{}", out.stdout);
    let r = vj(&dir, &["verify", "-o", "json"]).ok().json();
    assert_eq!(r["problems"], Value::Array(vec![]));
    assert_eq!(r["deep"], false);
    assert_eq!(r["events"], 500);
    let r = vj(&dir, &["verify", "--deep", "-o", "json"]).ok().json();
    assert_eq!(r["deep"], true);
    let out = vj(&dir, &["verify", "--deep"]).ok();
    assert!(
        out.stdout.contains("every event re-encoded"),
        "{}",
        out.stdout
    );

    // A damaged block in a sealed segment and a damaged checkpoint.
    let segs = segment_files(&dir);
    assert!(segs.len() >= 3);
    let b = segment_blocks(&segs[1])[3];
    flip_byte(&segs[1], b.0 + b.1 / 2);
    let out = vj(&dir, &["verify"]).fails_with(1);
    let line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("PROBLEM block"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert_eq!(
        line.split(':').next().unwrap(),
        format!(
            "PROBLEM block in {} at byte {} ({} bytes), sequences {}..={}",
            segs[1].display(),
            b.0,
            b.1,
            b.2,
            b.3
        )
    );
    assert!(out.stdout.contains("NOT CLEAN"), "{}", out.stdout);
    let r = vj(&dir, &["verify", "-o", "json"]).fails_with(1).json();
    let p = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "block")
        .unwrap()
        .clone();
    assert_eq!(p["path"], segs[1].display().to_string());
    assert_eq!(p["offset"], b.0);
    assert_eq!(p["len"], b.1);
    assert_eq!(p["seqs"], serde_json::json!([b.2, b.3]));
    // --deep reports the same damage.
    let deep = vj(&dir, &["verify", "--deep", "-o", "json"])
        .fails_with(1)
        .json();
    assert_eq!(deep["problems"], r["problems"]);
    // Header and footer damage, each reported as such.
    let d = tmp.path().join("hf");
    build(tmp.path(), &d, 500, false);
    let s = segment_files(&d);
    flip_byte(&s[0], 30);
    let len = std::fs::metadata(&s[1]).unwrap().len();
    flip_byte(&s[1], len - 9);
    let r = vj(&d, &["verify", "-o", "json"]).fails_with(1).json();
    let kinds: Vec<(String, String)> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["kind"].as_str().unwrap().to_string(),
                p["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        kinds.contains(&("header".into(), s[0].display().to_string())),
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&("footer".into(), s[1].display().to_string())),
        "{kinds:?}"
    );
}

#[test]
fn recover_in_each_mode() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    build(tmp.path(), &dir, 500, true);
    let open = segment_files(&dir).pop().unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&open)
        .unwrap();
    std::io::Write::write_all(&mut f, noise_text(1, 1234, b'!', 90).as_bytes()).unwrap();
    drop(f);
    let len = std::fs::metadata(&open).unwrap().len();

    // Absolute: refuses, lists the problem, changes nothing.
    let out = vj(&dir, &["recover", "--mode", "absolute"]).fails_with(1);
    assert!(
        out.stderr.contains("absolute mode refuses"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(&open.display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::metadata(&open).unwrap().len(), len);

    // Tolerate-tail: cuts the torn tail into a .torn file.
    let r = vj(&dir, &["recover", "-o", "json"]).ok().json();
    assert_eq!(r["mode"], "tolerate-tail");
    assert_eq!(r["clean_shutdown"], false);
    assert_eq!(r["bytes_cut"], 1234);
    let torn = r["torn_files"][0].as_str().unwrap();
    assert!(torn.ends_with(".torn"), "{torn}");
    assert_eq!(
        std::fs::read(torn).unwrap(),
        noise_text(1, 1234, b'!', 90).as_bytes()
    );
    assert_eq!(r["events_recovered"], 500);
    let table = vj(&dir, &["recover"]).ok();
    assert!(table.stdout.contains("clean"), "{}", table.stdout);
    // Absolute now opens it.
    vj(&dir, &["recover", "--mode", "absolute"]).ok();
    assert_eq!(cat_seqs(&dir), (1..=500).collect::<Vec<_>>());

    // Salvage: a damaged block in the middle of a sealed segment is set aside.
    let segs = segment_files(&dir);
    let b = segment_blocks(&segs[0])[2];
    flip_byte(&segs[0], b.0 + 200);
    vj(&dir, &["recover", "--mode", "absolute"]).fails_with(1);
    let r = vj(&dir, &["recover", "--mode", "salvage", "-o", "json"])
        .ok()
        .json();
    assert_eq!(r["mode"], "salvage");
    let lost = &r["salvage"]["lost"][0];
    assert_eq!(lost["segment"], segs[0].display().to_string());
    assert_eq!(lost["offset"], b.0);
    assert_eq!(lost["len"], b.1);
    assert_eq!(lost["seqs"], serde_json::json!([b.2, b.3]));
    assert!(Path::new(lost["saved_to"].as_str().unwrap()).exists());
    let want: Vec<u64> = (1..=500).filter(|s| *s < b.2 || *s > b.3).collect();
    assert_eq!(cat_seqs(&dir), want);
    let table = vj(&dir, &["recover", "--mode", "salvage"]).ok();
    assert!(
        table.stdout.contains("0 damaged range(s)"),
        "{}",
        table.stdout
    );
}

#[test]
fn checkpoint_create_list_restore_and_rollback() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    build(tmp.path(), &dir, 100, false);
    let c1 = vj(&dir, &["checkpoint", "create", "-o", "json"])
        .ok()
        .json();
    assert_eq!(c1["id"], 1);
    assert_eq!(c1["durable_seq"], 101);
    let table = vj(&dir, &["checkpoint", "create"]).ok();
    assert!(
        table
            .stdout
            .starts_with("checkpoint 2 covers events through sequence 100 "),
        "{}",
        table.stdout
    );
    // More events, across rotations, then a third checkpoint.
    let stdin: String = (100..600)
        .map(|i| {
            format!(
                "{}\n",
                serde_json::json!({"type": "filesystem.write", "inode": i + 1, "payload": noise_text(i, 300, b'!', 90)})
            )
        })
        .collect();
    let mut child = bin()
        .arg("--dir")
        .arg(&dir)
        .arg("emit")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), stdin.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
    vj(&dir, &["checkpoint", "create"]).ok();
    let list = vj(&dir, &["checkpoint", "list", "-o", "json"]).ok().json();
    let ids: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![1, 2, 3]);
    assert_eq!(list[2]["durable_seq"], 601);
    let table = vj(&dir, &["checkpoint", "list"]).ok();
    assert!(
        table.stdout.contains("covers events through sequence 600 "),
        "{}",
        table.stdout
    );

    // A damaged checkpoint is listed as such.
    let damaged = tmp.path().join("damaged");
    copy_dir(&dir, &damaged);
    flip_byte(&damaged.join("checkpoints").join("0000000002.ckpt"), 50);
    let list = vj(&damaged, &["checkpoint", "list", "-o", "json"])
        .ok()
        .json();
    assert!(list[1]["damaged"].is_string(), "{list}");
    assert!(
        vj(&damaged, &["checkpoint", "list"])
            .ok()
            .stdout
            .contains("DAMAGED")
    );
    let out = vj(&damaged, &["checkpoint", "restore", "2"]).fails_with(1);
    assert!(out.stderr.contains("damaged"), "{}", out.stderr);
    let out = vj(&dir, &["checkpoint", "restore", "9"]).fails_with(1);
    assert!(out.stderr.contains("no such checkpoint"), "{}", out.stderr);

    // Restore without rollback keeps everything.
    let out = vj(&dir, &["checkpoint", "restore", "1"]).ok();
    assert!(out.stdout.contains("500 kept (checked)"), "{}", out.stdout);
    assert_eq!(cat_seqs(&dir), (1..=600).collect::<Vec<_>>());
    // With rollback: back to checkpoint 1, the rest moved aside.
    let out = vj(&dir, &["checkpoint", "restore", "1", "--rollback"]).ok();
    assert!(out.stdout.contains("moved aside"), "{}", out.stdout);
    assert!(out.stdout.contains("rolled-back-1-"), "{}", out.stdout);
    assert_eq!(cat_seqs(&dir), (1..=100).collect::<Vec<_>>());
    let list = vj(&dir, &["checkpoint", "list", "-o", "json"]).ok().json();
    // Later checkpoints (2 and 3) went aside with the data.
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    vj(&dir, &["verify"]).ok();
}

#[test]
fn replay_filters_checkpoints_cursors_parallel_and_validation() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    build(tmp.path(), &dir, 300, false);
    vj(&dir, &["checkpoint", "create"]).ok();
    let j = Journal::open_existing(&dir).unwrap();
    for i in 300..600 {
        j.emit(event(i)).unwrap();
    }
    j.close().unwrap();
    let all = vj(&dir, &["replay"]).ok();
    let events = all.ndjson();
    assert_eq!(events.len(), 600);
    assert_eq!(
        events
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        (1..=600).collect::<Vec<_>>()
    );
    assert!(all.stderr.contains("cursor: vxc2_"), "{}", all.stderr);
    // Selective.
    let writes = vj(
        &dir,
        &[
            "replay",
            "--type",
            "filesystem.write",
            "--path-prefix",
            "/data/2/",
        ],
    )
    .ok()
    .ndjson();
    let want: Vec<&Value> = events
        .iter()
        .filter(|e| {
            e["type"] == "filesystem.write"
                && e["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with("/data/2/"))
        })
        .collect();
    assert_eq!(writes.iter().collect::<Vec<_>>(), want);
    let agents = vj(&dir, &["replay", "--agent", "agent-1"]).ok().ndjson();
    assert!(!agents.is_empty() && agents.iter().all(|e| e["agent"] == "agent-1"));
    // Incremental: from the checkpoint, after a cursor.
    let after = vj(&dir, &["replay", "--from-checkpoint", "1"])
        .ok()
        .ndjson();
    assert_eq!(after[..], events[300..]);
    let first = vj(&dir, &["replay", "--to-seq", "250"]).ok();
    let cursor = first
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("cursor: "))
        .unwrap()
        .to_string();
    let rest = vj(&dir, &["replay", "--after-cursor", &cursor])
        .ok()
        .ndjson();
    assert_eq!(rest[..], events[250..]);
    // Parallel and validated: the same events.
    let par = vj(&dir, &["replay", "--parallel", "4", "--validate"])
        .ok()
        .ndjson();
    assert_eq!(par, events);
    let summary = vj(&dir, &["replay", "-o", "summary", "--validate"]).ok();
    assert!(summary.stdout.contains("600 from"), "{}", summary.stdout);
    assert!(summary.stdout.contains("every checksum re-verified"));
    // A damaged block: the replay fails naming the file and the offset.
    let segs = segment_files(&dir);
    let b = segment_blocks(&segs[1])[1];
    flip_byte(&segs[1], b.0 + 150);
    let out = vj(&dir, &["replay", "--validate"]).fails_with(1);
    assert!(
        out.stderr.contains(&segs[1].display().to_string())
            && out.stderr.contains(&format!("at byte {}", b.0)),
        "{}",
        out.stderr
    );
}

#[test]
fn compact_by_type_and_size_and_not_while_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    build(tmp.path(), &dir, 900, false);
    let before = vj(&dir, &["cat", "-o", "ndjson"]).ok().ndjson();
    let open_first: u64 = segment_files(&dir)
        .pop()
        .unwrap()
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    // Refused while a writer holds the journal.
    let j = Journal::open_existing(&dir).unwrap();
    let out = vj(&dir, &["compact", "--drop-type", "vector.search"]).fails_with(1);
    assert!(out.stderr.contains("locked"), "{}", out.stderr);
    j.close().unwrap();

    let out = vj(&dir, &["compact", "--drop-type", "vector.search"]).ok();
    assert!(out.stdout.contains("events dropped"), "{}", out.stdout);
    let after = vj(&dir, &["cat", "-o", "ndjson"]).ok().ndjson();
    let want: Vec<&Value> = before
        .iter()
        .filter(|e| e["type"] != "vector.search" || e["seq"].as_u64().unwrap() >= open_first)
        .collect();
    assert_eq!(
        after.iter().collect::<Vec<_>>(),
        want,
        "sequences and content kept"
    );
    // Queries see the same.
    let q = vj(
        &dir,
        &[
            "query",
            "--type",
            "vector.search",
            "-o",
            "ndjson",
            "-n",
            "10000",
        ],
    )
    .ok();
    assert!(
        q.ndjson()
            .iter()
            .all(|e| e["seq"].as_u64().unwrap() >= open_first),
        "{}",
        q.stdout
    );
    // By size: whole oldest segments go.
    let segs = segment_files(&dir).len();
    vj(&dir, &["compact", "--max-size", "100000"]).ok();
    assert!(segment_files(&dir).len() < segs);
    let left = cat_seqs(&dir);
    assert_eq!(*left.last().unwrap(), 900);
    assert!(left[0] > 1);
}
