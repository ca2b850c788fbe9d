//! Helpers shared by the storage engine's integration tests: small configurations,
//! tagged events, the fields emission stamps, a writer gate and file utilities.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_format::{Event, FsOp};
use vexfs_journal_storage::{BlockObserver, Engine, Segment, StorageConfig, StoredEvent};

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

/// An event tagged with producer `p` and index `i` (inode, path and payload).
pub fn tagged(p: u64, i: u64) -> Event {
    Event::filesystem(FsOp::Write)
        .inode((p << 32) | i)
        .path(format!("/producer/{p}/{i}"))
        .payload(format!("{p}:{i}").into_bytes())
}

/// The `(producer, index)` tag of an event made by [`tagged`]; checks that path and
/// payload agree with the inode.
pub fn tag_of(ev: &Event) -> (u64, u64) {
    let inode = ev.context.inode_number;
    let (p, i) = (inode >> 32, inode & 0xFFFF_FFFF);
    assert_eq!(
        ev.payload,
        format!("{p}:{i}").into_bytes(),
        "payload of {p}:{i}"
    );
    assert_eq!(
        ev.context.path,
        format!("/producer/{p}/{i}").as_bytes(),
        "path of {p}:{i}"
    );
    (p, i)
}

/// Deterministic incompressible bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `emitted` as the journal stores it under sequence `seq`: emission assigns the ids,
/// the sequences, the root cause of root events and, when unset, the timestamp (taken
/// from `stored`, after checking it is plausible).
pub fn as_stamped(emitted: &Event, seq: u64, stored: &Event) -> Event {
    let mut e = emitted.clone();
    e.event_id = seq;
    e.global_sequence = seq;
    e.local_sequence = seq;
    if e.root_cause_event_id == 0 && e.parent_event_id == 0 {
        e.root_cause_event_id = seq;
    }
    if e.timestamp.ktime_ns == 0 {
        assert!(
            stored.timestamp.ktime_ns > 1_600_000_000_000_000_000,
            "seq {seq}: emission time {} is not wall-clock ns",
            stored.timestamp.ktime_ns
        );
        assert_eq!(stored.timestamp.process_id, std::process::id(), "seq {seq}");
        e.timestamp.ktime_ns = stored.timestamp.ktime_ns;
        e.timestamp.cpu_id = stored.timestamp.cpu_id;
        e.timestamp.process_id = stored.timestamp.process_id;
    }
    if e.timestamp.sequence == 0 {
        e.timestamp.sequence = seq;
    }
    e
}

/// Every written event of the journal, in order.
pub fn read_all(engine: &Engine) -> Vec<StoredEvent> {
    engine.scan(0..u64::MAX).map(|r| r.expect("scan")).collect()
}

/// Sequences of every written event, in scan order.
pub fn seqs_on_disk(engine: &Engine) -> Vec<u64> {
    read_all(engine).iter().map(|s| s.seq).collect()
}

/// Copies the regular files of `src` into `dst` (created).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
        }
    }
}

/// The segment files of `dir`, oldest first.
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// The `*.torn*` files of `dir`.
pub fn torn_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".torn"))
        .collect();
    v.sort();
    v
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
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
