//! Storage errors. Each names the file and, for damaged data, the byte offset.

use std::path::PathBuf;

use vexfs_journal_format::FormatError;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A system call failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Bytes on disk do not decode.
    #[error("{} at byte {offset}: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// Offset of the damaged structure in the file.
        offset: u64,
        /// What is wrong with it.
        #[source]
        source: FormatError,
    },
    /// Data that was fsynced (acknowledged) is damaged, so this open may not cut it.
    /// `reason` says what is wrong, whether intact blocks follow, and what to do.
    #[error("{} is damaged at byte {offset}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// First damaged byte.
        offset: u64,
        /// What was found, and what to do about it.
        reason: String,
    },
    /// Absolute (strict) mode found something a tolerant open would repair — a torn
    /// tail, bytes after the last block, a segment an interrupted rotation left
    /// unsealed — and repairs nothing; nothing was changed.
    #[error(
        "{} needs repair at byte {offset}: {found}; absolute mode repairs nothing: {remedy}",
        path.display()
    )]
    RepairRefused {
        /// The file.
        path: PathBuf,
        /// Where the repair would start.
        offset: u64,
        /// What was found.
        found: String,
        /// Which mode would repair it, and how.
        remedy: &'static str,
    },
    /// Another process writes to this journal.
    #[error(
        "journal {} is locked by another writer ({holder}); wait for it to finish or stop \
         it (reading commands such as cat, query and stats need no lock)",
        dir.display()
    )]
    Locked {
        /// The journal directory.
        dir: PathBuf,
        /// Who holds the lock, as it wrote itself in the lock file.
        holder: String,
    },
    /// The journal directory is writable by users other than its owner.
    #[error(
        "{} is writable by other users (mode {mode:04o}): any of them could replace the \
         journal's files; run `chmod o-w {}` (journals are created 0700), or allow it \
         explicitly (`--allow-others-writable`, `Config::allow_others_writable`)",
        dir.display(),
        dir.display()
    )]
    OthersWritable {
        /// The journal directory.
        dir: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The journal is encrypted and no key was given.
    #[error(
        "journal {} is encrypted (key id {key_id}): give its key (`--key-file FILE`, \
         `$VEXJOURNAL_KEY_FILE` or `$VEXJOURNAL_KEY`; `Config::encryption_key`)",
        dir.display()
    )]
    KeyRequired {
        /// The journal directory.
        dir: PathBuf,
        /// The id of the journal's key.
        key_id: String,
    },
    /// The key given is not the one the journal (or one of its segments) was encrypted
    /// with. Nothing was read or changed.
    #[error(
        "{} was encrypted with key id {expected}, not with the key given (id {given}); \
         nothing was read or changed: give the journal's key",
        path.display()
    )]
    WrongKey {
        /// The journal directory or segment file.
        path: PathBuf,
        /// The id recorded there.
        expected: String,
        /// The id of the key given.
        given: String,
    },
    /// A key was given to write a journal that is not encrypted.
    #[error(
        "journal {} is not encrypted: a key cannot be used to write it (encryption is \
         chosen when a journal is created; copy the events into a new encrypted journal \
         to encrypt them)",
        dir.display()
    )]
    NotEncrypted {
        /// The journal directory.
        dir: PathBuf,
    },
    /// A segment's header disagrees with its journal about encryption.
    #[error("{}: {reason}", path.display())]
    SegmentEncryption {
        /// The segment file.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// Encrypting a block failed.
    #[error("encrypting a block failed: {0}")]
    Encryption(String),
    /// The system's random number generator failed.
    #[error("drawing random bytes for a block's encryption failed: {0}")]
    Random(String),
    /// The directory is not a journal.
    #[error("{} is not a vexfs journal ({reason})", dir.display())]
    NotAJournal {
        /// The directory.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// `create` found an existing journal.
    #[error("{} already holds a journal", dir.display())]
    AlreadyExists {
        /// The directory.
        dir: PathBuf,
    },
    /// The emission buffer is full and the policy is `error`.
    #[error("emission buffer full ({capacity} events pending); the writer is behind")]
    BufferFull {
        /// Buffer capacity in events.
        capacity: usize,
    },
    /// An event cannot be stored.
    #[error("event rejected: {0}")]
    InvalidEvent(#[source] FormatError),
    /// The journal has been closed.
    #[error("journal is closed")]
    Closed,
    /// A write or fsync failed earlier; the journal accepts nothing more until reopened.
    #[error("journal stopped after a storage failure: {0}; reopen it to recover")]
    Failed(#[source] std::sync::Arc<StorageError>),
    /// A sequence number outside the retained range.
    #[error("sequence {seq} is not in the journal ({})", retained(*first, *next))]
    NotFound {
        /// The sequence asked for.
        seq: u64,
        /// First retained sequence.
        first: u64,
        /// Next sequence to be assigned.
        next: u64,
    },
    /// A configuration value is invalid.
    #[error("invalid configuration: {field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The manifest cannot be read: its bytes are damaged.
    #[error(
        "manifest {} is damaged ({source}); run `vexjournal recover --mode salvage` to rebuild it from the segments and report what cannot be accounted for",
        path.display()
    )]
    ManifestDamaged {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong with its bytes.
        #[source]
        source: FormatError,
    },
    /// The journal has a manifest requirement but no manifest.
    #[error(
        "{}/MANIFEST is missing: the segment set cannot be checked; run `vexjournal recover --mode salvage` to rebuild it from the segments (sequence numbers past the last segment are then reserved, never reused)",
        dir.display()
    )]
    ManifestMissing {
        /// The journal directory.
        dir: PathBuf,
    },
    /// The segment files on disk differ from the manifest: acknowledged events are
    /// missing or were changed.
    #[error(
        "journal {} does not match its manifest: {}; nothing was changed — restore the files, or run `vexjournal recover --mode salvage` to accept the loss (it is recorded and reported)",
        dir.display(),
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
    )]
    ManifestMismatch {
        /// The journal directory.
        dir: PathBuf,
        /// Each difference.
        problems: Vec<crate::manifest::Discrepancy>,
    },
}

impl StorageError {
    /// A [`StorageError::Io`]: `op` on `path` failed with `source`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A [`StorageError::Format`] for `path` at `offset`.
    pub fn format(path: impl Into<PathBuf>, offset: u64, source: FormatError) -> Self {
        StorageError::Format {
            path: path.into(),
            offset,
            source,
        }
    }
}

/// The retained sequences `first..next`, inclusive, in words.
fn retained(first: u64, next: u64) -> String {
    if next > first {
        format!("it holds sequences {first}..={}", next - 1)
    } else {
        "it holds no events".into()
    }
}

/// Result alias of this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
