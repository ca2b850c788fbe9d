//! Event taxonomy: categories, types, flags, priorities and compression codes.
//!
//! Type codes are `category | n` (`KERNEL-FORMAT.md`). Every code read from disk is kept
//! as it is: codes outside the table are "unknown" types that display as
//! `unknown(0x0999)` and encode back to the same number.

use core::fmt;
use core::str::FromStr;

use crate::error::ParseNameError;

/// Parses `0x…` hexadecimal or plain decimal text as a `u32`.
fn parse_code(s: &str) -> Option<u32> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u32::from_str_radix(hex, 16).ok()
    } else if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// Parses `unknown(0x…)`, `0x…` or a decimal number.
fn parse_code_form(s: &str) -> Option<u32> {
    let inner = s
        .strip_prefix("unknown(")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or(s);
    parse_code(inner)
}

macro_rules! taxonomy {
    ($(
        $(#[$cat_doc:meta])*
        $cat_const:ident = $cat_code:literal, $cat_name:literal, $op:ident {
            $($(#[$var_doc:meta])* $var:ident = $sub:literal => $name:literal),+ $(,)?
        }
    )+) => {
        impl Category {
            $($(#[$cat_doc])* pub const $cat_const: Category = Category($cat_code);)+
            /// Every known category, in code order.
            pub const ALL: &'static [Category] = &[$(Category::$cat_const),+];

            /// Lowercase canonical name, or `None` for an unknown category.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($cat_code => Some($cat_name),)+
                    _ => None,
                }
            }
        }

        $(
            $(#[$cat_doc])*
            #[doc = concat!("\n\nOperations of the `", $cat_name, "` category.")]
            #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
            #[repr(u32)]
            pub enum $op {
                $($(#[$var_doc])* #[doc = concat!("`", $cat_name, ".", $name, "`")] $var = $cat_code | $sub,)+
            }

            impl From<$op> for EventType {
                fn from(op: $op) -> EventType {
                    EventType(op as u32)
                }
            }
        )+

        /// Every known type: (code, category name, type name).
        const KNOWN_TYPES: &[(u32, &str, &str)] = &[
            $($(($cat_code | $sub, $cat_name, $name),)+)+
        ];
    };
}

taxonomy! {
    /// Filesystem operations.
    FILESYSTEM = 0x0100, "filesystem", FsOp {
        Create = 0x01 => "create", Delete = 0x02 => "delete", Read = 0x03 => "read",
        Write = 0x04 => "write", Rename = 0x05 => "rename", Chmod = 0x06 => "chmod",
        Chown = 0x07 => "chown", Truncate = 0x08 => "truncate", Mkdir = 0x09 => "mkdir",
        Rmdir = 0x0A => "rmdir", Symlink = 0x0B => "symlink", Hardlink = 0x0C => "hardlink",
    }
    /// Property graph operations.
    GRAPH = 0x0200, "graph", GraphOp {
        NodeCreate = 0x01 => "node_create", NodeDelete = 0x02 => "node_delete",
        NodeUpdate = 0x03 => "node_update", EdgeCreate = 0x04 => "edge_create",
        EdgeDelete = 0x05 => "edge_delete", EdgeUpdate = 0x06 => "edge_update",
        PropertySet = 0x07 => "property_set", PropertyDelete = 0x08 => "property_delete",
        Traverse = 0x09 => "traverse", Query = 0x0A => "query",
    }
    /// Vector store operations.
    VECTOR = 0x0300, "vector", VectorOp {
        Create = 0x01 => "create", Delete = 0x02 => "delete", Update = 0x03 => "update",
        Search = 0x04 => "search", Index = 0x05 => "index", Similarity = 0x06 => "similarity",
        Cluster = 0x07 => "cluster", Embed = 0x08 => "embed",
    }
    /// AI agent activity.
    AGENT = 0x0400, "agent", AgentOp {
        Query = 0x01 => "query", Reasoning = 0x02 => "reasoning", Decision = 0x03 => "decision",
        Orchestration = 0x04 => "orchestration", Learning = 0x05 => "learning",
        Interaction = 0x06 => "interaction",
    }
    /// System lifecycle.
    SYSTEM = 0x0500, "system", SystemOp {
        Mount = 0x01 => "mount", Unmount = 0x02 => "unmount", Sync = 0x03 => "sync",
        Checkpoint = 0x04 => "checkpoint", Recovery = 0x05 => "recovery",
        Optimization = 0x06 => "optimization",
    }
    /// Semantic structure: transactions, causality, intent.
    SEMANTIC = 0x0600, "semantic", SemanticOp {
        TransactionBegin = 0x01 => "transaction_begin", TransactionEnd = 0x02 => "transaction_end",
        CausalityLink = 0x03 => "causality_link", IntentCapture = 0x04 => "intent_capture",
        ContextSwitch = 0x05 => "context_switch", SemanticLink = 0x06 => "semantic_link",
    }
    /// Userspace observability.
    OBSERVABILITY = 0x0800, "observability", ObservabilityOp {
        MetricCollected = 0x01 => "metric_collected", LogGenerated = 0x02 => "log_generated",
        TraceSpanStart = 0x03 => "trace_span_start", TraceSpanEnd = 0x04 => "trace_span_end",
        AlertTriggered = 0x05 => "alert_triggered", HealthCheck = 0x06 => "health_check",
        PerformanceCounter = 0x07 => "performance_counter", ErrorReported = 0x08 => "error_reported",
        AuditEvent = 0x09 => "audit_event", SystemStatus = 0x0A => "system_status",
        ResourceUsage = 0x0B => "resource_usage", Threshold = 0x0C => "threshold",
    }
}

/// An event category: the high byte of a type code (`0x0100` … `0x0800`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Category(u32);

impl Category {
    /// The category with this code; unknown codes are kept as they are.
    pub const fn from_code(code: u32) -> Category {
        Category(code)
    }

    /// The category code (`0x0100`, `0x0200`, …).
    pub const fn code(self) -> u32 {
        self.0
    }

    /// Whether the category is in the taxonomy.
    pub fn is_known(self) -> bool {
        self.name().is_some()
    }

    /// Every known type of this category.
    pub fn types(self) -> impl Iterator<Item = EventType> {
        EventType::all().filter(move |t| t.category() == self)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "unknown(0x{:04x})", self.0),
        }
    }
}

impl FromStr for Category {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(cat) = Category::ALL
            .iter()
            .find(|c| c.name() == Some(lower.as_str()))
        {
            return Ok(*cat);
        }
        parse_code_form(&lower)
            .map(Category)
            .ok_or_else(|| ParseNameError::new("event category", s))
    }
}

/// An event type code. Known codes have a canonical `category.type` name; any other
/// code is kept and written back unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventType(u32);

impl EventType {
    /// The type with this code, known or not.
    pub const fn from_code(code: u32) -> EventType {
        EventType(code)
    }

    /// The numeric code.
    pub const fn code(self) -> u32 {
        self.0
    }

    /// The category (high byte of the code).
    pub const fn category(self) -> Category {
        Category(self.0 & 0xFF00)
    }

    /// Every known type, in code order.
    pub fn all() -> impl Iterator<Item = EventType> {
        KNOWN_TYPES.iter().map(|(code, _, _)| EventType(*code))
    }

    fn entry(self) -> Option<&'static (u32, &'static str, &'static str)> {
        KNOWN_TYPES.iter().find(|(code, _, _)| *code == self.0)
    }

    /// Whether the code is in the taxonomy.
    pub fn is_known(self) -> bool {
        self.entry().is_some()
    }

    /// Position of a known type in [`EventType::all`] (0 … 59), for dense bitmaps.
    /// Constant time: the taxonomy numbers each category's types from 1 without gaps.
    pub fn known_index(self) -> Option<usize> {
        let sub = (self.0 & 0xFF) as usize;
        let (start, count) = match self.0 & !0xFF {
            0x0100 => (0, 12),
            0x0200 => (12, 10),
            0x0300 => (22, 8),
            0x0400 => (30, 6),
            0x0500 => (36, 6),
            0x0600 => (42, 6),
            0x0800 => (48, 12),
            _ => return None,
        };
        (1..=count).contains(&sub).then(|| start + sub - 1)
    }

    /// Number of known types.
    pub const KNOWN_COUNT: usize = KNOWN_TYPES.len();

    /// The type part of the canonical name (`write` for `filesystem.write`).
    pub fn short_name(self) -> Option<&'static str> {
        self.entry().map(|(_, _, name)| *name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.entry() {
            Some((_, cat, name)) => write!(f, "{cat}.{name}"),
            None => write!(f, "unknown(0x{:04x})", self.0),
        }
    }
}

impl FromStr for EventType {
    type Err = ParseNameError;

    /// Accepts `category.type` (any case), `0x0104`, decimal codes and `unknown(0x…)`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some((cat, name)) = lower.split_once('.')
            && let Some((code, _, _)) = KNOWN_TYPES.iter().find(|(_, c, n)| *c == cat && *n == name)
        {
            return Ok(EventType(*code));
        }
        parse_code_form(&lower)
            .map(EventType)
            .ok_or_else(|| ParseNameError::new("event type", s))
    }
}

bitflags::bitflags! {
    /// Event flag bits. Bits outside the named ones are kept as they are.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
    pub struct EventFlags: u32 {
        /// Part of an all-or-nothing batch.
        const ATOMIC = 0x01;
        /// Part of a transaction.
        const TRANSACTIONAL = 0x02;
        /// Carries causality information.
        const CAUSAL = 0x04;
        /// Visible to agents.
        const AGENT_VISIBLE = 0x08;
        /// Replays deterministically.
        const DETERMINISTIC = 0x10;
        /// Payload is compressed.
        const COMPRESSED = 0x20;
        /// Indexed.
        const INDEXED = 0x40;
        /// Replicated.
        const REPLICATED = 0x80;
    }
}

const FLAG_NAMES: &[(EventFlags, &str)] = &[
    (EventFlags::ATOMIC, "atomic"),
    (EventFlags::TRANSACTIONAL, "transactional"),
    (EventFlags::CAUSAL, "causal"),
    (EventFlags::AGENT_VISIBLE, "agent_visible"),
    (EventFlags::DETERMINISTIC, "deterministic"),
    (EventFlags::COMPRESSED, "compressed"),
    (EventFlags::INDEXED, "indexed"),
    (EventFlags::REPLICATED, "replicated"),
];

impl EventFlags {
    /// Lowercase names of the set named bits.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FLAG_NAMES
            .iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
    }

    /// Bits set that have no name.
    pub fn unnamed_bits(self) -> u32 {
        self.bits() & !EventFlags::all().bits()
    }

    /// One flag by lowercase name, or a numeric mask (`0x…` or decimal).
    pub fn parse_one(s: &str) -> Result<EventFlags, ParseNameError> {
        let lower = s.trim().to_ascii_lowercase();
        FLAG_NAMES
            .iter()
            .find(|(_, name)| *name == lower)
            .map(|(flag, _)| *flag)
            .or_else(|| parse_code(&lower).map(EventFlags::from_bits_retain))
            .ok_or_else(|| ParseNameError::new("event flag", s))
    }
}

impl fmt::Display for EventFlags {
    /// `atomic|causal`, with unnamed bits as a trailing `0x…`; `none` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for name in self.names() {
            if !first {
                f.write_str("|")?;
            }
            f.write_str(name)?;
            first = false;
        }
        let rest = self.unnamed_bits();
        if rest != 0 {
            if !first {
                f.write_str("|")?;
            }
            write!(f, "0x{rest:x}")?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl FromStr for EventFlags {
    type Err = ParseNameError;

    /// Parses the [`Display`](fmt::Display) form: names and masks joined by `|` or `,`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let trimmed = s.trim();
        if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("none") {
            return Ok(EventFlags::empty());
        }
        trimmed
            .split(['|', ','])
            .try_fold(EventFlags::empty(), |acc, part| {
                Ok(acc | EventFlags::parse_one(part)?)
            })
    }
}

/// Event priority: 1 (critical) is the most urgent, 5 (background) the least. Other
/// values read from disk are kept as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(u32);

const PRIORITY_NAMES: &[&str] = &["critical", "high", "normal", "low", "background"];

impl Priority {
    /// Critical (1).
    pub const CRITICAL: Priority = Priority(1);
    /// High (2).
    pub const HIGH: Priority = Priority(2);
    /// Normal (3), the kernel default.
    pub const NORMAL: Priority = Priority(3);
    /// Low (4).
    pub const LOW: Priority = Priority(4);
    /// Background (5).
    pub const BACKGROUND: Priority = Priority(5);

    /// The priority with this numeric value.
    pub const fn from_code(code: u32) -> Priority {
        Priority(code)
    }

    /// The numeric value.
    pub const fn code(self) -> u32 {
        self.0
    }

    /// Lowercase name of a known priority.
    pub fn name(self) -> Option<&'static str> {
        let index = usize::try_from(self.0).ok()?.checked_sub(1)?;
        PRIORITY_NAMES.get(index).copied()
    }
}

impl Default for Priority {
    fn default() -> Self {
        Priority::NORMAL
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for Priority {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some(pos) = PRIORITY_NAMES.iter().position(|n| *n == lower) {
            return Ok(Priority(pos as u32 + 1));
        }
        parse_code(&lower)
            .map(Priority)
            .ok_or_else(|| ParseNameError::new("priority", s))
    }
}

/// Compression codes of block data and payloads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "lowercase")
)]
#[repr(u32)]
pub enum Compression {
    /// Stored as is.
    #[default]
    None = 0,
    /// zlib (kernel code; not written by userspace).
    Zlib = 1,
    /// Raw LZ4 block format.
    Lz4 = 2,
    /// Zstandard frame (userspace only).
    Zstd = 3,
}

impl Compression {
    /// The compression with this code.
    pub fn from_code(code: u32) -> Option<Compression> {
        match code {
            0 => Some(Compression::None),
            1 => Some(Compression::Zlib),
            2 => Some(Compression::Lz4),
            3 => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// The numeric code.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// Lowercase name.
    pub const fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zlib => "zlib",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = ParseNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Compression::None),
            "zlib" => Ok(Compression::Zlib),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            _ => Err(ParseNameError::new("compression", s)),
        }
    }
}
