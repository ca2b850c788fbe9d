//! Index and query errors.

use std::path::PathBuf;

use vexfs_journal_format::FormatError;
use vexfs_journal_storage::StorageError;

/// Why an index or query operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// Reading the journal or an index file failed (system call or bytes that do not
    /// decode: index files report their errors as storage errors too).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A block a query needed could not be read; the matches before it were returned.
    #[error("{0}")]
    DamagedBlock(Box<crate::query::DamagedBlock>),
    /// A cursor that is not one of ours.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// A cursor made by another journal.
    #[error("cursor belongs to journal {found}, not to this journal ({expected})")]
    ForeignCursor {
        /// This journal's id.
        expected: uuid::Uuid,
        /// The cursor's journal id.
        found: uuid::Uuid,
    },
    /// A rate query that cannot be answered as asked.
    #[error(transparent)]
    Rate(#[from] crate::rate::RateError),
    /// A thread counting a rate stopped without an answer.
    #[error("a rate worker thread failed")]
    RateWorker,
    /// A cursor of this journal taken before its history was rewritten.
    #[error("cursor can no longer be resumed: {reason}")]
    StaleCursor {
        /// What happened since it was taken.
        reason: String,
    },
}

impl IndexError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IndexError::Storage(StorageError::io(op, path, source))
    }

    pub(crate) fn format(path: impl Into<PathBuf>, offset: u64, source: FormatError) -> Self {
        IndexError::Storage(StorageError::format(path, offset, source))
    }
}

/// Result alias of this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
