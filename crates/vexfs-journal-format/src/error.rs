//! Typed errors of every encoder and decoder. Each names the structure or field
//! concerned and, where it applies, the byte offset in the buffer being decoded.

use alloc::string::{String, ToString};

/// A name that does not parse (event type, category, flag, priority, compression).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {input:?}")]
#[non_exhaustive]
pub struct ParseNameError {
    /// What was being parsed.
    pub what: &'static str,
    /// The text that did not parse.
    pub input: String,
}

impl ParseNameError {
    pub(crate) fn new(what: &'static str, input: &str) -> Self {
        ParseNameError {
            what,
            input: input.to_string(),
        }
    }
}

/// Why bytes could not be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// The buffer ends before the structure does.
    #[error("truncated {what} at byte {offset}: need {needed} bytes, have {available}")]
    Truncated {
        /// Structure being read.
        what: &'static str,
        /// Where it starts in the buffer.
        offset: usize,
        /// Bytes it needs.
        needed: usize,
        /// Bytes left in the buffer.
        available: usize,
    },
    /// A magic number is not the expected one.
    #[error("bad magic in {what}: expected 0x{expected:08x}, found 0x{found:08x}")]
    BadMagic {
        /// Structure being read.
        what: &'static str,
        /// The magic this format uses.
        expected: u32,
        /// The magic found.
        found: u32,
    },
    /// A version this code does not read.
    #[error("unsupported {what} version {found} (this build reads {supported})")]
    UnsupportedVersion {
        /// Structure being read.
        what: &'static str,
        /// Version found (`major.minor` packed as `major * 1000 + minor` for files).
        found: u32,
        /// Version supported.
        supported: u32,
    },
    /// A size field disagrees with the sizes it is made of or with the buffer.
    #[error("{field} is {declared} but the structure needs {expected}")]
    SizeMismatch {
        /// The size field.
        field: &'static str,
        /// Value in the field.
        declared: u64,
        /// Value implied by the other fields.
        expected: u64,
    },
    /// A section is larger than the format allows.
    #[error("{field} of {size} exceeds the limit of {limit}")]
    OverLimit {
        /// The section or count.
        field: &'static str,
        /// Its size or count.
        size: u64,
        /// The largest allowed.
        limit: u64,
    },
    /// A string does not fit its fixed `char[N]` field (N-1 bytes and a NUL).
    #[error("{field} is {len} bytes but its char[{capacity}] field holds at most {}", capacity.saturating_sub(1))]
    StringTooLong {
        /// The field.
        field: &'static str,
        /// The string's length.
        len: usize,
        /// N in `char[N]`.
        capacity: usize,
    },
    /// A string holds a NUL byte, which a `char[N]` field would cut short.
    #[error("{field} contains a NUL byte at {position}")]
    ContainsNul {
        /// The field.
        field: &'static str,
        /// Index of the NUL byte in the string.
        position: usize,
    },
    /// A `char[N]` field read from bytes has no terminating NUL.
    #[error("{field} is not NUL-terminated")]
    Unterminated {
        /// The field.
        field: &'static str,
    },
    /// A `char[N]` field has non-zero bytes after its terminating NUL.
    #[error("{field} has non-zero bytes after its terminating NUL")]
    NonZeroPadding {
        /// The field.
        field: &'static str,
    },
    /// A stored checksum does not match the data.
    #[error("{what} checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}")]
    ChecksumMismatch {
        /// Structure checked.
        what: &'static str,
        /// Checksum in the bytes.
        stored: u32,
        /// Checksum of the bytes.
        computed: u32,
    },
    /// An unknown compression code.
    #[error("unknown compression code {0}")]
    UnknownCompression(u32),
    /// A compression this build cannot read or write.
    #[error("{0} compression is not supported by this build")]
    UnsupportedCompression(&'static str),
    /// Compressed data that does not decompress to the declared size.
    #[error("corrupt {codec} data: {reason}")]
    Decompress {
        /// The codec.
        codec: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// Bytes that violate the encoding of a variable section.
    #[error("malformed {what} at byte {offset}: {reason}")]
    Malformed {
        /// Section being decoded.
        what: &'static str,
        /// Offset of the problem in the buffer.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Result alias of this crate.
pub type Result<T, E = FormatError> = core::result::Result<T, E>;
