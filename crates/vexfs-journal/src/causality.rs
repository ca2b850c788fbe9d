//! Causality chains: an event's causes up to its root cause, and what followed from
//! it, found through the index (`parent_event_id`, `root_cause_event_id` and causality
//! links) rather than by reading the journal.
//!
//! Events name each other by event id. An edge comes from the parent field (parent →
//! event) or from a causality link (cause → effect; a link whose cause or effect is 0
//! is about the event that carries it). A link may be carried by either end; it counts
//! once. The index lists, per segment, the blocks holding events that name an id
//! (`Query::refers_to`) and the blocks holding an event whose id is not its sequence
//! (`Query::event_id`), so each step of the walk reads a few blocks.

use std::collections::{BTreeMap, HashSet, VecDeque};

use vexfs_journal_index::Query;
use vexfs_journal_storage::StoredEvent;

use crate::error::Result;
use crate::format::CausalityLink;
use crate::read::Follow;

/// What [`Follow::causality`] walks.
#[derive(Clone, Debug)]
pub struct CausalityOptions {
    /// Walk to the causes, up to the root cause.
    pub ancestors: bool,
    /// Walk to what followed, transitively.
    pub descendants: bool,
    /// Most events in the answer (the event itself included); the walk stops there
    /// and says so.
    pub max_events: usize,
    /// Only events visible to this principal mask; the walk does not pass through
    /// hidden events.
    pub visibility: Option<u64>,
}

impl Default for CausalityOptions {
    fn default() -> CausalityOptions {
        CausalityOptions {
            ancestors: true,
            descendants: true,
            max_events: 500,
            visibility: None,
        }
    }
}

/// How a cause leads to an effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CauseKind {
    /// The effect's `parent_event_id`.
    Parent,
    /// A causality link (carried by either event).
    Link(CausalityLink),
    /// The event's `root_cause_event_id`, when no chain of parents and links reaches
    /// it (a link of the chain is missing or hidden).
    RootCause,
}

/// One edge of a causality graph, between sequence numbers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CausalEdge {
    /// The cause's sequence.
    pub cause: u64,
    /// The effect's sequence.
    pub effect: u64,
    /// How.
    pub kind: CauseKind,
}

/// The causality graph around one event.
#[derive(Clone, Debug)]
pub struct Causality {
    /// The event asked about (its sequence).
    pub seq: u64,
    /// The events of the graph, by sequence (the event itself included).
    pub events: BTreeMap<u64, StoredEvent>,
    /// The edges, in discovery order.
    pub edges: Vec<CausalEdge>,
    /// The event's causes, nearest first (each once).
    pub ancestors: Vec<u64>,
    /// What followed from the event, nearest first (each once).
    pub descendants: Vec<u64>,
    /// The walk stopped at [`CausalityOptions::max_events`].
    pub truncated: bool,
    /// Event ids named as causes that the journal does not hold (compacted away, or
    /// never written).
    pub missing: Vec<u64>,
}

/// The edges an event's own fields state, as (cause id, effect id, kind).
fn stated_edges(ev: &StoredEvent) -> Vec<(u64, u64, CauseKind)> {
    let e = &ev.event;
    let me = e.event_id;
    let mut out = Vec::new();
    if e.parent_event_id != 0 && e.parent_event_id != me {
        out.push((e.parent_event_id, me, CauseKind::Parent));
    }
    for l in &e.links {
        let cause = if l.cause_event_id == 0 {
            me
        } else {
            l.cause_event_id
        };
        let effect = if l.effect_event_id == 0 {
            me
        } else {
            l.effect_event_id
        };
        if cause != effect {
            out.push((cause, effect, CauseKind::Link(l.clone())));
        }
    }
    out
}

struct Walk<'a, F: Follow> {
    source: &'a F,
    options: &'a CausalityOptions,
    /// Event id → sequence, for events in the graph.
    by_id: BTreeMap<u64, u64>,
    events: BTreeMap<u64, StoredEvent>,
    edges: Vec<CausalEdge>,
    seen_edges: HashSet<(u64, u64, String)>,
    missing: Vec<u64>,
    truncated: bool,
}

impl<F: Follow> Walk<'_, F> {
    fn visible(&self, ev: &StoredEvent) -> bool {
        self.options
            .visibility
            .is_none_or(|m| ev.event.agent_visibility_mask & m != 0)
    }

    /// The event with id `id`: most ids are their sequence; imported events are found
    /// through the index.
    fn by_id(&mut self, id: u64) -> Result<Option<StoredEvent>> {
        if let Some(seq) = self.by_id.get(&id) {
            return Ok(self.events.get(seq).cloned());
        }
        if let Some(ev) = self.source.get(id)?
            && ev.event.event_id == id
        {
            return Ok(Some(ev));
        }
        let page = self.source.query(&Query::new().event_id(id).limit(1))?;
        Ok(page.events.into_iter().next())
    }

    /// Every visible event naming `id` (other than itself).
    fn referring(&self, id: u64) -> Result<Vec<StoredEvent>> {
        let mut q = Query::new().refers_to(id).limit(256);
        if let Some(m) = self.options.visibility {
            q = q.visible_to(m);
        }
        let mut out = Vec::new();
        loop {
            let page = self.source.query(&q)?;
            out.extend(page.events);
            match page.cursor {
                Some(c) if !page.exhausted => q.after = Some(c),
                _ => return Ok(out),
            }
        }
    }

    /// Adds an event; false when the answer is full.
    fn add(&mut self, ev: StoredEvent) -> bool {
        if self.events.contains_key(&ev.seq) {
            return true;
        }
        if self.events.len() >= self.options.max_events {
            self.truncated = true;
            return false;
        }
        self.by_id.insert(ev.event.event_id, ev.seq);
        self.events.insert(ev.seq, ev);
        true
    }

    fn edge(&mut self, cause: u64, effect: u64, kind: CauseKind) {
        let key = match &kind {
            CauseKind::Parent => "parent".to_string(),
            CauseKind::RootCause => "root".to_string(),
            CauseKind::Link(l) => format!("link {}", l.causality_type),
        };
        if self.seen_edges.insert((cause, effect, key)) {
            self.edges.push(CausalEdge {
                cause,
                effect,
                kind,
            });
        }
    }

    /// Walks from `start` toward causes (`up`) or effects; returns the sequences
    /// reached, nearest first.
    fn walk(&mut self, start: &StoredEvent, up: bool) -> Result<Vec<u64>> {
        let mut reached = Vec::new();
        let mut queue = VecDeque::from([start.clone()]);
        let mut done: HashSet<u64> = HashSet::from([start.seq]);
        while let Some(node) = queue.pop_front() {
            let id = node.event.event_id;
            // Edges touching this node: its own fields, and those of events naming it.
            let mut edges = stated_edges(&node);
            for other in self.referring(id)? {
                edges.extend(stated_edges(&other));
            }
            for (cause, effect, kind) in edges {
                let next_id = match (up, cause == id, effect == id) {
                    (true, false, true) => cause,
                    (false, true, false) => effect,
                    _ => continue,
                };
                let Some(next) = self.by_id(next_id)? else {
                    if !self.missing.contains(&next_id) {
                        self.missing.push(next_id);
                    }
                    continue;
                };
                if !self.visible(&next) {
                    continue;
                }
                let next_seq = next.seq;
                if !self.add(next.clone()) {
                    return Ok(reached);
                }
                let (c, e) = if up {
                    (next_seq, node.seq)
                } else {
                    (node.seq, next_seq)
                };
                self.edge(c, e, kind);
                if done.insert(next_seq) {
                    reached.push(next_seq);
                    queue.push_back(next);
                }
            }
        }
        Ok(reached)
    }
}

/// See [`Follow::causality`].
pub(crate) fn causality<F: Follow>(
    source: &F,
    seq: u64,
    options: &CausalityOptions,
) -> Result<Option<Causality>> {
    let Some(start) = source.get(seq)? else {
        return Ok(None);
    };
    let mut walk = Walk {
        source,
        options,
        by_id: BTreeMap::new(),
        events: BTreeMap::new(),
        edges: Vec::new(),
        seen_edges: HashSet::new(),
        missing: Vec::new(),
        truncated: false,
    };
    if !walk.visible(&start) {
        return Ok(None);
    }
    walk.add(start.clone());
    let ancestors = if options.ancestors {
        walk.walk(&start, true)?
    } else {
        Vec::new()
    };
    // The root cause the event names, when the chain did not reach it.
    let root = start.event.root_cause_event_id;
    if options.ancestors
        && root != 0
        && root != start.event.event_id
        && !walk.by_id.contains_key(&root)
    {
        match walk.by_id(root)? {
            Some(r) if walk.visible(&r) => {
                let r_seq = r.seq;
                if walk.add(r) {
                    walk.edge(r_seq, start.seq, CauseKind::RootCause);
                }
            }
            Some(_) => {}
            None => {
                if !walk.missing.contains(&root) {
                    walk.missing.push(root);
                }
            }
        }
    }
    let mut ancestors = ancestors;
    for (s, ev) in &walk.events {
        if *s != start.seq && ev.event.event_id == root && !ancestors.contains(s) {
            ancestors.push(*s);
        }
    }
    let descendants = if options.descendants && !walk.truncated {
        walk.walk(&start, false)?
    } else {
        Vec::new()
    };
    Ok(Some(Causality {
        seq,
        events: walk.events,
        edges: walk.edges,
        ancestors,
        descendants,
        truncated: walk.truncated,
        missing: walk.missing,
    }))
}
