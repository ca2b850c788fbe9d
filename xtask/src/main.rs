//! `cargo xtask <command>`: project chores.
//!
//! - `fixtures` — regenerate the golden files in `fixtures/`;
//! - `ci` — the whole CI run: system packages, fmt, clippy, tests;
//! - `torture [--rounds N]` — the crash torture tests in release, N rounds each;
//! - `fuzz [--seconds N] [--target NAME]` — coverage-guided fuzzing of every decoder;
//! - `fuse-posix [--long] [--release]` — pjdfstest and fsx on a `vexjournal mount`
//!   and on bindfs, same run;
//! - `bench-fuse [--quick]` — the FUSE mirror against the raw directory and bindfs;
//! - `bench-rate [--events N] [--runs N] [--work-dir DIR]` — event rates from the index
//!   against DuckDB's `GROUP BY` on the same rows (default 10 000 000 events);
//! - `bench-server [--quick]` — the event server: ingest with SSE followers, memory;
//! - `browser [--screenshot PATH]` — the server's live web view in headless Chromium.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod bench_fuse;
mod bench_rate;
mod bench_server;
mod browser;
mod ci;
mod fuse_posix;
mod fuzz;
mod mounts;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("fixtures") => fixtures(&root),
        Some("ci") => ci::run_ci(&root, &args[1..]),
        Some("torture") => torture(&root, &args[1..]),
        Some("fuzz") => fuzz::fuzz(&root, &args[1..]),
        Some("fuse-posix") => fuse_posix::fuse_posix(&root, &args[1..]),
        Some("bench-fuse") => bench_fuse::bench_fuse(&root, &args[1..]),
        Some("bench-rate") => bench_rate::bench_rate(&root, &args[1..]),
        Some("bench-server") => bench_server::bench_server(&root, &args[1..]),
        Some("browser") => browser::browser(&root, &args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <fixtures|ci|torture|fuzz|fuse-posix|bench-fuse|bench-rate|bench-server|browser>"
            );
            eprintln!("  fixtures   regenerate fixtures/*.bin from the format crate's samples");
            eprintln!(
                "  ci         install missing system packages, then fmt, clippy and all tests"
            );
            eprintln!(
                "  torture    [--rounds N] crash torture tests in release, N rounds each (default 1000)"
            );
            eprintln!(
                "  fuzz       [--seconds N] [--target NAME] cargo-fuzz every decoder, N s each (default 60)"
            );
            eprintln!(
                "  fuse-posix [--long] [--release] pjdfstest + fsx on a vexjournal mount and on bindfs"
            );
            eprintln!(
                "  bench-fuse [--quick] untar, metadata storm, fsx, fio: raw vs bindfs vs vexjournal"
            );
            eprintln!(
                "  bench-rate [--events N] [--runs N] [--work-dir DIR] /stats/rate vs DuckDB GROUP BY"
            );
            eprintln!(
                "  bench-server [--quick] [--rate N] [--followers N] [--seconds N] [--idle-seconds N] \
                 event server: POST ingest with SSE followers, idle-follower memory"
            );
            eprintln!(
                "  browser    [--screenshot PATH] the web view of `vexjournal serve` in headless Chromium"
            );
            bail!("unknown or missing command")
        }
    }
}

fn workspace_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

fn fixtures(root: &Path) -> Result<()> {
    let dir = root.join("fixtures");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "bin") {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    for (name, bytes) in vexfs_journal_format::samples::fixtures()? {
        let path = dir.join(&name);
        std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}

/// Runs a command, failing with its name when it fails.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("$ {shown}");
    let status = cmd.status().with_context(|| format!("starting {shown}"))?;
    if !status.success() {
        bail!("{shown} failed with {status}");
    }
    Ok(())
}

/// The torture tests `cargo xtask torture` runs: (package, test target).
const TORTURE_TESTS: &[(&str, &str)] = &[
    ("vexjournal", "torture"),
    ("vexjournal", "power_cut"),
    ("vexfs-journal-recovery", "power_loss"),
    ("vexfs-journal-recovery", "io_errors"),
    ("vexfs-journal-recovery", "mischief"),
    ("vexfs-journal-coordinator", "kill9"),
];

/// `cargo xtask torture [--rounds N]`: runs every torture test in release with
/// `TORTURE_ROUNDS=N` (one test at a time), echoing their output, then prints the
/// summary line each test reports (`torture <name>: rounds=… failures=0 …`).
fn torture(root: &Path, args: &[String]) -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::Instant;

    let mut rounds: u64 = 1000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--rounds" => {
                rounds = it
                    .next()
                    .context("--rounds needs a number")?
                    .parse()
                    .context("--rounds")?;
            }
            other => bail!("unknown argument {other:?} (usage: cargo xtask torture [--rounds N])"),
        }
    }
    let started = Instant::now();
    let mut summaries = Vec::new();
    let mut failed = Vec::new();
    for (package, test) in TORTURE_TESTS {
        let mut cmd = Command::new("cargo");
        cmd.current_dir(root)
            .args(["test", "--release", "-p", package, "--test", test, "--"])
            .args(["--nocapture", "--test-threads=1"])
            .env("TORTURE_ROUNDS", rounds.to_string())
            .stderr(Stdio::piped());
        eprintln!("$ {cmd:?}");
        let t = Instant::now();
        let mut child = cmd.spawn().context("starting cargo test")?;
        let stderr = child.stderr.take().context("no stderr")?;
        for line in BufReader::new(stderr).lines() {
            let line = line?;
            eprintln!("{line}");
            if line.starts_with("torture ") {
                summaries.push(line);
            }
        }
        let status = child.wait()?;
        eprintln!(
            "{package} --test {test}: {status} in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        if !status.success() {
            failed.push(format!("{package} --test {test}"));
        }
    }
    println!();
    println!(
        "torture summary: {rounds} rounds per test, {:.1} s in all",
        started.elapsed().as_secs_f64()
    );
    for s in &summaries {
        println!("  {s}");
    }
    if !failed.is_empty() {
        println!("  FAILED: {}", failed.join(", "));
        bail!("torture failed");
    }
    println!("  all torture tests passed");
    Ok(())
}
