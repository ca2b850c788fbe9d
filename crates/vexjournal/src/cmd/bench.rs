//! `vexjournal bench`: durable throughput and emission latency on this machine.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use hdrhistogram::Histogram;
use serde::Serialize;
use vexfs_journal::{Compression, Config, FsyncPolicy, Journal};

use crate::Cli;
use crate::output::{ReportFormat, human_bytes, human_count, human_ns, kv_table, peak_rss_bytes};
use crate::workload::{Workload, fixed_event};

/// Which events the producers emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Filesystem writes with a fixed path and a payload of --payload bytes.
    Fixed,
    /// The realistic mix of `demo` (payload sizes vary).
    Mixed,
}

/// Measure durable throughput, emission latency, disk bytes per event and memory.
///
/// Runs in a fresh journal under --work-dir (a temporary directory by default) and
/// deletes it afterwards unless --keep.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events to emit in total (at least 1).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// Payload bytes per event (fixed workload).
    #[arg(long, default_value_t = 128)]
    payload: usize,
    /// Producer threads.
    #[arg(long, default_value_t = 1)]
    producers: u64,
    /// fsync policy: batch, interval:MS or never.
    #[arg(long, default_value = "batch")]
    fsync: String,
    /// Block compression.
    #[arg(long, default_value = "lz4", value_parser = ["lz4", "zstd", "none"])]
    compression: String,
    /// Event mix.
    #[arg(long, value_enum, default_value = "fixed")]
    workload: Kind,
    /// Where to create the benchmark journal.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Also measure raw sequential write bandwidth (1 MiB writes then fdatasync, like
    /// `dd bs=1M conv=fdatasync`) in the same run, for a baseline ratio.
    #[arg(long)]
    baseline: bool,
    /// Keep the benchmark journal.
    #[arg(long)]
    keep: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

/// What one run measured.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Events emitted.
    pub events: u64,
    /// Producer threads.
    pub producers: u64,
    /// Payload bytes (fixed workload).
    pub payload_bytes: usize,
    /// Workload.
    pub workload: Kind,
    /// fsync policy.
    pub fsync: String,
    /// Compression.
    pub compression: String,
    /// Seconds until every event was accepted.
    pub accept_seconds: f64,
    /// Seconds until every event was durable.
    pub durable_seconds: f64,
    /// Accepted events per second.
    pub accepted_events_per_sec: f64,
    /// Durable events per second.
    pub durable_events_per_sec: f64,
    /// Stored (block) MB per second until durable.
    pub stored_mb_per_sec: f64,
    /// Record MB per second before compression.
    pub raw_mb_per_sec: f64,
    /// Emission latency percentiles, ns (every emit timed).
    pub emit_latency_ns: Percentiles,
    /// Bytes of segment files per event.
    pub disk_bytes_per_event: f64,
    /// Uncompressed record bytes per stored byte.
    pub compression_ratio: f64,
    /// Group commits (each one fdatasync under `batch`).
    pub group_commits: u64,
    /// fsync calls.
    pub fsyncs: u64,
    /// Mean events per group commit.
    pub avg_group_commit_events: f64,
    /// Peak resident memory of the process, bytes.
    pub peak_rss_bytes: Option<u64>,
    /// Resident memory of a fresh process holding the journal open and idle, bytes.
    pub idle_open_rss_bytes: Option<u64>,
    /// Raw write bandwidth measured in the same run, MB/s.
    pub baseline_write_mb_per_sec: Option<f64>,
    /// `stored_mb_per_sec / baseline_write_mb_per_sec`.
    pub baseline_ratio: Option<f64>,
}

/// Emission latency percentiles.
#[derive(Debug, Default, Serialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 95th.
    pub p95: u64,
    /// 99th.
    pub p99: u64,
    /// 99.9th.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let parent = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    // The benchmark's journals are never put inside a journal.
    crate::outfile::refuse_inside_journal(&parent.join("bench"), &cli.dir, "--work-dir")?;
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("vexjournal-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a work directory in {}", parent.display()))?;
    let report = bench(tmp.path(), args)?;
    if args.keep {
        let kept = tmp.keep();
        eprintln!("kept benchmark journal in {}", kept.display());
    }
    let mut out = std::io::stdout().lock();
    match args.output {
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        ReportFormat::Table => print_table(&mut out, &report)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn bench(dir: &Path, args: &Args) -> Result<BenchReport> {
    let journal_dir = dir.join("journal");
    let config = Config {
        fsync: args.fsync.parse::<FsyncPolicy>()?,
        compression: args.compression.parse::<Compression>()?,
        ..Config::default()
    };
    let journal = Arc::new(Journal::create(&journal_dir, config)?);
    let producers = args.producers.max(1);
    let per = args.events / producers;
    let started = Instant::now();
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let journal = journal.clone();
            let count = per + if p == 0 { args.events % producers } else { 0 };
            let kind = args.workload;
            let payload = vec![b'x'; args.payload];
            let payload_size = args.payload;
            std::thread::spawn(move || -> Result<Histogram<u64>> {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
                let mut mixed = Workload::new(p, Some(payload_size));
                for i in 0..count {
                    let ev = match kind {
                        Kind::Fixed => fixed_event(i, &payload),
                        Kind::Mixed => mixed.next_event(),
                    };
                    let t = Instant::now();
                    journal.emit(ev)?;
                    hist.record(t.elapsed().as_nanos() as u64)?;
                }
                Ok(hist)
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for h in handles {
        let part = h
            .join()
            .map_err(|_| anyhow::anyhow!("a producer thread panicked"))??;
        hist.add(part)?;
    }
    let accepted = started.elapsed();
    journal.sync()?;
    let durable = started.elapsed();
    let peak = peak_rss_bytes();
    let metrics = journal.metrics();
    let stats = journal.stats();
    journal.close()?;
    drop(journal);
    let idle_rss = idle_rss(&journal_dir);

    let secs = durable.as_secs_f64().max(1e-9);
    let stored_mb_s = metrics.stored_bytes as f64 / 1e6 / secs;
    let baseline = if args.baseline {
        Some(raw_write_bandwidth(
            dir,
            metrics.stored_bytes.max(256 << 20),
        )?)
    } else {
        None
    };
    Ok(BenchReport {
        events: args.events,
        producers,
        payload_bytes: args.payload,
        workload: args.workload,
        fsync: args.fsync.clone(),
        compression: args.compression.clone(),
        accept_seconds: accepted.as_secs_f64(),
        durable_seconds: secs,
        accepted_events_per_sec: args.events as f64 / accepted.as_secs_f64().max(1e-9),
        durable_events_per_sec: args.events as f64 / secs,
        stored_mb_per_sec: stored_mb_s,
        raw_mb_per_sec: metrics.raw_bytes as f64 / 1e6 / secs,
        emit_latency_ns: Percentiles {
            p50: hist.value_at_quantile(0.50),
            p95: hist.value_at_quantile(0.95),
            p99: hist.value_at_quantile(0.99),
            p999: hist.value_at_quantile(0.999),
            max: hist.max(),
            mean: hist.mean(),
        },
        disk_bytes_per_event: stats.disk_bytes as f64 / args.events.max(1) as f64,
        compression_ratio: stats.compression_ratio,
        group_commits: metrics.batches_processed,
        fsyncs: metrics.fsyncs,
        avg_group_commit_events: metrics.avg_batch_size,
        peak_rss_bytes: peak,
        idle_open_rss_bytes: idle_rss,
        baseline_write_mb_per_sec: baseline,
        baseline_ratio: baseline.map(|b| stored_mb_s / b),
    })
}

/// Runs `vexjournal probe-rss` on `dir` in a child process.
fn idle_rss(dir: &Path) -> Option<u64> {
    let exe = std::env::current_exe().ok()?;
    let out = std::process::Command::new(exe)
        .arg("--dir")
        .arg(dir)
        .arg("probe-rss")
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// `vexjournal probe-rss`: open, idle, print VmRSS in bytes.
pub fn probe_rss(cli: &Cli) -> Result<ExitCode> {
    let journal = cli.open_existing(&cli.dir)?;
    std::thread::sleep(Duration::from_millis(300));
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", crate::output::rss_bytes().unwrap_or(0))?;
    journal.close()?;
    Ok(ExitCode::SUCCESS)
}

/// Sequential write bandwidth of the disk under `dir`: `bytes` in 1 MiB writes, then
/// one fdatasync, as `dd bs=1M conv=fdatasync` does. MB/s.
fn raw_write_bandwidth(dir: &Path, bytes: u64) -> Result<f64> {
    let path = dir.join("baseline.bin");
    let chunk = vec![0x5Au8; 1 << 20];
    let started = Instant::now();
    let mut file = std::fs::File::create(&path)?;
    let mut written = 0u64;
    while written < bytes {
        file.write_all(&chunk)?;
        written += chunk.len() as u64;
    }
    file.sync_data()?;
    let secs = started.elapsed().max(Duration::from_nanos(1)).as_secs_f64();
    std::fs::remove_file(&path)?;
    Ok(written as f64 / 1e6 / secs)
}

fn print_table(out: &mut impl Write, r: &BenchReport) -> Result<()> {
    let l = &r.emit_latency_ns;
    let mut rows = vec![
        (
            "workload".to_string(),
            format!(
                "{} events, {}, payload {} B, {} producer(s), fsync {}, {}",
                r.events,
                match r.workload {
                    Kind::Fixed => "fixed",
                    Kind::Mixed => "mixed",
                },
                r.payload_bytes,
                r.producers,
                r.fsync,
                r.compression
            ),
        ),
        (
            "durable throughput".into(),
            format!(
                "{} events/s ({:.3} s)",
                human_count(r.durable_events_per_sec),
                r.durable_seconds
            ),
        ),
        (
            "accepted throughput".into(),
            format!(
                "{} events/s ({:.3} s)",
                human_count(r.accepted_events_per_sec),
                r.accept_seconds
            ),
        ),
        (
            "write bandwidth".into(),
            format!(
                "{:.1} MB/s stored, {:.1} MB/s of records",
                r.stored_mb_per_sec, r.raw_mb_per_sec
            ),
        ),
        (
            "emit latency".into(),
            format!(
                "p50 {}  p95 {}  p99 {}  p99.9 {}  max {}",
                human_ns(l.p50),
                human_ns(l.p95),
                human_ns(l.p99),
                human_ns(l.p999),
                human_ns(l.max)
            ),
        ),
        (
            "disk per event".into(),
            format!(
                "{:.1} B (compression {:.2}x)",
                r.disk_bytes_per_event, r.compression_ratio
            ),
        ),
        (
            "group commits".into(),
            format!(
                "{} ({} fsyncs, {:.0} events each)",
                r.group_commits, r.fsyncs, r.avg_group_commit_events
            ),
        ),
        (
            "memory".into(),
            format!(
                "peak RSS {}, idle open journal {}",
                r.peak_rss_bytes.map_or("-".into(), human_bytes),
                r.idle_open_rss_bytes.map_or("-".into(), human_bytes)
            ),
        ),
    ];
    if let (Some(b), Some(ratio)) = (r.baseline_write_mb_per_sec, r.baseline_ratio) {
        rows.push((
            "raw disk baseline".into(),
            format!("{b:.1} MB/s (journal at {:.0}% of it)", ratio * 100.0),
        ));
    }
    writeln!(out, "{}", kv_table(&rows))?;
    Ok(())
}
