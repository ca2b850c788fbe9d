//! Storage settings and their validation.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vexfs_journal_format::Compression;

use crate::error::{Result, StorageError};

/// When the writer calls `fdatasync`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum FsyncPolicy {
    /// After every group commit (default): an event is durable as soon as its block is
    /// written.
    Batch,
    /// At most once per interval; durable waits return after the next sync.
    Interval(Duration),
    /// Never on its own; `sync` and durable emits still force one.
    Never,
}

impl fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FsyncPolicy::Batch => f.write_str("batch"),
            FsyncPolicy::Interval(d) => write!(f, "interval:{}", d.as_millis()),
            FsyncPolicy::Never => f.write_str("never"),
        }
    }
}

impl FromStr for FsyncPolicy {
    type Err = StorageError;

    /// `batch`, `interval:MS` or `never`.
    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim().to_ascii_lowercase();
        let bad = || StorageError::Config {
            field: "fsync",
            reason: format!("{s:?} is not batch, interval:MS or never"),
        };
        match s.as_str() {
            "batch" => Ok(FsyncPolicy::Batch),
            "never" => Ok(FsyncPolicy::Never),
            other => {
                let ms = other.strip_prefix("interval:").ok_or_else(bad)?;
                let ms: u64 = ms.parse().map_err(|_| bad())?;
                if ms == 0 {
                    return Err(StorageError::Config {
                        field: "fsync",
                        reason: "interval must be at least 1 ms (use batch to sync every commit)"
                            .into(),
                    });
                }
                Ok(FsyncPolicy::Interval(Duration::from_millis(ms)))
            }
        }
    }
}

impl From<FsyncPolicy> for String {
    fn from(p: FsyncPolicy) -> String {
        p.to_string()
    }
}

impl TryFrom<String> for FsyncPolicy {
    type Error = StorageError;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

/// What `emit` does when the emission buffer is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FullPolicy {
    /// Wait for the writer to make room (default).
    #[default]
    Block,
    /// Fail with [`StorageError::BufferFull`]; no sequence number is consumed.
    Error,
    /// Discard the oldest buffered events to make room, counting them in the metrics
    /// and flagging the gap on disk.
    DropOldest,
}

impl fmt::Display for FullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FullPolicy::Block => "block",
            FullPolicy::Error => "error",
            FullPolicy::DropOldest => "drop-oldest",
        })
    }
}

impl FromStr for FullPolicy {
    type Err = StorageError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "block" => Ok(FullPolicy::Block),
            "error" => Ok(FullPolicy::Error),
            "drop-oldest" | "drop_oldest" => Ok(FullPolicy::DropOldest),
            other => Err(StorageError::Config {
                field: "full_policy",
                reason: format!("{other:?} is not block, error or drop-oldest"),
            }),
        }
    }
}

/// Which old segments the writer deletes after a rotation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Keep at most this many bytes of segments (the active segment is never deleted).
    pub max_total_bytes: Option<u64>,
    /// Delete sealed segments whose newest event is older than this.
    pub max_age: Option<Duration>,
}

/// Settings of the storage engine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageConfig {
    /// Rotate to a new segment once a segment would exceed this size (default 64 MiB).
    pub segment_size: u64,
    /// Block compression (default LZ4).
    pub compression: Compression,
    /// Zstd level when `compression` is zstd.
    pub zstd_level: i32,
    /// LZ4 blocks are written as frames of about this many bytes of records (block
    /// format version 2: reads decode only the frames they need); 0 writes version-1
    /// blocks, compressed whole (smaller on disk, slower point reads and queries).
    pub frame_bytes: usize,
    /// fsync policy (default: every group commit).
    pub fsync: FsyncPolicy,
    /// Events the emission buffer holds before the full policy applies.
    pub buffer_capacity: usize,
    /// Full-buffer policy.
    pub full_policy: FullPolicy,
    /// Target uncompressed bytes per block; smaller blocks make point reads cheaper.
    pub block_bytes: usize,
    /// Most events per block.
    pub block_events: usize,
    /// Most bytes per write call; a torn write can only damage this much of the tail.
    pub max_write_bytes: usize,
    /// Space the writer allocates ahead in the open segment (`fallocate`, default
    /// 1 MiB; 0: none). An fdatasync after writing into allocated space need not commit
    /// a new file size, which makes durable writes about a third cheaper; the unwritten
    /// rest reads as zeros and is cut when the segment is sealed.
    pub preallocate_bytes: u64,
    /// Retention of old segments.
    pub retention: Retention,
    /// Reject at emission events that the kernel format cannot carry. (Journals
    /// created before the rename store it as `kernel_limits`.)
    #[serde(alias = "kernel_limits")]
    pub kernel_compatibility: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            segment_size: 64 << 20,
            compression: Compression::Lz4,
            zstd_level: 3,
            frame_bytes: vexfs_journal_format::frames::DEFAULT_FRAME_BYTES,
            fsync: FsyncPolicy::Batch,
            buffer_capacity: 10_000,
            full_policy: FullPolicy::Block,
            block_bytes: 16 << 10,
            block_events: 4096,
            max_write_bytes: 4 << 20,
            preallocate_bytes: 1 << 20,
            retention: Retention::default(),
            kernel_compatibility: true,
        }
    }
}

impl StorageConfig {
    /// Checks every setting, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &'static str, reason: String| Err(StorageError::Config { field, reason });
        if self.segment_size < 64 << 10 {
            return bad(
                "segment_size",
                format!("{} bytes is below the 64 KiB minimum", self.segment_size),
            );
        }
        if self.segment_size > u32::MAX as u64 * 16 {
            return bad(
                "segment_size",
                format!("{} bytes is above the 64 GiB maximum", self.segment_size),
            );
        }
        if !matches!(
            self.compression,
            Compression::None | Compression::Lz4 | Compression::Zstd
        ) {
            return bad(
                "compression",
                format!(
                    "{} cannot be written (use none, lz4 or zstd)",
                    self.compression
                ),
            );
        }
        if !(1..=19).contains(&self.zstd_level) {
            return bad(
                "zstd_level",
                format!("{} is outside 1..=19", self.zstd_level),
            );
        }
        if self.frame_bytes != 0 && !(256..=1 << 20).contains(&self.frame_bytes) {
            return bad(
                "frame_bytes",
                format!("{} is neither 0 nor in 256..=1048576", self.frame_bytes),
            );
        }
        if self.buffer_capacity == 0 || self.buffer_capacity > 1 << 24 {
            return bad(
                "buffer_capacity",
                format!("{} is outside 1..=16777216 events", self.buffer_capacity),
            );
        }
        if self.block_bytes < 1024 || self.block_bytes > 16 << 20 {
            return bad(
                "block_bytes",
                format!("{} is outside 1 KiB..=16 MiB", self.block_bytes),
            );
        }
        if self.block_events == 0 || self.block_events > 1 << 20 {
            return bad(
                "block_events",
                format!("{} is outside 1..=1048576", self.block_events),
            );
        }
        if self.max_write_bytes < self.block_bytes {
            return bad(
                "max_write_bytes",
                format!(
                    "{} is below block_bytes ({})",
                    self.max_write_bytes, self.block_bytes
                ),
            );
        }
        if self
            .retention
            .max_total_bytes
            .is_some_and(|m| m < self.segment_size)
        {
            return bad(
                "retention.max_total_bytes",
                "must be at least one segment".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn frame_bytes_is_zero_or_a_sensible_size() {
        for ok in [0, 256, 2048, 1 << 20] {
            let c = StorageConfig {
                frame_bytes: ok,
                ..StorageConfig::default()
            };
            c.validate().unwrap();
        }
        for bad in [1, 255, (1 << 20) + 1] {
            let c = StorageConfig {
                frame_bytes: bad,
                ..StorageConfig::default()
            };
            let err = c.validate().unwrap_err().to_string();
            assert!(err.contains("frame_bytes"), "{err}");
        }
        // A journal.json written before the setting existed gets the default.
        let old: StorageConfig = serde_json::from_str(r#"{"segment_size": 1048576}"#).unwrap();
        assert_eq!(old.frame_bytes, StorageConfig::default().frame_bytes);
    }
}
