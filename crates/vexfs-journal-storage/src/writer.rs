//! The writer thread: drains the emission buffer in sequence order, encodes records,
//! packs them into compressed blocks, writes each group commit with one `pwrite`,
//! syncs per the fsync policy, rotates segments and applies retention.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::Ordering::*;
use std::time::{Duration, Instant};

use vexfs_journal_format::block::EventSpan;
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::record::encode_record;
use vexfs_journal_format::{Event, RecordExt};

use crate::config::StorageConfig;
use crate::dir::sync_dir;
use crate::error::{Result, StorageError};
use crate::io::Io;
use crate::pipeline::{Entry, Payload, Shared};
use crate::segment::{Segment, append_block, entry_for};
use crate::store::Store;
use crate::syncer::SyncTarget;

pub use vexfs_journal_format::record::RECORD_FLAG_GAP_BEFORE;

/// Longest a group commit keeps collecting events while more keep arriving.
const MAX_COMMIT_DELAY: Duration = Duration::from_millis(2);

/// Times the writer looks for new entries (yielding in between) before sleeping.
const SPINS_BEFORE_SLEEP: usize = 64;

/// Receives every block the writer produces (used to build indexes incrementally).
pub trait BlockObserver: Send {
    /// A block of `segment` was encoded; `records` are its uncompressed records. Called
    /// before the block is written: on a failed write the journal stops and indexes
    /// are checked against the segments at the next open.
    fn on_block(&mut self, segment: &Segment, entry: &BlockEntry, records: &[u8]);
    /// `segment` was sealed (rotation).
    fn on_seal(&mut self, segment: &Segment);
    /// `segment` was deleted by retention.
    fn on_remove(&mut self, segment: &Segment);
}

#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // see Payload: entries move through unboxed
enum Item {
    Entry(Entry),
    Gap(u64, u64),
}

impl Item {
    fn seq(&self) -> u64 {
        match self {
            Item::Entry(e) => e.seq,
            Item::Gap(s, _) => *s,
        }
    }
}

struct Queued(Item);
impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.0.seq() == other.0.seq()
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.seq().cmp(&other.0.seq())
    }
}

/// What the writer shares with the engine.
pub(crate) struct WriterParts {
    pub shared: Arc<Shared>,
    pub store: Arc<Store>,
    pub config: StorageConfig,
    pub io: Io,
    pub sync_target: Arc<SyncTarget>,
    pub observer: Option<Box<dyn BlockObserver>>,
}

/// Whether an idle writer waits for more work or is finished.
enum Idle {
    Waiting,
    Finished,
}

/// Looks for new entries a few times (yielding in between) before the writer sleeps.
fn spin_for_work(shared: &Shared) -> bool {
    for _ in 0..SPINS_BEFORE_SLEEP {
        if !shared.queue.is_empty() || !shared.gaps.is_empty() || shared.is_closing() {
            return true;
        }
        std::thread::yield_now();
    }
    false
}

/// The writer's state behind a lock: held by the writer thread while it works, and by
/// a caller leading a durable write while the writer thread is idle.
pub(crate) struct WriterCell {
    writer: std::sync::Mutex<Writer>,
    shared: Arc<Shared>,
    /// The writer thread has exited: nobody may lead any more.
    finished: std::sync::atomic::AtomicBool,
}

impl WriterCell {
    pub(crate) fn new(writer: Writer) -> Arc<WriterCell> {
        Arc::new(WriterCell {
            shared: writer.shared.clone(),
            writer: std::sync::Mutex::new(writer),
            finished: std::sync::atomic::AtomicBool::new(false),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The writer, if it is idle and running (nobody else holds it).
    pub(crate) fn try_lead(&self) -> Option<std::sync::MutexGuard<'_, Writer>> {
        if self.finished.load(SeqCst) {
            return None;
        }
        // A poisoned writer (a panic while writing) is left to the writer thread.
        self.writer
            .try_lock()
            .ok()
            .filter(|_| !self.finished.load(SeqCst))
    }
}

/// The state owned by the writer thread.
pub(crate) struct Writer {
    shared: Arc<Shared>,
    store: Arc<Store>,
    config: StorageConfig,
    io: Io,
    active: Arc<Segment>,
    file: Arc<File>,
    sync_target: Arc<SyncTarget>,
    /// Next sequence to encode.
    next: u64,
    reorder: BinaryHeap<Reverse<Queued>>,
    /// Records of the block being built.
    raw: Vec<u8>,
    span: EventSpan,
    /// Finished blocks not yet written, and their table entries.
    out: Vec<u8>,
    out_entries: Vec<BlockEntry>,
    gap_pending: bool,
    block_clock: i64,
    /// The last time the clock assigned (I56).
    clock_last: i64,
    commit_events: u64,
    commit_started: Option<Instant>,
    observer: Option<Box<dyn BlockObserver>>,
    /// The active segment's file length: space up to here is allocated (preallocated
    /// space reads as zeros).
    allocated: u64,
}

impl Writer {
    pub(crate) fn new(parts: WriterParts, active: Arc<Segment>, file: File) -> Writer {
        let WriterParts {
            shared,
            store,
            config,
            io,
            sync_target,
            observer,
        } = parts;
        let next = shared.next_seq.load(Acquire);
        let clock_last = shared.clock.now();
        // A reopened segment may hold space preallocated by the last session.
        let allocated = file.metadata().map_or(0, |m| m.len());
        let file = Arc::new(file);
        sync_target.set(active.clone(), file.clone());
        Writer {
            shared,
            store,
            config,
            io,
            active,
            file,
            sync_target,
            next,
            reorder: BinaryHeap::new(),
            raw: Vec::with_capacity(256 << 10),
            span: EventSpan::default(),
            out: Vec::with_capacity(1 << 20),
            out_entries: Vec::new(),
            gap_pending: false,
            block_clock: 0,
            clock_last,
            commit_events: 0,
            commit_started: None,
            observer,
            allocated,
        }
    }

    /// The writer thread: runs passes while there is work, lets a leading caller take
    /// over while it is idle, and stops when the journal closes or a write fails.
    pub(crate) fn run(cell: Arc<WriterCell>) {
        let shared = cell.shared.clone();
        loop {
            let outcome = {
                let mut writer = cell.lock();
                writer.busy_loop()
            };
            match outcome {
                Ok(Idle::Waiting) => {}
                Ok(Idle::Finished) => break,
                Err(e) => {
                    // A failed data write already cut what it wrote (see `write_out`);
                    // nothing else is truncated here: the failure may have hit a seal,
                    // whose footer must stay.
                    shared.fail(e);
                    break;
                }
            }
            // Unlocked: a durable caller may lead (see `lead`). Producers usually
            // follow within microseconds: look again a few times before paying for a
            // sleep and a wake-up.
            if spin_for_work(&shared) {
                continue;
            }
            let listener = shared.writer_wake.listen();
            if shared.queue.is_empty() && shared.gaps.is_empty() && !shared.is_closing() {
                listener.wait_timeout(Duration::from_millis(100));
            }
        }
        cell.finished.store(true, SeqCst);
        shared.set_writer_done();
    }

    /// Works until nothing is queued: whether the writer should wait for more or is
    /// finished (closed, or failed elsewhere).
    fn busy_loop(&mut self) -> Result<Idle> {
        loop {
            if self.shared.is_failed() {
                return Ok(Idle::Finished);
            }
            if self.pass()? {
                continue;
            }
            if self.shared.is_closing()
                && self.shared.pending() == 0
                && self.shared.queue.is_empty()
                && self.shared.gaps.is_empty()
                && self.reorder.is_empty()
            {
                self.commit()?;
                // A closed journal keeps no preallocated space: its next open then
                // finds the file ending where the clean-shutdown record says.
                if self.allocated > self.active.end() {
                    self.io
                        .set_len(&self.file, self.active.path(), self.active.end())?;
                    self.allocated = self.active.end();
                }
                return Ok(Idle::Finished);
            }
            return Ok(Idle::Waiting);
        }
    }

    /// One pass: takes what is queued (in sequence order) and commits when due.
    /// Returns whether it did anything.
    fn pass(&mut self) -> Result<bool> {
        // Drain while events keep coming, so groups grow with load, but commit at
        // least every MAX_COMMIT_DELAY or max_write_bytes so durable waits and readers
        // never wait behind a producer that outpaces the disk.
        let mut took = false;
        for (seq, n) in self.shared.gaps.take() {
            took = true;
            self.accept(Item::Gap(seq, n))?;
        }
        let mut popped = 0u32;
        // The clock is read once every 32 entries.
        while !popped.is_multiple_of(32) || !self.commit_due() {
            let Some(entry) = self.shared.queue.pop() else {
                break;
            };
            self.shared.release(entry.payload.len());
            popped += 1;
            took = true;
            self.accept(Item::Entry(entry))?;
        }
        let work = self.commit_events > 0 || self.next > self.shared.written.load(Acquire);
        if work && (self.commit_due() || self.shared.queue.is_empty()) {
            self.commit()?;
            return Ok(true);
        }
        Ok(took)
    }

    /// The durable fast path, on a caller's thread holding the writer (the writer
    /// thread being idle): writes what is queued and syncs it here, so a lone durable
    /// write costs no thread hand-off (raft-engine's write barrier, with the writer
    /// thread as the fallback). Returns whether everything below `target` is durable;
    /// if not (an earlier sequence is still on its way from another producer), the
    /// caller waits as usual.
    pub(crate) fn lead(&mut self, target: u64) -> Result<bool> {
        let shared = self.shared.clone();
        if shared.is_failed() || shared.is_closing() {
            return Ok(false);
        }
        shared.sync_request.fetch_max(target, SeqCst);
        let result = (|| {
            // Work until the target is written (or nothing is left to take): a
            // stream of other producers must not keep the caller here.
            while shared.written.load(SeqCst) < target && self.pass()? {}
            if shared.durable.load(SeqCst) < target && shared.written.load(SeqCst) >= target {
                self.sync_here()?;
                shared.progress.notify_all();
            }
            Ok(shared.durable.load(SeqCst) >= target)
        })();
        result.map_err(|e| {
            // As on the writer thread: the journal stops, every waiter gets the cause.
            shared.fail(e);
            shared.failure_error()
        })
    }

    fn commit_due(&self) -> bool {
        self.out.len() >= self.config.max_write_bytes
            || self
                .commit_started
                .is_some_and(|t| t.elapsed() >= MAX_COMMIT_DELAY)
    }

    /// Takes an item; processes it and any reordered successors when it is next.
    fn accept(&mut self, item: Item) -> Result<()> {
        if item.seq() != self.next {
            self.reorder.push(Reverse(Queued(item)));
            return Ok(());
        }
        self.process(item)?;
        while self
            .reorder
            .peek()
            .is_some_and(|Reverse(Queued(i))| i.seq() == self.next)
        {
            if let Some(Reverse(Queued(item))) = self.reorder.pop() {
                self.process(item)?;
            }
        }
        Ok(())
    }

    fn process(&mut self, item: Item) -> Result<()> {
        if self.commit_started.is_none() {
            self.commit_started = Some(Instant::now());
        }
        match item {
            Item::Gap(_, n) => {
                self.next += n;
                self.gap_pending = true;
            }
            Item::Entry(Entry {
                seq,
                mut payload,
                clocked,
            }) => {
                let n = payload.len();
                if clocked {
                    self.apply_clock(&mut payload);
                }
                match payload {
                    Payload::One(ev) => {
                        self.encode(seq, &ev, 0)?;
                        if self.raw.len() >= self.config.block_bytes
                            || self.span.count as usize >= self.config.block_events
                        {
                            self.finish_block()?;
                        }
                    }
                    Payload::Batch(events) => self.encode_batch(seq, &events, 0)?,
                    Payload::Tx(tx, events) => self.encode_shared_batch(seq, &events, tx)?,
                }
                self.next = seq + n;
                self.commit_events += n;
            }
        }
        Ok(())
    }

    /// Raises the stamped times of `payload` to the journal's clock, in sequence order.
    fn apply_clock(&mut self, payload: &mut Payload) {
        let clock = &self.shared.clock;
        for ev in payload.events_mut() {
            let t = clock.assign(ev.timestamp.ktime_ns, self.clock_last);
            ev.timestamp.ktime_ns = t;
            self.clock_last = t;
        }
        clock.publish(self.clock_last);
    }

    /// Encodes an atomic batch (sequences from `seq`) into a block of its own.
    fn encode_batch(&mut self, seq: u64, events: &[Event], cross_boundary_id: u64) -> Result<()> {
        // An atomic batch lives in exactly one block.
        if !self.raw.is_empty() {
            self.finish_block()?;
        }
        for (i, ev) in events.iter().enumerate() {
            self.encode(seq + i as u64, ev, cross_boundary_id)?;
        }
        self.finish_block()
    }

    /// Encodes a coordinated transaction's batch (its events, or a marker) within one
    /// block, after what the block being built holds when it fits there (I2). Such
    /// batches are small and frequent (an event or two per participant per
    /// transaction): alone, each would cost a block header, a block-table entry and a
    /// read per record. A crash still leaves all of the batch or none, since a block is
    /// checked whole.
    fn encode_shared_batch(
        &mut self,
        seq: u64,
        events: &[Event],
        cross_boundary_id: u64,
    ) -> Result<()> {
        let mut bytes = 0usize;
        for ev in events {
            // Events were validated on emission; a failure here is a bug, reported as
            // such.
            bytes += vexfs_journal_format::record::check_record(ev)
                .map_err(StorageError::InvalidEvent)?;
        }
        if self.raw.len() + bytes > self.config.block_bytes
            || self.span.count as usize + events.len() > self.config.block_events
        {
            self.finish_block()?;
        }
        for (i, ev) in events.iter().enumerate() {
            self.encode(seq + i as u64, ev, cross_boundary_id)?;
        }
        if self.raw.len() >= self.config.block_bytes
            || self.span.count as usize >= self.config.block_events
        {
            self.finish_block()?;
        }
        Ok(())
    }

    fn encode(&mut self, seq: u64, ev: &Event, cross_boundary_id: u64) -> Result<()> {
        // One clock read per block: processing time is the block's encoding time.
        if self.span.count == 0 {
            self.block_clock = crate::clock::now_ns();
        }
        let now = self.block_clock;
        let ext = RecordExt {
            userspace_flags: if std::mem::take(&mut self.gap_pending) {
                RECORD_FLAG_GAP_BEFORE
            } else {
                0
            },
            emission_latency_ns: u64::try_from(now.saturating_sub(ev.timestamp.ktime_ns))
                .unwrap_or(0),
            buffer_position: seq % self.config.buffer_capacity as u64,
            cross_boundary_id,
            userspace_sequence: seq,
            processing_timestamp: u64::try_from(now).unwrap_or(0),
            persistence_timestamp: u64::try_from(now).unwrap_or(0),
            retry_count: 0,
        };
        // Events were validated on emission; a failure here is a bug, reported as such.
        encode_record(ev, &ext, &mut self.raw).map_err(StorageError::InvalidEvent)?;
        self.span.push(seq, ev.event_id, ev.timestamp);
        Ok(())
    }

    /// Compresses the records built so far into a block appended to `out`.
    fn finish_block(&mut self) -> Result<()> {
        if self.span.count == 0 {
            return Ok(());
        }
        let mut start = self.out.len();
        let mut block_size = append_block(
            &mut self.out,
            &self.raw,
            &self.span,
            self.config.compression,
            self.config.zstd_level,
            self.config.frame_bytes,
        )?;
        // An encrypted block is encrypted below, once its place is known.
        let overhead = if self.store.cipher().is_some() {
            vexfs_journal_cipher::OVERHEAD
        } else {
            0
        };

        // Rotate before this block if it would overflow a non-empty segment.
        let would_end = self.active.end() + (self.out.len() + overhead) as u64;
        let segment_has_data = !self.active.blocks().is_empty() || start > 0;
        if would_end > self.config.segment_size && segment_has_data {
            let block = self.out.split_off(start);
            self.write_out()?;
            self.rotate(self.span.first_seq)?;
            self.out = block;
            start = 0;
        }
        let offset = self.active.end() + self.out_entries_len();
        if let Some(crypt) = self.active.crypt() {
            block_size = crypt.encrypt_block(&mut self.out, start, offset)?;
        }
        let entry = entry_for(offset, block_size as u32, self.raw.len() as u32, &self.span);
        if let Some(obs) = self.observer.as_mut() {
            obs.on_block(&self.active, &entry, &self.raw);
        }
        let counters = &self.shared.counters;
        counters.raw_bytes.fetch_add(self.raw.len() as u64, Relaxed);
        counters.stored_bytes.fetch_add(block_size as u64, Relaxed);
        counters.blocks.fetch_add(1, Relaxed);
        self.out_entries.push(entry);
        self.raw.clear();
        self.span = EventSpan::default();
        // Bound every write call: a torn write damages at most this much.
        if self.out.len() >= self.config.max_write_bytes {
            self.write_out()?;
        }
        Ok(())
    }

    /// Bytes of `out` already assigned to entries.
    fn out_entries_len(&self) -> u64 {
        self.out_entries.iter().map(|e| u64::from(e.size)).sum()
    }

    /// Writes the finished blocks with one `pwrite` and publishes them to readers.
    fn write_out(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let at = self.active.end();
        self.preallocate(at + self.out.len() as u64);
        if let Err(e) = self
            .io
            .write_at(&self.file, self.active.path(), &self.out, at)
        {
            // Cut whatever part of the write landed (and any preallocated space); the
            // journal stops either way.
            let _ = self.file.set_len(at);
            return Err(e);
        }
        let mut events = 0u64;
        for entry in self.out_entries.drain(..) {
            events += u64::from(entry.event_count);
            self.active.push_block(entry);
        }
        self.shared.counters.persisted.fetch_add(events, Relaxed);
        self.out.clear();
        Ok(())
    }

    /// Makes sure the active segment's file reaches `end`, allocating
    /// `preallocate_bytes` at a time (never past the segment size) so that most
    /// fdatasyncs need not commit a new file size. Best effort: when the file system
    /// refuses, the writer appends as before.
    fn preallocate(&mut self, end: u64) {
        let step = self.config.preallocate_bytes;
        if step == 0 || end <= self.allocated {
            return;
        }
        let target = end
            .next_multiple_of(step)
            .min(self.config.segment_size)
            .max(end);
        match self
            .io
            .preallocate(&self.file, self.allocated, target - self.allocated)
        {
            Ok(()) => self.allocated = target,
            Err(e) => {
                tracing::debug!(segment = %self.active.path().display(), error = %e, "preallocation refused; appending without it");
                // Not again for this segment.
                self.allocated = u64::MAX;
            }
        }
    }

    /// Ends a group commit: writes, syncs per policy, advances the watermarks.
    fn commit(&mut self) -> Result<()> {
        self.finish_block()?;
        self.write_out()?;
        let counters = &self.shared.counters;
        if self.commit_events > 0 {
            counters.commits.fetch_add(1, Relaxed);
            counters
                .max_commit_events
                .fetch_max(self.commit_events, Relaxed);
            counters.batch_events.record(self.commit_events);
        }
        if let Some(t) = self.commit_started.take() {
            counters
                .commit_ns
                .fetch_add(t.elapsed().as_nanos() as u64, Relaxed);
        }
        self.commit_events = 0;
        self.shared.written.store(self.next, SeqCst);
        // Someone waits for durability and nothing else is queued: sync here rather
        // than hand over to the sync thread (one wake-up less per durable emit).
        if self.shared.sync_request.load(SeqCst) > self.shared.durable.load(SeqCst)
            && self.shared.queue.is_empty()
        {
            self.sync_here()?;
        }
        // The sync thread is needed only for what is not durable yet.
        if self.shared.durable.load(SeqCst) < self.next {
            self.shared.sync_wake.notify_all();
        }
        self.shared.progress.notify_all();
        Ok(())
    }

    /// Syncs the active segment on this thread: everything written so far is durable.
    fn sync_here(&mut self) -> Result<()> {
        let shared = self.shared.clone();
        let _gate = shared.sync_gate.lock().unwrap_or_else(|p| p.into_inner());
        if shared.durable.load(SeqCst) >= self.next {
            // The sync thread's fsync, which ran while this waited, covered it all.
            return Ok(());
        }
        let started = Instant::now();
        let end = self.active.end();
        self.io.sync(&self.file, self.active.path())?;
        self.shared
            .counters
            .record_fsync(started.elapsed().as_nanos() as u64);
        self.sync_target
            .record_durable_end(&self.active, &self.file, end, &self.io)?;
        self.shared.durable.fetch_max(self.next, SeqCst);
        Ok(())
    }

    /// Seals the active segment and starts a new one whose first event is `first_seq`.
    fn rotate(&mut self, first_seq: u64) -> Result<()> {
        // Hold the sync target while sealing and switching (see SyncTarget).
        let target = self.sync_target.clone();
        let mut current = target.lock();
        // The footer goes right after the last block: cut the preallocated space.
        if self.allocated > self.active.end() {
            self.io
                .set_len(&self.file, self.active.path(), self.active.end())?;
        }
        self.active.seal(&self.file, &self.io)?;
        if let Some(obs) = self.observer.as_mut() {
            obs.on_seal(&self.active);
        }
        let previous = self.active.header();
        let (seg, file) = Segment::create(
            self.store.dir(),
            first_seq,
            self.config.compression,
            &self.io,
            Some(&previous),
            self.store.cipher(),
        )?;
        self.store.push(seg.clone());
        // The sealed segment's facts and the new open segment are recorded before any
        // event goes to the new file (a crash in between leaves an empty unrecorded
        // segment, which the next open adopts).
        let sealed = crate::manifest::entry_of_segment(&self.active)?;
        let opened = crate::manifest::entry_of_segment(&seg)?;
        self.store.update_manifest(|m| {
            m.segments.retain(|s| s.first_seq != sealed.first_seq);
            m.segments.push(sealed);
            m.segments.push(opened);
            m.next_seq_floor = m.next_seq_floor.max(sealed.next_seq);
            Ok(())
        })?;
        self.file = Arc::new(file);
        self.allocated = seg.end();
        *current = Some((seg.clone(), self.file.clone()));
        drop(current);
        self.active = seg;
        self.shared.counters.rotations.fetch_add(1, Relaxed);
        self.apply_retention()
    }

    /// Deletes the oldest sealed segments beyond the size or age limits.
    fn apply_retention(&mut self) -> Result<()> {
        let retention = self.config.retention;
        if retention.max_total_bytes.is_none() && retention.max_age.is_none() {
            return Ok(());
        }
        let segments = self.store.segments();
        let mut total: u64 = segments.iter().map(|s| s.end()).sum();
        let cutoff = retention.max_age.map(|age| {
            crate::clock::now_ns().saturating_sub(i64::try_from(age.as_nanos()).unwrap_or(i64::MAX))
        });
        let mut doomed = Vec::new();
        for seg in segments.iter().filter(|s| s.is_sealed()) {
            let too_big = retention.max_total_bytes.is_some_and(|max| total > max);
            let newest = seg.time_range().map(|(_, newest)| newest);
            let too_old = cutoff.is_some_and(|c| newest.is_none_or(|t| t < c));
            if !too_big && !too_old {
                break;
            }
            total = total.saturating_sub(seg.end());
            doomed.push(seg.clone());
        }
        if doomed.is_empty() {
            return Ok(());
        }
        // Recorded as removed before the files go: a crash in between leaves leftovers
        // the next open deletes, never a listed segment that is missing.
        self.store.update_manifest(|m| {
            for seg in &doomed {
                m.segments.retain(|s| s.first_seq != seg.first_seq());
                crate::manifest::record_removal(
                    m,
                    seg.first_seq(),
                    seg.next_seq(),
                    vexfs_journal_format::manifest::RemovalReason::Retention,
                );
            }
            Ok(())
        })?;
        let mut removed = false;
        for seg in &doomed {
            self.store.remove(seg.first_seq());
            if let Some(obs) = self.observer.as_mut() {
                obs.on_remove(seg);
            }
            std::fs::remove_file(seg.path())
                .map_err(|e| StorageError::io("deleting old segment", seg.path(), e))?;
            self.shared.counters.segments_deleted.fetch_add(1, Relaxed);
            tracing::info!(segment = %seg.path().display(), "retention deleted segment");
            removed = true;
        }
        if removed {
            sync_dir(self.store.dir())?;
        }
        Ok(())
    }
}
