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

/// A storage block (version 1) holding the category events as userspace records.
pub fn storage_block(compression: Compression) -> Result<Vec<u8>> {
    sample_block(compression, false)
}

/// A framed (version 2) LZ4 storage block holding the category events: more than one
/// frame, so the fixture pins the frame table.
#[cfg(feature = "lz4")]
pub fn framed_storage_block() -> Result<Vec<u8>> {
    sample_block(Compression::Lz4, true)
}

fn sample_block(compression: Compression, framed: bool) -> Result<Vec<u8>> {
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
    if framed {
        crate::block::encode_data(
            compression,
            &data,
            span.first_seq,
            3,
            crate::frames::DEFAULT_FRAME_BYTES,
            &mut stored,
        )?;
    } else {
        compress(compression, &data, 3, &mut stored)?;
    }
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
        framed,
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
    #[cfg(feature = "lz4")]
    out.push((
        "storage_block_lz4_framed.bin".into(),
        framed_storage_block()?,
    ));
    out.push(("file_header.bin".into(), file_header().to_bytes().to_vec()));
    out.push((
        "manifest.bin".into(),
        crate::manifest::encode_manifest(&manifest()),
    ));
    let mut footer = Vec::new();
    crate::footer::encode_footer(&block_entries(), &mut footer);
    out.push(("segment_footer.bin".into(), footer));
    let (first_seq, end) = clean_marker();
    out.push((
        "clean_marker.bin".into(),
        crate::footer::encode_clean_marker(first_seq, end, &block_entries()),
    ));
    out.push((
        "checkpoint.bin".into(),
        crate::checkpoint::encode_checkpoint(&checkpoint()),
    ));
    let (blocks, terms) = index_file();
    let counts = index_counts();
    let terms_ref = crate::index_file::TermsRef {
        paths: &terms.paths,
        agents: &terms.agents,
        txs: &terms.txs,
        counts: &counts,
        refs: &terms.refs,
        ids: &terms.ids,
    };
    out.push((
        "index_file.bin".into(),
        crate::index_file::encode_index(1, 128 + 2 * 4_000, &blocks, terms_ref),
    ));
    out.push(("cursor.bin".into(), crate::cursor::encode_cursor(&cursor())));
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

/// The block table of the footer, clean-marker and checkpoint fixtures: two blocks.
pub fn block_entries() -> Vec<crate::footer::BlockEntry> {
    (0..2u64)
        .map(|i| crate::footer::BlockEntry {
            first_seq: 1 + i * 100,
            last_seq: 100 + i * 100,
            offset: 128 + i * 4_000,
            min_time: 1_764_000_000_000_000_000 + i as i64,
            max_time: 1_764_000_001_000_000_000 + i as i64,
            size: 4_000,
            event_count: 100,
            raw_size: 9_000 + i as u32,
            reserved: 0,
        })
        .collect()
}

/// The clean-marker fixture's (segment first sequence, segment length).
pub fn clean_marker() -> (u64, u64) {
    (1, 128 + 2 * 4_000)
}

/// The checkpoint fixture: two consumers and [`block_entries`].
pub fn checkpoint() -> crate::checkpoint::CheckpointData {
    crate::checkpoint::CheckpointData {
        id: 3,
        created_ns: 1_764_000_002_000_000_000,
        journal_id: *b"vexfs-checkpoint",
        durable_seq: 201,
        segment_first_seq: 1,
        segment_end: 128 + 2 * 4_000,
        consumers: alloc::vec![("indexer".into(), 150), ("replicator".into(), 200)],
        blocks: block_entries(),
    }
}

/// The index-file fixture: summaries of two blocks and a few terms (segment 1,
/// covered up to byte 8128).
pub fn index_file() -> (
    Vec<crate::index_file::BlockSummary>,
    crate::index_file::IndexTerms,
) {
    use crate::index_file::{BlockSummary, IndexTerms};
    let blocks = (0..2u64)
        .map(|i| BlockSummary {
            first_seq: 1 + i * 100,
            last_seq: 100 + i * 100,
            min_time: 1_764_000_000_000_000_000 + i as i64,
            max_time: 1_764_000_001_000_000_000 + i as i64,
            type_bits: 0b101 << i,
            vis_or: 0xFF,
            prio_bits: 0b110,
            count: 100,
            flags: i as u8,
        })
        .collect();
    let mut terms = IndexTerms::default();
    terms.paths.insert("/models/a".into(), alloc::vec![0]);
    terms.paths.insert("/models/b".into(), alloc::vec![0, 1]);
    terms.agents.insert("planner-7".into(), alloc::vec![1]);
    terms.txs.insert(300, alloc::vec![0, 1]);
    terms.refs.insert(42, alloc::vec![1]);
    terms.ids.insert(0x1_0000_0007, alloc::vec![0]);
    (blocks, terms)
}

/// The counts of the index-file fixture's two blocks (100 events each).
pub fn index_counts() -> crate::index_file::BlockCounts {
    let mut c = crate::index_file::BlockCounts::default();
    c.push_block(0x0F, &[(0x0101, 60), (0x0103, 40)]);
    c.push_block(0x01, &[(0x0102, 30), (0x0104, 70)]);
    c.agents.insert("".into(), alloc::vec![(0, 100), (1, 99)]);
    c.agents.insert("planner-7".into(), alloc::vec![(1, 1)]);
    c
}

/// The cursor fixture: a reverse query's position in generation 2.
pub fn cursor() -> crate::cursor::CursorBytes {
    crate::cursor::CursorBytes {
        journal_id: *b"vexfs-cursor-001",
        seq: 4_242,
        reverse: true,
        generation: 2,
    }
}
