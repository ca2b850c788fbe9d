//! The storage engine's own test helpers: a small configuration, reading a journal
//! back, and a gate that holds the writer thread. Helpers every crate's tests share
//! (tagged events, noise, file surgery) are in `vexfs-journal-testkit`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_storage::{
    BlockObserver, Engine, OpenOptions, Segment, StorageConfig, StoredEvent,
};

/// A configuration with small segments and blocks, so tests rotate and cut blocks
/// without writing much.
pub fn small_config() -> StorageConfig {
    StorageConfig {
        segment_size: 64 << 10,
        block_bytes: 4096,
        max_write_bytes: 16 << 10,
        buffer_capacity: 1024,
        ..StorageConfig::default()
    }
}

/// Every written event of the journal, in order.
pub fn read_all(engine: &Engine) -> Vec<StoredEvent> {
    engine.scan(0..u64::MAX).map(|r| r.expect("scan")).collect()
}

/// Creates a journal in `dir` with `config` whose writer stops at the returned gate,
/// which starts closed.
pub fn gated_engine(dir: &std::path::Path, config: StorageConfig) -> (Engine, Arc<Gate>) {
    let gate = Gate::closed();
    let engine = Engine::open_with(
        dir,
        OpenOptions {
            config: Some(config),
            create: true,
            create_new: true,
            observer: Some(gate.observer()),
            ..Default::default()
        },
    )
    .unwrap();
    (engine, gate)
}

/// Holds the writer thread inside [`BlockObserver::on_block`] while closed, so tests
/// can fill the emission buffer deterministically.
#[derive(Debug, Default)]
pub struct Gate {
    state: Mutex<(bool, u64)>,
    cv: Condvar,
}

impl Gate {
    /// A closed gate.
    pub fn closed() -> Arc<Gate> {
        Arc::new(Gate::default())
    }

    /// An observer that stops the writer at every block while the gate is closed.
    pub fn observer(self: &Arc<Self>) -> Box<dyn BlockObserver> {
        Box::new(GateObserver(self.clone()))
    }

    /// Lets the writer through, now and from now on.
    pub fn open(&self) {
        self.state.lock().unwrap().0 = true;
        self.cv.notify_all();
    }

    /// Waits until the writer is stopped at the gate; false after `limit`.
    pub fn wait_stalled(&self, limit: Duration) -> bool {
        let guard = self.state.lock().unwrap();
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, limit, |(open, stalled)| !*open && *stalled == 0)
            .unwrap();
        guard.1 > 0
    }

    fn pass(&self) {
        let mut guard = self.state.lock().unwrap();
        if !guard.0 {
            guard.1 += 1;
            self.cv.notify_all();
            while !guard.0 {
                guard = self.cv.wait(guard).unwrap();
            }
        }
    }
}

/// Opens its gate when dropped, so a failing assertion never leaves the writer stuck
/// (which would hang the engine's drop). Declare it after the engine.
pub struct OpenOnDrop(pub Arc<Gate>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

struct GateObserver(Arc<Gate>);

impl BlockObserver for GateObserver {
    fn on_block(&mut self, _segment: &Segment, _entry: &BlockEntry, _records: &[u8]) {
        self.0.pass();
    }
    fn on_seal(&mut self, _segment: &Segment) {}
    fn on_remove(&mut self, _segment: &Segment) {}
}
