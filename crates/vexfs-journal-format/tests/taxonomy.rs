//! The event taxonomy: every code of the document, canonical names both ways, unknown
//! codes kept unchanged.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

use vexfs_journal_format::*;

/// (code, canonical name), transcribed from KERNEL-FORMAT.md.
#[rustfmt::skip]
const TABLE: &[(u32, &str)] = &[
    (0x0101, "filesystem.create"), (0x0102, "filesystem.delete"), (0x0103, "filesystem.read"),
    (0x0104, "filesystem.write"), (0x0105, "filesystem.rename"), (0x0106, "filesystem.chmod"),
    (0x0107, "filesystem.chown"), (0x0108, "filesystem.truncate"), (0x0109, "filesystem.mkdir"),
    (0x010A, "filesystem.rmdir"), (0x010B, "filesystem.symlink"), (0x010C, "filesystem.hardlink"),
    (0x0201, "graph.node_create"), (0x0202, "graph.node_delete"), (0x0203, "graph.node_update"),
    (0x0204, "graph.edge_create"), (0x0205, "graph.edge_delete"), (0x0206, "graph.edge_update"),
    (0x0207, "graph.property_set"), (0x0208, "graph.property_delete"), (0x0209, "graph.traverse"),
    (0x020A, "graph.query"),
    (0x0301, "vector.create"), (0x0302, "vector.delete"), (0x0303, "vector.update"),
    (0x0304, "vector.search"), (0x0305, "vector.index"), (0x0306, "vector.similarity"),
    (0x0307, "vector.cluster"), (0x0308, "vector.embed"),
    (0x0401, "agent.query"), (0x0402, "agent.reasoning"), (0x0403, "agent.decision"),
    (0x0404, "agent.orchestration"), (0x0405, "agent.learning"), (0x0406, "agent.interaction"),
    (0x0501, "system.mount"), (0x0502, "system.unmount"), (0x0503, "system.sync"),
    (0x0504, "system.checkpoint"), (0x0505, "system.recovery"), (0x0506, "system.optimization"),
    (0x0601, "semantic.transaction_begin"), (0x0602, "semantic.transaction_end"),
    (0x0603, "semantic.causality_link"), (0x0604, "semantic.intent_capture"),
    (0x0605, "semantic.context_switch"), (0x0606, "semantic.semantic_link"),
    (0x0801, "observability.metric_collected"), (0x0802, "observability.log_generated"),
    (0x0803, "observability.trace_span_start"), (0x0804, "observability.trace_span_end"),
    (0x0805, "observability.alert_triggered"), (0x0806, "observability.health_check"),
    (0x0807, "observability.performance_counter"), (0x0808, "observability.error_reported"),
    (0x0809, "observability.audit_event"), (0x080A, "observability.system_status"),
    (0x080B, "observability.resource_usage"), (0x080C, "observability.threshold"),
];

#[test]
fn every_documented_type_has_its_code_and_name() {
    let all: Vec<EventType> = EventType::all().collect();
    assert_eq!(all.len(), TABLE.len());
    for (code, name) in TABLE {
        let t = EventType::from_code(*code);
        assert!(t.is_known(), "{name}");
        assert_eq!(t.to_string(), *name);
        assert_eq!(name.parse::<EventType>().unwrap(), t);
        assert_eq!(name.to_uppercase().parse::<EventType>().unwrap(), t);
        assert_eq!(format!("0x{code:04x}").parse::<EventType>().unwrap(), t);
        assert_eq!(format!("0x{code:04X}").parse::<EventType>().unwrap(), t);
        assert_eq!(code.to_string().parse::<EventType>().unwrap(), t);
        assert_eq!(t.category().code(), code & 0xFF00);
        assert!(all.contains(&t));
    }
}

#[test]
fn typed_operations_map_to_codes() {
    assert_eq!(EventType::from(FsOp::Write).code(), 0x0104);
    assert_eq!(EventType::from(GraphOp::NodeCreate).code(), 0x0201);
    assert_eq!(EventType::from(VectorOp::Embed).code(), 0x0308);
    assert_eq!(EventType::from(AgentOp::Decision).code(), 0x0403);
    assert_eq!(EventType::from(SystemOp::Optimization).code(), 0x0506);
    assert_eq!(EventType::from(SemanticOp::SemanticLink).code(), 0x0606);
    assert_eq!(EventType::from(ObservabilityOp::AuditEvent).code(), 0x0809);
    assert_eq!(
        EventType::from(ObservabilityOp::Threshold).to_string(),
        "observability.threshold"
    );
}

#[test]
fn categories() {
    let expected = [
        (0x0100, "filesystem"),
        (0x0200, "graph"),
        (0x0300, "vector"),
        (0x0400, "agent"),
        (0x0500, "system"),
        (0x0600, "semantic"),
        (0x0800, "observability"),
    ];
    assert_eq!(Category::ALL.len(), expected.len());
    for (code, name) in expected {
        let c = Category::from_code(code);
        assert_eq!(c.to_string(), name);
        assert_eq!(name.parse::<Category>().unwrap(), c);
        assert!(c.types().all(|t| t.category() == c));
        assert!(c.types().count() >= 6);
    }
    assert_eq!(Category::from_code(0x0700).to_string(), "unknown(0x0700)");
    assert_eq!(
        "unknown(0x0700)".parse::<Category>().unwrap(),
        Category::from_code(0x0700)
    );
}

#[test]
fn unknown_codes_round_trip() {
    for code in [0u32, 0x0100, 0x010D, 0x0700, 0x0999, 0xFFFF_FFFF] {
        let t = EventType::from_code(code);
        assert!(!t.is_known());
        let text = t.to_string();
        assert_eq!(text, format!("unknown(0x{code:04x})"));
        assert_eq!(text.parse::<EventType>().unwrap().code(), code);
    }
    assert!("filesystem.frobnicate".parse::<EventType>().is_err());
    assert!("".parse::<EventType>().is_err());
    assert!("0xZZ".parse::<EventType>().is_err());
}

#[test]
fn flags_priorities_compression() {
    let f = EventFlags::ATOMIC | EventFlags::REPLICATED | EventFlags::from_bits_retain(0x100);
    assert_eq!(f.to_string(), "atomic|replicated|0x100");
    assert_eq!(f.to_string().parse::<EventFlags>().unwrap(), f);
    assert_eq!(EventFlags::empty().to_string(), "none");
    assert_eq!("none".parse::<EventFlags>().unwrap(), EventFlags::empty());
    let bits = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80];
    let names = [
        "atomic",
        "transactional",
        "causal",
        "agent_visible",
        "deterministic",
        "compressed",
        "indexed",
        "replicated",
    ];
    for (bit, name) in bits.iter().zip(names) {
        assert_eq!(name.parse::<EventFlags>().unwrap().bits(), *bit);
    }
    for (code, name) in [
        (1, "critical"),
        (2, "high"),
        (3, "normal"),
        (4, "low"),
        (5, "background"),
    ] {
        assert_eq!(Priority::from_code(code).to_string(), name);
        assert_eq!(name.parse::<Priority>().unwrap().code(), code);
    }
    assert_eq!(Priority::from_code(9).to_string(), "9");
    assert!(Priority::CRITICAL < Priority::BACKGROUND);
    for (code, c) in [
        (0, Compression::None),
        (1, Compression::Zlib),
        (2, Compression::Lz4),
        (3, Compression::Zstd),
    ] {
        assert_eq!(Compression::from_code(code), Some(c));
        assert_eq!(c.name().parse::<Compression>().unwrap(), c);
    }
    assert_eq!(Compression::from_code(4), None);
}

#[test]
fn builder_applies_kernel_defaults() {
    let ev = Event::filesystem(FsOp::Write).path("/a").inode(7);
    assert_eq!(ev.priority, Priority::NORMAL);
    assert_eq!(ev.agent_visibility_mask, u64::MAX);
    assert_eq!(ev.agent_relevance_score, 50);
    assert_eq!(ev.replay_priority, 3);
    assert_eq!(ev.context.path, "/a");
    assert_eq!(ev.context.inode_number, 7);
}

#[test]
fn known_index_is_the_position_in_the_table() {
    let all: Vec<EventType> = EventType::all().collect();
    assert_eq!(all.len(), EventType::KNOWN_COUNT);
    for (i, t) in all.iter().enumerate() {
        assert_eq!(t.known_index(), Some(i), "{t}");
    }
    for code in [
        0u32,
        0x0100,
        0x010D,
        0x0700,
        0x0701,
        0x0809 | 0x1_0000,
        0x0900,
        0xFFFF_FFFF,
    ] {
        assert_eq!(EventType::from_code(code).known_index(), None, "{code:#x}");
    }
}
