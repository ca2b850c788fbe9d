/*
 * vexfs_kernel.h - the packed structs of the VexFS kernel semantic journal, as
 * described in docs/KERNEL-FORMAT.md, plus the userspace journal file header and
 * record extension.
 *
 * Written for the C cross-check of the Rust crate `vexfs-journal-format`
 * (tests/c_crosscheck.rs) and reusable by any C program that reads or writes the
 * format: include it, compile with -std=c11 (or later) on a little-endian host.
 *
 * Every struct is __attribute__((packed)): no padding anywhere, multi-byte fields in
 * host order, which must be little-endian. Members of packed structs may be
 * unaligned: copy them with memcpy or by value, never through a pointer to the member.
 */
#ifndef VEXFS_KERNEL_H
#define VEXFS_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "vexfs_kernel.h: the journal format is little-endian; this host is not"
#endif
#endif

/* ---- Constants ------------------------------------------------------------------ */

#define VEXFS_SEMJ_MAGIC 0x53454D4Au        /* "SEMJ": semantic journal magic */
#define VEXFS_VEXF_MAGIC 0x56455846u        /* "VEXF": kernel base journal magic */
#define VEXFS_BLOCK_MAGIC 0x55534A4Cu       /* "USJL": storage block magic */
#define VEXFS_USERSPACE_MARKER 0x55535253u  /* "USRS": file header marker */

#define VEXFS_VERSION_MAJOR 1u
#define VEXFS_VERSION_MINOR 0u
#define VEXFS_EVENT_VERSION 1u
#define VEXFS_BLOCK_VERSION 1u

#define VEXFS_KERNEL_BLOCK_SIZE 4096u
#define VEXFS_MAX_EVENTS 10000000ull
#define VEXFS_MAX_EVENT_PAYLOAD 65536u
#define VEXFS_MAX_CONTEXT 4096u
#define VEXFS_MAX_METADATA 2048u
#define VEXFS_MAX_CAUSALITY_LINKS 256u
#define VEXFS_MAX_AGENT_CONTEXTS 64u
#define VEXFS_PATH_MAX 4096

/* Capacities (NUL included) of the fixed char[N] fields. */
#define VEXFS_AGENT_ID_LEN 64
#define VEXFS_AGENT_INTENT_LEN 256
#define VEXFS_SEMANTIC_TAGS_LEN 512
#define VEXFS_SEMANTIC_INTENT_LEN 256
#define VEXFS_LINK_DESCRIPTION_LEN 128

/* Struct sizes. */
#define VEXFS_TIMESTAMP_SIZE 24u
#define VEXFS_EVENT_HEADER_SIZE 132u
#define VEXFS_CONTEXT_SIZE 5280u
#define VEXFS_CAUSALITY_LINK_SIZE 160u
#define VEXFS_BLOCK_HEADER_SIZE 104u
#define VEXFS_FILE_HEADER_SIZE 128u
#define VEXFS_RECORD_EXT_SIZE 72u
#define VEXFS_MIN_KERNEL_EVENT_SIZE (VEXFS_EVENT_HEADER_SIZE + VEXFS_CONTEXT_SIZE)

/* Kernel defaults of a logged event. */
#define VEXFS_DEFAULT_RELEVANCE_SCORE 50u
#define VEXFS_DEFAULT_VISIBILITY_MASK UINT64_MAX

/* Event categories (high byte) and type codes (category | n). */
#define VEXFS_CAT_FILESYSTEM 0x0100u
#define VEXFS_CAT_GRAPH 0x0200u
#define VEXFS_CAT_VECTOR 0x0300u
#define VEXFS_CAT_AGENT 0x0400u
#define VEXFS_CAT_SYSTEM 0x0500u
#define VEXFS_CAT_SEMANTIC 0x0600u
#define VEXFS_CAT_OBSERVABILITY 0x0800u
#define VEXFS_EVENT_TYPE(category, n) ((uint32_t)((category) | (n)))

/* Event flags. */
#define VEXFS_FLAG_ATOMIC 0x01u
#define VEXFS_FLAG_TRANSACTIONAL 0x02u
#define VEXFS_FLAG_CAUSAL 0x04u
#define VEXFS_FLAG_AGENT_VISIBLE 0x08u
#define VEXFS_FLAG_DETERMINISTIC 0x10u
#define VEXFS_FLAG_COMPRESSED 0x20u
#define VEXFS_FLAG_INDEXED 0x40u
#define VEXFS_FLAG_REPLICATED 0x80u

/* Priorities. */
#define VEXFS_PRIORITY_CRITICAL 1u
#define VEXFS_PRIORITY_HIGH 2u
#define VEXFS_PRIORITY_NORMAL 3u
#define VEXFS_PRIORITY_LOW 4u
#define VEXFS_PRIORITY_BACKGROUND 5u

/* Compression codes. */
#define VEXFS_COMPRESSION_NONE 0u
#define VEXFS_COMPRESSION_ZLIB 1u
#define VEXFS_COMPRESSION_LZ4 2u
#define VEXFS_COMPRESSION_ZSTD 3u /* userspace only */

/* ---- Structs -------------------------------------------------------------------- */

/* Timestamp: 24 bytes. */
struct vexfs_timestamp {
    int64_t ktime; /* ns, signed ktime_t */
    uint64_t sequence;
    uint32_t cpu_id;
    uint32_t process_id;
} __attribute__((packed));

/* Event header: 132 bytes. */
struct vexfs_event_header {
    uint64_t event_id;
    uint32_t event_type;
    uint32_t event_subtype;
    struct vexfs_timestamp timestamp;
    uint64_t global_sequence;
    uint64_t local_sequence;
    uint32_t event_flags;
    uint32_t event_priority;
    uint32_t event_size; /* header + context + payload + metadata + links */
    uint32_t context_size;
    uint32_t payload_size;
    uint32_t metadata_size;
    uint32_t event_version;
    uint32_t checksum; /* crc32_le(0, event) with this field zero */
    uint32_t compression_type;
    uint32_t encryption_type;
    uint32_t causality_link_count;
    uint64_t parent_event_id;
    uint64_t root_cause_event_id;
    uint64_t agent_visibility_mask;
    uint32_t agent_relevance_score;
    uint32_t replay_priority;
} __attribute__((packed));

/* Context: 5280 bytes, follows the header in a kernel event. */
struct vexfs_context {
    uint64_t transaction_id;
    uint64_t session_id;
    uint64_t causality_chain_id;
    char path[VEXFS_PATH_MAX];
    uint64_t inode_number;
    uint32_t file_type;
    uint64_t graph_node_id;
    uint64_t graph_edge_id;
    uint32_t graph_operation_type;
    uint64_t vector_id;
    uint32_t vector_dimensions;
    uint32_t vector_element_type;
    char agent_id[VEXFS_AGENT_ID_LEN];
    char agent_intent[VEXFS_AGENT_INTENT_LEN];
    uint32_t agent_confidence;
    uint32_t system_load;
    uint64_t memory_usage;
    uint32_t io_pressure;
    char semantic_tags[VEXFS_SEMANTIC_TAGS_LEN];
    char semantic_intent[VEXFS_SEMANTIC_INTENT_LEN];
    uint32_t semantic_confidence;
} __attribute__((packed));

/* Causality link: 160 bytes. */
struct vexfs_causality_link {
    uint64_t cause_event_id;
    uint64_t effect_event_id;
    uint32_t causality_type;
    uint32_t causality_strength;
    int64_t causality_delay; /* ns, signed ktime_t */
    char description[VEXFS_LINK_DESCRIPTION_LEN];
} __attribute__((packed));

/* Storage block header: 104 bytes, the block's event data follows. */
struct vexfs_block_header {
    uint32_t block_magic;
    uint32_t block_version;
    uint64_t block_id;
    uint32_t block_size;
    uint32_t event_count;
    uint32_t compression_type;
    uint32_t compressed_size;
    uint32_t uncompressed_size;
    uint32_t block_checksum; /* crc32_le(0, event data as stored) */
    struct vexfs_timestamp first_event_time;
    struct vexfs_timestamp last_event_time;
    uint64_t first_event_id;
    uint64_t last_event_id;
} __attribute__((packed));

/* Userspace journal file header: 128 bytes. */
struct vexfs_file_header {
    uint32_t magic;
    uint32_t version_major;
    uint32_t version_minor;
    uint64_t total_events;
    uint64_t next_event_id;
    uint64_t journal_size;
    uint64_t index_offset;
    uint32_t flags;
    uint32_t checksum; /* crc32_le(0, the 128 bytes) with this field zero */
    uint32_t userspace_marker;
    uint32_t compression_algorithm;
    uint32_t encryption_algorithm;
    uint64_t last_checkpoint_sequence;
    uint64_t last_kernel_sync_sequence;
    uint64_t creation_timestamp;
    uint64_t modification_timestamp;
    uint32_t reserved[8];
} __attribute__((packed));

/* Userspace record extension: 72 bytes after the kernel header of a record. */
struct vexfs_record_ext {
    uint32_t userspace_flags;
    uint64_t emission_latency_ns;
    uint64_t buffer_position;
    uint64_t cross_boundary_id;
    uint64_t userspace_sequence;
    uint64_t processing_timestamp;
    uint64_t persistence_timestamp;
    uint32_t retry_count;
    uint32_t reserved[4];
} __attribute__((packed));

_Static_assert(sizeof(struct vexfs_timestamp) == VEXFS_TIMESTAMP_SIZE,
               "vexfs_timestamp must be 24 bytes");
_Static_assert(sizeof(struct vexfs_event_header) == VEXFS_EVENT_HEADER_SIZE,
               "vexfs_event_header must be 132 bytes");
_Static_assert(sizeof(struct vexfs_context) == VEXFS_CONTEXT_SIZE,
               "vexfs_context must be 5280 bytes");
_Static_assert(sizeof(struct vexfs_causality_link) == VEXFS_CAUSALITY_LINK_SIZE,
               "vexfs_causality_link must be 160 bytes");
_Static_assert(sizeof(struct vexfs_block_header) == VEXFS_BLOCK_HEADER_SIZE,
               "vexfs_block_header must be 104 bytes");
_Static_assert(sizeof(struct vexfs_file_header) == VEXFS_FILE_HEADER_SIZE,
               "vexfs_file_header must be 128 bytes");
_Static_assert(sizeof(struct vexfs_record_ext) == VEXFS_RECORD_EXT_SIZE,
               "vexfs_record_ext must be 72 bytes");

/* Offsets a reader or writer needs without the struct at hand. */
#define VEXFS_EVENT_SIZE_OFFSET offsetof(struct vexfs_event_header, event_size)
#define VEXFS_EVENT_CHECKSUM_OFFSET offsetof(struct vexfs_event_header, checksum)
#define VEXFS_FILE_CHECKSUM_OFFSET offsetof(struct vexfs_file_header, checksum)
_Static_assert(offsetof(struct vexfs_event_header, event_size) == 64,
               "event_size must be at offset 64");
_Static_assert(offsetof(struct vexfs_event_header, checksum) == 84,
               "event checksum must be at offset 84");
_Static_assert(offsetof(struct vexfs_file_header, checksum) == 48,
               "file header checksum must be at offset 48");

/* ---- Checksum ------------------------------------------------------------------- */

/*
 * Linux crc32_le: reflected polynomial 0xEDB88320, the register starts at `crc`
 * (the kernel passes 0) and is returned as is (no inversion at start or end).
 * vexfs_crc32_le(0, "123456789", 9) == 0x2DFD2D88. Bitwise: simple, not fast.
 */
static inline uint32_t vexfs_crc32_le(uint32_t crc, const void *p, size_t len)
{
    const unsigned char *bytes = (const unsigned char *)p;
    for (size_t i = 0; i < len; i++) {
        crc ^= bytes[i];
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return crc;
}

#endif /* VEXFS_KERNEL_H */
