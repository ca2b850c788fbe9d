//! `cargo xtask bench-server [--quick] [ARGS…]`: the event server under load (see
//! `crates/vexfs-journal-server/examples/load.rs`), both in release.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::run;

pub(crate) fn bench_server(root: &Path, args: &[String]) -> Result<()> {
    run(Command::new("cargo")
        .current_dir(root)
        .args(["build", "--release", "-p", "vexjournal"]))?;
    let bin = root.join("target/release/vexjournal");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .map_or(bin, |t| t.join("release/vexjournal"));
    let mut extra: Vec<String> = Vec::new();
    for a in args {
        if a == "--quick" {
            extra.extend(["--seconds", "5", "--idle-seconds", "10"].map(String::from));
        } else {
            extra.push(a.clone());
        }
    }
    run(Command::new("cargo")
        .current_dir(root)
        .args([
            "run",
            "--release",
            "-p",
            "vexfs-journal-server",
            "--example",
            "load",
            "--",
        ])
        .arg(target)
        .args(extra))
}
