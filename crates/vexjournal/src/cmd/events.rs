//! What `query` and `cat` share: selecting events (filters, matches, -n/--head, -r, a
//! cursor), printing them in bounded memory, following with -f, and damaged blocks.

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use vexfs_journal::{
    Cursor, DamagedBlock, IndexError, JournalError, JournalReader, Query, StartAt, StoredEvent,
};

use super::filters::{Filters, Matcher, Matches};
use crate::Cli;
use crate::output::{
    EventFormat, EventWriter, OutputOptions, output_width, refuse_binary_to_terminal,
};
use crate::pager::Sink;

/// How to show the selected events.
#[derive(Debug, Clone, clap::Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub matches: Matches,
    /// Show the most recent N matching events (oldest of them first, newest first with
    /// --reverse), as journalctl -n.
    #[arg(short = 'n', long = "lines", value_name = "N")]
    pub lines: Option<usize>,
    /// Show the first N matching events (in query order).
    #[arg(long, value_name = "N", conflicts_with = "lines")]
    pub head: Option<usize>,
    /// Newest first.
    #[arg(short = 'r', long)]
    pub reverse: bool,
    /// After the matching events on disk, print new ones as they are written, until
    /// interrupted (like `vexjournal follow`).
    #[arg(short = 'f', long, conflicts_with_all = ["reverse", "head"])]
    pub follow: bool,
    /// Continue after the event this cursor points at.
    #[arg(long, value_name = "CURSOR")]
    pub after_cursor: Option<String>,
    /// Print the cursor after the last event on stderr ("cursor: …").
    #[arg(long)]
    pub show_cursor: bool,
    /// Warn about a damaged block and go on with the next (exit status 1 at the end);
    /// without it the command stops at the first damaged block, after printing every
    /// match before it.
    #[arg(long)]
    pub skip_damaged: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "ndjson")]
    pub output: EventFormat,
    /// Only these fields (comma-separated JSON field names) in the json, ndjson,
    /// json-pretty and cat formats.
    #[arg(long, value_name = "FIELD,…", value_delimiter = ',')]
    pub output_fields: Vec<String>,
    /// Never page the output (it is paged with $PAGER, or `less -FRX`, only when stdout is a terminal).
    #[arg(long)]
    pub no_pager: bool,
}

/// A forward or reverse cursor after event `seq` of the journal `reader` opened.
pub fn cursor_at(reader: &JournalReader, seq: u64, reverse: bool) -> Cursor {
    Cursor {
        journal: reader.meta().id,
        seq,
        reverse,
        generation: reader.generation(),
    }
}

/// The error for a damaged block a query stopped at.
fn damaged_error(d: &DamagedBlock) -> anyhow::Error {
    anyhow::anyhow!(
        "{d}; every match before it was printed. Pass --skip-damaged to go on past it; \
         `vexjournal verify` lists every damaged block and `vexjournal recover --mode \
         salvage` keeps every intact one"
    )
}

/// Replaces a damaged-block error with [`damaged_error`]'s text.
fn explain(e: JournalError) -> anyhow::Error {
    match e {
        JournalError::Index(IndexError::DamagedBlock(d)) => damaged_error(&d),
        other => other.into(),
    }
}

/// Runs `query` or `cat`.
pub fn run(cli: &Cli, filters: &Filters, show: &ShowArgs) -> Result<ExitCode> {
    refuse_binary_to_terminal(show.output)?;
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let mut q = filters.to_query()?;
    let matcher = show.matches.compile(&mut q)?;
    let opts = OutputOptions {
        utc: filters.utc,
        fields: show.output_fields.clone(),
        width: output_width(),
        stream: show.follow,
    };
    opts.check_fields()?;
    let after = show
        .after_cursor
        .as_deref()
        .map(|c| reader.parse_cursor(c))
        .transpose()?;
    // Read committed: what lies past an undecided transaction is not listed, and a
    // follow must still show it once decided.
    let visible_end = reader.followable_end();
    let paged = !show.no_pager
        && !show.follow
        && show.output != EventFormat::Kernel
        && std::io::stdout().is_terminal();
    let mut sink = Sink::open(paged);
    let mut out = EventWriter::with_options(&mut sink, show.output, opts);
    let mut skipped: Vec<DamagedBlock> = Vec::new();
    let mut on_damaged = |d: &DamagedBlock| {
        if show.skip_damaged {
            eprintln!("warning: skipped {d}");
            skipped.push(d.clone());
        }
        show.skip_damaged
    };

    // The events on disk. `last` is the last one printed, in printing order.
    let mut last: Option<u64> = None;
    let mut io_err: Option<std::io::Error> = None;
    let listed: Result<(), JournalError> = match show.lines {
        Some(n) => {
            // The most recent n: walk backwards, keep n, print them in the asked order.
            let mut q = q.clone();
            q.reverse = true;
            if let Some(c) = after {
                if c.reverse {
                    if c.seq == 0 {
                        q.to_seq = Some(0);
                        q.from_seq = Some(1);
                    } else {
                        q.to_seq = Some(q.to_seq.unwrap_or(u64::MAX).min(c.seq - 1));
                    }
                } else {
                    q.from_seq = Some(q.from_seq.unwrap_or(0).max(c.seq.saturating_add(1)));
                }
            }
            let mut kept: VecDeque<StoredEvent> = VecDeque::with_capacity(n.min(4096));
            let r = if n == 0 {
                Ok(())
            } else {
                reader.query_visit_or_skip(
                    &q,
                    |v| {
                        let ev = StoredEvent::from(v);
                        if matcher.matches(&ev) {
                            kept.push_back(ev);
                        }
                        kept.len() < n
                    },
                    &mut on_damaged,
                )
            };
            if !show.reverse {
                kept.make_contiguous().reverse();
            }
            for ev in &kept {
                if let Err(e) = out.write(ev) {
                    io_err = Some(e);
                    break;
                }
                last = Some(ev.seq);
            }
            r
        }
        None => {
            let limit = show.head.unwrap_or(usize::MAX);
            let mut q = q.clone();
            q.reverse = show.reverse;
            q.after = after;
            if limit == 0 {
                Ok(())
            } else {
                reader.query_visit_or_skip(
                    &q,
                    |v| {
                        let ev = StoredEvent::from(v);
                        if !matcher.matches(&ev) {
                            return true;
                        }
                        if let Err(e) = out.write(&ev) {
                            io_err = Some(e);
                            return false;
                        }
                        last = Some(ev.seq);
                        out.count() < limit
                    },
                    &mut on_damaged,
                )
            }
        }
    };
    if let Some(e) = io_err {
        return Err(e.into());
    }
    if let Err(e) = listed {
        // Close the output first (a JSON array ends with `]`), then fail.
        out.finish()?;
        sink.finish()?;
        return Err(explain(e));
    }
    if show.follow {
        follow_on(&reader, &q, &matcher, last, visible_end, &mut out)?;
    }
    out.finish()?;
    sink.finish()?;
    if !show.follow
        && let Some((tx, seq)) = reader.held_by()?
    {
        eprintln!(
            "note: events from sequence {seq} on are not shown: coordinated transaction {tx} \
             is undecided there (readers wait for its decision; `vexjournal --dir COORDINATOR \
             consistency check` finds it)"
        );
    }
    if show.show_cursor {
        let printed_reverse = show.reverse;
        match last {
            Some(seq) => eprintln!(
                "cursor: {}",
                cursor_at(&reader, seq, printed_reverse).encode()
            ),
            None => match after {
                Some(c) => eprintln!("cursor: {}", c.encode()),
                None => eprintln!("cursor: (none: no events)"),
            },
        }
    }
    if !skipped.is_empty() {
        let seqs: Vec<String> = skipped
            .iter()
            .map(|d| format!("{}..={}", d.first_seq, d.last_seq))
            .collect();
        eprintln!(
            "error: skipped {} damaged block(s) holding sequences {}; `vexjournal verify` \
             names them, `vexjournal recover --mode salvage` keeps every intact block",
            skipped.len(),
            seqs.join(", ")
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// `-f`: prints matches written after what was listed, until interrupted.
fn follow_on<W: Write>(
    reader: &JournalReader,
    q: &Query,
    matcher: &Matcher,
    last: Option<u64>,
    visible_end: u64,
    out: &mut EventWriter<W>,
) -> Result<()> {
    out.flush()?;
    let mut q = q.clone();
    q.reverse = false;
    q.after = None;
    q.limit = None;
    // Everything below the visible end was looked at already.
    let seen = last.unwrap_or(0).max(visible_end.saturating_sub(1));
    let start = if visible_end == 0 && last.is_none() {
        StartAt::Beginning
    } else {
        StartAt::After(cursor_at(reader, seen, false))
    };
    for item in reader.subscribe(q, start)? {
        let ev = item?;
        if matcher.matches(&ev) {
            out.write(&ev)?;
            out.flush()?;
        }
    }
    Ok(())
}
