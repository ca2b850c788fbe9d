//! Errors of proofs, tree heads and keys.

/// A proof that does not hold, or cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf {index} is not in a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// A proof with the wrong number of hashes for its tree sizes.
    #[error("the proof has {got} hashes where its tree sizes need {expected}")]
    PathLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the sizes need.
        expected: usize,
    },
    /// The proof leads to another root than the one it is checked against.
    #[error("the proof does not lead to the signed root: the event or the proof was altered")]
    RootMismatch,
    /// A consistency proof from a larger tree to a smaller one.
    #[error("a tree of {old} leaves cannot be a prefix of one of {new}")]
    Shrunk {
        /// The old size.
        old: u64,
        /// The new size.
        new: u64,
    },
    /// The leaves ran out before a proof's ranges were complete.
    #[error("only {leaves} leaves where the proof needs {needed}")]
    TooFewLeaves {
        /// Leaves seen.
        leaves: u64,
        /// Leaves needed.
        needed: u64,
    },
    /// The proven record is not a valid record, or not the one the proof names.
    #[error("the proven record: {0}")]
    Record(String),
    /// The two heads of a consistency proof cannot both be of one growing log.
    #[error("the two heads: {0}")]
    Heads(String),
    /// Two heads of one size sign different roots: two histories (a fork).
    #[error("the two heads sign different trees of the same size: the log was forked or rewritten")]
    Fork,
    /// The proof's head is not signed by the given key.
    #[error(transparent)]
    Head(#[from] HeadError),
}

/// A tree head, a key or a document holding them that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeadError {
    /// Bytes of the wrong length for what they should hold.
    #[error("{what} is {got} bytes, not {expected}")]
    Length {
        /// What was being read.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length it must have.
        expected: usize,
    },
    /// A signed tree head without this format's magic.
    #[error("not a vexfs-journal tree head (magic {found})")]
    Magic {
        /// The first eight bytes, in hex.
        found: String,
    },
    /// The signature does not verify with the given public key.
    #[error(
        "the signature does not verify with public key {key}: signed by another key, or altered"
    )]
    BadSignature {
        /// The key checked, in hex.
        key: String,
    },
    /// Not hexadecimal.
    #[error("{what} is not hexadecimal: {reason}")]
    Hex {
        /// What was being read.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A JSON document that does not have the expected shape.
    #[error("{what}: {reason}")]
    Json {
        /// What was being read.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A public key that is not a point of the curve.
    #[error("not an ed25519 public key: {0}")]
    PublicKey(String),
    /// The system's random source failed (generating a key).
    #[error("no randomness for a new key: {0}")]
    Random(String),
}
