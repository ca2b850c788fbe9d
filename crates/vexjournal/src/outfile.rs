//! Output files of commands: never inside a journal directory, never left half-written.
//!
//! A command's output (`kernel export --out`, …) is written to a temporary file in the
//! destination directory, synced and renamed over the destination, then the directory
//! is synced: a failed or interrupted command leaves the old file (or none), never a
//! truncated one. Destinations inside a journal directory are refused, because a
//! journal's files (segments, `journal.json`, indexes, checkpoints) must only be
//! written by the journal itself.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

/// The file whose presence makes a directory a journal.
const JOURNAL_META: &str = "journal.json";

/// True if `dir` holds a journal (its `journal.json`).
pub fn is_journal_dir(dir: &Path) -> bool {
    dir.join(JOURNAL_META).exists()
}

/// The directory `path` would be created in ("." for a bare file name).
fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Refuses an output path inside (at any depth) the journal directory `journal` or any
/// directory holding a journal. Symbolic links are resolved first, so a link pointing
/// into a journal is refused too.
pub fn refuse_inside_journal(out: &Path, journal: &Path, option: &str) -> Result<()> {
    let parent = parent_of(out);
    let mut dirs = vec![parent.canonicalize().unwrap_or(parent)];
    if let Ok(target) = out.canonicalize() {
        dirs.push(parent_of(&target));
    }
    let journal = journal.canonicalize().ok();
    // The directory itself or any directory above it (J/checkpoints/x is inside J).
    let inside = dirs
        .iter()
        .flat_map(|d| d.ancestors())
        .filter(|dir| !dir.as_os_str().is_empty())
        .find(|dir| journal.as_deref() == Some(*dir) || is_journal_dir(dir));
    if let Some(dir) = inside {
        bail!(
            "{option} {} is inside the journal directory {}: a journal's files are \
             written only by the journal; choose a path outside it",
            out.display(),
            dir.display()
        );
    }
    Ok(())
}

/// An output file being written: a temporary file beside the destination until
/// [`AtomicOut::commit`] renames it into place. Dropped without commit, it is removed.
pub struct AtomicOut {
    dest: PathBuf,
    tmp: tempfile::NamedTempFile,
}

impl AtomicOut {
    /// Starts writing `dest` (nothing at `dest` changes until commit).
    pub fn create(dest: &Path) -> Result<AtomicOut> {
        let dir = parent_of(dest);
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        if !dir.is_dir() {
            bail!(
                "cannot write {}: the directory {} does not exist",
                dest.display(),
                dir.display()
            );
        }
        // tempfile's error text quotes its random name; the kind says what matters.
        let tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".partial")
            .tempfile_in(&dir)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot create a file in {} to write {}: {}",
                    dir.display(),
                    dest.display(),
                    e.kind()
                )
            })?;
        Ok(AtomicOut {
            dest: dest.to_path_buf(),
            tmp,
        })
    }

    /// A buffered writer to the temporary file.
    pub fn writer(&self) -> Result<BufWriter<File>> {
        let file =
            self.tmp.as_file().try_clone().with_context(|| {
                format!("opening the temporary file for {}", self.dest.display())
            })?;
        Ok(BufWriter::new(file))
    }

    /// Syncs the temporary file, renames it over the destination and syncs the
    /// directory.
    pub fn commit(self) -> Result<()> {
        let dest = self.dest;
        self.tmp
            .as_file()
            .sync_all()
            .with_context(|| format!("syncing the new {}", dest.display()))?;
        self.tmp
            .persist(&dest)
            .map_err(|e| e.error)
            .with_context(|| format!("renaming the new file to {}", dest.display()))?;
        let dir = parent_of(&dest);
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing the directory {}", dir.display()))?;
        Ok(())
    }
}

/// Flushes a buffered writer, returning the file.
pub fn finish(w: BufWriter<File>) -> Result<File> {
    let mut file = w.into_inner().map_err(|e| e.into_error())?;
    file.flush()?;
    Ok(file)
}
