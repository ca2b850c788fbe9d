//! What encryption at rest costs (`docs/encryption.md`), against the same work on an
//! unencrypted journal in the same run.
//!
//! 1. **Durable writes.** One producer writes atomic batches of `BENCH_BATCH` events
//!    (128-byte payloads) with `emit_batch_durable` for `BENCH_SECS` seconds, and a
//!    second series with batches of 1 (`emit_durable`). Plain and encrypted rounds
//!    alternate, `BENCH_ROUNDS` of each; the median is reported.
//! 2. **Reads.** A journal of `BENCH_EVENTS` events (1000 paths, 8 agents) is written
//!    plain and encrypted, closed, and opened by a reader (timed: an encrypted journal
//!    builds its index at open). Then, on each: point reads of random sequences, a
//!    path-prefix query and an agent + type query (first page of 100), a full scan.
//!
//! Run: `cargo bench -p vexfs-journal-benches --bench encryption`. Variables as above,
//! and `BENCH_DIR`, `BENCH_OUT` (JSON, default `<target>/bench-results/encryption.json`).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use vexfs_journal::{Config, Event, EventType, FsOp, Journal, JournalKey, JournalReader, Query};

use vexfs_journal_benches::env_u64 as env;

fn event(i: u64) -> Event {
    let op = if i.is_multiple_of(4) {
        FsOp::Write
    } else {
        FsOp::Read
    };
    Event::filesystem(op)
        .path(format!("/bench/dir{}/file{}", i % 10, i % 1000))
        .agent_id(format!("agent-{}", i % 8))
        .payload(vec![(i % 251) as u8; 128])
}

fn config(key: Option<&Arc<JournalKey>>) -> Config {
    Config {
        encryption_key: key.cloned(),
        checkpoint_interval_s: 0,
        ..Config::default()
    }
}

/// Events/s of durable batches of `batch` for `secs`.
fn durable_round(dir: &Path, batch: u64, secs: u64, key: Option<&Arc<JournalKey>>) -> Result<f64> {
    let journal = Journal::create(dir, config(key))?;
    let t = Instant::now();
    let mut events = 0u64;
    while t.elapsed() < Duration::from_secs(secs) {
        if batch == 1 {
            journal.emit_durable(event(events))?;
        } else {
            let b = (events..events + batch).map(event).collect();
            journal.emit_batch_durable(b)?;
        }
        events += batch;
    }
    let rate = events as f64 / t.elapsed().as_secs_f64();
    journal.close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(rate)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Mean µs of `f` over `n` calls.
fn mean_us(n: u64, mut f: impl FnMut(u64) -> Result<()>) -> Result<f64> {
    let t = Instant::now();
    for i in 0..n {
        f(i)?;
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn reads(dir: &Path, n: u64, key: Option<&Arc<JournalKey>>) -> Result<Value> {
    let t = Instant::now();
    {
        let journal = Journal::create(dir, config(key))?;
        for i in 0..n {
            journal.emit(event(i))?;
        }
        journal.close()?;
    }
    let write_s = t.elapsed().as_secs_f64();
    let disk: u64 = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let t = Instant::now();
    let reader = JournalReader::open_keyed(dir, key.cloned())?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;

    // Point reads: a pseudo-random walk over the sequences.
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let point_us = mean_us(20_000, |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let seq = 1 + x % n;
        reader.get(seq)?.context("a sequence that exists")?;
        Ok(())
    })?;
    let path = Query {
        path_prefix: Some("/bench/dir3/file513".into()),
        limit: Some(100),
        ..Query::new()
    };
    let path_us = mean_us(200, |_| {
        anyhow::ensure!(!reader.query(&path)?.events.is_empty());
        Ok(())
    })?;
    let agent = Query {
        agent: Some("agent-4".into()),
        types: vec![EventType::from(FsOp::Write)],
        limit: Some(100),
        ..Query::new()
    };
    let agent_us = mean_us(200, |_| {
        anyhow::ensure!(!reader.query(&agent)?.events.is_empty());
        Ok(())
    })?;
    let t = Instant::now();
    let scanned = reader.scan(0..u64::MAX).count() as u64;
    anyhow::ensure!(scanned == n, "scanned {scanned} of {n}");
    let scan_s = t.elapsed().as_secs_f64();
    drop(reader);
    std::fs::remove_dir_all(dir)?;
    Ok(json!({
        "write_s": write_s,
        "disk_bytes": disk,
        "open_ms": open_ms,
        "point_read_us": point_us,
        "path_query_us": path_us,
        "agent_type_query_us": agent_us,
        "scan_s": scan_s,
    }))
}

fn main() -> Result<()> {
    let batch = env("BENCH_BATCH", 100);
    let secs = env("BENCH_SECS", 3);
    let rounds = env("BENCH_ROUNDS", 3);
    let events = env("BENCH_EVENTS", 1_000_000);
    let base = std::env::var_os("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!(
            "vexjournal-bench-encryption-{}",
            std::process::id()
        ));
    std::fs::create_dir_all(&base)?;
    let key = Arc::new(JournalKey::from_bytes([0x42; 32]));
    let dir = base.join("j");

    let mut results = serde_json::Map::new();
    for b in [batch, 1] {
        let (mut plain, mut enc) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            plain.push(durable_round(&dir, b, secs, None)?);
            enc.push(durable_round(&dir, b, secs, Some(&key))?);
        }
        let (p, e) = (median(plain.clone()), median(enc.clone()));
        println!(
            "durable writes, batch {b}: plain {p:.0} ev/s, encrypted {e:.0} ev/s ({:.2}x); rounds plain {plain:.0?} encrypted {enc:.0?}",
            e / p
        );
        results.insert(
            format!("durable_batch_{b}"),
            json!({"plain": plain, "encrypted": enc, "ratio": e / p}),
        );
    }
    let plain = reads(&dir, events, None)?;
    let enc = reads(&dir, events, Some(&key))?;
    for field in [
        "write_s",
        "disk_bytes",
        "open_ms",
        "point_read_us",
        "path_query_us",
        "agent_type_query_us",
        "scan_s",
    ] {
        let (p, e) = (
            plain[field].as_f64().unwrap_or(0.0),
            enc[field].as_f64().unwrap_or(0.0),
        );
        println!(
            "{events} events, {field}: plain {p:.2}, encrypted {e:.2} ({:.2}x)",
            e / p.max(1e-12)
        );
    }
    results.insert("reads_plain".into(), plain);
    results.insert("reads_encrypted".into(), enc);
    let out = std::env::var_os("BENCH_OUT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-results/encryption.json")
        });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&Value::Object(results))?)?;
    println!("wrote {}", out.display());
    std::fs::remove_dir_all(&base)?;
    Ok(())
}
