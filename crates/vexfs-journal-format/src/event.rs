//! The owned event model and its builder.
//!
//! [`Event`] holds every field a kernel event can carry, in native Rust types. Both
//! encodings — the kernel event ([`crate::kernel`]) and the compact userspace record
//! ([`crate::record`]) — are lossless views of it.

use alloc::vec::Vec;

use bstr::{BStr, BString};

use crate::consts::{DEFAULT_RELEVANCE_SCORE, DEFAULT_VISIBILITY_MASK};
use crate::types::{
    AgentOp, EventFlags, EventType, FsOp, GraphOp, ObservabilityOp, Priority, SemanticOp, SystemOp,
    VectorOp,
};

/// When and where an event was logged (the kernel's 24-byte timestamp).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timestamp {
    /// Nanoseconds. Userspace writes wall-clock time since the Unix epoch.
    pub ktime_ns: i64,
    /// Sequence captured with the time.
    pub sequence: u64,
    /// CPU the event was logged on.
    pub cpu_id: u32,
    /// Process id of the emitter.
    pub process_id: u32,
}

macro_rules! field_ty {
    (str) => {
        BString
    };
    (u64) => {
        u64
    };
    (u32) => {
        u32
    };
}

macro_rules! field_ref_ty {
    ($a:lifetime, str) => { &$a BStr };
    ($a:lifetime, u64) => { u64 };
    ($a:lifetime, u32) => { u32 };
}

macro_rules! field_to_owned {
    (str, $v:expr) => {
        BString::from($v.as_ref() as &[u8])
    };
    ($other:tt, $v:expr) => {
        $v
    };
}

/// Calls `$callback!` with every context field as `(bit, name, kind, doc)`, in order.
/// The one place a context field is defined: the structs below and both codecs
/// (kernel and compact) are generated from this list.
macro_rules! with_context_fields {
    ($callback:ident) => {
        $callback! {
            (0, transaction_id, u64, "Transaction the event belongs to (0: none)."),
            (1, session_id, u64, "Session id."),
            (2, causality_chain_id, u64, "Causality chain id."),
            (3, path, str, "Filesystem path (kernel: `char[4096]`)."),
            (4, inode_number, u64, "Inode number."),
            (5, file_type, u32, "File type."),
            (6, graph_node_id, u64, "Graph node id."),
            (7, graph_edge_id, u64, "Graph edge id."),
            (8, graph_operation_type, u32, "Graph operation type."),
            (9, vector_id, u64, "Vector id."),
            (10, vector_dimensions, u32, "Vector dimensions."),
            (11, vector_element_type, u32, "Vector element type."),
            (12, agent_id, str, "Agent id (kernel: `char[64]`)."),
            (13, agent_intent, str, "What the agent meant to do (kernel: `char[256]`)."),
            (14, agent_confidence, u32, "Agent confidence, 0–100."),
            (15, system_load, u32, "System load."),
            (16, memory_usage, u64, "Memory usage."),
            (17, io_pressure, u32, "I/O pressure."),
            (18, semantic_tags, str, "Semantic tags, JSON text (kernel: `char[512]`)."),
            (19, semantic_intent, str, "Semantic intent (kernel: `char[256]`)."),
            (20, semantic_confidence, u32, "Semantic confidence, 0–100."),
        }
    };
}
pub(crate) use with_context_fields;

macro_rules! field_as_ref {
    (str, $v:expr) => {
        BStr::new(&$v)
    };
    ($other:tt, $v:expr) => {
        $v
    };
}

macro_rules! define_context {
    ($( ($bit:literal, $field:ident, $kind:tt, $doc:literal) ),* $(,)?) => {
        /// The semantic context of an event (the kernel's 5280-byte context, with
        /// strings as byte strings of their real length).
        #[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
        pub struct Context {
            $( #[doc = $doc] pub $field: field_ty!($kind), )*
        }

        /// A borrowed view of a [`Context`], decoded without allocating.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct ContextRef<'a> {
            $( #[doc = $doc] pub $field: field_ref_ty!('a, $kind), )*
        }

        impl ContextRef<'_> {
            /// Copies the view into an owned [`Context`].
            pub fn to_owned(&self) -> Context {
                Context { $( $field: field_to_owned!($kind, self.$field), )* }
            }
        }

        impl Context {
            /// A borrowed view of this context.
            pub fn as_ref(&self) -> ContextRef<'_> {
                ContextRef { $( $field: field_as_ref!($kind, self.$field), )* }
            }
        }
    };
}

with_context_fields!(define_context);

/// Number of fields in a [`Context`] (bits used in the compact presence mask).
pub(crate) const CONTEXT_FIELD_COUNT: u32 = 21;

/// A causal relation between two events (the kernel's 160-byte link).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CausalityLink {
    /// The causing event.
    pub cause_event_id: u64,
    /// The caused event.
    pub effect_event_id: u64,
    /// Kind of causality.
    pub causality_type: u32,
    /// Strength, 0–100.
    pub strength: u32,
    /// Delay between cause and effect, ns.
    pub delay_ns: i64,
    /// Description (kernel: `char[128]`).
    pub description: BString,
}

/// A borrowed view of a [`CausalityLink`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CausalityLinkRef<'a> {
    /// The causing event.
    pub cause_event_id: u64,
    /// The caused event.
    pub effect_event_id: u64,
    /// Kind of causality.
    pub causality_type: u32,
    /// Strength, 0–100.
    pub strength: u32,
    /// Delay between cause and effect, ns.
    pub delay_ns: i64,
    /// Description.
    pub description: &'a BStr,
}

impl CausalityLinkRef<'_> {
    /// Copies the view into an owned link.
    pub fn to_owned(&self) -> CausalityLink {
        CausalityLink {
            cause_event_id: self.cause_event_id,
            effect_event_id: self.effect_event_id,
            causality_type: self.causality_type,
            strength: self.strength,
            delay_ns: self.delay_ns,
            description: BString::from(self.description.as_ref() as &[u8]),
        }
    }
}

/// A semantic event: everything a kernel event carries.
///
/// Build one with the typed constructors and chained setters:
///
/// ```
/// use vexfs_journal_format::{Event, FsOp};
/// let ev = Event::filesystem(FsOp::Write).path("/models/a.bin").inode(7).payload(b"hello".to_vec());
/// assert_eq!(ev.event_type.to_string(), "filesystem.write");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// Unique id (assigned by the journal on emission).
    pub event_id: u64,
    /// Type code.
    pub event_type: EventType,
    /// Free-form subtype.
    pub subtype: u32,
    /// When it happened (assigned on emission unless set).
    pub timestamp: Timestamp,
    /// Global sequence number (assigned on emission).
    pub global_sequence: u64,
    /// Local sequence number.
    pub local_sequence: u64,
    /// Flag bits.
    pub flags: EventFlags,
    /// Priority.
    pub priority: Priority,
    /// Kernel header `compression_type` of the payload, carried as is.
    pub compression_type: u32,
    /// Kernel header `encryption_type` of the payload, carried as is.
    pub encryption_type: u32,
    /// Parent event id (0: none).
    pub parent_event_id: u64,
    /// Root-cause event id (the event's own id for root events).
    pub root_cause_event_id: u64,
    /// Agents allowed to see the event, one bit each.
    pub agent_visibility_mask: u64,
    /// Relevance to agents, 0–100.
    pub agent_relevance_score: u32,
    /// Priority when replaying.
    pub replay_priority: u32,
    /// Semantic context.
    pub context: Context,
    /// Opaque payload.
    pub payload: Vec<u8>,
    /// Metadata (JSON text by convention).
    pub metadata: Vec<u8>,
    /// Causality links.
    pub links: Vec<CausalityLink>,
}

impl Default for Event {
    fn default() -> Self {
        Event::new(EventType::from_code(0))
    }
}

macro_rules! typed_constructors {
    ($($(#[$doc:meta])* $name:ident($op:ty);)*) => {
        $( $(#[$doc])* pub fn $name(op: $op) -> Event { Event::new(op) } )*
    };
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident => $($path:ident).+ : $ty:ty;)*) => {
        $( $(#[$doc])* #[must_use] pub fn $name(mut self, value: $ty) -> Self { self.$($path).+ = value.into(); self } )*
    };
}

impl Event {
    /// An event of type `event_type` with the kernel's defaults (priority normal,
    /// visible to all agents, relevance 50, replay priority normal).
    pub fn new(event_type: impl Into<EventType>) -> Event {
        Event {
            event_id: 0,
            event_type: event_type.into(),
            subtype: 0,
            timestamp: Timestamp::default(),
            global_sequence: 0,
            local_sequence: 0,
            flags: EventFlags::empty(),
            priority: Priority::NORMAL,
            compression_type: 0,
            encryption_type: 0,
            parent_event_id: 0,
            root_cause_event_id: 0,
            agent_visibility_mask: DEFAULT_VISIBILITY_MASK,
            agent_relevance_score: DEFAULT_RELEVANCE_SCORE,
            replay_priority: Priority::NORMAL.code(),
            context: Context::default(),
            payload: Vec::new(),
            metadata: Vec::new(),
            links: Vec::new(),
        }
    }

    typed_constructors! {
        /// A filesystem event.
        filesystem(FsOp);
        /// A graph event.
        graph(GraphOp);
        /// A vector event.
        vector(VectorOp);
        /// An agent event.
        agent(AgentOp);
        /// A system event.
        system(SystemOp);
        /// A semantic event.
        semantic(SemanticOp);
        /// An observability event.
        observability(ObservabilityOp);
    }

    setters! {
        /// Sets the subtype.
        subtype => subtype: u32;
        /// Sets the priority.
        priority => priority: Priority;
        /// Sets the parent event id.
        parent => parent_event_id: u64;
        /// Sets the root-cause event id.
        root_cause => root_cause_event_id: u64;
        /// Sets the agent visibility mask.
        visibility => agent_visibility_mask: u64;
        /// Sets the agent relevance score.
        relevance => agent_relevance_score: u32;
        /// Sets the replay priority.
        replay_priority => replay_priority: u32;
        /// Sets the timestamp explicitly (otherwise assigned on emission).
        timestamp => timestamp: Timestamp;
        /// Sets the path.
        path => context.path: impl Into<BString>;
        /// Sets the inode number.
        inode => context.inode_number: u64;
        /// Sets the file type.
        file_type => context.file_type: u32;
        /// Sets the transaction id.
        tx => context.transaction_id: u64;
        /// Sets the session id.
        session => context.session_id: u64;
        /// Sets the causality chain id.
        causality_chain => context.causality_chain_id: u64;
        /// Sets the graph node id.
        graph_node => context.graph_node_id: u64;
        /// Sets the graph edge id.
        graph_edge => context.graph_edge_id: u64;
        /// Sets the graph operation type.
        graph_operation => context.graph_operation_type: u32;
        /// Sets the vector id.
        vector_id => context.vector_id: u64;
        /// Sets the vector dimensions.
        vector_dimensions => context.vector_dimensions: u32;
        /// Sets the vector element type.
        vector_element_type => context.vector_element_type: u32;
        /// Sets the agent id.
        agent_id => context.agent_id: impl Into<BString>;
        /// Sets the agent intent.
        intent => context.agent_intent: impl Into<BString>;
        /// Sets the agent confidence (0–100).
        confidence => context.agent_confidence: u32;
        /// Sets the system load.
        system_load => context.system_load: u32;
        /// Sets the memory usage.
        memory_usage => context.memory_usage: u64;
        /// Sets the I/O pressure.
        io_pressure => context.io_pressure: u32;
        /// Sets the semantic tags (JSON text).
        tags => context.semantic_tags: impl Into<BString>;
        /// Sets the semantic intent.
        semantic_intent => context.semantic_intent: impl Into<BString>;
        /// Sets the semantic confidence (0–100).
        semantic_confidence => context.semantic_confidence: u32;
        /// Sets the payload.
        payload => payload: impl Into<Vec<u8>>;
        /// Sets the metadata.
        metadata => metadata: impl Into<Vec<u8>>;
    }

    /// Adds flag bits.
    #[must_use]
    pub fn flags(mut self, flags: EventFlags) -> Self {
        self.flags |= flags;
        self
    }

    /// Adds a causality link.
    #[must_use]
    pub fn link(mut self, link: CausalityLink) -> Self {
        self.links.push(link);
        self
    }

    /// Sets vector id and dimensions.
    #[must_use]
    pub fn vector_ref(self, id: u64, dimensions: u32) -> Self {
        self.vector_id(id).vector_dimensions(dimensions)
    }
}
