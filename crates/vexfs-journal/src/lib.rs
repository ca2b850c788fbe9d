//! The VexFS userspace semantic journal.
//!
//! Records every operation of VexFS's userspace components — files, vectors, graph,
//! agents — as durable, checksummed, queryable events in the kernel journal's binary
//! format. Open a [`Journal`], build events with [`Event`]'s typed constructors and
//! emit them from any number of threads:
//!
//! ```
//! use vexfs_journal::{AgentOp, Config, Event, Journal};
//! let dir = tempfile::tempdir()?;
//! let journal = Journal::create(dir.path(), Config::default())?;
//! let seq = journal.emit_durable(
//!     Event::agent(AgentOp::Decision).agent_id("planner-7").intent("evict cold vectors"),
//! )?;
//! assert!(journal.durable_seq() > seq);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Reading is the same for a [`Journal`] and a [`JournalReader`] (a journal another
//! process writes): both are [`Follow`], one read core for queries, cursors,
//! subscriptions and replay. The seed specification's method names live in [`seed`].
//!
//! Features: `async` (default) adds `emit_async`, `next_async` and subscriptions as
//! streams, and pulls in tokio; a synchronous embedder builds with
//! `default-features = false`.

pub mod admin;
pub mod causality;
mod committed;
mod config;
mod error;
pub mod ext;
mod journal;
pub mod json;
pub mod keyfile;
mod read;
mod reader;
mod replay;
pub mod seed;
mod subscription;
pub mod tx;

pub use causality::{CausalEdge, Causality, CausalityOptions, CauseKind};
pub use config::Config;
pub use error::{ErrorKind, JournalError, JsonError, Result};
pub use journal::{CheckpointCounts, Journal, system_ns};
pub use read::Follow;
pub use reader::JournalReader;
pub use replay::ReplayStart;
pub use subscription::{StartAt, Subscription};
pub use vexfs_journal_index::{
    Cursor, DamagedBlock, IndexError, MAX_RATE_BUCKETS, Page, Query, Rate, RateBucket, RateBy,
    RateError, RateQuery,
};
pub use vexfs_journal_recovery::{
    CheckpointInfo, CompactOptions, CompactReport, Order, Progress, RecoveryMode, RecoveryReport,
    ReplayOptions, ReplayReport, RotateReport, SalvageReport, VerifyOptions, VerifyReport, compact,
    rotate_key, salvage, verify,
};

pub use vexfs_journal_format::{
    AgentOp, BStr, BString, Category, CausalityLink, Compression, Context, Event, EventFlags,
    EventType, FsOp, GraphOp, ObservabilityOp, Priority, RecordExt, SemanticOp, SystemOp,
    Timestamp, VectorOp,
};
pub use vexfs_journal_storage::{
    FsyncPolicy, FullPolicy, HistogramSnapshot, JournalMeta, OpenOptions, OpenReport, Scan,
    StorageError, StorageHistograms, StorageMetrics, StoreStats, StoredEvent,
};

/// The bytes: event and block layouts, shared with the kernel (the journal's public
/// contract, so tools may read them).
pub use uuid::Uuid;
pub use vexfs_journal_cipher::{JournalKey, KeyId};
pub use vexfs_journal_format as format;
