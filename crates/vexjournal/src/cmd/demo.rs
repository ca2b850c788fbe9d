//! `vexjournal demo`: the README's main job.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use vexfs_journal::{AgentOp, Config, EventType, Journal, JournalReader};

use crate::Cli;
use crate::output::{
    EventFormat, EventWriter, human_bytes, human_count, human_ns, kv_table, peak_rss_bytes,
};
use crate::workload::Workload;

/// Ingest a realistic mixed workload, reopen the journal and summarise it.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Events to ingest (at least 1).
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    events: u64,
    /// Producer threads.
    #[arg(long, default_value_t = 2)]
    producers: u64,
    /// Where to put the demo journal: a new or empty directory, or one an earlier demo
    /// made (then replaced). Anything else is refused.
    #[arg(long, default_value = "./vexjournal-demo")]
    path: PathBuf,
}

pub fn run(_cli: &Cli, args: &Args) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let dir = &args.path;
    prepare(dir)?;
    writeln!(
        out,
        "vexfs-journal demo: {} mixed events (filesystem, vector, graph, agent, observability) into {}",
        args.events,
        dir.display()
    )?;

    let journal = Arc::new(Journal::create(dir, Config::default())?);
    let bar = ProgressBar::with_draw_target(Some(args.events), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "  ingest {bar:40.cyan/blue} {pos:>8}/{len} events  {per_sec:>14}  {elapsed_precise}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let producers = args.producers.max(1);
    let started = Instant::now();
    let handles: Vec<_> = (0..producers)
        .map(|p| {
            let journal = journal.clone();
            let bar = bar.clone();
            let count = args.events / producers + if p == 0 { args.events % producers } else { 0 };
            std::thread::spawn(move || -> Result<Histogram<u64>> {
                let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
                let mut workload = Workload::new(p, None);
                for i in 0..count {
                    let ev = workload.next_event();
                    let t = Instant::now();
                    journal.emit(ev)?;
                    hist.record(t.elapsed().as_nanos() as u64)?;
                    if i % 4096 == 4095 {
                        bar.inc(4096);
                    }
                }
                bar.inc(count % 4096);
                Ok(hist)
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for h in handles {
        hist.add(
            h.join()
                .map_err(|_| anyhow::anyhow!("producer panicked"))??,
        )?;
    }
    journal.sync()?;
    let ingest = started.elapsed();
    bar.finish_and_clear();
    let metrics = journal.metrics();
    journal.close()?;
    drop(journal);

    let reopen_started = Instant::now();
    let reopened = Journal::open_existing(dir)?;
    let reopen = reopen_started.elapsed();
    let stats = reopened.stats();
    let next = reopened.next_seq();
    reopened.close()?;
    if stats.events != args.events {
        bail!(
            "reopened journal holds {} events, expected {}",
            stats.events,
            args.events
        );
    }

    let reader = JournalReader::open(dir)?;
    writeln!(out, "\nFirst events:")?;
    let mut events = EventWriter::new(std::io::stdout().lock(), EventFormat::Table);
    for ev in reader.scan(1..6) {
        events.write(&ev?)?;
    }
    events.finish()?;
    writeln!(out, "Latest agent decisions:")?;
    let decision = EventType::from(AgentOp::Decision);
    let mut events = EventWriter::new(std::io::stdout().lock(), EventFormat::Table);
    let tail_from = next.saturating_sub(2_000);
    let decisions: Vec<_> = reader
        .scan(tail_from..next)
        .filter(|r| r.as_ref().map_or(true, |e| e.event.event_type == decision))
        .collect::<Result<_, _>>()?;
    for ev in decisions.iter().rev().take(3).rev() {
        events.write(ev)?;
    }
    events.finish()?;

    let secs = ingest.as_secs_f64().max(1e-9);
    let rows = vec![
        (
            "events".to_string(),
            format!(
                "{} in {:.2} s with {} producers",
                stats.events, secs, producers
            ),
        ),
        (
            "durable throughput".into(),
            format!(
                "{} events/s, {:.1} MB/s of records",
                human_count(stats.events as f64 / secs),
                metrics.raw_bytes as f64 / 1e6 / secs
            ),
        ),
        (
            "emit latency".into(),
            format!(
                "p50 {}  p95 {}  p99 {}  p99.9 {}",
                human_ns(hist.value_at_quantile(0.5)),
                human_ns(hist.value_at_quantile(0.95)),
                human_ns(hist.value_at_quantile(0.99)),
                human_ns(hist.value_at_quantile(0.999))
            ),
        ),
        (
            "group commits".into(),
            format!(
                "{} ({} fsyncs, {:.0} events each)",
                metrics.batches_processed, metrics.fsyncs, metrics.avg_batch_size
            ),
        ),
        (
            "on disk".into(),
            format!(
                "{} in {} segment(s), {:.1} B/event",
                human_bytes(stats.disk_bytes),
                stats.segments,
                stats.disk_bytes as f64 / stats.events.max(1) as f64
            ),
        ),
        (
            "compression".into(),
            format!(
                "lz4 {:.2}x ({} of records)",
                stats.compression_ratio,
                human_bytes(stats.raw_bytes)
            ),
        ),
        (
            "reopen".into(),
            format!("{} ({} events found)", human_duration(reopen), stats.events),
        ),
        (
            "peak RSS".into(),
            peak_rss_bytes().map_or("-".into(), human_bytes),
        ),
    ];
    writeln!(out, "Summary:\n{}", kv_table(&rows))?;
    // `--head`: `-n` means the most recent events, as in journalctl.
    writeln!(
        out,
        "Explore it:\n  vexjournal --dir {0} stats\n  vexjournal --dir {0} cat --from-seq {1} --head 5 -o table",
        dir.display(),
        (args.events / 2).clamp(1, 1000)
    )?;
    Ok(ExitCode::SUCCESS)
}

/// The file `demo` writes into its directory: only a directory holding it is replaced.
pub const DEMO_MARKER: &str = "VEXJOURNAL-DEMO";

/// Makes `dir` ready for a new demo: creates it, or empties it if an earlier demo made
/// it (it holds [`DEMO_MARKER`]), then marks it. Refuses anything else: a real
/// journal or other files are never removed.
fn prepare(dir: &Path) -> Result<()> {
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        let empty = entries.next().is_none();
        if !empty {
            if !dir.join(DEMO_MARKER).is_file() {
                bail!(
                    "{} {}; demo replaces only a directory an earlier demo made (marked by its \
                     {DEMO_MARKER} file): choose another --path, or remove it yourself",
                    dir.display(),
                    if crate::outfile::is_journal_dir(dir) {
                        "holds a journal that `vexjournal demo` did not create"
                    } else {
                        "is not empty and is not a vexfs journal"
                    }
                );
            }
            std::fs::remove_dir_all(dir)
                .with_context(|| format!("removing the previous demo in {}", dir.display()))?;
        }
    }
    // 0700 as a journal's own directories (a wide umask must not make it one the
    // journal refuses to write).
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(
        dir.join(DEMO_MARKER),
        "This journal was made by `vexjournal demo`; the next demo with this --path replaces it.\n",
    )
    .with_context(|| format!("marking {} as a demo directory", dir.display()))
}

fn human_duration(d: Duration) -> String {
    human_ns(d.as_nanos() as u64)
}
