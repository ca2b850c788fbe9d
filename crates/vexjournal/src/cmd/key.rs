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
    /// Re-encrypt the journal in --dir (closed) from its key (--key-file,
    /// `$VEXJOURNAL_KEY`) to the key in NEW_KEY_FILE, atomically: a crash leaves it
    /// under one key or the other, never both; run it again to finish.
    Rotate {
        /// The new key (from `key generate`; mode 0600).
        #[arg(long, value_name = "FILE")]
        new_key_file: PathBuf,
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
        KeyCommand::Rotate { new_key_file } => {
            let Some(old) = cli.key()? else {
                bail!(
                    "give the journal's current key (--key-file, $VEXJOURNAL_KEY) and the new one with --new-key-file"
                );
            };
            let new = std::sync::Arc::new(vexfs_journal::keyfile::read_journal_key(new_key_file)?);
            let r = vexfs_journal::rotate_key(&cli.dir, &old, &new).with_context(|| {
                format!(
                    "rotating the key of {} (needs the journal closed)",
                    cli.dir.display()
                )
            })?;
            if r.already_done {
                writeln!(
                    out,
                    "{} is already encrypted with key {}: nothing to do",
                    cli.dir.display(),
                    r.new_key_id
                )?;
            } else {
                writeln!(
                    out,
                    "re-encrypted {} segments ({} blocks, {} bytes) of {} from key {} to key {} in {:.3} s; use the new key from now on",
                    r.segments,
                    r.blocks,
                    r.bytes,
                    cli.dir.display(),
                    r.old_key_id,
                    r.new_key_id,
                    r.elapsed.as_secs_f64()
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
        KeyCommand::Id => {
            let given = cli.key()?;
            let journal = vexfs_journal::JournalMeta::load_effective(&cli.dir)
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
