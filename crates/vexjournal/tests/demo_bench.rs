//! `vexjournal demo` and `vexjournal bench`, run small: they finish, report what they
//! measured, and leave (or clean up) what they say.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;

use common::bin;
use serde_json::Value;

fn vexjournal(args: &[&str], cwd: &Path) -> Output {
    bin()
        .current_dir(cwd)
        .args(args)
        .output()
        .expect("running vexjournal")
}

#[track_caller]
fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

#[test]
fn demo_ingests_reopens_and_summarises() {
    let tmp = tempfile::tempdir().unwrap();
    let demo = tmp.path().join("demo");
    let demo_arg = demo.to_str().unwrap();
    let args = ["demo", "--events", "20000", "--path", demo_arg];
    let stdout = ok(vexjournal(&args, tmp.path()));
    for needle in [
        "durable throughput",
        "Summary:",
        "First events:",
        "20000",
        "events/s",
    ] {
        assert!(stdout.contains(needle), "no {needle:?} in:\n{stdout}");
    }
    let events_row = stdout
        .lines()
        .find(|l| l.contains("events") && l.contains("producers"))
        .unwrap_or_else(|| panic!("no events row in:\n{stdout}"));
    assert!(events_row.contains("20000 in"), "{events_row}");

    // The journal it leaves is complete and readable.
    let s: Value = serde_json::from_str(&ok(vexjournal(
        &["--dir", demo_arg, "stats", "-o", "json"],
        tmp.path(),
    )))
    .unwrap();
    assert_eq!(s["events"], 20000, "{s}");
    assert_eq!(s["first_seq"], 1, "{s}");
    assert_eq!(s["last_seq"], 20000, "{s}");
    let tail = ok(vexjournal(
        &["--dir", demo_arg, "cat", "--from-seq", "19998"],
        tmp.path(),
    ));
    let seqs = common::ndjson_seqs(&tail);
    assert_eq!(seqs, [19998, 19999, 20000]);

    // A second run replaces the earlier demo instead of appending to it.
    let args = ["demo", "--events", "3000", "--path", demo_arg];
    ok(vexjournal(&args, tmp.path()));
    let s: Value = serde_json::from_str(&ok(vexjournal(
        &["--dir", demo_arg, "stats", "-o", "json"],
        tmp.path(),
    )))
    .unwrap();
    assert_eq!(s["events"], 3000, "{s}");
}

#[test]
fn demo_refuses_a_directory_that_is_not_a_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let precious = tmp.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("notes.txt"), "keep me").unwrap();
    let out = vexjournal(
        &[
            "demo",
            "--events",
            "100",
            "--path",
            precious.to_str().unwrap(),
        ],
        tmp.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is not a vexfs journal"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(precious.join("notes.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn bench_reports_json_and_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let stdout = ok(vexjournal(
        &[
            "bench",
            "--events",
            "20000",
            "-o",
            "json",
            "--work-dir",
            work.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    let r: Value = serde_json::from_str(&stdout).expect("bench -o json prints JSON");
    assert_eq!(r["events"], 20000, "{r}");
    assert_eq!(r["producers"], 1, "{r}");
    assert_eq!(r["compression"], "lz4", "{r}");
    for key in [
        "durable_events_per_sec",
        "accepted_events_per_sec",
        "durable_seconds",
        "disk_bytes_per_event",
        "compression_ratio",
    ] {
        let v = r[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is a number: {r}"));
        assert!(v > 0.0 && v.is_finite(), "{key} = {v}");
    }
    assert!(r["group_commits"].as_u64().unwrap() >= 1, "{r}");
    let lat = &r["emit_latency_ns"];
    let p50 = lat["p50"].as_u64().unwrap();
    let p99 = lat["p99"].as_u64().unwrap();
    let max = lat["max"].as_u64().unwrap();
    assert!(p50 <= p99 && p99 <= max, "percentiles are ordered: {lat}");
    // The benchmark journal is removed unless --keep.
    let left: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(left.is_empty(), "bench left {left:?} in its work dir");

    // The table form names the headline figure.
    let table = ok(vexjournal(
        &[
            "bench",
            "--events",
            "2000",
            "--producers",
            "2",
            "--work-dir",
            work.to_str().unwrap(),
        ],
        tmp.path(),
    ));
    assert!(table.contains("durable throughput"), "{table}");
    assert!(table.contains("2000 events"), "{table}");
}
