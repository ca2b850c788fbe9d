//! `vexjournal serve [--unix PATH | --listen ADDR]`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::Follow;
use vexfs_journal_server::{Principals, Server};

use crate::Cli;

/// Serve the journal over HTTP: `GET /events` (NDJSON, or Server-Sent Events whose ids
/// are cursors, resumable with Last-Event-ID), `GET /events/SEQ`, `GET /stats`,
/// `GET /health`, `GET /metrics` (Prometheus text); with --ingest also `POST /events`
/// (NDJSON, one atomic batch per request, `?durable=1` to answer after fsync).
///
/// With --auth, every request needs `Authorization: Bearer TOKEN` of a principal of the
/// token file (lines `NAME TOKEN MASK [write]`), and sees only the events its mask
/// allows.
///
/// Listens on a Unix socket by default: $XDG_RUNTIME_DIR/vexjournal-ID.sock (or the
/// temporary directory), ID being the journal's id; TCP only with --listen. Serves
/// until interrupted (Ctrl-C or SIGTERM), then removes its socket.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The Unix socket to listen on.
    #[arg(long, value_name = "PATH", conflicts_with = "listen")]
    unix: Option<PathBuf>,
    /// A TCP address to listen on instead, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Require bearer tokens of this file (lines `NAME TOKEN MASK [write]`; mode 600).
    #[arg(long, value_name = "TOKENFILE")]
    auth: Option<PathBuf>,
    /// Write the journal too: accept `POST /events` (no other process may write it
    /// meanwhile).
    #[arg(long)]
    ingest: bool,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let principals = match &args.auth {
        Some(path) => Some(Principals::load(path)?),
        None => None,
    };
    if let Some(addr) = args.listen
        && !addr.ip().is_loopback()
        && principals.is_none()
    {
        anyhow::bail!(
            "{addr} is reachable from other machines and --auth is not given: anyone could \
             read the journal; give --auth TOKENFILE, or listen on 127.0.0.1"
        );
    }
    if args.ingest {
        let journal = cli
            .open_existing(&cli.dir)
            .with_context(|| format!("opening the journal in {} to write", cli.dir.display()))?;
        let served = serve(cli, args, Server::writer(journal.clone()), principals);
        let closed = journal.close().context("closing the journal");
        served?;
        closed?;
    } else {
        let reader = cli
            .open_reader(&cli.dir)
            .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
        serve(cli, args, Server::reader(reader), principals)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn serve<F: Follow>(
    cli: &Cli,
    args: &Args,
    server: Server<F>,
    principals: Option<Principals>,
) -> Result<()> {
    let id = server.journal_id();
    let server = match principals {
        Some(p) => server.principals(p),
        None => server,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        if let Some(addr) = args.listen {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr}"))?;
            eprintln!(
                "serving {} on http://{}",
                cli.dir.display(),
                listener.local_addr()?
            );
            tokio::select! {
                r = server.serve(listener) => r?,
                () = interrupted() => {}
            }
        } else {
            let path = match &args.unix {
                Some(p) => p.clone(),
                None => default_socket(id),
            };
            remove_stale(&path)?;
            let listener = tokio::net::UnixListener::bind(&path)
                .with_context(|| format!("listening on {}", path.display()))?;
            eprintln!("serving {} on unix:{}", cli.dir.display(), path.display());
            let served = tokio::select! {
                r = server.serve(listener) => r,
                () = interrupted() => Ok(()),
            };
            // Best effort: a leftover socket is removed by the next server anyway.
            let _ = std::fs::remove_file(&path);
            served?;
        }
        Ok::<_, anyhow::Error>(())
    })
}

/// Resolves on Ctrl-C or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Outside the journal directory (whose unknown files are reported): the runtime
/// directory, else the temporary one, named by the journal's id.
fn default_socket(id: vexfs_journal::Uuid) -> PathBuf {
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_dir())
        .unwrap_or_else(std::env::temp_dir);
    base.join(format!("vexjournal-{id}.sock"))
}

/// Removes a socket no server answers on; refuses to replace a live one or a file
/// that is not a socket.
fn remove_stale(path: &Path) -> Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        anyhow::bail!("{} exists and is not a socket", path.display());
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        anyhow::bail!("a server already listens on {}", path.display());
    }
    std::fs::remove_file(path).with_context(|| format!("removing the stale {}", path.display()))
}
