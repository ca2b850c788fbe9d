//! The journal directory: metadata file, writer lock, segment file names.
//!
//! ```text
//! journal-dir/
//!   journal.json                 identity and settings (written by create)
//!   LOCK                         flock'ed by the one writer; names its holder
//!   00000000000000000001.seg     segment whose first event has sequence 1
//!   00000000000000052817.seg     ...
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::config::StorageConfig;
use crate::error::{Result, StorageError};

/// Name of the metadata file.
pub const META_FILE: &str = "journal.json";
/// Version of `journal.json` this build writes (2: the journal has a `MANIFEST`);
/// version 1 journals are migrated by the next writer.
pub const META_VERSION: u32 = 2;
/// Name of the clean-shutdown marker.
pub const CLEAN_FILE: &str = "CLEAN";

/// What a clean shutdown recorded about the open segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanMarker {
    /// The open segment's first sequence.
    pub first_seq: u64,
    /// Its length at shutdown.
    pub end: u64,
    /// Its block table.
    pub blocks: Vec<vexfs_journal_format::footer::BlockEntry>,
}

impl CleanMarker {
    /// Reads the marker of `dir`; `None` if there is none or it does not check (a
    /// damaged marker only costs a scan).
    pub fn read(dir: &Path) -> Option<CleanMarker> {
        let path = dir.join(CLEAN_FILE);
        let bytes = fs::read(&path).ok()?;
        match vexfs_journal_format::footer::decode_clean_marker(&bytes) {
            Ok((first_seq, end, blocks)) => Some(CleanMarker {
                first_seq,
                end,
                blocks,
            }),
            Err(e) => {
                tracing::warn!(marker = %path.display(), error = %e, "clean-shutdown marker unusable; scanning instead");
                None
            }
        }
    }

    /// Writes the marker atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let bytes = vexfs_journal_format::footer::encode_clean_marker(
            self.first_seq,
            self.end,
            &self.blocks,
        );
        let tmp = dir.join(format!("{CLEAN_FILE}.tmp"));
        let mut file = create_file(&tmp)?;
        file.write_all(&bytes)
            .and_then(|_| file.sync_all())
            .map_err(|e| StorageError::io("writing", &tmp, e))?;
        fs::rename(&tmp, dir.join(CLEAN_FILE))
            .map_err(|e| StorageError::io("renaming", &tmp, e))?;
        sync_dir(dir)
    }

    /// Removes the marker (the journal is open for writing again).
    pub fn remove(dir: &Path) -> Result<()> {
        match fs::remove_file(dir.join(CLEAN_FILE)) {
            Ok(()) => sync_dir(dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io("removing", dir.join(CLEAN_FILE), e)),
        }
    }
}

/// Name of the writer lock file.
pub const LOCK_FILE: &str = "LOCK";
/// Extension of segment files.
pub const SEGMENT_EXT: &str = "seg";

/// Identity and settings of a journal, stored in `journal.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JournalMeta {
    /// Always `"vexfs-journal"`.
    pub format: String,
    /// Metadata version: 2 for journals with a manifest (1: written before manifests;
    /// the next writer migrates it).
    pub version: u32,
    /// Unique id of this journal (cursors carry it).
    pub id: Uuid,
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
    /// Settings chosen at creation; later opens may override them.
    pub config: StorageConfig,
    /// How the journal's blocks are encrypted (`None`: they are not). Chosen at
    /// creation; the key itself is never stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
}

/// A journal's encryption, as `journal.json` records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encryption {
    /// Always `"aes-256-gcm"`.
    pub algorithm: String,
    /// The key's id (16 hex digits; see `vexfs_journal_cipher::KeyId`).
    pub key_id: String,
}

impl Encryption {
    /// The record of a journal encrypted with `key`.
    pub fn with_key(key: &vexfs_journal_cipher::JournalKey) -> Encryption {
        Encryption {
            algorithm: "aes-256-gcm".into(),
            key_id: key.id().to_string(),
        }
    }
}

impl JournalMeta {
    /// Metadata for a new journal.
    pub fn new(config: StorageConfig) -> Self {
        JournalMeta {
            format: "vexfs-journal".into(),
            version: META_VERSION,
            id: Uuid::new_v4(),
            created: crate::clock::unix_secs(),
            config,
            encryption: None,
        }
    }

    /// Reads `dir/journal.json`.
    pub fn load(dir: &Path) -> Result<JournalMeta> {
        let path = dir.join(META_FILE);
        let text = fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => StorageError::NotAJournal {
                dir: dir.to_path_buf(),
                reason: format!("no {META_FILE}; create it with `vexjournal init`"),
            },
            _ => StorageError::io("reading", &path, e),
        })?;
        let meta: JournalMeta =
            serde_json::from_str(&text).map_err(|e| StorageError::NotAJournal {
                dir: dir.to_path_buf(),
                reason: format!("{META_FILE} is not valid: {e}"),
            })?;
        if meta.format == "vexfs-journal" && !(1..=META_VERSION).contains(&meta.version) {
            // A journal, but a newer (or unknown) one: say so rather than "not a journal".
            return Err(StorageError::format(
                &path,
                0,
                vexfs_journal_format::FormatError::UnsupportedVersion {
                    what: "journal.json",
                    found: meta.version,
                    supported: META_VERSION,
                },
            ));
        }
        if meta.format != "vexfs-journal" {
            return Err(StorageError::NotAJournal {
                dir: dir.to_path_buf(),
                reason: format!(
                    "{META_FILE} has format {:?} version {}",
                    meta.format, meta.version
                ),
            });
        }
        Ok(meta)
    }

    /// The metadata the journal in `dir` has once a committed swap not yet applied is
    /// (a key rotation replaces `journal.json` with the segments it re-encrypted):
    /// what a key must be checked against before opening applies that swap.
    pub fn load_effective(dir: &Path) -> Result<JournalMeta> {
        match crate::swap::pending_replacement(dir, META_FILE) {
            Some(path) => JournalMeta::load(path.parent().unwrap_or(dir)),
            None => JournalMeta::load(dir),
        }
    }

    /// The cipher of this journal's blocks, given `key`: `None` for a journal that is
    /// not encrypted (a key given to read it is not needed; `writing` refuses it), else
    /// the key, which must be the journal's.
    pub fn cipher(
        &self,
        dir: &Path,
        key: Option<&std::sync::Arc<vexfs_journal_cipher::JournalKey>>,
        writing: bool,
    ) -> Result<Option<crate::segment::SegmentCipher>> {
        match (&self.encryption, key) {
            (None, Some(_)) if writing => Err(StorageError::NotEncrypted {
                dir: dir.to_path_buf(),
            }),
            (None, _) => Ok(None),
            (Some(e), None) => Err(StorageError::KeyRequired {
                dir: dir.to_path_buf(),
                key_id: e.key_id.clone(),
            }),
            (Some(e), Some(_)) if e.algorithm != "aes-256-gcm" => Err(StorageError::NotAJournal {
                dir: dir.to_path_buf(),
                reason: format!(
                    "{META_FILE} names encryption {:?}, which this build does not know",
                    e.algorithm
                ),
            }),
            (Some(e), Some(k)) if e.key_id != k.id().to_string() => Err(StorageError::WrongKey {
                path: dir.to_path_buf(),
                expected: e.key_id.clone(),
                given: k.id().to_string(),
            }),
            (Some(_), Some(k)) => Ok(Some(crate::segment::SegmentCipher::new(
                k.clone(),
                *self.id.as_bytes(),
            ))),
        }
    }

    /// Writes `dir/journal.json` atomically (temporary file, fsync, rename, dir fsync).
    pub fn store(&self, dir: &Path) -> Result<()> {
        let path = dir.join(META_FILE);
        let tmp = dir.join(format!("{META_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(|e| StorageError::Config {
            field: "meta",
            reason: e.to_string(),
        })?;
        let mut file = create_file(&tmp)?;
        file.write_all(text.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| StorageError::io("writing", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| StorageError::io("renaming", &tmp, e))?;
        sync_dir(dir)
    }
}

/// Creates `dir` (mode 0700) and its parents if missing.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| StorageError::io("creating directory", dir, e))
}

/// Refuses a journal directory that users other than its owner may write (mode bit
/// `o+w`): they could replace the journal's files under its writer.
pub fn refuse_others_writable(dir: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = fs::metadata(dir).map_err(|e| StorageError::io("reading the mode of", dir, e))?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o002 != 0 {
        return Err(StorageError::OthersWritable {
            dir: dir.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Creates a new file, mode 0600, failing if it exists.
pub fn create_file(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| StorageError::io("creating", path, e))
}

/// fsyncs a directory so that created, renamed and deleted entries are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StorageError::io("syncing directory", dir, e))
}

/// The exclusive writer lock of a journal directory, held while this value lives.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Takes the lock or fails naming the process that holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|e| StorageError::io("opening lock file", &path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.split_whitespace().collect::<Vec<_>>().join(" ");
                return Err(StorageError::Locked {
                    dir: dir.to_path_buf(),
                    holder: if holder.is_empty() {
                        "unknown process".into()
                    } else {
                        holder
                    },
                });
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StorageError::io("locking", &path, e));
            }
        }
        let me = format!(
            "pid={} cmd={}\n",
            std::process::id(),
            std::env::args().collect::<Vec<_>>().join(" ")
        );
        file.set_len(0)
            .and_then(|_| file.write_all(me.as_bytes()))
            .map_err(|e| StorageError::io("writing lock file", &path, e))?;
        Ok(DirLock { _file: file })
    }
}

/// File name of the segment whose first sequence is `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.{SEGMENT_EXT}")
}

/// Every segment in `dir` as `(first_seq, path)`, sorted.
pub fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let entries = fs::read_dir(dir).map_err(|e| StorageError::io("listing", dir, e))?;
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io("listing", dir, e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXT) {
            continue;
        }
        let first = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| s.len() == 20)
            .and_then(|s| s.parse::<u64>().ok());
        if let Some(first) = first {
            out.push((first, path));
        }
    }
    out.sort();
    Ok(out)
}
