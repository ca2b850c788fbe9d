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
use std::path::PathBuf;
use std::sync::atomic::Ordering::*;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::config::FsyncPolicy;
use crate::error::Result;
use crate::io::Io;
use crate::pipeline::Shared;

/// The file the syncer syncs, replaced by the writer at each rotation.
#[derive(Debug, Default)]
pub(crate) struct SyncTarget {
    current: Mutex<Option<(Arc<File>, PathBuf)>>,
}

impl SyncTarget {
    pub(crate) fn set(&self, file: Arc<File>, path: PathBuf) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some((file, path));
    }

    fn get(&self) -> Option<(Arc<File>, PathBuf)> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
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
            self.shared.fail(&e);
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
        if let Some((file, path)) = self.target.get() {
            let started = Instant::now();
            self.io.sync(&file, &path)?;
            let counters = &self.shared.counters;
            counters.fsyncs.fetch_add(1, Relaxed);
            counters
                .fsync_ns
                .fetch_add(started.elapsed().as_nanos() as u64, Relaxed);
        }
        self.last_sync = Instant::now();
        self.shared.durable.fetch_max(written, AcqRel);
        self.shared.progress.notify_all();
        Ok(())
    }
}
