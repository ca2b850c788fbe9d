//! Pins every size and offset of `KERNEL-FORMAT.md`. The expected values are written
//! out here by hand from the document, independently of the code they check.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

use vexfs_journal_format::consts::*;
use vexfs_journal_format::layout::{StructLayout, all_layouts};

/// (struct, size, [(field, offset, size)]) transcribed from KERNEL-FORMAT.md.
#[rustfmt::skip]
const EXPECTED: &[(&str, usize, &[(&str, usize, usize)])] = &[
    ("vexfs_timestamp", 24, &[("ktime", 0, 8), ("sequence", 8, 8), ("cpu_id", 16, 4), ("process_id", 20, 4)]),
    (
        "vexfs_event_header",
        132,
        &[
            ("event_id", 0, 8), ("event_type", 8, 4), ("event_subtype", 12, 4), ("timestamp", 16, 24),
            ("global_sequence", 40, 8), ("local_sequence", 48, 8), ("event_flags", 56, 4),
            ("event_priority", 60, 4), ("event_size", 64, 4), ("context_size", 68, 4),
            ("payload_size", 72, 4), ("metadata_size", 76, 4), ("event_version", 80, 4),
            ("checksum", 84, 4), ("compression_type", 88, 4), ("encryption_type", 92, 4),
            ("causality_link_count", 96, 4), ("parent_event_id", 100, 8),
            ("root_cause_event_id", 108, 8), ("agent_visibility_mask", 116, 8),
            ("agent_relevance_score", 124, 4), ("replay_priority", 128, 4),
        ],
    ),
    (
        "vexfs_context",
        5280,
        &[
            ("transaction_id", 0, 8), ("session_id", 8, 8), ("causality_chain_id", 16, 8),
            ("path", 24, 4096), ("inode_number", 4120, 8), ("file_type", 4128, 4),
            ("graph_node_id", 4132, 8), ("graph_edge_id", 4140, 8), ("graph_operation_type", 4148, 4),
            ("vector_id", 4152, 8), ("vector_dimensions", 4160, 4), ("vector_element_type", 4164, 4),
            ("agent_id", 4168, 64), ("agent_intent", 4232, 256), ("agent_confidence", 4488, 4),
            ("system_load", 4492, 4), ("memory_usage", 4496, 8), ("io_pressure", 4504, 4),
            ("semantic_tags", 4508, 512), ("semantic_intent", 5020, 256),
            ("semantic_confidence", 5276, 4),
        ],
    ),
    (
        "vexfs_causality_link",
        160,
        &[
            ("cause_event_id", 0, 8), ("effect_event_id", 8, 8), ("causality_type", 16, 4),
            ("causality_strength", 20, 4), ("causality_delay", 24, 8), ("description", 32, 128),
        ],
    ),
    (
        "vexfs_block_header",
        104,
        &[
            ("block_magic", 0, 4), ("block_version", 4, 4), ("block_id", 8, 8), ("block_size", 16, 4),
            ("event_count", 20, 4), ("compression_type", 24, 4), ("compressed_size", 28, 4),
            ("uncompressed_size", 32, 4), ("block_checksum", 36, 4), ("first_event_time", 40, 24),
            ("last_event_time", 64, 24), ("first_event_id", 88, 8), ("last_event_id", 96, 8),
        ],
    ),
    (
        "vexfs_file_header",
        128,
        &[
            ("magic", 0, 4), ("version_major", 4, 4), ("version_minor", 8, 4), ("total_events", 12, 8),
            ("next_event_id", 20, 8), ("journal_size", 28, 8), ("index_offset", 36, 8), ("flags", 44, 4),
            ("checksum", 48, 4), ("userspace_marker", 52, 4), ("compression_algorithm", 56, 4),
            ("encryption_algorithm", 60, 4), ("last_checkpoint_sequence", 64, 8),
            ("last_kernel_sync_sequence", 72, 8), ("creation_timestamp", 80, 8),
            ("modification_timestamp", 88, 8), ("reserved", 96, 32),
        ],
    ),
    (
        "vexfs_record_ext",
        72,
        &[
            ("userspace_flags", 0, 4), ("emission_latency_ns", 4, 8), ("buffer_position", 12, 8),
            ("cross_boundary_id", 20, 8), ("userspace_sequence", 28, 8), ("processing_timestamp", 36, 8),
            ("persistence_timestamp", 44, 8), ("retry_count", 52, 4), ("reserved", 56, 16),
        ],
    ),
];

fn find(layouts: &[StructLayout], name: &str) -> StructLayout {
    layouts
        .iter()
        .find(|l| l.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no layout {name}"))
}

#[test]
fn every_struct_size_and_offset_matches_the_document() {
    let layouts = all_layouts();
    assert_eq!(layouts.len(), EXPECTED.len());
    for (name, size, fields) in EXPECTED {
        let actual = find(&layouts, name);
        assert_eq!(actual.size, *size, "size of {name}");
        let got: Vec<(&str, usize, usize)> = actual
            .fields
            .iter()
            .map(|f| (f.name, f.offset, f.size))
            .collect();
        assert_eq!(got, fields.to_vec(), "fields of {name}");
        // Packed: fields tile the struct with no gap and no padding at the end.
        let mut end = 0;
        for f in &actual.fields {
            assert_eq!(f.offset, end, "{name}.{} leaves a gap", f.name);
            end = f.offset + f.size;
        }
        assert_eq!(end, *size, "{name} has trailing padding");
    }
}

#[test]
fn constants_match_the_document() {
    assert_eq!(SEMJ_MAGIC, 0x5345_4D4A);
    assert_eq!(&SEMJ_MAGIC.to_be_bytes(), b"SEMJ");
    assert_eq!(&VEXF_MAGIC.to_be_bytes(), b"VEXF");
    assert_eq!(&BLOCK_MAGIC.to_be_bytes(), b"USJL");
    assert_eq!(&USERSPACE_MARKER.to_be_bytes(), b"USRS");
    assert_eq!((VERSION_MAJOR, VERSION_MINOR), (1, 0));
    assert_eq!(KERNEL_BLOCK_SIZE, 4096);
    assert_eq!(MAX_EVENTS, 10_000_000);
    assert_eq!(MAX_PAYLOAD_SIZE, 65_536);
    assert_eq!(MAX_CONTEXT_SIZE, 4_096);
    assert_eq!(MAX_METADATA_SIZE, 2_048);
    assert_eq!(MAX_CAUSALITY_LINKS, 256);
    assert_eq!(MAX_AGENT_CONTEXTS, 64);
    assert_eq!(PATH_MAX, 4096);
    assert_eq!(MIN_KERNEL_EVENT_SIZE, 5412);
    assert_eq!(
        (
            TIMESTAMP_SIZE,
            EVENT_HEADER_SIZE,
            CONTEXT_SIZE,
            CAUSALITY_LINK_SIZE
        ),
        (24, 132, 5280, 160)
    );
    assert_eq!(
        (BLOCK_HEADER_SIZE, FILE_HEADER_SIZE, RECORD_EXT_SIZE),
        (104, 128, 72)
    );
}

#[test]
fn magic_bytes_on_disk_are_little_endian() {
    // The u32 magic is stored little-endian: "SEMJ" as a number reads "JMES" in a hex dump.
    let header = vexfs_journal_format::FileHeader::new().to_bytes();
    assert_eq!(&header[0..4], &SEMJ_MAGIC.to_le_bytes());
    assert_eq!(&header[0..4], b"JMES");
    assert_eq!(&header[52..56], b"SRSU");
}
