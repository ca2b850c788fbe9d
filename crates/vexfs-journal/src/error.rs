//! Errors of the facade.

use vexfs_journal_storage::StorageError;

/// Why a journal operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Storage layer failure (I/O, damage, lock, full buffer, closed, …).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Recovery, checkpoint, replay or compaction failure.
    #[error(transparent)]
    Recovery(#[from] vexfs_journal_recovery::RecoveryError),
    /// Index or query failure (bad cursor, damaged index file, …).
    #[error(transparent)]
    Index(#[from] vexfs_journal_index::IndexError),
    /// A JSON event that does not follow the schema (`docs/json.md`).
    #[error("{0}")]
    Json(#[from] JsonError),
    /// A configuration value is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
}

/// A JSON event that does not follow the schema: names the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("field {field:?}: {reason}")]
pub struct JsonError {
    /// The field (or `<event>` for the whole value).
    pub field: String,
    /// What is wrong.
    pub reason: String,
}

impl JsonError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        JsonError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Result alias of the facade.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;
