//! Where command output goes: a buffered stdout, or a pager when stdout is a terminal.
//!
//! The pager is `$VEXJOURNAL_PAGER`, else `$PAGER`, else `less`; an empty value or
//! `cat` means none. `less` gets `LESS=FRXK` unless `$LESS` is set: it exits at once
//! when the output fits the screen, keeps colours and leaves the screen as it was.

use std::io::{BufWriter, StdoutLock, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// Output of a command: stdout or a pager's stdin, buffered.
pub enum Sink {
    /// Stdout, locked.
    Stdout(BufWriter<StdoutLock<'static>>),
    /// A pager process reading what is written.
    Pager {
        /// The pager.
        child: Child,
        /// Its stdin (taken when finishing).
        stdin: Option<BufWriter<ChildStdin>>,
    },
}

/// The pager command the environment asks for, if any.
fn pager_command() -> Option<String> {
    let cmd = std::env::var("VEXJOURNAL_PAGER")
        .or_else(|_| std::env::var("PAGER"))
        .unwrap_or_else(|_| "less".to_string());
    let cmd = cmd.trim().to_string();
    (!cmd.is_empty() && cmd != "cat").then_some(cmd)
}

impl Sink {
    /// Stdout, or a pager when `paged` (the caller checks that stdout is a terminal) and
    /// one can be started.
    pub fn open(paged: bool) -> Sink {
        if paged && let Some(cmd) = pager_command() {
            let mut c = Command::new("sh");
            c.arg("-c").arg(&cmd).stdin(Stdio::piped());
            if std::env::var_os("LESS").is_none() {
                c.env("LESS", "FRXK");
            }
            if let Ok(mut child) = c.spawn()
                && let Some(stdin) = child.stdin.take()
            {
                return Sink::Pager {
                    child,
                    stdin: Some(BufWriter::new(stdin)),
                };
            }
        }
        Sink::Stdout(BufWriter::new(std::io::stdout().lock()))
    }

    /// Flushes; with a pager, closes its input and waits until the user quits it.
    pub fn finish(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::Pager { child, stdin } => {
                let flushed = match stdin.take() {
                    Some(mut s) => s.flush(),
                    None => Ok(()),
                };
                child.wait()?;
                flushed
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::Pager { stdin: Some(s), .. } => s.write(buf),
            Sink::Pager { stdin: None, .. } => Err(std::io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::Pager { stdin: Some(s), .. } => s.flush(),
            Sink::Pager { stdin: None, .. } => Ok(()),
        }
    }
}

impl Drop for Sink {
    /// A pager is waited for even when the command fails, so the shell prompt does not
    /// come back under it.
    fn drop(&mut self) {
        if let Sink::Pager { child, stdin } = self {
            drop(stdin.take());
            let _ = child.wait();
        }
    }
}
