//! Packed little-endian structs with the exact layouts of `KERNEL-FORMAT.md`.
//!
//! Every multi-byte field uses zerocopy's little-endian wrapper types, which have
//! alignment 1. A `#[repr(C)]` struct made only of such fields therefore has no padding,
//! matches the kernel's `__attribute__((packed))` layout byte for byte and reads the same
//! on any host byte order. Conversions to and from bytes go through zerocopy's derives
//! (`FromBytes`, `IntoBytes`), never through pointer casts.

use zerocopy::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Kernel timestamp: 24 bytes.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct RawTimestamp {
    /// Nanoseconds (signed `ktime_t`).
    pub ktime: I64,
    /// Sequence number captured with the time.
    pub sequence: U64,
    /// CPU the event was logged on.
    pub cpu_id: U32,
    /// Process id of the emitter.
    pub process_id: U32,
}

/// Kernel event header: 132 bytes.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct RawEventHeader {
    /// Unique event id (kernel ids start at 1).
    pub event_id: U64,
    /// Event type code (`category | n`).
    pub event_type: U32,
    /// Free-form subtype.
    pub event_subtype: U32,
    /// When the event was logged.
    pub timestamp: RawTimestamp,
    /// Global sequence number.
    pub global_sequence: U64,
    /// Local (per-source) sequence number.
    pub local_sequence: U64,
    /// Event flag bits.
    pub event_flags: U32,
    /// Event priority (1 critical … 5 background).
    pub event_priority: U32,
    /// Total bytes of the event, this header included.
    pub event_size: U32,
    /// Bytes of the context section.
    pub context_size: U32,
    /// Bytes of the payload section.
    pub payload_size: U32,
    /// Bytes of the metadata section.
    pub metadata_size: U32,
    /// Event format version (1).
    pub event_version: U32,
    /// Kernel crc32 of the whole event with this field zeroed.
    pub checksum: U32,
    /// Compression code of the payload.
    pub compression_type: U32,
    /// Encryption code of the payload.
    pub encryption_type: U32,
    /// Number of causality links at the end of the event.
    pub causality_link_count: U32,
    /// Id of the parent event (0: none).
    pub parent_event_id: U64,
    /// Id of the root-cause event (the event itself for root events).
    pub root_cause_event_id: U64,
    /// Bit mask of agents allowed to see the event.
    pub agent_visibility_mask: U64,
    /// Relevance score for agents (0–100).
    pub agent_relevance_score: U32,
    /// Priority used when replaying.
    pub replay_priority: U32,
}

/// Kernel event context: 5280 bytes.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RawContext {
    /// Transaction the event belongs to.
    pub transaction_id: U64,
    /// Session id.
    pub session_id: U64,
    /// Causality chain id.
    pub causality_chain_id: U64,
    /// Filesystem path, `char[PATH_MAX]`.
    pub path: [u8; 4096],
    /// Inode number.
    pub inode_number: U64,
    /// File type.
    pub file_type: U32,
    /// Graph node id.
    pub graph_node_id: U64,
    /// Graph edge id.
    pub graph_edge_id: U64,
    /// Graph operation type.
    pub graph_operation_type: U32,
    /// Vector id.
    pub vector_id: U64,
    /// Vector dimensions.
    pub vector_dimensions: U32,
    /// Vector element type.
    pub vector_element_type: U32,
    /// Agent id, `char[64]`.
    pub agent_id: [u8; 64],
    /// Agent intent, `char[256]`.
    pub agent_intent: [u8; 256],
    /// Agent confidence (0–100).
    pub agent_confidence: U32,
    /// System load.
    pub system_load: U32,
    /// Memory usage.
    pub memory_usage: U64,
    /// I/O pressure.
    pub io_pressure: U32,
    /// Semantic tags as JSON text, `char[512]`.
    pub semantic_tags: [u8; 512],
    /// Semantic intent, `char[256]`.
    pub semantic_intent: [u8; 256],
    /// Semantic confidence (0–100).
    pub semantic_confidence: U32,
}

/// Kernel causality link: 160 bytes.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct RawCausalityLink {
    /// The causing event.
    pub cause_event_id: U64,
    /// The caused event.
    pub effect_event_id: U64,
    /// Kind of causality.
    pub causality_type: U32,
    /// Strength (0–100).
    pub causality_strength: U32,
    /// Delay between cause and effect, ns.
    pub causality_delay: I64,
    /// Description, `char[128]`.
    pub description: [u8; 128],
}

/// Storage block header: 104 bytes; the block's event data follows it.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct RawBlockHeader {
    /// `USJL`.
    pub block_magic: U32,
    /// Block format version (1; 2 for framed segment blocks, see `frames`).
    pub block_version: U32,
    /// Block id, increasing.
    pub block_id: U64,
    /// Total bytes of the block: header, stored data and padding.
    pub block_size: U32,
    /// Events in the block.
    pub event_count: U32,
    /// Compression code of the event data.
    pub compression_type: U32,
    /// Bytes of event data as stored.
    pub compressed_size: U32,
    /// Bytes of event data after decompression.
    pub uncompressed_size: U32,
    /// Kernel crc32 of the event data as stored.
    pub block_checksum: U32,
    /// Timestamp of the first event.
    pub first_event_time: RawTimestamp,
    /// Timestamp of the last event.
    pub last_event_time: RawTimestamp,
    /// Id of the first event.
    pub first_event_id: U64,
    /// Id of the last event.
    pub last_event_id: U64,
}

/// Userspace journal file header: 128 bytes at the start of every segment.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct RawFileHeader {
    /// `SEMJ`.
    pub magic: U32,
    /// Format major version.
    pub version_major: U32,
    /// Format minor version.
    pub version_minor: U32,
    /// Events in this file.
    pub total_events: U64,
    /// Next event id to be assigned.
    pub next_event_id: U64,
    /// Bytes of this file.
    pub journal_size: U64,
    /// Offset of an index section (0: indexes live beside the file).
    pub index_offset: U64,
    /// File flags.
    pub flags: U32,
    /// Kernel crc32 of the 128 bytes with this field zeroed.
    pub checksum: U32,
    /// `USRS`.
    pub userspace_marker: U32,
    /// Compression code used by the blocks.
    pub compression_algorithm: U32,
    /// Encryption code used by the blocks.
    pub encryption_algorithm: U32,
    /// Sequence of the last checkpoint.
    pub last_checkpoint_sequence: U64,
    /// Last kernel sequence synchronised into this journal.
    pub last_kernel_sync_sequence: U64,
    /// Creation time, seconds since the Unix epoch.
    pub creation_timestamp: U64,
    /// Last modification time, seconds since the Unix epoch.
    pub modification_timestamp: U64,
    /// Reserved, zero.
    pub reserved: [U32; 8],
}

/// Userspace record extension: 72 bytes after the kernel header of a stored record.
#[derive(
    FromBytes,
    IntoBytes,
    KnownLayout,
    Immutable,
    Unaligned,
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
)]
#[repr(C)]
pub struct RawRecordExt {
    /// Userspace flag bits.
    pub userspace_flags: U32,
    /// Time from emission to encoding, ns.
    pub emission_latency_ns: U64,
    /// Position in the emission buffer.
    pub buffer_position: U64,
    /// Cross-boundary transaction id.
    pub cross_boundary_id: U64,
    /// Userspace sequence number.
    pub userspace_sequence: U64,
    /// When the writer encoded the event, ns since the Unix epoch.
    pub processing_timestamp: U64,
    /// When the block was written, ns since the Unix epoch.
    pub persistence_timestamp: U64,
    /// Number of write retries.
    pub retry_count: U32,
    /// Reserved, zero.
    pub reserved: [U32; 4],
}

/// One field of a struct layout, as computed from the Rust types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldLayout {
    /// Field name as in `KERNEL-FORMAT.md`.
    pub name: &'static str,
    /// Byte offset from the start of the struct.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

/// Size and fields of one packed struct, as computed from the Rust types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructLayout {
    /// Struct name (the C name used by the cross-check program).
    pub name: &'static str,
    /// `size_of` the struct.
    pub size: usize,
    /// Every field in declaration order.
    pub fields: alloc::vec::Vec<FieldLayout>,
}

fn field_size<S, F>(_: fn(&S) -> &F) -> usize {
    core::mem::size_of::<F>()
}

macro_rules! struct_layout {
    ($cname:literal, $ty:ty { $($field:ident),* $(,)? }) => {
        StructLayout {
            name: $cname,
            size: core::mem::size_of::<$ty>(),
            fields: alloc::vec![$(FieldLayout {
                name: stringify!($field),
                offset: core::mem::offset_of!($ty, $field),
                size: field_size::<$ty, _>(|s| &s.$field),
            }),*],
        }
    };
}

/// Layout of every packed struct, computed from the code (used by tests, the C
/// cross-check and `vexjournal kernel layout`).
pub fn all_layouts() -> alloc::vec::Vec<StructLayout> {
    alloc::vec![
        struct_layout!(
            "vexfs_timestamp",
            RawTimestamp {
                ktime,
                sequence,
                cpu_id,
                process_id
            }
        ),
        struct_layout!(
            "vexfs_event_header",
            RawEventHeader {
                event_id,
                event_type,
                event_subtype,
                timestamp,
                global_sequence,
                local_sequence,
                event_flags,
                event_priority,
                event_size,
                context_size,
                payload_size,
                metadata_size,
                event_version,
                checksum,
                compression_type,
                encryption_type,
                causality_link_count,
                parent_event_id,
                root_cause_event_id,
                agent_visibility_mask,
                agent_relevance_score,
                replay_priority
            }
        ),
        struct_layout!(
            "vexfs_context",
            RawContext {
                transaction_id,
                session_id,
                causality_chain_id,
                path,
                inode_number,
                file_type,
                graph_node_id,
                graph_edge_id,
                graph_operation_type,
                vector_id,
                vector_dimensions,
                vector_element_type,
                agent_id,
                agent_intent,
                agent_confidence,
                system_load,
                memory_usage,
                io_pressure,
                semantic_tags,
                semantic_intent,
                semantic_confidence
            }
        ),
        struct_layout!(
            "vexfs_causality_link",
            RawCausalityLink {
                cause_event_id,
                effect_event_id,
                causality_type,
                causality_strength,
                causality_delay,
                description
            }
        ),
        struct_layout!(
            "vexfs_block_header",
            RawBlockHeader {
                block_magic,
                block_version,
                block_id,
                block_size,
                event_count,
                compression_type,
                compressed_size,
                uncompressed_size,
                block_checksum,
                first_event_time,
                last_event_time,
                first_event_id,
                last_event_id
            }
        ),
        struct_layout!(
            "vexfs_file_header",
            RawFileHeader {
                magic,
                version_major,
                version_minor,
                total_events,
                next_event_id,
                journal_size,
                index_offset,
                flags,
                checksum,
                userspace_marker,
                compression_algorithm,
                encryption_algorithm,
                last_checkpoint_sequence,
                last_kernel_sync_sequence,
                creation_timestamp,
                modification_timestamp,
                reserved
            }
        ),
        struct_layout!(
            "vexfs_record_ext",
            RawRecordExt {
                userspace_flags,
                emission_latency_ns,
                buffer_position,
                cross_boundary_id,
                userspace_sequence,
                processing_timestamp,
                persistence_timestamp,
                retry_count,
                reserved
            }
        ),
    ]
}

/// Byte offset of the `event_size` field inside an event header.
pub const EVENT_SIZE_OFFSET: usize = core::mem::offset_of!(RawEventHeader, event_size);
/// Byte offset of the `checksum` field inside an event header.
pub const EVENT_CHECKSUM_OFFSET: usize = core::mem::offset_of!(RawEventHeader, checksum);
/// Byte offset of the `checksum` field inside a file header.
pub const FILE_CHECKSUM_OFFSET: usize = core::mem::offset_of!(RawFileHeader, checksum);

const _: () = {
    assert!(core::mem::size_of::<RawTimestamp>() == 24);
    assert!(core::mem::size_of::<RawEventHeader>() == 132);
    assert!(core::mem::size_of::<RawContext>() == 5280);
    assert!(core::mem::size_of::<RawCausalityLink>() == 160);
    assert!(core::mem::size_of::<RawBlockHeader>() == 104);
    assert!(core::mem::size_of::<RawFileHeader>() == 128);
    assert!(core::mem::size_of::<RawRecordExt>() == 72);
};
