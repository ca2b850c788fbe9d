//! `vexjournal follow`

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::StartAt;

use super::events::cursor_at;
use super::filters::{Filters, Matches};
use crate::Cli;
use crate::output::{
    EventFormat, EventWriter, OutputOptions, output_width, refuse_binary_to_terminal,
};

/// Print matching events as they are written (by any process), like `journalctl -f`,
/// until interrupted.
///
/// Starts with new events, or after --after-cursor, or with the last -n matches. With
/// --cursor-file, the cursor of each printed event is saved there and a restart with
/// the same file resumes exactly after it.
///
/// A follow never ends, so `-o json` prints one JSON object per line (as `-o ndjson`)
/// and `-o json-pretty` indented objects one after another, never an array.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    filters: Filters,
    #[command(flatten)]
    matches: Matches,
    /// First print the last N matching events.
    #[arg(short = 'n', long = "lines")]
    n: Option<usize>,
    /// Continue after the event this cursor points at.
    #[arg(long, value_name = "CURSOR")]
    after_cursor: Option<String>,
    /// Read the start cursor from FILE (if it exists) and keep it up to date there.
    #[arg(long, value_name = "FILE")]
    cursor_file: Option<std::path::PathBuf>,
    /// Print each event's cursor on stderr ("cursor: …").
    #[arg(long)]
    show_cursor: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "ndjson")]
    output: EventFormat,
    /// Only these fields (comma-separated JSON field names) in the json, ndjson,
    /// json-pretty and cat formats.
    #[arg(long, value_name = "FIELD,…", value_delimiter = ',')]
    output_fields: Vec<String>,
    /// Follow through an event server (`vexjournal serve`) instead of the files:
    /// http://HOST:PORT, unix:PATH or a socket path. Reconnects by itself and resumes
    /// after the last event printed.
    #[arg(long, value_name = "URL|SOCKET")]
    server: Option<String>,
    /// The bearer token for --server: the first line of FILE (default: the
    /// VEXJOURNAL_TOKEN environment variable).
    #[arg(long, value_name = "FILE", requires = "server")]
    token_file: Option<std::path::PathBuf>,
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    refuse_binary_to_terminal(args.output)?;
    if let Some(server) = &args.server {
        return run_remote(args, server);
    }
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let mut q = args.filters.to_query()?;
    let matcher = args.matches.compile(&mut q)?;
    let opts = output_options(args)?;
    let saved = saved_cursor(args)?;
    let start = match args.after_cursor.as_deref().or(saved.as_deref()) {
        Some(text) => StartAt::After(reader.parse_cursor(text)?),
        None => match args.n {
            Some(n) if n > 0 => {
                // The n-th most recent match (FIELD=VALUE and --grep included).
                let mut last = q.clone();
                last.reverse = true;
                let mut found = 0usize;
                let mut oldest = None;
                reader.query_visit(&last, |v| {
                    let ev = vexfs_journal::StoredEvent::from(v);
                    if matcher.matches(&ev) {
                        found += 1;
                        oldest = Some(ev.seq);
                    }
                    found < n
                })?;
                match oldest {
                    Some(seq) => StartAt::After(cursor_at(&reader, seq.saturating_sub(1), false)),
                    None => StartAt::Now,
                }
            }
            _ => StartAt::Now,
        },
    };
    let mut out = EventWriter::with_options(
        std::io::BufWriter::new(std::io::stdout().lock()),
        args.output,
        opts,
    );
    for item in reader.subscribe(q, start)? {
        let ev = item?;
        if !matcher.matches(&ev) {
            continue;
        }
        out.write(&ev)?;
        out.flush()?;
        record_cursor(args, &cursor_at(&reader, ev.seq, false).encode())?;
    }
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// The query string of `GET /events` for what the filters ask; refuses the filters the
/// server does not take.
fn server_target(q: &vexfs_journal::Query) -> Result<String> {
    let unsupported = [
        (q.from_seq.is_some(), "--from-seq"),
        (q.to_seq.is_some(), "--to-seq"),
        (q.priority_at_least.is_some(), "--priority-at-least"),
        (q.priority_at_most.is_some(), "--priority-at-most"),
        (
            q.visibility.is_some(),
            "--visible-to (the server applies your token's mask)",
        ),
    ];
    if let Some((_, flag)) = unsupported.iter().find(|(on, _)| *on) {
        anyhow::bail!("{flag} is not available with --server");
    }
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("follow", "1");
    for t in &q.types {
        s.append_pair("type", &t.to_string());
    }
    for c in &q.categories {
        s.append_pair("category", &c.to_string());
    }
    if let Some(p) = &q.path_prefix {
        let p = std::str::from_utf8(p).context("--path-prefix must be UTF-8 with --server")?;
        s.append_pair("path_prefix", p);
    }
    if let Some(a) = &q.agent {
        let a = std::str::from_utf8(a).context("--agent must be UTF-8 with --server")?;
        s.append_pair("agent", a);
    }
    if let Some(tx) = q.tx {
        s.append_pair("tx", &tx.to_string());
    }
    if let Some(t) = q.since_ns {
        s.append_pair("since", &t.to_string());
    }
    if let Some(t) = q.until_ns {
        s.append_pair("until", &t.to_string());
    }
    Ok(format!("/events?{}", s.finish()))
}

fn run_remote(args: &Args, server: &str) -> Result<ExitCode> {
    use super::remote::{Endpoint, RemoteFollow};
    let endpoint = Endpoint::parse(server)?;
    let mut q = args.filters.to_query()?;
    let matcher = args.matches.compile(&mut q)?;
    let mut target = server_target(&q)?;
    // Like a local follow: new events only, or the last -n first.
    target.push_str(&format!("&tail={}", args.n.unwrap_or(0)));
    let token = match &args.token_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .with_context(|| format!("reading the token from {}", f.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string(),
        ),
        None => std::env::var("VEXJOURNAL_TOKEN").ok(),
    };
    let opts = output_options(args)?;
    let saved = saved_cursor(args)?.map(|c| c.trim().to_string());
    let mut follow = RemoteFollow::new(endpoint, target, token);
    // A resume position replaces the tail (the server takes one or the other; a
    // Last-Event-ID header wins over the URL).
    follow.cursor = args.after_cursor.clone().or(saved);
    let mut out = EventWriter::with_options(
        std::io::BufWriter::new(std::io::stdout().lock()),
        args.output,
        opts,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(follow.run(&mut |r| {
        if !matcher.matches(&r.event) {
            return Ok(());
        }
        out.write(&r.event)?;
        out.flush()?;
        record_cursor(args, &r.cursor)?;
        Ok(())
    }))?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}

/// The output options the flags ask for, checked.
fn output_options(args: &Args) -> Result<OutputOptions> {
    let opts = OutputOptions {
        utc: args.filters.utc,
        fields: args.output_fields.clone(),
        width: output_width(),
        stream: true,
    };
    opts.check_fields()?;
    Ok(opts)
}

/// The cursor --cursor-file holds, if the file exists.
fn saved_cursor(args: &Args) -> Result<Option<String>> {
    match &args.cursor_file {
        Some(f) if f.exists() => Ok(Some(
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?,
        )),
        _ => Ok(None),
    }
}

/// After an event is printed: saves its cursor to --cursor-file (atomically) and
/// shows it with --show-cursor.
fn record_cursor(args: &Args, cursor: &str) -> Result<()> {
    if let Some(f) = &args.cursor_file {
        let tmp = f.with_extension("tmp");
        std::fs::write(&tmp, cursor)
            .and_then(|_| std::fs::rename(&tmp, f))
            .with_context(|| format!("saving the cursor to {}", f.display()))?;
    }
    if args.show_cursor {
        let mut err = std::io::stderr().lock();
        writeln!(err, "cursor: {cursor}")?;
    }
    Ok(())
}
