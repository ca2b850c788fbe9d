//! The vector and graph emitters: each operation is read back from the journal with
//! its type, typed fields and metadata keys; durable emission is on disk at return;
//! bad arguments are typed errors and journal nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::Value;
use vexfs_journal::{
    Category, Config, ErrorKind, Event, EventFlags, GraphOp, Journal, JournalReader, Query,
    VectorOp,
};
use vexfs_journal_fuse::graph::{Edge, GraphEvents, GraphQuery, MAX_QUERY_LEN, Target, Traversal};
use vexfs_journal_fuse::vector::{
    ElementType, Emission, EmitError, MAX_NAME_LEN, Metric, Outcome, Search, VectorEvents,
    VectorRef,
};

fn journal() -> (tempfile::TempDir, Journal) {
    let tmp = tempfile::tempdir().unwrap();
    let journal = Journal::create(tmp.path().join("j"), Config::default()).unwrap();
    (tmp, journal)
}

/// The event with sequence `seq`, once written.
fn read(journal: &Journal, seq: u64) -> Event {
    journal.flush().unwrap();
    journal.get(seq).unwrap().expect("event present").event
}

/// The metadata object, as a sorted list of keys and the object.
fn meta(ev: &Event) -> (Vec<String>, serde_json::Map<String, Value>) {
    let v: Value = serde_json::from_slice(&ev.metadata).unwrap();
    let Value::Object(map) = v else {
        panic!("metadata is not an object: {v}")
    };
    let mut keys: Vec<String> = map.keys().cloned().collect();
    keys.sort();
    (keys, map)
}

fn keys(list: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const OK: Outcome = Outcome::ok(Duration::ZERO);

#[test]
fn vector_operations_are_typed_events() {
    let (_tmp, j) = journal();
    let v = VectorEvents::new(j.clone());
    let lat = Duration::from_micros(250);

    let create = v
        .create("docs", VectorRef::new(42, 768), Outcome::ok(lat).tx(9))
        .unwrap();
    let ev = read(&j, create);
    assert_eq!(ev.event_type, VectorOp::Create.into());
    assert_eq!(ev.event_type.to_string(), "vector.create");
    assert_eq!(ev.context.vector_id, 42);
    assert_eq!(ev.context.vector_dimensions, 768);
    assert_eq!(ev.context.vector_element_type, 1);
    assert_eq!(ev.context.transaction_id, 9);
    assert_eq!(ev.parent_event_id, 0);
    assert_eq!(ev.event_id, create);
    let (k, m) = meta(&ev);
    assert_eq!(k, keys(&["collection", "errno", "latency_ns"]));
    assert_eq!(m["collection"], "docs");
    assert_eq!(m["errno"], 0);
    assert_eq!(m["latency_ns"], 250_000);

    let update = v
        .update(
            "docs",
            VectorRef::new(42, 384).element(ElementType::Int8),
            Outcome::failed(libc_enospc(), lat).parent(create),
        )
        .unwrap();
    let ev = read(&j, update);
    assert_eq!(ev.event_type, VectorOp::Update.into());
    assert_eq!(
        (ev.context.vector_id, ev.context.vector_dimensions),
        (42, 384)
    );
    assert_eq!(ev.context.vector_element_type, 3);
    assert_eq!(ev.parent_event_id, create);
    assert!(ev.flags.contains(EventFlags::CAUSAL));
    let (k, m) = meta(&ev);
    assert_eq!(k, keys(&["collection", "errno", "latency_ns"]));
    assert_eq!(m["errno"], libc_enospc());

    let delete = v.delete("docs", 42, OK).unwrap();
    let ev = read(&j, delete);
    assert_eq!(ev.event_type, VectorOp::Delete.into());
    assert_eq!(ev.context.vector_id, 42);
    assert_eq!(ev.context.vector_dimensions, 0);
    assert_eq!(meta(&ev).0, keys(&["collection", "errno", "latency_ns"]));

    let search = v
        .search(
            "docs",
            Search::new(768, 10).results(7).metric(Metric::Cosine),
            OK,
        )
        .unwrap();
    let ev = read(&j, search);
    assert_eq!(ev.event_type, VectorOp::Search.into());
    assert_eq!(ev.context.vector_id, 0);
    assert_eq!(ev.context.vector_dimensions, 768);
    assert_eq!(ev.context.vector_element_type, 1);
    let (k, m) = meta(&ev);
    assert_eq!(
        k,
        keys(&[
            "collection",
            "errno",
            "latency_ns",
            "k",
            "results",
            "metric"
        ])
    );
    assert_eq!(
        (m["k"].clone(), m["results"].clone()),
        (10.into(), 7.into())
    );
    assert_eq!(m["metric"], "cosine");

    let index = v.index("docs", "hnsw-main", 5000, 768, OK).unwrap();
    let ev = read(&j, index);
    assert_eq!(ev.event_type, VectorOp::Index.into());
    assert_eq!(ev.context.vector_dimensions, 768);
    let (k, m) = meta(&ev);
    assert_eq!(
        k,
        keys(&["collection", "errno", "latency_ns", "index", "vectors"])
    );
    assert_eq!(m["index"], "hnsw-main");
    assert_eq!(m["vectors"], 5000);

    let embed = v
        .embed("docs", VectorRef::new(43, 768), "all-MiniLM-L6", 4096, OK)
        .unwrap();
    let ev = read(&j, embed);
    assert_eq!(ev.event_type, VectorOp::Embed.into());
    assert_eq!(
        (ev.context.vector_id, ev.context.vector_dimensions),
        (43, 768)
    );
    let (k, m) = meta(&ev);
    assert_eq!(
        k,
        keys(&["collection", "errno", "latency_ns", "model", "input_bytes"])
    );
    assert_eq!(m["model"], "all-MiniLM-L6");
    assert_eq!(m["input_bytes"], 4096);

    let sim = v
        .similarity("docs", 42, 43, Some(Metric::DotProduct), OK)
        .unwrap();
    let ev = read(&j, sim);
    assert_eq!(ev.event_type, VectorOp::Similarity.into());
    assert_eq!(ev.context.vector_id, 42);
    let (k, m) = meta(&ev);
    assert_eq!(
        k,
        keys(&["collection", "errno", "latency_ns", "other", "metric"])
    );
    assert_eq!(m["other"], 43);

    let cluster = v.cluster("docs", 5000, 16, OK).unwrap();
    let ev = read(&j, cluster);
    assert_eq!(ev.event_type, VectorOp::Cluster.into());
    let (k, m) = meta(&ev);
    assert_eq!(
        k,
        keys(&["collection", "errno", "latency_ns", "vectors", "clusters"])
    );
    assert_eq!(m["clusters"], 16);

    // A type query finds exactly what was emitted, in order.
    j.flush().unwrap();
    let page = j
        .query(&Query::new().categories([Category::VECTOR]))
        .unwrap();
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        [create, update, delete, search, index, embed, sim, cluster]
    );
}

#[test]
fn graph_operations_are_typed_events() {
    let (_tmp, j) = journal();
    let g = GraphEvents::new(j.clone()).in_graph("citations").unwrap();
    let base = ["graph", "errno", "latency_ns"];
    let with = |extra: &[&str]| {
        let mut v: Vec<&str> = base.to_vec();
        v.extend_from_slice(extra);
        keys(&v)
    };
    let op_code = |op: GraphOp| op as u32 & 0xFF;

    let n1 = g.node_create(1, Some("paper"), OK).unwrap();
    let ev = read(&j, n1);
    assert_eq!(ev.event_type.to_string(), "graph.node_create");
    assert_eq!(ev.context.graph_node_id, 1);
    assert_eq!(ev.context.graph_edge_id, 0);
    assert_eq!(ev.context.graph_operation_type, 1);
    let (k, m) = meta(&ev);
    assert_eq!(k, with(&["label"]));
    assert_eq!(m["graph"], "citations");
    assert_eq!(m["label"], "paper");

    let n1u = g.node_update(1, None, OK.parent(n1)).unwrap();
    let ev = read(&j, n1u);
    assert_eq!(ev.event_type, GraphOp::NodeUpdate.into());
    assert_eq!(
        ev.context.graph_operation_type,
        op_code(GraphOp::NodeUpdate)
    );
    assert_eq!(ev.parent_event_id, n1);
    assert_eq!(meta(&ev).0, with(&[]));

    let e = g
        .edge_create(Edge::new(10).between(1, 2).label("cites"), OK)
        .unwrap();
    let ev = read(&j, e);
    assert_eq!(ev.event_type, GraphOp::EdgeCreate.into());
    assert_eq!(ev.context.graph_operation_type, 4);
    assert_eq!(
        (ev.context.graph_edge_id, ev.context.graph_node_id),
        (10, 1)
    );
    let (k, m) = meta(&ev);
    assert_eq!(k, with(&["to", "label"]));
    assert_eq!(m["to"], 2);

    let eu = g.edge_update(Edge::new(10).label("refutes"), OK).unwrap();
    let ev = read(&j, eu);
    assert_eq!(ev.event_type, GraphOp::EdgeUpdate.into());
    assert_eq!(
        (ev.context.graph_edge_id, ev.context.graph_node_id),
        (10, 0)
    );
    assert_eq!(meta(&ev).0, with(&["label"]));

    let pc = g.property_create(Target::Edge(10), "year", OK).unwrap();
    let ev = read(&j, pc);
    assert_eq!(ev.event_type, GraphOp::PropertySet.into());
    assert_eq!(ev.context.graph_edge_id, 10);
    let (k, m) = meta(&ev);
    assert_eq!(k, with(&["op", "key", "on"]));
    assert_eq!(
        (m["op"].clone(), m["key"].clone()),
        ("create".into(), "year".into())
    );
    assert_eq!(m["on"], "edge");

    let pu = g.property_update(Target::Node(1), "title", OK).unwrap();
    let ev = read(&j, pu);
    assert_eq!(ev.event_type, GraphOp::PropertySet.into());
    assert_eq!((ev.context.graph_node_id, ev.context.graph_edge_id), (1, 0));
    let (k, m) = meta(&ev);
    assert_eq!(k, with(&["op", "key", "on"]));
    assert_eq!(
        (m["op"].clone(), m["on"].clone()),
        ("update".into(), "node".into())
    );

    let pd = g.property_delete(Target::Node(1), "title", OK).unwrap();
    let ev = read(&j, pd);
    assert_eq!(ev.event_type, GraphOp::PropertyDelete.into());
    assert_eq!(ev.context.graph_operation_type, 8);
    assert_eq!(meta(&ev).0, with(&["key", "on"]));

    let t = g
        .traverse(Traversal::new(1, 3).visited(17).algorithm("bfs"), OK)
        .unwrap();
    let ev = read(&j, t);
    assert_eq!(ev.event_type, GraphOp::Traverse.into());
    assert_eq!(ev.context.graph_node_id, 1);
    let (k, m) = meta(&ev);
    assert_eq!(k, with(&["depth", "visited", "algorithm"]));
    assert_eq!(
        (m["depth"].clone(), m["visited"].clone()),
        (3.into(), 17.into())
    );

    let text = "MATCH (p:paper)-[:cites]->(q) RETURN q";
    let q = g
        .query(
            GraphQuery::new(5).text(text).language("cypher").start(1),
            OK,
        )
        .unwrap();
    let ev = read(&j, q);
    assert_eq!(ev.event_type, GraphOp::Query.into());
    assert_eq!(ev.context.graph_operation_type, 10);
    assert_eq!(ev.context.graph_node_id, 1);
    assert_eq!(ev.payload, text.as_bytes());
    let (k, m) = meta(&ev);
    assert_eq!(k, with(&["language", "results"]));
    assert_eq!(m["results"], 5);

    let ed = g.edge_delete(Edge::new(10).between(1, 2), OK).unwrap();
    let nd = g.node_delete(1, OK).unwrap();
    assert_eq!(read(&j, ed).event_type, GraphOp::EdgeDelete.into());
    let ev = read(&j, nd);
    assert_eq!(ev.event_type, GraphOp::NodeDelete.into());
    assert_eq!(ev.context.graph_node_id, 1);

    // Without a graph name there is no `graph` key.
    let plain = GraphEvents::new(j.clone());
    let s = plain.node_create(5, None, OK).unwrap();
    assert_eq!(meta(&read(&j, s)).0, keys(&["errno", "latency_ns"]));
}

#[test]
fn durable_emission_is_on_disk_at_return() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let j = Journal::create(&dir, Config::default()).unwrap();
    let v = VectorEvents::new(j.clone()).emission(Emission::Durable);
    let g = GraphEvents::new(j.clone()).emission(Emission::Durable);

    let vs = v.create("docs", VectorRef::new(7, 128), OK).unwrap();
    assert!(j.durable_seq() > vs);
    let gs = g.node_create(3, Some("person"), OK).unwrap();
    assert!(j.durable_seq() > gs);

    // Another reader sees both while the writer is still open, without a flush.
    let reader = JournalReader::open(&dir).unwrap();
    let ev = reader.get(vs).unwrap().expect("vector event durable").event;
    assert_eq!(ev.event_type, VectorOp::Create.into());
    assert_eq!(ev.context.vector_id, 7);
    let ev = reader.get(gs).unwrap().expect("graph event durable").event;
    assert_eq!(ev.event_type, GraphOp::NodeCreate.into());
    drop(reader);

    j.close().unwrap();
    drop((v, g, j));
    let j = Journal::open_existing(&dir).unwrap();
    let ev = j.get(vs).unwrap().expect("kept after reopen").event;
    assert_eq!(ev.context.vector_dimensions, 128);
    assert_eq!(meta(&ev).1["collection"], "docs");
    let ev = j.get(gs).unwrap().expect("kept after reopen").event;
    assert_eq!(ev.context.graph_node_id, 3);
}

#[test]
fn bad_arguments_are_typed_errors_and_journal_nothing() {
    let (_tmp, j) = journal();
    let v = VectorEvents::new(j.clone());
    let g = GraphEvents::new(j.clone());
    let long = "x".repeat(MAX_NAME_LEN + 1);
    let max = "y".repeat(MAX_NAME_LEN);
    let before = j.next_seq();

    assert!(matches!(
        v.create(&long, VectorRef::new(1, 8), OK),
        Err(EmitError::TooLong { field: "collection", len, max: MAX_NAME_LEN }) if len == MAX_NAME_LEN + 1
    ));
    assert!(matches!(
        v.delete("", 1, OK),
        Err(EmitError::Empty {
            field: "collection"
        })
    ));
    assert!(matches!(
        v.delete("a\0b", 1, OK),
        Err(EmitError::ControlChar {
            field: "collection"
        })
    ));
    assert!(matches!(
        v.create("docs", VectorRef::new(1, 0), OK),
        Err(EmitError::ZeroDimensions { field: "dims" })
    ));
    assert!(matches!(
        v.search("docs", Search::new(0, 5), OK),
        Err(EmitError::ZeroDimensions { .. })
    ));
    assert!(matches!(
        v.index("docs", "", 1, 8, OK),
        Err(EmitError::Empty { field: "index" })
    ));
    assert!(matches!(
        v.embed("docs", VectorRef::new(1, 8), "m\nodel", 1, OK),
        Err(EmitError::ControlChar { field: "model" })
    ));
    assert!(matches!(
        v.delete("docs", 1, Outcome::failed(-5, Duration::ZERO)),
        Err(EmitError::NegativeErrno(-5))
    ));
    assert!(matches!(
        GraphEvents::new(j.clone()).in_graph(&long),
        Err(EmitError::TooLong { field: "graph", .. })
    ));
    assert!(matches!(
        g.node_create(1, Some(""), OK),
        Err(EmitError::Empty { field: "label" })
    ));
    assert!(matches!(
        g.edge_create(Edge::new(1).label(&long), OK),
        Err(EmitError::TooLong { field: "label", .. })
    ));
    assert!(matches!(
        g.property_create(Target::Node(1), &long, OK),
        Err(EmitError::TooLong { field: "key", .. })
    ));
    assert!(matches!(
        g.traverse(Traversal::new(1, 1).algorithm("b\tfs"), OK),
        Err(EmitError::ControlChar { field: "algorithm" })
    ));
    let huge = "q".repeat(MAX_QUERY_LEN + 1);
    assert!(matches!(
        g.query(GraphQuery::new(0).text(&huge), OK),
        Err(EmitError::TooLong {
            field: "query text",
            ..
        })
    ));
    assert_eq!(j.next_seq(), before, "nothing was journaled");

    // The longest names, all escaped, still fit the kernel's metadata limit.
    let quoted = "\"".repeat(MAX_NAME_LEN);
    v.embed(&quoted, VectorRef::new(1, 8), &quoted, 1, OK)
        .unwrap();
    v.index(&max, &quoted, 1, 8, OK).unwrap();
    let g = GraphEvents::new(j.clone()).in_graph(&quoted).unwrap();
    g.edge_create(Edge::new(1).between(u64::MAX, u64::MAX).label(&quoted), OK)
        .unwrap();
    g.traverse(
        Traversal::new(1, u32::MAX)
            .visited(u64::MAX)
            .algorithm(&quoted),
        OK,
    )
    .unwrap();
    g.query(
        GraphQuery::new(u64::MAX)
            .text(&"q".repeat(MAX_QUERY_LEN))
            .language(&quoted),
        OK,
    )
    .unwrap();

    // A journal that refuses the event is reported as the journal's error.
    j.close().unwrap();
    let err = v.delete("docs", 1, OK).unwrap_err();
    let EmitError::Journal(e) = err else {
        panic!("expected a journal error, got {err:?}")
    };
    assert_eq!(e.kind(), ErrorKind::Closed);
}

fn libc_enospc() -> i32 {
    28
}
