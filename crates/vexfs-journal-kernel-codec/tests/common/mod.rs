//! Helpers shared by the codec's integration tests.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use proptest::prelude::*;
use vexfs_journal_format::consts::{
    AGENT_ID_CAPACITY, AGENT_INTENT_CAPACITY, LINK_DESCRIPTION_CAPACITY, MAX_CAUSALITY_LINKS,
    MAX_METADATA_SIZE, MAX_PAYLOAD_SIZE, PATH_MAX, SEMANTIC_INTENT_CAPACITY,
    SEMANTIC_TAGS_CAPACITY,
};
use vexfs_journal_format::{
    BString, CausalityLink, Event, EventFlags, EventType, Priority, Timestamp,
};

#[allow(unused_imports)]
pub use vexfs_journal_testkit::kernel::{image_bytes, kernel_event, kernel_image};

fn bstring(max: usize) -> impl Strategy<Value = BString> {
    prop::collection::vec(1u8..=255, 0..max).prop_map(BString::from)
}

/// Strings up to the longest a `char[cap]` holds, biased towards the limit.
fn fixed_string(cap: usize) -> impl Strategy<Value = BString> {
    prop_oneof![
        3 => bstring(24),
        1 => bstring(cap),
        1 => Just(BString::from(vec![b'x'; cap - 1])),
    ]
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..64),
        1 => prop::collection::vec(any::<u8>(), 0..=max),
        1 => Just(vec![0xA5; max]),
    ]
}

fn link() -> impl Strategy<Value = CausalityLink> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        any::<i64>(),
        fixed_string(LINK_DESCRIPTION_CAPACITY),
    )
        .prop_map(|(c, e, t, s, d, desc)| CausalityLink {
            cause_event_id: c,
            effect_event_id: e,
            causality_type: t,
            strength: s,
            delay_ns: d,
            description: desc,
        })
}

/// Any event the kernel layout can carry: every field arbitrary within the limits
/// (strings without NUL, up to their capacity − 1; sections up to their maximum).
pub fn kernel_fit_event() -> impl Strategy<Value = Event> {
    let ids = (
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
        (any::<i64>(), any::<u64>(), any::<u32>(), any::<u32>()),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
    );
    let header2 = (
        any::<u32>(),
        any::<u32>(),
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<u32>(),
    );
    let ctx_ints = (
        any::<[u64; 3]>(),
        any::<u64>(),
        any::<u32>(),
        any::<[u64; 2]>(),
        any::<u32>(),
        any::<u64>(),
        any::<[u32; 2]>(),
        any::<[u32; 4]>(),
        any::<u64>(),
    );
    let ctx_strs = (
        fixed_string(PATH_MAX),
        fixed_string(AGENT_ID_CAPACITY),
        fixed_string(AGENT_INTENT_CAPACITY),
        fixed_string(SEMANTIC_TAGS_CAPACITY),
        fixed_string(SEMANTIC_INTENT_CAPACITY),
    );
    let sections = (
        bytes(MAX_PAYLOAD_SIZE),
        bytes(MAX_METADATA_SIZE),
        prop_oneof![
            4 => prop::collection::vec(link(), 0..4),
            1 => prop::collection::vec(link(), MAX_CAUSALITY_LINKS..=MAX_CAUSALITY_LINKS),
        ],
    );
    (ids, header2, ctx_ints, ctx_strs, sections).prop_map(
        |(
            (id, ty, sub, (kt, ts, cpu, pid), gs, ls, flags, prio),
            (comp, enc, parent, root, vis, rel, replay),
            (ids3, inode, ftype, graph, gop, vid, vdims, conf_load_io_sem, mem),
            (path, agent, intent, tags, sintent),
            (payload, metadata, links),
        )| {
            let mut ev = Event::new(EventType::from_code(ty));
            ev.event_id = id;
            ev.subtype = sub;
            ev.timestamp = Timestamp {
                ktime_ns: kt,
                sequence: ts,
                cpu_id: cpu,
                process_id: pid,
            };
            ev.global_sequence = gs;
            ev.local_sequence = ls;
            ev.flags = EventFlags::from_bits_retain(flags);
            ev.priority = Priority::from_code(prio);
            ev.compression_type = comp;
            ev.encryption_type = enc;
            ev.parent_event_id = parent;
            ev.root_cause_event_id = root;
            ev.agent_visibility_mask = vis;
            ev.agent_relevance_score = rel;
            ev.replay_priority = replay;
            let c = &mut ev.context;
            c.transaction_id = ids3[0];
            c.session_id = ids3[1];
            c.causality_chain_id = ids3[2];
            c.path = path;
            c.inode_number = inode;
            c.file_type = ftype;
            c.graph_node_id = graph[0];
            c.graph_edge_id = graph[1];
            c.graph_operation_type = gop;
            c.vector_id = vid;
            c.vector_dimensions = vdims[0];
            c.vector_element_type = vdims[1];
            c.agent_id = agent;
            c.agent_intent = intent;
            c.agent_confidence = conf_load_io_sem[0];
            c.system_load = conf_load_io_sem[1];
            c.memory_usage = mem;
            c.io_pressure = conf_load_io_sem[2];
            c.semantic_tags = tags;
            c.semantic_intent = sintent;
            c.semantic_confidence = conf_load_io_sem[3];
            ev.payload = payload;
            ev.metadata = metadata;
            ev.links = links;
            ev
        },
    )
}
