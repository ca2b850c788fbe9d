//! `cargo xtask fuse-posix [--long] [--release | --test-build]`: the POSIX suites (pjdfstest, fsx)
//! against a `vexjournal mount` of a scratch directory and, in the same run, against a
//! `bindfs` mount of another (no attribute cache, as ours): a failure on our mount
//! passes only when bindfs fails it too or it is in [`KNOWN_FAILURES`].

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::mounts::{self, Build, Mount};

/// Failures of the vexjournal mount that bindfs does not share, accepted for now.
/// Each is (pjdfstest test name, or `fsx mmap` / `fsx no-mmap`; why). Mirrored in
/// `docs/fuse.md` ("POSIX suites"): change both together.
/// Empty: the one failure there was (`rename::write_access_required_subdir`) came
/// from the daemon's umask narrowing the modes callers asked for, and is fixed.
pub(crate) const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// bindfs's options here: no attribute or entry cache, as our mount. With libfuse's
/// 1 s default bindfs fails 30 more pjdfstest tests (ctime after link and unlink,
/// metadata after rename), which would hide the same failures on our mount.
const BINDFS_OPTIONS: &[&str] = &["attr_timeout=0", "entry_timeout=0"];

/// fsx seed: the same operations every run.
const FSX_SEED: u64 = 1;
/// fsx operations per run in the quick mode (CI) and with `--long`.
const FSX_OPS_QUICK: u64 = 10_000;
const FSX_OPS_LONG: u64 = 100_000;

/// pjdfstest settings: every opt-in feature Linux has, users `nobody` and `tests`.
/// `naptime` is 10 ms because ext4 stamps times from a coarse clock: at 1 ms some
/// "times changed" tests fail on the raw disk already.
const PJDFSTEST_CONF: &str = r#"[features]
posix_fallocate = {}
rename_ctime = {}
utime_now = {}
utimensat = {}

[settings]
naptime = 0.01
allow_remount = false

[dummy_auth]
entries = [["nobody", "nogroup"], ["tests", "tests"]]
"#;

/// fsx without mmap: mapped reads and writes weighted out.
const FSX_NO_MMAP_CONF: &str = "[weights]\nmapread = 0\nmapwrite = 0\n";

/// The extra user pjdfstest switches to (with `nobody`).
pub(crate) const PJDFSTEST_USER: &str = "tests";

/// The tools the suites need, as (command, how to get it).
const TOOLS: &[(&str, &str)] = &[
    (
        "pjdfstest",
        "cargo install pjdfstest --locked (needs libacl1-dev)",
    ),
    ("fsx", "cargo install fsx --locked"),
    ("bindfs", "apt-get install bindfs"),
];

/// `cargo xtask fuse-posix [--long] [--release | --test-build]`.
pub(crate) fn fuse_posix(root: &Path, args: &[String]) -> Result<()> {
    let mut long = false;
    let mut build = Build::Debug;
    for a in args {
        match a.as_str() {
            "--long" => long = true,
            "--release" => build = Build::Release,
            // CI, right after the tests: their build of vexjournal, no extra compile.
            "--test-build" => build = Build::Tests,
            other => bail!(
                "unknown argument {other:?} (usage: cargo xtask fuse-posix [--long] [--release | --test-build])"
            ),
        }
    }
    if !mounts::fuse_device_present() {
        eprintln!("fuse-posix skipped: /dev/fuse is missing, so nothing can be mounted here");
        return Ok(());
    }
    if !mounts::running_as_root() {
        bail!("fuse-posix needs root (mounting, and pjdfstest switches users)");
    }
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, _)| !crate::ci::have(tool))
        .map(|(tool, how)| format!("{tool} ({how})"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "fuse-posix needs {}; `cargo xtask ci` installs them",
            missing.join(", ")
        );
    }
    if !user_exists(PJDFSTEST_USER) {
        bail!("pjdfstest needs the user {PJDFSTEST_USER:?}: useradd {PJDFSTEST_USER}");
    }
    let started = Instant::now();
    let bin = mounts::build_vexjournal(root, build)?;
    let fsx_ops = if long { FSX_OPS_LONG } else { FSX_OPS_QUICK };
    // Outputs outlive the scratch mounts, for a look after a failure.
    let out = std::env::temp_dir().join("vexfs-fuse-posix");
    if out.exists() {
        std::fs::remove_dir_all(&out).with_context(|| format!("removing {}", out.display()))?;
    }
    mounts::make_dir(&out)?;
    eprintln!("fuse-posix: outputs and daemon logs in {}", out.display());
    let report = run_suites(&bin, fsx_ops, &out)?;
    let verdict = report.verdict();
    println!();
    println!(
        "fuse-posix ({}, vexjournal {}): {:.0} s",
        if long { "long" } else { "quick" },
        match build {
            Build::Release => "release",
            Build::Debug | Build::Tests => "debug",
        },
        started.elapsed().as_secs_f64()
    );
    print!("{}", report.table());
    match verdict {
        Ok(()) => {
            println!("fuse-posix: PASS");
            Ok(())
        }
        Err(unexplained) => {
            println!("fuse-posix: FAIL");
            bail!(
                "failures on the vexjournal mount that bindfs does not share and KNOWN_FAILURES does not list: {}",
                unexplained.join(", ")
            )
        }
    }
}

pub(crate) fn user_exists(user: &str) -> bool {
    Command::new("id")
        .arg(user)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// One suite's result on one mount.
struct Outcome {
    /// What ran, shown in the table.
    summary: String,
    /// Names of failed tests (pjdfstest), or the run's own name (fsx) if it failed.
    failed: BTreeSet<String>,
    seconds: f64,
}

/// One row of the table: a suite on both mounts.
struct Row {
    suite: String,
    vexjournal: Outcome,
    bindfs: Outcome,
}

struct Report {
    rows: Vec<Row>,
    /// The accepted failures ([`KNOWN_FAILURES`]; tests give their own).
    known: &'static [(&'static str, &'static str)],
}

impl Report {
    /// `Err(names)` when the vexjournal mount failed something bindfs passed and
    /// [`KNOWN_FAILURES`] does not list.
    fn verdict(&self) -> std::result::Result<(), Vec<String>> {
        let unexplained: Vec<String> = self
            .rows
            .iter()
            .flat_map(|r| r.vexjournal.failed.difference(&r.bindfs.failed))
            .filter(|name| self.known(name).is_none())
            .cloned()
            .collect();
        if unexplained.is_empty() {
            Ok(())
        } else {
            Err(unexplained)
        }
    }

    /// A markdown table of the runs, then every failure of the vexjournal mount with
    /// the reason it is accepted (or not).
    fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "| suite | vexjournal mount | bindfs -o {} |",
            BINDFS_OPTIONS.join(",")
        );
        let _ = writeln!(s, "|---|---|---|");
        for r in &self.rows {
            let _ = writeln!(
                s,
                "| {} | {} ({:.1} s) | {} ({:.1} s) |",
                r.suite,
                r.vexjournal.summary,
                r.vexjournal.seconds,
                r.bindfs.summary,
                r.bindfs.seconds
            );
        }
        let mut any = false;
        for r in &self.rows {
            for name in &r.vexjournal.failed {
                if !any {
                    let _ = writeln!(s, "\nfailures on the vexjournal mount:");
                    any = true;
                }
                let why = if r.bindfs.failed.contains(name) {
                    "fails on bindfs too".to_string()
                } else if let Some(reason) = self.known(name) {
                    format!("known: {reason}")
                } else {
                    "NOT EXPLAINED (bindfs passes it, not in KNOWN_FAILURES)".to_string()
                };
                let _ = writeln!(s, "  {name}: {why}");
            }
        }
        let passing_known: Vec<&str> = self
            .known
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| {
                self.rows
                    .iter()
                    .all(|r| !r.vexjournal.failed.contains(*name))
                    && self.rows.iter().any(|r| r.covers(name))
            })
            .collect();
        if !passing_known.is_empty() {
            let _ = writeln!(
                s,
                "\nKNOWN_FAILURES entries that now pass (remove them from xtask/src/fuse_posix.rs and docs/fuse.md): {}",
                passing_known.join(", ")
            );
        }
        s
    }
}

impl Row {
    /// Whether this row ran the named test.
    fn covers(&self, name: &str) -> bool {
        if name.starts_with("fsx ") {
            self.suite.contains(name.trim_start_matches("fsx "))
        } else {
            self.suite.starts_with("pjdfstest")
        }
    }
}

impl Report {
    /// Why failure `name` is accepted, if it is.
    fn known(&self, name: &str) -> Option<&'static str> {
        self.known
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, why)| *why)
    }
}

/// Mounts both filesystems, runs every suite on each, unmounts.
fn run_suites(bin: &Path, fsx_ops: u64, out: &Path) -> Result<Report> {
    let base = mounts::scratch_dir("vexfs-posix-")?;
    let b = base.path();
    for d in ["vex-src", "vex-mnt", "bind-src", "bind-mnt", "journal"] {
        mounts::make_dir(&b.join(d))?;
    }
    let pjd_conf = b.join("pjdfstest.toml");
    std::fs::write(&pjd_conf, PJDFSTEST_CONF).context("writing pjdfstest.toml")?;
    let no_mmap_conf = b.join("fsx-no-mmap.toml");
    std::fs::write(&no_mmap_conf, FSX_NO_MMAP_CONF).context("writing fsx-no-mmap.toml")?;
    // A second filesystem for pjdfstest's cross-device (EXDEV) cases, when there is one.
    let secondary = secondary_fs(b);

    let vex = Mount::vexjournal(
        bin,
        &b.join("vex-src"),
        &b.join("vex-mnt"),
        &b.join("journal"),
        None,
        "",
        &out.join("vexjournal.log"),
    )?;
    let bind = Mount::bindfs(
        &b.join("bind-src"),
        &b.join("bind-mnt"),
        BINDFS_OPTIONS,
        &out.join("bindfs.log"),
    )?;
    let targets = [
        ("vexjournal", b.join("vex-mnt")),
        ("bindfs", b.join("bind-mnt")),
    ];

    let mut rows = Vec::new();
    let secondary_path = secondary.as_ref().map(|d| d.path().to_path_buf());
    let mut pjd = Vec::new();
    for (name, mnt) in &targets {
        pjd.push(pjdfstest(
            mnt,
            &pjd_conf,
            secondary_path.as_deref(),
            &out.join(format!("pjdfstest-{name}.txt")),
        )?);
    }
    let mut pjd = pjd.into_iter();
    if let (Some(vexjournal), Some(bindfs)) = (pjd.next(), pjd.next()) {
        rows.push(Row {
            suite: format!(
                "pjdfstest (all groups{})",
                if secondary.is_some() {
                    ", EXDEV cases on /dev/shm"
                } else {
                    ""
                }
            ),
            vexjournal,
            bindfs,
        });
    }
    for (mode, conf) in [("mmap", None), ("no-mmap", Some(no_mmap_conf.as_path()))] {
        let mut runs = Vec::new();
        for (name, mnt) in &targets {
            runs.push(fsx(
                mnt,
                mode,
                conf,
                fsx_ops,
                &out.join(format!("fsx-{name}-{mode}")),
            )?);
        }
        let mut runs = runs.into_iter();
        if let (Some(vexjournal), Some(bindfs)) = (runs.next(), runs.next()) {
            rows.push(Row {
                suite: format!("fsx -S {FSX_SEED} -N {fsx_ops} ({mode})"),
                vexjournal,
                bindfs,
            });
        }
    }
    let vex_log = vex.log_text();
    vex.stop()?;
    bind.stop()?;
    let events = mounts::journal_events(bin, &b.join("journal"))?;
    eprintln!("the vexjournal mount journaled {events} events");
    if vex_log.contains("panicked") {
        bail!("the vexjournal daemon panicked; its log:\n{vex_log}");
    }
    Ok(Report {
        rows,
        known: KNOWN_FAILURES,
    })
}

/// A scratch directory on another filesystem (tmpfs `/dev/shm`), if there is one.
fn secondary_fs(base: &Path) -> Option<tempfile::TempDir> {
    use std::os::unix::fs::MetadataExt;
    let shm = Path::new("/dev/shm");
    let other_device = std::fs::metadata(shm).ok()?.dev() != std::fs::metadata(base).ok()?.dev();
    if !other_device {
        return None;
    }
    let dir = tempfile::Builder::new()
        .prefix("vexfs-posix-")
        .tempdir_in(shm)
        .ok()?;
    mounts::make_dir(dir.path()).ok()?;
    Some(dir)
}

/// Runs pjdfstest (all groups) in a fresh directory under `mnt`; its output goes to
/// `out`.
fn pjdfstest(mnt: &Path, conf: &Path, secondary: Option<&Path>, out: &Path) -> Result<Outcome> {
    let dir = mnt.join("pjdfstest");
    mounts::make_dir(&dir)?;
    let mut cmd = Command::new("pjdfstest");
    cmd.arg("-c").arg(conf).arg("-p").arg(&dir);
    if let Some(s) = secondary {
        cmd.arg("-s").arg(s);
    }
    eprintln!("$ {cmd:?}");
    let t = Instant::now();
    let output = cmd.output().context("starting pjdfstest")?;
    let seconds = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    let failed: BTreeSet<String> = text
        .lines()
        .filter(|l| l.trim_end().ends_with("FAILED"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    let Some(summary) = text.lines().find_map(|l| l.strip_prefix("Summary: ")) else {
        bail!(
            "pjdfstest on {} printed no summary ({}); output in {}",
            mnt.display(),
            output.status,
            out.display()
        );
    };
    let counts = parse_counts(summary);
    let count = |k: &str| counts.iter().find(|(n, _)| n == k).map_or(0, |(_, v)| *v);
    if count("failed") != failed.len() as u64 {
        bail!(
            "pjdfstest on {} reported {} failed but {} FAILED lines; output in {}",
            mnt.display(),
            count("failed"),
            failed.len(),
            out.display()
        );
    }
    Ok(Outcome {
        summary: format!(
            "{} passed, {} failed, {} skipped",
            count("passed"),
            count("failed"),
            count("skipped")
        ),
        failed,
        seconds,
    })
}

/// "6 failed, 15 skipped, 377 passed, ..." -> [("failed", 6), ...].
fn parse_counts(summary: &str) -> Vec<(String, u64)> {
    summary
        .split(',')
        .filter_map(|part| {
            let mut words = part.split_whitespace();
            let n = words.next()?.parse().ok()?;
            Some((words.collect::<Vec<_>>().join(" "), n))
        })
        .collect()
}

/// One seeded fsx run on a file under `mnt`; artifacts and output go to `out_dir`.
fn fsx(mnt: &Path, mode: &str, conf: Option<&Path>, ops: u64, out_dir: &Path) -> Result<Outcome> {
    mounts::make_dir(out_dir)?;
    let file: PathBuf = mnt.join(format!("fsx-{mode}.dat"));
    let mut cmd = Command::new("fsx");
    cmd.args(["-S", &FSX_SEED.to_string(), "-N", &ops.to_string()])
        .arg("-P")
        .arg(out_dir);
    if let Some(c) = conf {
        cmd.arg("-f").arg(c);
    }
    cmd.arg(&file);
    eprintln!("$ {cmd:?}");
    let t = Instant::now();
    let output = cmd.output().context("starting fsx")?;
    let seconds = t.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let log = out_dir.join("output.txt");
    std::fs::write(&log, &text).with_context(|| format!("writing {}", log.display()))?;
    let ok = output.status.success() && text.contains("All operations completed A-OK");
    let mut failed = BTreeSet::new();
    let summary = if ok {
        format!("{ops} ops OK")
    } else {
        failed.insert(format!("fsx {mode}"));
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        eprintln!(
            "fsx ({mode}) failed on {} ({}); last lines (all in {}):",
            mnt.display(),
            output.status,
            log.display()
        );
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
        format!("FAILED ({})", output.status)
    };
    Ok(Outcome {
        summary,
        failed,
        seconds,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn outcome(failed: &[&str]) -> Outcome {
        Outcome {
            summary: String::new(),
            failed: failed.iter().map(|s| s.to_string()).collect(),
            seconds: 0.0,
        }
    }

    /// A stand-in for [`KNOWN_FAILURES`] (which may be empty).
    const TEST_KNOWN: &[(&str, &str)] = &[("k::known", "a reason")];

    fn report(vex: &[&str], bind: &[&str]) -> Report {
        Report {
            known: TEST_KNOWN,
            rows: vec![Row {
                suite: "pjdfstest (all groups)".into(),
                vexjournal: outcome(vex),
                bindfs: outcome(bind),
            }],
        }
    }

    #[test]
    fn a_failure_bindfs_shares_or_the_list_knows_passes() {
        let known = TEST_KNOWN[0].0;
        assert!(
            report(&["a::b", known], &["a::b", "c::d"])
                .verdict()
                .is_ok()
        );
        assert!(report(&[], &["c::d"]).verdict().is_ok());
    }

    #[test]
    fn a_failure_only_the_mount_has_fails_the_run() {
        let r = report(&["a::b", "x::y"], &["a::b"]);
        assert_eq!(r.verdict(), Err(vec!["x::y".to_string()]));
        assert!(r.table().contains("x::y: NOT EXPLAINED"));
    }

    #[test]
    fn a_known_failure_that_passes_is_pointed_out() {
        let r = report(&[], &[]);
        assert!(r.table().contains("now pass"));
        assert!(!report(&[TEST_KNOWN[0].0], &[]).table().contains("now pass"));
    }

    #[test]
    fn the_summary_line_is_counted() {
        let c = parse_counts("6 failed, 15 skipped, 377 passed, 0 expected failures, 398 total");
        assert_eq!(c[0], ("failed".to_string(), 6));
        assert_eq!(c[2], ("passed".to_string(), 377));
        assert_eq!(c[3], ("expected failures".to_string(), 0));
    }
}
