//! Torn tails and damage. A journal cut at every byte inside its last, not yet
//! fsynced block opens with exactly the events before that block, saves the cut bytes
//! to `*.torn` and accepts new events; garbage after the last block is cut; damage to
//! fsynced blocks refuses to open (`Corrupt`) and changes nothing; damage inside a
//! sealed segment is reported when read.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::{read_all, small_config};
use vexfs_journal_format::FileHeader;
use vexfs_journal_format::consts::{BLOCK_MAGIC, FILE_HEADER_SIZE};
use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_storage::{Engine, FsyncPolicy, StorageConfig, StorageError, StoredEvent};
use vexfs_journal_testkit::{copy_dir, noise, set_len, small_tagged, torn_files};

fn torn_config() -> StorageConfig {
    StorageConfig {
        segment_size: 1 << 20,
        block_bytes: 1024,
        max_write_bytes: 8192,
        // Closing still syncs; per-commit syncs would only slow the byte-by-byte loop.
        fsync: FsyncPolicy::Never,
        ..small_config()
    }
}

/// The image of a one-segment journal whose process died right after its last sync
/// (copied while the engine was open, so no clean-shutdown state is in it), and what
/// is in it.
struct Fixture {
    dir: tempfile::TempDir,
    segment: PathBuf,
    blocks: Vec<BlockEntry>,
    events: Vec<StoredEvent>,
    bytes: Vec<u8>,
}

/// Copies the journal of a live engine after a sync: what a crash at that moment
/// leaves on disk.
fn crash_image(engine: &Engine) -> tempfile::TempDir {
    engine.sync().unwrap();
    let image = tempfile::tempdir().unwrap();
    copy_dir(engine.dir(), image.path());
    image
}

impl Fixture {
    /// Events in `rounds` group commits (each ends a block), then a last block holding
    /// one small event.
    fn new(rounds: u64, per_round: u64, payload: usize) -> Fixture {
        let live = tempfile::tempdir().unwrap();
        let engine = Engine::create(live.path(), torn_config()).unwrap();
        for r in 0..rounds {
            for i in 0..per_round {
                engine
                    .emit(small_tagged(r, i).metadata(noise(r * 1000 + i, payload)))
                    .unwrap();
            }
            engine.sync().unwrap();
        }
        engine.emit(small_tagged(rounds, 0)).unwrap();
        let dir = crash_image(&engine);
        let segments = engine.store().segments();
        assert_eq!(segments.len(), 1);
        let segment = dir.path().join(segments[0].path().file_name().unwrap());
        let blocks = segments[0].blocks().clone();
        drop(segments);
        let events = read_all(&engine);
        engine.close().unwrap();
        drop(engine);
        let mut bytes = std::fs::read(&segment).unwrap();
        let last = blocks.last().unwrap();
        // The writer preallocates space after its last block; a power cut can lose that
        // (unsynced) allocation. These cases cut and damage the written bytes, so the
        // image ends with the last block (zero tails: `preallocated_*` below).
        let written = (last.offset + u64::from(last.size)) as usize;
        assert!(bytes[written..].iter().all(|&b| b == 0));
        bytes.truncate(written);
        assert_eq!(last.event_count, 1);
        // A power loss can tear only what its last sync had not covered: the image is
        // the moment the last block was written, before the sync recorded it.
        let mut header = FileHeader::parse(&bytes).unwrap();
        assert_eq!(header.journal_size, bytes.len() as u64, "synced whole");
        header.journal_size = last.offset;
        bytes[..FILE_HEADER_SIZE].copy_from_slice(&header.to_bytes());
        std::fs::write(&segment, &bytes).unwrap();
        Fixture {
            dir,
            segment,
            blocks,
            events,
            bytes,
        }
    }

    /// A copy of the journal in a fresh directory, and its segment path there.
    fn copy(&self) -> (tempfile::TempDir, PathBuf) {
        let fresh = tempfile::tempdir().unwrap();
        copy_dir(self.dir.path(), fresh.path());
        let seg = fresh.path().join(self.segment.file_name().unwrap());
        (fresh, seg)
    }

    /// Events before block `index`.
    fn before_block(&self, index: usize) -> &[StoredEvent] {
        let first = self.blocks[index].first_seq;
        let n = self.events.iter().take_while(|e| e.seq < first).count();
        &self.events[..n]
    }
}

/// Emits one event after a repair, checks its sequence, and that it survives a
/// reopen together with `kept`.
fn assert_accepts_more(dir: &Path, engine: Engine, kept: &[StoredEvent], reopen: bool) {
    let expected_seq = kept.last().map_or(1, |e| e.seq + 1);
    assert_eq!(engine.next_seq(), expected_seq);
    let seq = engine.emit(small_tagged(77, 77)).unwrap();
    assert_eq!(seq, expected_seq);
    engine.flush().unwrap();
    assert_eq!(
        engine.get(seq).unwrap().unwrap().event.context.inode_number,
        (77 << 32) | 77
    );
    engine.close().unwrap();
    drop(engine);
    if reopen {
        let engine = Engine::open(dir).unwrap();
        assert!(engine.open_report().repairs.is_empty());
        let all = read_all(&engine);
        assert_eq!(&all[..kept.len()], kept);
        assert_eq!(all.len(), kept.len() + 1);
    }
}

// Checks I13 (docs/invariants.md).
#[test]
fn every_cut_inside_the_last_block_is_repaired() {
    let fx = Fixture::new(6, 5, 60);
    assert!(fx.blocks.len() >= 7, "{} blocks", fx.blocks.len());
    let last = *fx.blocks.last().unwrap();
    let kept = fx.before_block(fx.blocks.len() - 1);
    assert_eq!(kept.len() as u64, last.first_seq - 1);
    let size = u64::from(last.size);
    let check = |k: u64| {
        let (fresh, seg) = fx.copy();
        set_len(&seg, last.offset + k);
        let engine =
            Engine::open(fresh.path()).unwrap_or_else(|e| panic!("cut at {k} of {size}: {e}"));
        assert_eq!(read_all(&engine), kept, "cut at {k}");
        assert_eq!(std::fs::metadata(&seg).unwrap().len(), last.offset);
        let torn = torn_files(fresh.path());
        let repairs = &engine.open_report().repairs;
        if k == 0 {
            assert!(torn.is_empty(), "cut at 0: {torn:?}");
            assert!(repairs.is_empty());
        } else {
            assert_eq!(torn.len(), 1, "cut at {k}: {torn:?}");
            let saved = std::fs::read(&torn[0]).unwrap();
            assert_eq!(
                saved,
                fx.bytes[last.offset as usize..(last.offset + k) as usize],
                "cut at {k}: torn file content"
            );
            assert_eq!(repairs.len(), 1);
            assert_eq!(repairs[0].1.torn_bytes, k);
            assert_eq!(repairs[0].1.torn_file.as_deref(), Some(torn[0].as_path()));
        }
        // Reopening once more after every cut costs too many fsyncs: sample it.
        assert_accepts_more(
            fresh.path(),
            engine,
            kept,
            k.is_multiple_of(16) || k + 1 == size,
        );
    };
    // The cost is fsync latency, not CPU: several workers overlap it.
    const WORKERS: u64 = 8;
    std::thread::scope(|s| {
        for w in 0..WORKERS {
            let check = &check;
            s.spawn(move || (w..size).step_by(WORKERS as usize).for_each(check));
        }
    });
}

// Checks I13 (docs/invariants.md).
#[test]
fn garbage_after_the_last_block_is_cut() {
    let fx = Fixture::new(4, 5, 60);
    let last = *fx.blocks.last().unwrap();
    let last_block = fx.bytes[last.offset as usize..].to_vec();
    let first_block =
        fx.bytes[fx.blocks[0].offset as usize..][..fx.blocks[0].size as usize].to_vec();
    let mut magic_then_noise = BLOCK_MAGIC.to_le_bytes().to_vec();
    magic_then_noise.extend(noise(5, 300));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("noise", noise(3, 777)),
        ("zeros then noise", [vec![0u8; 5000], noise(4, 9)].concat()),
        ("block magic then noise", magic_then_noise),
        ("a copy of the last block", last_block),
        ("a copy of the first block", first_block),
    ];
    for (name, garbage) in cases {
        let (fresh, seg) = fx.copy();
        let mut bytes = fx.bytes.clone();
        bytes.extend_from_slice(&garbage);
        std::fs::write(&seg, &bytes).unwrap();
        let engine =
            Engine::open(fresh.path()).unwrap_or_else(|e| panic!("{name}: open failed: {e}"));
        assert_eq!(read_all(&engine), fx.events, "{name}");
        assert_eq!(
            std::fs::read(&seg).unwrap(),
            fx.bytes,
            "{name}: not cut back"
        );
        let torn = torn_files(fresh.path());
        assert_eq!(torn.len(), 1, "{name}");
        assert_eq!(std::fs::read(&torn[0]).unwrap(), garbage, "{name}");
        assert_accepts_more(fresh.path(), engine, &fx.events, true);
    }
}

// Checks I13 (docs/invariants.md).
/// Zeros after the last block past the fsynced end are space the writer preallocated
/// and never wrote: the journal opens with every event, cuts nothing, saves nothing
/// aside and writes on into that space.
#[test]
fn preallocated_zeros_after_the_last_block_are_not_a_torn_tail() {
    let fx = Fixture::new(4, 5, 60);
    for (name, zeros) in [("a few zeros", 100), ("a preallocation", 1 << 20)] {
        let (fresh, seg) = fx.copy();
        let mut bytes = fx.bytes.clone();
        bytes.resize(bytes.len() + zeros, 0);
        std::fs::write(&seg, &bytes).unwrap();
        let engine =
            Engine::open(fresh.path()).unwrap_or_else(|e| panic!("{name}: open failed: {e}"));
        assert_eq!(read_all(&engine), fx.events, "{name}");
        assert!(engine.open_report().repairs.is_empty(), "{name}");
        assert!(torn_files(fresh.path()).is_empty(), "{name}");
        assert_accepts_more(fresh.path(), engine, &fx.events, true);
    }
    // In strict mode too: zeros are not damage.
    let (fresh, seg) = fx.copy();
    let mut bytes = fx.bytes.clone();
    bytes.resize(bytes.len() + 4096, 0);
    std::fs::write(&seg, &bytes).unwrap();
    let engine = Engine::open_with(
        fresh.path(),
        vexfs_journal_storage::OpenOptions {
            strict: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(read_all(&engine), fx.events);
    engine.close().unwrap();
}

// Checks I13 (docs/invariants.md).
/// Zeros that start inside the fsynced bytes are lost acknowledged data, not
/// preallocated space: the open is refused and nothing changes.
#[test]
fn zeros_over_fsynced_blocks_are_corruption() {
    let fx = Fixture::new(6, 5, 60);
    let victim = fx.blocks[2];
    let (fresh, seg) = fx.copy();
    let mut bytes = fx.bytes.clone();
    for b in &mut bytes[victim.offset as usize..] {
        *b = 0;
    }
    bytes.resize(bytes.len() + 8192, 0);
    std::fs::write(&seg, &bytes).unwrap();
    match Engine::open(fresh.path()) {
        Err(StorageError::Corrupt { offset, .. }) => assert_eq!(offset, victim.offset),
        Err(e) => panic!("expected Corrupt, got {e}"),
        Ok(_) => panic!("zeroed fsynced blocks opened"),
    }
    assert_eq!(std::fs::read(&seg).unwrap(), bytes, "nothing cut");
    assert!(torn_files(fresh.path()).is_empty());
}

// Checks I13 (docs/invariants.md).
/// A torn block followed by preallocated zeros is a torn tail: cut from the torn block
/// on, its bytes (and the zeros after them) kept aside.
#[test]
fn a_torn_block_before_preallocated_zeros_is_cut() {
    let fx = Fixture::new(4, 5, 60);
    let last = *fx.blocks.last().unwrap();
    let (fresh, seg) = fx.copy();
    let mut bytes = fx.bytes.clone();
    let half = (last.offset + u64::from(last.size) / 2) as usize;
    for b in &mut bytes[half..] {
        *b = 0;
    }
    bytes.resize(bytes.len() + 4096, 0);
    std::fs::write(&seg, &bytes).unwrap();
    let engine = Engine::open(fresh.path()).unwrap();
    let kept = fx.before_block(fx.blocks.len() - 1);
    assert_eq!(read_all(&engine), kept);
    let torn = torn_files(fresh.path());
    assert_eq!(torn.len(), 1);
    assert_eq!(
        std::fs::read(&torn[0]).unwrap(),
        bytes[last.offset as usize..]
    );
    assert_accepts_more(fresh.path(), engine, kept, true);
}

// Checks I13 (docs/invariants.md).
#[test]
fn damage_in_an_older_block_far_from_the_tail_is_corruption() {
    // Fifty commits of about 1.3 KiB: block 3 ends far more than 8 KiB before the end.
    let fx = Fixture::new(50, 4, 300);
    let victim = fx.blocks[3];
    let tail = fx.bytes.len() as u64 - victim.offset;
    assert!(tail > 4 * 8192, "only {tail} bytes after the victim");
    let cases: Vec<(&str, u64, u8)> = vec![
        (
            "bit in the middle of the data",
            victim.offset + u64::from(victim.size) / 2,
            0x08,
        ),
        ("bit in the block checksum", victim.offset + 36, 0x01),
        ("bit in the block magic", victim.offset, 0x40),
        ("block_size made huge", victim.offset + 18, 0x7F),
    ];
    for (name, at, mask) in cases {
        let (fresh, seg) = fx.copy();
        let mut bytes = fx.bytes.clone();
        bytes[at as usize] ^= mask;
        std::fs::write(&seg, &bytes).unwrap();
        match Engine::open(fresh.path()) {
            Err(e @ StorageError::Corrupt { .. }) => {
                let StorageError::Corrupt { path, offset, .. } = &e else {
                    unreachable!()
                };
                assert_eq!(path, &seg, "{name}");
                assert_eq!(*offset, victim.offset, "{name}");
                let message = e.to_string();
                assert!(
                    message.contains(&victim.offset.to_string()),
                    "{name}: {message}"
                );
                assert!(
                    message.contains(&seg.display().to_string()),
                    "{name}: {message}"
                );
            }
            Err(e) => panic!("{name}: expected Corrupt, got {e}"),
            Ok(_) => panic!("{name}: damaged journal opened"),
        }
        // Nothing was cut or saved aside.
        assert_eq!(
            std::fs::read(&seg).unwrap(),
            bytes,
            "{name}: segment modified"
        );
        assert!(torn_files(fresh.path()).is_empty(), "{name}");
    }
}

// Checks I13 (docs/invariants.md).
#[test]
fn damage_in_the_last_block_is_a_torn_write() {
    let fx = Fixture::new(4, 5, 60);
    let last = *fx.blocks.last().unwrap();
    let (fresh, seg) = fx.copy();
    let mut bytes = fx.bytes.clone();
    bytes[(last.offset + u64::from(last.size) / 2) as usize] ^= 0x20;
    std::fs::write(&seg, &bytes).unwrap();
    let engine = Engine::open(fresh.path()).unwrap();
    let kept = fx.before_block(fx.blocks.len() - 1);
    assert_eq!(read_all(&engine), kept);
    let torn = torn_files(fresh.path());
    assert_eq!(
        std::fs::read(&torn[0]).unwrap(),
        bytes[last.offset as usize..]
    );
    assert_accepts_more(fresh.path(), engine, kept, true);
}

// Checks I15 (docs/invariants.md).
#[test]
fn damage_inside_a_sealed_segment_is_reported_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::create(dir.path(), small_config()).unwrap();
    for i in 0..200 {
        engine
            .emit(small_tagged(0, i).payload(noise(i, 1000)))
            .unwrap();
    }
    engine.sync().unwrap();
    let segments = engine.store().segments();
    assert!(segments.len() >= 2);
    let sealed = segments[0].path().to_path_buf();
    let victim = segments[0].blocks()[1];
    drop(segments);
    engine.close().unwrap();
    drop(engine);
    let mut bytes = std::fs::read(&sealed).unwrap();
    bytes[(victim.offset + u64::from(victim.size) / 2) as usize] ^= 0x04;
    std::fs::write(&sealed, &bytes).unwrap();

    // Sealed segments open from their footer; the damage shows when the block is read.
    let engine = Engine::open(dir.path()).unwrap();
    match engine.get(victim.first_seq) {
        Err(StorageError::Format { path, offset, .. }) => {
            assert_eq!(path, sealed);
            assert_eq!(offset, victim.offset);
        }
        other => panic!("expected a Format error, got {other:?}"),
    }
    let mut scan = engine.scan(1..u64::MAX);
    let good: Vec<u64> = scan.by_ref().map_while(|r| r.ok()).map(|s| s.seq).collect();
    assert_eq!(good, (1..victim.first_seq).collect::<Vec<_>>());
    // Blocks after the damaged one are still readable.
    let after = victim.last_seq + 1;
    assert_eq!(engine.get(after).unwrap().unwrap().seq, after);
}
