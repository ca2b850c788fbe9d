//! `vexjournal key generate|id`: journal encryption keys (`docs/encryption.md`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use crate::Cli;

/// Encryption keys: make one, or name the key a journal and a key file hold.
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Generate a journal key into FILE (64 hex digits, mode 0600; FILE must not
    /// exist). Create an encrypted journal with `vexjournal --key-file FILE init`, and
    /// keep a copy of the key elsewhere: without it the journal cannot be read.
    Generate {
        /// Where to write the key.
        file: PathBuf,
    },
    /// Print the id of the key given (`--key-file`, `$VEXJOURNAL_KEY`) and of the key
    /// the journal in --dir was encrypted with; exit 1 when they differ.
    Id,
}

pub fn run(cli: &Cli, cmd: &KeyCommand) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cmd {
        KeyCommand::Generate { file } => {
            let key = vexfs_journal::keyfile::write_journal_key(file)?;
            writeln!(
                out,
                "wrote {} (key id {}); create an encrypted journal with `vexjournal --key-file {} --dir DIR init`",
                file.display(),
                key.id(),
                file.display()
            )?;
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Id => {
            let given = cli.key()?;
            let journal = vexfs_journal::JournalMeta::load(&cli.dir)
                .ok()
                .map(|m| m.encryption.map(|e| e.key_id));
            if given.is_none() && journal.is_none() {
                bail!(
                    "no key given (--key-file, $VEXJOURNAL_KEY) and no journal in {}",
                    cli.dir.display()
                );
            }
            if let Some(k) = &given {
                writeln!(out, "key given: {}", k.id())?;
            }
            match &journal {
                Some(Some(id)) => {
                    writeln!(out, "journal {}: encrypted, key {id}", cli.dir.display())?
                }
                Some(None) => writeln!(out, "journal {}: not encrypted", cli.dir.display())?,
                None => {}
            }
            let differ = matches!((&given, &journal), (Some(k), Some(Some(id))) if k.id().to_string() != *id);
            out.flush().context("writing")?;
            Ok(if differ {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
