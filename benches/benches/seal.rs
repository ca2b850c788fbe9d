//! The verifiable log's costs (`docs/seal.md`): what a sealer running beside durable
//! writes takes from them, and sealing, verifying and proving at scale.
//!
//! 1. **Durable writes with and without a sealer.** One producer writes atomic batches
//!    of `BENCH_BATCH` events (128-byte payloads) with `emit_batch_durable` for
//!    `BENCH_SECS` seconds; in the sealed rounds a thread seals every
//!    `BENCH_SEAL_MS` milliseconds (hashing the records since the last seal, signing,
//!    writing the head durably). Rounds alternate, `BENCH_ROUNDS` of each.
//! 2. **Scale.** A journal of `BENCH_EVENTS` events (emitted, then closed) is reopened
//!    read-only and timed: reading every record once (the baseline: what any full
//!    pass costs), a first seal (hashing every record), `verify` against that head,
//!    `prove` of the middle record, and checking that proof (mean of 1000), with the
//!    proof's size.
//!
//! Run: `cargo bench -p vexfs-journal-benches --bench seal`. Variables as above, and
//! `BENCH_DIR`, `BENCH_OUT` (JSON, default `<target>/bench-results/seal.json`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use vexfs_journal::{Config, Event, FsOp, Journal, JournalReader, Query};
use vexfs_journal_seal::merkle::SigningKey;
use vexfs_journal_seal::{Sealer, prove, verify};

use vexfs_journal_benches::env_u64 as env;

fn event(i: u64) -> Event {
    Event::filesystem(FsOp::Write)
        .path(format!("/bench/{}", i % 1000))
        .payload(vec![(i % 251) as u8; 128])
}

/// Events/s of durable batches for `secs`, with a sealer every `seal_ms` if given.
fn durable_round(dir: &Path, batch: u64, secs: u64, seal_ms: Option<u64>) -> Result<Value> {
    let journal = Journal::create(dir, Config::default())?;
    let stop = Arc::new(AtomicBool::new(false));
    let seals = Arc::new(AtomicU64::new(0));
    let sealer = seal_ms.map(|ms| {
        let (journal, stop, seals) = (journal.clone(), stop.clone(), seals.clone());
        std::thread::spawn(move || -> Result<()> {
            let mut sealer = Sealer::new(SigningKey::from_bytes(&[3; 32]));
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(ms));
                sealer.seal(&journal)?;
                seals.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        })
    });
    let t = Instant::now();
    let mut events = 0u64;
    while t.elapsed() < Duration::from_secs(secs) {
        let b = (events..events + batch).map(event).collect();
        journal.emit_batch_durable(b)?;
        events += batch;
    }
    let elapsed = t.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    if let Some(h) = sealer {
        h.join()
            .map_err(|_| anyhow::anyhow!("the sealer panicked"))??;
    }
    journal.close()?;
    std::fs::remove_dir_all(dir)?;
    Ok(json!({
        "events_per_s": events as f64 / elapsed,
        "seals": seals.load(Ordering::Relaxed),
    }))
}

fn scale(dir: &Path, n: u64) -> Result<Value> {
    let t = Instant::now();
    {
        let journal = Journal::create(dir, Config::default())?;
        for i in 0..n {
            journal.emit(event(i))?;
        }
        journal.close()?;
    }
    let write_s = t.elapsed().as_secs_f64();
    let reader = JournalReader::open(dir)?;
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;

    let t = Instant::now();
    let mut records = 0u64;
    vexfs_journal::ext::query_uncommitted(&reader, &Query::new(), |_| {
        records += 1;
        true
    })?;
    let read_ms = ms(t);

    let key = SigningKey::from_bytes(&[3; 32]);
    let t = Instant::now();
    let head = Sealer::new(key.clone()).head(&reader)?;
    let seal_ms = ms(t);

    let t = Instant::now();
    let report = verify(&reader, &key.verifying_key(), Some(&head))?;
    let verify_ms = ms(t);
    anyhow::ensure!(report.is_clean(), "verify: {:?}", report.problems);

    let t = Instant::now();
    let proof = prove(&reader, n / 2, Some(head))?;
    let prove_ms = ms(t);
    let size = serde_json::to_string(&proof.to_document())?.len();
    let t = Instant::now();
    for _ in 0..1000 {
        proof.verify(&key.verifying_key())?;
    }
    let check_us = t.elapsed().as_secs_f64() * 1e6 / 1000.0;
    Ok(json!({
        "events": n,
        "records": records,
        "write_s": write_s,
        "read_all_ms": read_ms,
        "first_seal_ms": seal_ms,
        "verify_ms": verify_ms,
        "prove_ms": prove_ms,
        "proof_path_hashes": proof.path.len(),
        "proof_json_bytes": size,
        "proof_check_us": check_us,
    }))
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    let base = match std::env::var_os("BENCH_DIR") {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let (batch, secs) = (env("BENCH_BATCH", 100), env("BENCH_SECS", 5));
    let seal_ms = env("BENCH_SEAL_MS", 1000);
    let mut rounds = Vec::new();
    for r in 0..env("BENCH_ROUNDS", 2) {
        let plain = durable_round(&base.path().join(format!("plain{r}")), batch, secs, None)?;
        let sealed = durable_round(
            &base.path().join(format!("sealed{r}")),
            batch,
            secs,
            Some(seal_ms),
        )?;
        let ratio = sealed["events_per_s"].as_f64().unwrap_or(0.0)
            / plain["events_per_s"].as_f64().unwrap_or(1.0);
        eprintln!("round {r}: plain {plain}, sealed {sealed}, ratio {ratio:.3}");
        rounds.push(json!({"plain": plain, "sealed": sealed, "sealed_over_plain": ratio}));
    }
    let n = env("BENCH_EVENTS", 1_000_000);
    let scale = if n > 0 {
        scale(&base.path().join("scale"), n)?
    } else {
        Value::Null
    };
    eprintln!("scale: {scale}");
    let text = serde_json::to_string_pretty(&json!({
        "batch": batch,
        "secs": secs,
        "seal_every_ms": seal_ms,
        "durable": rounds,
        "scale": scale,
    }))?;
    println!("{text}");
    let out = std::env::var("BENCH_OUT").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        format!("{target}/bench-results/seal.json")
    });
    if let Some(parent) = Path::new(&out).parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, text).with_context(|| format!("writing {out}"))?;
    eprintln!("wrote {out}");
    Ok(())
}
