//! Durable writes, side by side: vexfs-journal, SQLite (WAL, `synchronous=FULL`) and
//! raft-engine write the same events with the same number of events per sync.
//!
//! Run with `cargo bench -p vexfs-journal-benches --bench durable_write`. Settings
//! (environment variables):
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `BENCH_EVENTS` | 200000 | events per configuration |
//! | `BENCH_BATCHES` | `1,100,1000` | events per sync |
//! | `BENCH_MAX_SYNCS` | 5000 | caps events at batch × this (batch 1 → 5,000 events) |
//! | `BENCH_PAYLOAD` | `random` | `random` (fresh text-like bytes per event, barely compressible) or `x` (all `x`, as `vexjournal bench`) |
//! | `BENCH_PAYLOAD_BYTES` | 128 | payload size |
//! | `BENCH_RUNS` | 2 | runs per configuration; the best is kept |
//! | `BENCH_THREADS` | 16 | writer threads of the concurrent case (each event durable on its own); 0 skips it |
//! | `BENCH_THREAD_EVENTS` | 8000 | events of the concurrent case, shared by the threads |
//! | `BENCH_DIR` | the system temp dir | where the stores are created |
//! | `BENCH_OUT` | `<target>/bench-results/durable_write.json` | JSON results |
//!
//! Systems: `disk` is the device's own limit, a plain file appended with the same bytes
//! per sync and `fdatasync`ed (no format, no index), and `disk, preallocated` the same
//! into space `fallocate`d beforehand (no sync commits a new file size); `vexfs-journal` writes a batch with
//! `emit_batch_durable` (one atomic batch, as a raft-engine `LogBatch` or a SQLite
//! transaction) or a single event with `emit_durable`; `vexfs-journal emit+sync` emits
//! each event on its own and then calls `sync()`. The concurrent case runs
//! `BENCH_THREADS` threads, each making one event durable at a time (`emit_durable`, a
//! one-row transaction on its own SQLite connection, a one-entry `LogBatch` with sync
//! into its own raft-engine region).
//!
//! Every configuration gets a fresh store in its own temporary directory. Time runs
//! from the first write to the last durable acknowledgement; opening and closing the
//! stores is not timed. MB/s counts the same logical bytes for every system: the size
//! of each event's vexfs-journal record (the bytes vexfs-journal encodes before block
//! compression), which is also exactly what each raft-engine entry carries.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use hdrhistogram::Histogram;
use protobuf::well_known_types::BytesValue;
use serde_json::{Value, json};
use vexfs_journal::format::{RecordExt, encode_record};
use vexfs_journal::{Config, Event, FsOp, Journal};

/// The path every event carries (as `vexjournal bench`'s fixed workload).
const EVENT_PATH: &str = "/models/llama-3-8b/weights.safetensors";
/// The raft-engine region all entries go to.
const REGION: u64 = 1;
/// Events of the untimed warm-up of each system.
const WARMUP_EVENTS: u64 = 2_000;
/// Events per sync of the warm-up.
const WARMUP_BATCH: usize = 100;

const SYS_VEXFS: &str = "vexfs-journal";
const SYS_VEXFS_EACH: &str = "vexfs-journal emit+sync";
const SYS_DISK: &str = "disk";
const SYS_DISK_PREALLOC: &str = "disk, preallocated";
const SYS_SQLITE: &str = "sqlite";
const SYS_RAFT: &str = "raft-engine";

fn main() -> Result<()> {
    let settings = Settings::from_env()?;
    let machine = machine_facts(&settings.base_dir)?;
    eprintln!(
        "durable_write: {} events (capped at batch x {} syncs), batches {:?}, payload {} B {}, best of {}, stores under {} ({})",
        settings.events,
        settings.max_syncs,
        settings.batches,
        settings.payload_bytes,
        settings.payload.name(),
        settings.runs,
        settings.base_dir.display(),
        machine["filesystem"].as_str().unwrap_or("?")
    );

    // Warm-up: code paths, allocator, page cache and the disk's queue, untimed.
    for system in [SYS_VEXFS, SYS_SQLITE, SYS_RAFT] {
        run_system(system, &settings, WARMUP_EVENTS, WARMUP_BATCH)?;
    }

    let mut results: Vec<RunResult> = Vec::new();
    for &batch in &settings.batches {
        let events = settings.events_for(batch);
        for system in [
            SYS_DISK,
            SYS_DISK_PREALLOC,
            SYS_VEXFS,
            SYS_VEXFS_EACH,
            SYS_SQLITE,
            SYS_RAFT,
        ] {
            let mut best: Option<RunResult> = None;
            for _ in 0..settings.runs {
                let r = run_system(system, &settings, events, batch)?;
                eprintln!(
                    "  {:<14} batch {:>5}: {:>10.0} events/s",
                    system,
                    batch,
                    r.events_per_sec()
                );
                if best.as_ref().is_none_or(|b| r.secs < b.secs) {
                    best = Some(r);
                }
            }
            results.extend(best);
        }
    }
    if settings.threads > 0 {
        for system in [SYS_VEXFS, SYS_SQLITE, SYS_RAFT] {
            let mut best: Option<RunResult> = None;
            for _ in 0..settings.runs {
                let r = run_threads(system, &settings)?;
                eprintln!(
                    "  {:<14} {} threads: {:>10.0} events/s",
                    system,
                    settings.threads,
                    r.events_per_sec()
                );
                if best.as_ref().is_none_or(|b| r.secs < b.secs) {
                    best = Some(r);
                }
            }
            results.extend(best);
        }
    }
    let mut best_pipelined: Option<RunResult> = None;
    for _ in 0..settings.runs {
        let r = run_vexfs_pipelined(&settings, settings.events)?;
        eprintln!(
            "  {:<14} pipelined: {:>10.0} events/s",
            SYS_VEXFS,
            r.events_per_sec()
        );
        if best_pipelined.as_ref().is_none_or(|b| r.secs < b.secs) {
            best_pipelined = Some(r);
        }
    }
    results.extend(best_pipelined);

    let table = markdown_table(&results);
    println!();
    println!("{}", machine_line(&machine, &settings));
    println!();
    print!("{table}");

    let out = json!({
        "bench": "durable_write",
        "machine": machine,
        "settings": settings.to_json(),
        "sqlite_version": rusqlite::version(),
        "results": results.iter().map(|r| r.to_json(&results)).collect::<Vec<_>>(),
    });
    if let Some(dir) = settings.out_path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(
        &settings.out_path,
        serde_json::to_string_pretty(&out)? + "\n",
    )
    .with_context(|| format!("writing {}", settings.out_path.display()))?;
    println!();
    println!("JSON: {}", settings.out_path.display());
    Ok(())
}

// ---------------------------------------------------------------------------
// Settings

#[derive(Clone, Copy, Debug)]
enum PayloadKind {
    /// Per-event pseudo-random bytes from a 64-symbol alphabet: LZ4 gains little.
    Random,
    /// All `x`: as compressible as it gets (`vexjournal bench --workload fixed`).
    Repeated,
}

impl PayloadKind {
    fn name(self) -> &'static str {
        match self {
            PayloadKind::Random => "random",
            PayloadKind::Repeated => "x",
        }
    }
}

#[derive(Debug)]
struct Settings {
    events: u64,
    batches: Vec<usize>,
    max_syncs: u64,
    payload: PayloadKind,
    payload_bytes: usize,
    runs: usize,
    threads: usize,
    thread_events: u64,
    base_dir: PathBuf,
    out_path: PathBuf,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|e| anyhow!("{name}={v:?}: {e}")),
        _ => Ok(default),
    }
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let events: u64 = env_or("BENCH_EVENTS", 200_000)?;
        let batches_text: String = env_or("BENCH_BATCHES", "1,100,1000".to_string())?;
        let batches = batches_text
            .split(',')
            .map(|b| {
                b.trim()
                    .parse::<usize>()
                    .map_err(|e| anyhow!("BENCH_BATCHES item {b:?}: {e}"))
            })
            .collect::<Result<Vec<_>>>()?;
        ensure!(
            batches.iter().all(|&b| b > 0),
            "BENCH_BATCHES: batch sizes must be positive"
        );
        let max_syncs: u64 = env_or("BENCH_MAX_SYNCS", 5_000)?;
        let payload = match env_or("BENCH_PAYLOAD", "random".to_string())?.as_str() {
            "random" => PayloadKind::Random,
            "x" => PayloadKind::Repeated,
            other => bail!("BENCH_PAYLOAD={other:?}: expected `random` or `x`"),
        };
        let payload_bytes: usize = env_or("BENCH_PAYLOAD_BYTES", 128)?;
        let runs: usize = env_or("BENCH_RUNS", 2)?;
        let threads: usize = env_or("BENCH_THREADS", 16)?;
        let thread_events: u64 = env_or("BENCH_THREAD_EVENTS", 8_000)?;
        ensure!(
            events > 0 && max_syncs > 0 && runs > 0,
            "counts must be positive"
        );
        let base_dir = match std::env::var_os("BENCH_DIR") {
            Some(d) if !d.is_empty() => PathBuf::from(d),
            _ => std::env::temp_dir(),
        };
        let base_dir = base_dir
            .canonicalize()
            .with_context(|| format!("stores directory {}", base_dir.display()))?;
        let out_path = match std::env::var_os("BENCH_OUT") {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            _ => target_dir()?
                .join("bench-results")
                .join("durable_write.json"),
        };
        Ok(Settings {
            events,
            batches,
            max_syncs,
            payload,
            payload_bytes,
            runs,
            threads,
            thread_events,
            base_dir,
            out_path,
        })
    }

    /// Events of a configuration with `batch` events per sync.
    fn events_for(&self, batch: usize) -> u64 {
        self.events.min(batch as u64 * self.max_syncs)
    }

    fn to_json(&self) -> Value {
        json!({
            "events": self.events,
            "batches": self.batches,
            "max_syncs": self.max_syncs,
            "payload": self.payload.name(),
            "payload_bytes": self.payload_bytes,
            "runs": self.runs,
            "threads": self.threads,
            "thread_events": self.thread_events,
            "warmup_events": WARMUP_EVENTS,
            "stores_dir": self.base_dir.display().to_string(),
        })
    }

    fn tempdir(&self, system: &str) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix(&format!("durable-write-{system}-"))
            .tempdir_in(&self.base_dir)
            .with_context(|| format!("temporary directory in {}", self.base_dir.display()))
    }
}

/// Cargo's target directory: the bench binary lives in `<target>/<profile>/deps/`.
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the bench binary")?;
    if let Some(deps) = exe
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "deps"))
        && let Some(target) = deps.parent().and_then(Path::parent)
    {
        return Ok(target.to_path_buf());
    }
    Ok(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

// ---------------------------------------------------------------------------
// The events

/// Generates the same event stream for every system: `fixed_event`'s shape
/// (`filesystem.write`, a path, an inode) with a payload of fixed size.
struct EventGen {
    rng: u64,
    payload: PayloadKind,
    payload_bytes: usize,
}

impl EventGen {
    fn new(settings: &Settings) -> EventGen {
        EventGen {
            rng: 0x9E37_79B9_7F4A_7C15,
            payload: settings.payload,
            payload_bytes: settings.payload_bytes,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn payload(&mut self) -> Vec<u8> {
        const ALPHABET: &[u8; 64] =
            b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_";
        match self.payload {
            PayloadKind::Repeated => vec![b'x'; self.payload_bytes],
            PayloadKind::Random => {
                let mut out = Vec::with_capacity(self.payload_bytes);
                while out.len() < self.payload_bytes {
                    let mut r = self.next_u64();
                    for _ in 0..10 {
                        if out.len() == self.payload_bytes {
                            break;
                        }
                        out.push(ALPHABET[(r & 63) as usize]);
                        r >>= 6;
                    }
                }
                out
            }
        }
    }

    /// Event number `i` (0-based), stamped with the current wall-clock time.
    fn event(&mut self, i: u64) -> Event {
        let mut ev = Event::filesystem(FsOp::Write)
            .path(EVENT_PATH)
            .inode(1000 + i)
            .payload(self.payload());
        ev.timestamp.ktime_ns = now_ns();
        ev
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// The vexfs-journal record of `ev`, appended to `out`.
fn encode(ev: &Event, out: &mut Vec<u8>) -> Result<usize> {
    encode_record(ev, &RecordExt::default(), out).map_err(|e| anyhow!("encoding an event: {e}"))
}

/// Sum of the record sizes of the first `events` events (untimed).
fn logical_bytes(settings: &Settings, events: u64) -> Result<u64> {
    let mut generator = EventGen::new(settings);
    let mut buf = Vec::with_capacity(512);
    let mut total = 0u64;
    for i in 0..events {
        buf.clear();
        total += encode(&generator.event(i), &mut buf)? as u64;
    }
    Ok(total)
}

// ---------------------------------------------------------------------------
// Results

#[derive(Debug)]
struct RunResult {
    system: &'static str,
    /// `None`: vexfs-journal's pipelined mode (its own group commit).
    batch: Option<usize>,
    /// The concurrent case: this many threads, each waiting for its own events.
    threads: Option<usize>,
    events: u64,
    /// Durable acknowledgements waited for (pipelined: fsyncs the journal made).
    syncs: u64,
    secs: f64,
    logical_bytes: u64,
    disk_bytes: u64,
    /// Per-batch latency (first write to durable ack), µs.
    p50_us: Option<f64>,
    p99_us: Option<f64>,
    max_us: Option<f64>,
    /// vexfs-journal only: uncompressed ÷ stored block bytes.
    compression_ratio: Option<f64>,
}

impl RunResult {
    fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.secs
    }

    fn mb_per_sec(&self) -> f64 {
        self.logical_bytes as f64 / 1e6 / self.secs
    }

    fn mode(&self) -> String {
        match (self.threads, self.batch) {
            (Some(t), _) => format!("{t} threads, durable each"),
            (None, Some(_)) => "sync per batch".to_string(),
            (None, None) => "pipelined".to_string(),
        }
    }

    /// vexfs-journal's events/s in the same configuration divided by this one's.
    fn vexfs_ratio(&self, all: &[RunResult]) -> Option<f64> {
        let batch = self.batch?;
        let vexfs = all.iter().find(|r| {
            r.system == SYS_VEXFS && r.batch == Some(batch) && r.threads == self.threads
        })?;
        Some(vexfs.events_per_sec() / self.events_per_sec())
    }

    fn to_json(&self, all: &[RunResult]) -> Value {
        json!({
            "system": self.system,
            "mode": self.mode(),
            "batch": self.batch,
            "threads": self.threads,
            "events": self.events,
            "syncs": self.syncs,
            "seconds": self.secs,
            "events_per_sec": self.events_per_sec(),
            "mb_per_sec": self.mb_per_sec(),
            "logical_bytes": self.logical_bytes,
            "disk_bytes": self.disk_bytes,
            "batch_latency_us": {"p50": self.p50_us, "p99": self.p99_us, "max": self.max_us},
            "vexfs_journal_ratio": self.vexfs_ratio(all),
            "compression_ratio": self.compression_ratio,
        })
    }
}

/// Per-batch latencies, in ns.
struct Latencies(Histogram<u64>);

impl Latencies {
    fn new() -> Result<Latencies> {
        Ok(Latencies(Histogram::new_with_bounds(
            1_000,
            600_000_000_000,
            3,
        )?))
    }

    fn record(&mut self, since: Instant) {
        let ns = u64::try_from(since.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.0.saturating_record(ns);
    }

    fn us(&self, quantile: f64) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.value_at_quantile(quantile) as f64 / 1e3)
    }
}

fn finish(
    system: &'static str,
    batch: Option<usize>,
    events: u64,
    syncs: u64,
    secs: f64,
    dir: &Path,
    latencies: Option<&Latencies>,
) -> Result<RunResult> {
    Ok(RunResult {
        system,
        batch,
        threads: None,
        events,
        syncs,
        secs,
        logical_bytes: 0,
        disk_bytes: dir_bytes(dir)?,
        p50_us: latencies.and_then(|l| l.us(0.5)),
        p99_us: latencies.and_then(|l| l.us(0.99)),
        max_us: latencies.and_then(|l| l.us(1.0)),
        compression_ratio: None,
    })
}

/// Total size of the files under `dir`.
fn dir_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

// ---------------------------------------------------------------------------
// The systems

fn run_system(system: &str, settings: &Settings, events: u64, batch: usize) -> Result<RunResult> {
    let mut r = match system {
        SYS_DISK => run_disk(settings, events, batch, false)?,
        SYS_DISK_PREALLOC => run_disk(settings, events, batch, true)?,
        SYS_VEXFS => run_vexfs(settings, events, batch, false)?,
        SYS_VEXFS_EACH => run_vexfs(settings, events, batch, true)?,
        SYS_SQLITE => run_sqlite(settings, events, batch)?,
        SYS_RAFT => run_raft(settings, events, batch)?,
        other => bail!("unknown system {other}"),
    };
    r.logical_bytes = logical_bytes(settings, events)?;
    Ok(r)
}

/// The device's own limit: the same record bytes per sync written to a plain file,
/// then `fdatasync` — what any log on this file system pays at least. `preallocated`:
/// into space allocated beforehand (`fallocate`, untimed), so no sync has to commit a
/// new file size; otherwise appended.
fn run_disk(
    settings: &Settings,
    events: u64,
    batch: usize,
    preallocated: bool,
) -> Result<RunResult> {
    use std::os::unix::fs::FileExt as _;
    let dir = settings.tempdir("disk")?;
    let path = dir.path().join("raw.log");
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    let mut generator = EventGen::new(settings);
    if preallocated {
        let mut sample = Vec::new();
        encode(&generator.event(0), &mut sample)?;
        let bytes = (sample.len() as u64 + 64) * events + (1 << 20);
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, bytes)
            .context("fallocate")?;
        file.sync_all()?;
    }
    let mut latencies = Latencies::new()?;
    let mut syncs = 0;
    let mut buf = Vec::with_capacity(batch * 512);
    let mut at = 0u64;

    let start = Instant::now();
    let mut i = 0;
    while i < events {
        let batch_start = Instant::now();
        let end = events.min(i + batch as u64);
        buf.clear();
        while i < end {
            encode(&generator.event(i), &mut buf)?;
            i += 1;
        }
        file.write_all_at(&buf, at)?;
        at += buf.len() as u64;
        file.sync_data()?;
        latencies.record(batch_start);
        syncs += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    finish(
        if preallocated {
            SYS_DISK_PREALLOC
        } else {
            SYS_DISK
        },
        Some(batch),
        events,
        syncs,
        secs,
        dir.path(),
        Some(&latencies),
    )
}

/// vexfs-journal, default configuration (LZ4, fsync every group commit). `each`:
/// `batch` emits, then `sync()`; otherwise one `emit_durable` (batch 1) or one atomic
/// `emit_batch_durable` per batch.
fn run_vexfs(settings: &Settings, events: u64, batch: usize, each: bool) -> Result<RunResult> {
    let dir = settings.tempdir("vexfs")?;
    let journal = Journal::create(dir.path().join("journal"), Config::default())?;
    let mut generator = EventGen::new(settings);
    let mut latencies = Latencies::new()?;
    let mut syncs = 0;

    let start = Instant::now();
    let mut i = 0;
    while i < events {
        let batch_start = Instant::now();
        let end = events.min(i + batch as u64);
        if each {
            while i < end {
                journal.emit(generator.event(i))?;
                i += 1;
            }
            journal.sync()?;
        } else if end == i + 1 {
            journal.emit_durable(generator.event(i))?;
            i += 1;
        } else {
            let mut evs = Vec::with_capacity(batch);
            while i < end {
                evs.push(generator.event(i));
                i += 1;
            }
            journal.emit_batch_durable(evs)?;
        }
        latencies.record(batch_start);
        syncs += 1;
    }
    let secs = start.elapsed().as_secs_f64();

    ensure!(
        journal.durable_seq() >= events,
        "vexfs-journal: durable_seq {} after {events} events",
        journal.durable_seq()
    );
    let mut r = finish(
        if each { SYS_VEXFS_EACH } else { SYS_VEXFS },
        Some(batch),
        events,
        syncs,
        secs,
        dir.path(),
        Some(&latencies),
    )?;
    r.compression_ratio = Some(journal.stats().compression_ratio);
    journal.close()?;
    Ok(r)
}

/// The concurrent case: `settings.threads` threads, each making one event durable at
/// a time, `settings.thread_events` events in all.
fn run_threads(system: &'static str, settings: &Settings) -> Result<RunResult> {
    let threads = settings.threads;
    let per_thread = (settings.thread_events / threads as u64).max(1);
    let events = per_thread * threads as u64;
    let dir = settings.tempdir(system)?;
    // Each system's writer, shared by the threads (SQLite: one connection each).
    enum Store {
        Vexfs(Journal),
        Sqlite(PathBuf),
        Raft(Box<raft_engine::Engine>),
    }
    let store = match system {
        SYS_VEXFS => Store::Vexfs(Journal::create(
            dir.path().join("journal"),
            Config::default(),
        )?),
        SYS_SQLITE => {
            let path = dir.path().join("events.db");
            let conn = sqlite_open(&path)?;
            conn.execute_batch(SQLITE_SCHEMA)?;
            Store::Sqlite(path)
        }
        SYS_RAFT => Store::Raft(Box::new(raft_engine::Engine::open(raft_config(
            dir.path(),
        )?)?)),
        other => bail!("unknown system {other}"),
    };
    let latencies = std::sync::Mutex::new(Latencies::new()?);
    let start = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let mut handles = Vec::new();
        for t in 0..threads {
            let (store, latencies) = (&store, &latencies);
            handles.push(scope.spawn(move || -> Result<()> {
                let mut generator = EventGen::new(settings);
                generator.rng ^= (t as u64 + 1).wrapping_mul(0x9E37_79B9);
                let mut mine = Latencies::new()?;
                let first = t as u64 * per_thread;
                let sqlite = match store {
                    Store::Sqlite(path) => Some(sqlite_open(path)?),
                    _ => None,
                };
                let mut log_batch = raft_engine::LogBatch::default();
                for i in first..first + per_thread {
                    let began = Instant::now();
                    let ev = generator.event(i);
                    match store {
                        Store::Vexfs(j) => {
                            j.emit_durable(ev)?;
                        }
                        Store::Sqlite(_) => {
                            if let Some(conn) = &sqlite {
                                sqlite_insert(conn, i, &ev)?;
                            }
                        }
                        Store::Raft(engine) => {
                            let mut value = Vec::with_capacity(8 + 256);
                            value.extend_from_slice(&(i + 1).to_le_bytes());
                            encode(&ev, &mut value)?;
                            let mut entry = BytesValue::new();
                            entry.set_value(value);
                            log_batch.add_entries::<RaftEntry>(t as u64 + 1, &[entry])?;
                            engine.write(&mut log_batch, true)?;
                        }
                    }
                    mine.record(began);
                }
                latencies
                    .lock()
                    .map_err(|_| anyhow!("latency lock poisoned"))?
                    .0
                    .add(&mine.0)?;
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow!("a writer thread panicked"))??;
        }
        Ok(())
    })?;
    let secs = start.elapsed().as_secs_f64();
    let latencies = latencies
        .into_inner()
        .map_err(|_| anyhow!("latency lock poisoned"))?;
    let mut r = finish(
        system,
        Some(1),
        events,
        events,
        secs,
        dir.path(),
        Some(&latencies),
    )?;
    r.threads = Some(threads);
    r.logical_bytes = logical_bytes(settings, events)?;
    if let Store::Vexfs(j) = store {
        ensure!(
            j.durable_seq() >= events,
            "vexfs-journal: durable_seq {} after {events} events",
            j.durable_seq()
        );
        r.compression_ratio = Some(j.stats().compression_ratio);
        j.close()?;
    }
    Ok(r)
}

/// vexfs-journal's own group commit: emit everything, then one `sync()`.
fn run_vexfs_pipelined(settings: &Settings, events: u64) -> Result<RunResult> {
    let dir = settings.tempdir("vexfs")?;
    let journal = Journal::create(dir.path().join("journal"), Config::default())?;
    let mut generator = EventGen::new(settings);

    let start = Instant::now();
    for i in 0..events {
        journal.emit(generator.event(i))?;
    }
    journal.sync()?;
    let secs = start.elapsed().as_secs_f64();

    ensure!(
        journal.durable_seq() >= events,
        "vexfs-journal: durable_seq {} after {events} events",
        journal.durable_seq()
    );
    let fsyncs = journal.metrics().fsyncs;
    let mut r = finish(SYS_VEXFS, None, events, fsyncs, secs, dir.path(), None)?;
    r.logical_bytes = logical_bytes(settings, events)?;
    r.compression_ratio = Some(journal.stats().compression_ratio);
    journal.close()?;
    Ok(r)
}

const SQLITE_SCHEMA: &str = "
    CREATE TABLE events(
        seq INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        type INTEGER NOT NULL,
        path TEXT,
        inode INTEGER,
        agent TEXT,
        tx INTEGER,
        payload BLOB
    );
    CREATE INDEX events_time ON events(time);
    CREATE INDEX events_type ON events(type);
    CREATE INDEX events_path ON events(path);
    CREATE INDEX events_agent ON events(agent);
    CREATE INDEX events_tx ON events(tx);
";

const SQLITE_INSERT: &str = "INSERT INTO events(seq, time, type, path, inode, agent, tx, payload)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// A text column from a byte-string field; empty is NULL.
fn text(field: &[u8]) -> Result<Option<&str>> {
    if field.is_empty() {
        return Ok(None);
    }
    Ok(Some(std::str::from_utf8(field).context("non-UTF-8 text")?))
}

/// SQLite in WAL mode with `synchronous=FULL` (the WAL is fsynced at every commit):
/// one transaction of `batch` inserts per sync, through a prepared statement.
fn run_sqlite(settings: &Settings, events: u64, batch: usize) -> Result<RunResult> {
    let dir = settings.tempdir("sqlite")?;
    let mut conn = sqlite_open(&dir.path().join("events.db"))?;
    conn.execute_batch(SQLITE_SCHEMA)?;
    let mut generator = EventGen::new(settings);
    let mut latencies = Latencies::new()?;
    let mut syncs = 0;

    let start = Instant::now();
    let mut i = 0;
    while i < events {
        let batch_start = Instant::now();
        let end = events.min(i + batch as u64);
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(SQLITE_INSERT)?;
            while i < end {
                insert.execute(sqlite_row(i, &generator.event(i))?)?;
                i += 1;
            }
        }
        tx.commit()?;
        latencies.record(batch_start);
        syncs += 1;
    }
    let secs = start.elapsed().as_secs_f64();

    let stored: i64 = conn.query_row("SELECT count(*) FROM events", [], |row| row.get(0))?;
    ensure!(
        u64::try_from(stored)? == events,
        "sqlite: {stored} rows after {events} events"
    );
    let r = finish(
        SYS_SQLITE,
        Some(batch),
        events,
        syncs,
        secs,
        dir.path(),
        Some(&latencies),
    )?;
    conn.close().map_err(|(_, e)| e)?;
    Ok(r)
}

/// A connection in WAL mode with `synchronous=FULL` (checked), waiting up to 60 s for
/// the write lock (the concurrent case).
fn sqlite_open(path: &Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(std::time::Duration::from_secs(60))?;
    let mode: String =
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))?;
    ensure!(
        mode.eq_ignore_ascii_case("wal"),
        "sqlite: journal_mode {mode}"
    );
    conn.pragma_update(None, "synchronous", "FULL")?;
    let sync: i64 = conn.pragma_query_value(None, "synchronous", |row| row.get(0))?;
    ensure!(sync == 2, "sqlite: synchronous is {sync}, not FULL (2)");
    Ok(conn)
}

/// The row of event number `i`.
fn sqlite_row(i: u64, ev: &Event) -> Result<impl rusqlite::Params + '_> {
    let ctx = &ev.context;
    Ok((
        i64::try_from(i)?,
        ev.timestamp.ktime_ns,
        ev.event_type.code(),
        text(&ctx.path)?,
        i64::try_from(ctx.inode_number)?,
        text(&ctx.agent_id)?,
        i64::try_from(ctx.transaction_id)?,
        &ev.payload,
    ))
}

/// One row in its own (durable) transaction.
fn sqlite_insert(conn: &rusqlite::Connection, i: u64, ev: &Event) -> Result<()> {
    let mut insert = conn.prepare_cached(SQLITE_INSERT)?;
    insert.execute(sqlite_row(i, ev)?)?;
    Ok(())
}

/// raft-engine's default configuration with its files under `dir`.
fn raft_config(dir: &Path) -> Result<raft_engine::Config> {
    Ok(raft_engine::Config {
        dir: dir
            .join("raft")
            .to_str()
            .context("non-UTF-8 temporary path")?
            .to_string(),
        ..Default::default()
    })
}

/// raft-engine entries: a protobuf `BytesValue` holding the 8-byte little-endian
/// entry index followed by the event's vexfs-journal record.
struct RaftEntry;

impl raft_engine::MessageExt for RaftEntry {
    type Entry = BytesValue;

    fn index(e: &BytesValue) -> u64 {
        e.value
            .first_chunk::<8>()
            .map_or(0, |b| u64::from_le_bytes(*b))
    }
}

/// raft-engine, default configuration (LZ4 for batches over 8 KiB), one region: a
/// `LogBatch` of `batch` entries per `write(.., sync = true)`, which fdatasyncs.
fn run_raft(settings: &Settings, events: u64, batch: usize) -> Result<RunResult> {
    let dir = settings.tempdir("raft")?;
    let engine = raft_engine::Engine::open(raft_config(dir.path())?)?;
    let mut generator = EventGen::new(settings);
    let mut latencies = Latencies::new()?;
    let mut syncs = 0;
    let mut entries: Vec<BytesValue> = Vec::with_capacity(batch);
    let mut log_batch = raft_engine::LogBatch::default();

    let start = Instant::now();
    let mut i = 0;
    while i < events {
        let batch_start = Instant::now();
        let end = events.min(i + batch as u64);
        entries.clear();
        while i < end {
            let index = i + 1;
            let mut value = Vec::with_capacity(8 + 256);
            value.extend_from_slice(&index.to_le_bytes());
            encode(&generator.event(i), &mut value)?;
            let mut entry = BytesValue::new();
            entry.set_value(value);
            entries.push(entry);
            i += 1;
        }
        log_batch.add_entries::<RaftEntry>(REGION, &entries)?;
        engine.write(&mut log_batch, true)?;
        latencies.record(batch_start);
        syncs += 1;
    }
    let secs = start.elapsed().as_secs_f64();

    ensure!(
        engine.last_index(REGION) == Some(events),
        "raft-engine: last index {:?} after {events} events",
        engine.last_index(REGION)
    );
    let r = finish(
        SYS_RAFT,
        Some(batch),
        events,
        syncs,
        secs,
        dir.path(),
        Some(&latencies),
    )?;
    drop(engine);
    Ok(r)
}

// ---------------------------------------------------------------------------
// Machine facts and the table

fn machine_facts(base_dir: &Path) -> Result<Value> {
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    // The mount holding the stores: the longest mount point that prefixes the path.
    let mounts = fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let (device, mount_point, fs_type) = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?, f.next()?, f.next()?))
        })
        .filter(|(_, mp, _)| base_dir.starts_with(mp))
        .max_by_key(|(_, mp, _)| mp.len())
        .map_or(("unknown", "unknown", "unknown"), |m| m);
    let cwd = std::env::current_dir()?;
    let same_disk_as_cwd = fs::metadata(base_dir)?.dev() == fs::metadata(&cwd)?.dev();
    Ok(json!({
        "cpu": cpu_model,
        "cpus": cpus,
        "kernel": kernel,
        "stores_dir": base_dir.display().to_string(),
        "filesystem": format!("{fs_type} on {device} mounted at {mount_point}"),
        "same_filesystem_as_cwd": same_disk_as_cwd,
    }))
}

fn machine_line(machine: &Value, settings: &Settings) -> String {
    format!(
        "Machine: {} x {}, Linux {}; stores in {} ({}; same filesystem as the working directory: {}). Payload {} B ({}), best of {}.",
        machine["cpus"],
        machine["cpu"].as_str().unwrap_or("?"),
        machine["kernel"].as_str().unwrap_or("?"),
        settings.base_dir.display(),
        machine["filesystem"].as_str().unwrap_or("?"),
        machine["same_filesystem_as_cwd"],
        settings.payload_bytes,
        settings.payload.name(),
        settings.runs,
    )
}

fn opt_us(v: Option<f64>) -> String {
    v.map_or_else(|| "—".to_string(), |v| format!("{v:.0}"))
}

fn markdown_table(results: &[RunResult]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| system | mode | events/sync | events | syncs | seconds | events/s | MB/s | batch p50 µs | batch p99 µs | on disk MB | vexfs-journal ÷ this |"
    );
    let _ = writeln!(
        s,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for r in results {
        let ratio = r
            .vexfs_ratio(results)
            .map_or_else(|| "—".to_string(), |x| format!("{x:.2}×"));
        let batch = r
            .batch
            .map_or_else(|| "group commit".to_string(), |b| b.to_string());
        let mode = r.mode();
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.3} | {:.0} | {:.1} | {} | {} | {:.1} | {} |",
            r.system,
            mode,
            batch,
            r.events,
            r.syncs,
            r.secs,
            r.events_per_sec(),
            r.mb_per_sec(),
            opt_us(r.p50_us),
            opt_us(r.p99_us),
            r.disk_bytes as f64 / 1e6,
            ratio,
        );
    }
    // The pipelined journal against the others' best per-batch throughput.
    if let Some(p) = results.iter().find(|r| r.batch.is_none()) {
        for other in [SYS_SQLITE, SYS_RAFT] {
            if let Some(best) = results
                .iter()
                .filter(|r| r.system == other)
                .max_by(|a, b| a.events_per_sec().total_cmp(&b.events_per_sec()))
            {
                let _ = writeln!(
                    s,
                    "\nvexfs-journal pipelined ÷ {other} at its best batch ({}): {:.2}×",
                    best.batch.unwrap_or(0),
                    p.events_per_sec() / best.events_per_sec()
                );
            }
        }
    }
    s
}
