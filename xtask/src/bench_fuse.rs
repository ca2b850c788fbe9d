//! `cargo xtask bench-fuse [--quick] [--rounds N]`: the FUSE mirror against the raw
//! directory and plain bindfs, same run, every source on the same filesystem.
//!
//! Benchmarks: untar of the project's own tree (no `target/`, no `.git`) into fresh
//! directories; a metadata storm (create, stat, rename, unlink of many small files);
//! a seeded fsx run; a sequential 1 GiB write and read with fio. Each (benchmark,
//! configuration) gets a fresh mount and a fresh journal; the page cache is dropped
//! before each. Configurations alternate within a round (A B C D, A B C D, ...) and
//! the medians over the rounds are reported, as times and as ratios to raw and to
//! bindfs, plus, for vexjournal, the daemon's CPU time per journaled event and the
//! events per second of the untar. The last output is a markdown table for
//! `docs/benchmarks.md`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::mounts::{self, Mount};

/// A configuration: what serves the benchmark directory.
#[derive(Clone, Copy)]
struct Config {
    /// Column name.
    name: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    /// The source directory itself.
    Raw,
    /// `bindfs` with its defaults (libfuse's 1 s attribute and entry cache).
    Bindfs,
    /// `vexjournal mount`, with this capture file (`None`: no `--capture`) and these
    /// `-o` options.
    Vexjournal(Option<&'static str>, &'static str),
}

/// Every configuration, in the order each round runs them.
const CONFIGS: &[Config] = &[
    Config {
        name: "raw",
        kind: Kind::Raw,
    },
    Config {
        name: "bindfs",
        kind: Kind::Bindfs,
    },
    Config {
        name: "vex default",
        kind: Kind::Vexjournal(None, ""),
    },
    Config {
        name: "vex write=every",
        kind: Kind::Vexjournal(Some("read = \"open\"\nwrite = \"every\"\n"), ""),
    },
    Config {
        name: "vex write=close",
        kind: Kind::Vexjournal(Some("read = \"open\"\nwrite = \"close\"\n"), ""),
    },
    // bindfs's caching (libfuse's 1 s), for a comparison at equal cache settings.
    Config {
        name: "vex cache=1s",
        kind: Kind::Vexjournal(None, "attr_timeout=1,entry_timeout=1"),
    },
];

/// The benchmarks, in the order each round runs them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bench {
    Untar,
    Storm,
    Fsx,
    SeqWrite,
    SeqRead,
}

const BENCHES: &[Bench] = &[
    Bench::Untar,
    Bench::Storm,
    Bench::Fsx,
    Bench::SeqWrite,
    Bench::SeqRead,
];

/// Sizes of one run.
struct Params {
    untar_copies: usize,
    storm_files: usize,
    fsx_ops: u64,
    fio_mib: u64,
    rounds: usize,
}

const FULL: Params = Params {
    untar_copies: 10,
    storm_files: 100_000,
    fsx_ops: 50_000,
    fio_mib: 1024,
    rounds: 3,
};

const QUICK: Params = Params {
    untar_copies: 2,
    storm_files: 5_000,
    fsx_ops: 5_000,
    fio_mib: 128,
    rounds: 1,
};

/// The storm works through its files in batches of this many (create, stat, rename,
/// unlink each batch, then the next). The vexjournal daemon holds an `O_PATH`
/// descriptor for every inode the kernel knows, and the kernel forgets none of the
/// files before they are unlinked: with 100,000 files alive at once it runs out of
/// descriptors (EMFILE at 20,000 on the benchmark machine, whose hard limit is 20,000).
const STORM_BATCH: usize = 10_000;

/// fsx seed and settings: no mmap (with mmap, fsx's msync calls dominate the time).
const FSX_SEED: u64 = 1;
const FSX_CONF: &str = "[weights]\nmapread = 0\nmapwrite = 0\n";

impl Bench {
    /// A short name for scratch paths.
    fn slug(self) -> &'static str {
        match self {
            Bench::Untar => "untar",
            Bench::Storm => "storm",
            Bench::Fsx => "fsx",
            Bench::SeqWrite => "seqwrite",
            Bench::SeqRead => "seqread",
        }
    }

    fn name(self, p: &Params) -> String {
        match self {
            Bench::Untar => format!("untar ×{}", p.untar_copies),
            Bench::Storm => format!(
                "metadata storm, {} files ({} at a time)",
                p.storm_files,
                STORM_BATCH.min(p.storm_files)
            ),
            Bench::Fsx => format!("fsx -S {FSX_SEED} -N {} (no mmap)", p.fsx_ops),
            Bench::SeqWrite => format!("fio seq write {} MiB", p.fio_mib),
            Bench::SeqRead => format!("fio seq read {} MiB", p.fio_mib),
        }
    }
}

/// One measured run.
#[derive(Clone, Copy, Default)]
struct Sample {
    seconds: f64,
    /// Daemon CPU seconds during the run (FUSE configurations).
    cpu: Option<f64>,
    /// Events the workload made the mount journal (vexjournal; the mount's own
    /// events, see [`Env::idle_events`], not counted).
    events: Option<u64>,
}

/// `cargo xtask bench-fuse [--quick] [--rounds N]`.
pub(crate) fn bench_fuse(root: &Path, args: &[String]) -> Result<()> {
    let mut quick = false;
    let mut rounds = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--rounds" => {
                rounds = Some(
                    it.next()
                        .context("--rounds needs a number")?
                        .parse::<usize>()
                        .context("--rounds")?,
                );
            }
            other => bail!(
                "unknown argument {other:?} (usage: cargo xtask bench-fuse [--quick] [--rounds N])"
            ),
        }
    }
    let mut p = if quick { QUICK } else { FULL };
    if let Some(r) = rounds {
        p.rounds = r.max(1);
    }
    if !mounts::fuse_device_present() {
        bail!("bench-fuse needs /dev/fuse");
    }
    if !mounts::running_as_root() {
        bail!("bench-fuse needs root (mounting, dropping the page cache)");
    }
    for tool in ["bindfs", "fio", "fsx", "tar", "prlimit"] {
        if !crate::ci::have(tool) {
            bail!("bench-fuse needs {tool} (`cargo xtask ci` installs it)");
        }
    }
    let started = Instant::now();
    let bin = mounts::build_vexjournal(root, mounts::Build::Release)?;
    let base = mounts::scratch_dir("vexfs-bench-fuse-")?;
    let b = base.path();
    let tarball = b.join("tree.tar");
    run_quiet(
        Command::new("tar")
            .current_dir(root)
            .args(["--exclude=./target", "--exclude=./.git", "--exclude=target"])
            .arg("-cf")
            .arg(&tarball)
            .arg("."),
    )?;
    let tar_entries = count_tar_entries(&tarball)?;
    let fsx_conf = b.join("fsx.toml");
    std::fs::write(&fsx_conf, FSX_CONF).context("writing fsx.toml")?;
    // The file every configuration reads: written once, on the raw disk.
    let read_src = b.join("read-src");
    mounts::make_dir(&read_src)?;
    run_quiet(Command::new("fio").args(fio_args(&read_src, "write", p.fio_mib)))?;
    let mnt = b.join("mnt");
    mounts::make_dir(&mnt)?;
    let capture_dir = b.join("capture");
    mounts::make_dir(&capture_dir)?;

    let env = Env {
        bin: &bin,
        base: b,
        mnt: &mnt,
        tarball: &tarball,
        fsx_conf: &fsx_conf,
        read_src: &read_src,
        capture_dir: &capture_dir,
        p: &p,
        idle_events: 0,
    };
    let env = Env {
        idle_events: env.idle_events()?,
        ..env
    };
    eprintln!(
        "an idle vexjournal mount journals {} events (subtracted from each count)",
        env.idle_events
    );
    // samples[bench][config]
    let mut samples = vec![vec![Vec::<Sample>::new(); CONFIGS.len()]; BENCHES.len()];
    for round in 0..p.rounds {
        for (bi, bench) in BENCHES.iter().enumerate() {
            for (ci, config) in CONFIGS.iter().enumerate() {
                let s = env
                    .run_one(*bench, config, round)
                    .with_context(|| format!("{} on {}", bench.name(&p), config.name))?;
                eprintln!(
                    "round {}/{}: {:<32} {:<16} {:>8.3} s{}",
                    round + 1,
                    p.rounds,
                    bench.name(&p),
                    config.name,
                    s.seconds,
                    match (s.cpu, s.events) {
                        (Some(c), Some(e)) => format!("  daemon {c:.2} CPU s, {e} events"),
                        (Some(c), None) => format!("  daemon {c:.2} CPU s"),
                        _ => String::new(),
                    }
                );
                samples[bi][ci].push(s);
            }
        }
    }
    let report = Report {
        p: &p,
        samples: &samples,
        tar_entries,
        elapsed: started.elapsed(),
        quick,
    };
    println!();
    print!("{}", report.markdown());
    Ok(())
}

/// What every run needs.
struct Env<'a> {
    bin: &'a Path,
    base: &'a Path,
    mnt: &'a Path,
    tarball: &'a Path,
    fsx_conf: &'a Path,
    read_src: &'a Path,
    capture_dir: &'a Path,
    p: &'a Params,
    /// Events a mount journals with no workload (its mount and unmount records).
    idle_events: u64,
}

impl Env<'_> {
    /// Mounts and unmounts with no workload, and counts the journal's events.
    fn idle_events(&self) -> Result<u64> {
        let source = self.base.join("idle-src");
        let journal = self.base.join("idle-journal");
        mounts::make_dir(&source)?;
        let m = Mount::vexjournal(
            self.bin,
            &source,
            self.mnt,
            &journal,
            None,
            "",
            &self.base.join("idle.log"),
        )?;
        m.stop()?;
        mounts::journal_events(self.bin, &journal)
    }

    /// One benchmark on one configuration: fresh source, fresh mount, fresh journal.
    fn run_one(&self, bench: Bench, config: &Config, round: usize) -> Result<Sample> {
        let tag = format!(
            "r{round}-{}-{}",
            bench.slug(),
            config.name.replace([' ', '='], "-")
        );
        let source = if bench == Bench::SeqRead {
            self.read_src.to_path_buf()
        } else {
            let s = self.base.join(format!("src-{tag}"));
            mounts::make_dir(&s)?;
            s
        };
        let journal = self.base.join(format!("journal-{tag}"));
        let log = self.base.join(format!("daemon-{tag}.log"));
        let mount = match config.kind {
            Kind::Raw => None,
            Kind::Bindfs => Some(Mount::bindfs(&source, self.mnt, &[], &log)?),
            Kind::Vexjournal(capture, options) => {
                let capture_file = match capture {
                    Some(text) => {
                        let f = self
                            .capture_dir
                            .join(format!("{}.toml", config.name.replace([' ', '='], "-")));
                        std::fs::write(&f, text)
                            .with_context(|| format!("writing {}", f.display()))?;
                        Some(f)
                    }
                    None => None,
                };
                Some(Mount::vexjournal(
                    self.bin,
                    &source,
                    self.mnt,
                    &journal,
                    capture_file.as_deref(),
                    options,
                    &log,
                )?)
            }
        };
        let dir: PathBuf = if mount.is_some() {
            self.mnt.to_path_buf()
        } else {
            source.clone()
        };
        drop_caches()?;
        if bench == Bench::Untar {
            // The tarball comes from the page cache in every configuration.
            std::fs::read(self.tarball).context("reading the tarball")?;
        }
        let pid = mount.as_ref().and_then(Mount::pid);
        let cpu_before = pid.map(mounts::cpu_seconds).transpose()?;
        let t = Instant::now();
        let result = self.workload(bench, &dir);
        let seconds = t.elapsed().as_secs_f64();
        let cpu_after = pid.map(mounts::cpu_seconds).transpose()?;
        let is_vex = matches!(config.kind, Kind::Vexjournal(..));
        if let Some(m) = mount {
            m.stop()?;
        }
        result?;
        let events = if is_vex {
            let total = mounts::journal_events(self.bin, &journal)?;
            Some(total.saturating_sub(self.idle_events))
        } else {
            None
        };
        if source != self.read_src {
            std::fs::remove_dir_all(&source)
                .with_context(|| format!("removing {}", source.display()))?;
        }
        if journal.exists() {
            std::fs::remove_dir_all(&journal)
                .with_context(|| format!("removing {}", journal.display()))?;
        }
        Ok(Sample {
            seconds,
            cpu: cpu_before.zip(cpu_after).map(|(a, b)| b - a),
            events,
        })
    }

    fn workload(&self, bench: Bench, dir: &Path) -> Result<()> {
        match bench {
            Bench::Untar => {
                for i in 0..self.p.untar_copies {
                    let to = dir.join(format!("tree-{i}"));
                    std::fs::create_dir(&to).with_context(|| format!("mkdir {}", to.display()))?;
                    run_quiet(
                        Command::new("tar")
                            .arg("-xf")
                            .arg(self.tarball)
                            .arg("-C")
                            .arg(&to),
                    )?;
                }
                Ok(())
            }
            Bench::Storm => {
                let d = dir.join("storm");
                std::fs::create_dir(&d).with_context(|| format!("mkdir {}", d.display()))?;
                metadata_storm(&d, self.p.storm_files, STORM_BATCH)
                    .with_context(|| format!("metadata storm in {}", d.display()))?;
                Ok(())
            }
            Bench::Fsx => run_quiet(
                Command::new("fsx")
                    .args([
                        "-S",
                        &FSX_SEED.to_string(),
                        "-N",
                        &self.p.fsx_ops.to_string(),
                    ])
                    .arg("-f")
                    .arg(self.fsx_conf)
                    .arg("-P")
                    .arg(dir)
                    .arg(dir.join("fsx.dat")),
            ),
            Bench::SeqWrite => {
                run_quiet(Command::new("fio").args(fio_args(dir, "write", self.p.fio_mib)))
            }
            Bench::SeqRead => {
                run_quiet(Command::new("fio").args(fio_args(dir, "read", self.p.fio_mib)))
            }
        }
    }
}

/// fio arguments for a sequential `rw` (read or write) of `mib` MiB, 1 MiB blocks,
/// buffered, one `fsync` at the end of a write, on `dir/seq.dat`.
fn fio_args(dir: &Path, rw: &str, mib: u64) -> Vec<String> {
    let mut a = vec![
        format!("--name=seq{rw}"),
        format!("--filename={}", dir.join("seq.dat").display()),
        format!("--rw={rw}"),
        "--bs=1M".into(),
        format!("--size={mib}M"),
        "--ioengine=psync".into(),
        "--direct=0".into(),
        "--numjobs=1".into(),
    ];
    if rw == "write" {
        a.push("--end_fsync=1".into());
    }
    a
}

/// Creates `n` small files in `dir` (100 bytes each), stats each, renames each, then
/// unlinks each, `batch` files at a time: the metadata path (lookup, create, getattr,
/// rename, unlink) with little data.
pub(crate) fn metadata_storm(dir: &Path, n: usize, batch: usize) -> std::io::Result<()> {
    let payload = [b'x'; 100];
    let name = |prefix: &str, i: usize| dir.join(format!("{prefix}{i:06}"));
    let mut start = 0;
    while start < n {
        let end = n.min(start + batch.max(1));
        for i in start..end {
            let mut f = std::fs::File::create_new(name("f", i))?;
            f.write_all(&payload)?;
        }
        for i in start..end {
            let m = std::fs::metadata(name("f", i))?;
            if m.len() != payload.len() as u64 {
                return Err(std::io::Error::other(format!(
                    "{} has {} bytes, wrote {}",
                    name("f", i).display(),
                    m.len(),
                    payload.len()
                )));
            }
        }
        for i in start..end {
            std::fs::rename(name("f", i), name("g", i))?;
        }
        for i in start..end {
            std::fs::remove_file(name("g", i))?;
        }
        start = end;
    }
    Ok(())
}

/// Writes back dirty pages and drops the page, dentry and inode caches.
fn drop_caches() -> Result<()> {
    run_quiet(&mut Command::new("sync"))?;
    std::fs::write("/proc/sys/vm/drop_caches", "3").context("writing /proc/sys/vm/drop_caches")
}

/// Runs a command with its output captured; on failure the error holds the output.
fn run_quiet(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("starting {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed with {}:\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

fn count_tar_entries(tarball: &Path) -> Result<usize> {
    let out = Command::new("tar")
        .arg("-tf")
        .arg(tarball)
        .output()
        .context("listing the tarball")?;
    if !out.status.success() {
        bail!("tar -tf failed with {}", out.status);
    }
    Ok(String::from_utf8_lossy(&out.stdout).lines().count())
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    })
}

struct Report<'a> {
    p: &'a Params,
    samples: &'a [Vec<Vec<Sample>>],
    tar_entries: usize,
    elapsed: Duration,
    quick: bool,
}

/// A goal of issue 12: `config`'s median time on `bench` at most `limit` times
/// `baseline`'s.
struct Goal {
    bench: Bench,
    config: &'static str,
    baseline: &'static str,
    limit: f64,
}

const GOALS: &[Goal] = &[
    Goal {
        bench: Bench::Untar,
        config: "vex default",
        baseline: "bindfs",
        limit: 1.0,
    },
    Goal {
        bench: Bench::Storm,
        config: "vex default",
        baseline: "bindfs",
        limit: 1.0,
    },
    Goal {
        bench: Bench::SeqRead,
        config: "vex default",
        baseline: "raw",
        limit: 1.1,
    },
    Goal {
        bench: Bench::SeqWrite,
        config: "vex write=close",
        baseline: "raw",
        limit: 1.1,
    },
    Goal {
        bench: Bench::SeqWrite,
        config: "vex write=every",
        baseline: "bindfs",
        limit: 1.1,
    },
];

impl Report<'_> {
    fn median_seconds(&self, bench: Bench, config: &str) -> Option<f64> {
        let bi = BENCHES.iter().position(|b| *b == bench)?;
        let ci = CONFIGS.iter().position(|c| c.name == config)?;
        median(self.samples[bi][ci].iter().map(|s| s.seconds).collect())
    }

    fn markdown(&self) -> String {
        let p = self.p;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "`cargo xtask bench-fuse{}`: {} round(s), medians; {:.0} s in all. Untar: {} entries per copy.",
            if self.quick { " --quick" } else { "" },
            p.rounds,
            self.elapsed.as_secs_f64(),
            self.tar_entries
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "| benchmark | configuration | time (s) | × raw | × bindfs | daemon CPU (s) | events | CPU µs/event | events/s |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|");
        for (bi, bench) in BENCHES.iter().enumerate() {
            let raw = self.median_seconds(*bench, "raw");
            let bindfs = self.median_seconds(*bench, "bindfs");
            for (ci, config) in CONFIGS.iter().enumerate() {
                let runs = &self.samples[bi][ci];
                let Some(t) = median(runs.iter().map(|s| s.seconds).collect()) else {
                    continue;
                };
                let ratio = |base: Option<f64>| {
                    base.filter(|b| *b > 0.0)
                        .map_or("-".to_string(), |b| format!("{:.2}", t / b))
                };
                let cpu = median(runs.iter().filter_map(|s| s.cpu).collect());
                let events = median(
                    runs.iter()
                        .filter_map(|s| s.events)
                        .map(|e| e as f64)
                        .collect(),
                );
                // Below 100 events the mount's own work (open, release) dominates.
                let per_event = cpu.zip(events).filter(|(_, e)| *e >= 100.0);
                let _ = writeln!(
                    s,
                    "| {} | {} | {:.3} | {} | {} | {} | {} | {} | {} |",
                    bench.name(p),
                    config.name,
                    t,
                    ratio(raw),
                    ratio(bindfs),
                    cpu.map_or("-".into(), |c| format!("{c:.2}")),
                    events.map_or("-".into(), |e| format!("{e:.0}")),
                    per_event.map_or("-".into(), |(c, e)| format!("{:.1}", c / e * 1e6)),
                    match (bench, events) {
                        (Bench::Untar, Some(e)) if t > 0.0 => format!("{:.0}", e / t),
                        _ => "-".into(),
                    }
                );
            }
        }
        let _ = writeln!(s);
        let _ = writeln!(s, "| goal | measured | met |");
        let _ = writeln!(s, "|---|---|---|");
        for g in GOALS {
            let measured = self
                .median_seconds(g.bench, g.config)
                .zip(self.median_seconds(g.bench, g.baseline))
                .filter(|(_, b)| *b > 0.0)
                .map(|(c, b)| c / b);
            let _ = writeln!(
                s,
                "| {}: {} ≤ {:.1}× {} | {} | {} |",
                g.bench.name(p),
                g.config,
                g.limit,
                g.baseline,
                measured.map_or("-".into(), |r| format!("{r:.2}×")),
                match measured {
                    Some(r) if r <= g.limit => "yes",
                    Some(_) => "**no**",
                    None => "-",
                }
            );
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_storm_leaves_its_directory_empty() {
        let dir = tempfile::tempdir().unwrap();
        metadata_storm(dir.path(), 50, 7).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), Some(2.5));
    }

    #[test]
    fn every_goal_names_a_configuration() {
        for g in GOALS {
            assert!(CONFIGS.iter().any(|c| c.name == g.config), "{}", g.config);
            assert!(
                CONFIGS.iter().any(|c| c.name == g.baseline),
                "{}",
                g.baseline
            );
        }
    }
}
