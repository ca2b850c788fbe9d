//! Typed errors of the bridge. The codec's errors ([`ConversionError`],
//! [`CompatibilityError`], [`ImageError`]) are re-exported from
//! [`vexfs_journal_kernel_codec::error`].

use std::path::PathBuf;

use vexfs_journal::JournalError;
pub use vexfs_journal_kernel_codec::error::{
    CompatibilityError, ConversionError, ImageError, MarkerError,
};

/// Why the sequence synchronisation or an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// No kernel source is configured.
    #[error("no kernel journal source is configured (set BridgeConfig::source)")]
    NoSource,
    /// The kernel source cannot be used.
    #[error("kernel journal source {path}: {reason}")]
    Unavailable {
        /// The source.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The kernel's highest sequence is below what was already synchronised: the kernel
    /// journal was reset or the source is stale. Refused rather than guessed at.
    #[error(
        "kernel sequence went backwards: the source's highest global sequence is {kernel_last} but the journal is synchronised up to {synced} (drift {drift}); the kernel journal was reset or the source is stale — refusing to resynchronise automatically"
    )]
    KernelSequenceRegressed {
        /// Highest kernel sequence in the source.
        kernel_last: u64,
        /// Highest kernel sequence already synchronised.
        synced: u64,
        /// The drift observed.
        drift: i64,
    },
    /// Reading the image failed as a whole.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// The userspace journal failed.
    #[error("userspace journal: {0}")]
    Journal(#[from] JournalError),
    /// The bridge's bookkeeping in the journal is damaged or inconsistent.
    #[error("kernel bridge state in the journal at sequence {seq}: {reason}")]
    State {
        /// Journal sequence of the marker concerned.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// The imported kernel sequences are too fragmented to record.
    #[error(
        "{intervals} disjoint ranges of kernel sequences are synchronised; at most {limit} can be recorded (import the missing kernel events to merge them)"
    )]
    TooFragmented {
        /// Disjoint ranges there would be.
        intervals: usize,
        /// Most recordable.
        limit: usize,
    },
    /// A blocking task of the async interface did not complete.
    #[error("synchronisation task failed: {0}")]
    Task(String),
}

/// Result alias of the synchronisation and import functions.
pub type SyncResult<T> = std::result::Result<T, SyncError>;
