//! Segmented, checksummed, group-committed storage for the VexFS semantic journal.
//!
//! A journal is a directory of segment files (see [`segment`]); events enter through
//! [`Engine::emit`] without locks or I/O, a single writer thread packs them into
//! compressed storage blocks in sequence order, writes each group commit with one
//! `pwrite` and syncs per the [`FsyncPolicy`]. See `docs/storage.md` for the design.

pub use vexfs_journal_telemetry::clock;
pub mod config;
pub mod dir;
pub mod engine;
pub mod error;
#[cfg(feature = "fault-injection")]
pub mod faults;
pub mod hlc;
pub mod inspect;
pub mod io;
pub mod manifest;
pub mod metrics;
mod pipeline;
pub mod rewrite;
pub mod segment;
pub mod signal;
pub mod store;
pub mod swap;
mod syncer;
pub mod writer;

pub use config::{FsyncPolicy, FullPolicy, Retention, StorageConfig};
pub use dir::JournalMeta;
pub use engine::{Engine, HeaderMarks, OpenOptions, OpenReport};
pub use error::{Result, StorageError};
pub use hlc::JournalClock;
pub use metrics::{HistogramSnapshot, LatencySummary, StorageHistograms, StorageMetrics};
pub use segment::{OpenMode, Segment, SegmentRecovery, TrustedPrefix};
pub use store::{BlockRef, Scan, Store, StoreStats, StoredEvent};
pub use writer::{BlockObserver, RECORD_FLAG_GAP_BEFORE};
