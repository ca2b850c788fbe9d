//! Index files of an encrypted journal: the whole file encrypted with the journal's
//! key, so that no path or agent is on disk in plain text (`docs/encryption.md`).
//!
//! An encrypted index file is `"VXJIDXE1"` followed by the `vexfs-journal-cipher`
//! encryption of the plain index file, bound to the journal, the segment and the
//! context `"vexfs-journal index file v1"` (place offset `u64::MAX`, which no block
//! has). It is read whole and decrypted; the plain bytes are then read as any index
//! file is ([`IdxFile`]). A file that does not decrypt (another journal's, a plain one,
//! changed) is not used: the index is rebuilt from the segment, as for a damaged file.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use vexfs_journal_cipher::{JournalKey, Place, SALT_SIZE};

/// First bytes of an encrypted index file.
pub const ENCRYPTED_INDEX_MAGIC: &[u8; 8] = b"VXJIDXE1";
/// Authenticated context of an index file's encryption.
const CONTEXT: &[u8] = b"vexfs-journal index file v1";

/// The key of an encrypted journal's index files.
#[derive(Clone, Debug)]
pub struct IndexKey {
    key: Arc<JournalKey>,
    journal: [u8; 16],
}

impl IndexKey {
    /// The index key of journal `journal` with `key`.
    pub fn new(key: Arc<JournalKey>, journal: [u8; 16]) -> IndexKey {
        IndexKey { key, journal }
    }

    fn place(&self, first_seq: u64) -> Place {
        Place {
            journal: self.journal,
            segment: first_seq,
            offset: u64::MAX,
        }
    }

    /// The file bytes of the plain index `plain` of segment `first_seq`.
    pub fn seal(&self, first_seq: u64, plain: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut salt = [0u8; SALT_SIZE];
        getrandom::getrandom(&mut salt).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut out = ENCRYPTED_INDEX_MAGIC.to_vec();
        self.key
            .encrypt(&self.place(first_seq), CONTEXT, salt, plain, &mut out)
            .map_err(std::io::Error::other)?;
        Ok(out)
    }

    /// The plain index in the file bytes `bytes` of segment `first_seq`.
    pub fn open(&self, first_seq: u64, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        let invalid = |why: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, why);
        let sealed = bytes
            .strip_prefix(ENCRYPTED_INDEX_MAGIC)
            .ok_or_else(|| invalid("not an encrypted index file (an encrypted journal's are)"))?;
        let mut plain = Vec::new();
        self.key
            .decrypt(&self.place(first_seq), CONTEXT, sealed, &mut plain)
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(plain)
    }
}

/// An index file open for reading: the file itself, or (encrypted) its plain bytes.
#[derive(Debug)]
pub enum IdxFile {
    /// A plain index file, read where needed.
    Plain(File),
    /// An encrypted index file, decrypted whole.
    Clear(Vec<u8>),
}

impl IdxFile {
    /// Opens the index file `path` of segment `first_seq` (decrypting it with `key`).
    pub fn open(path: &Path, first_seq: u64, key: Option<&IndexKey>) -> std::io::Result<IdxFile> {
        match key {
            None => File::open(path).map(IdxFile::Plain),
            Some(k) => Ok(IdxFile::Clear(k.open(first_seq, &std::fs::read(path)?)?)),
        }
    }

    /// Bytes of the (plain) index.
    pub fn byte_len(&self) -> std::io::Result<u64> {
        match self {
            IdxFile::Plain(f) => f.metadata().map(|m| m.len()),
            IdxFile::Clear(b) => Ok(b.len() as u64),
        }
    }

    /// Fills `buf` from offset `off` of the (plain) index.
    pub fn read_exact_at(&self, buf: &mut [u8], off: u64) -> std::io::Result<()> {
        match self {
            IdxFile::Plain(f) => f.read_exact_at(buf, off),
            IdxFile::Clear(b) => {
                let src = usize::try_from(off)
                    .ok()
                    .and_then(|o| b.get(o..o.checked_add(buf.len())?))
                    .ok_or_else(|| {
                        std::io::Error::new(
                            std::io::ErrorKind::UnexpectedEof,
                            "read past the end of the index",
                        )
                    })?;
                buf.copy_from_slice(src);
                Ok(())
            }
        }
    }
}

/// The (plain) bytes of index file `path` of segment `first_seq`.
pub fn read_all(path: &Path, first_seq: u64, key: Option<&IndexKey>) -> std::io::Result<Vec<u8>> {
    let bytes = std::fs::read(path)?;
    match key {
        None => Ok(bytes),
        Some(k) => k.open(first_seq, &bytes),
    }
}
