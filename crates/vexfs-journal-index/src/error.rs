//! Index and query errors.

use std::path::PathBuf;

use vexfs_journal_format::FormatError;
use vexfs_journal_storage::StorageError;

/// Why an index or query operation failed.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    /// Reading the journal failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A system call on an index file failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes that do not decode.
    #[error("{} at byte {offset}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Offset of the problem.
        offset: u64,
        /// What is wrong.
        #[source]
        source: FormatError,
    },
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
    /// A cursor of this journal taken before its history was rewritten.
    #[error("cursor can no longer be resumed: {reason}")]
    StaleCursor {
        /// What happened since it was taken.
        reason: String,
    },
}

impl IndexError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        IndexError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(path: impl Into<PathBuf>, offset: u64, source: FormatError) -> Self {
        IndexError::Format {
            path: path.into(),
            offset,
            source,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;
