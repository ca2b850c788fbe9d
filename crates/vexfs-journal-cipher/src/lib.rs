//! Block encryption of the VexFS semantic journal, as bytes: no journal, no I/O, no
//! randomness of its own (callers pass each block's salt).
//!
//! A block's stored data is encrypted with AES-256-GCM under a key derived for that
//! block alone: `HMAC-SHA256(journal key, "vexfs-journal block v1\0" ‖ salt)`, where
//! `salt` is 16 random bytes the writer draws for each block and stores in front of
//! the ciphertext. Each derived key encrypts exactly one message, so the GCM nonce is
//! fixed (all zeros) and can never be reused under a key: a repeat needs two blocks
//! whose random salts collide, which after 2^48 blocks (4 EiB of 16 KiB blocks) has a
//! chance below 2^-33. A nonce derived from the block's position would repeat when a
//! torn tail is cut and its position written again, or a segment rewritten by
//! compaction; a counter would need durable state outside the block.
//!
//! The stored data becomes `salt (16) ‖ ciphertext ‖ tag (16)` ([`OVERHEAD`] bytes
//! more). The authenticated data binds the block to its place: the journal's id, the
//! segment (its first sequence), the byte offset in the segment, and the caller's
//! context (the storage layer passes the block header, checksum field zeroed), so a
//! block copied to another journal, segment or offset, or given another header, fails
//! to decrypt.
//!
//! ```
//! use vexfs_journal_cipher::{JournalKey, Place};
//!
//! let key = JournalKey::from_bytes([7; 32]);
//! let place = Place { journal: [1; 16], segment: 1, offset: 128 };
//! let mut stored = Vec::new();
//! key.encrypt(&place, b"header", [9; 16], b"records", &mut stored).unwrap();
//! let mut plain = Vec::new();
//! key.decrypt(&place, b"header", &stored, &mut plain).unwrap();
//! assert_eq!(plain, b"records");
//! let elsewhere = Place { offset: 4096, ..place };
//! assert!(key.decrypt(&elsewhere, b"header", &stored, &mut plain).is_err());
//! ```

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::hmac;
use zeroize::Zeroizing;

/// The value of a segment header's `encryption_algorithm` for AES-256-GCM blocks
/// (0: not encrypted).
pub const ALGORITHM_AES_256_GCM: u32 = 1;
/// Bytes of a journal key.
pub const KEY_SIZE: usize = 32;
/// Bytes of the random salt in front of each block's ciphertext.
pub const SALT_SIZE: usize = 16;
/// Bytes of the GCM tag after each block's ciphertext.
pub const TAG_SIZE: usize = 16;
/// Bytes encryption adds to a block's stored data.
pub const OVERHEAD: usize = SALT_SIZE + TAG_SIZE;

/// Domain label of the per-block key derivation.
const BLOCK_LABEL: &[u8] = b"vexfs-journal block v1\0";
/// Domain label of the key id.
const ID_LABEL: &[u8] = b"vexfs-journal key id v1\0";
/// Domain label in front of the authenticated data.
const AAD_LABEL: &[u8] = b"VXJENC01";

/// What went wrong.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum CipherError {
    /// A key's text is not 64 hex digits.
    #[error(
        "{what} is not a journal key: {reason} (a key file holds 64 hex digits; `vexjournal key generate FILE` makes one)"
    )]
    KeyText {
        /// Where the text came from.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Encrypted data shorter than its salt and tag.
    #[error(
        "encrypted block data of {len} bytes is shorter than its salt and tag ({OVERHEAD} bytes)"
    )]
    Truncated {
        /// Bytes there were.
        len: usize,
    },
    /// The cipher refused to run (`ring` reports only that; with a 32-byte key and a
    /// block under 64 GiB it never does).
    #[error("AES-256-GCM refused to {0}")]
    Refused(&'static str),
    /// The tag did not check.
    #[error(
        "the block does not decrypt: the key is not the journal's, or the block was changed or moved"
    )]
    Authentication,
}

/// A block's place: what its authenticated data binds it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// The journal's id.
    pub journal: [u8; 16],
    /// The segment's first sequence.
    pub segment: u64,
    /// Byte offset of the block in its segment file.
    pub offset: u64,
}

/// A key's public name: the first 8 bytes of `HMAC-SHA256(key, "vexfs-journal key id
/// v1\0")`. Journals record it, so that a wrong key is named before anything is read,
/// without revealing the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct KeyId(pub [u8; 8]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl KeyId {
    /// The id from its 16 hex digits.
    pub fn from_hex(text: &str) -> Option<KeyId> {
        let mut out = [0u8; 8];
        hex::decode_to_slice(text.trim(), &mut out).ok()?;
        Some(KeyId(out))
    }

    /// The id as two `u32`s (little-endian halves), as a segment header stores it.
    pub fn to_words(self) -> [u32; 2] {
        let [a, b, c, d, e, f, g, h] = self.0;
        [
            u32::from_le_bytes([a, b, c, d]),
            u32::from_le_bytes([e, f, g, h]),
        ]
    }

    /// The id from [`KeyId::to_words`]'s words.
    pub fn from_words(words: [u32; 2]) -> KeyId {
        let mut out = [0u8; 8];
        out[..4].copy_from_slice(&words[0].to_le_bytes());
        out[4..].copy_from_slice(&words[1].to_le_bytes());
        KeyId(out)
    }
}

/// A journal's 32-byte AES-256 key. Its bytes are wiped from memory when dropped; the
/// HMAC state `ring` derives from them, and each block's derived key, are not.
///
/// AES-GCM and HMAC-SHA256 come from `ring`, whose assembly AES-GCM decrypts a 6 KB
/// block in a fifth of the time `aes-gcm` 0.10 takes on this machine (0.84 µs against
/// 4.2 µs, key setup included; `docs/benchmarks.md`).
#[derive(Clone)]
pub struct JournalKey {
    bytes: Zeroizing<[u8; KEY_SIZE]>,
    /// HMAC-SHA256 keyed with the key (derivations and the id).
    mac: hmac::Key,
    id: KeyId,
}

/// Two keys are equal when their ids are (an id is 64 bits of a keyed hash: equal ids
/// of different keys are not found by chance).
impl PartialEq for JournalKey {
    fn eq(&self, other: &JournalKey) -> bool {
        self.id == other.id
    }
}

impl Eq for JournalKey {}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JournalKey").field("id", &self.id).finish()
    }
}

impl JournalKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_SIZE]) -> JournalKey {
        let bytes = Zeroizing::new(bytes);
        let mac = hmac::Key::new(hmac::HMAC_SHA256, bytes.as_ref());
        let digest = hmac::sign(&mac, ID_LABEL);
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest.as_ref()[..8]);
        JournalKey {
            bytes,
            mac,
            id: KeyId(id),
        }
    }

    /// A key from its 64 hex digits (surrounding whitespace ignored); `what` names the
    /// text's source in the error.
    pub fn from_hex(what: &str, text: &str) -> Result<JournalKey, CipherError> {
        let mut bytes = Zeroizing::new([0u8; KEY_SIZE]);
        hex::decode_to_slice(text.trim(), bytes.as_mut()).map_err(|e| CipherError::KeyText {
            what: what.to_string(),
            reason: e.to_string(),
        })?;
        Ok(JournalKey::from_bytes(*bytes))
    }

    /// The key as 64 hex digits (the key file's text).
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.bytes.as_ref()))
    }

    /// The key's id.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The AES-256-GCM key of the block whose salt is `salt`.
    fn block_cipher(&self, salt: &[u8]) -> Result<LessSafeKey, CipherError> {
        let mut ctx = hmac::Context::with_key(&self.mac);
        ctx.update(BLOCK_LABEL);
        ctx.update(salt);
        let derived = ctx.sign();
        let key = UnboundKey::new(&AES_256_GCM, derived.as_ref())
            .map_err(|_| CipherError::Refused("take a derived key"))?;
        Ok(LessSafeKey::new(key))
    }

    /// Appends to `out` the encryption of `plain` placed at `place` with `context`
    /// (see the crate docs): `salt ‖ ciphertext ‖ tag`. `salt` must be fresh random
    /// bytes for every call. On failure `out` is left as it was.
    pub fn encrypt(
        &self,
        place: &Place,
        context: &[u8],
        salt: [u8; SALT_SIZE],
        plain: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CipherError> {
        let cipher = self.block_cipher(&salt)?;
        let before = out.len();
        out.reserve(plain.len() + OVERHEAD);
        out.extend_from_slice(&salt);
        let start = out.len();
        out.extend_from_slice(plain);
        let aad = aad(place, context);
        // A fixed nonce: this derived key encrypts this one message (crate docs).
        let nonce = Nonce::assume_unique_for_key([0u8; 12]);
        match cipher.seal_in_place_separate_tag(nonce, Aad::from(&aad), &mut out[start..]) {
            Ok(tag) => {
                out.extend_from_slice(tag.as_ref());
                Ok(())
            }
            Err(_) => {
                out.truncate(before);
                Err(CipherError::Refused("encrypt a block"))
            }
        }
    }

    /// Decrypts `stored` (`salt ‖ ciphertext ‖ tag`, as [`JournalKey::encrypt`] made
    /// it) and appends the plaintext to `out`, checking that it was made with this key,
    /// at `place`, with `context`. On failure `out` is left as it was.
    pub fn decrypt(
        &self,
        place: &Place,
        context: &[u8],
        stored: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), CipherError> {
        if stored.len() < OVERHEAD {
            return Err(CipherError::Truncated { len: stored.len() });
        }
        let (salt, sealed) = stored.split_at(SALT_SIZE);
        let start = out.len();
        out.extend_from_slice(sealed);
        let aad = aad(place, context);
        let cipher = match self.block_cipher(salt) {
            Ok(c) => c,
            Err(e) => {
                out.truncate(start);
                return Err(e);
            }
        };
        let nonce = Nonce::assume_unique_for_key([0u8; 12]);
        let opened = cipher
            .open_in_place(nonce, Aad::from(&aad), &mut out[start..])
            .map(|plain| plain.len());
        match opened {
            Ok(len) => {
                out.truncate(start + len);
                Ok(())
            }
            Err(_) => {
                out.truncate(start);
                Err(CipherError::Authentication)
            }
        }
    }
}

/// The authenticated data of a block: a label, the place, then the context.
fn aad(place: &Place, context: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 32 + context.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(&place.journal);
    aad.extend_from_slice(&place.segment.to_le_bytes());
    aad.extend_from_slice(&place.offset.to_le_bytes());
    aad.extend_from_slice(context);
    aad
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use proptest::prelude::*;

    const PLACE: Place = Place {
        journal: [3; 16],
        segment: 17,
        offset: 128,
    };

    fn key() -> JournalKey {
        JournalKey::from_bytes(core::array::from_fn(|i| i as u8))
    }

    /// Golden bytes, cross-checked with Python's `hmac`, `hashlib` and
    /// `cryptography.hazmat.primitives.ciphers.aead.AESGCM` (the derivation and the
    /// AAD as the crate docs give them).
    #[test]
    fn golden_encryption_and_key_id() {
        let key = key();
        assert_eq!(key.id().to_string(), KEY_ID_HEX);
        let mut out = Vec::new();
        key.encrypt(&PLACE, b"ctx", [0xAB; 16], b"hello, journal", &mut out)
            .unwrap();
        assert_eq!(hex::encode(&out), GOLDEN_HEX);
        assert_eq!(out.len(), 14 + OVERHEAD);
    }

    const KEY_ID_HEX: &str = "f484999a9b3cf1c7";
    const GOLDEN_HEX: &str = "ababababababababababababababababb6013189f4eb88eacfd0f9c42f6b4e7c8f5627d16b0d80b4547096d39301";

    #[test]
    fn key_text_round_trips_and_bad_text_is_named() {
        let key = key();
        let again = JournalKey::from_hex("k", &format!("  {}\n", key.to_hex().as_str())).unwrap();
        assert_eq!(again.id(), key.id());
        let err = JournalKey::from_hex("key file /x", "abc").unwrap_err();
        assert!(err.to_string().contains("key file /x"), "{err}");
        assert!(JournalKey::from_hex("k", &"g".repeat(64)).is_err());
        assert!(!format!("{key:?}").contains(&key.to_hex()[..8]));
        let id = key.id();
        assert_eq!(KeyId::from_words(id.to_words()), id);
        assert_eq!(KeyId::from_hex(&id.to_string()), Some(id));
    }

    #[test]
    fn wrong_key_place_context_or_truncation_fail() {
        let key = key();
        let mut stored = Vec::new();
        key.encrypt(&PLACE, b"ctx", [1; 16], b"some records", &mut stored)
            .unwrap();
        let mut out = Vec::new();
        key.decrypt(&PLACE, b"ctx", &stored, &mut out).unwrap();
        assert_eq!(out, b"some records");
        let other = JournalKey::from_bytes([9; 32]);
        assert_ne!(other.id(), key.id());
        let fails = |k: &JournalKey, p: &Place, c: &[u8], s: &[u8]| {
            let mut out = vec![1, 2, 3];
            let r = k.decrypt(p, c, s, &mut out);
            assert_eq!(out, [1, 2, 3], "no plaintext is left behind");
            r.unwrap_err()
        };
        assert_eq!(
            fails(&other, &PLACE, b"ctx", &stored),
            CipherError::Authentication
        );
        for place in [
            Place {
                journal: [4; 16],
                ..PLACE
            },
            Place {
                segment: 18,
                ..PLACE
            },
            Place {
                offset: 129,
                ..PLACE
            },
        ] {
            assert_eq!(
                fails(&key, &place, b"ctx", &stored),
                CipherError::Authentication
            );
        }
        assert_eq!(
            fails(&key, &PLACE, b"ctX", &stored),
            CipherError::Authentication
        );
        assert_eq!(
            fails(&key, &PLACE, b"ctx", &stored[..OVERHEAD - 1]),
            CipherError::Truncated { len: OVERHEAD - 1 }
        );
    }

    #[test]
    fn salts_make_distinct_ciphertexts() {
        let key = key();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        key.encrypt(&PLACE, b"", [1; 16], &[0u8; 64], &mut a)
            .unwrap();
        key.encrypt(&PLACE, b"", [2; 16], &[0u8; 64], &mut b)
            .unwrap();
        assert_ne!(a[SALT_SIZE..], b[SALT_SIZE..]);
    }

    proptest! {
        /// Round trip, and every single-bit change of the stored bytes is refused.
        #[test]
        fn round_trip_and_every_flip_fails(
            plain in proptest::collection::vec(any::<u8>(), 0..300),
            salt in any::<[u8; 16]>(),
            bit in any::<proptest::sample::Index>(),
        ) {
            let key = key();
            let mut stored = Vec::new();
            key.encrypt(&PLACE, b"h", salt, &plain, &mut stored).unwrap();
            let mut out = vec![5];
            key.decrypt(&PLACE, b"h", &stored, &mut out).unwrap();
            prop_assert_eq!(&out[1..], &plain[..]);
            let i = bit.index(stored.len() * 8);
            stored[i / 8] ^= 1 << (i % 8);
            prop_assert!(key.decrypt(&PLACE, b"h", &stored, &mut out).is_err());
        }
    }
}
