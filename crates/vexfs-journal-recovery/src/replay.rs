//! The replay engine: deliver the events matching a query, from a start position, to a
//! sink — in sequence order or not, reading and checking blocks in parallel.
//!
//! Blocks are taken in chunks; the blocks of a chunk are read, checked (optionally
//! re-verifying every checksum) and decoded by a rayon pool, then delivered. Memory is
//! bounded by one chunk whatever the journal's size. Between chunks the replay checks a
//! cancellation flag and reports progress; the last sequence delivered is a resumable
//! position.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rayon::prelude::*;
use serde::Serialize;
use vexfs_journal_format::record::RecordView;
use vexfs_journal_index::query::visit_records;
use vexfs_journal_index::{Cursor, Executor, Index, Query};
use vexfs_journal_storage::store::stored;
use vexfs_journal_storage::{BlockRef, Store, StoredEvent};

use crate::error::{RecoveryError, Result};

/// Whether the sink sees events in sequence order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Order {
    /// In sequence order (default).
    #[default]
    Sequence,
    /// As blocks finish, from several threads (faster; resume is at chunk granularity).
    Any,
}

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Which events (sequence bounds, filters, cursor). `limit` and `reverse` are not
    /// used: a replay goes forward to the end.
    pub query: Query,
    /// Worker threads (0: one per core).
    pub parallelism: usize,
    /// Delivery order.
    pub order: Order,
    /// Re-verify every block and event checksum and the structure of every record.
    pub validate: bool,
    /// Blocks read in parallel per round.
    pub chunk_blocks: usize,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            query: Query::new(),
            parallelism: 0,
            order: Order::Sequence,
            validate: false,
            chunk_blocks: 128,
        }
    }
}

/// Where a replay is.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Progress {
    /// Candidate blocks done.
    pub blocks_done: u64,
    /// Candidate blocks in all.
    pub blocks_total: u64,
    /// Events delivered.
    pub events: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// Time since the start, seconds.
    pub seconds: f64,
}

/// What a replay did.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct ReplayReport {
    /// Events delivered.
    pub events: u64,
    /// Blocks read.
    pub blocks: u64,
    /// Decompressed bytes read.
    pub bytes: u64,
    /// Time taken.
    #[serde(skip)]
    pub elapsed: Duration,
    /// Every matching event up to this sequence was delivered (resume after it).
    pub resume_after: Option<u64>,
    /// Stopped by the cancellation flag or the sink.
    pub stopped: bool,
    /// The journal's generation during the replay (for the resume cursor).
    pub generation: u64,
}

impl ReplayReport {
    /// Events per second.
    pub fn rate(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// A cursor resuming after the last position fully delivered.
    pub fn resume_cursor(&self, journal: uuid::Uuid) -> Option<Cursor> {
        self.resume_after.map(|seq| Cursor {
            journal,
            seq,
            reverse: false,
            generation: self.generation,
        })
    }
}

/// Replays a journal's segments with its indexes.
#[derive(Debug, Clone, Copy)]
pub struct Replayer<'a> {
    /// The segments.
    pub store: &'a Store,
    /// The indexes.
    pub index: &'a Index,
    /// The journal id (cursors).
    pub journal: uuid::Uuid,
}

struct Loaded {
    block: BlockRef,
    records: Vec<u8>,
}

/// What every replay variant shares: the candidate blocks' sequence bounds and the
/// query, with `limit` and `reverse` cleared.
struct Plan {
    lo: u64,
    hi: u64,
    query: Query,
}

impl Replayer<'_> {
    fn pool(&self, options: &ReplayOptions) -> Result<rayon::ThreadPool> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(options.parallelism)
            .thread_name(|i| format!("vexjournal-replay-{i}"))
            .build()
            .map_err(|e| {
                RecoveryError::io(
                    "starting replay threads for",
                    "replay",
                    std::io::Error::other(e.to_string()),
                )
            })
    }

    fn load(&self, block: &BlockRef, validate: bool) -> Result<Loaded> {
        let data = if validate {
            block.segment.read_block_validated(&block.entry)?
        } else {
            block.segment.read_block(&block.entry)?
        };
        Ok(Loaded {
            block: block.clone(),
            records: data.records,
        })
    }

    /// Plans the replay, then hands the candidate blocks to `chunk` a chunk at a time
    /// with the worker pool, checking `cancel` before each chunk and reporting progress
    /// after it. `chunk` updates the report and returns false when the sink stopped.
    fn drive(
        &self,
        options: &ReplayOptions,
        visible_end: u64,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        mut chunk: impl FnMut(&Plan, &rayon::ThreadPool, &[BlockRef], &mut ReplayReport) -> Result<bool>,
    ) -> Result<ReplayReport> {
        let started = Instant::now();
        let mut query = options.query.clone();
        query.reverse = false;
        query.limit = None;
        let exec = Executor {
            index: self.index,
            store: self.store,
            journal: self.journal,
        };
        let (blocks, (lo, hi)) = exec.candidate_blocks(&query, visible_end)?;
        let plan = Plan { lo, hi, query };
        let pool = self.pool(options)?;
        let mut report = ReplayReport {
            generation: self.store.generation(),
            ..ReplayReport::default()
        };
        for blocks_of_chunk in blocks.chunks(options.chunk_blocks.max(1)) {
            if cancel.load(Ordering::Relaxed) {
                report.stopped = true;
                break;
            }
            if !chunk(&plan, &pool, blocks_of_chunk, &mut report)? {
                report.stopped = true;
                break;
            }
            progress(&Progress {
                blocks_done: report.blocks,
                blocks_total: blocks.len() as u64,
                events: report.events,
                bytes: report.bytes,
                seconds: started.elapsed().as_secs_f64(),
            });
        }
        report.elapsed = started.elapsed();
        Ok(report)
    }

    /// Replays to a sink of borrowed records (no copy), in sequence order. The sink
    /// returns false to stop.
    pub fn replay_views(
        &self,
        options: &ReplayOptions,
        visible_end: u64,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &mut dyn FnMut(&RecordView<'_>) -> bool,
    ) -> Result<ReplayReport> {
        let mut offsets = Vec::new();
        self.drive(
            options,
            visible_end,
            cancel,
            progress,
            |plan, pool, chunk, report| {
                let loaded: Vec<Result<Loaded>> = pool.install(|| {
                    chunk
                        .par_iter()
                        .map(|b| self.load(b, options.validate))
                        .collect()
                });
                for item in loaded {
                    let l = item?;
                    report.blocks += 1;
                    report.bytes += l.records.len() as u64;
                    let mut last = None;
                    let more = visit_records(
                        &plan.query,
                        &l.records,
                        plan.lo,
                        plan.hi,
                        &mut offsets,
                        |v| {
                            report.events += 1;
                            last = Some(v.ext().userspace_sequence);
                            sink(v)
                        },
                    )
                    .map_err(|e| damaged(&l.block, e))?;
                    if !more {
                        report.resume_after = last;
                        return Ok(false);
                    }
                    report.resume_after = Some(l.block.entry.last_seq.min(plan.hi));
                }
                Ok(true)
            },
        )
    }

    /// Replays owned events to a sink, in sequence order; events are decoded in
    /// parallel. The sink returns false to stop.
    pub fn replay(
        &self,
        options: &ReplayOptions,
        visible_end: u64,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &mut dyn FnMut(StoredEvent) -> bool,
    ) -> Result<ReplayReport> {
        self.drive(
            options,
            visible_end,
            cancel,
            progress,
            |plan, pool, chunk, report| {
                let decoded: Vec<Result<(BlockRef, u64, Vec<StoredEvent>)>> = pool.install(|| {
                    chunk
                        .par_iter()
                        .map(|b| self.decode(b, plan, options.validate))
                        .collect()
                });
                for item in decoded {
                    let (block, bytes, events) = item?;
                    report.blocks += 1;
                    report.bytes += bytes;
                    for ev in events {
                        let seq = ev.seq;
                        report.events += 1;
                        if !sink(ev) {
                            report.resume_after = Some(seq);
                            return Ok(false);
                        }
                    }
                    report.resume_after = Some(block.entry.last_seq.min(plan.hi));
                }
                Ok(true)
            },
        )
    }

    fn decode(
        &self,
        block: &BlockRef,
        plan: &Plan,
        validate: bool,
    ) -> Result<(BlockRef, u64, Vec<StoredEvent>)> {
        let l = self.load(block, validate)?;
        let mut events = Vec::new();
        let mut offsets = Vec::new();
        visit_records(
            &plan.query,
            &l.records,
            plan.lo,
            plan.hi,
            &mut offsets,
            |v| {
                events.push(stored(v));
                true
            },
        )
        .map_err(|e| damaged(block, e))?;
        Ok((l.block, l.records.len() as u64, events))
    }

    /// Replays owned events to a sink called from the worker threads, in no particular
    /// order. The resumable position advances by whole chunks.
    pub fn replay_unordered(
        &self,
        options: &ReplayOptions,
        visible_end: u64,
        cancel: &AtomicBool,
        progress: &mut dyn FnMut(&Progress),
        sink: &(dyn Fn(StoredEvent) + Sync),
    ) -> Result<ReplayReport> {
        let failure: Mutex<Option<RecoveryError>> = Mutex::new(None);
        self.drive(
            options,
            visible_end,
            cancel,
            progress,
            |plan, pool, chunk, report| {
                let counts: Vec<(u64, u64)> = pool.install(|| {
                    chunk
                        .par_iter()
                        .map(|b| match self.decode(b, plan, options.validate) {
                            Ok((_, bytes, events)) => {
                                let n = events.len() as u64;
                                events.into_iter().for_each(sink);
                                (n, bytes)
                            }
                            Err(e) => {
                                let mut f = failure.lock().unwrap_or_else(|p| p.into_inner());
                                f.get_or_insert(e);
                                (0, 0)
                            }
                        })
                        .collect()
                });
                if let Some(e) = failure.lock().unwrap_or_else(|p| p.into_inner()).take() {
                    return Err(e);
                }
                report.blocks += chunk.len() as u64;
                for (n, bytes) in counts {
                    report.events += n;
                    report.bytes += bytes;
                }
                if let Some(last) = chunk.last() {
                    report.resume_after = Some(last.entry.last_seq.min(plan.hi));
                }
                Ok(true)
            },
        )
    }
}

/// A record of `block` that does not decode.
fn damaged(block: &BlockRef, e: vexfs_journal_format::FormatError) -> RecoveryError {
    vexfs_journal_storage::StorageError::format(block.segment.path(), block.entry.offset, e).into()
}
