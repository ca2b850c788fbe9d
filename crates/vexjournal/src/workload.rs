//! A realistic, deterministic mix of VexFS events for `demo` and `bench`.
//!
//! Shaped after what a VexFS node journals: model and dataset files being written and
//! read, embeddings created and searched, graph nodes and edges linking them, agents
//! reasoning and deciding inside transactions, and observability events.

use vexfs_journal::{
    AgentOp, CausalityLink, Event, FsOp, GraphOp, ObservabilityOp, Priority, VectorOp,
};

/// A small, fast deterministic generator (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
}

const DIRS: &[&str] = &[
    "/models/llama-3-8b",
    "/models/mistral-7b",
    "/datasets/wiki-2026",
    "/datasets/code",
    "/home/agent/scratch",
    "/var/vexfs/cache",
    "/embeddings/text",
    "/embeddings/image",
];
const FILES: &[&str] = &[
    "weights.safetensors",
    "tokenizer.json",
    "shard-00017.parquet",
    "index.hnsw",
    "notes.md",
    "checkpoint.bin",
    "config.yaml",
    "chunk.jsonl",
];
const AGENTS: &[&str] = &[
    "planner-7",
    "indexer-2",
    "curator-1",
    "retriever-4",
    "auditor",
];
const INTENTS: &[&str] = &[
    "compact the embedding cache",
    "re-rank search results",
    "evict cold vectors",
    "summarise the new dataset shard",
    "link related documents",
    "verify model checksum",
];

/// Generates the mixed workload. `payload` fixes the payload size (bytes), or `None`
/// for realistic sizes between 32 and 480 bytes.
pub struct Workload {
    rng: Rng,
    payload: Option<usize>,
    n: u64,
}

impl Workload {
    /// A workload stream for producer `stream`.
    pub fn new(stream: u64, payload: Option<usize>) -> Self {
        Workload {
            rng: Rng::new(stream + 1),
            payload,
            n: 0,
        }
    }

    fn payload_text(&mut self, kind: &str) -> Vec<u8> {
        let len = match self.payload {
            Some(n) => n,
            None => 32 + self.rng.below(448) as usize,
        };
        let mut text = format!(
            "{{\"op\":\"{kind}\",\"n\":{},\"shard\":{},\"note\":\"",
            self.n,
            self.rng.below(64)
        )
        .into_bytes();
        const WORDS: &[&str] = &[
            "vector ", "graph ", "tensor ", "agent ", "cache ", "index ", "shard ",
        ];
        while text.len() + 2 < len {
            text.extend_from_slice(self.rng.pick(WORDS).as_bytes());
        }
        text.truncate(len.saturating_sub(2));
        text.extend_from_slice(b"\"}");
        text.truncate(len);
        text
    }

    /// The next event.
    pub fn next_event(&mut self) -> Event {
        self.n += 1;
        let roll = self.rng.below(100);
        let tx = if self.rng.below(4) == 0 {
            1 + self.n / 50
        } else {
            0
        };
        let ev = match roll {
            0..=39 => {
                let op = match self.rng.below(10) {
                    0..=4 => FsOp::Write,
                    5..=7 => FsOp::Read,
                    8 => FsOp::Create,
                    _ => FsOp::Rename,
                };
                let path = format!("{}/{}", self.rng.pick(DIRS), self.rng.pick(FILES));
                Event::filesystem(op)
                    .path(path)
                    .inode(1000 + self.rng.below(50_000))
                    .file_type(0o100_644)
                    .payload(self.payload_text("fs"))
            }
            40..=59 => {
                let op = if self.rng.below(3) == 0 {
                    VectorOp::Embed
                } else {
                    VectorOp::Search
                };
                Event::vector(op)
                    .vector_ref(self.rng.below(5_000_000), 768)
                    .vector_element_type(1)
                    .payload(self.payload_text("vector"))
            }
            60..=74 => {
                let op = if self.rng.below(2) == 0 {
                    GraphOp::NodeCreate
                } else {
                    GraphOp::EdgeCreate
                };
                Event::graph(op)
                    .graph_node(self.rng.below(1_000_000))
                    .graph_edge(self.rng.below(4_000_000))
                    .graph_operation(1)
                    .payload(self.payload_text("graph"))
            }
            75..=89 => {
                let op = if self.rng.below(3) == 0 {
                    AgentOp::Decision
                } else {
                    AgentOp::Reasoning
                };
                let mut ev = Event::agent(op)
                    .agent_id(self.rng.pick(AGENTS))
                    .intent(self.rng.pick(INTENTS))
                    .confidence(50 + self.rng.below(50) as u32)
                    .payload(self.payload_text("agent"));
                if op == AgentOp::Decision && self.n > 10 {
                    ev = ev.parent(self.n - 1).link(CausalityLink {
                        cause_event_id: self.n - 1,
                        effect_event_id: self.n,
                        causality_type: 1,
                        strength: 70,
                        delay_ns: 0,
                        description: "decided from reasoning".into(),
                    });
                }
                ev
            }
            _ => {
                let op = if self.rng.below(4) == 0 {
                    ObservabilityOp::AuditEvent
                } else {
                    ObservabilityOp::MetricCollected
                };
                Event::observability(op)
                    .system_load(self.rng.below(100) as u32)
                    .memory_usage(self.rng.below(64 << 30))
                    .priority(if op == ObservabilityOp::AuditEvent {
                        Priority::HIGH
                    } else {
                        Priority::LOW
                    })
                    .payload(self.payload_text("obs"))
            }
        };
        ev.tx(tx)
    }
}

/// A minimal filesystem write event with a payload of `payload` bytes (the bench's
/// fixed-size workload).
pub fn fixed_event(i: u64, payload: &[u8]) -> Event {
    Event::filesystem(FsOp::Write)
        .path("/models/llama-3-8b/weights.safetensors")
        .inode(i)
        .payload(payload.to_vec())
}
