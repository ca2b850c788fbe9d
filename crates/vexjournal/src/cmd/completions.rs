//! `vexjournal completions SHELL` and `vexjournal man --out DIR`

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::CommandFactory;

use crate::Cli;

/// Print a shell completion script on stdout.
///
/// Install: bash `vexjournal completions bash > ~/.local/share/bash-completion/completions/vexjournal`;
/// zsh `vexjournal completions zsh > ~/.zfunc/_vexjournal` (with ~/.zfunc in $fpath);
/// fish `vexjournal completions fish > ~/.config/fish/completions/vexjournal.fish`.
#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: clap_complete::aot::Shell,
}

/// Write man pages (vexjournal.1 and one per command) into a directory.
///
/// Install: `vexjournal man --out ~/.local/share/man/man1`, then `man vexjournal`.
#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Directory to write the pages into (created if missing; never inside a journal).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn completions(args: &CompletionsArgs) -> Result<ExitCode> {
    let mut cmd = Cli::command();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    clap_complete::aot::generate(args.shell, &mut cmd, "vexjournal", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The journal directory `dir` is in, if any (a directory holding `journal.json`).
fn enclosing_journal(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|a| vexfs_journal::admin::is_journal(a))
        .map(Path::to_path_buf)
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .with_context(|| format!("writing {}", tmp.path().display()))?;
    tmp.persist(path)
        .with_context(|| format!("renaming the temporary file to {}", path.display()))?;
    Ok(())
}

fn render(cmd: clap::Command, title: &str) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd).title(title).render(&mut buf)?;
    Ok(buf)
}

pub fn man(args: &ManArgs) -> Result<ExitCode> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = args
        .out
        .canonicalize()
        .with_context(|| format!("resolving {}", args.out.display()))?;
    if let Some(j) = enclosing_journal(&out) {
        bail!(
            "{} is inside the journal {}: write the man pages elsewhere (e.g. --out \
             ~/.local/share/man/man1)",
            args.out.display(),
            j.display()
        );
    }
    let mut cmd = Cli::command();
    cmd.build();
    let mut written = Vec::new();
    let page = out.join("vexjournal.1");
    write_new(&page, &render(cmd.clone(), "vexjournal")?)?;
    written.push(page);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("vexjournal-{}", sub.get_name());
        let page = out.join(format!("{name}.1"));
        write_new(&page, &render(sub.clone(), &name)?)?;
        written.push(page);
    }
    let mut stdout = std::io::stdout().lock();
    for p in &written {
        writeln!(stdout, "wrote {}", p.display())?;
    }
    Ok(ExitCode::SUCCESS)
}
