//! `vexjournal torture-writer` (hidden): the child process of the crash torture tests
//! (`crates/vexjournal/tests/torture.rs`, `cargo xtask torture`).
//!
//! Several producer threads emit durable events — single `emit_durable` calls and
//! durable atomic batches — until the process is killed. Every acknowledgement is
//! printed on stdout as soon as it is received, one line each, flushed:
//!
//! ```text
//! open <next_seq>                      the journal is open (after recovery)
//! ack <seq> <producer> <index>         a single event is durable
//! batch <first> <last> <producer> <index of first>   an atomic batch is durable
//! ckpt <id> <durable_seq>              a checkpoint was taken
//! ```
//!
//! A checkpoint that fails is reported on stderr (`checkpoint failed: …`) and the run
//! goes on.
//!
//! Each producer numbers its events 0, 1, 2, … and waits for each acknowledgement
//! before emitting the next, so its events reach the journal in index order. The
//! content of event `index` of producer `p` is a function of `(p, index)` only (see
//! [`tagged`]), so the test can check every event it reads back; the events of a
//! batch share a transaction id and carry the batch size as subtype.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use vexfs_journal::{AgentOp, Event, FsOp, Journal, RecoveryMode, VectorOp};

use crate::Cli;

/// Write durable events from several threads and print each acknowledgement.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Producer threads.
    #[arg(long, default_value_t = 4)]
    producers: u64,
    /// Percentage of emissions that are atomic batches (the rest are single events).
    #[arg(long, default_value_t = 30)]
    batch_percent: u64,
    /// Largest atomic batch.
    #[arg(long, default_value_t = 8)]
    max_batch: u64,
    /// Take a checkpoint this often, milliseconds (0: never).
    #[arg(long, default_value_t = 0)]
    checkpoint_every_ms: u64,
    /// Stop after this many events per producer (0: run until killed).
    #[arg(long, default_value_t = 0)]
    max_events: u64,
    /// Seed of the choices between single events and batches.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of the first producer (producers are numbered from it, so the events of
    /// successive runs on one journal can be told apart).
    #[arg(long, default_value_t = 0)]
    producer_base: u64,
}

/// splitmix64 step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Event `index` of producer `p`: inode `p << 40 | index`, path `/torture/p/index`,
/// payload `p:index:` followed by `(p + index) % 300` copies of one letter; the type
/// rotates with the index.
pub fn tagged(p: u64, index: u64) -> Event {
    let letter = char::from(b'a' + ((p * 7 + index) % 26) as u8);
    let filler: String = std::iter::repeat_n(letter, ((p + index) % 300) as usize).collect();
    let ev = match index % 3 {
        0 => Event::filesystem(FsOp::Write),
        1 => Event::agent(AgentOp::Decision).agent_id(format!("producer-{p}")),
        _ => Event::vector(VectorOp::Embed),
    };
    ev.inode((p << 40) | index)
        .path(format!("/torture/{p}/{index}"))
        .payload(format!("{p}:{index}:{filler}").into_bytes())
}

pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let journal = cli
        .open_existing_with(&cli.dir, RecoveryMode::TolerateTail, 0)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let out = Mutex::new(std::io::stdout());
    let say = |line: String| -> Result<()> {
        let guard = out.lock().unwrap_or_else(|p| p.into_inner());
        let mut lock = guard.lock();
        writeln!(lock, "{line}")?;
        lock.flush()?;
        Ok(())
    };
    say(format!("open {}", journal.next_seq()))?;
    let finished = AtomicU64::new(0);
    let result: Result<()> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for p in args.producer_base..args.producer_base + args.producers {
            let journal = journal.clone();
            let (say, finished) = (&say, &finished);
            handles.push(s.spawn(move || -> Result<()> {
                let produced = produce(&journal, p, args, say);
                finished.fetch_add(1, Ordering::SeqCst);
                produced
            }));
        }
        if args.checkpoint_every_ms > 0 {
            let journal = journal.clone();
            let (say, finished) = (&say, &finished);
            let every = Duration::from_millis(args.checkpoint_every_ms);
            handles.push(s.spawn(move || -> Result<()> {
                while finished.load(Ordering::SeqCst) < args.producers {
                    std::thread::sleep(every);
                    // A failed checkpoint is reported on stderr; the run goes on.
                    match journal.create_checkpoint() {
                        Ok(c) => say(format!("ckpt {} {}", c.id, c.durable_seq))?,
                        Err(e) => eprintln!("checkpoint failed: {e}"),
                    }
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a torture thread panicked"))??;
        }
        Ok(())
    });
    result?;
    journal.close()?;
    Ok(ExitCode::SUCCESS)
}

/// The loop of producer `p`: single durable events and durable atomic batches, each
/// acknowledged on stdout once durable.
fn produce(
    journal: &Journal,
    p: u64,
    args: &Args,
    say: &(dyn Fn(String) -> Result<()> + Sync),
) -> Result<()> {
    let mut index = 0u64;
    let mut draw = mix(args.seed ^ (p << 32));
    while args.max_events == 0 || index < args.max_events {
        draw = mix(draw);
        let batch = args.max_batch >= 2 && draw % 100 < args.batch_percent;
        if batch {
            let n = 2 + (draw >> 8) % (args.max_batch - 1);
            let tx = ((p << 40) | index) + 1;
            let events: Vec<Event> = (index..index + n)
                .map(|i| tagged(p, i).tx(tx).subtype(n as u32))
                .collect();
            let range = journal.emit_batch_atomic(events)?;
            journal.wait_durable(range.end)?;
            say(format!(
                "batch {} {} {p} {index}",
                range.start,
                range.end - 1
            ))?;
            index += n;
        } else {
            let seq = journal.emit_durable(tagged(p, index))?;
            say(format!("ack {seq} {p} {index}"))?;
            index += 1;
        }
    }
    Ok(())
}
