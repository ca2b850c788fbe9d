//! Crash safety of `vexjournal emit --durable`, end to end.
//!
//! Each round starts `vexjournal --dir D emit --durable`, feeds it events through its
//! stdin without pause, records every sequence number it acknowledges on stdout and
//! SIGKILLs it after a pseudo-random delay. The journal in D accumulates across rounds,
//! so every round after the first also opens (and repairs) the journal a crash left
//! behind. After each crash `cat` must show: sequences 1..=last with no gap or
//! duplicate, every acknowledged event exactly once with the content fed for it, the
//! events of earlier rounds unchanged, and the new events a prefix of what was fed.
//! The rounds run on a plain journal and on an encrypted one, whose files must hold
//! none of the paths and payloads fed, torn bytes included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{bin, spawn_durable_emit};
use serde_json::{Value, json};
use vexfs_journal_testkit::Rng;

/// Crash rounds (each ~20–250 ms of ingestion, then SIGKILL).
const ROUNDS: u64 = 24;
/// Shortest and longest time a writer runs before it is killed.
const MIN_DELAY_MS: u64 = 20;
const MAX_DELAY_MS: u64 = 250;
/// Inode of event `index` of round `round`: `round * ROUND_STRIDE + index + 1` (never 0,
/// which `cat` leaves out).
const ROUND_STRIDE: u64 = 1_000_000;

/// The event fed as number `index` of round `round`: unique inode, path and payload;
/// payload lengths vary so blocks and writes vary in size.
fn fed_event(round: u64, index: u64) -> Value {
    let filler_len = ((round * 31 + index * 17) % 400) as usize;
    json!({
        "type": if index.is_multiple_of(3) { "filesystem.write" } else { "agent.decision" },
        "inode": round * ROUND_STRIDE + index + 1,
        "path": format!("/crash/r{round}/e{index}"),
        "payload": format!("round={round} index={index} {}", "z".repeat(filler_len)),
    })
}

/// A test key for the encrypted rounds, given through `$VEXJOURNAL_KEY`.
const KEY_HEX: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

/// `vexjournal`, with the journal key in its environment when `key` is set.
fn vexjournal(key: Option<&str>) -> std::process::Command {
    let mut c = bin();
    if let Some(k) = key {
        c.env("VEXJOURNAL_KEY", k);
    }
    c
}

/// Every event of the journal in `dir`, from `cat -o ndjson`.
fn cat(dir: &Path, key: Option<&str>) -> Vec<Value> {
    let out = vexjournal(key)
        .arg("--dir")
        .arg(dir)
        .args(["cat", "-o", "ndjson"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cat after a crash failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn torn_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".torn")
        })
        .count()
}

/// What one round observed.
struct Round {
    /// Sequences the writer acknowledged, in the order printed.
    acks: Vec<u64>,
    /// Events the feeder got into the pipe.
    fed: u64,
    /// The writer's stderr.
    stderr: String,
}

/// Runs one writer, feeds it, kills it after `delay`.
fn crash_round(dir: &Path, round: u64, delay: Duration, key: Option<&str>) -> Round {
    let mut child = vexjournal(key)
        .arg("--dir")
        .arg(dir)
        .args(["emit", "--durable"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let mut fed = 0;
        // Stops when the pipe breaks (the writer died); the cap only guards a writer
        // that would survive the kill.
        while fed + 1 < ROUND_STRIDE {
            let line = format!("{}\n", fed_event(round, fed));
            if stdin.write_all(line.as_bytes()).is_err() {
                break;
            }
            fed += 1;
        }
        fed
    });
    let reader = std::thread::spawn(move || {
        let mut acks = Vec::new();
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut by the kill is not an acknowledgement.
                Ok(_) if !line.ends_with('\n') => break,
                Ok(_) => acks.push(
                    line.trim()
                        .parse::<u64>()
                        .unwrap_or_else(|e| panic!("ack line {line:?}: {e}")),
                ),
            }
        }
        acks
    });
    let errors = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });

    std::thread::sleep(delay);
    let early_exit = child.try_wait().unwrap();
    child.kill().unwrap_or(());
    let status = child.wait().unwrap();
    let fed = feeder.join().unwrap();
    let acks = reader.join().unwrap();
    let stderr = errors.join().unwrap();
    assert!(
        early_exit.is_none() && status.signal() == Some(9),
        "round {round}: the writer ended before the kill ({status}); stderr:\n{stderr}"
    );
    Round { acks, fed, stderr }
}

// Checks I9 (docs/invariants.md).
#[test]
fn sigkill_never_loses_acknowledged_events() {
    crash_rounds(ROUNDS, None);
}

// Checks I9 and I59 (docs/invariants.md).
#[test]
fn sigkill_never_loses_acknowledged_events_of_an_encrypted_journal() {
    crash_rounds(ROUNDS / 2, Some(KEY_HEX));
}

/// Files of `dir` (torn tails included) holding `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            let bytes = std::fs::read(p).unwrap();
            bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .collect()
}

fn crash_rounds(rounds: u64, key: Option<&str>) {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let init = vexjournal(key)
        .arg("--dir")
        .arg(&dir)
        .arg("init")
        .output()
        .unwrap();
    assert!(init.status.success(), "{init:?}");

    // Content of every event in the journal, by sequence - 1, as verified so far.
    let mut journal: Vec<Value> = Vec::new();
    let mut total_acks = 0;
    let mut rounds_with_acks = 0;
    for round in 0..rounds {
        let mut rng = Rng(0x5EED_0000 + round);
        let delay = Duration::from_millis(rng.range(MIN_DELAY_MS, MAX_DELAY_MS));
        let base = journal.len() as u64 + 1;
        let r = crash_round(&dir, round, delay, key);
        let ctx = format!(
            "round {round} (killed after {delay:?}, journal had {} events, {} fed, {} acked)\n\
             writer stderr:\n{}",
            journal.len(),
            r.fed,
            r.acks.len(),
            r.stderr
        );

        // Acknowledgements continue the journal one by one.
        let expected_acks: Vec<u64> = (base..base + r.acks.len() as u64).collect();
        assert_eq!(r.acks, expected_acks, "{ctx}: acknowledged sequences");

        let events = cat(&dir, key);
        if key.is_some() {
            let leaked = files_holding(&dir, &format!("/crash/r{round}/"));
            assert!(leaked.is_empty(), "{ctx}: plaintext paths in {leaked:?}");
            let leaked = files_holding(&dir, &format!("round={round} index="));
            assert!(leaked.is_empty(), "{ctx}: plaintext payloads in {leaked:?}");
        }
        let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
        let last = seqs.len() as u64;
        assert!(
            seqs.iter().copied().eq(1..=last),
            "{ctx}: sequences are not exactly 1..={last}: {:?}",
            gaps(&seqs)
        );
        for e in &events {
            assert_eq!(e["id"], e["seq"], "{ctx}: id of {e}");
        }
        assert!(
            last >= journal.len() as u64,
            "{ctx}: the journal shrank from {} to {last} events",
            journal.len()
        );
        for (i, (before, now)) in journal.iter().zip(&events).enumerate() {
            assert_eq!(
                *before,
                common::content(now),
                "{ctx}: event {} of an earlier round changed",
                i + 1
            );
        }
        // New events are a prefix of what was fed, in order, starting at `base`.
        for now in &events[journal.len()..] {
            let index = now["seq"].as_u64().unwrap() - base;
            assert!(index < r.fed, "{ctx}: {now} was never fed");
            assert_eq!(
                common::content(now),
                common::content(&fed_event(round, index)),
                "{ctx}: sequence {} holds the wrong event",
                now["seq"]
            );
        }
        // Every acknowledged event is there (exactly once, by the checks above).
        if let Some(&max_ack) = r.acks.last() {
            assert!(
                max_ack <= last,
                "{ctx}: acknowledged {max_ack} but the journal ends at {last}"
            );
            rounds_with_acks += 1;
        }
        total_acks += r.acks.len();
        journal.extend(events[journal.len()..].iter().map(common::content));
    }

    // The journal is writable after the last crash and continues right after it.
    let next = journal.len() as u64 + 1;
    let mut child = vexjournal(key)
        .arg("--dir")
        .arg(&dir)
        .arg("emit")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{}\n", json!({"type": "system.recovery", "inode": 42})).as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "emit after the last crash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{next}..={next}\n")
    );
    let events = cat(&dir, key);
    assert_eq!(events.len() as u64, next);
    assert_eq!(events[next as usize - 1]["type"], "system.recovery");
    assert_eq!(events[next as usize - 1]["inode"], 42);
    for (i, (before, now)) in journal.iter().zip(&events).enumerate() {
        assert_eq!(*before, common::content(now), "event {} changed", i + 1);
    }

    // The test must have exercised something.
    assert!(
        rounds_with_acks >= rounds / 2,
        "only {rounds_with_acks} of {rounds} rounds acknowledged anything"
    );
    eprintln!(
        "{rounds} crash rounds (encrypted: {}): {} events in the journal, {total_acks} acknowledged, \
         {rounds_with_acks} rounds with acks, {} torn file(s), {:.1} s",
        key.is_some(),
        journal.len(),
        torn_files(&dir),
        started.elapsed().as_secs_f64()
    );
}

/// Emits `n` events of round `round` durably, waits for all acknowledgements, then
/// SIGKILLs the writer (its segment is left active, unsealed).
fn ingest_then_kill(dir: &Path, round: u64, n: u64) {
    let mut child = spawn_durable_emit(dir, Stdio::null());
    let mut stdin = child.stdin.take().unwrap();
    let input: String = (0..n)
        .map(|i| format!("{}\n", fed_event(round, i)))
        .collect();
    stdin.write_all(input.as_bytes()).unwrap();
    let mut acks = BufReader::new(child.stdout.take().unwrap()).lines();
    for _ in 0..n {
        acks.next().expect("an acknowledgement").unwrap();
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
}

fn only_segment(dir: &Path) -> std::path::PathBuf {
    let segs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    assert_eq!(segs.len(), 1, "{segs:?}");
    segs[0].clone()
}

fn emit_one(dir: &Path, event: &Value) -> String {
    let mut child = bin()
        .arg("--dir")
        .arg(dir)
        .arg("emit")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{event}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "emit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

// Checks I13 (docs/invariants.md).
/// A torn last write (garbage or a cut block at the end of the active segment) is not
/// an error: readers see the intact prefix, the next writer cuts the tail into a
/// `*.torn` file and continues right after the last intact event.
#[test]
fn torn_tail_is_cut_by_the_next_writer() {
    let tmp = tempfile::tempdir().unwrap();
    const N: u64 = 300;
    for (name, damage) in [("garbage", 0), ("cut", 1)] {
        let dir = tmp.path().join(name);
        let init = bin().arg("--dir").arg(&dir).arg("init").output().unwrap();
        assert!(init.status.success());
        ingest_then_kill(&dir, 0, N);
        assert_eq!(
            cat(&dir, None).len() as u64,
            N,
            "{name}: all acknowledged events"
        );
        let seg = only_segment(&dir);
        // The written end: a killed writer leaves its preallocated zeros after it.
        let len = vexfs_journal_testkit::blocks::written_end(&seg);
        if damage == 0 {
            // Bytes of a write that never completed.
            let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
            f.write_all(&[0xAB; 3000]).unwrap();
        } else {
            // The last block lost its end — possible only for bytes no sync covered, so
            // the header's record of the fsynced length is lost too (a power cut before
            // it reached the disk).
            forget_synced_length(&seg);
            std::fs::OpenOptions::new()
                .write(true)
                .open(&seg)
                .unwrap()
                .set_len(len - 7)
                .unwrap();
        }

        let events = cat(&dir, None);
        let kept = events.len() as u64;
        assert!(
            events
                .iter()
                .map(|e| e["seq"].as_u64().unwrap())
                .eq(1..=kept),
            "{name}: readers see a contiguous prefix"
        );
        if damage == 0 {
            assert_eq!(
                kept, N,
                "{name}: garbage after the last block hides nothing"
            );
        } else {
            assert!(kept < N, "{name}: the cut block is not readable");
        }
        for e in &events {
            let index = e["seq"].as_u64().unwrap() - 1;
            assert_eq!(
                common::content(e),
                common::content(&fed_event(0, index)),
                "{name}"
            );
        }
        assert_eq!(torn_files(&dir), 0, "{name}: readers change nothing");

        let next = kept + 1;
        assert_eq!(
            emit_one(&dir, &json!({"type": "system.recovery", "inode": 7})),
            format!("{next}..={next}\n"),
            "{name}: the writer continues after the last intact event"
        );
        assert_eq!(torn_files(&dir), 1, "{name}: the cut tail is kept aside");
        let events = cat(&dir, None);
        assert!(
            events
                .iter()
                .map(|e| e["seq"].as_u64().unwrap())
                .eq(1..=next),
            "{name}"
        );
        assert_eq!(events[kept as usize]["type"], "system.recovery");
        // And the repaired journal survives another crash cycle.
        ingest_then_kill(&dir, 1, 50);
        let events = cat(&dir, None);
        assert_eq!(events.len() as u64, next + 50, "{name}");
        for e in &events[next as usize..] {
            let index = e["seq"].as_u64().unwrap() - next - 1;
            assert_eq!(
                common::content(e),
                common::content(&fed_event(1, index)),
                "{name}"
            );
        }
    }
}

/// Sets the segment header's record of its fsynced length back to the bare header.
fn forget_synced_length(seg: &Path) {
    use std::os::unix::fs::FileExt;
    use vexfs_journal::format::FileHeader;
    use vexfs_journal::format::consts::FILE_HEADER_SIZE;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(seg)
        .unwrap();
    let mut head = [0u8; FILE_HEADER_SIZE];
    f.read_exact_at(&mut head, 0).unwrap();
    let h = FileHeader {
        journal_size: FILE_HEADER_SIZE as u64,
        ..FileHeader::parse(&head).unwrap()
    };
    f.write_all_at(&h.to_bytes(), 0).unwrap();
}

// Checks I13 (docs/invariants.md).
/// Acknowledged (fsynced) events that lost their bytes are not a torn tail: the next
/// writer refuses to cut them and says how to go on; salvage then keeps every intact
/// block and reports the loss.
#[test]
fn damage_to_acknowledged_events_is_refused_then_salvaged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let init = bin().arg("--dir").arg(&dir).arg("init").output().unwrap();
    assert!(init.status.success());
    ingest_then_kill(&dir, 0, 300);
    let seg = only_segment(&dir);
    // The written end: a killed writer leaves its preallocated zeros after it.
    let len = vexfs_journal_testkit::blocks::written_end(&seg);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let out = bin()
        .arg("--dir")
        .arg(&dir)
        .arg("emit")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fsynced") && err.contains("salvage"), "{err}");
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        len - 7,
        "nothing cut"
    );

    let out = bin()
        .args(["--dir"])
        .arg(&dir)
        .args(["recover", "--mode", "salvage", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report.to_string().contains("lost"), "{report}");
    let events = cat(&dir, None);
    assert!(!events.is_empty() && events.len() < 300);
    for e in &events {
        let index = e["seq"].as_u64().unwrap() - 1;
        assert_eq!(common::content(e), common::content(&fed_event(0, index)));
    }
    // The lost events keep their sequence numbers: new events come after them.
    assert_eq!(
        emit_one(&dir, &json!({"type": "system.recovery", "inode": 7})),
        "301..=301\n"
    );
    // The journal verifies clean; the loss is a note pointing at what salvage kept.
    let out = bin()
        .arg("--dir")
        .arg(&dir)
        .args(["verify", "-o", "json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = report["notes"].to_string();
    assert!(notes.contains("salvage"), "{report}");
}

/// Where a sequence list departs from 1, 2, 3, …: (position, found).
fn gaps(seqs: &[u64]) -> Vec<(usize, u64)> {
    seqs.iter()
        .enumerate()
        .filter(|&(i, &s)| s != i as u64 + 1)
        .take(10)
        .map(|(i, &s)| (i, s))
        .collect()
}

#[test]
fn prng_is_deterministic_and_in_range() {
    let mut a = Rng(7);
    let mut b = Rng(7);
    for _ in 0..1000 {
        let x = a.range(MIN_DELAY_MS, MAX_DELAY_MS);
        assert_eq!(x, b.range(MIN_DELAY_MS, MAX_DELAY_MS));
        assert!((MIN_DELAY_MS..=MAX_DELAY_MS).contains(&x));
    }
    assert_ne!(Rng(1).next(), Rng(2).next());
}

/// Every event of the journal in `dir` read with the key in `key_file`, or `None` when
/// that key does not open it.
fn cat_with(dir: &Path, key_file: &Path) -> Option<Vec<Value>> {
    let out = bin()
        .arg("--dir")
        .arg(dir)
        .arg("--key-file")
        .arg(key_file)
        .args(["cat", "-o", "ndjson"])
        .output()
        .unwrap();
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("not with the key given"),
            "cat failed otherwise: {err}"
        );
        return None;
    }
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    )
}

// Checks I59 (docs/invariants.md).
#[test]
fn sigkill_during_key_rotation_keeps_every_event_under_exactly_one_key() {
    const N: u64 = 20_000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("journal");
    let keys = [tmp.path().join("a.key"), tmp.path().join("b.key")];
    for k in &keys {
        let made = bin().args(["key", "generate"]).arg(k).output().unwrap();
        assert!(made.status.success(), "{made:?}");
    }
    let key0 = keys[0].to_str().unwrap();
    common::run_in(
        &dir,
        &["--key-file", key0, "init", "--segment-size", "65536"],
        b"",
        &[],
    )
    .ok();
    let input: String = (0..N).map(|i| format!("{}\n", fed_event(0, i))).collect();
    common::run_in(&dir, &["--key-file", key0, "emit"], input.as_bytes(), &[]).ok();
    let expected: Vec<Value> = cat_with(&dir, &keys[0])
        .unwrap()
        .iter()
        .map(common::content)
        .collect();
    assert_eq!(expected.len() as u64, N);

    let (mut cur, mut interrupted, mut finished) = (0usize, 0, 0);
    for (round, delay_ms) in [1u64, 8, 20, 40, 80, 160, 320].into_iter().enumerate() {
        let next = 1 - cur;
        let mut child = bin()
            .arg("--dir")
            .arg(&dir)
            .arg("--key-file")
            .arg(&keys[cur])
            .args(["key", "rotate", "--new-key-file"])
            .arg(&keys[next])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        child.wait().unwrap();
        let old = cat_with(&dir, &keys[cur]);
        let new = cat_with(&dir, &keys[next]);
        assert!(
            old.is_some() != new.is_some(),
            "round {round} (killed after {delay_ms} ms): exactly one key opens the journal \
             (old: {}, new: {})",
            old.is_some(),
            new.is_some()
        );
        let now: Vec<Value> = old
            .as_ref()
            .or(new.as_ref())
            .unwrap()
            .iter()
            .map(common::content)
            .collect();
        assert!(now == expected, "round {round}: the events changed");
        if new.is_none() {
            interrupted += 1;
            // Running it again finishes the rotation.
            let mut again = bin();
            again
                .arg("--dir")
                .arg(&dir)
                .arg("--key-file")
                .arg(&keys[cur]);
            again
                .args(["key", "rotate", "--new-key-file"])
                .arg(&keys[next]);
            let out = again.output().unwrap();
            assert!(out.status.success(), "round {round}: {out:?}");
            assert!(cat_with(&dir, &keys[cur]).is_none());
            let done: Vec<Value> = cat_with(&dir, &keys[next])
                .unwrap()
                .iter()
                .map(common::content)
                .collect();
            assert!(done == expected, "round {round}: the events changed");
        } else {
            finished += 1;
        }
        cur = next;
    }
    assert!(interrupted >= 1, "no rotation was interrupted");
    let leaked = files_holding(&dir, "/crash/r0/");
    assert!(leaked.is_empty(), "plaintext paths in {leaked:?}");
    eprintln!(
        "key rotation: {interrupted} rounds interrupted before the commit, {finished} finished"
    );
}
