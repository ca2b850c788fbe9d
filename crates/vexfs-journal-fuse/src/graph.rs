//! Typed journal events for VexFS's graph engine.
//!
//! [`GraphEvents`] records one event per graph operation. The node id, edge id and
//! operation number go in the event's typed graph fields (`graph_node_id`,
//! `graph_edge_id`, `graph_operation_type`: the type's number within the `graph`
//! category, 1 for `node_create` … 10 for `query`); a query's text is the payload; the
//! graph name, the result (`errno`), the latency and what only one operation has go in
//! the metadata as one JSON object (`docs/emitters.md` lists the keys). [`Outcome`],
//! [`Emission`] and [`EmitError`] are shared with [`crate::vector`].
//!
//! ```
//! use std::time::Duration;
//! use vexfs_journal::{Config, Journal};
//! use vexfs_journal_fuse::graph::{Edge, GraphEvents, Target, Traversal};
//! use vexfs_journal_fuse::vector::Outcome;
//!
//! let dir = tempfile::tempdir()?;
//! let journal = Journal::create(dir.path(), Config::default())?;
//! let graph = GraphEvents::new(journal.clone()).in_graph("citations")?;
//! let ok = Outcome::ok(Duration::from_micros(20));
//! graph.node_create(1, Some("paper"), ok)?;
//! graph.node_create(2, Some("paper"), ok)?;
//! let edge = graph.edge_create(Edge::new(10).between(1, 2).label("cites"), ok)?;
//! graph.property_create(Target::Edge(10), "year", ok.parent(edge))?;
//! graph.traverse(Traversal::new(1, 3).visited(2), ok)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use serde_json::{Map, Value, json};
use vexfs_journal::{Event, GraphOp, Journal};

use crate::vector::{Emission, EmitError, Outcome, check_name, send};

/// Longest query text (the payload limit of a kernel event), in bytes.
pub const MAX_QUERY_LEN: usize = vexfs_journal::format::consts::MAX_PAYLOAD_SIZE;

/// An edge: its id, and its endpoints and label when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Edge<'a> {
    /// Edge id (`graph_edge_id`).
    pub id: u64,
    /// Source and target node ids.
    pub ends: Option<(u64, u64)>,
    /// Edge label.
    pub label: Option<&'a str>,
}

impl<'a> Edge<'a> {
    /// Edge `id`, endpoints and label unknown.
    pub fn new(id: u64) -> Edge<'a> {
        Edge {
            id,
            ends: None,
            label: None,
        }
    }

    /// Sets the endpoints: `from` is recorded as `graph_node_id`, `to` as metadata.
    #[must_use]
    pub fn between(mut self, from: u64, to: u64) -> Self {
        self.ends = Some((from, to));
        self
    }

    /// Sets the label.
    #[must_use]
    pub fn label(mut self, label: &'a str) -> Self {
        self.label = Some(label);
        self
    }
}

/// What a property belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A node (`graph_node_id`).
    Node(u64),
    /// An edge (`graph_edge_id`).
    Edge(u64),
}

/// A traversal: where it started, how deep it may go, and how far it got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Traversal<'a> {
    /// Start node (`graph_node_id`).
    pub start: u64,
    /// Maximum depth.
    pub depth: u32,
    /// Nodes visited.
    pub visited: u64,
    /// Algorithm name (`bfs`, `dfs`, `dijkstra`, …).
    pub algorithm: Option<&'a str>,
}

impl<'a> Traversal<'a> {
    /// A traversal from `start` to at most `depth` hops.
    pub fn new(start: u64, depth: u32) -> Traversal<'a> {
        Traversal {
            start,
            depth,
            visited: 0,
            algorithm: None,
        }
    }

    /// Sets the number of nodes visited.
    #[must_use]
    pub fn visited(mut self, visited: u64) -> Self {
        self.visited = visited;
        self
    }

    /// Sets the algorithm name.
    #[must_use]
    pub fn algorithm(mut self, algorithm: &'a str) -> Self {
        self.algorithm = Some(algorithm);
        self
    }
}

/// A graph query: its text, language and start node when known, and its result count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GraphQuery<'a> {
    /// Query text (the payload).
    pub text: Option<&'a str>,
    /// Query language (`cypher`, `gremlin`, …).
    pub language: Option<&'a str>,
    /// Start node (`graph_node_id`).
    pub start: Option<u64>,
    /// Rows or elements returned.
    pub results: u64,
}

impl<'a> GraphQuery<'a> {
    /// A query that returned `results` rows.
    pub fn new(results: u64) -> GraphQuery<'a> {
        GraphQuery {
            results,
            ..GraphQuery::default()
        }
    }

    /// Sets the text (at most [`MAX_QUERY_LEN`] bytes).
    #[must_use]
    pub fn text(mut self, text: &'a str) -> Self {
        self.text = Some(text);
        self
    }

    /// Sets the language.
    #[must_use]
    pub fn language(mut self, language: &'a str) -> Self {
        self.language = Some(language);
        self
    }

    /// Sets the start node.
    #[must_use]
    pub fn start(mut self, node: u64) -> Self {
        self.start = Some(node);
        self
    }
}

/// Emits the journal events of a graph engine's operations.
#[derive(Clone, Debug)]
pub struct GraphEvents {
    journal: Journal,
    emission: Emission,
    graph: Option<String>,
}

impl GraphEvents {
    /// Events into `journal`, each returned as soon as it is accepted.
    pub fn new(journal: Journal) -> GraphEvents {
        GraphEvents {
            journal,
            emission: Emission::Accepted,
            graph: None,
        }
    }

    /// Sets when each method returns.
    #[must_use]
    pub fn emission(mut self, emission: Emission) -> Self {
        self.emission = emission;
        self
    }

    /// Names the graph in every event (metadata `graph`).
    pub fn in_graph(mut self, name: &str) -> Result<Self, EmitError> {
        check_name("graph", name)?;
        self.graph = Some(name.to_string());
        Ok(self)
    }

    /// The journal written to.
    pub fn journal(&self) -> &Journal {
        &self.journal
    }

    /// The event of `op` with its metadata started.
    fn start(
        &self,
        op: GraphOp,
        outcome: &Outcome,
    ) -> Result<(Event, Map<String, Value>), EmitError> {
        let mut meta = Map::new();
        if let Some(graph) = &self.graph {
            meta.insert("graph".into(), json!(graph));
        }
        let ev = Event::graph(op).graph_operation(op as u32 & 0xFF);
        let ev = outcome.apply(ev, &mut meta)?;
        Ok((ev, meta))
    }

    fn send(&self, ev: Event, meta: Map<String, Value>) -> Result<u64, EmitError> {
        send(&self.journal, self.emission, ev, meta)
    }

    fn node(
        &self,
        op: GraphOp,
        node: u64,
        label: Option<&str>,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        if let Some(label) = label {
            check_name("label", label)?;
        }
        let (ev, mut meta) = self.start(op, &outcome)?;
        if let Some(label) = label {
            meta.insert("label".into(), json!(label));
        }
        self.send(ev.graph_node(node), meta)
    }

    /// `graph.node_create`: node `node` was added (metadata `label`). Returns the
    /// sequence.
    pub fn node_create(
        &self,
        node: u64,
        label: Option<&str>,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        self.node(GraphOp::NodeCreate, node, label, outcome)
    }

    /// `graph.node_update`: node `node` changed (metadata `label`).
    pub fn node_update(
        &self,
        node: u64,
        label: Option<&str>,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        self.node(GraphOp::NodeUpdate, node, label, outcome)
    }

    /// `graph.node_delete`: node `node` was removed.
    pub fn node_delete(&self, node: u64, outcome: Outcome) -> Result<u64, EmitError> {
        self.node(GraphOp::NodeDelete, node, None, outcome)
    }

    fn edge(&self, op: GraphOp, edge: Edge<'_>, outcome: Outcome) -> Result<u64, EmitError> {
        if let Some(label) = edge.label {
            check_name("label", label)?;
        }
        let (mut ev, mut meta) = self.start(op, &outcome)?;
        ev = ev.graph_edge(edge.id);
        if let Some((from, to)) = edge.ends {
            ev = ev.graph_node(from);
            meta.insert("to".into(), json!(to));
        }
        if let Some(label) = edge.label {
            meta.insert("label".into(), json!(label));
        }
        self.send(ev, meta)
    }

    /// `graph.edge_create`: `edge` was added (source node typed, metadata `to`,
    /// `label`).
    pub fn edge_create(&self, edge: Edge<'_>, outcome: Outcome) -> Result<u64, EmitError> {
        self.edge(GraphOp::EdgeCreate, edge, outcome)
    }

    /// `graph.edge_update`: `edge` changed.
    pub fn edge_update(&self, edge: Edge<'_>, outcome: Outcome) -> Result<u64, EmitError> {
        self.edge(GraphOp::EdgeUpdate, edge, outcome)
    }

    /// `graph.edge_delete`: `edge` was removed.
    pub fn edge_delete(&self, edge: Edge<'_>, outcome: Outcome) -> Result<u64, EmitError> {
        self.edge(GraphOp::EdgeDelete, edge, outcome)
    }

    fn property(
        &self,
        op: GraphOp,
        subtype: Option<&str>,
        target: Target,
        key: &str,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        check_name("key", key)?;
        let (ev, mut meta) = self.start(op, &outcome)?;
        if let Some(subtype) = subtype {
            meta.insert("op".into(), json!(subtype));
        }
        meta.insert("key".into(), json!(key));
        let ev = match target {
            Target::Node(id) => {
                meta.insert("on".into(), json!("node"));
                ev.graph_node(id)
            }
            Target::Edge(id) => {
                meta.insert("on".into(), json!("edge"));
                ev.graph_edge(id)
            }
        };
        self.send(ev, meta)
    }

    /// `graph.property_set` with metadata `op: "create"`: property `key` was added to
    /// `target` (metadata `key`, `on`).
    pub fn property_create(
        &self,
        target: Target,
        key: &str,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        self.property(GraphOp::PropertySet, Some("create"), target, key, outcome)
    }

    /// `graph.property_set` with metadata `op: "update"`: property `key` of `target`
    /// changed.
    pub fn property_update(
        &self,
        target: Target,
        key: &str,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        self.property(GraphOp::PropertySet, Some("update"), target, key, outcome)
    }

    /// `graph.property_delete`: property `key` was removed from `target`.
    pub fn property_delete(
        &self,
        target: Target,
        key: &str,
        outcome: Outcome,
    ) -> Result<u64, EmitError> {
        self.property(GraphOp::PropertyDelete, None, target, key, outcome)
    }

    /// `graph.traverse`: a traversal (start node typed, metadata `depth`, `visited`,
    /// `algorithm`).
    pub fn traverse(&self, traversal: Traversal<'_>, outcome: Outcome) -> Result<u64, EmitError> {
        if let Some(algorithm) = traversal.algorithm {
            check_name("algorithm", algorithm)?;
        }
        let (ev, mut meta) = self.start(GraphOp::Traverse, &outcome)?;
        meta.insert("depth".into(), json!(traversal.depth));
        meta.insert("visited".into(), json!(traversal.visited));
        if let Some(algorithm) = traversal.algorithm {
            meta.insert("algorithm".into(), json!(algorithm));
        }
        self.send(ev.graph_node(traversal.start), meta)
    }

    /// `graph.query`: a query (text as payload, start node typed, metadata `language`,
    /// `results`).
    pub fn query(&self, query: GraphQuery<'_>, outcome: Outcome) -> Result<u64, EmitError> {
        if let Some(language) = query.language {
            check_name("language", language)?;
        }
        if let Some(text) = query.text
            && text.len() > MAX_QUERY_LEN
        {
            return Err(EmitError::TooLong {
                field: "query text",
                len: text.len(),
                max: MAX_QUERY_LEN,
            });
        }
        let (mut ev, mut meta) = self.start(GraphOp::Query, &outcome)?;
        if let Some(language) = query.language {
            meta.insert("language".into(), json!(language));
        }
        meta.insert("results".into(), json!(query.results));
        if let Some(node) = query.start {
            ev = ev.graph_node(node);
        }
        if let Some(text) = query.text {
            ev = ev.payload(text.as_bytes().to_vec());
        }
        self.send(ev, meta)
    }
}
