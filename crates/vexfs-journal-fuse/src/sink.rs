//! [`FsEventSink`]: how a filesystem operation becomes a journal event.
//!
//! The mirror (`vexjournal mount`) journals through this type, and so can any other
//! FUSE daemon — VexFS's own — from its handlers: build an [`FsEvent`] when the
//! operation starts, set its outcome, and [`FsEventSink::record`] it with the
//! [`Caller`]. The sink applies the capture configuration (paths, operations, uids,
//! results, sampling), journals synchronously or not, counts what it captured,
//! filtered, sampled out and dropped, and never drops silently: after a refusal, the
//! next event that can be journaled is preceded by a gap record
//! (`observability.error_reported`, `"op": "capture_gap"`) saying how many events
//! were lost and when.
//!
//! ```
//! use vexfs_journal::{Config, FsOp, Journal};
//! use vexfs_journal_fuse::{Caller, FsEvent, FsEventSink, capture::CaptureConfig};
//! # let dir = tempfile::tempdir().unwrap();
//! let journal = Journal::open(dir.path(), Config::default())?;
//! let sink = FsEventSink::new(journal, &CaptureConfig::default())?;
//! let caller = Caller { pid: 42, uid: 1000, gid: 1000 };
//! let ev = FsEvent::new(FsOp::Create, b"/models/a.bin".to_vec()).ino(7).kind(0o100644);
//! sink.record(&caller, ev);
//! assert_eq!(sink.counters().captured, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde_json::{Map, Value, json};
use vexfs_journal::{Event, FsOp, Journal, ObservabilityOp};

use crate::capture::{CaptureConfig, CaptureError, Filter};

/// Who asked for an operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// Process id.
    pub pid: u32,
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl From<&fuser::Request> for Caller {
    fn from(req: &fuser::Request) -> Caller {
        Caller {
            pid: req.pid(),
            uid: req.uid(),
            gid: req.gid(),
        }
    }
}

/// Operations without an event type of their own, recorded as filesystem events
/// with this subtype (the event's `subtype` field holds the code; the metadata's
/// `op` key the name). The table is part of the event format: codes never change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[repr(u32)]
pub enum FsSubtype {
    /// An open (type `read` or `write` by its access mode).
    Open = 1,
    /// A release of a file opened for writing, with `write = "close"`.
    Close = 2,
    /// A name looked up (metadata read).
    Lookup = 3,
    /// Attributes read (metadata read).
    Getattr = 4,
    /// An access check (metadata read).
    Access = 5,
    /// Directory entries listed (metadata read).
    Readdir = 6,
    /// An extended attribute read (metadata read).
    Getxattr = 7,
    /// Extended attribute names listed (metadata read).
    Listxattr = 8,
    /// An extended attribute set (type `chmod`).
    Setxattr = 9,
    /// An extended attribute removed (type `chmod`).
    Removexattr = 10,
    /// Access or modification times set (type `chmod`).
    Utimens = 11,
    /// A file flushed to disk (type `write`).
    Fsync = 12,
    /// A directory flushed to disk (type `write`).
    Fsyncdir = 13,
    /// Space allocated or a hole punched (type `write`).
    Fallocate = 14,
    /// A range copied between files (type `write`; the path is the destination).
    CopyFileRange = 15,
    /// A device, FIFO or socket node created (type `create`).
    Mknod = 16,
    /// A symbolic link read (metadata read).
    Readlink = 17,
    /// File system statistics read (metadata read).
    Statfs = 18,
    /// A POSIX record lock taken, changed or released (type `write` for write
    /// locks, `read` otherwise).
    Setlk = 19,
    /// A POSIX record lock tested (metadata read).
    Getlk = 20,
}

impl FsSubtype {
    /// The name in the metadata's `op` key and in capture files.
    pub fn name(self) -> &'static str {
        match self {
            FsSubtype::Open => "open",
            FsSubtype::Close => "close",
            FsSubtype::Lookup => "lookup",
            FsSubtype::Getattr => "getattr",
            FsSubtype::Access => "access",
            FsSubtype::Readdir => "readdir",
            FsSubtype::Getxattr => "getxattr",
            FsSubtype::Listxattr => "listxattr",
            FsSubtype::Setxattr => "setxattr",
            FsSubtype::Removexattr => "removexattr",
            FsSubtype::Utimens => "utimens",
            FsSubtype::Fsync => "fsync",
            FsSubtype::Fsyncdir => "fsyncdir",
            FsSubtype::Fallocate => "fallocate",
            FsSubtype::CopyFileRange => "copy_file_range",
            FsSubtype::Mknod => "mknod",
            FsSubtype::Readlink => "readlink",
            FsSubtype::Statfs => "statfs",
            FsSubtype::Setlk => "setlk",
            FsSubtype::Getlk => "getlk",
        }
    }

    /// Every subtype, in code order.
    pub const ALL: [FsSubtype; 20] = [
        FsSubtype::Open,
        FsSubtype::Close,
        FsSubtype::Lookup,
        FsSubtype::Getattr,
        FsSubtype::Access,
        FsSubtype::Readdir,
        FsSubtype::Getxattr,
        FsSubtype::Listxattr,
        FsSubtype::Setxattr,
        FsSubtype::Removexattr,
        FsSubtype::Utimens,
        FsSubtype::Fsync,
        FsSubtype::Fsyncdir,
        FsSubtype::Fallocate,
        FsSubtype::CopyFileRange,
        FsSubtype::Mknod,
        FsSubtype::Readlink,
        FsSubtype::Statfs,
        FsSubtype::Setlk,
        FsSubtype::Getlk,
    ];
}

/// The short name of a filesystem event type (`write` for `filesystem.write`).
pub fn op_name(op: FsOp) -> &'static str {
    match op {
        FsOp::Create => "create",
        FsOp::Delete => "delete",
        FsOp::Read => "read",
        FsOp::Write => "write",
        FsOp::Rename => "rename",
        FsOp::Chmod => "chmod",
        FsOp::Chown => "chown",
        FsOp::Truncate => "truncate",
        FsOp::Mkdir => "mkdir",
        FsOp::Rmdir => "rmdir",
        FsOp::Symlink => "symlink",
        FsOp::Hardlink => "hardlink",
    }
}

/// One filesystem operation, as the journal will record it.
///
/// Typed fields go where the event layout has them (type, subtype, path, inode,
/// file type, pid, causality chain); the rest — caller uid/gid and process name, the
/// result as an errno, latency, offset and length of I/O, the second path of a
/// rename or link — goes in the metadata as one JSON object (`docs/fuse.md`).
#[derive(Debug)]
pub struct FsEvent {
    op: FsOp,
    subtype: Option<FsSubtype>,
    path: Vec<u8>,
    to: Option<Vec<u8>>,
    ino: u64,
    kind: u32,
    errno: i32,
    io: Option<(u64, u64)>,
    chain: u64,
    started: Instant,
    extra: Vec<(&'static str, Value)>,
}

impl FsEvent {
    /// An operation of type `op` on `path` (as the caller named it), started now.
    pub fn new(op: FsOp, path: Vec<u8>) -> FsEvent {
        FsEvent {
            op,
            subtype: None,
            path,
            to: None,
            ino: 0,
            kind: 0,
            errno: 0,
            io: None,
            chain: 0,
            started: Instant::now(),
            extra: Vec::new(),
        }
    }

    /// Names an operation that has no event type of its own.
    pub fn subtype(mut self, subtype: FsSubtype) -> Self {
        self.subtype = Some(subtype);
        self
    }

    /// The second path (rename target, new link name, copy destination).
    pub fn to(mut self, path: Vec<u8>) -> Self {
        self.to = Some(path);
        self
    }

    /// The inode number of the object.
    pub fn ino(mut self, ino: u64) -> Self {
        self.ino = ino;
        self
    }

    /// The file type bits (`st_mode & S_IFMT`).
    pub fn kind(mut self, mode_bits: u32) -> Self {
        self.kind = mode_bits & 0o170000;
        self
    }

    /// Offset and length of a read or write.
    pub fn io(mut self, offset: u64, len: u64) -> Self {
        self.io = Some((offset, len));
        self
    }

    /// The causality chain of the open file handle the operation used.
    pub fn chain(mut self, chain: u64) -> Self {
        self.chain = chain;
        self
    }

    /// The outcome: the errno returned to the caller (0: success).
    pub fn errno(mut self, errno: i32) -> Self {
        self.errno = errno;
        self
    }

    /// The outcome of a fuser operation.
    pub(crate) fn result<T>(self, result: &Result<T, fuser::Errno>) -> Self {
        let code = match result {
            Ok(_) => 0,
            Err(e) => e.code(),
        };
        self.errno(code)
    }

    /// One more metadata key.
    pub fn field(mut self, key: &'static str, value: impl Into<Value>) -> Self {
        self.extra.push((key, value.into()));
        self
    }

    /// The path it is about.
    pub fn path(&self) -> &[u8] {
        &self.path
    }

    /// Its result: 0 or the errno.
    pub fn result_errno(&self) -> i32 {
        self.errno
    }

    /// Its event type.
    pub fn op(&self) -> FsOp {
        self.op
    }

    /// Its subtype, if any.
    pub fn operation_subtype(&self) -> Option<FsSubtype> {
        self.subtype
    }

    /// The journal event, for `caller`; `prefix` goes before the path(s).
    fn into_event(self, caller: &Caller, prefix: &[u8]) -> Event {
        let mut meta = Map::new();
        if let Some(s) = self.subtype {
            meta.insert("op".into(), json!(s.name()));
        }
        meta.insert("uid".into(), json!(caller.uid));
        meta.insert("gid".into(), json!(caller.gid));
        if let Some(comm) = process_name(caller.pid) {
            meta.insert("comm".into(), json!(comm));
        }
        meta.insert("errno".into(), json!(self.errno));
        meta.insert(
            "latency_ns".into(),
            json!(u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)),
        );
        if let Some((offset, len)) = self.io {
            meta.insert("offset".into(), json!(offset));
            meta.insert("len".into(), json!(len));
        }
        for (k, v) in self.extra {
            meta.insert(k.into(), v);
        }
        if let Some(to) = self.to {
            let full = prefixed(prefix, to);
            meta.insert("to".into(), json!(String::from_utf8_lossy(&full)));
        }
        let mut ev = Event::new(self.op)
            .subtype(self.subtype.map_or(0, |s| s as u32))
            .path(prefixed(prefix, self.path))
            .inode(self.ino)
            .file_type(self.kind)
            .causality_chain(self.chain)
            .metadata(Value::Object(meta).to_string().into_bytes());
        ev.timestamp.process_id = caller.pid;
        ev
    }
}

/// `path` behind `prefix` (the path itself, not copied, without one).
fn prefixed(prefix: &[u8], path: Vec<u8>) -> Vec<u8> {
    if prefix.is_empty() {
        return path;
    }
    let mut full = Vec::with_capacity(prefix.len() + path.len());
    full.extend_from_slice(prefix);
    if path != b"/" {
        full.extend_from_slice(&path);
    }
    full
}

/// The name of process `pid` (`/proc/PID/comm`), if it still exists.
///
/// Remembered for a second: one process usually makes many operations in a row, and
/// reading `/proc` costs three system calls per event. A process that renames itself
/// (`prctl`) shows its new name within that second.
fn process_name(pid: u32) -> Option<String> {
    use std::collections::HashMap;
    use std::sync::OnceLock;
    use std::time::Duration;
    static NAMES: OnceLock<Mutex<HashMap<u32, (String, Instant)>>> = OnceLock::new();
    let names = NAMES.get_or_init(|| Mutex::new(HashMap::new()));
    let now = Instant::now();
    if let Some((name, at)) = names.lock().unwrap_or_else(|p| p.into_inner()).get(&pid)
        && now.duration_since(*at) < Duration::from_secs(1)
    {
        return Some(name.clone());
    }
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())?;
    let mut names = names.lock().unwrap_or_else(|p| p.into_inner());
    if names.len() > 4096 {
        names.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(1));
    }
    names.insert(pid, (name.clone(), now));
    Some(name)
}

/// What became of one recorded operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Recorded {
    /// Journaled with this sequence number.
    Journaled(u64),
    /// Left out by the capture configuration.
    Filtered,
    /// Left out by sampling.
    SampledOut,
    /// Refused by the journal (counted, logged, and reported by a gap record).
    Dropped,
}

/// What a sink journaled so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureCounters {
    /// Events journaled.
    pub captured: u64,
    /// Operations the capture configuration left out.
    pub filtered: u64,
    /// Operations sampling left out.
    pub sampled_out: u64,
    /// Events the journal refused (each also logged, and reported by a gap record).
    pub dropped: u64,
    /// Gap records written.
    pub gaps: u64,
}

/// Refusals not yet reported by a gap record.
#[derive(Debug, Default)]
struct Gap {
    dropped: u64,
    first_ns: i64,
    last_ns: i64,
    reason: String,
}

/// Journals filesystem operations as the capture configuration asks.
#[derive(Debug)]
pub struct FsEventSink {
    journal: Journal,
    filter: Filter,
    sync: bool,
    prefix: Vec<u8>,
    captured: AtomicU64,
    filtered: AtomicU64,
    sampled_out: AtomicU64,
    dropped: AtomicU64,
    gaps: AtomicU64,
    gap: Mutex<Option<Gap>>,
}

impl FsEventSink {
    /// A sink journaling into `journal` what `capture` selects.
    pub fn new(journal: Journal, capture: &CaptureConfig) -> Result<FsEventSink, CaptureError> {
        Ok(FsEventSink {
            journal,
            filter: capture.filter("the capture configuration")?,
            sync: capture.sync,
            prefix: Vec::new(),
            captured: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            sampled_out: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            gap: Mutex::new(None),
        })
    }

    /// Puts `prefix` (e.g. `/mnt/a`) before every recorded path: several mounts
    /// sharing one journal stay apart. Capture globs still match the unprefixed path.
    pub fn with_path_prefix(mut self, prefix: Vec<u8>) -> FsEventSink {
        let mut prefix = prefix;
        while prefix.last() == Some(&b'/') {
            prefix.pop();
        }
        self.prefix = prefix;
        self
    }

    /// The journal events go to.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// Whether an operation returns only once its event is durable.
    pub fn is_sync(&self) -> bool {
        self.sync
    }

    /// Journals `ev` for `caller` if the capture configuration wants it. A journal
    /// that refuses is counted, logged and reported by a gap record, never an error
    /// for the caller: the filesystem change already happened.
    pub fn record(&self, caller: &Caller, ev: FsEvent) -> Recorded {
        let names = (op_name(ev.op), ev.subtype.map(FsSubtype::name));
        if !self
            .filter
            .wants_operation(names, ev.path(), caller.uid, ev.errno)
        {
            self.filtered.fetch_add(1, Ordering::Relaxed);
            return Recorded::Filtered;
        }
        if !self.filter.sample(names) {
            self.sampled_out.fetch_add(1, Ordering::Relaxed);
            return Recorded::SampledOut;
        }
        let event = ev.into_event(caller, &self.prefix);
        self.emit(event)
    }

    /// Journals an event built elsewhere (mount/unmount, gap records), unfiltered.
    pub fn record_raw(&self, event: Event) -> Recorded {
        self.emit(event)
    }

    fn emit(&self, event: Event) -> Recorded {
        self.report_gap();
        let done = if self.sync {
            self.journal.emit_durable(event)
        } else {
            self.journal.emit(event)
        };
        match done {
            Ok(seq) => {
                self.captured.fetch_add(1, Ordering::Relaxed);
                Recorded::Journaled(seq)
            }
            Err(e) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed);
                // One line per refusal would flood the log of a failed journal.
                if n.is_power_of_two() || n == 0 {
                    eprintln!(
                        "vexfs-journal-fuse: journaling failed ({} so far): {e}",
                        n + 1
                    );
                }
                let now = vexfs_journal::system_ns(std::time::SystemTime::now());
                let mut gap = self.gap.lock().unwrap_or_else(|p| p.into_inner());
                let g = gap.get_or_insert_with(|| Gap {
                    first_ns: now,
                    reason: e.to_string(),
                    ..Gap::default()
                });
                g.dropped += 1;
                g.last_ns = now;
                Recorded::Dropped
            }
        }
    }

    /// Writes the gap record of earlier refusals, if any, before the next event.
    fn report_gap(&self) {
        let pending = {
            let mut gap = self.gap.lock().unwrap_or_else(|p| p.into_inner());
            gap.take()
        };
        let Some(g) = pending else { return };
        let meta = json!({
            "op": "capture_gap",
            "dropped": g.dropped,
            "first_ns": g.first_ns,
            "last_ns": g.last_ns,
            "reason": g.reason,
        });
        let ev = Event::new(ObservabilityOp::ErrorReported)
            .path(if self.prefix.is_empty() {
                b"/".to_vec()
            } else {
                self.prefix.clone()
            })
            .metadata(meta.to_string().into_bytes());
        let done = if self.sync {
            self.journal.emit_durable(ev)
        } else {
            self.journal.emit(ev)
        };
        match done {
            Ok(_) => {
                self.gaps.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                // Still refused: keep the gap (merged with later refusals) for next time.
                let mut gap = self.gap.lock().unwrap_or_else(|p| p.into_inner());
                match gap.as_mut() {
                    Some(later) => {
                        later.dropped += g.dropped;
                        later.first_ns = g.first_ns;
                    }
                    None => *gap = Some(g),
                }
            }
        }
    }

    /// What was journaled so far.
    pub fn counters(&self) -> CaptureCounters {
        CaptureCounters {
            captured: self.captured.load(Ordering::Relaxed),
            filtered: self.filtered.load(Ordering::Relaxed),
            sampled_out: self.sampled_out.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            gaps: self.gaps.load(Ordering::Relaxed),
        }
    }
}
