//! File-level mischief torture (issue 10 acceptance): between openings of a journal,
//! random operations on its files — delete, rename, truncate, duplicate or swap segment
//! files, index files, checkpoints and the manifest itself. Every round must either
//! open with every acknowledged event intact, or refuse (and `verify` report the
//! problem) — never open or verify clean with an event missing, and never hand out a
//! sequence number that was acknowledged before (also after salvage accepts a loss).
//!
//! Rounds: `TORTURE_ROUNDS` (default 200).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};

use common::build;
use vexfs_journal::{Journal, RecoveryMode};
use vexfs_journal_testkit::{Rng, copy_dir, rounds, tagged};

/// The files mischief picks from.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() && !p.ends_with("LOCK") && !p.ends_with("journal.json") {
            out.push(p);
        }
    }
    let ckpt = dir.join("checkpoints");
    if let Ok(rd) = std::fs::read_dir(&ckpt) {
        out.extend(rd.map(|e| e.unwrap().path()));
    }
    out.sort();
    out
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    files(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect()
}

/// One random act; returns what it did.
fn mischief(dir: &Path, rng: &mut Rng) -> String {
    let all = files(dir);
    let segs = segment_files(dir);
    if segs.is_empty() || all.is_empty() {
        return "nothing".into();
    }
    let pick = |rng: &mut Rng, v: &[PathBuf]| v[rng.range(0, v.len() as u64 - 1) as usize].clone();
    match rng.range(0, 6) {
        0 => {
            let f = pick(rng, &all);
            std::fs::remove_file(&f).unwrap();
            format!("delete {}", f.display())
        }
        1 => {
            let f = pick(rng, &all);
            let len = std::fs::metadata(&f).unwrap().len();
            let to = rng.range(0, len.saturating_sub(1));
            std::fs::OpenOptions::new()
                .write(true)
                .open(&f)
                .unwrap()
                .set_len(to)
                .unwrap();
            format!("truncate {} from {len} to {to}", f.display())
        }
        2 if segs.len() >= 2 => {
            let a = pick(rng, &segs);
            let b = pick(rng, &segs);
            if a == b {
                return "nothing".into();
            }
            let tmp = dir.join("swap-tmp");
            std::fs::rename(&a, &tmp).unwrap();
            std::fs::rename(&b, &a).unwrap();
            std::fs::rename(&tmp, &b).unwrap();
            format!("swap {} and {}", a.display(), b.display())
        }
        3 => {
            // Duplicate a segment under a new (later or earlier) name.
            let a = pick(rng, &segs);
            let first = rng.range(1, 20_000);
            let to = dir.join(format!("{first:020}.seg"));
            std::fs::copy(&a, &to).unwrap();
            format!("duplicate {} as {}", a.display(), to.display())
        }
        4 => {
            // Rename a segment to another sequence.
            let a = pick(rng, &segs);
            let first = rng.range(1, 20_000);
            let to = dir.join(format!("{first:020}.seg"));
            std::fs::rename(&a, &to).unwrap();
            format!("rename {} to {}", a.display(), to.display())
        }
        5 => {
            // Replace a file by a copy of another one of the same kind.
            let a = pick(rng, &all);
            let same: Vec<PathBuf> = all
                .iter()
                .filter(|p| p.extension() == a.extension() && **p != a)
                .cloned()
                .collect();
            if same.is_empty() {
                return "nothing".into();
            }
            let b = pick(rng, &same);
            std::fs::copy(&b, &a).unwrap();
            format!("copy {} over {}", b.display(), a.display())
        }
        _ => {
            // Flip a byte of a file.
            let f = pick(rng, &all);
            let mut bytes = std::fs::read(&f).unwrap();
            if bytes.is_empty() {
                return "nothing".into();
            }
            let at = rng.range(0, bytes.len() as u64 - 1) as usize;
            bytes[at] ^= 1 << rng.range(0, 7);
            std::fs::write(&f, bytes).unwrap();
            format!("flip byte {at} of {}", f.display())
        }
    }
}

// Checks I4, I21 (docs/invariants.md).
#[test]
fn file_mischief_never_loses_an_acknowledged_event_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let events = build(&base, 1_500);
    {
        // A checkpoint and more events, so checkpoints are among the files.
        let j = Journal::open_existing(&base).unwrap();
        j.create_checkpoint().unwrap();
        for i in 1_500..2_000 {
            j.emit(tagged(0, i)).unwrap();
        }
        j.close().unwrap();
    }
    let acked: Vec<u64> = {
        let j = Journal::open_existing(&base).unwrap();
        let all: Vec<u64> = j.scan(0..u64::MAX).map(|e| e.unwrap().seq).collect();
        j.close().unwrap();
        all
    };
    assert_eq!(acked.len(), 2_000);
    assert_eq!(events.len(), 1_500);
    let max_acked = *acked.last().unwrap();
    let n = rounds(200);
    let mut rng = Rng(0x005e_ed0f_1055);
    let (mut opened, mut refused, mut salvaged, mut reported) = (0u64, 0u64, 0u64, 0u64);
    for round in 0..n {
        let dir = tmp.path().join(format!("r{round}"));
        copy_dir(&base, &dir);
        let acts: Vec<String> = (0..rng.range(1, 3))
            .map(|_| mischief(&dir, &mut rng))
            .collect();
        let verify = vexfs_journal::verify(&dir, Default::default(), |_, _| {});
        match Journal::open_existing(&dir) {
            Ok(j) => {
                opened += 1;
                let mut have = Vec::new();
                let mut read_errors = Vec::new();
                for e in j.scan(0..u64::MAX) {
                    match e {
                        Ok(e) => have.push(e.seq),
                        Err(e) => read_errors.push(e.to_string()),
                    }
                }
                let missing: Vec<u64> = acked
                    .iter()
                    .copied()
                    .filter(|s| have.binary_search(s).is_err())
                    .collect();
                if !read_errors.is_empty() {
                    // Damage inside a sealed block is found when the block is read
                    // (opening trusts the sealed footer): reported, never silent —
                    // and verify must say so too.
                    assert!(
                        verify.as_ref().is_ok_and(|v| !v.is_clean()),
                        "round {round} {acts:?}: reading failed ({read_errors:?}) but verify is clean"
                    );
                    reported += 1;
                }
                assert!(
                    missing.is_empty() || !read_errors.is_empty(),
                    "round {round} {acts:?}: opened with {} acknowledged events missing (first {:?})",
                    missing.len(),
                    missing.first()
                );
                let seq = j.emit_durable(tagged(9, round)).unwrap();
                assert!(
                    seq > max_acked,
                    "round {round} {acts:?}: sequence {seq} reused"
                );
                j.close().unwrap();
            }
            Err(e) => {
                refused += 1;
                // Refused: verify must not call the journal clean.
                if let Ok(v) = &verify {
                    assert!(
                        !v.is_clean(),
                        "round {round} {acts:?}: open refused ({e}) but verify is clean"
                    );
                }
                // Accepting the loss never lets a number be reused.
                if let Ok(j) = Journal::open_existing_with(&dir, RecoveryMode::Salvage, 0) {
                    salvaged += 1;
                    let seq = j.emit_durable(tagged(9, round)).unwrap();
                    assert!(
                        seq > max_acked,
                        "round {round} {acts:?}: sequence {seq} reused after salvage"
                    );
                    j.close().unwrap();
                }
            }
        }
        std::fs::remove_dir_all(&dir).ok();
    }
    println!(
        "torture mischief: rounds={n} opened={opened} (read errors reported: {reported}) refused={refused} salvaged={salvaged} failures=0"
    );
}
