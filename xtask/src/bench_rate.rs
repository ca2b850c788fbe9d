//! `cargo xtask bench-rate [--events N] [--runs N] [--work-dir DIR]`: event rates
//! (`GET /stats/rate`'s facade call, by category, 1-minute buckets, the whole range)
//! against DuckDB's `GROUP BY` on the same rows, in the same run.
//!
//! Builds a journal of N events (default 10 000 000) with the release `vexjournal
//! emit`: a skewed mix of every known type and of 64 agents (some events without
//! one), times spread over three hours with jitter. The same rows (time, category,
//! type, agent) go to a CSV file that DuckDB loads into an in-memory table; only its
//! `GROUP BY` query is timed. The rate is timed inside one `vexjournal stats --by`
//! process: the first call (which loads the sealed segments' counts from their index
//! files; the page cache is warm, the journal was just written) and the median of the
//! others. Both answers are compared bucket by bucket. The journal and the CSV are
//! deleted afterwards.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use vexfs_journal_format::EventType;

use crate::mounts::{Build, build_vexjournal};

const MINUTE_NS: i64 = 60_000_000_000;
/// Start of the generated times: a whole minute (2025-11-24T16:00:00Z).
const T0: i64 = 1_764_000_000_000_000_000;
/// The generated times span three hours.
const SPAN_NS: i64 = 3 * 60 * MINUTE_NS;

/// DuckDB: load the CSV, then time the `GROUP BY` `runs` times; prints JSON.
const DUCKDB_SCRIPT: &str = r#"
import json, sys, time
import duckdb
csv, since, until, step, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t = time.perf_counter()
con.execute(f"""CREATE TABLE ev AS SELECT * FROM read_csv('{csv}', header = true,
    columns = {{'time': 'BIGINT', 'category': 'VARCHAR', 'type': 'VARCHAR', 'agent': 'VARCHAR'}})""")
load_s = time.perf_counter() - t
q = f"""SELECT (time - {since}) // {step} AS bucket, category, count(*) AS n FROM ev
    WHERE time >= {since} AND time < {until} GROUP BY ALL"""
ms = []
rows = []
for _ in range(runs):
    t = time.perf_counter()
    rows = con.execute(q).fetchall()
    ms.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"version": duckdb.__version__, "load_s": load_s, "runs_ms": ms,
                  "threads": con.execute("SELECT current_setting('threads')").fetchone()[0],
                  "rows": [[int(b), c, int(n)] for b, c, n in rows]}))
"#;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// An index below `n`, skewed towards 0 (a few keys take most events).
    fn skewed(&mut self, n: usize) -> usize {
        let x = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        ((x * x * x) * n as f64) as usize % n
    }
}

fn ensure_duckdb() -> Result<()> {
    let ok = Command::new("python3")
        .args(["-c", "import duckdb"])
        .status()
        .context("running python3")?
        .success();
    if ok {
        return Ok(());
    }
    eprintln!("$ python3 -m pip install duckdb");
    let status = Command::new("python3")
        .args(["-m", "pip", "install", "--quiet", "duckdb"])
        .status()
        .context("running pip")?;
    if !status.success() {
        bail!("pip install duckdb failed with {status}");
    }
    Ok(())
}

/// Writes the journal (through `vexjournal emit`) and the CSV of the same rows.
fn generate(vj: &Path, dir: &Path, csv: &Path, events: u64) -> Result<()> {
    let run = |args: &[&str]| -> Result<()> {
        let status = Command::new(vj)
            .arg("--dir")
            .arg(dir)
            .args(args)
            .stdout(Stdio::null())
            .status()
            .with_context(|| format!("running vexjournal {args:?}"))?;
        if !status.success() {
            bail!("vexjournal {args:?} failed with {status}");
        }
        Ok(())
    };
    run(&["init", "--fsync", "never"])?;
    let mut child = Command::new(vj)
        .arg("--dir")
        .arg(dir)
        .arg("emit")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .context("starting vexjournal emit")?;
    let stdin = child.stdin.take().context("emit's stdin")?;
    let mut ndjson = BufWriter::with_capacity(1 << 20, stdin);
    let mut rows = BufWriter::with_capacity(1 << 20, std::fs::File::create(csv)?);
    writeln!(rows, "time,category,type,agent")?;
    let types: Vec<String> = EventType::all().map(|t| t.to_string()).collect();
    let agents: Vec<String> = (0..64).map(|i| format!("agent-{i}")).collect();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let per = SPAN_NS / i64::try_from(events.max(1)).unwrap_or(i64::MAX);
    for i in 0..events {
        let ty = &types[rng.skewed(types.len())];
        let category = ty.split('.').next().unwrap_or_default();
        // A quarter of the events have no agent.
        let agent = if rng.next().is_multiple_of(4) {
            ""
        } else {
            &agents[rng.skewed(agents.len())]
        };
        // Producer clocks jitter by up to ±200 ms around the arrival order.
        let jitter = (rng.next() % 400_000_000) as i64 - 200_000_000;
        let time = (T0 + i as i64 * per + jitter).max(T0);
        writeln!(
            ndjson,
            r#"{{"type":"{ty}","time":{time},"agent":"{agent}","path":"/data/{}/{}"}}"#,
            i % 97,
            i % 1009
        )?;
        writeln!(rows, "{time},{category},{ty},{agent}")?;
    }
    rows.flush()?;
    drop(ndjson.into_inner().map_err(|e| e.into_error())?);
    let status = child.wait()?;
    if !status.success() {
        bail!("vexjournal emit failed with {status}");
    }
    Ok(())
}

pub(crate) fn bench_rate(root: &Path, args: &[String]) -> Result<()> {
    let mut events: u64 = 10_000_000;
    let mut runs: usize = 11;
    let mut work_dir: Option<String> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--events" => events = it.next().context("--events N")?.parse()?,
            "--runs" => runs = it.next().context("--runs N")?.parse()?,
            "--work-dir" => work_dir = Some(it.next().context("--work-dir DIR")?.clone()),
            other => bail!("unknown argument {other:?}: use --events N, --runs N, --work-dir DIR"),
        }
    }
    if runs < 2 {
        bail!("--runs must be at least 2 (the first run is reported apart)");
    }
    ensure_duckdb()?;
    let vj = build_vexjournal(root, Build::Release)?;
    let tmp = match &work_dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let dir = tmp.path().join("journal");
    let csv = tmp.path().join("rows.csv");

    eprintln!("generating {events} events in {}", dir.display());
    let started = Instant::now();
    generate(&vj, &dir, &csv, events)?;
    let ingest_s = started.elapsed().as_secs_f64();
    let journal_bytes: u64 = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();

    // The whole range, in whole seconds (`@SECONDS`), by minute.
    let since = T0;
    let until = T0 + SPAN_NS + MINUTE_NS;
    let since_arg = format!("@{}", since / 1_000_000_000);
    let until_arg = format!("@{}", until / 1_000_000_000);

    // The facade, in one process: the first call, then the others.
    let out = Command::new(&vj)
        .arg("--dir")
        .arg(&dir)
        .args(["stats", "--by", "category", "--step", "1m", "--since"])
        .arg(&since_arg)
        .arg("--until")
        .arg(&until_arg)
        .args(["-o", "json", "--repeat", &runs.to_string()])
        .output()
        .context("running vexjournal stats --by")?;
    if !out.status.success() {
        bail!(
            "vexjournal stats --by failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let rate: Value = serde_json::from_slice(&out.stdout)?;
    let timing: Value = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("no timing line from vexjournal stats --repeat")?;
    let ours_first = timing["first_ms"].as_f64().unwrap_or(f64::NAN);
    let ours: Vec<f64> = timing["rate_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();

    // DuckDB on the same rows.
    let out = Command::new("python3")
        .args(["-c", DUCKDB_SCRIPT])
        .arg(&csv)
        .arg(since.to_string())
        .arg(until.to_string())
        .arg(MINUTE_NS.to_string())
        .arg(runs.to_string())
        .output()
        .context("running python3 with duckdb")?;
    if !out.status.success() {
        bail!("duckdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    // The answer is the last line (anything DuckDB prints comes before it).
    let duck: Value = String::from_utf8_lossy(&out.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .context("no JSON answer from the DuckDB script")?;
    let duck_ms: Vec<f64> = duck["runs_ms"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();

    // Same answer, bucket by bucket.
    let mut theirs = std::collections::BTreeMap::new();
    for row in duck["rows"].as_array().into_iter().flatten() {
        let (b, c, n) = (row[0].as_i64(), row[1].as_str(), row[2].as_u64());
        if let (Some(b), Some(c), Some(n)) = (b, c, n) {
            theirs.insert((b, c.to_string()), n);
        }
    }
    let mut mine = std::collections::BTreeMap::new();
    for (k, bucket) in rate["buckets"].as_array().into_iter().flatten().enumerate() {
        for (c, n) in bucket["counts"].as_object().into_iter().flatten() {
            mine.insert((k as i64, c.clone()), n.as_u64().unwrap_or(0));
        }
    }
    let total: u64 = mine.values().sum();
    if mine != theirs {
        bail!("the rate and DuckDB disagree ({total} events counted by the rate)");
    }
    if total != events {
        bail!("the rate counted {total} events, {events} were written");
    }

    let (ours_med, duck_med) = (median(&ours), median(&duck_ms));
    let duck_first = duck_ms.first().copied().unwrap_or(f64::NAN);
    println!("bench-rate: {events} events, by category, 1-minute buckets over 3 h (181 buckets)");
    println!(
        "  journal: {:.1} MiB, ingested in {ingest_s:.1} s; blocks: {} from the counts, {} read",
        journal_bytes as f64 / (1 << 20) as f64,
        rate["blocks_summarised"],
        rate["blocks_read"]
    );
    println!(
        "  rate (facade):  first {ours_first:.2} ms, median of {} warm {ours_med:.2} ms",
        ours.len()
    );
    println!(
        "  DuckDB {} ({} threads): first {duck_first:.2} ms, median of {runs} {duck_med:.2} ms (table load {:.1} s, not counted)",
        duck["version"].as_str().unwrap_or("?"),
        duck["threads"],
        duck["load_s"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "  ratio DuckDB / rate (medians): {:.1}x; goal <= 50 ms: {}",
        duck_med / ours_med,
        if ours_med <= 50.0 { "met" } else { "MISSED" }
    );
    println!("  answers equal bucket by bucket ({total} events)");
    Ok(())
}
