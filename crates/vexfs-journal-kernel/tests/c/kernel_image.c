/*
 * kernel_image.c - C side of the kernel image cross-check of `vexfs-journal-kernel`
 * (driven by tests/c_image.rs). Uses the packed structs and crc32 of
 * crates/vexfs-journal-format/tests/c/vexfs_kernel.h.
 *
 * Usage:
 *   kernel_image write OUTPUT   writes a kernel journal image of C_BLOCKS blocks holding
 *                               C_EVENTS events (uncompressed, 4096-aligned, zero
 *                               padded, its own crc32s) and prints, to stdout:
 *                                 block <id> <offset> <block_size> <events> <crc>
 *                                 event <id> <global_seq> <event_size> <crc>
 *                                 image <bytes> <blocks> <events>
 *   kernel_image read INPUT     verifies an uncompressed image (every header field,
 *                               block crc, padding, every event's sizes, version, crc,
 *                               char[] fields, header/event agreement) and prints:
 *                                 block <id> <offset> <block_size> <events> <first_id> <last_id> <crc>
 *                                 event <id> <global_seq> <type> <payload> <metadata> <links> <crc> <payload_crc> <path>
 *                                 ok <blocks> <events>
 *                               On the first problem: "error ..." on stderr, exit 1.
 *
 * The events `write` produces are mirrored in tests/c_image.rs (`c_event`): change both
 * together.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../vexfs-journal-format/tests/c/vexfs_kernel.h"

#define C_EVENTS 8u
#define C_BLOCKS 4u
#define C_BASE_TIME INT64_C(1767225600000000000)

/* Events per block: 1-2 | 3-5 | 6 | 7-8. */
static const unsigned BLOCK_EVENTS[C_BLOCKS] = {2, 3, 1, 2};

static const uint32_t TYPES[7] = {
    VEXFS_EVENT_TYPE(VEXFS_CAT_FILESYSTEM, 0x04),    VEXFS_EVENT_TYPE(VEXFS_CAT_GRAPH, 0x01),
    VEXFS_EVENT_TYPE(VEXFS_CAT_VECTOR, 0x04),        VEXFS_EVENT_TYPE(VEXFS_CAT_AGENT, 0x03),
    VEXFS_EVENT_TYPE(VEXFS_CAT_SYSTEM, 0x04),        VEXFS_EVENT_TYPE(VEXFS_CAT_SEMANTIC, 0x01),
    VEXFS_EVENT_TYPE(VEXFS_CAT_OBSERVABILITY, 0x09),
};

static uint32_t payload_len(unsigned i)
{
    if (i == 6) {
        return VEXFS_MAX_EVENT_PAYLOAD; /* the largest payload the kernel accepts */
    }
    return (i * 37u) % 200u;
}

static unsigned char payload_byte(unsigned i, uint32_t j)
{
    return (unsigned char)((i * 31u + j * 7u) & 0xffu);
}

static unsigned link_count(unsigned i) { return i % 3u; }

static void die(const char *what, uint64_t where)
{
    fprintf(stderr, "error %s at %" PRIu64 "\n", what, where);
    exit(1);
}

/* Copies a NUL-terminated string into a char[cap] field; refuses what does not fit. */
static void set_str(char *dst, size_t cap, const char *src)
{
    size_t len = strlen(src);
    if (len >= cap) {
        die("string does not fit its field", (uint64_t)len);
    }
    memset(dst, 0, cap);
    memcpy(dst, src, len);
}

/* Builds event i (1-based) into a fresh buffer; returns it and its size. */
static unsigned char *build_event(unsigned i, uint32_t *size_out)
{
    const uint32_t plen = payload_len(i);
    char metadata[128];
    int mlen = snprintf(metadata, sizeof metadata, "{\"writer\":\"kernel_image.c\",\"event\":%u}", i);
    if (mlen < 0 || (size_t)mlen >= sizeof metadata) {
        die("metadata", i);
    }
    const unsigned nlinks = link_count(i);
    const uint32_t size = VEXFS_EVENT_HEADER_SIZE + VEXFS_CONTEXT_SIZE + plen + (uint32_t)mlen +
                          nlinks * VEXFS_CAUSALITY_LINK_SIZE;

    struct vexfs_event_header h;
    memset(&h, 0, sizeof h);
    h.event_id = 1000u + i;
    h.event_type = TYPES[(i - 1) % 7];
    h.event_subtype = i * 3u;
    h.timestamp.ktime = C_BASE_TIME + (int64_t)i * 1000;
    h.timestamp.sequence = i;
    h.timestamp.cpu_id = i % 4u;
    h.timestamp.process_id = 4000u + i;
    h.global_sequence = i;
    h.local_sequence = i;
    h.event_flags = VEXFS_FLAG_CAUSAL | VEXFS_FLAG_AGENT_VISIBLE;
    h.event_priority = (i % 5u) + 1u;
    h.event_size = size;
    h.context_size = VEXFS_CONTEXT_SIZE;
    h.payload_size = plen;
    h.metadata_size = (uint32_t)mlen;
    h.event_version = VEXFS_EVENT_VERSION;
    h.compression_type = VEXFS_COMPRESSION_NONE;
    h.encryption_type = 0;
    h.causality_link_count = nlinks;
    h.parent_event_id = i > 1 ? 1000u + i - 1u : 0u;
    h.root_cause_event_id = 1001u;
    h.agent_visibility_mask = VEXFS_DEFAULT_VISIBILITY_MASK;
    h.agent_relevance_score = 50u + i;
    h.replay_priority = VEXFS_PRIORITY_NORMAL;

    static struct vexfs_context c;
    memset(&c, 0, sizeof c);
    char text[VEXFS_PATH_MAX];
    c.transaction_id = 7000u + i;
    c.session_id = 0xC0DEu;
    c.causality_chain_id = 500u;
    if (i == 7) {
        /* 4095 bytes: the longest path char[PATH_MAX] holds. */
        memset(text, 'p', VEXFS_PATH_MAX - 1);
        text[0] = '/';
        text[VEXFS_PATH_MAX - 1] = '\0';
    } else {
        snprintf(text, sizeof text, "/c/image/event-%u", i);
    }
    set_str(c.path, sizeof c.path, text);
    c.inode_number = 100u + i;
    c.file_type = 0100644;
    c.graph_node_id = 10u + i;
    c.graph_edge_id = 20u + i;
    c.graph_operation_type = i % 4u;
    c.vector_id = 30u + i;
    c.vector_dimensions = 128u * i;
    c.vector_element_type = 1;
    snprintf(text, sizeof text, "c-writer-%u", i);
    set_str(c.agent_id, sizeof c.agent_id, text);
    snprintf(text, sizeof text, "intent %u", i);
    set_str(c.agent_intent, sizeof c.agent_intent, text);
    c.agent_confidence = 90;
    c.system_load = 10u * i;
    c.memory_usage = (uint64_t)i << 20;
    c.io_pressure = i;
    snprintf(text, sizeof text, "{\"i\":%u}", i);
    set_str(c.semantic_tags, sizeof c.semantic_tags, text);
    snprintf(text, sizeof text, "c image %u", i);
    set_str(c.semantic_intent, sizeof c.semantic_intent, text);
    c.semantic_confidence = 80;

    unsigned char *buf = calloc(1, size);
    if (buf == NULL) {
        die("out of memory", size);
    }
    size_t pos = 0;
    memcpy(buf + pos, &h, sizeof h);
    pos += sizeof h;
    memcpy(buf + pos, &c, sizeof c);
    pos += sizeof c;
    for (uint32_t j = 0; j < plen; j++) {
        buf[pos + j] = payload_byte(i, j);
    }
    pos += plen;
    memcpy(buf + pos, metadata, (size_t)mlen);
    pos += (size_t)mlen;
    for (unsigned j = 0; j < nlinks; j++) {
        struct vexfs_causality_link l;
        memset(&l, 0, sizeof l);
        l.cause_event_id = 1000u + i - 1u - j;
        l.effect_event_id = 1000u + i;
        l.causality_type = j + 1u;
        l.causality_strength = 50u + j;
        l.causality_delay = -(int64_t)j * 10;
        snprintf(text, sizeof text, "link %u.%u", i, j);
        set_str(l.description, sizeof l.description, text);
        memcpy(buf + pos, &l, sizeof l);
        pos += sizeof l;
    }
    if (pos != size) {
        die("event size", i);
    }
    uint32_t crc = vexfs_crc32_le(0, buf, size); /* checksum field is still zero */
    memcpy(buf + VEXFS_EVENT_CHECKSUM_OFFSET, &crc, sizeof crc);
    *size_out = size;
    return buf;
}

static uint32_t round_up(uint32_t n)
{
    return (n + VEXFS_KERNEL_BLOCK_SIZE - 1u) / VEXFS_KERNEL_BLOCK_SIZE * VEXFS_KERNEL_BLOCK_SIZE;
}

static int write_image(const char *path)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    uint64_t offset = 0;
    unsigned next = 1;
    for (unsigned b = 0; b < C_BLOCKS; b++) {
        unsigned char *events[8];
        uint32_t sizes[8];
        uint32_t data_size = 0;
        for (unsigned k = 0; k < BLOCK_EVENTS[b]; k++) {
            events[k] = build_event(next + k, &sizes[k]);
            data_size += sizes[k];
        }
        const uint32_t block_size = round_up(VEXFS_BLOCK_HEADER_SIZE + data_size);
        unsigned char *block = calloc(1, block_size);
        if (block == NULL) {
            die("out of memory", block_size);
        }
        size_t pos = VEXFS_BLOCK_HEADER_SIZE;
        for (unsigned k = 0; k < BLOCK_EVENTS[b]; k++) {
            memcpy(block + pos, events[k], sizes[k]);
            pos += sizes[k];
        }
        struct vexfs_event_header first, last;
        memcpy(&first, events[0], sizeof first);
        memcpy(&last, events[BLOCK_EVENTS[b] - 1], sizeof last);

        struct vexfs_block_header bh;
        memset(&bh, 0, sizeof bh);
        bh.block_magic = VEXFS_BLOCK_MAGIC;
        bh.block_version = VEXFS_BLOCK_VERSION;
        bh.block_id = b + 1u;
        bh.block_size = block_size;
        bh.event_count = BLOCK_EVENTS[b];
        bh.compression_type = VEXFS_COMPRESSION_NONE;
        bh.compressed_size = data_size;
        bh.uncompressed_size = data_size;
        bh.block_checksum = vexfs_crc32_le(0, block + VEXFS_BLOCK_HEADER_SIZE, data_size);
        bh.first_event_time = first.timestamp;
        bh.last_event_time = last.timestamp;
        bh.first_event_id = first.event_id;
        bh.last_event_id = last.event_id;
        memcpy(block, &bh, sizeof bh);

        if (fwrite(block, 1, block_size, f) != block_size) {
            die("write", offset);
        }
        printf("block %u %" PRIu64 " %" PRIu32 " %u 0x%08" PRIx32 "\n", b + 1u, offset, block_size,
               BLOCK_EVENTS[b], bh.block_checksum);
        for (unsigned k = 0; k < BLOCK_EVENTS[b]; k++) {
            struct vexfs_event_header h;
            memcpy(&h, events[k], sizeof h);
            printf("event %" PRIu64 " %" PRIu64 " %" PRIu32 " 0x%08" PRIx32 "\n", h.event_id,
                   h.global_sequence, h.event_size, h.checksum);
            free(events[k]);
        }
        offset += block_size;
        next += BLOCK_EVENTS[b];
        free(block);
    }
    if (fclose(f) != 0) {
        die("close", offset);
    }
    printf("image %" PRIu64 " %u %u\n", offset, C_BLOCKS, C_EVENTS);
    return 0;
}

/* Checks a char[cap] field: NUL-terminated, zeros after the NUL; returns its length. */
static size_t check_str(const char *field, size_t cap, const char *what, uint64_t where)
{
    size_t len = 0;
    while (len < cap && field[len] != 0) {
        len++;
    }
    if (len == cap) {
        die(what, where);
    }
    for (size_t k = len; k < cap; k++) {
        if (field[k] != 0) {
            die(what, where);
        }
    }
    return len;
}

static int read_image(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }
    uint64_t offset = 0;
    unsigned blocks = 0, total_events = 0;
    for (;;) {
        struct vexfs_block_header bh;
        size_t got = fread(&bh, 1, sizeof bh, f);
        if (got == 0) {
            break;
        }
        if (got != sizeof bh) {
            die("truncated block header", offset);
        }
        if (bh.block_magic != VEXFS_BLOCK_MAGIC) {
            die("block magic", offset);
        }
        if (bh.block_version != VEXFS_BLOCK_VERSION) {
            die("block version", offset);
        }
        if (bh.compression_type != VEXFS_COMPRESSION_NONE) {
            die("block compression (this reader takes uncompressed images)", offset);
        }
        if (bh.compressed_size != bh.uncompressed_size) {
            die("compressed_size != uncompressed_size", offset);
        }
        if (bh.block_size % VEXFS_KERNEL_BLOCK_SIZE != 0 ||
            bh.block_size != round_up(VEXFS_BLOCK_HEADER_SIZE + bh.compressed_size)) {
            die("block_size", offset);
        }
        unsigned char *rest = malloc(bh.block_size - VEXFS_BLOCK_HEADER_SIZE);
        if (rest == NULL) {
            die("out of memory", offset);
        }
        if (fread(rest, 1, bh.block_size - VEXFS_BLOCK_HEADER_SIZE, f) !=
            bh.block_size - VEXFS_BLOCK_HEADER_SIZE) {
            die("truncated block", offset);
        }
        if (vexfs_crc32_le(0, rest, bh.compressed_size) != bh.block_checksum) {
            die("block checksum", offset);
        }
        for (uint32_t k = bh.compressed_size; k < bh.block_size - VEXFS_BLOCK_HEADER_SIZE; k++) {
            if (rest[k] != 0) {
                die("non-zero padding", offset + VEXFS_BLOCK_HEADER_SIZE + k);
            }
        }
        printf("block %" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64
               " 0x%08" PRIx32 "\n",
               bh.block_id, offset, bh.block_size, bh.event_count, bh.first_event_id,
               bh.last_event_id, bh.block_checksum);
        uint32_t pos = 0;
        unsigned count = 0;
        struct vexfs_event_header first, last;
        memset(&first, 0, sizeof first);
        memset(&last, 0, sizeof last);
        while (pos < bh.compressed_size) {
            uint64_t at = offset + VEXFS_BLOCK_HEADER_SIZE + pos;
            struct vexfs_event_header h;
            if (bh.compressed_size - pos < sizeof h) {
                die("truncated event header", at);
            }
            memcpy(&h, rest + pos, sizeof h);
            if (h.context_size != VEXFS_CONTEXT_SIZE) {
                die("context_size", at);
            }
            if (h.event_version != VEXFS_EVENT_VERSION) {
                die("event_version", at);
            }
            if (h.payload_size > VEXFS_MAX_EVENT_PAYLOAD || h.metadata_size > VEXFS_MAX_METADATA ||
                h.causality_link_count > VEXFS_MAX_CAUSALITY_LINKS) {
                die("event section over the kernel limits", at);
            }
            uint64_t expect = (uint64_t)VEXFS_EVENT_HEADER_SIZE + VEXFS_CONTEXT_SIZE + h.payload_size +
                              h.metadata_size +
                              (uint64_t)h.causality_link_count * VEXFS_CAUSALITY_LINK_SIZE;
            if (h.event_size != expect || h.event_size > bh.compressed_size - pos) {
                die("event_size", at);
            }
            unsigned char *ev = rest + pos;
            uint32_t stored = h.checksum;
            uint32_t zero = 0;
            memcpy(ev + VEXFS_EVENT_CHECKSUM_OFFSET, &zero, sizeof zero);
            uint32_t crc = vexfs_crc32_le(0, ev, h.event_size);
            memcpy(ev + VEXFS_EVENT_CHECKSUM_OFFSET, &stored, sizeof stored);
            if (crc != stored) {
                die("event checksum", at);
            }
            struct vexfs_context c;
            memcpy(&c, ev + VEXFS_EVENT_HEADER_SIZE, sizeof c);
            size_t path_len = check_str(c.path, sizeof c.path, "path field", at);
            check_str(c.agent_id, sizeof c.agent_id, "agent_id field", at);
            check_str(c.agent_intent, sizeof c.agent_intent, "agent_intent field", at);
            check_str(c.semantic_tags, sizeof c.semantic_tags, "semantic_tags field", at);
            check_str(c.semantic_intent, sizeof c.semantic_intent, "semantic_intent field", at);
            const unsigned char *links = ev + VEXFS_EVENT_HEADER_SIZE + VEXFS_CONTEXT_SIZE +
                                         h.payload_size + h.metadata_size;
            for (uint32_t l = 0; l < h.causality_link_count; l++) {
                struct vexfs_causality_link link;
                memcpy(&link, links + (size_t)l * sizeof link, sizeof link);
                check_str(link.description, sizeof link.description, "link description", at);
            }
            uint32_t payload_crc =
                vexfs_crc32_le(0, ev + VEXFS_EVENT_HEADER_SIZE + VEXFS_CONTEXT_SIZE, h.payload_size);
            printf("event %" PRIu64 " %" PRIu64 " %" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu32
                   " 0x%08" PRIx32 " 0x%08" PRIx32 " %.*s\n",
                   h.event_id, h.global_sequence, h.event_type, h.payload_size, h.metadata_size,
                   h.causality_link_count, stored, payload_crc, (int)(path_len > 64 ? 64 : path_len),
                   c.path);
            if (count == 0) {
                first = h;
            }
            last = h;
            count++;
            pos += h.event_size;
        }
        if (count != bh.event_count) {
            die("event_count", offset);
        }
        if (count > 0 && (first.event_id != bh.first_event_id || last.event_id != bh.last_event_id ||
                          memcmp(&first.timestamp, &bh.first_event_time, sizeof bh.first_event_time) != 0 ||
                          memcmp(&last.timestamp, &bh.last_event_time, sizeof bh.last_event_time) != 0)) {
            die("block header disagrees with its events", offset);
        }
        free(rest);
        offset += bh.block_size;
        blocks++;
        total_events += count;
    }
    fclose(f);
    printf("ok %u %u\n", blocks, total_events);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s write OUTPUT | read INPUT\n", argv[0]);
        return 2;
    }
    int rc;
    if (strcmp(argv[1], "write") == 0) {
        rc = write_image(argv[2]);
    } else if (strcmp(argv[1], "read") == 0) {
        rc = read_image(argv[2]);
    } else {
        fprintf(stderr, "usage: %s write OUTPUT | read INPUT\n", argv[0]);
        return 2;
    }
    if (fflush(stdout) != 0) {
        return 1;
    }
    return rc;
}
