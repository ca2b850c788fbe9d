//! What a mount journals: the capture configuration (TOML) and the filter it becomes.
//!
//! ```toml
//! read = "open"          # off | open | every: read events per open, per read, or none
//! write = "every"        # every | close | off: per write, one at release, or none
//! metadata_reads = false # lookup, getattr, access, readdir, getxattr events
//! sync = false           # true: an operation returns only once its event is durable
//! include = ["/**"]      # path globs (mount-relative, from "/")
//! exclude = ["/tmp/**"]
//! results = "all"        # all | ok | errors
//! uids = []              # only these callers (empty: everyone)
//! operations = []        # only these operations (empty: all), e.g. ["write", "rename"]
//! exclude_operations = ["getattr"]
//! sample = { read = 10 } # keep 1 in N of these operations
//! when_full = "block"    # block | drop: a full journal buffer stalls the operation,
//!                        # or drops its event (counted, then a gap record)
//! fsync_interval_ms = 100 # async capture: sync the journal at most this often
//!                        # (0: after every group commit; sync capture always does)
//! ```
//!
//! Operation names are the event type's (`create`, `delete`, `read`, `write`,
//! `rename`, `chmod`, `chown`, `truncate`, `mkdir`, `rmdir`, `symlink`, `hardlink`) or
//! a subtype's ([`FsSubtype::name`]: `open`, `close`, `lookup`, …). A name matches an
//! event of that type or subtype.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::sink::{FsSubtype, op_name};
use vexfs_journal::FsOp;

use globset::{Glob, GlobSet, GlobSetBuilder};
use serde::Deserialize;

/// Per-read events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadCapture {
    /// None.
    Off,
    /// One event per open for reading (reads then pass through the kernel).
    #[default]
    Open,
    /// One event per read.
    Every,
}

/// Per-write events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteCapture {
    /// One event per write (offset and length).
    #[default]
    Every,
    /// One event when a file opened for writing is released.
    Close,
    /// None.
    Off,
}

/// What an operation does when the journal's buffer is full (async capture).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WhenFull {
    /// Wait for room: no event is lost, the operation is slower.
    #[default]
    Block,
    /// Drop the event (counted; a gap record follows): the operation never waits.
    Drop,
}

/// Which results are journaled.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Results {
    /// Successes and failures.
    #[default]
    All,
    /// Successes only.
    Ok,
    /// Failures only.
    Errors,
}

/// The capture configuration file.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaptureConfig {
    /// Per-read events.
    pub read: ReadCapture,
    /// Per-write events.
    pub write: WriteCapture,
    /// Metadata reads (lookup, getattr, access, readdir, getxattr).
    pub metadata_reads: bool,
    /// Journal synchronously.
    pub sync: bool,
    /// Paths to journal (globs; empty: all).
    pub include: Vec<String>,
    /// Paths not to journal (globs).
    pub exclude: Vec<String>,
    /// Which results.
    pub results: Results,
    /// Only operations of these uids (empty: all).
    pub uids: Vec<u32>,
    /// Only these operations (empty: all).
    pub operations: Vec<String>,
    /// Not these operations.
    pub exclude_operations: Vec<String>,
    /// Keep one in N of these operations.
    pub sample: BTreeMap<String, u64>,
    /// Block or drop when the journal's buffer is full.
    pub when_full: WhenFull,
    /// With asynchronous capture, sync the journal at most this often (0: after every
    /// group commit). Each sync of a journal on the source's file system also commits
    /// that file system's metadata journal, which stalls the operations being mirrored.
    pub fsync_interval_ms: u64,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            read: ReadCapture::Open,
            write: WriteCapture::Every,
            metadata_reads: false,
            sync: false,
            include: Vec::new(),
            exclude: Vec::new(),
            results: Results::All,
            uids: Vec::new(),
            operations: Vec::new(),
            exclude_operations: Vec::new(),
            sample: BTreeMap::new(),
            when_full: WhenFull::Block,
            fsync_interval_ms: 100,
        }
    }
}

impl CaptureConfig {
    /// The journal's sync policy this capture needs: after every group commit for
    /// synchronous capture (each operation waits for its event's sync), else at most
    /// every `fsync_interval_ms`.
    pub fn fsync_policy(&self) -> vexfs_journal::FsyncPolicy {
        if self.sync || self.fsync_interval_ms == 0 {
            vexfs_journal::FsyncPolicy::Batch
        } else {
            vexfs_journal::FsyncPolicy::Interval(std::time::Duration::from_millis(
                self.fsync_interval_ms,
            ))
        }
    }

    /// The journal's full-buffer policy this capture needs.
    pub fn full_policy(&self) -> vexfs_journal::FullPolicy {
        match self.when_full {
            WhenFull::Block => vexfs_journal::FullPolicy::Block,
            WhenFull::Drop => vexfs_journal::FullPolicy::Error,
        }
    }
}

/// Every operation name a capture file may use.
pub fn operation_names() -> Vec<&'static str> {
    let types = [
        FsOp::Create,
        FsOp::Delete,
        FsOp::Read,
        FsOp::Write,
        FsOp::Rename,
        FsOp::Chmod,
        FsOp::Chown,
        FsOp::Truncate,
        FsOp::Mkdir,
        FsOp::Rmdir,
        FsOp::Symlink,
        FsOp::Hardlink,
    ];
    let mut names: Vec<&'static str> = types.into_iter().map(op_name).collect();
    names.extend(FsSubtype::ALL.iter().map(|s| s.name()));
    names
}

/// A capture file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    /// The file could not be read.
    #[error("reading the capture file {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("capture file {path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// What is wrong and where.
        message: String,
    },
    /// An operation name is not one this mirror records.
    #[error("capture file {path}: unknown operation {name:?} in {key} (known: {known})")]
    Operation {
        /// The file.
        path: String,
        /// The key that names it.
        key: &'static str,
        /// The name.
        name: String,
        /// The names that exist.
        known: String,
    },
    /// A sampling rate of zero.
    #[error("capture file {path}: sample.{name} = 0: keep one in N needs N >= 1")]
    Sample {
        /// The file.
        path: String,
        /// The operation.
        name: String,
    },
    /// A path glob does not parse.
    #[error("capture file {path}: glob {glob:?}: {message}")]
    Glob {
        /// The file.
        path: String,
        /// The glob.
        glob: String,
        /// Why.
        message: String,
    },
}

impl CaptureConfig {
    /// Reads a capture file.
    pub fn load(path: &Path) -> Result<CaptureConfig, CaptureError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CaptureError::Read {
            path: shown.clone(),
            source,
        })?;
        let config: CaptureConfig = toml::from_str(&text).map_err(|e| CaptureError::Parse {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        config.filter(&shown)?;
        Ok(config)
    }

    /// The filter this configuration describes (`source` names it in errors).
    pub fn filter(&self, source: &str) -> Result<Filter, CaptureError> {
        let set = |globs: &[String]| -> Result<Option<GlobSet>, CaptureError> {
            if globs.is_empty() {
                return Ok(None);
            }
            let mut b = GlobSetBuilder::new();
            for g in globs {
                b.add(Glob::new(g).map_err(|e| CaptureError::Glob {
                    path: source.into(),
                    glob: g.clone(),
                    message: e.kind().to_string(),
                })?);
            }
            b.build().map(Some).map_err(|e| CaptureError::Glob {
                path: source.into(),
                glob: globs.join(", "),
                message: e.to_string(),
            })
        };
        let known = operation_names();
        let check = |key: &'static str, name: &String| -> Result<(), CaptureError> {
            if known.contains(&name.as_str()) {
                Ok(())
            } else {
                Err(CaptureError::Operation {
                    path: source.into(),
                    key,
                    name: name.clone(),
                    known: known.join(", "),
                })
            }
        };
        for n in &self.operations {
            check("operations", n)?;
        }
        for n in &self.exclude_operations {
            check("exclude_operations", n)?;
        }
        let mut sample = Vec::new();
        for (n, every) in &self.sample {
            check("sample", n)?;
            if *every == 0 {
                return Err(CaptureError::Sample {
                    path: source.into(),
                    name: n.clone(),
                });
            }
            sample.push((n.clone(), *every, AtomicU64::new(0)));
        }
        Ok(Filter {
            include: set(&self.include)?,
            exclude: set(&self.exclude)?,
            results: self.results,
            uids: self.uids.clone(),
            operations: self.operations.clone(),
            exclude_operations: self.exclude_operations.clone(),
            sample,
        })
    }
}

/// Decides, per operation, whether it is journaled.
#[derive(Debug, Default)]
pub struct Filter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    results: Results,
    uids: Vec<u32>,
    operations: Vec<String>,
    exclude_operations: Vec<String>,
    /// (operation, keep one in N, operations seen).
    sample: Vec<(String, u64, AtomicU64)>,
}

impl Filter {
    /// Whether operation `names` (event type name, subtype name) on `path` by `uid`
    /// with result `errno` passes the filter (sampling aside).
    pub fn wants_operation(
        &self,
        names: (&str, Option<&str>),
        path: &[u8],
        uid: u32,
        errno: i32,
    ) -> bool {
        let named = |list: &[String]| {
            list.iter()
                .any(|n| n == names.0 || names.1.is_some_and(|s| s == n))
        };
        if !self.operations.is_empty() && !named(&self.operations) {
            return false;
        }
        if named(&self.exclude_operations) {
            return false;
        }
        self.wants(path, uid, errno)
    }

    /// Sampling: whether this occurrence of operation `names` is kept (one in N of
    /// the operations `sample` names; the subtype's rate wins over the type's).
    pub fn sample(&self, names: (&str, Option<&str>)) -> bool {
        let rate = names
            .1
            .and_then(|s| self.sample.iter().find(|(n, ..)| n == s))
            .or_else(|| self.sample.iter().find(|(n, ..)| n == names.0));
        match rate {
            None => true,
            Some((_, every, seen)) => seen.fetch_add(1, Ordering::Relaxed) % every == 0,
        }
    }

    /// Whether an operation on `path` by `uid` with result `errno` (0: success) is
    /// journaled.
    pub fn wants(&self, path: &[u8], uid: u32, errno: i32) -> bool {
        let path = Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(path));
        if self.include.as_ref().is_some_and(|s| !s.is_match(path)) {
            return false;
        }
        if self.exclude.as_ref().is_some_and(|s| s.is_match(path)) {
            return false;
        }
        if !self.uids.is_empty() && !self.uids.contains(&uid) {
            return false;
        }
        match self.results {
            Results::All => true,
            Results::Ok => errno == 0,
            Results::Errors => errno != 0,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    #[test]
    fn defaults_and_a_full_file() {
        let c: CaptureConfig = toml::from_str("").unwrap();
        assert_eq!(
            (c.read, c.write, c.metadata_reads, c.sync),
            (ReadCapture::Open, WriteCapture::Every, false, false)
        );
        let c: CaptureConfig = toml::from_str(
            "read = \"every\"\nwrite = \"close\"\nmetadata_reads = true\nsync = true\ninclude = [\"/data/**\"]\nexclude = [\"/data/tmp/**\"]\nresults = \"errors\"\nuids = [1000]\n",
        )
        .unwrap();
        let f = c.filter("t").unwrap();
        assert!(f.wants(b"/data/a", 1000, 2));
        assert!(!f.wants(b"/data/a", 1000, 0), "successes filtered");
        assert!(!f.wants(b"/data/tmp/a", 1000, 2), "excluded");
        assert!(!f.wants(b"/other", 1000, 2), "not included");
        assert!(!f.wants(b"/data/a", 0, 2), "other uid");
    }

    #[test]
    fn bad_files_name_what_is_wrong() {
        let e = toml::from_str::<CaptureConfig>("read = \"sometimes\"").unwrap_err();
        assert!(e.to_string().contains("sometimes"), "{e}");
        let e = toml::from_str::<CaptureConfig>("colour = 1").unwrap_err();
        assert!(e.to_string().contains("colour"), "{e}");
        let c: CaptureConfig = toml::from_str("include = [\"/a/[\"]").unwrap();
        let e = c.filter("cap.toml").unwrap_err();
        assert!(e.to_string().contains("/a/["), "{e}");
        let c: CaptureConfig = toml::from_str("operations = [\"wrte\"]").unwrap();
        let e = c.filter("cap.toml").unwrap_err().to_string();
        assert!(e.contains("\"wrte\"") && e.contains("known: create"), "{e}");
        let c: CaptureConfig = toml::from_str("sample = { read = 0 }").unwrap();
        let e = c.filter("cap.toml").unwrap_err().to_string();
        assert!(e.contains("sample.read = 0"), "{e}");
    }

    #[test]
    fn sync_policies_follow_the_capture_mode() {
        let c = CaptureConfig::default();
        assert_eq!(
            c.fsync_policy(),
            vexfs_journal::FsyncPolicy::Interval(std::time::Duration::from_millis(100))
        );
        assert_eq!(c.full_policy(), vexfs_journal::FullPolicy::Block);
        let c: CaptureConfig = toml::from_str("sync = true\nfsync_interval_ms = 500").unwrap();
        assert_eq!(
            c.fsync_policy(),
            vexfs_journal::FsyncPolicy::Batch,
            "sync capture syncs every commit"
        );
        let c: CaptureConfig =
            toml::from_str("fsync_interval_ms = 0\nwhen_full = \"drop\"").unwrap();
        assert_eq!(c.fsync_policy(), vexfs_journal::FsyncPolicy::Batch);
        assert_eq!(c.full_policy(), vexfs_journal::FullPolicy::Error);
    }

    #[test]
    fn operations_and_sampling() {
        let c: CaptureConfig = toml::from_str(
            "operations = [\"write\", \"rename\", \"lookup\"]\nexclude_operations = [\"close\"]\nsample = { write = 3, lookup = 2 }\n",
        )
        .unwrap();
        let f = c.filter("t").unwrap();
        assert!(f.wants_operation(("write", None), b"/a", 0, 0));
        assert!(f.wants_operation(("rename", None), b"/a", 0, 0));
        assert!(
            !f.wants_operation(("create", None), b"/a", 0, 0),
            "not listed"
        );
        assert!(
            !f.wants_operation(("write", Some("close")), b"/a", 0, 0),
            "excluded subtype"
        );
        assert!(
            f.wants_operation(("read", Some("lookup")), b"/a", 0, 0),
            "listed subtype"
        );
        let kept: Vec<bool> = (0..6).map(|_| f.sample(("write", None))).collect();
        assert_eq!(kept, [true, false, false, true, false, false]);
        // The subtype's rate wins over the type's.
        let kept: Vec<bool> = (0..4).map(|_| f.sample(("read", Some("lookup")))).collect();
        assert_eq!(kept, [true, false, true, false]);
        assert!(
            f.sample(("create", None)),
            "unsampled operations are all kept"
        );
    }
}
