//! Constants of the kernel and userspace formats (`KERNEL-FORMAT.md`, "Constants").

/// Semantic journal magic, `"SEMJ"`.
pub const SEMJ_MAGIC: u32 = 0x5345_4D4A;
/// Kernel base journal magic, `"VEXF"`.
pub const VEXF_MAGIC: u32 = 0x5645_5846;
/// Storage block magic, `"USJL"` (fixed by this project; the kernel leaves it unassigned).
pub const BLOCK_MAGIC: u32 = 0x5553_4A4C;
/// Userspace marker in the file header, `"USRS"`.
pub const USERSPACE_MARKER: u32 = 0x5553_5253;

/// Journal format major version.
pub const VERSION_MAJOR: u32 = 1;
/// Journal format minor version.
pub const VERSION_MINOR: u32 = 0;
/// `event_version` of every event this crate writes and accepts.
pub const EVENT_VERSION: u32 = 1;
/// `block_version` of every storage block this crate writes and accepts.
pub const BLOCK_VERSION: u32 = 1;

/// Kernel journal block size; kernel image blocks are padded to a multiple of it.
pub const KERNEL_BLOCK_SIZE: usize = 4096;
/// Kernel-side limit on events in one journal.
pub const MAX_EVENTS: u64 = 10_000_000;
/// Largest event payload the kernel accepts.
pub const MAX_PAYLOAD_SIZE: usize = 65_536;
/// Kernel `MAX_CONTEXT` constant (the context struct itself is [`CONTEXT_SIZE`] bytes).
pub const MAX_CONTEXT_SIZE: usize = 4_096;
/// Largest metadata section the kernel accepts.
pub const MAX_METADATA_SIZE: usize = 2_048;
/// Most causality links one kernel event may carry.
pub const MAX_CAUSALITY_LINKS: usize = 256;
/// Most agent contexts.
pub const MAX_AGENT_CONTEXTS: usize = 64;
/// `PATH_MAX`, the size of the context's `path` field.
pub const PATH_MAX: usize = 4_096;

/// Size of the timestamp struct.
pub const TIMESTAMP_SIZE: usize = 24;
/// Size of the event header.
pub const EVENT_HEADER_SIZE: usize = 132;
/// Size of the kernel context struct.
pub const CONTEXT_SIZE: usize = 5_280;
/// Size of one kernel causality link.
pub const CAUSALITY_LINK_SIZE: usize = 160;
/// Size of a storage block header.
pub const BLOCK_HEADER_SIZE: usize = 104;
/// Bytes an encrypted segment block's stored data holds beyond its plaintext: a 16-byte
/// salt and a 16-byte AES-GCM tag (`vexfs-journal-cipher`, `docs/encryption.md`).
pub const ENCRYPTED_BLOCK_OVERHEAD: usize = 32;
/// Size of the userspace journal file header.
pub const FILE_HEADER_SIZE: usize = 128;
/// Size of the userspace record extension.
pub const RECORD_EXT_SIZE: usize = 72;
/// Smallest possible kernel event: header and context.
pub const MIN_KERNEL_EVENT_SIZE: usize = EVENT_HEADER_SIZE + CONTEXT_SIZE;

/// Capacity (NUL included) of the context's `agent_id` field.
pub const AGENT_ID_CAPACITY: usize = 64;
/// Capacity (NUL included) of the context's `agent_intent` field.
pub const AGENT_INTENT_CAPACITY: usize = 256;
/// Capacity (NUL included) of the context's `semantic_tags` field.
pub const SEMANTIC_TAGS_CAPACITY: usize = 512;
/// Capacity (NUL included) of the context's `semantic_intent` field.
pub const SEMANTIC_INTENT_CAPACITY: usize = 256;
/// Capacity (NUL included) of a causality link's `description` field.
pub const LINK_DESCRIPTION_CAPACITY: usize = 128;

/// Kernel default `context_size` of a logged event.
pub const DEFAULT_CONTEXT_SIZE: u32 = CONTEXT_SIZE as u32;
/// Kernel default agent relevance score.
pub const DEFAULT_RELEVANCE_SCORE: u32 = 50;
/// Kernel default agent visibility mask (visible to all).
pub const DEFAULT_VISIBILITY_MASK: u64 = u64::MAX;
