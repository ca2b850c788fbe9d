//! Power loss: losing what was written but not fsynced.
//!
//! Each round runs a journal with several producer threads emitting durable single
//! events and durable atomic batches, records every acknowledgement, and at a random
//! moment takes the page-cache image of the journal directory (a copy, while the
//! producers keep going) right after noting which events were acknowledged. In the
//! image, everything after the end of the block holding the last acknowledged event —
//! bytes the machine may not have made durable — is then lost in one of the ways a
//! power cut loses it: the file cut at a random point after it, the cut tail replaced
//! or followed by garbage or zeros, a garbled chunk beyond the last fsync position
//! (recorded by the sync thread in the open segment's `journal_size`) with later
//! writes intact, the last header update lost, index files lost or garbled.
//!
//! Reopening must then: succeed; keep every acknowledged event, exactly once, with its
//! content; keep sequences contiguous from 1; show each atomic batch whole or not at
//! all and each producer's events as a prefix of what it emitted; verify clean; and
//! accept new events.
//!
//! Rounds: `TORTURE_ROUNDS` (default 50).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use vexfs_journal::format::FileHeader;
use vexfs_journal::format::consts::FILE_HEADER_SIZE;
use vexfs_journal::{Config, Journal, RecoveryMode};
use vexfs_journal_recovery::checkpoint;
use vexfs_journal_storage::manifest;
use vexfs_journal_storage::segment::FLAG_SEALED;
use vexfs_journal_testkit::{
    Rng, blocks::segment_blocks, blocks::written_end, copy_dir_live, noise, rounds, segment_files,
    set_len, tagged, write_at,
};

fn config() -> Config {
    Config {
        segment_size: 128 << 10,
        block_bytes: 2048,
        ..small_config()
    }
}

/// How the unsynced tail is lost.
#[derive(Clone, Copy, Debug)]
enum Loss {
    Cut,
    CutThenGarbage,
    CutThenZeros,
    OverwriteGarbage,
    OverwriteZeros,
    GarbledChunkBeyondSync,
}

const LOSSES: [Loss; 6] = [
    Loss::Cut,
    Loss::CutThenGarbage,
    Loss::CutThenZeros,
    Loss::OverwriteGarbage,
    Loss::OverwriteZeros,
    Loss::GarbledChunkBeyondSync,
];

/// Applies a power loss to the image in `dir`; `acked_end` is the end of the block
/// holding the last acknowledged event of the open segment (or the header's end).
/// Returns a description.
fn lose_unsynced(dir: &Path, acked_end: u64, rng: &mut Rng) -> String {
    let seg = segment_files(dir).pop().unwrap();
    // The writer preallocates space after its last block. The (unsynced) allocation
    // may be lost with the power, or its zeros may stay; either way the losses below
    // hit the written bytes.
    let len = written_end(&seg);
    let preallocated = std::fs::metadata(&seg).unwrap().len() > len;
    if preallocated && rng.chance(50) {
        set_len(&seg, len);
    }
    let bytes = std::fs::read(&seg).unwrap();
    let header = FileHeader::parse(&bytes[..FILE_HEADER_SIZE]).unwrap();
    if header.flags & FLAG_SEALED != 0 {
        // The image caught a rotation between sealing this segment and creating the
        // next: sealing fsyncs the data, the footer and then the sealed header, so a
        // power cut cannot take any of it.
        return format!(
            "{} sealed (rotation in progress): nothing unsynced to lose",
            seg.file_name().unwrap().to_string_lossy()
        );
    }
    // The last header update (journal_size) may not have reached the disk. Whatever
    // journal_size the disk keeps, the bytes before it were fsynced before it was
    // written, so a power loss cannot touch them: losses start after it (and after the
    // last acknowledged block).
    // A journal_size the disk may keep is one an earlier sync recorded: the end of a
    // block (or of the bare header), never a point inside one.
    let mut past_sizes: Vec<u64> = vec![FILE_HEADER_SIZE as u64];
    past_sizes.extend(
        segment_blocks(&seg)
            .iter()
            .map(|b| b.0 + b.1)
            .filter(|end| *end < header.journal_size),
    );
    let older = (rng.chance(25) && header.journal_size > FILE_HEADER_SIZE as u64)
        .then(|| past_sizes[rng.range(0, past_sizes.len() as u64 - 1) as usize]);
    let on_disk_size = older.unwrap_or(header.journal_size);
    let synced = on_disk_size.max(acked_end);
    let loss = LOSSES[rng.range(0, LOSSES.len() as u64 - 1) as usize];
    let at = rng.range(synced.min(len), len);
    let extra = rng.range(1, 8192) as usize;
    let mut what = format!(
        "{loss:?} of {} (len {len}, acked end {acked_end}, journal_size {}) at {at}",
        seg.file_name().unwrap().to_string_lossy(),
        header.journal_size
    );
    match loss {
        Loss::Cut => set_len(&seg, at),
        Loss::CutThenGarbage | Loss::CutThenZeros => {
            set_len(&seg, at);
            let tail = if matches!(loss, Loss::CutThenZeros) {
                vec![0u8; extra]
            } else {
                noise(rng.next(), extra)
            };
            write_at(&seg, at, &tail);
            what += &format!(" + {extra} bytes");
        }
        Loss::OverwriteGarbage => write_at(&seg, at, &noise(rng.next(), (len - at) as usize)),
        Loss::OverwriteZeros => write_at(&seg, at, &vec![0u8; (len - at) as usize]),
        Loss::GarbledChunkBeyondSync => {
            if synced < len {
                let from = rng.range(synced, len - 1);
                let n = (rng.range(512, 4096)).min(len - from) as usize;
                write_at(&seg, from, &noise(rng.next(), n));
                what = format!("{what}; garbled {n} bytes at {from} (synced up to {synced})");
            }
        }
    }
    if let Some(size) = older {
        let older = FileHeader {
            journal_size: size,
            ..header
        };
        write_at(&seg, 0, &older.to_bytes());
        what += &format!("; header journal_size back to {size}");
    }
    // Index files are written without fsync: lose or garble one.
    if rng.chance(30) {
        let idxs: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "idx"))
            .collect();
        if !idxs.is_empty() {
            let idx = &idxs[rng.range(0, idxs.len() as u64 - 1) as usize];
            let ilen = std::fs::metadata(idx).unwrap().len();
            if rng.chance(50) {
                set_len(idx, 0);
                what += "; an index emptied";
            } else if ilen > 0 {
                let off = rng.range(0, ilen - 1);
                write_at(idx, off, &noise(rng.next(), 64.min((ilen - off) as usize)));
                what += "; an index garbled";
            }
        }
    }
    what
}

// Checks I2, I9, I12 (docs/invariants.md).
#[test]
fn power_loss_keeps_every_acknowledged_event() {
    let rounds = rounds(50);
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let mut totals = (0usize, 0u64, 0u64);
    let mut used_checkpoint = 0;
    let mut checkpoints_taken = 0;
    for round in 0..rounds {
        let mut rng = Rng(0x90E5_0000 + round);
        let live = tmp.path().join(format!("live-{round}"));
        let image = tmp.path().join(format!("image-{round}"));
        let j = Journal::create(&live, config()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let acks = Arc::new(Mutex::new(Vec::new()));
        let producers = rng.range(1, 4);
        let handles: Vec<_> = (0..producers)
            .map(|p| {
                let (j, stop, acks) = (j.clone(), stop.clone(), acks.clone());
                std::thread::spawn(move || {
                    produce(&j, p, &stop, &acks);
                })
            })
            .collect();
        // Half the rounds also take checkpoints as fast as they can, so recovery may
        // trust one.
        let checkpointing = rng.chance(50);
        let checkpointer = checkpointing.then(|| {
            let (j, stop) = (j.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut taken = 0;
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = j.create_checkpoint() {
                        panic!("checkpoint failed: {e}");
                    }
                    taken += 1;
                    std::thread::sleep(Duration::from_millis(2));
                }
                taken
            })
        });
        std::thread::sleep(Duration::from_millis(rng.range(5, 80)));
        // What was acknowledged before the image is taken is durable.
        let acked: Vec<Ack> = acks.lock().unwrap().clone();
        copy_dir_live(&live, &image);
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            h.join().unwrap();
        }
        checkpoints_taken += checkpointer.map_or(0, |h| h.join().unwrap());
        j.close().unwrap();
        std::fs::remove_dir_all(&live).unwrap();
        let _ = std::fs::remove_file(image.join("CLEAN"));

        // The end of the block holding the last acknowledged event, in the open segment.
        let open = segment_files(&image).pop().unwrap();
        let open_first: u64 = open.file_stem().unwrap().to_str().unwrap().parse().unwrap();
        let max_acked = acked.iter().map(|a| a.last).max().unwrap_or(0);
        let acked_end = if max_acked >= open_first {
            segment_blocks(&open)
                .iter()
                .find(|b| b.2 <= max_acked && max_acked <= b.3)
                .map(|b| b.0 + b.1)
                .unwrap_or_else(|| {
                    panic!("round {round}: acknowledged {max_acked} not in the image")
                })
        } else {
            FILE_HEADER_SIZE as u64
        };
        // A checkpoint in the image vouches for blocks that were fsynced: the loss
        // starts after them too.
        let trusted_end = checkpoint::list(&image)
            .into_iter()
            .flatten()
            .filter(|c| c.segment_first_seq == open_first)
            .map(|c| c.segment_end)
            .max()
            .unwrap_or(0);
        // So does the manifest: its floor is raised only after the events below it
        // were fsynced (checkpoints and sync marks raise it before writing their own
        // files, so the image can hold a floor no checkpoint file mentions yet).
        let floor = manifest::load(&image)
            .unwrap()
            .map_or(0, |m| m.next_seq_floor);
        let manifest_end = if floor > open_first {
            segment_blocks(&open)
                .iter()
                .find(|b| b.2 < floor && floor <= b.3 + 1)
                .map(|b| b.0 + b.1)
                .unwrap_or_else(|| panic!("round {round}: manifest floor {floor} not in the image"))
        } else {
            0
        };
        let what = lose_unsynced(
            &image,
            acked_end.max(trusted_end).max(manifest_end),
            &mut rng,
        );
        let ckpts: Vec<String> = checkpoint::list(&image)
            .into_iter()
            .map(|c| match c {
                Ok(c) => format!(
                    "#{} seg {} end {} durable {}",
                    c.id, c.segment_first_seq, c.segment_end, c.durable_seq
                ),
                Err((p, e)) => format!("{}: {e}", p.display()),
            })
            .collect();
        let ctx = format!(
            "round {round} ({producers} producers, checkpoints {checkpointing}, {} acks up to \
             {max_acked}, manifest floor {floor}): {what}; checkpoints in the image: {ckpts:?}",
            acked.len()
        );

        let j = Journal::open_existing_with(&image, RecoveryMode::TolerateTail, 0)
            .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        let events = journal_events(&j);
        check_acknowledged(&events, &acked, &ctx);
        if j.recovery_report().checkpoint_used.is_some() {
            used_checkpoint += 1;
        }
        let next = j.next_seq();
        assert_eq!(next, events.len() as u64 + 1, "{ctx}");
        assert_eq!(j.emit_durable(tagged(99, 0)).unwrap(), next, "{ctx}");
        j.close().unwrap();
        let v = vexfs_journal::verify(&image, Default::default(), |_, _| {}).unwrap();
        assert!(v.is_clean(), "{ctx}: verify after close: {:?}", v.problems);
        totals.0 += acked.len();
        totals.1 += acked.iter().map(|a| a.last - a.first + 1).sum::<u64>();
        totals.2 += events.len() as u64 - max_acked;
        std::fs::remove_dir_all(&image).unwrap();
    }
    eprintln!(
        "torture power-loss: rounds={rounds} failures=0 acks={} acked_events={} \
         unacked_survivors={} recovered_from_checkpoint={used_checkpoint} \
         checkpoints={checkpoints_taken} elapsed={:.1}s",
        totals.0,
        totals.1,
        totals.2,
        started.elapsed().as_secs_f64()
    );
}

// Checks I38 (docs/invariants.md).
/// The open segment's index file is written without fsync (by checkpoints and at
/// close), so a power cut can leave it empty. The writer rebuilds the index on open,
/// but the damaged file stays on disk until close: `verify` on the open journal — and
/// absolute mode after a second crash — report damage that recovery already repaired.
#[test]
fn an_index_lost_with_power_is_repaired_on_disk_by_the_next_open() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let image = tmp.path().join("image");
    let j = Journal::create(&live, config()).unwrap();
    for i in 0..100 {
        j.emit(tagged(0, i)).unwrap();
    }
    j.create_checkpoint().unwrap();
    for i in 100..120 {
        j.emit(tagged(0, i)).unwrap();
    }
    crash_image(&j, &image);
    j.close().unwrap();
    let open = segment_files(&image).pop().unwrap();
    let idx = open.with_extension("idx");
    assert!(
        idx.exists(),
        "the checkpoint saved the open segment's index"
    );
    set_len(&idx, 0);

    let j = Journal::open_existing_with(&image, RecoveryMode::TolerateTail, 0).unwrap();
    assert_eq!(journal_events(&j).len(), 120);
    let v = j.verify(false).unwrap();
    assert!(v.is_clean(), "verify after recovery: {:?}", v.problems);
}
