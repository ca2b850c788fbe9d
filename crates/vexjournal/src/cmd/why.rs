//! `vexjournal why SEQ`: the causality chain of one event.
//!
//! Events name their causes by event id: `parent_event_id` and causality links
//! (`cause_event_id` → `effect_event_id`). The journal assigns every emitted event the
//! id equal to its sequence number; events imported with their own ids (kernel images)
//! keep them, so ids are resolved through a map, never assumed to be sequences.
//!
//! The events of the chain come from the index (`JournalReader::causality`), which
//! reads only the blocks that name them; this module lays them out as trees.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde_json::{Value, json};
use vexfs_journal::{CausalityLink, CausalityOptions, StoredEvent};

use crate::Cli;
use crate::output::{ReportFormat, fit_table};

/// Explain an event: follow its parent and the causality links whose effect it is, up
/// to the root cause, printing every hop.
///
/// An event with several causes (a parent and links) shows each of them, as a tree. A
/// cause whose id no event in the journal has (compacted away, or never written) is
/// reported as missing; a cause already on the path (a cycle) or already shown (two
/// paths to one cause) is reported and not followed again.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sequence number of the event.
    seq: u64,
    /// Also show what followed from the event: every event whose parent or link cause
    /// is the event or one of those events, as a tree.
    #[arg(long)]
    descendants: bool,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    output: ReportFormat,
}

/// Most events `why` shows.
const MAX_EVENTS: usize = 100_000;

/// What `why` keeps of one event.
struct Node {
    seq: u64,
    id: u64,
    time_ns: i64,
    event_type: String,
    /// Path, else agent, else empty.
    subject: String,
    parent: u64,
    root_cause: u64,
    links: Vec<CausalityLink>,
}

impl Node {
    fn from_stored(ev: &StoredEvent) -> Node {
        let e = &ev.event;
        let subject = if !e.context.path.is_empty() {
            String::from_utf8_lossy(&e.context.path).into_owned()
        } else if !e.context.agent_id.is_empty() {
            format!("agent {}", String::from_utf8_lossy(&e.context.agent_id))
        } else {
            String::new()
        };
        Node {
            seq: ev.seq,
            id: e.event_id,
            time_ns: e.timestamp.ktime_ns,
            event_type: e.event_type.to_string(),
            subject,
            parent: e.parent_event_id,
            root_cause: e.root_cause_event_id,
            links: e.links.clone(),
        }
    }

    fn json(&self) -> Value {
        json!({
            "seq": self.seq,
            "id": self.id,
            "time": vexfs_journal::json::format_time(self.time_ns),
            "type": self.event_type,
            "subject": self.subject,
            "parent": self.parent,
            "root_cause": self.root_cause,
        })
    }
}

/// How two events are related.
#[derive(Clone)]
enum Via {
    /// The effect's `parent_event_id`.
    Parent,
    /// A causality link (carried by either event).
    Link(CausalityLink),
}

impl Via {
    fn text(&self) -> String {
        match self {
            Via::Parent => "parent".to_string(),
            Via::Link(l) => {
                let mut s = format!("link type {} strength {}", l.causality_type, l.strength);
                if l.delay_ns != 0 {
                    s.push_str(&format!(" delay {} ns", l.delay_ns));
                }
                if !l.description.is_empty() {
                    s.push_str(&format!(": {}", l.description));
                }
                s
            }
        }
    }

    fn json(&self) -> Value {
        match self {
            Via::Parent => json!({"kind": "parent"}),
            Via::Link(l) => json!({
                "kind": "link",
                "type": l.causality_type,
                "strength": l.strength,
                "delay_ns": l.delay_ns,
                "description": l.description.to_string(),
            }),
        }
    }
}

/// What a hop reached.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    /// An event, followed further.
    Found,
    /// No event has the id.
    Missing,
    /// The event is already on the path from the start: a cycle, not followed.
    Cycle,
    /// The event was shown earlier through another path, not followed again.
    Repeat,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::Found => "found",
            Status::Missing => "missing",
            Status::Cycle => "cycle",
            Status::Repeat => "repeat",
        }
    }
}

/// One step of a chain: from the event at `from` (index) to event id `id`.
struct Hop {
    depth: usize,
    /// Index of the event reached, when it exists.
    node: Option<usize>,
    id: u64,
    via: Via,
    /// Sequence of the event the hop starts from.
    from_seq: u64,
    status: Status,
}

/// The journal's events and their causal relations, by index.
struct Graph {
    nodes: Vec<Node>,
    by_id: HashMap<u64, usize>,
    /// Effect id → (cause id, how).
    causes: HashMap<u64, Vec<(u64, Via)>>,
    /// Cause id → (effect id, how).
    effects: HashMap<u64, Vec<(u64, Via)>>,
}

impl Graph {
    fn build(nodes: Vec<Node>) -> Graph {
        let mut by_id = HashMap::with_capacity(nodes.len());
        for (i, n) in nodes.iter().enumerate() {
            // Ids are unique in an emitted journal; with imported ids colliding, the
            // first event keeps the id.
            by_id.entry(n.id).or_insert(i);
        }
        let mut causes: HashMap<u64, Vec<(u64, Via)>> = HashMap::new();
        let mut effects: HashMap<u64, Vec<(u64, Via)>> = HashMap::new();
        let mut seen_links: HashSet<(u64, u64, u32)> = HashSet::new();
        for n in &nodes {
            if n.parent != 0 {
                causes
                    .entry(n.id)
                    .or_default()
                    .push((n.parent, Via::Parent));
                effects
                    .entry(n.parent)
                    .or_default()
                    .push((n.id, Via::Parent));
            }
            for l in &n.links {
                // A link without an effect is about the event that carries it.
                let effect = if l.effect_event_id == 0 {
                    n.id
                } else {
                    l.effect_event_id
                };
                let cause = l.cause_event_id;
                // A link carried by both ends counts once.
                if cause == 0 || !seen_links.insert((cause, effect, l.causality_type)) {
                    continue;
                }
                let via = Via::Link(l.clone());
                causes.entry(effect).or_default().push((cause, via.clone()));
                effects.entry(cause).or_default().push((effect, via));
            }
        }
        Graph {
            nodes,
            by_id,
            causes,
            effects,
        }
    }

    /// Depth-first walk from `start` along causes (`up`) or effects, in the order a
    /// tree prints; iterative, so a long chain cannot overflow the stack.
    fn walk(&self, start: usize, up: bool) -> Vec<Hop> {
        let edges = if up { &self.causes } else { &self.effects };
        let none: &[(u64, Via)] = &[];
        let next_of = |at: usize| edges.get(&self.nodes[at].id).map_or(none, Vec::as_slice);
        let mut hops = Vec::new();
        let mut shown: HashSet<usize> = HashSet::from([start]);
        let mut on_path: HashSet<usize> = HashSet::from([start]);
        // (event, its next edge to look at)
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        while let Some(top) = stack.last_mut() {
            let (at, i) = *top;
            let Some((id, via)) = next_of(at).get(i) else {
                on_path.remove(&at);
                stack.pop();
                continue;
            };
            top.1 += 1;
            let node = self.by_id.get(id).copied();
            let status = match node {
                None => Status::Missing,
                Some(n) if on_path.contains(&n) => Status::Cycle,
                Some(n) if shown.contains(&n) => Status::Repeat,
                Some(_) => Status::Found,
            };
            hops.push(Hop {
                depth: stack.len(),
                node,
                id: *id,
                via: via.clone(),
                from_seq: self.nodes[at].seq,
                status,
            });
            if let (Status::Found, Some(n)) = (status, node) {
                shown.insert(n);
                on_path.insert(n);
                stack.push((n, 0));
            }
        }
        hops
    }

    fn hop_json(&self, h: &Hop) -> Value {
        let mut v = match h.node {
            Some(n) => self.nodes[n].json(),
            None => json!({"id": h.id}),
        };
        if let Value::Object(m) = &mut v {
            m.insert("depth".into(), json!(h.depth));
            m.insert("from_seq".into(), json!(h.from_seq));
            m.insert("via".into(), h.via.json());
            m.insert("status".into(), json!(h.status.name()));
        }
        v
    }

    fn hop_row(&self, h: &Hop, arrow: &str) -> [String; 6] {
        let indent = format!("{}{arrow}", "  ".repeat(h.depth.saturating_sub(1)));
        let how = match h.status {
            Status::Found => h.via.text(),
            Status::Missing => format!(
                "{} — id {} not found (compacted away or never written)",
                h.via.text(),
                h.id
            ),
            Status::Cycle => format!("{} — cycle: already on this path", h.via.text()),
            Status::Repeat => format!("{} — shown above", h.via.text()),
        };
        match h.node {
            Some(n) => {
                let node = &self.nodes[n];
                [
                    format!("{indent} {}", node.seq),
                    vexfs_journal::json::format_time(node.time_ns),
                    node.event_type.clone(),
                    node.subject.clone(),
                    h.from_seq.to_string(),
                    how,
                ]
            }
            None => [
                format!("{indent} ?"),
                String::new(),
                format!("(id {})", h.id),
                String::new(),
                h.from_seq.to_string(),
                how,
            ],
        }
    }
}

/// Runs `why`.
pub fn run(cli: &Cli, args: &Args) -> Result<ExitCode> {
    let reader = cli
        .open_reader(&cli.dir)
        .with_context(|| format!("opening the journal in {}", cli.dir.display()))?;
    let options = CausalityOptions {
        ancestors: true,
        descendants: args.descendants,
        max_events: MAX_EVENTS,
        visibility: None,
    };
    let Some(found) = reader.causality(args.seq, &options)? else {
        anyhow::bail!(
            "no event with sequence {} in the journal in {} (compacted away, or not yet written)",
            args.seq,
            cli.dir.display()
        );
    };
    if found.truncated {
        eprintln!("warning: the chain has more than {MAX_EVENTS} events; showing the first found");
    }
    let nodes: Vec<Node> = found.events.values().map(Node::from_stored).collect();
    let start = found
        .events
        .keys()
        .position(|s| *s == args.seq)
        .context("the event asked about is missing from its own chain")?;
    let graph = Graph::build(nodes);
    let ancestors = graph.walk(start, true);
    let descendants = args.descendants.then(|| graph.walk(start, false));
    let problems =
        |hops: &[Hop], status: Status| hops.iter().filter(|h| h.status == status).count();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match args.output {
        ReportFormat::Json => {
            let mut doc = json!({
                "event": graph.nodes[start].json(),
                "ancestors": ancestors.iter().map(|h| graph.hop_json(h)).collect::<Vec<_>>(),
                "missing": problems(&ancestors, Status::Missing),
                "cycles": problems(&ancestors, Status::Cycle),
            });
            if let (Some(d), Value::Object(m)) = (&descendants, &mut doc) {
                m.insert(
                    "descendants".into(),
                    Value::Array(d.iter().map(|h| graph.hop_json(h)).collect()),
                );
            }
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        ReportFormat::Table => {
            let node = &graph.nodes[start];
            let mut t = Table::new();
            t.load_preset(UTF8_FULL_CONDENSED);
            t.set_header(["seq", "time (UTC)", "event", "subject", "of", "how"]);
            t.add_row([
                node.seq.to_string(),
                vexfs_journal::json::format_time(node.time_ns),
                node.event_type.clone(),
                node.subject.clone(),
                String::new(),
                "this event".to_string(),
            ]);
            for h in &ancestors {
                t.add_row(graph.hop_row(h, "↑"));
            }
            if let Some(d) = &descendants {
                for h in d {
                    t.add_row(graph.hop_row(h, "↓"));
                }
            }
            fit_table(&mut t);
            writeln!(out, "{t}")?;
            if ancestors.is_empty() {
                writeln!(
                    out,
                    "event {} has no recorded cause: it is a root",
                    node.seq
                )?;
            }
            let missing = problems(&ancestors, Status::Missing);
            let cycles = problems(&ancestors, Status::Cycle);
            if missing > 0 {
                writeln!(out, "{missing} cause(s) not found in the journal")?;
            }
            if cycles > 0 {
                writeln!(out, "{cycles} cycle(s) in the causality links")?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
