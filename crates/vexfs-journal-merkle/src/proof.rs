//! Inclusion proofs of one journal record, as a JSON document that can be checked
//! offline: the record's bytes, the hashes of its path, and the signed head whose root
//! the path leads to.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use vexfs_journal_format::record::RecordView;

use crate::error::ProofError;
use crate::head::{HeadDocument, SignedTreeHead, hex_array};
use crate::tree::{Hash, leaf_hash, verify_inclusion};

/// The `format` field of a proof document.
pub const PROOF_DOCUMENT_FORMAT: &str = "vexfs-journal inclusion proof";

/// That one record is leaf `leaf_index` of the tree a signed head commits to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InclusionProof {
    /// The record's sequence.
    pub seq: u64,
    /// Its position among the journal's records (leaf index).
    pub leaf_index: u64,
    /// The record's bytes as stored (the leaf's data).
    pub record: Vec<u8>,
    /// The path's hashes, nearest the leaf first.
    pub path: Vec<Hash>,
    /// The signed head of the tree (its size is the proof's tree size).
    pub head: SignedTreeHead,
}

impl InclusionProof {
    /// Checks the proof with the signer's public key: the head's signature, that the
    /// record is a valid record with the proof's sequence, and that the path leads
    /// from the record to the head's root.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), ProofError> {
        self.head.verify(key)?;
        let view =
            RecordView::parse(&self.record).map_err(|e| ProofError::Record(e.to_string()))?;
        if view.record_len() != self.record.len() {
            return Err(ProofError::Record(format!(
                "{} bytes follow the record",
                self.record.len() - view.record_len()
            )));
        }
        // The journal's sequence is the extension's, not the kernel header's.
        let seq = view.raw_ext.userspace_sequence.get();
        if seq != self.seq {
            return Err(ProofError::Record(format!(
                "the record has sequence {seq}, the proof says {}",
                self.seq
            )));
        }
        verify_inclusion(
            &leaf_hash(&self.record),
            self.leaf_index,
            self.head.head.tree_size,
            &self.path,
            &self.head.head.root,
        )
    }

    /// The JSON document `vexjournal prove` prints.
    pub fn to_document(&self) -> ProofDocument {
        ProofDocument {
            format: PROOF_DOCUMENT_FORMAT.into(),
            version: 1,
            seq: self.seq,
            leaf_index: self.leaf_index,
            record: hex::encode(&self.record),
            path: self.path.iter().map(hex::encode).collect(),
            head: self.head.to_document(None),
        }
    }

    /// Reads a proof document (nothing is verified here: see [`Self::verify`]).
    pub fn from_json(text: &str) -> Result<InclusionProof, ProofError> {
        let json = |reason: String| {
            ProofError::Head(crate::HeadError::Json {
                what: "the proof document",
                reason,
            })
        };
        let doc: ProofDocument = serde_json::from_str(text).map_err(|e| json(e.to_string()))?;
        if doc.format != PROOF_DOCUMENT_FORMAT || doc.version != 1 {
            return Err(json(format!(
                "format {:?} version {}, expected {PROOF_DOCUMENT_FORMAT:?} version 1",
                doc.format, doc.version
            )));
        }
        Ok(InclusionProof {
            seq: doc.seq,
            leaf_index: doc.leaf_index,
            record: hex::decode(doc.record.trim()).map_err(|e| {
                ProofError::Head(crate::HeadError::Hex {
                    what: "the proof's record",
                    reason: e.to_string(),
                })
            })?,
            path: doc
                .path
                .iter()
                .map(|h| hex_array("a hash of the proof's path", h))
                .collect::<Result<_, _>>()?,
            head: SignedTreeHead::from_document(&doc.head)?,
        })
    }
}

/// An inclusion proof as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofDocument {
    /// Always [`PROOF_DOCUMENT_FORMAT`].
    pub format: String,
    /// Always 1.
    pub version: u32,
    /// The record's sequence.
    pub seq: u64,
    /// The leaf index.
    pub leaf_index: u64,
    /// The record's bytes, hex.
    pub record: String,
    /// The path, hex hashes, nearest the leaf first.
    pub path: Vec<String>,
    /// The signed head.
    pub head: HeadDocument,
}

/// The `format` field of a consistency proof document.
pub const CONSISTENCY_DOCUMENT_FORMAT: &str = "vexfs-journal consistency proof";

/// That the tree an older signed head commits to is a prefix of the tree a newer one
/// commits to: the log was only appended to in between.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The older head.
    pub old: SignedTreeHead,
    /// The newer head.
    pub new: SignedTreeHead,
    /// The proof's hashes (RFC 6962 `PROOF`).
    pub path: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks the proof with the signer's public key: both signatures, one journal,
    /// one first sequence, and the hashes leading to both roots.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), ProofError> {
        self.old.verify(key)?;
        self.new.verify(key)?;
        let (old, new) = (&self.old.head, &self.new.head);
        if old.journal_id != new.journal_id {
            return Err(ProofError::Heads(format!(
                "the heads are of two journals ({} and {})",
                old.journal_id, new.journal_id
            )));
        }
        if old.tree_size > 0 && old.first_seq != new.first_seq {
            return Err(ProofError::Heads(format!(
                "the older tree starts at sequence {}, the newer at {}: records were \
                 removed from the start in between",
                old.first_seq, new.first_seq
            )));
        }
        crate::tree::verify_consistency(
            old.tree_size,
            new.tree_size,
            &self.path,
            &old.root,
            &new.root,
        )
    }

    /// The JSON document `vexjournal prove --since` prints.
    pub fn to_document(&self) -> ConsistencyDocument {
        ConsistencyDocument {
            format: CONSISTENCY_DOCUMENT_FORMAT.into(),
            version: 1,
            old: self.old.to_document(None),
            new: self.new.to_document(None),
            path: self.path.iter().map(hex::encode).collect(),
        }
    }

    /// Reads a consistency proof document (nothing is verified here).
    pub fn from_json(text: &str) -> Result<ConsistencyProof, ProofError> {
        let json = |reason: String| {
            ProofError::Head(crate::HeadError::Json {
                what: "the consistency proof document",
                reason,
            })
        };
        let doc: ConsistencyDocument =
            serde_json::from_str(text).map_err(|e| json(e.to_string()))?;
        if doc.format != CONSISTENCY_DOCUMENT_FORMAT || doc.version != 1 {
            return Err(json(format!(
                "format {:?} version {}, expected {CONSISTENCY_DOCUMENT_FORMAT:?} version 1",
                doc.format, doc.version
            )));
        }
        Ok(ConsistencyProof {
            old: SignedTreeHead::from_document(&doc.old)?,
            new: SignedTreeHead::from_document(&doc.new)?,
            path: doc
                .path
                .iter()
                .map(|h| hex_array("a hash of the consistency proof", h))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// A consistency proof as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyDocument {
    /// Always [`CONSISTENCY_DOCUMENT_FORMAT`].
    pub format: String,
    /// Always 1.
    pub version: u32,
    /// The older head.
    pub old: HeadDocument,
    /// The newer head.
    pub new: HeadDocument,
    /// The proof's hashes, hex.
    pub path: Vec<String>,
}

/// The `format` field of a JSON document, to tell the kinds apart.
pub fn document_format(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Probe {
        format: String,
    }
    serde_json::from_str::<Probe>(text).ok().map(|p| p.format)
}
