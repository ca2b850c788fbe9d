//! Deterministic sample events: the source of the golden fixtures and of tests.
//!
//! Changing anything here changes the fixtures; regenerate them with
//! `cargo xtask fixtures` and review the diff.

use alloc::format;
use alloc::vec::Vec;

use crate::block::{BlockHeader, EventSpan, compress};
use crate::checksum::kernel_crc32;
use crate::consts::BLOCK_HEADER_SIZE;
use crate::error::Result;
use crate::event::{CausalityLink, Event, Timestamp};
use crate::file_header::FileHeader;
use crate::record::{RecordExt, encode_record};
use crate::types::*;

/// One fully populated event per category, in category order, with ids 1… .
pub fn category_events() -> Vec<(&'static str, Event)> {
    let events = [
        (
            "filesystem",
            Event::filesystem(FsOp::Write)
                .path("/models/llama/weights.bin")
                .inode(4242)
                .file_type(0o100644),
        ),
        (
            "graph",
            Event::graph(GraphOp::EdgeCreate)
                .graph_node(77)
                .graph_edge(9001)
                .graph_operation(4),
        ),
        (
            "vector",
            Event::vector(VectorOp::Search)
                .vector_ref(31337, 768)
                .vector_element_type(1),
        ),
        (
            "agent",
            Event::agent(AgentOp::Decision)
                .agent_id("planner-7")
                .intent("compact the embeddings cache")
                .confidence(87),
        ),
        (
            "system",
            Event::system(SystemOp::Checkpoint)
                .system_load(42)
                .memory_usage(3 << 30)
                .io_pressure(12),
        ),
        (
            "semantic",
            Event::semantic(SemanticOp::TransactionBegin)
                .tags(r#"["tx","begin"]"#)
                .semantic_intent("bulk import")
                .semantic_confidence(99),
        ),
        (
            "observability",
            Event::observability(ObservabilityOp::AuditEvent)
                .agent_id("auditor")
                .tags(r#"{"decision":"allow"}"#),
        ),
    ];
    events
        .into_iter()
        .enumerate()
        .map(|(i, (name, ev))| {
            let id = i as u64 + 1;
            let ev = ev
                .tx(1000 + id)
                .session(0xC0FFEE)
                .causality_chain(500 + id)
                .subtype(id as u32)
                .flags(EventFlags::CAUSAL | EventFlags::AGENT_VISIBLE)
                .priority(Priority::HIGH)
                .parent(id.saturating_sub(1))
                .root_cause(1)
                .relevance(60 + id as u32)
                .timestamp(Timestamp {
                    ktime_ns: 1_767_225_600_000_000_000 + id as i64 * 1_000_000,
                    sequence: id,
                    cpu_id: (id % 2) as u32,
                    process_id: 4321,
                })
                .payload(format!("{name} payload #{id}").into_bytes())
                .metadata(format!(r#"{{"sample":{id},"category":"{name}"}}"#).into_bytes())
                .link(CausalityLink {
                    cause_event_id: id.saturating_sub(1),
                    effect_event_id: id,
                    causality_type: 1,
                    strength: 80,
                    delay_ns: 1500,
                    description: format!("{name} follows its predecessor").into(),
                })
                .link(CausalityLink {
                    cause_event_id: 1,
                    effect_event_id: id,
                    causality_type: 2,
                    strength: 40,
                    delay_ns: 0,
                    description: "".into(),
                });
            (name, with_ids(ev, id))
        })
        .collect()
}

/// An event with an empty payload, no metadata, no links and an empty context.
pub fn empty_event() -> Event {
    let ev = Event::system(SystemOp::Sync).timestamp(Timestamp {
        ktime_ns: 1_767_225_600_000_000_000,
        sequence: 100,
        cpu_id: 0,
        process_id: 1,
    });
    let mut ev = with_ids(ev, 100);
    ev.root_cause_event_id = 100;
    ev
}

fn with_ids(mut ev: Event, id: u64) -> Event {
    ev.event_id = id;
    ev.global_sequence = id;
    ev.local_sequence = id;
    ev
}

/// The record extension used for sample event `ev`.
pub fn sample_ext(ev: &Event) -> RecordExt {
    RecordExt {
        userspace_flags: 0,
        emission_latency_ns: 250,
        buffer_position: ev.global_sequence % 1024,
        cross_boundary_id: 0,
        userspace_sequence: ev.global_sequence,
        processing_timestamp: 1_767_225_600_000_500_000 + ev.global_sequence,
        persistence_timestamp: 1_767_225_600_001_000_000,
        retry_count: 0,
    }
}

/// A storage block holding the category events as userspace records.
pub fn storage_block(compression: Compression) -> Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut span = EventSpan::default();
    for (_, ev) in category_events() {
        encode_record(&ev, &sample_ext(&ev), &mut data)?;
        span.push(
            sample_ext(&ev).userspace_sequence,
            ev.event_id,
            ev.timestamp,
        );
    }
    let mut stored = Vec::new();
    compress(compression, &data, 3, &mut stored)?;
    let header = BlockHeader {
        block_id: span.first_seq,
        block_size: (BLOCK_HEADER_SIZE + stored.len()) as u32,
        event_count: span.count,
        compression,
        compressed_size: stored.len() as u32,
        uncompressed_size: data.len() as u32,
        block_checksum: kernel_crc32(&stored),
        first_event_time: span.first_time,
        last_event_time: span.last_time,
        first_event_id: span.first_id,
        last_event_id: span.last_id,
    };
    let mut out = header.to_bytes().to_vec();
    out.extend_from_slice(&stored);
    Ok(out)
}

/// A populated file header.
pub fn file_header() -> FileHeader {
    FileHeader {
        total_events: 7,
        next_event_id: 8,
        journal_size: 128 + 4096,
        flags: 1,
        compression_algorithm: Compression::Lz4.code(),
        last_checkpoint_sequence: 5,
        last_kernel_sync_sequence: 3,
        creation_timestamp: 1_767_225_600,
        modification_timestamp: 1_767_225_660,
        ..FileHeader::new()
    }
}

/// Every golden fixture as `(file name, bytes)`; `cargo xtask fixtures` writes them to
/// `fixtures/` and the golden tests compare them byte for byte.
pub fn fixtures() -> Result<Vec<(alloc::string::String, Vec<u8>)>> {
    let mut out = Vec::new();
    let mut records = Vec::new();
    for (name, ev) in category_events() {
        let mut bytes = Vec::new();
        crate::kernel::encode_kernel_event(&ev, &mut bytes)?;
        out.push((format!("kernel_event_{name}.bin"), bytes));
        encode_record(&ev, &sample_ext(&ev), &mut records)?;
    }
    let mut empty = Vec::new();
    crate::kernel::encode_kernel_event(&empty_event(), &mut empty)?;
    out.push(("kernel_event_empty.bin".into(), empty));
    out.push(("records.bin".into(), records));
    let mut empty_record = Vec::new();
    let ev = empty_event();
    encode_record(&ev, &sample_ext(&ev), &mut empty_record)?;
    out.push(("record_empty.bin".into(), empty_record));
    out.push((
        "storage_block_none.bin".into(),
        storage_block(Compression::None)?,
    ));
    #[cfg(feature = "lz4")]
    out.push((
        "storage_block_lz4.bin".into(),
        storage_block(Compression::Lz4)?,
    ));
    out.push(("file_header.bin".into(), file_header().to_bytes().to_vec()));
    out.push((
        "manifest.bin".into(),
        crate::manifest::encode_manifest(&manifest()),
    ));
    Ok(out)
}

/// The manifest fixture: a sealed segment, an open one and a compaction removal.
pub fn manifest() -> crate::manifest::Manifest {
    use crate::manifest::{Manifest, ManifestSegment, Removal, RemovalReason, SegmentState};
    Manifest {
        journal_id: *b"vexfs-manifest-1",
        generation: 2,
        next_seq_floor: 4_097,
        updated_ns: 1_764_000_000_000_000_000,
        segments: alloc::vec![
            ManifestSegment {
                first_seq: 1,
                next_seq: 2_049,
                events: 1_948,
                min_time: 1_764_000_000_000_000_000,
                max_time: 1_764_000_060_000_000_000,
                file_len: 199_804,
                created: 1_764_000_000,
                checksum: 0x1234_5678,
                state: SegmentState::Sealed,
            },
            ManifestSegment::open(2_049, 1_764_000_060),
        ],
        removals: alloc::vec![Removal {
            first_seq: 101,
            end_seq: 201,
            generation: 2,
            time_ns: 1_764_000_030_000_000_000,
            reason: RemovalReason::Compaction,
        }],
    }
}
