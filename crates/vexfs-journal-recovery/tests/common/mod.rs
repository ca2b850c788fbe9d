//! Helpers shared by the recovery tests: small configurations, tagged events whose
//! content is a function of their tag, crash images of open journals, file surgery.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use vexfs_journal::format::FileHeader;
use vexfs_journal::format::consts::FILE_HEADER_SIZE;
use vexfs_journal::{
    AgentOp, Config, Event, EventType, FsOp, Journal, JournalError, JournalReader, StoredEvent,
    SystemOp, VectorOp,
};
use vexfs_journal_storage::dir::list_segments;
use vexfs_journal_storage::inspect::{Region, inspect};

/// Small segments (64 KiB, the minimum) and small blocks, so a few hundred events make
/// several segments; no periodic checkpoint.
pub fn small_config() -> Config {
    Config {
        segment_size: 64 << 10,
        block_bytes: 2048,
        buffer_capacity: 1024,
        checkpoint_interval_s: 0,
        ..Config::default()
    }
}

/// The event types [`tagged`] rotates through.
pub const TYPES: [fn() -> EventType; 4] = [
    || EventType::from(FsOp::Write),
    || EventType::from(AgentOp::Decision),
    || EventType::from(VectorOp::Search),
    || EventType::from(SystemOp::Checkpoint),
];

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

/// Event `i` of producer `p`: its type rotates with `i`, its inode is `p << 32 | i`, its
/// path `/p{p}/{i % 10}/{i}`, its agent `agent-{i % 3}`, its payload `p:i:` followed by
/// noise, so content can be checked from the tag alone.
pub fn tagged(p: u64, i: u64) -> Event {
    let mut payload = format!("{p}:{i}:").into_bytes();
    payload.extend(noise((p << 32) | i, 100 + (i % 7) as usize * 50));
    Event::new(TYPES[(i % 4) as usize]())
        .inode((p << 32) | i)
        .path(format!("/p{p}/{}/{i}", i % 10))
        .agent_id(format!("agent-{}", i % 3))
        .payload(payload)
}

/// The `(producer, index)` of an event made by [`tagged`], after checking that all its
/// content agrees with the tag.
#[track_caller]
pub fn tag_of(ev: &Event) -> (u64, u64) {
    let inode = ev.context.inode_number;
    let (p, i) = (inode >> 32, inode & 0xFFFF_FFFF);
    let want = tagged(p, i);
    assert_eq!(ev.payload, want.payload, "payload of {p}:{i}");
    assert_eq!(ev.context.path, want.context.path, "path of {p}:{i}");
    assert_eq!(ev.event_type, want.event_type, "type of {p}:{i}");
    (p, i)
}

/// Every event of a journal on disk, read without a lock.
pub fn read_all(dir: &Path) -> Vec<StoredEvent> {
    let r = JournalReader::open(dir).unwrap();
    r.scan(0..u64::MAX).map(|e| e.unwrap()).collect()
}

/// Every written event of an open journal.
pub fn journal_events(j: &Journal) -> Vec<StoredEvent> {
    j.flush().unwrap();
    j.scan(0..u64::MAX).map(|e| e.unwrap()).collect()
}

/// Sequences of `events`.
pub fn seqs(events: &[StoredEvent]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Copies a directory tree (the page-cache image of a journal when the source is open:
/// what a crash of the process — not of the machine — leaves).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&from, &to);
        } else {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

/// Copies a directory tree that a live journal is changing: files that vanish between
/// listing and copying (renamed temporaries, deleted old checkpoints) are skipped, as
/// a machine crashing at that moment would not have them either. The copy is taken
/// again while the journal's `MANIFEST` changes under it: a rotation or retention
/// finishing mid-copy would pair segment files and a manifest from different moments,
/// which no crash can leave (the writer orders those writes with fsyncs).
pub fn copy_dir_live(src: &Path, dst: &Path) {
    loop {
        let before = std::fs::read(src.join("MANIFEST")).ok();
        copy_tree_live(src, dst);
        let after = std::fs::read(src.join("MANIFEST")).ok();
        if before == after {
            match after {
                Some(bytes) => std::fs::write(dst.join("MANIFEST"), bytes).unwrap(),
                None => {
                    let _ = std::fs::remove_file(dst.join("MANIFEST"));
                }
            }
            return;
        }
        std::fs::remove_dir_all(dst).unwrap();
    }
}

fn copy_tree_live(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            copy_tree_live(&from, &to);
        } else {
            match std::fs::copy(&from, &to) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_file(&to);
                }
                Err(e) => panic!("copying {}: {e}", from.display()),
            }
        }
    }
}

/// A crash image of the open journal `j` (after syncing) in `dst`: no clean-shutdown
/// marker, the open segment unsealed.
pub fn crash_image(j: &Journal, dst: &Path) {
    j.sync().unwrap();
    copy_dir(j.dir(), dst);
    assert!(!dst.join("CLEAN").exists());
}

/// Segment files, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    list_segments(dir)
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

/// Flips bit `bit` (0 = least significant bit of byte 0) of a file.
pub fn flip_bit(path: &Path, bit: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, bit / 8).unwrap();
    b[0] ^= 1 << (bit % 8);
    f.write_all_at(&b, bit / 8).unwrap();
}

/// Overwrites bytes of a file at `offset`.
pub fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// The header of a segment file.
pub fn header_of(path: &Path) -> FileHeader {
    let bytes = std::fs::read(path).unwrap();
    FileHeader::parse(&bytes[..FILE_HEADER_SIZE]).unwrap()
}

/// Intact blocks of a segment file as `(offset, size, first_seq, last_seq)`.
pub fn blocks_of(path: &Path) -> Vec<(u64, u64, u64, u64)> {
    let first = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap();
    inspect(path, first)
        .unwrap()
        .regions
        .iter()
        .filter_map(|r| match r {
            Region::Block(b) => Some((b.offset, u64::from(b.size), b.first_seq, b.last_seq)),
            Region::Damaged { .. } => None,
        })
        .collect()
}

/// splitmix64: a small deterministic generator.
#[derive(Clone, Debug)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Rounds of a randomized test: `TORTURE_ROUNDS` when set, else `default`.
pub fn rounds(default: u64) -> u64 {
    std::env::var("TORTURE_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Builds a closed journal in `dir` of `n` tagged events of producer 0 (several
/// segments with [`small_config`]); returns the events as stored.
pub fn build(dir: &Path, n: u64) -> Vec<StoredEvent> {
    let j = Journal::create(dir, small_config()).unwrap();
    for i in 0..n {
        j.emit(tagged(0, i)).unwrap();
    }
    j.sync().unwrap();
    let events = journal_events(&j);
    j.close().unwrap();
    assert_eq!(events.len() as u64, n);
    events
}

/// One acknowledgement: sequences `first..=last` of producer `p` from index `i`.
#[derive(Clone, Copy, Debug)]
pub struct Ack {
    pub first: u64,
    pub last: u64,
    pub p: u64,
    pub i: u64,
}

/// Event `i` of producer `p`, in a batch of `n` with transaction `tx` (0: single).
pub fn event(p: u64, i: u64, tx: u64, n: u32) -> Event {
    let ev = tagged(p, i);
    if tx == 0 { ev } else { ev.tx(tx).subtype(n) }
}

/// Producer `p`: durable single events and durable atomic batches (30 %, 2 to 8
/// events, one transaction id, the size as subtype) until `stop` or the first error,
/// which it returns; every acknowledgement is pushed to `acks`.
pub fn produce(
    j: &Journal,
    p: u64,
    stop: &AtomicBool,
    acks: &Mutex<Vec<Ack>>,
) -> Option<JournalError> {
    let mut rng = Rng(p * 7919 + 1);
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        if rng.chance(30) {
            let n = rng.range(2, 8);
            let tx = (p << 32 | i) + 1;
            let batch = (i..i + n).map(|k| event(p, k, tx, n as u32)).collect();
            let r = match j.emit_batch_atomic(batch) {
                Ok(r) => r,
                Err(e) => return Some(e),
            };
            if let Err(e) = j.wait_durable(r.end) {
                return Some(e);
            }
            acks.lock().unwrap().push(Ack {
                first: r.start,
                last: r.end - 1,
                p,
                i,
            });
            i += n;
        } else {
            let seq = match j.emit_durable(event(p, i, 0, 0)) {
                Ok(s) => s,
                Err(e) => return Some(e),
            };
            acks.lock().unwrap().push(Ack {
                first: seq,
                last: seq,
                p,
                i,
            });
            i += 1;
        }
    }
    None
}

/// The invariants of a journal reopened after a crash, given the acknowledgements
/// received before it: sequences exactly 1..=last; every event's content matching its
/// tag; each producer's events a prefix of what it emitted (it waits for each
/// acknowledgement before the next emission); every atomic batch whole; every
/// acknowledged event present, once, where it was acknowledged.
pub fn check_acknowledged(events: &[StoredEvent], acks: &[Ack], ctx: &str) {
    let last = events.len() as u64;
    assert!(
        seqs(events).into_iter().eq(1..=last),
        "{ctx}: sequences are not 1..={last}"
    );
    // Content, per-producer prefixes, batches whole.
    let mut next_index: BTreeMap<u64, u64> = BTreeMap::new();
    let mut k = 0;
    while k < events.len() {
        let e = &events[k];
        let (p, i) = tag_of(&e.event);
        let expect = next_index.entry(p).or_insert(0);
        assert_eq!(
            i, *expect,
            "{ctx}: producer {p} skips to {i} at sequence {}",
            e.seq
        );
        let tx = e.event.context.transaction_id;
        let n = if tx == 0 {
            1
        } else {
            u64::from(e.event.subtype)
        };
        for m in 0..n {
            let b = events
                .get(k + m as usize)
                .unwrap_or_else(|| panic!("{ctx}: half batch {tx:#x} at the end"));
            assert_eq!(tag_of(&b.event), (p, i + m), "{ctx}: batch {tx:#x}");
            assert_eq!(b.event.context.transaction_id, tx, "{ctx}: batch {tx:#x}");
            if tx != 0 {
                assert!(b.event.flags.contains(vexfs_journal::EventFlags::ATOMIC));
            }
        }
        *expect += n;
        k += n as usize;
    }
    for a in acks {
        assert!(
            a.last <= last,
            "{ctx}: acknowledged {a:?} lost (journal ends at {last})"
        );
        for (m, seq) in (a.first..=a.last).enumerate() {
            let (p, i) = tag_of(&events[(seq - 1) as usize].event);
            assert_eq!((p, i), (a.p, a.i + m as u64), "{ctx}: acknowledged {a:?}");
        }
    }
}
