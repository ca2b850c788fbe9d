//! The journal event of one filesystem operation.
//!
//! Typed fields go where the event layout has them (type, path, inode, file type,
//! pid, causality chain); the rest — caller uid/gid and process name, the result as an
//! errno, latency, offset and length of I/O, the second path of a rename or link, the
//! subtype of operations without their own type — goes in the metadata as one JSON
//! object (`docs/fuse.md` lists the keys).

use std::time::Instant;

use fuser::{Errno, Request};
use serde_json::{Map, Value, json};
use vexfs_journal::{Event, FsOp};

/// One operation, as the journal will record it.
#[derive(Debug)]
pub struct FsEvent {
    op: FsOp,
    subtype: Option<&'static str>,
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
    /// An operation of type `op` on `path`, started now.
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

    /// Names an operation that has no event type of its own (`setxattr`, `utimens`, …).
    pub fn subtype(mut self, name: &'static str) -> Self {
        self.subtype = Some(name);
        self
    }

    /// The second path (rename target, new link name).
    pub fn to(mut self, path: Vec<u8>) -> Self {
        self.to = Some(path);
        self
    }

    /// The mount's inode number of the object.
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

    /// The outcome: `Ok` or the errno returned to the caller.
    pub fn result<T>(mut self, result: &Result<T, Errno>) -> Self {
        self.errno = match result {
            Ok(_) => 0,
            Err(e) => e.code(),
        };
        self
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
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// The journal event, for the caller of `req`.
    pub fn into_event(self, req: &Request) -> Event {
        let mut meta = Map::new();
        if let Some(s) = self.subtype {
            meta.insert("op".into(), json!(s));
        }
        meta.insert("uid".into(), json!(req.uid()));
        meta.insert("gid".into(), json!(req.gid()));
        if let Some(comm) = process_name(req.pid()) {
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
        if let Some(to) = &self.to {
            meta.insert("to".into(), json!(String::from_utf8_lossy(to)));
        }
        let mut ev = Event::new(self.op)
            .path(self.path)
            .inode(self.ino)
            .file_type(self.kind)
            .causality_chain(self.chain)
            .metadata(Value::Object(meta).to_string().into_bytes());
        ev.timestamp.process_id = req.pid();
        ev
    }
}

/// The name of process `pid` (`/proc/PID/comm`), if it still exists.
fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim_end().to_string())
}
