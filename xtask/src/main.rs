//! `cargo xtask <command>`: project chores.
//!
//! - `fixtures` — regenerate the golden files in `fixtures/`;
//! - `ci` — the whole CI run: system packages, fmt, clippy, tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

mod ci;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("fixtures") => fixtures(&root),
        Some("ci") => ci::run_ci(&root, &args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <fixtures|ci>");
            eprintln!("  fixtures   regenerate fixtures/*.bin from the format crate's samples");
            eprintln!(
                "  ci         install missing system packages, then fmt, clippy and all tests"
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
