//! Encrypted segments: a block's stored data is AES-256-GCM ciphertext
//! (`vexfs-journal-cipher`); its header stays readable and its checksum covers the
//! ciphertext, so a block is found, sized and checked for damage without the key.
//!
//! Writing, [`Crypt::encrypt_block`] turns a block built by `append_block` into its
//! encrypted form once its place (segment, offset) is known. Reading, [`plaintext`]
//! turns an encrypted block back into the plaintext block the writer built (header with
//! the plaintext's size and checksum): everything after the block-open seam reads it
//! as it reads a block of an unencrypted segment.

use std::sync::Arc;

use vexfs_journal_cipher::{
    ALGORITHM_AES_256_GCM, CipherError, JournalKey, KeyId, OVERHEAD, Place, SALT_SIZE,
};
use vexfs_journal_format::block::{EventEncoding, block_size_for, check_stored};
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal_format::{BlockHeader, FormatError, kernel_crc32};

use crate::error::{Result, StorageError};

/// The `what` of the error for a block whose checksum holds but which does not
/// decrypt (never a torn write: repair refuses to cut it).
pub(crate) const UNDECRYPTABLE: &str = "encrypted block (checksum intact)";

/// A journal's key and id: what encrypts and decrypts its segments' blocks.
#[derive(Clone, Debug)]
pub struct SegmentCipher {
    key: Arc<JournalKey>,
    journal: [u8; 16],
}

impl SegmentCipher {
    /// The cipher of journal `journal` with `key`.
    pub fn new(key: Arc<JournalKey>, journal: [u8; 16]) -> SegmentCipher {
        SegmentCipher { key, journal }
    }

    /// The key.
    pub fn key(&self) -> &Arc<JournalKey> {
        &self.key
    }

    /// The journal's id.
    pub fn journal(&self) -> [u8; 16] {
        self.journal
    }

    /// The blocks of segment `segment` (its first sequence).
    pub(crate) fn of(&self, segment: u64) -> Crypt<'_> {
        Crypt {
            cipher: self,
            segment,
        }
    }
}

/// The cipher of one segment's blocks.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Crypt<'a> {
    cipher: &'a SegmentCipher,
    segment: u64,
}

/// The authenticated context of a block: its header with the checksum field zeroed
/// (the checksum covers the ciphertext, which does not exist yet when encrypting).
fn context(header: &BlockHeader) -> [u8; BLOCK_HEADER_SIZE] {
    BlockHeader {
        block_checksum: 0,
        ..*header
    }
    .to_bytes()
}

impl Crypt<'_> {
    fn place(&self, offset: u64) -> Place {
        Place {
            journal: self.cipher.journal,
            segment: self.segment,
            offset,
        }
    }

    /// Encrypts the block that starts at `out[start..]` (header and plaintext stored
    /// data, as `append_block` built it, and nothing after it) for `offset` of this
    /// segment. Returns the block's new size ([`OVERHEAD`] bytes more).
    pub(crate) fn encrypt_block(
        &self,
        out: &mut Vec<u8>,
        start: usize,
        offset: u64,
    ) -> Result<usize> {
        let data_at = start + BLOCK_HEADER_SIZE;
        let mut header = out
            .get(start..)
            .ok_or(FormatError::Malformed {
                what: "block to encrypt",
                offset: 0,
                reason: "it starts past the end of the buffer",
            })
            .and_then(BlockHeader::parse)
            .map_err(StorageError::InvalidEvent)?;
        let mut salt = [0u8; SALT_SIZE];
        getrandom::getrandom(&mut salt).map_err(|e| StorageError::Random(e.to_string()))?;
        let stored = out.len().saturating_sub(data_at) + OVERHEAD;
        header.compressed_size = u32::try_from(stored).map_err(|_| {
            StorageError::InvalidEvent(FormatError::Malformed {
                what: "block to encrypt",
                offset: 0,
                reason: "it is larger than a block can be",
            })
        })?;
        header.block_size = block_size_for(EventEncoding::Record, stored) as u32;
        let plain = out.split_off(data_at);
        let encrypted = self
            .cipher
            .key
            .encrypt(&self.place(offset), &context(&header), salt, &plain, out)
            .map_err(|e| StorageError::Encryption(e.to_string()));
        if let Err(e) = encrypted {
            // Left as it was: the plaintext block.
            out.extend_from_slice(&plain);
            return Err(e);
        }
        header.block_checksum = kernel_crc32(out.get(data_at..).unwrap_or_default());
        out[start..data_at].copy_from_slice(&header.to_bytes());
        Ok(header.block_size as usize)
    }

    /// The plaintext block of the encrypted block `stored` (header first) at `offset`
    /// of this segment, built in `buf`: the header, exact size and checksum of the
    /// encrypted data are checked first, as for any block, then the data is decrypted
    /// and authenticated.
    pub(crate) fn decrypt_block<'b>(
        &self,
        stored: &[u8],
        offset: u64,
        buf: &'b mut Vec<u8>,
    ) -> std::result::Result<&'b [u8], FormatError> {
        self.decrypt(stored, offset, buf, true)
    }

    /// [`Crypt::decrypt_block`] for a reader that checks a framed block frame by frame
    /// (`LastBlock`): the plaintext header of a framed block then carries no checksum
    /// (zero), since nothing reads it; its frames carry their own.
    pub(crate) fn decrypt_block_for_frames<'b>(
        &self,
        stored: &[u8],
        offset: u64,
        buf: &'b mut Vec<u8>,
    ) -> std::result::Result<&'b [u8], FormatError> {
        self.decrypt(stored, offset, buf, false)
    }

    fn decrypt<'b>(
        &self,
        stored: &[u8],
        offset: u64,
        buf: &'b mut Vec<u8>,
        whole_checksum: bool,
    ) -> std::result::Result<&'b [u8], FormatError> {
        let (mut header, data) = check_stored(stored, EventEncoding::Record)?;
        buf.clear();
        buf.resize(BLOCK_HEADER_SIZE, 0);
        self.cipher
            .key
            .decrypt(&self.place(offset), &context(&header), data, buf)
            .map_err(|e| match e {
                CipherError::Truncated { .. } => FormatError::Malformed {
                    what: "encrypted block",
                    offset: BLOCK_HEADER_SIZE,
                    reason: "its data is shorter than a salt and a tag",
                },
                _ => FormatError::Malformed {
                    what: UNDECRYPTABLE,
                    offset: BLOCK_HEADER_SIZE,
                    reason: "it does not decrypt: it was changed or moved, or written with another key",
                },
            })?;
        let plain = buf.len() - BLOCK_HEADER_SIZE;
        header.compressed_size = plain as u32;
        header.block_size = block_size_for(EventEncoding::Record, plain) as u32;
        header.block_checksum = if whole_checksum || !header.framed {
            kernel_crc32(buf.get(BLOCK_HEADER_SIZE..).unwrap_or_default())
        } else {
            0
        };
        buf[..BLOCK_HEADER_SIZE].copy_from_slice(&header.to_bytes());
        Ok(buf)
    }
}

thread_local! {
    /// Each thread's buffer for decrypted blocks.
    static PLAIN: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Calls `f` with the block `stored` as the rest of storage reads it: itself in an
/// unencrypted segment (`crypt` is `None`), else its plaintext block
/// ([`Crypt::decrypt_block`]).
pub(crate) fn plaintext<T>(
    stored: &[u8],
    crypt: Option<Crypt<'_>>,
    offset: u64,
    f: impl FnOnce(&[u8]) -> std::result::Result<T, FormatError>,
) -> std::result::Result<T, FormatError> {
    let Some(crypt) = crypt else {
        return f(stored);
    };
    PLAIN.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            let out = f(crypt.decrypt_block(stored, offset, &mut buf)?);
            if buf.capacity() > 1 << 20 {
                *buf = Vec::new();
            }
            out
        }
        Err(_) => f(crypt.decrypt_block(stored, offset, &mut Vec::new())?),
    })
}

/// Marks a segment header as encrypted with `cipher`'s key: `encryption_algorithm` and,
/// in its first two reserved words, the key's id.
pub(crate) fn mark(header: &mut vexfs_journal_format::FileHeader, cipher: &SegmentCipher) {
    header.encryption_algorithm = ALGORITHM_AES_256_GCM;
    let [a, b] = cipher.key.id().to_words();
    header.reserved[0] = a;
    header.reserved[1] = b;
}

/// The cipher of the segment at `path` whose header is `header`, given its journal's
/// (`cipher`): the two must agree — a segment of an encrypted journal is encrypted with
/// the journal's key, and a segment of a journal that is not encrypted is not.
pub(crate) fn segment_cipher(
    path: &std::path::Path,
    header: &vexfs_journal_format::FileHeader,
    cipher: Option<&SegmentCipher>,
) -> Result<Option<SegmentCipher>> {
    let disagree = |reason: String| StorageError::SegmentEncryption {
        path: path.to_path_buf(),
        reason,
    };
    match (header.encryption_algorithm, cipher) {
        (0, None) => Ok(None),
        (0, Some(_)) => Err(disagree(
            "the segment is not encrypted but its journal is: it was not written by this \
             journal's writer"
                .into(),
        )),
        (ALGORITHM_AES_256_GCM, Some(c)) => {
            let recorded = KeyId::from_words([header.reserved[0], header.reserved[1]]);
            if recorded != c.key.id() {
                return Err(StorageError::WrongKey {
                    path: path.to_path_buf(),
                    expected: recorded.to_string(),
                    given: c.key.id().to_string(),
                });
            }
            Ok(Some(c.clone()))
        }
        (ALGORITHM_AES_256_GCM, None) => Err(disagree(
            "the segment is encrypted but its journal is not: it was not written by this \
             journal's writer"
                .into(),
        )),
        (other, _) => Err(disagree(format!(
            "unknown encryption algorithm {other} (this build knows 1, AES-256-GCM)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;
    use vexfs_journal_format::{Compression, samples};

    fn cipher() -> SegmentCipher {
        SegmentCipher::new(Arc::new(JournalKey::from_bytes([5; 32])), [8; 16])
    }

    fn blocks() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = [Compression::None, Compression::Lz4, Compression::Zstd]
            .into_iter()
            .map(|c| samples::storage_block(c).unwrap())
            .collect();
        v.push(samples::framed_storage_block().unwrap());
        v
    }

    #[test]
    fn the_format_knows_the_ciphers_overhead() {
        assert_eq!(
            OVERHEAD,
            vexfs_journal_format::consts::ENCRYPTED_BLOCK_OVERHEAD
        );
    }

    /// An encrypted block: header readable and checksummed as any block's, and
    /// decrypted at its place it is exactly the block the writer built.
    #[test]
    fn a_block_decrypts_to_exactly_the_block_the_writer_built() {
        let c = cipher();
        for block in blocks() {
            let mut out = vec![0xEE; 3];
            out.extend_from_slice(&block);
            let size = c.of(17).encrypt_block(&mut out, 3, 4096).unwrap();
            assert_eq!(size, block.len() + OVERHEAD);
            assert_eq!(out.len(), 3 + size);
            assert_eq!(out[..3], [0xEE; 3], "what came before is untouched");
            let enc = &out[3..];
            let (h, _) = check_stored(enc, EventEncoding::Record).unwrap();
            let plain_header = BlockHeader::parse(&block).unwrap();
            assert_eq!(h.block_id, plain_header.block_id);
            assert_eq!(h.event_count, plain_header.event_count);
            assert_eq!(h.uncompressed_size, plain_header.uncompressed_size);
            assert_eq!(
                h.compressed_size,
                plain_header.compressed_size + OVERHEAD as u32
            );
            let mut buf = Vec::new();
            assert_eq!(
                c.of(17).decrypt_block(enc, 4096, &mut buf).unwrap(),
                &block[..]
            );
            for (segment, offset) in [(18, 4096), (17, 4097)] {
                assert!(c.of(segment).decrypt_block(enc, offset, &mut buf).is_err());
            }
            let other = SegmentCipher::new(c.key.clone(), [9; 16]);
            assert!(other.of(17).decrypt_block(enc, 4096, &mut buf).is_err());
        }
    }

    proptest! {
        /// No bytes make decryption panic.
        #[test]
        fn any_bytes_decrypt_or_fail_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..600),
            offset in any::<u64>(),
        ) {
            let _ = cipher().of(1).decrypt_block(&bytes, offset, &mut Vec::new());
        }

        /// Any bit changed anywhere in an encrypted block, checksum recomputed as an
        /// attacker would, is refused.
        #[test]
        fn any_changed_bit_is_refused(which in 0usize..4, at in any::<proptest::sample::Index>(), bit in 0u8..8) {
            let c = cipher();
            let mut enc = blocks().swap_remove(which);
            c.of(1).encrypt_block(&mut enc, 0, 128).unwrap();
            let i = at.index(enc.len());
            // The checksum field itself is left alone: it is recomputed below.
            prop_assume!(!(36..40).contains(&i));
            enc[i] ^= 1 << bit;
            let stored = u32::from_le_bytes(enc[28..32].try_into().unwrap()) as usize;
            if let Some(data) = enc.get(BLOCK_HEADER_SIZE..BLOCK_HEADER_SIZE + stored) {
                let crc = kernel_crc32(data);
                enc[36..40].copy_from_slice(&crc.to_le_bytes());
            }
            prop_assert!(c.of(1).decrypt_block(&enc, 128, &mut Vec::new()).is_err());
        }
    }
}
