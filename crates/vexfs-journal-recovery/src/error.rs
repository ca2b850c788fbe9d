//! Recovery errors.

use std::path::PathBuf;

use vexfs_journal_index::IndexError;
use vexfs_journal_storage::StorageError;

use crate::verify::VerifyReport;

/// Why a recovery operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoveryError {
    /// The storage layer failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The index layer failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// Absolute mode found inconsistencies; nothing was changed.
    #[error("the journal is not consistent ({} problem(s); first: {}); absolute mode refuses to open it — run `vexjournal verify` for the full report, or recover with mode tolerate-tail or salvage", .0.problems.len(), .0.problems.first().map_or_else(String::new, |p| p.to_string()))]
    Inconsistent(Box<VerifyReport>),
    /// No checkpoint with this id (or it is damaged).
    #[error("checkpoint {id}: {reason}")]
    Checkpoint {
        /// The id asked for.
        id: u64,
        /// What is wrong.
        reason: String,
    },
    /// The operation was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl RecoveryError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RecoveryError::Storage(StorageError::io(op, path, source))
    }
}

/// Result alias of this crate.
pub type Result<T, E = RecoveryError> = std::result::Result<T, E>;
