//! Every write and fsync of the engine goes through [`Io`], so tests can make them fail
//! (ENOSPC, EIO) at chosen moments with the `fault-injection` feature.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Result, StorageError};

/// Write/sync access to journal files.
#[derive(Clone, Debug, Default)]
pub struct Io {
    #[cfg(feature = "fault-injection")]
    faults: Option<std::sync::Arc<crate::faults::Faults>>,
}

impl Io {
    /// I/O with failures injected from `faults`.
    #[cfg(feature = "fault-injection")]
    pub fn with_faults(faults: std::sync::Arc<crate::faults::Faults>) -> Io {
        Io {
            faults: Some(faults),
        }
    }

    /// Writes all of `buf` at `offset`.
    pub fn write_at(&self, file: &File, path: &Path, buf: &[u8], offset: u64) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(faults) = &self.faults
            && let Some(e) = faults.on_write()
        {
            // A failing write may still have written a prefix, as ENOSPC does.
            let _ = file.write_all_at(&buf[..buf.len() / 2], offset);
            return Err(StorageError::io("writing", path, e));
        }
        file.write_all_at(buf, offset)
            .map_err(|e| StorageError::io("writing", path, e))
    }

    /// Allocates `[offset, offset + len)` of `file` (`fallocate`, growing the file;
    /// the new space reads as zeros). Best effort: the caller writes without it when
    /// the file system cannot.
    pub fn preallocate(&self, file: &File, offset: u64, len: u64) -> std::io::Result<()> {
        rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), offset, len)
            .map_err(std::io::Error::from)
    }

    /// Cuts `file` to `len` bytes.
    pub fn set_len(&self, file: &File, path: &Path, len: u64) -> Result<()> {
        file.set_len(len)
            .map_err(|e| StorageError::io("truncating", path, e))
    }

    /// `fdatasync`.
    pub fn sync(&self, file: &File, path: &Path) -> Result<()> {
        #[cfg(feature = "fault-injection")]
        if let Some(faults) = &self.faults
            && let Some(e) = faults.on_sync()
        {
            return Err(StorageError::io("syncing", path, e));
        }
        file.sync_data()
            .map_err(|e| StorageError::io("syncing", path, e))
    }
}
