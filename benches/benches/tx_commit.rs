//! Cross-journal transactions: commit latency of a three-participant transaction, and
//! committed transactions per second with many concurrent clients, beside the cost of
//! the fsyncs they wait on, measured in the same run.
//!
//! Each transaction: `begin` over three participant journals (a log write not waited
//! for; one durable reservation per 1024 ids), one event added to each, `commit` (each
//! participant fsyncs its events, the decision is written durably, then each
//! participant writes its marker, which a background completer makes durable before
//! logging the completion). Four durable steps in sequence on the critical path:
//! group commit lets concurrent transactions share each fsync.
//!
//! Baseline: `fdatasync` after a 512-byte append to a file in the same directory.
//!
//! Run: `cargo bench -p vexfs-journal-benches --bench tx_commit`. Variables:
//! `BENCH_TX` (sequential transactions, default 2000), `BENCH_CLIENTS` (default 32),
//! `BENCH_SECS` (seconds of the concurrent run, default 5), `BENCH_DIR`,
//! `BENCH_OUT` (JSON, default `<target>/bench-results/tx_commit.json`),
//! `BENCH_FSYNC` (the participants' fsync policy, default `batch`; e.g. `never`: only
//! the coordinator's waits fsync them), `BENCH_SCALE_TX` (default 0: skipped): commit
//! that many transactions with the concurrent clients, close everything, then time
//! reopening the participants, their first transaction view, and the coordinator's
//! open (which reads every participant's transactions), beside reading every event of
//! the participants once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};
use vexfs_journal::{Config, Event, FsOp, Journal};
use vexfs_journal_coordinator::{Coordinator, CoordinatorConfig, JournalParticipant, Participant};

const NAMES: [&str; 3] = ["fuse", "vectors", "graph"];

use vexfs_journal_benches::env_u64 as env;

fn percentiles(samples: &mut [u64]) -> Value {
    samples.sort_unstable();
    let at = |p: f64| {
        samples
            .get(((samples.len() as f64 * p) as usize).min(samples.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as f64
            / 1e3
    };
    json!({"p50_us": at(0.5), "p99_us": at(0.99), "samples": samples.len()})
}

fn fdatasync_baseline(dir: &Path, n: usize) -> Result<Value> {
    let path = dir.join("baseline.bin");
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let buf = [7u8; 512];
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&buf)?;
        f.sync_data()?;
        samples.push(t.elapsed().as_nanos() as u64);
    }
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(percentiles(&mut samples))
}

struct Setup {
    journals: Vec<Journal>,
    coordinator: Coordinator,
}

fn setup(dir: &Path) -> Result<Setup> {
    let fsync = match std::env::var("BENCH_FSYNC") {
        Ok(p) => p
            .parse()
            .map_err(|e| anyhow::anyhow!("BENCH_FSYNC {p:?}: {e}"))?,
        Err(_) => Config::default().fsync,
    };
    let config = Config {
        fsync,
        ..Config::default()
    };
    let (journals, parts) = participants(dir, &config, Journal::create)?;
    let (coordinator, _) =
        Coordinator::open(dir.join("coordinator"), parts, CoordinatorConfig::default())?;
    Ok(Setup {
        journals,
        coordinator,
    })
}

/// The participant journals and the same journals as coordinator participants.
type Participants = (Vec<Journal>, Vec<Arc<dyn Participant>>);

/// The three participant journals under `dir`, made by `make` (create or open), and
/// each wrapped as a coordinator participant.
fn participants(
    dir: &Path,
    config: &Config,
    make: fn(PathBuf, Config) -> vexfs_journal::Result<Journal>,
) -> Result<Participants> {
    let journals: Vec<Journal> = NAMES
        .iter()
        .map(|n| make(dir.join(n), config.clone()))
        .collect::<std::result::Result<_, _>>()?;
    let parts = NAMES
        .iter()
        .zip(&journals)
        .map(|(n, j)| Arc::new(JournalParticipant::new(*n, j.clone())) as Arc<dyn Participant>)
        .collect();
    Ok((journals, parts))
}

fn event(i: u64) -> Event {
    Event::filesystem(FsOp::Write)
        .path(format!("/bench/{}", i % 1000))
        .payload(vec![1u8; 128])
}

/// One transaction; returns (whole transaction, commit alone) in ns.
fn one(c: &Coordinator, i: u64) -> Result<(u64, u64)> {
    let t = Instant::now();
    let tx = c.begin(&NAMES)?;
    for name in NAMES {
        c.add_events(tx, name, vec![event(i)])?;
    }
    let tc = Instant::now();
    c.commit(tx)?;
    Ok((
        t.elapsed().as_nanos() as u64,
        tc.elapsed().as_nanos() as u64,
    ))
}

fn fsyncs(s: &Setup) -> u64 {
    s.journals.iter().map(|j| j.metrics().fsyncs).sum::<u64>()
        + s.coordinator.log().metrics().fsyncs
}

/// Commits `n` transactions with `clients` threads, closes everything, then reopens
/// and times each step of coming back.
fn reopen_after(dir: &Path, n: u64, clients: u64) -> Result<Value> {
    let t = Instant::now();
    {
        let s = Arc::new(setup(dir)?);
        let next = Arc::new(AtomicU64::new(0));
        let handles: Vec<_> = (0..clients)
            .map(|_| {
                let (s, next) = (s.clone(), next.clone());
                std::thread::spawn(move || -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return Ok(());
                        }
                        one(&s.coordinator, i)?;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??;
        }
    }
    let write_s = t.elapsed().as_secs_f64();
    // Reopened in a fresh process: nothing of the run above is cached in it.
    let out = std::process::Command::new(std::env::current_exe()?)
        .env(REOPEN_CHILD, dir)
        .output()
        .context("starting the reopening child")?;
    if !out.status.success() {
        anyhow::bail!(
            "the reopening child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut v: Value = serde_json::from_slice(&out.stdout).context("the child's report")?;
    v["transactions"] = json!(n);
    v["write_s"] = json!(write_s);
    Ok(v)
}

/// Set (to the directory) in the child that reopens what [`reopen_after`] wrote.
const REOPEN_CHILD: &str = "TX_COMMIT_REOPEN_CHILD";

/// The child's side of [`reopen_after`]: reopens, times, prints a JSON report.
fn reopen(dir: &Path) -> Result<()> {
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let config = Config::default();
    let t = Instant::now();
    let journals: Vec<Journal> = NAMES
        .iter()
        .map(|n| Journal::open(dir.join(n), config.clone()))
        .collect::<std::result::Result<_, _>>()?;
    let open_ms = ms(t);
    let t = Instant::now();
    let mut undecided = 0;
    for j in &journals {
        undecided += j.transactions()?.undecided().count();
    }
    let view_ms = ms(t);
    // Baseline: reading every event of the three journals once.
    let t = Instant::now();
    let mut events = 0u64;
    for j in &journals {
        for e in j.scan(0..u64::MAX) {
            e?;
            events += 1;
        }
    }
    let scan_ms = ms(t);
    drop(journals);

    let t = Instant::now();
    let (journals, parts) = participants(dir, &config, Journal::open)?;
    let (coordinator, report) =
        Coordinator::open(dir.join("coordinator"), parts, CoordinatorConfig::default())?;
    let coordinator_ms = ms(t);
    drop(coordinator);
    drop(journals);
    println!(
        "{}",
        json!({
            "open_participants_ms": open_ms,
            "first_view_ms": view_ms,
            "scan_all_ms": scan_ms,
            "events": events,
            "undecided": undecided,
            "participants_and_coordinator_open_ms": coordinator_ms,
            "orphans": report.orphans.len(),
        })
    );
    Ok(())
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(());
    }
    if let Some(dir) = std::env::var_os(REOPEN_CHILD) {
        return reopen(Path::new(&dir));
    }
    let n_tx = env("BENCH_TX", 2000);
    let clients = env("BENCH_CLIENTS", 32);
    let secs = env("BENCH_SECS", 5);
    let base = std::env::var("BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    let tmp = tempfile::Builder::new()
        .prefix("tx-commit-")
        .tempdir_in(&base)?;
    let mut results = serde_json::Map::new();

    results.insert(
        "participant_fsync".into(),
        json!(std::env::var("BENCH_FSYNC").unwrap_or_else(|_| "batch".into())),
    );
    results.insert(
        "fdatasync_512b".into(),
        fdatasync_baseline(tmp.path(), 2000)?,
    );

    // Sequential: one client.
    {
        let s = setup(&tmp.path().join("seq"))?;
        for i in 0..50 {
            one(&s.coordinator, i)?;
        }
        let before = fsyncs(&s);
        let (mut whole, mut commit) = (Vec::new(), Vec::new());
        for i in 0..n_tx {
            let (w, c) = one(&s.coordinator, i)?;
            whole.push(w);
            commit.push(c);
        }
        let per_tx = (fsyncs(&s) - before) as f64 / n_tx as f64;
        results.insert(
            "sequential".into(),
            json!({
                "transactions": n_tx,
                "transaction": percentiles(&mut whole),
                "commit": percentiles(&mut commit),
                "fsyncs_per_transaction": per_tx,
            }),
        );
    }

    // Concurrent clients.
    {
        let s = Arc::new(setup(&tmp.path().join("conc"))?);
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let before = fsyncs(&s);
        let t = Instant::now();
        let handles: Vec<_> = (0..clients)
            .map(|k| {
                let (s, stop, done) = (s.clone(), stop.clone(), done.clone());
                std::thread::spawn(move || -> Result<Vec<u64>> {
                    let mut lat = Vec::new();
                    let mut i = k * 1_000_000;
                    while !stop.load(Ordering::Relaxed) {
                        let (w, _) = one(&s.coordinator, i)?;
                        lat.push(w);
                        done.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                    Ok(lat)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
        let mut lat = Vec::new();
        for h in handles {
            lat.extend(
                h.join()
                    .map_err(|_| anyhow::anyhow!("a client panicked"))??,
            );
        }
        let elapsed = t.elapsed().as_secs_f64();
        let n = done.load(Ordering::Relaxed);
        let per_tx = (fsyncs(&s) - before) as f64 / n.max(1) as f64;
        results.insert(
            "concurrent".into(),
            json!({
                "clients": clients,
                "transactions": n,
                "transactions_per_s": n as f64 / elapsed,
                "transaction": percentiles(&mut lat),
                "fsyncs_per_transaction": per_tx,
            }),
        );
    }

    let scale = env("BENCH_SCALE_TX", 0);
    if scale > 0 {
        results.insert(
            "scale".into(),
            reopen_after(&tmp.path().join("scale"), scale, clients)?,
        );
    }

    let text = serde_json::to_string_pretty(&Value::Object(results))?;
    println!("{text}");
    let out = std::env::var("BENCH_OUT").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        format!("{target}/bench-results/tx_commit.json")
    });
    if let Some(parent) = Path::new(&out).parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, text).with_context(|| format!("writing {out}"))?;
    eprintln!("wrote {out}");
    Ok(())
}
