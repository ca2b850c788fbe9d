//! Journal configuration: the fields of the seed specification's
//! `UserspaceJournalConfig` that apply to this implementation, with its defaults where
//! they make sense.
//!
//! One name per setting: a field of [`Config`] that is also a storage setting has the
//! same name in `StorageConfig` (and so in the journal's stored metadata, in errors and
//! in the documentation). Where the seed used another name, the table on [`Config`] is
//! the one place that maps it.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vexfs_journal_cipher::JournalKey;
use vexfs_journal_format::Compression;
use vexfs_journal_recovery::RecoveryMode;
use vexfs_journal_storage::{FsyncPolicy, FullPolicy, Retention, StorageConfig};

use crate::error::{JournalError, Result};

/// How a journal stores and accepts events.
///
/// | seed field | here | default |
/// |---|---|---|
/// | `max_journal_size` (1 GiB) | [`Config::max_journal_size`]: retention by total size (storage: `retention.max_total_bytes`) | none (keep all) |
/// | — | [`Config::segment_size`]: rotation size | 64 MiB |
/// | — | [`Config::preallocate_bytes`]: space allocated ahead in the open segment | 1 MiB |
/// | `buffer_size` (10 000) | [`Config::buffer_capacity`]: events the emission buffer holds | 10 000 events |
/// | `batch_size` (100) | [`Config::block_events`]: most events per storage block | 4096 |
/// | `flush_interval_ms` (10) | [`Config::fsync`] `interval:MS` | fsync every group commit |
/// | `compression_enabled`, `compression_algorithm` (LZ4) | [`Config::compression`] | LZ4 |
/// | — | [`Config::frame_bytes`]: records per independently decoded frame of an LZ4 block | 2 KiB |
/// | `kernel_compatibility` (true) | [`Config::kernel_compatibility`] | true |
/// | `checkpoint_interval_s` (60) | [`Config::checkpoint_interval_s`] (0: off) | 60 |
/// | `enable_recovery` (true) | [`Config::recovery`]: how opening treats damage | tolerate-tail |
///
/// The seed's `batch_size` of 100 was a write batch; here group commits grow with load
/// by themselves (see `docs/storage.md`), so the setting bounds storage blocks instead,
/// and is named for what it bounds. `buffer_capacity` counts events, not bytes.
/// Fields of the seed with no effect in this implementation (targets, memory pools,
/// encryption) are not part of the configuration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Rotate segments at this size.
    pub segment_size: u64,
    /// Delete the oldest segments beyond this total size.
    pub max_journal_size: Option<u64>,
    /// Delete segments whose newest event is older than this.
    pub max_age: Option<Duration>,
    /// Events the emission buffer holds (the seed's `buffer_size`, still read).
    #[serde(alias = "buffer_size")]
    pub buffer_capacity: usize,
    /// Most events per storage block (the seed's `batch_size`, still read).
    #[serde(alias = "batch_size")]
    pub block_events: usize,
    /// Target uncompressed bytes per storage block.
    pub block_bytes: usize,
    /// When to fsync.
    pub fsync: FsyncPolicy,
    /// What a full emission buffer does.
    pub full_policy: FullPolicy,
    /// Block compression (`None` disables it).
    pub compression: Compression,
    /// Space allocated ahead in the open segment, bytes (0: none); makes durable
    /// writes cheaper (see `docs/storage.md`).
    pub preallocate_bytes: u64,
    /// Zstd level.
    pub zstd_level: i32,
    /// Bytes of records per frame of an LZ4 block (0: blocks compressed whole, block
    /// format version 1); see `docs/format.md`.
    pub frame_bytes: usize,
    /// Reject events the kernel format cannot carry.
    pub kernel_compatibility: bool,
    /// Take a checkpoint this often while open, seconds (0: only on demand).
    pub checkpoint_interval_s: u64,
    /// How opening treats damage (tolerate-tail, absolute, salvage).
    pub recovery: RecoveryMode,
    /// Open a directory that users other than its owner may write. Refused by default:
    /// any of them could replace the journal's files under its writer.
    pub allow_others_writable: bool,
    /// The journal's key. Creating a journal with a key encrypts its blocks
    /// (AES-256-GCM, `docs/encryption.md`); an encrypted journal opens only with its
    /// key. Never stored or serialized.
    #[serde(skip)]
    pub encryption_key: Option<Arc<JournalKey>>,
}

impl Default for Config {
    fn default() -> Self {
        Config::from_storage(&StorageConfig::default())
    }
}

impl Config {
    /// The configuration equivalent to storage settings.
    pub fn from_storage(s: &StorageConfig) -> Config {
        Config {
            segment_size: s.segment_size,
            max_journal_size: s.retention.max_total_bytes,
            max_age: s.retention.max_age,
            buffer_capacity: s.buffer_capacity,
            block_events: s.block_events,
            block_bytes: s.block_bytes,
            fsync: s.fsync,
            full_policy: s.full_policy,
            compression: s.compression,
            preallocate_bytes: s.preallocate_bytes,
            zstd_level: s.zstd_level,
            frame_bytes: s.frame_bytes,
            kernel_compatibility: s.kernel_compatibility,
            checkpoint_interval_s: 60,
            recovery: RecoveryMode::TolerateTail,
            allow_others_writable: false,
            encryption_key: None,
        }
    }

    /// The storage settings, validated.
    pub fn to_storage(&self) -> Result<StorageConfig> {
        let defaults = StorageConfig::default();
        let storage = StorageConfig {
            segment_size: self.segment_size,
            compression: self.compression,
            zstd_level: self.zstd_level,
            frame_bytes: self.frame_bytes,
            fsync: self.fsync,
            buffer_capacity: self.buffer_capacity,
            full_policy: self.full_policy,
            block_bytes: self.block_bytes,
            block_events: self.block_events,
            max_write_bytes: defaults.max_write_bytes.max(self.block_bytes),
            preallocate_bytes: self.preallocate_bytes,
            retention: Retention {
                max_total_bytes: self.max_journal_size,
                max_age: self.max_age,
            },
            kernel_compatibility: self.kernel_compatibility,
        };
        storage.validate().map_err(JournalError::from)?;
        Ok(storage)
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        self.to_storage().map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn older_names_still_read() {
        let c: Config = serde_json::from_str(r#"{"buffer_size": 64, "batch_size": 8}"#).unwrap();
        assert_eq!((c.buffer_capacity, c.block_events), (64, 8));
        // Metadata of journals created before the rename.
        let s: StorageConfig = serde_json::from_str(r#"{"kernel_limits": false}"#).unwrap();
        assert!(!s.kernel_compatibility);
        assert_eq!(Config::from_storage(&s).to_storage().unwrap(), s);
    }
}
