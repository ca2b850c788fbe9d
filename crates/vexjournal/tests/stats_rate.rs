#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `vexjournal stats --by … --step …`: event counts per bucket, as JSON (the server's
//! shape) and as a table; plain `stats` unchanged; bad arguments refused.

mod common;

use common::run_in;
use serde_json::{Value, json};

const T0: i64 = 1_764_000_000_000_000_000;
const MINUTE: i64 = 60_000_000_000;

#[test]
fn stats_by_counts_events_per_bucket() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    run_in(&dir, &["init"], b"", &[]).ok();
    // 120 events, one every 15 s from T0: 4 a minute; every fourth one an agent's.
    let lines: String = (0..120i64)
        .map(|i| {
            let ev = if i % 4 == 0 {
                json!({"type": "agent.decision", "agent": "planner", "time": T0 + i * 15_000_000_000})
            } else {
                json!({"type": "filesystem.write", "path": "/f", "time": T0 + i * 15_000_000_000})
            };
            format!("{ev}\n")
        })
        .collect();
    run_in(&dir, &["emit"], lines.as_bytes(), &[]).ok();

    let since = T0.to_string();
    let until = (T0 + 40 * MINUTE).to_string();
    let since_at = format!("@{}", T0 / 1_000_000_000);
    let until_at = format!("@{}", (T0 + 40 * MINUTE) / 1_000_000_000);
    let out = run_in(
        &dir,
        &[
            "stats", "--by", "category", "--step", "10m", "--since", &since_at, "--until",
            &until_at, "-o", "json",
        ],
        b"",
        &[],
    )
    .ok();
    let v: Value = out.json();
    assert_eq!(v["by"], "category");
    assert_eq!(v["step_ns"], 10 * MINUTE);
    assert_eq!(v["since_ns"].to_string(), since);
    assert_eq!(v["until_ns"].to_string(), until);
    let buckets = v["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 4);
    for b in &buckets[..3] {
        assert_eq!(b["counts"], json!({"agent": 10, "filesystem": 30}), "{b}");
    }
    assert_eq!(buckets[3]["counts"], json!({}), "empty buckets are listed");
    assert!(v["blocks_read"].as_u64().unwrap() + v["blocks_summarised"].as_u64().unwrap() > 0);

    // By agent in a table: one column per agent ("(none)" for events without one).
    let out = run_in(
        &dir,
        &[
            "stats", "--by", "agent", "--step", "600", "--since", &since_at, "--until", &until_at,
            "--utc",
        ],
        b"",
        &[],
    )
    .ok();
    let header = out.stdout.lines().nth(1).unwrap();
    assert!(
        header.contains("time (UTC)") && header.contains("(none)") && header.contains("planner"),
        "{}",
        out.stdout
    );
    let first = out
        .stdout
        .lines()
        .find(|l| l.contains("2025-11-24 16:00:00"))
        .unwrap();
    let cells: Vec<&str> = first.split('┆').map(str::trim).collect();
    assert_eq!(
        cells[1..]
            .iter()
            .map(|c| c.trim_end_matches('│').trim())
            .collect::<Vec<_>>(),
        ["30", "10", "40"],
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("4 buckets of 600"), "{}", out.stdout);

    // Without --by, stats is the summary it always was.
    let plain = run_in(&dir, &["stats", "-o", "json"], b"", &[]).ok().json();
    assert_eq!(plain["events"], 120);
    assert!(plain.get("buckets").is_none());

    // Bad arguments are refused with the flag named.
    for (args, flag) in [
        (vec!["stats", "--by", "weight"], "--by"),
        (vec!["stats", "--by", "type", "--step", "0"], "--step"),
        (vec!["stats", "--step", "1m"], "--by"),
        (vec!["stats", "--by", "type", "--since", "soon"], "--since"),
    ] {
        let out = run_in(&dir, &args, b"", &[]).fails();
        assert!(out.stderr.contains(flag), "{args:?}: {}", out.stderr);
    }
    let out = run_in(
        &dir,
        &["stats", "--by", "type", "--step", "1s", "--since", "30d"],
        b"",
        &[],
    )
    .fails();
    assert!(out.stderr.contains("buckets"), "{}", out.stderr);
}
