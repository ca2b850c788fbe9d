//! The CI entry point: what `.ci/run`, the README and GitHub Actions all call.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::run;

/// Debian packages the test suite needs, each with a shell condition that holds when it
/// is present: a C toolchain, then the FUSE step's (`fuse-posix`): fuse3, bindfs to
/// compare with, fio for `bench-fuse`, libacl's headers to build pjdfstest.
const SYSTEM_PACKAGES: &[(&str, &str)] = &[
    ("gcc", "command -v cc"),
    ("pkg-config", "command -v pkg-config"),
    ("fuse3", "command -v fusermount3"),
    ("bindfs", "command -v bindfs"),
    ("fio", "command -v fio"),
    ("libacl1-dev", "test -e /usr/include/sys/acl.h"),
];

/// The POSIX suites `fuse-posix` runs, installed from crates.io when missing.
const CARGO_TOOLS: &[&str] = &["pjdfstest", "fsx"];

pub(crate) fn run_ci(root: &Path, args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--no-install");
    if !quick {
        install_system_packages()?;
    }
    run(cargo(root).args(["fmt", "--all", "--", "--check"]))?;
    run(cargo(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // A synchronous embedder builds the facade without tokio (`async` off).
    run(cargo(root).args([
        "clippy",
        "-p",
        "vexfs-journal",
        "--no-default-features",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    unused_dependencies(root, !quick)?;
    // The benchmark crate has no tests: clippy checks it above, and leaving it out here
    // spares the test build its peers (bundled SQLite, raft-engine) and criterion.
    if has_nextest() {
        run(cargo(root).args([
            "nextest",
            "run",
            "--workspace",
            "--exclude",
            BENCHES,
            "--locked",
            "--no-fail-fast",
        ]))?;
    } else {
        run(cargo(root).args([
            "test",
            "--workspace",
            "--exclude",
            BENCHES,
            "--locked",
            "--lib",
            "--bins",
            "--tests",
        ]))?;
    }
    run(cargo(root).args([
        "test",
        "--workspace",
        "--exclude",
        BENCHES,
        "--locked",
        "--doc",
    ]))?;
    fuse_posix(root, !quick)?;
    browser(root, !quick)?;
    fuzz_smoke(root, !quick)?;
    eprintln!("ci: all checks passed");
    Ok(())
}

/// The POSIX suites on the FUSE mirror (quick mode), after installing pjdfstest and fsx
/// and pjdfstest's second user when missing. Serves the mount with the vexjournal the
/// tests just built (`--test-build`), so the step compiles nothing.
fn fuse_posix(root: &Path, install: bool) -> Result<()> {
    if install {
        for tool in CARGO_TOOLS {
            if !have(tool) {
                let mut cmd = Command::new("cargo");
                cmd.args(["install", tool, "--locked"]);
                if let Err(e) = run(&mut cmd) {
                    eprintln!("ci: installing {tool} failed: {e:#}");
                }
            }
        }
        let user = crate::fuse_posix::PJDFSTEST_USER;
        if is_root() && !crate::fuse_posix::user_exists(user) {
            run(Command::new("useradd")
                .args(["--no-create-home", "--user-group"])
                .arg(user))?;
        }
    }
    let started = std::time::Instant::now();
    crate::fuse_posix::fuse_posix(root, &["--test-build".to_string()])?;
    eprintln!(
        "ci: fuse-posix took {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The live web view in headless Chromium (installed when missing), served by the
/// vexjournal the tests just built; the screenshot goes under the target directory,
/// leaving `docs/web-view.png` as committed.
fn browser(root: &Path, install: bool) -> Result<()> {
    let screenshot = crate::browser::target_dir(root)
        .join("browser-test")
        .join("web-view.png");
    let mut args = vec![
        "--test-build".to_string(),
        "--screenshot".to_string(),
        screenshot.display().to_string(),
    ];
    if !install {
        args.push("--no-install".to_string());
    }
    let started = std::time::Instant::now();
    crate::browser::browser(root, &args)?;
    eprintln!("ci: browser took {:.0} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// Seconds each fuzz target runs in CI's smoke. Building the fuzz crate (release,
/// AddressSanitizer, every dependency again) is most of the smoke's cost: 4.4 min of
/// CPU from cold, so 2.5-3 min on two idle cores; with ten targets at 5 s the whole
/// smoke stays near 4 minutes.
const FUZZ_SMOKE_SECONDS: u64 = 5;

/// A short run of every fuzz target when a nightly toolchain and cargo-fuzz are there
/// (cargo-fuzz is installed from crates.io when only it is missing); says so otherwise.
fn fuzz_smoke(root: &Path, install: bool) -> Result<()> {
    if install && crate::fuzz::has_nightly() && crate::fuzz::available().is_err() {
        let mut cmd = Command::new("cargo");
        cmd.args(["install", "cargo-fuzz", "--locked"]);
        if let Err(e) = run(&mut cmd) {
            eprintln!("ci: installing cargo-fuzz failed: {e:#}");
        }
    }
    match crate::fuzz::available() {
        Err(missing) => {
            eprintln!("fuzz smoke skipped: no nightly toolchain / cargo-fuzz (here: {missing})");
            Ok(())
        }
        Ok(()) => {
            let targets: Vec<_> = crate::fuzz::TARGETS.iter().collect();
            crate::fuzz::run_targets(root, &targets, FUZZ_SMOKE_SECONDS)
        }
    }
}

/// Fails on a dependency no crate uses (`cargo machete`, installed from crates.io when
/// missing: a build of about a minute of CPU). Without it and without a way to install
/// it, says so and goes on.
fn unused_dependencies(root: &Path, install: bool) -> Result<()> {
    // Run as `cargo-machete DIR`: under `cargo xtask` the `cargo` on PATH is the
    // toolchain's own, and through it cargo-machete takes `machete` for a directory.
    if install && !have("cargo-machete") {
        let mut cmd = Command::new("cargo");
        cmd.args(["install", "cargo-machete", "--locked"]);
        if let Err(e) = run(&mut cmd) {
            eprintln!("ci: installing cargo-machete failed: {e:#}");
        }
    }
    if !have("cargo-machete") {
        eprintln!("ci: unused-dependency check skipped: cargo-machete is not installed");
        return Ok(());
    }
    run(Command::new("cargo-machete").arg(root))
}

/// The workspace's benchmark crate.
pub(crate) const BENCHES: &str = "vexfs-journal-benches";

/// `cargo`, run in `root`.
fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root);
    cmd
}

fn has_nextest() -> bool {
    Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether the shell finds `command`.
pub(crate) fn have(command: &str) -> bool {
    holds(&format!("command -v {command}"))
}

/// Whether a shell condition holds (its output discarded).
fn holds(condition: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("{condition} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Installs missing packages with apt-get when running as root; otherwise says what
/// is missing and goes on (the tests that need it will say so too).
fn install_system_packages() -> Result<()> {
    let missing: Vec<&str> = SYSTEM_PACKAGES
        .iter()
        .filter(|(_, probe)| !holds(probe))
        .map(|(pkg, _)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() || !have("apt-get") {
        eprintln!("ci: missing system packages {missing:?}; install them (apt-get) and rerun");
        return Ok(());
    }
    run(Command::new("apt-get")
        .args(["update", "-qq"])
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}
