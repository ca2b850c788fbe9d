//! Recovering from a checkpoint (`checkpoint restore ID`).
//!
//! The checkpoint's block table of the open segment is trusted, and only what follows
//! it is scanned and repaired (tolerate-tail). With `rollback`, everything after the
//! checkpoint — the tail of its segment, newer segments, newer checkpoints — is moved
//! into `rolled-back-<id>-<time>/` first, returning the journal to the checkpoint's
//! state; nothing is deleted.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use vexfs_journal_format::FileHeader;
use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::file_header::FLAG_SEALED;
use vexfs_journal_format::manifest::{ManifestSegment, RemovalReason};
use vexfs_journal_storage::dir::{
    CLEAN_FILE, DirLock, ensure_dir, list_segments, segment_name, sync_dir,
};
use vexfs_journal_storage::manifest;
use vexfs_journal_storage::segment::table_matches;
use vexfs_journal_storage::{Engine, JournalMeta, OpenMode, OpenOptions, Store};

use crate::checkpoint::{self, CHECKPOINT_DIR, CheckpointInfo};
use crate::error::{RecoveryError, Result};

/// What restoring did.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct RestoreReport {
    /// The checkpoint.
    pub checkpoint: CheckpointInfo,
    /// Whether later data was moved aside.
    pub rolled_back: bool,
    /// Events in the journal after restoring.
    pub events: u64,
    /// Events after the checkpoint (kept, or moved aside when rolling back).
    pub events_after_checkpoint: u64,
    /// Where rolled-back data went.
    pub moved_to: Option<PathBuf>,
    /// Bytes scanned after the trusted prefix, cut as torn tail.
    pub bytes_cut: u64,
    /// Time taken.
    #[serde(skip)]
    pub elapsed: Duration,
}

fn mv(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| RecoveryError::io("moving", from, e))
}

/// Recovers the journal in `dir` (closed) from checkpoint `id`.
pub fn restore(dir: &Path, id: u64, rollback: bool) -> Result<RestoreReport> {
    restore_keyed(dir, id, rollback, None)
}

/// [`restore`] with the journal's key (required when it is encrypted).
pub fn restore_keyed(
    dir: &Path,
    id: u64,
    rollback: bool,
    key: Option<&std::sync::Arc<vexfs_journal_cipher::JournalKey>>,
) -> Result<RestoreReport> {
    let started = Instant::now();
    let meta = JournalMeta::load(dir)?;
    let cipher = crate::cipher_of(dir, key, true)?;
    let c = checkpoint::load(dir, id)?;
    if c.journal_id != *meta.id.as_bytes() {
        return Err(RecoveryError::Checkpoint {
            id,
            reason: "belongs to another journal".into(),
        });
    }
    let seg_path = dir.join(segment_name(c.segment_first_seq));
    let seg_len = std::fs::metadata(&seg_path).map(|m| m.len()).unwrap_or(0);
    let info = checkpoint::list(dir)
        .into_iter()
        .flatten()
        .find(|i| i.id == id)
        .ok_or_else(|| RecoveryError::Checkpoint {
            id,
            reason: "vanished while restoring".into(),
        })?;
    let mut moved_to = None;
    {
        let _lock = DirLock::acquire(dir)?;
        if !seg_path.exists() || seg_len < c.segment_end {
            return Err(RecoveryError::Checkpoint {
                id,
                reason: format!(
                    "its segment {} is gone or shorter than the {} bytes it recorded (retention or compaction since?)",
                    seg_path.display(),
                    c.segment_end
                ),
            });
        }
        if rollback && !table_matches(&seg_path, &checkpoint::trusted_prefix(&c), cipher.as_ref())?
        {
            return Err(RecoveryError::Checkpoint {
                id,
                reason: format!(
                    "its segment {} was rewritten since (compaction or salvage): the block table it recorded no longer matches, so there is no exact point to roll back to",
                    seg_path.display()
                ),
            });
        }
        if rollback {
            // Where the journal ends now: the rolled-back numbers are never handed out
            // again (consumers may have seen them), so new events continue after them.
            let (store, _) = Store::open_keyed(dir, OpenMode::ReadOnly, key)?;
            let journal_next = store
                .segments()
                .iter()
                .map(|s| s.next_seq())
                .max()
                .unwrap_or(c.durable_seq);
            let journal_manifest = store.manifest();
            drop(store);
            let now = vexfs_journal_storage::clock::unix_secs();
            let aside = dir.join(format!("rolled-back-{id}-{now}"));
            ensure_dir(&aside)?;
            for (first, path) in list_segments(dir)? {
                if first > c.segment_first_seq {
                    let name = path.file_name().map(PathBuf::from).unwrap_or_default();
                    mv(&path, &aside.join(&name))?;
                    let idx = path.with_extension("idx");
                    if idx.exists() {
                        mv(&idx, &aside.join(name.with_extension("idx")))?;
                    }
                }
            }
            cut_after(&seg_path, c.segment_end, c.durable_seq, &aside)?;
            for later in checkpoint::list(dir)
                .into_iter()
                .flatten()
                .filter(|i| i.id > id)
            {
                let name = later
                    .path
                    .file_name()
                    .map(PathBuf::from)
                    .unwrap_or_default();
                mv(&later.path, &aside.join(name))?;
            }
            let clean = dir.join(CLEAN_FILE);
            if clean.exists() {
                std::fs::remove_file(&clean)
                    .map_err(|e| RecoveryError::io("removing", &clean, e))?;
            }
            sync_dir(&dir.join(CHECKPOINT_DIR)).ok();
            sync_dir(&aside)?;
            sync_dir(dir)?;
            // The manifest follows the files (an interrupted rollback is finished by
            // running the same restore again: every step above is idempotent).
            if let Some(mut m) = journal_manifest {
                m.generation += 1;
                m.segments.retain(|e| e.first_seq <= c.segment_first_seq);
                if let Some(e) = m
                    .segments
                    .iter_mut()
                    .find(|e| e.first_seq == c.segment_first_seq)
                {
                    *e = ManifestSegment::open(e.first_seq, e.created);
                }
                let end = journal_next.max(m.next_seq_floor);
                manifest::record_removal(&mut m, c.durable_seq, end, RemovalReason::Rollback);
                m.next_seq_floor = end;
                m.updated_ns = vexfs_journal_storage::clock::now_ns();
                manifest::store(dir, &m)?;
            }
            moved_to = Some(aside);
        }
    }
    // Open trusting the checkpoint, scanning and repairing only what follows it.
    let engine = Engine::open_with(
        dir,
        OpenOptions {
            trusted_prefix: Some(checkpoint::trusted_prefix(&c)),
            ..Default::default()
        },
    )?;
    let report = engine.open_report().clone();
    let next = engine.next_seq();
    engine.close()?;
    Ok(RestoreReport {
        checkpoint: info,
        rolled_back: rollback,
        events: report.events,
        events_after_checkpoint: if rollback {
            0
        } else {
            next.saturating_sub(c.durable_seq)
        },
        moved_to,
        bytes_cut: report.repairs.iter().map(|(_, r)| r.torn_bytes).sum(),
        elapsed: started.elapsed(),
    })
}

/// Moves bytes `[end, len)` of a segment aside and leaves it an open segment of `end`
/// bytes, continuing at sequence `next`, with a header saying so.
fn cut_after(path: &Path, end: u64, next: u64, aside: &Path) -> Result<()> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| RecoveryError::io("opening", path, e))?;
    let len = f
        .metadata()
        .map_err(|e| RecoveryError::io("reading metadata of", path, e))?
        .len();
    if len > end {
        let mut tail = vec![0u8; (len - end) as usize];
        f.read_exact_at(&mut tail, end)
            .map_err(|e| RecoveryError::io("reading", path, e))?;
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        let out = aside.join(name.with_extension("seg.tail"));
        std::fs::write(&out, &tail).map_err(|e| RecoveryError::io("writing", &out, e))?;
    }
    let mut head = [0u8; FILE_HEADER_SIZE];
    f.read_exact_at(&mut head, 0)
        .map_err(|e| RecoveryError::io("reading", path, e))?;
    let header = FileHeader::parse(&head).unwrap_or_else(|_| FileHeader::new());
    let header = FileHeader {
        flags: header.flags & !FLAG_SEALED,
        index_offset: 0,
        journal_size: end,
        // Rolling back returns the sequence too: what was moved aside is not the
        // journal's any more.
        next_event_id: next,
        ..header
    };
    f.set_len(end)
        .and_then(|_| f.write_all_at(&header.to_bytes(), 0))
        .and_then(|_| f.sync_all())
        .map_err(|e| RecoveryError::io("cutting", path, e))?;
    let idx = path.with_extension("idx");
    if idx.exists() {
        std::fs::remove_file(&idx).map_err(|e| RecoveryError::io("removing", &idx, e))?;
    }
    Ok(())
}
