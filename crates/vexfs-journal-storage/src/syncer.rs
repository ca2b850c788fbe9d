//! The sync thread: makes written events durable without stalling the writer.
//!
//! The writer thread only encodes, compresses and writes; this thread calls
//! `fdatasync` on the active segment whenever the fsync policy (or a caller waiting for
//! durability) asks for it, then advances the durable watermark to what was written
//! *before* the call. While a sync runs the writer keeps filling the next group, so
//! group commits grow to cover the sync latency by themselves.
//!
//! Ordering with rotation: the writer seals (and syncs) a segment before it publishes
//! the next one as current, and publishes `written` only after writing. The syncer reads
//! `written` first and the current file second, so every event counted in `written` is
//! either in a sealed (synced) segment or in the file it syncs.

use std::fs::File;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::FsyncPolicy;
use crate::error::Result;
use crate::io::Io;
use crate::pipeline::Shared;
use crate::segment::Segment;

/// The segment the syncer syncs, replaced by the writer at each rotation. The writer
/// holds the lock while it seals and switches segments, so the syncer never rewrites
/// the header of a segment being sealed.
#[derive(Debug, Default)]
pub(crate) struct SyncTarget {
    current: Mutex<Option<(Arc<Segment>, Arc<File>)>>,
}

impl SyncTarget {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Option<(Arc<Segment>, Arc<File>)>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self, segment: Arc<Segment>, file: Arc<File>) {
        *self.lock() = Some((segment, file));
    }

    fn get(&self) -> Option<(Arc<Segment>, Arc<File>)> {
        self.lock().clone()
    }

    /// After a sync covering the first `end` bytes of `segment`: records that in the
    /// segment's header (`journal_size`). The next sync makes the record durable, so
    /// after a crash the header never claims more than what was really synced;
    /// recovery uses it to tell a torn unsynced tail from damage to acknowledged data.
    pub(crate) fn record_durable_end(
        &self,
        segment: &Arc<Segment>,
        file: &File,
        end: u64,
        io: &Io,
    ) -> Result<()> {
        let guard = self.lock();
        let still_current = guard.as_ref().is_some_and(|(s, _)| Arc::ptr_eq(s, segment));
        if still_current && !segment.is_sealed() && segment.header().journal_size < end {
            segment.update_header(file, io, |h| {
                h.journal_size = end;
                h.modification_timestamp = crate::clock::unix_secs();
            })?;
        }
        Ok(())
    }
}

pub(crate) struct Syncer {
    shared: Arc<Shared>,
    target: Arc<SyncTarget>,
    io: Io,
    policy: FsyncPolicy,
    last_sync: Instant,
}

impl Syncer {
    pub(crate) fn new(
        shared: Arc<Shared>,
        target: Arc<SyncTarget>,
        io: Io,
        policy: FsyncPolicy,
    ) -> Self {
        Syncer {
            shared,
            target,
            io,
            policy,
            last_sync: Instant::now(),
        }
    }

    pub(crate) fn run(mut self) {
        if let Err(e) = self.main_loop() {
            self.shared.fail(e);
        }
    }

    /// Whether everything below `written` should be synced now, and if not, how long
    /// to wait before asking again.
    fn due(&self, written: u64) -> (bool, Duration) {
        let durable = self.shared.durable.load(Acquire);
        if written <= durable {
            return (false, Duration::from_millis(100));
        }
        if self.shared.sync_request.load(Acquire) > durable || self.shared.writer_done() {
            return (true, Duration::ZERO);
        }
        match self.policy {
            FsyncPolicy::Batch => (true, Duration::ZERO),
            FsyncPolicy::Interval(d) => {
                let left = d.saturating_sub(self.last_sync.elapsed());
                (left.is_zero(), left.max(Duration::from_micros(100)))
            }
            FsyncPolicy::Never => (false, Duration::from_millis(100)),
        }
    }

    fn main_loop(&mut self) -> Result<()> {
        loop {
            if self.shared.is_failed() {
                return Ok(());
            }
            let written = self.shared.written.load(SeqCst);
            let (due, wait) = self.due(written);
            if due {
                self.sync(written)?;
                continue;
            }
            if self.shared.writer_done() && written <= self.shared.durable.load(Acquire) {
                return Ok(());
            }
            let listener = self.shared.sync_wake.listen();
            let written = self.shared.written.load(SeqCst);
            if !self.due(written).0 && !self.shared.writer_done() && !self.shared.is_failed() {
                listener.wait_timeout(wait);
            }
        }
    }

    fn sync(&mut self, written: u64) -> Result<()> {
        let shared = self.shared.clone();
        let _gate = shared.sync_gate.lock().unwrap_or_else(|p| p.into_inner());
        if shared.durable.load(Acquire) >= written {
            // An fsync on the writer's or a caller's thread covered it meanwhile.
            self.last_sync = Instant::now();
            return Ok(());
        }
        if let Some((segment, file)) = self.target.get() {
            // Every byte below `end` was written before this sync starts.
            let end = segment.end();
            let started = Instant::now();
            self.io.sync(&file, segment.path())?;
            self.shared
                .counters
                .record_fsync(started.elapsed().as_nanos() as u64);
            self.target
                .record_durable_end(&segment, &file, end, &self.io)?;
        }
        self.last_sync = Instant::now();
        self.shared.durable.fetch_max(written, AcqRel);
        self.shared.progress.notify_all();
        Ok(())
    }
}
