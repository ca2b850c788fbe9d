//! The verifiable log of the VexFS semantic journal, as bytes: no journal, no I/O.
//!
//! - [`tree`]: the Merkle tree of RFC 6962 over a journal's records — leaf and node
//!   hashes, a streaming [`Frontier`], inclusion and consistency proofs and their
//!   checks (the algorithms of RFC 9162 §2.1.3–2.1.4);
//! - [`head`]: ed25519-signed tree heads, 144 bytes in a journal or a JSON document
//!   outside it, and the key files' text;
//! - [`proof`]: an inclusion proof of one record, and a consistency proof that one
//!   signed head extends another, both as JSON that checks offline.
//!
//! What the tree covers, where heads are written and how a journal is verified against
//! one is `vexfs-journal-seal`'s job and `docs/seal.md`'s subject.
//!
//! ```
//! use vexfs_journal_merkle::{Frontier, leaf_hash, inclusion_ranges, RangeRoots, verify_inclusion};
//!
//! let leaves: Vec<_> = (0..5u8).map(|i| leaf_hash(&[i])).collect();
//! let mut tree = Frontier::new();
//! let mut path = RangeRoots::new(&inclusion_ranges(3, 5));
//! for l in &leaves {
//!     tree.push(*l);
//!     path.push(*l);
//! }
//! let path = path.finish().unwrap();
//! assert!(verify_inclusion(&leaves[3], 3, 5, &path, &tree.root()).is_ok());
//! ```

pub mod error;
pub mod head;
pub mod proof;
pub mod tree;

pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use error::{HeadError, ProofError};
pub use head::{
    HEAD_MAGIC, HeadDocument, SIGNED_TREE_HEAD_SIZE, SignedTreeHead, TREE_HEAD_SIZE, TreeHead,
    generate_key, signing_key_from_hex, verifying_key_from_hex,
};
pub use proof::{
    ConsistencyDocument, ConsistencyProof, InclusionProof, ProofDocument, document_format,
};
pub use tree::{
    Frontier, Hash, RangeRoots, consistency_ranges, empty_root, inclusion_ranges, leaf_hash,
    node_hash, verify_consistency, verify_inclusion,
};
