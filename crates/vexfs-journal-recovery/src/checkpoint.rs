//! Checkpoints: durable positions the journal recovers and replays from.
//!
//! A checkpoint (file format: `vexfs_journal_format::checkpoint`) records the durable
//! sequence, the block table of the open segment up to it, and named consumer
//! positions; taking one also saves the open segment's index, so the index state it
//! relies on is on disk. After a crash, opening trusts the latest valid checkpoint's
//! block table and scans only what follows (storage `TrustedPrefix`); a damaged
//! checkpoint is skipped for the previous one, with a warning.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;
use vexfs_journal_format::checkpoint::{CheckpointData, decode_checkpoint, encode_checkpoint};
use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_index::Index;
use vexfs_journal_storage::dir::{create_file, ensure_dir, sync_dir};
use vexfs_journal_storage::{Engine, TrustedPrefix};

use crate::error::{RecoveryError, Result};

/// Directory of checkpoint files inside a journal directory.
pub const CHECKPOINT_DIR: &str = "checkpoints";
/// Checkpoints kept; older ones are deleted when a new one is taken.
pub const KEEP: usize = 8;

/// A checkpoint as listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckpointInfo {
    /// Id (increasing).
    pub id: u64,
    /// Creation time, ns since the epoch.
    pub created_ns: i64,
    /// Every event below this sequence was durable (an exclusive bound).
    pub durable_seq: u64,
    /// The last sequence the checkpoint covers (inclusive; `None` if it covers none).
    pub durable_through: Option<u64>,
    /// The open segment it describes.
    pub segment_first_seq: u64,
    /// Bytes of that segment its block table covers.
    pub segment_end: u64,
    /// Named consumer positions.
    pub consumers: Vec<(String, u64)>,
    /// The file.
    pub path: PathBuf,
}

impl CheckpointInfo {
    fn from_data(d: &CheckpointData, path: PathBuf) -> Self {
        CheckpointInfo {
            id: d.id,
            created_ns: d.created_ns,
            durable_seq: d.durable_seq,
            durable_through: d.durable_seq.checked_sub(1).filter(|s| *s > 0),
            segment_first_seq: d.segment_first_seq,
            segment_end: d.segment_end,
            consumers: d.consumers.clone(),
            path,
        }
    }
}

/// Path of checkpoint `id` in journal `dir`.
pub fn path_of(dir: &Path, id: u64) -> PathBuf {
    dir.join(CHECKPOINT_DIR).join(format!("{id:010}.ckpt"))
}

fn ids(dir: &Path) -> Vec<(u64, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir.join(CHECKPOINT_DIR)) else {
        return Vec::new();
    };
    let mut out: Vec<(u64, PathBuf)> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ckpt"))
        .filter_map(|p| {
            let id = p.file_stem()?.to_str()?.parse().ok()?;
            Some((id, p))
        })
        .collect();
    out.sort();
    out
}

/// Every checkpoint, oldest first; damaged ones as `(path, reason)`.
pub fn list(dir: &Path) -> Vec<std::result::Result<CheckpointInfo, (PathBuf, String)>> {
    ids(dir)
        .into_iter()
        .map(|(_, path)| match load_file(&path) {
            Ok(d) => Ok(CheckpointInfo::from_data(&d, path)),
            Err(e) => Err((path, e)),
        })
        .collect()
}

fn load_file(path: &Path) -> std::result::Result<CheckpointData, String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    decode_checkpoint(&bytes).map_err(|e| e.to_string())
}

/// Loads checkpoint `id`.
pub fn load(dir: &Path, id: u64) -> Result<CheckpointData> {
    let path = path_of(dir, id);
    if !path.exists() {
        return Err(RecoveryError::Checkpoint {
            id,
            reason: "no such checkpoint (see `vexjournal checkpoint list`)".into(),
        });
    }
    load_file(&path).map_err(|reason| RecoveryError::Checkpoint {
        id,
        reason: format!("damaged: {reason}"),
    })
}

/// Deletes checkpoint `id`, damaged or not; returns its path. Recovery then trusts the
/// previous checkpoint (or scans). Take the journal's writer lock first.
pub fn delete(dir: &Path, id: u64) -> Result<PathBuf> {
    let path = path_of(dir, id);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RecoveryError::Checkpoint {
                id,
                reason: "no such checkpoint (see `vexjournal checkpoint list`)".into(),
            });
        }
        Err(e) => return Err(RecoveryError::io("removing", &path, e)),
    }
    sync_dir(&dir.join(CHECKPOINT_DIR))?;
    Ok(path)
}

/// Deletes every checkpoint file that does not decode; returns their paths, oldest
/// first. Take the journal's writer lock first.
pub fn delete_damaged(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    for (_, path) in ids(dir) {
        if load_file(&path).is_err() {
            std::fs::remove_file(&path).map_err(|e| RecoveryError::io("removing", &path, e))?;
            removed.push(path);
        }
    }
    if !removed.is_empty() {
        sync_dir(&dir.join(CHECKPOINT_DIR))?;
    }
    Ok(removed)
}

/// The newest checkpoint of journal `journal_id` that decodes, skipping damaged ones
/// (with a warning).
pub fn latest_valid(dir: &Path, journal_id: uuid::Uuid) -> Option<CheckpointData> {
    for (id, path) in ids(dir).into_iter().rev() {
        match load_file(&path) {
            Ok(d) if d.journal_id == *journal_id.as_bytes() => return Some(d),
            Ok(_) => tracing::warn!(
                checkpoint = id,
                "checkpoint belongs to another journal; skipped"
            ),
            Err(e) => {
                tracing::warn!(checkpoint = id, error = %e, "checkpoint damaged; using the previous one")
            }
        }
    }
    None
}

/// The open-segment prefix a checkpoint vouches for.
pub fn trusted_prefix(d: &CheckpointData) -> TrustedPrefix {
    TrustedPrefix {
        first_seq: d.segment_first_seq,
        end: d.segment_end,
        blocks: d.blocks.clone(),
    }
}

/// What taking a checkpoint did.
#[derive(Clone, Debug, Serialize)]
pub struct Created {
    /// The checkpoint.
    pub info: CheckpointInfo,
    /// Time taken, µs.
    pub micros: u64,
}

/// Takes a checkpoint of an open journal: syncs, records the durable position and the
/// open segment's block table, saves the open segment's index, writes the checkpoint
/// file atomically, records it in the segment header and keeps the newest [`KEEP`].
pub fn create(
    engine: &Engine,
    index: Option<&Index>,
    consumers: &[(String, u64)],
) -> Result<Created> {
    let started = Instant::now();
    // One checkpoint at a time: ids, temporary names and pruning assume it. The
    // periodic thread and callers can race; a process-wide lock is enough because only
    // the process holding the journal's writer lock takes checkpoints, and they are
    // rare and take milliseconds.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = CREATING.lock().unwrap_or_else(|p| p.into_inner());
    engine.sync()?;
    let durable = engine.durable_seq();
    let dir = engine.dir();
    let store = engine.store();
    let open = store.segments().into_iter().rev().find(|s| !s.is_sealed());
    let (first_seq, end, blocks) = match &open {
        Some(seg) => {
            let blocks: Vec<_> = seg
                .blocks()
                .iter()
                .take_while(|b| b.last_seq < durable)
                .copied()
                .collect();
            let end = blocks
                .last()
                .map_or(FILE_HEADER_SIZE as u64, |b| b.offset + u64::from(b.size));
            (seg.first_seq(), end, blocks)
        }
        None => (durable, FILE_HEADER_SIZE as u64, Vec::new()),
    };
    if let (Some(index), Some(seg)) = (index, &open) {
        index.persist(seg.first_seq())?;
    }
    let existing = ids(dir);
    let id = existing.last().map_or(1, |(id, _)| id + 1);
    let data = CheckpointData {
        id,
        created_ns: vexfs_journal_storage::clock::now_ns(),
        journal_id: *engine.meta().id.as_bytes(),
        durable_seq: durable,
        segment_first_seq: first_seq,
        segment_end: end,
        consumers: consumers.to_vec(),
        blocks,
    };
    let cdir = dir.join(CHECKPOINT_DIR);
    if !cdir.is_dir() {
        ensure_dir(&cdir)?;
        // The first checkpoint's directory entry must be durable with it.
        sync_dir(dir)?;
    }
    let path = path_of(dir, id);
    let tmp = path.with_extension("tmp");
    let mut f = create_file(&tmp)?;
    f.write_all(&encode_checkpoint(&data))
        .and_then(|_| f.sync_all())
        .map_err(|e| RecoveryError::io("writing", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| RecoveryError::io("renaming", &tmp, e))?;
    sync_dir(&cdir)?;
    engine.record_marks(|m| m.last_checkpoint_sequence = durable)?;
    let mut all = ids(dir);
    while all.len() > KEEP {
        let (_, old) = all.remove(0);
        std::fs::remove_file(&old).map_err(|e| RecoveryError::io("removing", &old, e))?;
    }
    Ok(Created {
        info: CheckpointInfo::from_data(&data, path),
        micros: started.elapsed().as_micros() as u64,
    })
}
