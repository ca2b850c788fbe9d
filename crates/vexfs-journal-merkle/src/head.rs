//! Signed tree heads: what a journal's Merkle tree looked like at one size, signed with
//! ed25519, as 144 bytes (inside a journal) or a JSON document (exported).
//!
//! ```text
//! offset size  field
//!      0    8  magic "VXJSTH01"
//!      8   16  journal id (the UUID of journal.json, big-endian as printed)
//!     24    8  tree size: leaves covered, u64 little-endian
//!     32    8  first sequence: the sequence of leaf 0, u64 LE
//!     40    8  signing time, ns since the Unix epoch, u64 LE
//!     48   32  root (SHA-256, RFC 6962)
//!     80   64  ed25519 signature of bytes 0..80
//! ```

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::HeadError;
use crate::tree::Hash;

/// The first eight bytes of a tree head.
pub const HEAD_MAGIC: [u8; 8] = *b"VXJSTH01";
/// Bytes of an unsigned tree head (what is signed).
pub const TREE_HEAD_SIZE: usize = 80;
/// Bytes of a signed tree head.
pub const SIGNED_TREE_HEAD_SIZE: usize = TREE_HEAD_SIZE + 64;
/// The `format` field of an exported head.
pub const HEAD_DOCUMENT_FORMAT: &str = "vexfs-journal signed tree head";

/// The state of a journal's tree at one size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TreeHead {
    /// The journal the tree is of.
    pub journal_id: Uuid,
    /// Leaves covered: the journal's first `tree_size` records.
    pub tree_size: u64,
    /// The sequence of leaf 0 (0 for an empty tree).
    pub first_seq: u64,
    /// When it was signed, ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// The RFC 6962 root of those leaves.
    pub root: Hash,
}

impl TreeHead {
    /// The 80 signed bytes.
    pub fn to_bytes(&self) -> [u8; TREE_HEAD_SIZE] {
        let mut b = [0u8; TREE_HEAD_SIZE];
        b[0..8].copy_from_slice(&HEAD_MAGIC);
        b[8..24].copy_from_slice(self.journal_id.as_bytes());
        b[24..32].copy_from_slice(&self.tree_size.to_le_bytes());
        b[32..40].copy_from_slice(&self.first_seq.to_le_bytes());
        b[40..48].copy_from_slice(&self.timestamp_ns.to_le_bytes());
        b[48..80].copy_from_slice(&self.root);
        b
    }

    /// Parses the 80 signed bytes.
    pub fn from_bytes(b: &[u8]) -> Result<TreeHead, HeadError> {
        let b: &[u8; TREE_HEAD_SIZE] = b.try_into().map_err(|_| HeadError::Length {
            what: "a tree head",
            got: b.len(),
            expected: TREE_HEAD_SIZE,
        })?;
        if b[0..8] != HEAD_MAGIC {
            return Err(HeadError::Magic {
                found: hex::encode(&b[0..8]),
            });
        }
        let u64_at = |at: usize| {
            let mut x = [0u8; 8];
            x.copy_from_slice(&b[at..at + 8]);
            u64::from_le_bytes(x)
        };
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[8..24]);
        let mut root = [0u8; 32];
        root.copy_from_slice(&b[48..80]);
        Ok(TreeHead {
            journal_id: Uuid::from_bytes(id),
            tree_size: u64_at(24),
            first_seq: u64_at(32),
            timestamp_ns: u64_at(40),
            root,
        })
    }

    /// Signs the head.
    pub fn sign(&self, key: &SigningKey) -> SignedTreeHead {
        SignedTreeHead {
            head: *self,
            signature: key.sign(&self.to_bytes()).to_bytes(),
        }
    }
}

/// A tree head with its ed25519 signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignedTreeHead {
    /// What is signed.
    pub head: TreeHead,
    /// The signature of [`TreeHead::to_bytes`].
    pub signature: [u8; 64],
}

impl SignedTreeHead {
    /// The 144 bytes: the head, then the signature.
    pub fn to_bytes(&self) -> [u8; SIGNED_TREE_HEAD_SIZE] {
        let mut b = [0u8; SIGNED_TREE_HEAD_SIZE];
        b[..TREE_HEAD_SIZE].copy_from_slice(&self.head.to_bytes());
        b[TREE_HEAD_SIZE..].copy_from_slice(&self.signature);
        b
    }

    /// Parses the 144 bytes (the signature is not checked: see [`Self::verify`]).
    pub fn from_bytes(b: &[u8]) -> Result<SignedTreeHead, HeadError> {
        if b.len() != SIGNED_TREE_HEAD_SIZE {
            return Err(HeadError::Length {
                what: "a signed tree head",
                got: b.len(),
                expected: SIGNED_TREE_HEAD_SIZE,
            });
        }
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&b[TREE_HEAD_SIZE..]);
        Ok(SignedTreeHead {
            head: TreeHead::from_bytes(&b[..TREE_HEAD_SIZE])?,
            signature,
        })
    }

    /// Checks the signature with `key` (strict verification: no malleable signatures).
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), HeadError> {
        let sig = ed25519_dalek::Signature::from_bytes(&self.signature);
        key.verify_strict(&self.head.to_bytes(), &sig)
            .map_err(|_| HeadError::BadSignature {
                key: hex::encode(key.as_bytes()),
            })
    }

    /// The exported JSON document (`vexjournal seal head`).
    pub fn to_document(&self, key: Option<&VerifyingKey>) -> HeadDocument {
        HeadDocument {
            format: HEAD_DOCUMENT_FORMAT.into(),
            version: 1,
            journal_id: self.head.journal_id,
            tree_size: self.head.tree_size,
            first_seq: self.head.first_seq,
            timestamp_ns: self.head.timestamp_ns,
            root: hex::encode(self.head.root),
            signature: hex::encode(self.signature),
            public_key: key.map(|k| hex::encode(k.as_bytes())),
        }
    }

    /// Reads an exported JSON document (the signature is not checked here).
    pub fn from_document(doc: &HeadDocument) -> Result<SignedTreeHead, HeadError> {
        if doc.format != HEAD_DOCUMENT_FORMAT || doc.version != 1 {
            return Err(HeadError::Json {
                what: "the tree head document",
                reason: format!(
                    "format {:?} version {}, expected {HEAD_DOCUMENT_FORMAT:?} version 1",
                    doc.format, doc.version
                ),
            });
        }
        Ok(SignedTreeHead {
            head: TreeHead {
                journal_id: doc.journal_id,
                tree_size: doc.tree_size,
                first_seq: doc.first_seq,
                timestamp_ns: doc.timestamp_ns,
                root: hex_array("the head's root", &doc.root)?,
            },
            signature: hex_array("the head's signature", &doc.signature)?,
        })
    }

    /// Parses an exported JSON document.
    pub fn from_json(text: &str) -> Result<SignedTreeHead, HeadError> {
        let doc: HeadDocument = serde_json::from_str(text).map_err(|e| HeadError::Json {
            what: "the tree head document",
            reason: e.to_string(),
        })?;
        Self::from_document(&doc)
    }
}

/// A signed tree head as exported JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadDocument {
    /// Always [`HEAD_DOCUMENT_FORMAT`].
    pub format: String,
    /// Always 1.
    pub version: u32,
    /// The journal.
    pub journal_id: Uuid,
    /// Leaves covered.
    pub tree_size: u64,
    /// Sequence of leaf 0.
    pub first_seq: u64,
    /// Signing time, ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// Root, hex.
    pub root: String,
    /// Signature, hex.
    pub signature: String,
    /// The signer's public key, hex: a convenience only — verification uses the key
    /// the verifier trusts, never this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
}

/// `N` bytes from hexadecimal text.
pub fn hex_array<const N: usize>(what: &'static str, text: &str) -> Result<[u8; N], HeadError> {
    let bytes = hex::decode(text.trim()).map_err(|e| HeadError::Hex {
        what,
        reason: e.to_string(),
    })?;
    bytes.as_slice().try_into().map_err(|_| HeadError::Length {
        what,
        got: bytes.len(),
        expected: N,
    })
}

/// A new signing key from the system's random source.
pub fn generate_key() -> Result<SigningKey, HeadError> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed).map_err(|e| HeadError::Random(e.to_string()))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A signing key from its 32-byte seed in hex (the key file's text).
pub fn signing_key_from_hex(text: &str) -> Result<SigningKey, HeadError> {
    Ok(SigningKey::from_bytes(&hex_array("the signing key", text)?))
}

/// A public key from its 32 bytes in hex (the public key file's text).
pub fn verifying_key_from_hex(text: &str) -> Result<VerifyingKey, HeadError> {
    VerifyingKey::from_bytes(&hex_array("the public key", text)?)
        .map_err(|e| HeadError::PublicKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn fixed() -> (SigningKey, TreeHead) {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let head = TreeHead {
            journal_id: Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
            tree_size: 0x0102_0304_0506_0708,
            first_seq: 9,
            timestamp_ns: 1_700_000_000_000_000_000,
            root: [0xab; 32],
        };
        (key, head)
    }

    #[test]
    fn layout_is_pinned() {
        let (key, head) = fixed();
        let b = head.to_bytes();
        assert_eq!(b.len(), 80);
        assert_eq!(&b[0..8], b"VXJSTH01");
        assert_eq!(hex::encode(&b[8..24]), "00112233445566778899aabbccddeeff");
        assert_eq!(hex::encode(&b[24..32]), "0807060504030201");
        assert_eq!(hex::encode(&b[32..40]), "0900000000000000");
        assert_eq!(&b[40..48], &1_700_000_000_000_000_000u64.to_le_bytes());
        assert_eq!(&b[48..80], &[0xab; 32]);
        let signed = head.sign(&key);
        let sb = signed.to_bytes();
        assert_eq!(sb.len(), 144);
        assert_eq!(&sb[..80], &b);
        // ed25519 signatures are deterministic: this one is golden.
        assert_eq!(
            hex::encode(signed.signature),
            GOLDEN_SIGNATURE,
            "the signed bytes or the signature scheme changed"
        );
        assert_eq!(SignedTreeHead::from_bytes(&sb).unwrap(), signed);
    }

    /// Also computed by Python's `cryptography` (OpenSSL's ed25519) from the same seed
    /// and bytes: an independent check of the signed layout.
    const GOLDEN_SIGNATURE: &str = "e2af3e2944c313014bb753e34f802e04bc578f5b63f14e4397464e5321b145a5434ad46c1cbc57d30cb2d3d159240121a8dc926f10c5c62070b2aa69f94ecf0c";

    #[test]
    fn signatures_bind_every_field_and_the_key() {
        let (key, head) = fixed();
        let signed = head.sign(&key);
        signed.verify(&key.verifying_key()).unwrap();
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert!(matches!(
            signed.verify(&other.verifying_key()),
            Err(HeadError::BadSignature { .. })
        ));
        let b = signed.to_bytes();
        for i in 8..SIGNED_TREE_HEAD_SIZE {
            let mut c = b;
            c[i] ^= 0x01;
            let parsed = SignedTreeHead::from_bytes(&c).unwrap();
            assert!(parsed.verify(&key.verifying_key()).is_err(), "byte {i}");
        }
        for i in 0..8 {
            let mut c = b;
            c[i] ^= 0x01;
            assert!(matches!(
                SignedTreeHead::from_bytes(&c),
                Err(HeadError::Magic { .. })
            ));
        }
        assert!(SignedTreeHead::from_bytes(&b[..143]).is_err());
    }

    #[test]
    fn documents_round_trip_and_reject_bad_fields() {
        let (key, head) = fixed();
        let signed = head.sign(&key);
        let text = serde_json::to_string(&signed.to_document(Some(&key.verifying_key()))).unwrap();
        assert_eq!(SignedTreeHead::from_json(&text).unwrap(), signed);
        let bad = text.replace("\"version\":1", "\"version\":2");
        assert!(SignedTreeHead::from_json(&bad).is_err());
        let short = text.replace(&hex::encode(signed.head.root), "abcd");
        assert!(matches!(
            SignedTreeHead::from_json(&short),
            Err(HeadError::Length { .. })
        ));
        assert!(SignedTreeHead::from_json("{").is_err());
        assert!(SignedTreeHead::from_json(&text.replace("}", ",\"x\":1}")).is_err());
    }

    #[test]
    fn keys_round_trip_through_hex() {
        let key = generate_key().unwrap();
        let again = signing_key_from_hex(&hex::encode(key.to_bytes())).unwrap();
        assert_eq!(again.to_bytes(), key.to_bytes());
        let public = verifying_key_from_hex(&hex::encode(key.verifying_key().as_bytes())).unwrap();
        assert_eq!(public, key.verifying_key());
        assert!(signing_key_from_hex("zz").is_err());
        assert!(verifying_key_from_hex("00").is_err());
        assert_ne!(generate_key().unwrap().to_bytes(), key.to_bytes());
    }
}
