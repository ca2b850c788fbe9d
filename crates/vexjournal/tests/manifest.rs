//! Issue 10, section 1: nothing acknowledged may vanish unnoticed. Each test is a
//! finding reproduced with the CLI on journal "J" (`init --segment-size 200000`, 20k
//! events, a dozen or more segments, one checkpoint), then the behaviour required.
//! Invariants checked: the manifest names every missing, replaced, shortened or
//! unexpected segment (M1); sequence numbers are never reused (M2); removals by
//! retention and compaction are not loss (M3); cursors from before a rollback are
//! refused (M4); salvage, recover and verify agree on what was lost (M5).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use vexfs_journal_testkit::segment_files;

use std::path::{Path, PathBuf};

use common::Run;
use serde_json::Value;

fn vj(dir: &Path, args: &[&str]) -> Run {
    common::run_in(dir, args, b"", &[])
}

fn vj_stdin(dir: &Path, args: &[&str], input: &str) -> Run {
    common::run_in(dir, args, input.as_bytes(), &[])
}

fn lines(from: u64, n: u64) -> String {
    let mut s = String::new();
    for i in from..from + n {
        let ty = match i % 4 {
            0 => "vector.search",
            1 => "filesystem.write",
            2 => "agent.decision",
            _ => "graph.node_create",
        };
        // A little incompressible text, so 20k events fill a dozen 200 KB segments.
        let noise = format!(
            "{:016x}{:016x}",
            i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
            (i ^ 0xA5A5).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        );
        s.push_str(&format!(
            "{{\"type\":\"{ty}\",\"path\":\"/data/{}/file-{i}\",\"payload\":\"event {i} {noise}\"}}\n",
            i % 7,
        ));
    }
    s
}

/// Journal J: 20k events in 200 KB segments and one checkpoint, closed cleanly.
fn journal_j(tmp: &Path) -> PathBuf {
    let dir = tmp.join("J");
    vj(&dir, &["init", "--segment-size", "200000"]).ok();
    vj_stdin(&dir, &["emit"], &lines(0, 10_000)).ok();
    vj(&dir, &["checkpoint", "create"]).ok();
    vj_stdin(&dir, &["emit"], &lines(10_000, 10_000)).ok();
    assert!(segment_files(&dir).len() >= 12, "{:?}", segment_files(&dir));
    dir
}

fn seqs(dir: &Path) -> Vec<u64> {
    common::ndjson_seqs(&vj(dir, &["cat", "-o", "ndjson"]).ok().stdout)
}

fn remove_segment(path: &Path) {
    std::fs::remove_file(path).unwrap();
    let _ = std::fs::remove_file(path.with_extension("idx"));
}

/// Emits one event and returns its sequence.
fn emit_one(dir: &Path) -> u64 {
    let o = vj_stdin(dir, &["emit", "--durable"], &lines(99_999, 1)).ok();
    let text = o.stderr;
    let seq = text
        .split("sequences ")
        .nth(1)
        .and_then(|s| s.split("..").next())
        .and_then(|s| s.trim().parse().ok());
    seq.unwrap_or_else(|| panic!("no sequence in {text:?}"))
}

// Checks I4, I22, I24 (docs/invariants.md).
/// M1, M2: the last segment deleted is named by verify, cat, stats, recover and emit,
/// and after salvage accepts the loss, no acknowledged number is handed out again.
#[test]
fn deleted_last_segment_is_named_and_its_numbers_never_reused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = journal_j(tmp.path());
    let last = segment_files(&dir).pop().unwrap();
    remove_segment(&last);
    let name = last.file_name().unwrap().to_string_lossy().into_owned();
    for args in [
        &["verify"][..],
        &["cat", "-o", "ndjson"],
        &["stats"],
        &["recover"],
        &["query", "--type", "vector.search"],
    ] {
        let o = vj(&dir, args).fails();
        assert!(
            o.all().contains(&name),
            "{args:?} must name {name}: {}",
            o.all()
        );
    }
    let o = vj_stdin(&dir, &["emit"], &lines(0, 1)).fails();
    assert!(o.all().contains(&name), "{}", o.all());
    // Salvage accepts the loss, reports it, and reserves the numbers.
    let o = vj(&dir, &["recover", "--mode", "salvage"]).ok();
    assert!(o.all().contains(&name), "{}", o.all());
    let seq = emit_one(&dir);
    assert!(seq > 20_000, "sequence {seq} reuses an acknowledged number");
    let o = vj(&dir, &["verify"]).ok();
    assert!(o.stdout.contains("clean"), "{}", o.all());
}

// Checks I23 (docs/invariants.md).
/// M1: a deleted first or middle segment is named by every reading command.
#[test]
fn deleted_first_or_middle_segment_is_named_by_every_command() {
    for which in [0usize, 5] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = journal_j(tmp.path());
        let seg = segment_files(&dir)[which].clone();
        remove_segment(&seg);
        let name = seg.file_name().unwrap().to_string_lossy().into_owned();
        for args in [&["verify"][..], &["cat"], &["stats"], &["recover"]] {
            let o = vj(&dir, args).fails();
            assert!(
                o.all().contains(&name) && o.all().contains("missing"),
                "segment {which}, {args:?}: {}",
                o.all()
            );
        }
    }
}

// Checks I23 (docs/invariants.md).
/// M1: a segment replaced by another file, or one copied in, is named.
#[test]
fn replaced_and_unexpected_segments_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = journal_j(tmp.path());
    let segs = segment_files(&dir);
    let saved = std::fs::read(&segs[3]).unwrap();
    std::fs::copy(&segs[2], &segs[3]).unwrap();
    let o = vj(&dir, &["verify"]).fails();
    assert!(
        o.all().contains("replaced") || o.all().contains("lost"),
        "{}",
        o.all()
    );
    vj(&dir, &["cat"]).fails();
    std::fs::write(&segs[3], saved).unwrap();
    vj(&dir, &["verify"]).ok();
    // A segment of another journal copied in.
    let other = journal_j(&tmp.path().join("other"));
    let foreign = dir.join("00000000000000900000.seg");
    std::fs::copy(segment_files(&other)[1].clone(), &foreign).unwrap();
    let o = vj(&dir, &["verify"]).fails();
    assert!(o.all().contains("not in the manifest"), "{}", o.all());
    vj(&dir, &["stats"]).fails();
    // Salvage moves it aside; the journal is whole again.
    vj(&dir, &["recover", "--mode", "salvage"]).ok();
    assert!(!foreign.exists());
    assert_eq!(seqs(&dir), (1..=20_000).collect::<Vec<_>>());
}

// Checks I22, I33 (docs/invariants.md).
/// M1: a sealed segment cut short is named with the sequences it lost; so is the end
/// of the open segment after a clean close. M5: salvage reports exactly what verify
/// reported lost (finding 6).
#[test]
fn shortened_segments_are_named_and_salvage_agrees_with_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = journal_j(tmp.path());
    let last = segment_files(&dir).pop().unwrap();
    let len = std::fs::metadata(&last).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
    f.set_len(len - 300).unwrap();
    drop(f);
    let v = vj(&dir, &["verify", "-o", "json"]).fails();
    let report: Value = serde_json::from_str(&v.stdout).unwrap();
    let lost: Vec<(u64, u64)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| {
            p["seqs"]
                .as_array()
                .map(|s| (s[0].as_u64().unwrap(), s[1].as_u64().unwrap()))
        })
        .collect();
    assert!(!lost.is_empty(), "{}", v.stdout);
    let verify_lost: u64 = {
        let mut all: Vec<u64> = lost.iter().flat_map(|(a, b)| *a..=*b).collect();
        all.sort();
        all.dedup();
        all.len() as u64
    };
    assert_eq!(lost.iter().map(|l| l.1).max(), Some(20_000), "{lost:?}");
    let o = vj(&dir, &["recover", "--mode", "salvage", "-o", "json"]).ok();
    let r: Value = serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", o.stdout));
    let salvage_lost: u64 = r["salvage"]["lost"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| {
            l["seqs"]
                .as_array()
                .map(|s| s[1].as_u64().unwrap() - s[0].as_u64().unwrap() + 1)
        })
        .sum();
    assert_eq!(
        salvage_lost, verify_lost,
        "salvage {} vs verify {}",
        o.stdout, v.stdout
    );
    let kept = seqs(&dir);
    assert_eq!(kept.len() as u64 + verify_lost, 20_000);
    assert!(emit_one(&dir) > 20_000);
    vj(&dir, &["verify"]).ok();
}

// Checks I23, I26 (docs/invariants.md).
/// M3 and finding 7: compaction's removals are not loss; it keeps the clean-shutdown
/// marker and writes the indexes of the segments it rewrote, so the next command has
/// nothing to warn about and recover sees a clean shutdown.
#[test]
fn compaction_keeps_marker_and_indexes_and_is_not_loss() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = journal_j(tmp.path());
    assert!(dir.join("CLEAN").exists());
    vj(&dir, &["compact", "--drop-type", "vector.search"]).ok();
    assert!(
        dir.join("CLEAN").exists(),
        "compaction removed the clean-shutdown marker"
    );
    for seg in segment_files(&dir) {
        assert!(
            seg.with_extension("idx").exists(),
            "{} has no index",
            seg.display()
        );
    }
    let q = vj(&dir, &["query", "--type", "agent.decision", "-o", "ndjson"]).ok();
    assert!(
        q.stderr.trim().is_empty(),
        "warnings after compaction: {}",
        q.stderr
    );
    assert_eq!(q.stdout.lines().count(), 5_000);
    let o = vj(&dir, &["verify"]).ok();
    assert!(o.stdout.contains("clean"), "{}", o.all());
    let o = vj(&dir, &["recover", "-o", "json"]).ok();
    let r: Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(r["clean_shutdown"], true, "{}", o.stdout);
    // Sealed segments lost their vector searches; the open segment is never rewritten.
    let left = seqs(&dir).len();
    assert!((15_000..20_000).contains(&left), "{left}");
    assert!(emit_one(&dir) > 20_000);
}

// Checks I30, I37 (docs/invariants.md).
/// M4 (finding 5): after a rollback and new emits, a cursor from before is refused,
/// and the new events do not reuse the rolled-back numbers.
#[test]
fn cursor_from_before_a_rollback_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = journal_j(tmp.path());
    let o = vj(
        &dir,
        &[
            "query",
            "--from-seq",
            "19990",
            "-n",
            "5",
            "--show-cursor",
            "-o",
            "ndjson",
        ],
    )
    .ok();
    let cursor = o
        .all()
        .lines()
        .find_map(|l| l.split("cursor: ").nth(1).map(|c| c.trim().to_string()))
        .unwrap_or_else(|| panic!("no cursor in {}", o.all()));
    vj(&dir, &["checkpoint", "restore", "1", "--rollback"]).ok();
    vj_stdin(&dir, &["emit"], &lines(0, 80)).ok();
    let all = seqs(&dir);
    assert!(
        all.iter().all(|&s| s <= 10_000 || s > 20_000),
        "rolled-back numbers reused"
    );
    assert_eq!(all.iter().filter(|&&s| s > 20_000).count(), 80);
    let o = vj(&dir, &["query", "--after-cursor", &cursor]).fails();
    assert!(o.all().contains("rolled back"), "{}", o.all());
    vj(&dir, &["verify"]).ok();
}

// Checks I25 (docs/invariants.md).
/// A journal written before manifests opens, and its writer migrates it.
#[test]
fn journal_from_before_manifests_is_migrated() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = journal_j(tmp.path());
    std::fs::remove_file(dir.join("MANIFEST")).unwrap();
    let meta = std::fs::read_to_string(dir.join("journal.json")).unwrap();
    std::fs::write(
        dir.join("journal.json"),
        meta.replace("\"version\": 2", "\"version\": 1"),
    )
    .unwrap();
    vj(&dir, &["verify"]).ok();
    assert_eq!(emit_one(&dir), 20_001);
    assert!(dir.join("MANIFEST").exists());
    let meta = std::fs::read_to_string(dir.join("journal.json")).unwrap();
    assert!(meta.contains("\"version\": 2"), "{meta}");
    vj(&dir, &["verify"]).ok();
}

// Checks I23, I24 (docs/invariants.md).
/// A missing or damaged manifest refuses the open; salvage rebuilds it and reserves
/// the numbers past the last segment (later segments may have gone with it).
#[test]
fn missing_or_damaged_manifest_refuses_and_salvage_rebuilds_it() {
    for damage in ["delete", "flip", "delete and cut the tail"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = journal_j(tmp.path());
        let path = dir.join("MANIFEST");
        if damage.starts_with("delete") {
            std::fs::remove_file(&path).unwrap();
        } else {
            let mut b = std::fs::read(&path).unwrap();
            b[40] ^= 0x10;
            std::fs::write(&path, b).unwrap();
        }
        for args in [&["verify"][..], &["cat"], &["stats"]] {
            let o = vj(&dir, args).fails();
            assert!(
                o.all().contains("MANIFEST"),
                "{damage} {args:?}: {}",
                o.all()
            );
        }
        vj_stdin(&dir, &["emit"], &lines(0, 1)).fails();
        let cut = damage.ends_with("tail");
        if cut {
            // The clean-shutdown marker still records where the newest segment ended:
            // the numbers cut from it are a reported loss and are not handed out again
            // (found by the 1000-round mischief run).
            let last = segment_files(&dir).pop().unwrap();
            let len = std::fs::metadata(&last).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(&last).unwrap();
            f.set_len(len - 300).unwrap();
        }
        let o = vj(&dir, &["recover", "--mode", "salvage"]).ok();
        let kept = seqs(&dir);
        if cut {
            assert!(
                kept.len() < 20_000 && o.all().contains("lost"),
                "{}",
                o.all()
            );
        } else {
            assert_eq!(kept, (1..=20_000).collect::<Vec<_>>());
        }
        assert!(emit_one(&dir) > 20_000, "{damage}");
        vj(&dir, &["verify"]).ok();
    }
}
