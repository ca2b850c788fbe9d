//! Errors of the facade.

use vexfs_journal_storage::StorageError;

/// Why a journal operation failed. [`JournalError::kind`] sorts it for programs that
/// react to it (retry on a full buffer, alert on a full disk, reopen after a failure).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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

/// What kind of failure a [`JournalError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The disk (or a quota) is full.
    NoSpace,
    /// Another I/O error (EIO, permissions, ...).
    Io,
    /// A file of the journal is damaged or does not match its manifest.
    Damaged,
    /// Another process has the journal open for writing.
    Locked,
    /// The directory holds no journal, or already holds one.
    NotAJournal,
    /// The directory already holds a journal.
    AlreadyExists,
    /// The emission buffer is full (the full-buffer policy is `error`): retry later.
    BufferFull,
    /// The event or JSON input is not acceptable.
    InvalidInput,
    /// The journal was closed.
    Closed,
    /// A sequence number outside the journal.
    NotFound,
    /// A cursor that does not belong to this journal or its history.
    BadCursor,
    /// A configuration value is invalid.
    Config,
    /// The operation was cancelled.
    Cancelled,
    /// The journal directory's permissions are unsafe (writable by other users).
    Permissions,
    /// The journal is encrypted and no key, or another key, was given; or a key was
    /// given to write a journal that is not encrypted.
    Key,
    /// Anything else.
    Other,
}

impl JournalError {
    /// What kind of failure this is. A journal that stopped after a storage failure
    /// reports the kind of that first failure (so ENOSPC stays [`ErrorKind::NoSpace`]);
    /// [`JournalError::stopped`] tells that it stopped.
    pub fn kind(&self) -> ErrorKind {
        match self {
            JournalError::Storage(e) => storage_kind(e),
            JournalError::Recovery(e) => match e {
                vexfs_journal_recovery::RecoveryError::Storage(e) => storage_kind(e),
                vexfs_journal_recovery::RecoveryError::Index(e) => index_kind(e),
                vexfs_journal_recovery::RecoveryError::Inconsistent(_)
                | vexfs_journal_recovery::RecoveryError::Checkpoint { .. } => ErrorKind::Damaged,
                vexfs_journal_recovery::RecoveryError::Cancelled => ErrorKind::Cancelled,
                #[allow(unreachable_patterns)]
                _ => ErrorKind::Other,
            },
            JournalError::Index(e) => index_kind(e),
            JournalError::Json(_) => ErrorKind::InvalidInput,
            JournalError::Config(_) => ErrorKind::Config,
        }
    }

    /// Whether the journal stopped after a storage failure: it accepts nothing more
    /// until reopened.
    pub fn stopped(&self) -> bool {
        matches!(self, JournalError::Storage(StorageError::Failed(_)))
    }
}

fn io_kind(e: &std::io::Error) -> ErrorKind {
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => ErrorKind::NoSpace,
        _ => ErrorKind::Io,
    }
}

fn storage_kind(e: &StorageError) -> ErrorKind {
    match e {
        StorageError::Io { source, .. } => io_kind(source),
        StorageError::Format { .. }
        | StorageError::Corrupt { .. }
        | StorageError::RepairRefused { .. }
        | StorageError::ManifestDamaged { .. }
        | StorageError::ManifestMissing { .. }
        | StorageError::ManifestMismatch { .. } => ErrorKind::Damaged,
        StorageError::Locked { .. } => ErrorKind::Locked,
        StorageError::NotAJournal { .. } => ErrorKind::NotAJournal,
        StorageError::AlreadyExists { .. } => ErrorKind::AlreadyExists,
        StorageError::BufferFull { .. } => ErrorKind::BufferFull,
        StorageError::InvalidEvent(_) => ErrorKind::InvalidInput,
        StorageError::Closed => ErrorKind::Closed,
        StorageError::Failed(cause) => storage_kind(cause.as_ref()),
        StorageError::NotFound { .. } => ErrorKind::NotFound,
        StorageError::Config { .. } => ErrorKind::Config,
        StorageError::OthersWritable { .. } => ErrorKind::Permissions,
        StorageError::KeyRequired { .. }
        | StorageError::WrongKey { .. }
        | StorageError::NotEncrypted { .. } => ErrorKind::Key,
        StorageError::SegmentEncryption { .. } => ErrorKind::Damaged,
        #[allow(unreachable_patterns)]
        _ => ErrorKind::Other,
    }
}

fn index_kind(e: &vexfs_journal_index::IndexError) -> ErrorKind {
    use vexfs_journal_index::IndexError;
    match e {
        IndexError::Storage(e) => storage_kind(e),
        IndexError::DamagedBlock(_) => ErrorKind::Damaged,
        IndexError::InvalidCursor(_)
        | IndexError::ForeignCursor { .. }
        | IndexError::StaleCursor { .. } => ErrorKind::BadCursor,
        IndexError::Rate(_) => ErrorKind::InvalidInput,
        #[allow(unreachable_patterns)]
        _ => ErrorKind::Other,
    }
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
