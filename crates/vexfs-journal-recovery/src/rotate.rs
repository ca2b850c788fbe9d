//! Key rotation: re-encrypting every block of a closed, encrypted journal with a new
//! key, atomically (`docs/encryption.md`).
//!
//! Every segment is rewritten under `swap.tmp/` block by block — each block decrypted
//! with the old key at its place and encrypted with the new one at the same place, so
//! block tables, checkpoints and sizes stay true — then `journal.json` (naming the new
//! key) and the `MANIFEST` are written beside them, and one swap commit installs them
//! all. A crash before the commit leaves the journal as it was (old key); after it, the
//! next opener finishes installing the new files (new key). Running the rotation again
//! after a crash finishes it or reports it done.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use vexfs_journal_cipher::JournalKey;
use vexfs_journal_format::Compression;
use vexfs_journal_storage::dir::{DirLock, Encryption, META_FILE};
use vexfs_journal_storage::manifest::{self, MANIFEST_FILE};
use vexfs_journal_storage::rewrite::SegmentWriter;
use vexfs_journal_storage::segment::SegmentCipher;
use vexfs_journal_storage::swap::{Swap, SwapManifest};
use vexfs_journal_storage::{JournalMeta, OpenMode, StorageError, Store};

use crate::error::Result;

/// What a rotation did.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct RotateReport {
    /// The journal was already encrypted with the new key (an earlier rotation
    /// finished): nothing was done.
    pub already_done: bool,
    /// Id of the key the journal had.
    pub old_key_id: String,
    /// Id of the key it has now.
    pub new_key_id: String,
    /// Segments re-encrypted.
    pub segments: usize,
    /// Blocks re-encrypted.
    pub blocks: u64,
    /// Bytes of segments rewritten.
    pub bytes: u64,
    /// Time taken.
    #[serde(skip)]
    pub elapsed: Duration,
}

/// Re-encrypts the journal in `dir` (which must not be open by a writer) from key
/// `old` to key `new`.
pub fn rotate_key(
    dir: &std::path::Path,
    old: &Arc<JournalKey>,
    new: &Arc<JournalKey>,
) -> Result<RotateReport> {
    let started = Instant::now();
    let mut report = RotateReport {
        old_key_id: old.id().to_string(),
        new_key_id: new.id().to_string(),
        ..Default::default()
    };
    // Finish a committed swap first (an earlier rotation killed after its commit).
    vexfs_journal_storage::swap::apply_pending(dir, false)?;
    let effective = JournalMeta::load_effective(dir)?;
    if effective.encryption.is_none() {
        return Err(StorageError::NotEncrypted {
            dir: dir.to_path_buf(),
        }
        .into());
    }
    if effective.cipher(dir, Some(new), true).is_ok() {
        report.already_done = true;
        report.elapsed = started.elapsed();
        return Ok(report);
    }
    // The old key must be the journal's (checked before the lock: a wrong key changes
    // nothing).
    effective.cipher(dir, Some(old), true)?;
    let _lock = DirLock::acquire(dir)?;
    // Repairs a torn tail and finishes an interrupted swap (with the old key: the
    // checks above found no committed rotation pending).
    let (store, _) = Store::open_keyed(dir, OpenMode::Repair, Some(old))?;
    let meta = JournalMeta::load(dir)?;
    let Some(old_cipher) = store.cipher().cloned() else {
        return Err(StorageError::NotEncrypted {
            dir: dir.to_path_buf(),
        }
        .into());
    };
    let new_cipher = SegmentCipher::new(new.clone(), *meta.id.as_bytes());
    let segments = store.segments();
    let mut journal_manifest = match store.manifest() {
        Some(m) => m,
        None => {
            let floor = segments.last().map_or(1, |s| s.next_seq());
            manifest::describe(*meta.id.as_bytes(), &segments, floor)?
        }
    };
    let swap = Swap::begin(dir)?;
    let mut commit = SwapManifest {
        reason: "key rotation".into(),
        ..Default::default()
    };
    // Leftovers of an interrupted retention or compaction are not the journal's; left
    // under the old key they would stop every later open.
    for path in store.leftovers() {
        if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
            commit.delete.push(name.to_string());
        }
    }
    for seg in segments {
        let name = seg
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| StorageError::NotAJournal {
                dir: dir.to_path_buf(),
                reason: format!("{} is not a segment file name", seg.path().display()),
            })?;
        let header = seg.header();
        let compression =
            Compression::from_code(header.compression_algorithm).unwrap_or(Compression::Lz4);
        let to = swap.path(&name);
        let mut writer = SegmentWriter::create(
            &to,
            seg.first_seq(),
            &header,
            compression,
            Some(&new_cipher),
        )?;
        let blocks = seg.blocks().clone();
        for entry in blocks.iter() {
            let raw = seg.read_stored_block(entry)?;
            writer.push_raw(entry, &raw, Some((&old_cipher, seg.first_seq())))?;
            report.blocks += 1;
        }
        writer.reserve_until(header.next_event_id.max(seg.next_seq()));
        writer.finish(seg.is_sealed())?;
        report.bytes += std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
        let entry = crate::compact::describe_new(&to, seg.first_seq(), Some(&new_cipher))?;
        if let Some(e) = journal_manifest
            .segments
            .iter_mut()
            .find(|e| e.first_seq == seg.first_seq())
        {
            *e = entry;
        }
        commit.replace.push(name);
        report.segments += 1;
    }
    drop(store);
    let mut rotated = meta;
    rotated.encryption = Some(Encryption::with_key(new));
    let meta_path: PathBuf = swap.path(META_FILE);
    rotated.store(meta_path.parent().unwrap_or(dir))?;
    commit.replace.push(META_FILE.into());
    manifest::write_file(&swap.path(MANIFEST_FILE), &journal_manifest)?;
    commit.replace.push(MANIFEST_FILE.into());
    swap.commit(&commit)?;
    report.elapsed = started.elapsed();
    Ok(report)
}
