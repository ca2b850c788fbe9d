/*
 * kernel_layout.c - C side of the cross-check of `vexfs-journal-format`
 * (driven by tests/c_crosscheck.rs).
 *
 * Usage: kernel_layout [OUTPUT]
 *
 * Always prints, to stdout:
 *   struct <name> <sizeof>                      one line per struct
 *   field <struct> <field> <offsetof> <size>    one line per field, in declaration order
 *   crc_123456789 0x<crc32_le of "123456789">
 * With OUTPUT, also writes one complete kernel event (header + context + payload +
 * metadata + 2 causality links, checksum sealed) to that file and prints
 *   event_size <bytes>
 *   crc 0x<checksum stored in the event>
 *
 * The event's values are mirrored in c_crosscheck.rs (`expected_event`): change both
 * together.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vexfs_kernel.h"

#define PRINT_STRUCT(S) printf("struct %s %zu\n", #S, sizeof(struct S))
#define PRINT_FIELD(S, F)                                                              \
    printf("field %s %s %zu %zu\n", #S, #F, offsetof(struct S, F),                     \
           sizeof(((struct S *)0)->F))

static void print_layouts(void)
{
    PRINT_STRUCT(vexfs_timestamp);
    PRINT_FIELD(vexfs_timestamp, ktime);
    PRINT_FIELD(vexfs_timestamp, sequence);
    PRINT_FIELD(vexfs_timestamp, cpu_id);
    PRINT_FIELD(vexfs_timestamp, process_id);

    PRINT_STRUCT(vexfs_event_header);
    PRINT_FIELD(vexfs_event_header, event_id);
    PRINT_FIELD(vexfs_event_header, event_type);
    PRINT_FIELD(vexfs_event_header, event_subtype);
    PRINT_FIELD(vexfs_event_header, timestamp);
    PRINT_FIELD(vexfs_event_header, global_sequence);
    PRINT_FIELD(vexfs_event_header, local_sequence);
    PRINT_FIELD(vexfs_event_header, event_flags);
    PRINT_FIELD(vexfs_event_header, event_priority);
    PRINT_FIELD(vexfs_event_header, event_size);
    PRINT_FIELD(vexfs_event_header, context_size);
    PRINT_FIELD(vexfs_event_header, payload_size);
    PRINT_FIELD(vexfs_event_header, metadata_size);
    PRINT_FIELD(vexfs_event_header, event_version);
    PRINT_FIELD(vexfs_event_header, checksum);
    PRINT_FIELD(vexfs_event_header, compression_type);
    PRINT_FIELD(vexfs_event_header, encryption_type);
    PRINT_FIELD(vexfs_event_header, causality_link_count);
    PRINT_FIELD(vexfs_event_header, parent_event_id);
    PRINT_FIELD(vexfs_event_header, root_cause_event_id);
    PRINT_FIELD(vexfs_event_header, agent_visibility_mask);
    PRINT_FIELD(vexfs_event_header, agent_relevance_score);
    PRINT_FIELD(vexfs_event_header, replay_priority);

    PRINT_STRUCT(vexfs_context);
    PRINT_FIELD(vexfs_context, transaction_id);
    PRINT_FIELD(vexfs_context, session_id);
    PRINT_FIELD(vexfs_context, causality_chain_id);
    PRINT_FIELD(vexfs_context, path);
    PRINT_FIELD(vexfs_context, inode_number);
    PRINT_FIELD(vexfs_context, file_type);
    PRINT_FIELD(vexfs_context, graph_node_id);
    PRINT_FIELD(vexfs_context, graph_edge_id);
    PRINT_FIELD(vexfs_context, graph_operation_type);
    PRINT_FIELD(vexfs_context, vector_id);
    PRINT_FIELD(vexfs_context, vector_dimensions);
    PRINT_FIELD(vexfs_context, vector_element_type);
    PRINT_FIELD(vexfs_context, agent_id);
    PRINT_FIELD(vexfs_context, agent_intent);
    PRINT_FIELD(vexfs_context, agent_confidence);
    PRINT_FIELD(vexfs_context, system_load);
    PRINT_FIELD(vexfs_context, memory_usage);
    PRINT_FIELD(vexfs_context, io_pressure);
    PRINT_FIELD(vexfs_context, semantic_tags);
    PRINT_FIELD(vexfs_context, semantic_intent);
    PRINT_FIELD(vexfs_context, semantic_confidence);

    PRINT_STRUCT(vexfs_causality_link);
    PRINT_FIELD(vexfs_causality_link, cause_event_id);
    PRINT_FIELD(vexfs_causality_link, effect_event_id);
    PRINT_FIELD(vexfs_causality_link, causality_type);
    PRINT_FIELD(vexfs_causality_link, causality_strength);
    PRINT_FIELD(vexfs_causality_link, causality_delay);
    PRINT_FIELD(vexfs_causality_link, description);

    PRINT_STRUCT(vexfs_block_header);
    PRINT_FIELD(vexfs_block_header, block_magic);
    PRINT_FIELD(vexfs_block_header, block_version);
    PRINT_FIELD(vexfs_block_header, block_id);
    PRINT_FIELD(vexfs_block_header, block_size);
    PRINT_FIELD(vexfs_block_header, event_count);
    PRINT_FIELD(vexfs_block_header, compression_type);
    PRINT_FIELD(vexfs_block_header, compressed_size);
    PRINT_FIELD(vexfs_block_header, uncompressed_size);
    PRINT_FIELD(vexfs_block_header, block_checksum);
    PRINT_FIELD(vexfs_block_header, first_event_time);
    PRINT_FIELD(vexfs_block_header, last_event_time);
    PRINT_FIELD(vexfs_block_header, first_event_id);
    PRINT_FIELD(vexfs_block_header, last_event_id);

    PRINT_STRUCT(vexfs_file_header);
    PRINT_FIELD(vexfs_file_header, magic);
    PRINT_FIELD(vexfs_file_header, version_major);
    PRINT_FIELD(vexfs_file_header, version_minor);
    PRINT_FIELD(vexfs_file_header, total_events);
    PRINT_FIELD(vexfs_file_header, next_event_id);
    PRINT_FIELD(vexfs_file_header, journal_size);
    PRINT_FIELD(vexfs_file_header, index_offset);
    PRINT_FIELD(vexfs_file_header, flags);
    PRINT_FIELD(vexfs_file_header, checksum);
    PRINT_FIELD(vexfs_file_header, userspace_marker);
    PRINT_FIELD(vexfs_file_header, compression_algorithm);
    PRINT_FIELD(vexfs_file_header, encryption_algorithm);
    PRINT_FIELD(vexfs_file_header, last_checkpoint_sequence);
    PRINT_FIELD(vexfs_file_header, last_kernel_sync_sequence);
    PRINT_FIELD(vexfs_file_header, creation_timestamp);
    PRINT_FIELD(vexfs_file_header, modification_timestamp);
    PRINT_FIELD(vexfs_file_header, reserved);

    PRINT_STRUCT(vexfs_record_ext);
    PRINT_FIELD(vexfs_record_ext, userspace_flags);
    PRINT_FIELD(vexfs_record_ext, emission_latency_ns);
    PRINT_FIELD(vexfs_record_ext, buffer_position);
    PRINT_FIELD(vexfs_record_ext, cross_boundary_id);
    PRINT_FIELD(vexfs_record_ext, userspace_sequence);
    PRINT_FIELD(vexfs_record_ext, processing_timestamp);
    PRINT_FIELD(vexfs_record_ext, persistence_timestamp);
    PRINT_FIELD(vexfs_record_ext, retry_count);
    PRINT_FIELD(vexfs_record_ext, reserved);
}

/* Copies `src` into the NUL-padded char[cap] field `dst`; refuses (never truncates)
 * a string that does not fit with its terminating NUL. */
static int set_str(char *dst, size_t cap, const char *src, const char *field)
{
    size_t len = strlen(src);
    if (len >= cap) {
        fprintf(stderr, "kernel_layout: %s: %zu bytes do not fit char[%zu]\n", field, len,
                cap);
        return -1;
    }
    memset(dst, 0, cap);
    memcpy(dst, src, len);
    return 0;
}

#define SET_STR(obj, field, src) set_str((obj).field, sizeof((obj).field), (src), #field)

/* The event's identity, shared by header and links. */
#define EV_ID UINT64_C(0x00C0FFEE00000017)
#define EV_PARENT UINT64_C(0x00C0FFEE00000016)
#define EV_ROOT UINT64_C(0x00C0FFEE00000001)

/* 63 bytes: the longest string char[64] agent_id can hold. */
static const char AGENT_ID[] = "c-agent-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQ";

/* Payload with NUL and high bytes; its odd size leaves the later sections unaligned. */
static const unsigned char PAYLOAD[] = {'C',  '-',  'p',  'a',  'y',  'l',  'o',  'a',  'd',
                                        0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 'e',  'n',  'd'};
static const char METADATA[] = "{\"writer\":\"kernel_layout.c\",\"lang\":\"c11\"}";

static int write_event(const char *out_path)
{
    const uint32_t payload_size = (uint32_t)sizeof(PAYLOAD);
    const uint32_t metadata_size = (uint32_t)strlen(METADATA);
    const uint32_t link_count = 2;
    const uint32_t event_size = VEXFS_EVENT_HEADER_SIZE + VEXFS_CONTEXT_SIZE + payload_size +
                                metadata_size + link_count * VEXFS_CAUSALITY_LINK_SIZE;

    struct vexfs_event_header h;
    memset(&h, 0, sizeof h);
    h.event_id = EV_ID;
    h.event_type = VEXFS_EVENT_TYPE(VEXFS_CAT_VECTOR, 0x06); /* vector.similarity */
    h.event_subtype = 0xA5A50001u;
    h.timestamp.ktime = INT64_C(1767225600123456789);
    h.timestamp.sequence = UINT64_C(987654321012);
    h.timestamp.cpu_id = 7;
    h.timestamp.process_id = 31337;
    h.global_sequence = UINT64_C(0x0102030405060708);
    h.local_sequence = UINT64_C(0x1112131415161718);
    h.event_flags = VEXFS_FLAG_CAUSAL | VEXFS_FLAG_AGENT_VISIBLE | VEXFS_FLAG_COMPRESSED |
                    VEXFS_FLAG_INDEXED;
    h.event_priority = VEXFS_PRIORITY_HIGH;
    h.event_size = event_size;
    h.context_size = VEXFS_CONTEXT_SIZE;
    h.payload_size = payload_size;
    h.metadata_size = metadata_size;
    h.event_version = VEXFS_EVENT_VERSION;
    h.checksum = 0;
    h.compression_type = VEXFS_COMPRESSION_LZ4; /* opaque here: only carried */
    h.encryption_type = 5;                      /* opaque here: only carried */
    h.causality_link_count = link_count;
    h.parent_event_id = EV_PARENT;
    h.root_cause_event_id = EV_ROOT;
    h.agent_visibility_mask = UINT64_C(0x8000000000000005);
    h.agent_relevance_score = 77;
    h.replay_priority = VEXFS_PRIORITY_CRITICAL;

    static struct vexfs_context c;
    memset(&c, 0, sizeof c);
    c.transaction_id = UINT64_C(0xDEADBEEF00000001);
    c.session_id = UINT64_C(0x5E551010);
    c.causality_chain_id = UINT64_C(0xC4A1000000000009);
    c.inode_number = UINT64_C(0x0000000100000002);
    c.file_type = 0100644;
    c.graph_node_id = UINT64_C(0x6A00000001);
    c.graph_edge_id = UINT64_C(0x6A00000002);
    c.graph_operation_type = 4;
    c.vector_id = 31337;
    c.vector_dimensions = 1536;
    c.vector_element_type = 2;
    c.agent_confidence = 93;
    c.system_load = 250;
    c.memory_usage = UINT64_C(10) << 30;
    c.io_pressure = 17;
    c.semantic_confidence = 100;
    if (strlen(AGENT_ID) != VEXFS_AGENT_ID_LEN - 1) {
        fprintf(stderr, "kernel_layout: AGENT_ID must be %d bytes\n", VEXFS_AGENT_ID_LEN - 1);
        return -1;
    }
    if (SET_STR(c, path, "/c/written/by/gcc") || SET_STR(c, agent_id, AGENT_ID) ||
        SET_STR(c, agent_intent, "verify the packed layout from C") ||
        SET_STR(c, semantic_tags, "{\"lang\":\"c\",\"tool\":\"gcc\",\"check\":[\"layout\",\"crc\"]}") ||
        SET_STR(c, semantic_intent, "cross-language byte compatibility")) {
        return -1;
    }

    struct vexfs_causality_link links[2];
    memset(links, 0, sizeof links);
    links[0].cause_event_id = EV_PARENT;
    links[0].effect_event_id = EV_ID;
    links[0].causality_type = 1;
    links[0].causality_strength = 90;
    links[0].causality_delay = 2500;
    if (SET_STR(links[0], description, "written by gcc before the Rust decoder reads it")) {
        return -1;
    }
    links[1].cause_event_id = EV_ROOT;
    links[1].effect_event_id = EV_ID;
    links[1].causality_type = 3;
    links[1].causality_strength = 0;
    links[1].causality_delay = -42;
    /* 127 bytes, the longest char[128] holds: 'A'..'Z' repeated. */
    for (size_t i = 0; i + 1 < sizeof links[1].description; i++) {
        links[1].description[i] = (char)('A' + (int)(i % 26));
    }

    unsigned char *buf = calloc(1, event_size);
    if (buf == NULL) {
        fprintf(stderr, "kernel_layout: out of memory\n");
        return -1;
    }
    size_t pos = 0;
    memcpy(buf + pos, &h, sizeof h);
    pos += sizeof h;
    memcpy(buf + pos, &c, sizeof c);
    pos += sizeof c;
    memcpy(buf + pos, PAYLOAD, payload_size);
    pos += payload_size;
    memcpy(buf + pos, METADATA, metadata_size);
    pos += metadata_size;
    memcpy(buf + pos, links, sizeof links);
    pos += sizeof links;
    if (pos != event_size) {
        fprintf(stderr, "kernel_layout: wrote %zu bytes, event_size %" PRIu32 "\n", pos,
                event_size);
        free(buf);
        return -1;
    }

    /* The checksum field is still zero in buf: seal it. */
    uint32_t crc = vexfs_crc32_le(0, buf, event_size);
    memcpy(buf + VEXFS_EVENT_CHECKSUM_OFFSET, &crc, sizeof crc);

    FILE *f = fopen(out_path, "wb");
    if (f == NULL) {
        perror(out_path);
        free(buf);
        return -1;
    }
    size_t written = fwrite(buf, 1, event_size, f);
    int closed = fclose(f);
    free(buf);
    if (written != event_size || closed != 0) {
        fprintf(stderr, "kernel_layout: cannot write %s\n", out_path);
        return -1;
    }
    printf("event_size %" PRIu32 "\n", event_size);
    printf("crc 0x%08" PRIx32 "\n", crc);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 2) {
        fprintf(stderr, "usage: %s [OUTPUT]\n", argv[0]);
        return 2;
    }
    print_layouts();
    printf("crc_123456789 0x%08" PRIx32 "\n", vexfs_crc32_le(0, "123456789", 9));
    if (argc == 2 && write_event(argv[1]) != 0) {
        return 1;
    }
    if (fflush(stdout) != 0) {
        return 1;
    }
    return 0;
}
