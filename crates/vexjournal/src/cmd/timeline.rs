//! `vexjournal timeline DIR…`: several journals merged into one causal timeline
//! (`vexfs_journal_coordinator::timeline`, I56).

use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use vexfs_journal::JournalReader;
use vexfs_journal::tx::{TxRole, role_of};
use vexfs_journal_coordinator::timeline;

use super::filters::Filters;
use crate::Cli;
use crate::output::{details, subject};
use crate::pager::Sink;

/// Merge journals into one timeline: each journal's events in its own order, the
/// journals interleaved by time. Journals stamp times with a hybrid logical clock and
/// coordinated transactions order their markers after their events, so an effect never
/// comes before its cause. Reads committed events only, like `cat`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The journals, as DIR or NAME=DIR (the name defaults to the directory's last
    /// component). --dir is not used.
    #[arg(value_name = "[NAME=]DIR", required = true)]
    journals: Vec<String>,
    #[command(flatten)]
    filters: Filters,
    /// Print only the first N events of the timeline.
    #[arg(long, value_name = "N")]
    head: Option<usize>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "short")]
    output: TimelineFormat,
    /// Never page the output (it is paged only when stdout is a terminal).
    #[arg(long)]
    no_pager: bool,
}

/// How `timeline` prints events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TimelineFormat {
    /// One line per event: time (ns: the clocks count nanoseconds), journal, sequence,
    /// type, subject, details.
    Short,
    /// One JSON object per line: the event as `cat` prints it, with `journal`.
    Ndjson,
}

/// `NAME=DIR` or `DIR` → (name, dir).
fn parse_journal(arg: &str) -> Result<(String, PathBuf)> {
    if let Some((name, dir)) = arg.split_once('=')
        && !name.is_empty()
        && !name.contains('/')
    {
        if dir.is_empty() {
            bail!("{arg:?}: no directory after `=` (give NAME=DIR)");
        }
        return Ok((name.to_string(), PathBuf::from(dir)));
    }
    let dir = PathBuf::from(arg);
    let name = dir
        .canonicalize()
        .unwrap_or_else(|_| dir.clone())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| arg.to_string());
    Ok((name, dir))
}

pub fn run(_cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut names = Vec::new();
    let mut readers = Vec::new();
    let mut seen = BTreeSet::new();
    for arg in &args.journals {
        let (name, dir) = parse_journal(arg)?;
        if !seen.insert(name.clone()) {
            bail!(
                "two journals are named {name:?}: name them apart with NAME=DIR (e.g. a={})",
                dir.display()
            );
        }
        let reader = JournalReader::open(&dir)
            .with_context(|| format!("opening journal {name} in {}", dir.display()))?;
        names.push(name);
        readers.push(reader);
    }
    let query = args.filters.to_query()?;
    let utc = args.filters.utc;
    let width = names.iter().map(String::len).max().unwrap_or(0);
    let paged = !args.no_pager && std::io::stdout().is_terminal();
    let mut sink = Sink::open(paged);
    let limit = args.head.unwrap_or(usize::MAX);
    for item in timeline::merge(&readers, &query).take(limit) {
        let t = item.with_context(|| "reading the journals")?;
        let name = &names[t.journal];
        let ev = &t.event;
        let written = match args.output {
            TimelineFormat::Ndjson => {
                let mut v = vexfs_journal::json::to_json(ev);
                if let Some(o) = v.as_object_mut() {
                    o.insert("journal".into(), serde_json::Value::String(name.clone()));
                }
                serde_json::to_writer(&mut sink, &v)
                    .map_err(std::io::Error::from)
                    .and_then(|_| sink.write_all(b"\n"))
            }
            TimelineFormat::Short => {
                let e = &ev.event;
                let time = crate::time::format_in(e.timestamp.ktime_ns, utc, "%b %d %H:%M:%S%.9f");
                let mut text = format!("{time} {name:<width$} {:>6} {}", ev.seq, e.event_type);
                for part in [subject(e), details(e), tx_note(ev)] {
                    if !part.is_empty() {
                        text.push(' ');
                        text.push_str(&part);
                    }
                }
                writeln!(sink, "{text}")
            }
        };
        if let Err(e) = written {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e.into());
        }
    }
    sink.finish()?;
    for (name, reader) in names.iter().zip(&readers) {
        if let Some((tx, seq)) = reader.held_by()? {
            eprintln!(
                "note: {name}: events from sequence {seq} on are not shown: coordinated \
                 transaction {tx} is undecided there"
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What a coordinated transaction's event or marker says of it.
fn tx_note(ev: &vexfs_journal::StoredEvent) -> String {
    match role_of(ev) {
        TxRole::None => String::new(),
        TxRole::Member(tx) => format!("[tx {tx}]"),
        // The marker's details already name the transaction.
        TxRole::Marker(_, d) => format!("[{}]", d.as_str()),
    }
}
