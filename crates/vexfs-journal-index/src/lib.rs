//! Indexes and queries of the VexFS semantic journal.
//!
//! Each segment gets an index (see `docs/index.md`): a summary per block — sequence
//! and time range, the event types and priorities present, the OR of the visibility
//! masks — kept in memory (a few bytes per event), and postings from paths, agent ids
//! and transaction ids to blocks, stored in `<segment>.idx` beside the segment and
//! loaded when a query needs them. Queries prune blocks with the summaries and postings
//! and check every candidate event exactly, so results are always those of a full scan.
//! Per-block counts (by type and agent, with the AND of the visibility masks) answer
//! event rates ([`rate`]) without reading the blocks that lie inside one bucket.

pub mod error;
pub mod file;
pub mod index;
pub mod query;
pub mod rate;
pub mod sealed;
pub mod segment_index;

pub use error::{IndexError, Result};
pub use index::{Index, IndexObserver, IndexReport, Rebuilt, SegCounts, idx_path};
pub use query::{Cursor, DamagedBlock, Executor, Page, Query};
pub use rate::{HideRecord, MAX_RATE_BUCKETS, Rate, RateBucket, RateBy, RateError, RateQuery};
pub use segment_index::{BlockSummary, SegmentIndex, Terms};
