//! Typed errors of the codec. Each names what failed and, where it applies, where:
//! the field, the byte offset in an image, the block.

use vexfs_journal_format::FormatError;
use vexfs_journal_format::consts::{
    AGENT_ID_CAPACITY, MAX_CAUSALITY_LINKS, MAX_METADATA_SIZE, MAX_PAYLOAD_SIZE, PATH_MAX,
};

/// Why an event could not be converted to or from the kernel's binary event.
///
/// Converting *to* the kernel format fails only for what the kernel layout cannot
/// carry; nothing is ever truncated. Converting *from* bytes fails for anything that is
/// not exactly one well-formed, checksum-valid kernel event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConversionError {
    /// The path does not fit the kernel's `char[PATH_MAX]` field.
    #[error(
        "path is {len} bytes but the kernel's path field (char[{PATH_MAX}]) holds at most {}",
        PATH_MAX - 1
    )]
    PathTooLong {
        /// Length of the path.
        len: usize,
    },
    /// The agent id does not fit the kernel's `char[64]` field.
    #[error(
        "agent id is {len} bytes but the kernel's agent_id field (char[{AGENT_ID_CAPACITY}]) holds at most {}",
        AGENT_ID_CAPACITY - 1
    )]
    AgentIdTooLong {
        /// Length of the agent id.
        len: usize,
    },
    /// Another string does not fit its fixed `char[N]` kernel field.
    #[error("{field} is {len} bytes but its kernel field char[{capacity}] holds at most {}", capacity.saturating_sub(1))]
    StringTooLong {
        /// The field.
        field: &'static str,
        /// Length of the string.
        len: usize,
        /// N in `char[N]`.
        capacity: usize,
    },
    /// A string holds a NUL byte, which a kernel `char[N]` field would cut short.
    #[error(
        "{field} contains a NUL byte at index {position}; a kernel char[] field would cut it short"
    )]
    ContainsNul {
        /// The field.
        field: &'static str,
        /// Index of the NUL byte.
        position: usize,
    },
    /// The payload is larger than the kernel accepts.
    #[error("payload is {size} bytes but the kernel accepts at most {MAX_PAYLOAD_SIZE}")]
    PayloadTooLarge {
        /// Payload size.
        size: usize,
    },
    /// The metadata is larger than the kernel accepts.
    #[error("metadata is {size} bytes but the kernel accepts at most {MAX_METADATA_SIZE}")]
    MetadataTooLarge {
        /// Metadata size.
        size: usize,
    },
    /// More causality links than the kernel accepts.
    #[error(
        "event has {count} causality links but the kernel accepts at most {MAX_CAUSALITY_LINKS}"
    )]
    TooManyLinks {
        /// Number of links.
        count: usize,
    },
    /// The bytes are not a well-formed kernel event (truncated, bad size, checksum,
    /// version, unterminated string, …).
    #[error("not a valid kernel event: {0}")]
    Decode(#[source] FormatError),
    /// Bytes follow the kernel event (`convert_from_kernel_format` takes exactly one).
    #[error("{extra} bytes follow the {size}-byte kernel event")]
    TrailingBytes {
        /// Size of the event (its `event_size`).
        size: usize,
        /// Bytes after it.
        extra: usize,
    },
}

impl ConversionError {
    /// The specific error for a format-crate encoding error (fields named as the format
    /// crate names them: `context.path`, `context.agent_id`, …).
    pub fn from_encode(e: FormatError) -> ConversionError {
        match e {
            FormatError::StringTooLong {
                field: "context.path",
                len,
                ..
            } => ConversionError::PathTooLong { len },
            FormatError::StringTooLong {
                field: "context.agent_id",
                len,
                ..
            } => ConversionError::AgentIdTooLong { len },
            FormatError::StringTooLong {
                field,
                len,
                capacity,
            } => ConversionError::StringTooLong {
                field,
                len,
                capacity,
            },
            FormatError::ContainsNul { field, position } => {
                ConversionError::ContainsNul { field, position }
            }
            FormatError::OverLimit {
                field: "payload",
                size,
                ..
            } => ConversionError::PayloadTooLarge {
                size: size as usize,
            },
            FormatError::OverLimit {
                field: "metadata",
                size,
                ..
            } => ConversionError::MetadataTooLarge {
                size: size as usize,
            },
            FormatError::OverLimit {
                field: "causality link count",
                size,
                ..
            } => ConversionError::TooManyLinks {
                count: size as usize,
            },
            other => ConversionError::Decode(other),
        }
    }
}

/// A kernel format version this build cannot read or write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompatibilityError {
    /// A different major version: the layouts are not compatible.
    #[error(
        "kernel journal format {}.{} is incompatible: this build reads and writes major version {} only (format {}.{})",
        found.0, found.1, supported.0, supported.0, supported.1
    )]
    UnsupportedMajor {
        /// Version offered by the kernel.
        found: (u32, u32),
        /// Version of this build.
        supported: (u32, u32),
    },
    /// The same major version but a newer minor one: it may carry fields this build
    /// would not preserve, so it is refused rather than half-understood.
    #[error(
        "kernel journal format {}.{} is newer than this build's {}.{}: upgrade vexfs-journal to exchange events with this kernel",
        found.0, found.1, supported.0, supported.1
    )]
    NewerMinor {
        /// Version offered by the kernel.
        found: (u32, u32),
        /// Version of this build.
        supported: (u32, u32),
    },
}

/// Why reading or writing a kernel journal image failed as a whole (damage inside an
/// image is not an error: it is reported as [`crate::image::Damage`] and reading goes
/// on).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImageError {
    /// The source or destination cannot be opened, read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done (`opening`, `reading at byte 8192 of`, …).
        op: String,
        /// The file or device.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An event that cannot become a kernel event.
    #[error(
        "event id {event_id} (global sequence {global_sequence}) cannot be written to a kernel image: {source}"
    )]
    Convert {
        /// Id of the event.
        event_id: u64,
        /// Its global sequence.
        global_sequence: u64,
        /// Why.
        #[source]
        source: ConversionError,
    },
    /// An option that does not describe a valid kernel image.
    #[error("invalid kernel image option: {0}")]
    Options(String),
    /// Building a block failed (compression).
    #[error("building block {block_id}: {source}")]
    Block {
        /// Id of the block.
        block_id: u64,
        /// Why.
        #[source]
        source: FormatError,
    },
}

impl ImageError {
    /// An [`ImageError::Io`]: `op` says what was being done to `path`.
    pub fn io(op: impl Into<String>, path: impl Into<String>, source: std::io::Error) -> Self {
        ImageError::Io {
            op: op.into(),
            path: path.into(),
            source,
        }
    }
}

/// Why an event with a bridge marker's identity cannot be read as a marker (see
/// [`crate::marker`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MarkerError {
    /// The metadata is not the marker's JSON summary.
    #[error("marker metadata is not the expected JSON: {0}")]
    Metadata(String),
    /// The summary declares a marker version this build does not read.
    #[error("marker version {found} (this build reads {supported})")]
    Version {
        /// Version in the marker.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The payload does not start with the marker magic and version.
    #[error("marker payload has a bad magic or version")]
    BadMagic,
    /// The payload ends inside a field.
    #[error("marker payload is truncated")]
    Truncated,
    /// The payload's size disagrees with the counts it declares.
    #[error("marker payload is {size} bytes but declares {runs} runs and {ranges} ranges")]
    PayloadSize {
        /// Payload size.
        size: usize,
        /// Declared runs.
        runs: usize,
        /// Declared ranges.
        ranges: usize,
    },
    /// A run or range is empty, reversed or includes 0.
    #[error("marker holds an invalid range {first}..={last}")]
    InvalidRange {
        /// First sequence of the range.
        first: u64,
        /// Last sequence of the range.
        last: u64,
    },
    /// The summary's event count disagrees with the runs.
    #[error("marker declares {declared} events but its runs hold {held}")]
    EventCount {
        /// Count in the summary.
        declared: u64,
        /// Count in the runs.
        held: u64,
    },
    /// The summary's watermark disagrees with the ranges.
    #[error("marker watermark {declared} differs from its ranges' maximum {max}")]
    Watermark {
        /// Watermark in the summary.
        declared: u64,
        /// Maximum of the ranges.
        max: u64,
    },
    /// The anchor fields are not one of the valid combinations.
    #[error("marker anchor is inconsistent")]
    Anchor,
}
