//! Atomic replacement of a set of segment files (compaction, salvage).
//!
//! New segments are written complete and synced under `swap.tmp/`. The commit point is
//! the `SWAP` manifest — the files to move into place and the files to delete — written
//! atomically (temporary file, fsync, rename, directory fsync). Applying it is
//! idempotent, so whoever opens the journal next (writer or reader) finishes an
//! interrupted swap; without a manifest, `swap.tmp/` is an unfinished attempt and is
//! discarded. A crash therefore leaves either the old set of segments or the new one,
//! never a mix.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vexfs_journal_format::checksum::kernel_crc32;

use crate::dir::{CLEAN_FILE, create_file, sync_dir};
use crate::error::{Result, StorageError};

/// Directory the new files are written in.
pub const SWAP_DIR: &str = "swap.tmp";
/// The commit record.
pub const SWAP_MANIFEST: &str = "SWAP";

/// What a committed swap does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwapManifest {
    /// Why (shown in logs): "compaction", "salvage", …
    pub reason: String,
    /// File names in `swap.tmp/` to move into the journal directory.
    pub replace: Vec<String>,
    /// File names in the journal directory to delete.
    pub delete: Vec<String>,
    /// The swap leaves the open segment as it is, so its clean-shutdown marker stays
    /// true (compaction rewrites sealed segments only).
    #[serde(default)]
    pub keeps_open_segment: bool,
}

impl SwapManifest {
    fn encode(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(self).map_err(|e| StorageError::Config {
            field: "swap manifest",
            reason: e.to_string(),
        })?;
        let crc = kernel_crc32(&out);
        out.extend_from_slice(format!("\ncrc32={crc:08x}\n").as_bytes());
        Ok(out)
    }

    fn decode(bytes: &[u8]) -> Option<SwapManifest> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (json, crc) = text.rsplit_once("\ncrc32=")?;
        let crc = u32::from_str_radix(crc.trim(), 16).ok()?;
        (kernel_crc32(json.as_bytes()) == crc).then_some(())?;
        let m: SwapManifest = serde_json::from_str(json).ok()?;
        // Names must be plain file names of this directory.
        let plain = |n: &String| !n.is_empty() && !n.contains('/') && n != "." && n != "..";
        (m.replace.iter().all(plain) && m.delete.iter().all(plain)).then_some(m)
    }
}

/// Builds a swap: write the new files at [`Swap::path`], sync them, then [`Swap::commit`].
#[derive(Debug)]
pub struct Swap {
    dir: PathBuf,
    tmp: PathBuf,
}

impl Swap {
    /// Starts a swap in journal directory `dir` (discarding an unfinished earlier one).
    /// The caller must hold the journal's writer lock.
    pub fn begin(dir: &Path) -> Result<Swap> {
        apply_pending(dir, true)?;
        let tmp = dir.join(SWAP_DIR);
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| StorageError::io("removing", &tmp, e))?;
        }
        crate::dir::ensure_dir(&tmp)?;
        // The directory's own entry must be durable before the manifest that names
        // files in it: otherwise a power cut can keep `SWAP` and lose `swap.tmp/`,
        // and applying the swap deletes without replacing.
        sync_dir(dir)?;
        Ok(Swap {
            dir: dir.to_path_buf(),
            tmp,
        })
    }

    /// Where to write the new file `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.tmp.join(name)
    }

    /// Commits (writes the manifest) and applies the swap.
    pub fn commit(self, manifest: &SwapManifest) -> Result<()> {
        sync_dir(&self.tmp)?;
        let bytes = manifest.encode()?;
        let tmp = self.dir.join(format!("{SWAP_MANIFEST}.tmp"));
        let mut f = create_file(&tmp)?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| StorageError::io("writing", &tmp, e))?;
        fs::rename(&tmp, self.dir.join(SWAP_MANIFEST))
            .map_err(|e| StorageError::io("renaming", &tmp, e))?;
        sync_dir(&self.dir)?;
        apply_pending(&self.dir, true)?;
        Ok(())
    }
}

/// Where a committed swap not yet applied keeps its new copy of `name` (a file of the
/// journal directory it replaces), if it does.
pub fn pending_replacement(dir: &Path, name: &str) -> Option<PathBuf> {
    let bytes = fs::read(dir.join(SWAP_MANIFEST)).ok()?;
    let m = SwapManifest::decode(&bytes)?;
    let path = dir.join(SWAP_DIR).join(name);
    (m.replace.iter().any(|r| r == name) && path.exists()).then_some(path)
}

fn remove_if_present(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io("removing", path, e)),
    }
}

/// Finishes a committed swap and, when `discard_uncommitted` (the caller holds the
/// writer lock, so nobody is building one), discards an uncommitted one. Returns
/// whether a committed swap was applied.
pub fn apply_pending(dir: &Path, discard_uncommitted: bool) -> Result<bool> {
    let manifest_path = dir.join(SWAP_MANIFEST);
    let tmp = dir.join(SWAP_DIR);
    let manifest = match fs::read(&manifest_path) {
        Ok(bytes) => SwapManifest::decode(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(StorageError::io("reading", &manifest_path, e)),
    };
    let Some(m) = manifest else {
        if !discard_uncommitted {
            return Ok(false);
        }
        // No (valid) commit record: the attempt never committed.
        remove_if_present(&manifest_path)?;
        remove_if_present(&dir.join(format!("{SWAP_MANIFEST}.tmp")))?;
        if tmp.exists() {
            fs::remove_dir_all(&tmp).map_err(|e| StorageError::io("removing", &tmp, e))?;
            sync_dir(dir)?;
        }
        return Ok(false);
    };
    // The open segment's recorded state may not describe the new files.
    if !m.keeps_open_segment {
        remove_if_present(&dir.join(CLEAN_FILE))?;
    }
    // Segments first, the manifest (which describes them) last.
    let manifest_last = |n: &&String| n.as_str() == crate::manifest::MANIFEST_FILE;
    let (manifest_names, names): (Vec<&String>, Vec<&String>) =
        m.replace.iter().partition(manifest_last);
    for name in names.into_iter().chain(manifest_names) {
        let from = tmp.join(name);
        let to = dir.join(name);
        if from.exists() {
            fs::rename(&from, &to).map_err(|e| StorageError::io("moving into place", &from, e))?;
        }
        // An index written with the new segment replaces the old one; otherwise the
        // old index no longer describes the segment.
        let idx = to.with_extension("idx");
        let has_new_index = idx
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| m.replace.iter().any(|r| r == n));
        if name.ends_with(".seg") && !has_new_index {
            remove_if_present(&idx)?;
        }
    }
    for name in &m.delete {
        let path = dir.join(name);
        remove_if_present(&path)?;
        remove_if_present(&path.with_extension("idx"))?;
    }
    sync_dir(dir)?;
    remove_if_present(&manifest_path)?;
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(|e| StorageError::io("removing", &tmp, e))?;
    }
    sync_dir(dir)?;
    tracing::info!(reason = %m.reason, replaced = m.replace.len(), deleted = m.delete.len(), "applied a segment swap");
    Ok(true)
}
