//! The JSON representation of events, for humans, agents and the CLI (`docs/json.md`).
//!
//! One event is one JSON object. Every field is optional except `type`; zero and empty
//! fields are left out on output. Byte-string fields (`payload`, `path`, `agent`,
//! `intent`, `tags`, `semantic_intent`, link `description`) are JSON strings when they
//! are UTF-8 and `{"base64": "…"}` otherwise. `metadata` is any JSON value (stored as
//! its compact text); raw metadata that is not JSON reads and writes as
//! `{"base64": "…"}`. Unknown fields are rejected, so typos do not pass silently.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};
use vexfs_journal_format::{BString, CausalityLink, Event, EventFlags, EventType, Priority};
use vexfs_journal_storage::StoredEvent;

use crate::error::JsonError;

/// Every key the schema knows.
pub const FIELDS: &[&str] = &[
    "seq",
    "id",
    "global_seq",
    "local_seq",
    "type",
    "subtype",
    "time",
    "cpu",
    "pid",
    "priority",
    "flags",
    "parent",
    "root_cause",
    "visibility",
    "relevance",
    "replay_priority",
    "compression_type",
    "encryption_type",
    "tx",
    "cross_boundary_id",
    "session",
    "chain",
    "path",
    "inode",
    "file_type",
    "graph_node",
    "graph_edge",
    "graph_op",
    "vector",
    "dims",
    "vector_type",
    "agent",
    "intent",
    "confidence",
    "load",
    "memory",
    "io_pressure",
    "tags",
    "semantic_intent",
    "semantic_confidence",
    "payload",
    "metadata",
    "links",
];

/// The keys of [`FIELDS`] whose values are integers (a filter on one of them with a
/// value that is not a number can match nothing, and is refused).
pub const INTEGER_FIELDS: &[&str] = &[
    "seq",
    "id",
    "global_seq",
    "local_seq",
    "subtype",
    "cpu",
    "pid",
    "parent",
    "root_cause",
    "visibility",
    "relevance",
    "replay_priority",
    "tx",
    "cross_boundary_id",
    "session",
    "chain",
    "inode",
    "file_type",
    "graph_node",
    "graph_edge",
    "graph_op",
    "vector",
    "dims",
    "vector_type",
    "confidence",
    "load",
    "memory",
    "io_pressure",
    "semantic_confidence",
];

fn bytes_to_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(s) => Value::String(s.to_owned()),
        Err(_) => json!({ "base64": B64.encode(bytes) }),
    }
}

fn bytes_from_json(field: &str, v: &Value) -> Result<Vec<u8>, JsonError> {
    match v {
        Value::String(s) => Ok(s.clone().into_bytes()),
        Value::Object(o) if o.len() == 1 => match o.get("base64") {
            Some(Value::String(b)) => B64
                .decode(b)
                .map_err(|e| JsonError::new(field, format!("invalid base64: {e}"))),
            _ => Err(JsonError::new(
                field,
                "expected a string or {\"base64\": \"…\"}",
            )),
        },
        _ => Err(JsonError::new(
            field,
            "expected a string or {\"base64\": \"…\"}",
        )),
    }
}

/// Formats nanoseconds since the Unix epoch as RFC 3339 UTC with nanoseconds.
pub fn format_time(ns: i64) -> String {
    match jiff::Timestamp::from_nanosecond(i128::from(ns)) {
        Ok(t) => format!("{t:.9}"),
        Err(_) => ns.to_string(),
    }
}

/// The range of event times: nanoseconds since the Unix epoch that fit the kernel's
/// unsigned 64-bit clock read as signed, i.e. 1970-01-01T00:00:00Z to
/// 2262-04-11T23:47:16.854775807Z.
fn time_out_of_range(field: &str, what: impl std::fmt::Display) -> JsonError {
    JsonError::new(
        field,
        format!(
            "time {what} is out of range: event times are from 1970-01-01T00:00:00Z to {} \
             (0 to {} ns)",
            format_time(i64::MAX),
            i64::MAX
        ),
    )
}

/// Parses RFC 3339 text (or an integer of nanoseconds) into nanoseconds since the epoch;
/// times before 1970 or past 2262 are refused.
pub fn parse_time(field: &str, v: &Value) -> Result<i64, JsonError> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(ns) if ns >= 0 => Ok(ns),
            _ => Err(time_out_of_range(field, n)),
        },
        Value::String(s) => {
            let t = s
                .parse::<jiff::Timestamp>()
                .map_err(|e| JsonError::new(field, format!("not an RFC 3339 time: {e}")))?;
            match i64::try_from(t.as_nanosecond()) {
                Ok(ns) if ns >= 0 => Ok(ns),
                _ => Err(time_out_of_range(field, s)),
            }
        }
        _ => Err(JsonError::new(
            field,
            "expected an RFC 3339 string or integer nanoseconds",
        )),
    }
}

/// A span of time like `90s`, `10m`, `2h`, `3d` or `1w` (also `10 min`, `2 hours`),
/// in nanoseconds; `None` when `text` is not one (or overflows).
pub fn parse_span(text: &str) -> Option<i64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().ok()?;
    let unit_ns: i64 = match unit.trim() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        "w" | "week" | "weeks" => 604_800_000_000_000,
        _ => return None,
    };
    n.checked_mul(unit_ns)
}

/// A bucket width: a span (`30s`, `1m`, `5m`, `1h`, `1d`) or plain seconds (`90`), in
/// nanoseconds; `None` unless it is positive.
pub fn parse_step(text: &str) -> Option<i64> {
    let t = text.trim();
    let ns = match t.parse::<i64>() {
        Ok(secs) => secs.checked_mul(1_000_000_000)?,
        Err(_) => parse_span(t)?,
    };
    (ns > 0).then_some(ns)
}

/// The JSON object of an event rate (`GET /stats/rate`, `vexjournal stats --by`):
/// `by`, `step_ns`, `since_ns`, `until_ns`, `buckets` (each `start_ns`, `time`,
/// `counts`), `blocks_read`, `blocks_summarised`.
pub fn rate_to_json(rate: &vexfs_journal_index::Rate) -> Value {
    let buckets: Vec<Value> = rate
        .buckets
        .iter()
        .map(|b| {
            json!({
                "start_ns": b.start_ns,
                "time": format_time(b.start_ns),
                "counts": b.counts,
            })
        })
        .collect();
    json!({
        "by": rate.by.name(),
        "step_ns": rate.step_ns,
        "since_ns": rate.since_ns,
        "until_ns": rate.until_ns,
        "buckets": buckets,
        "blocks_read": rate.blocks_read,
        "blocks_summarised": rate.blocks_summarised,
    })
}

/// A time given as RFC 3339 text, integer nanoseconds since the epoch, or a span back
/// from `now_ns` (`15m`, `-15m` or `15m ago`: fifteen minutes before `now_ns`).
pub fn parse_time_or_ago(field: &str, text: &str, now_ns: i64) -> Result<i64, JsonError> {
    let t = text.trim();
    if let Ok(ns) = t.parse::<i64>() {
        return parse_time(field, &Value::from(ns));
    }
    let span = t
        .strip_suffix("ago")
        .map(str::trim)
        .or_else(|| t.strip_prefix('-'))
        .unwrap_or(t);
    if let Some(back) = parse_span(span) {
        return now_ns
            .checked_sub(back)
            .filter(|ns| *ns >= 0)
            .ok_or_else(|| JsonError::new(field, format!("{text:?} goes back before 1970")));
    }
    parse_time(field, &Value::from(t)).map_err(|_| {
        JsonError::new(
            field,
            format!(
                "{text:?} is not an RFC 3339 time, nanoseconds, or a span back from now like 15m"
            ),
        )
    })
}

/// The JSON object of a stored event.
pub fn to_json(stored: &StoredEvent) -> Value {
    let ev = &stored.event;
    let c = &ev.context;
    let mut m = Map::new();
    m.insert("seq".into(), json!(stored.seq));
    m.insert("id".into(), json!(ev.event_id));
    if ev.global_sequence != ev.event_id {
        m.insert("global_seq".into(), json!(ev.global_sequence));
    }
    if ev.local_sequence != ev.global_sequence {
        m.insert("local_seq".into(), json!(ev.local_sequence));
    }
    m.insert("type".into(), json!(ev.event_type.to_string()));
    m.insert("time".into(), json!(format_time(ev.timestamp.ktime_ns)));
    let mut put_num = |k: &str, v: u64| {
        if v != 0 {
            m.insert(k.into(), json!(v));
        }
    };
    put_num("subtype", ev.subtype.into());
    put_num("cpu", ev.timestamp.cpu_id.into());
    put_num("pid", ev.timestamp.process_id.into());
    put_num("parent", ev.parent_event_id);
    if ev.root_cause_event_id != ev.event_id {
        put_num("root_cause", ev.root_cause_event_id);
    }
    put_num("compression_type", ev.compression_type.into());
    put_num("encryption_type", ev.encryption_type.into());
    put_num("tx", c.transaction_id);
    put_num("cross_boundary_id", stored.ext.cross_boundary_id);
    put_num("session", c.session_id);
    put_num("chain", c.causality_chain_id);
    put_num("inode", c.inode_number);
    put_num("file_type", c.file_type.into());
    put_num("graph_node", c.graph_node_id);
    put_num("graph_edge", c.graph_edge_id);
    put_num("graph_op", c.graph_operation_type.into());
    put_num("vector", c.vector_id);
    put_num("dims", c.vector_dimensions.into());
    put_num("vector_type", c.vector_element_type.into());
    put_num("confidence", c.agent_confidence.into());
    put_num("load", c.system_load.into());
    put_num("memory", c.memory_usage);
    put_num("io_pressure", c.io_pressure.into());
    put_num("semantic_confidence", c.semantic_confidence.into());
    if ev.priority != Priority::NORMAL {
        m.insert("priority".into(), json!(ev.priority.to_string()));
    }
    if !ev.flags.is_empty() {
        m.insert("flags".into(), json!(ev.flags.to_string()));
    }
    if ev.agent_visibility_mask != u64::MAX {
        m.insert("visibility".into(), json!(ev.agent_visibility_mask));
    }
    if ev.agent_relevance_score != 50 {
        m.insert("relevance".into(), json!(ev.agent_relevance_score));
    }
    if ev.replay_priority != Priority::NORMAL.code() {
        m.insert("replay_priority".into(), json!(ev.replay_priority));
    }
    for (key, bytes) in [
        ("path", &c.path),
        ("agent", &c.agent_id),
        ("intent", &c.agent_intent),
        ("tags", &c.semantic_tags),
        ("semantic_intent", &c.semantic_intent),
    ] {
        if !bytes.is_empty() {
            m.insert(key.into(), bytes_to_json(bytes));
        }
    }
    if !ev.payload.is_empty() {
        m.insert("payload".into(), bytes_to_json(&ev.payload));
    }
    if !ev.metadata.is_empty() {
        let value = serde_json::from_slice::<Value>(&ev.metadata)
            .ok()
            .filter(|v| !is_base64_wrapper(v))
            .unwrap_or_else(|| json!({ "base64": B64.encode(&ev.metadata) }));
        m.insert("metadata".into(), value);
    }
    if !ev.links.is_empty() {
        let links: Vec<Value> = ev
            .links
            .iter()
            .map(|l| {
                let mut o = Map::new();
                o.insert("cause".into(), json!(l.cause_event_id));
                o.insert("effect".into(), json!(l.effect_event_id));
                o.insert("type".into(), json!(l.causality_type));
                o.insert("strength".into(), json!(l.strength));
                if l.delay_ns != 0 {
                    o.insert("delay_ns".into(), json!(l.delay_ns));
                }
                if !l.description.is_empty() {
                    o.insert("description".into(), bytes_to_json(&l.description));
                }
                Value::Object(o)
            })
            .collect();
        m.insert("links".into(), Value::Array(links));
    }
    Value::Object(m)
}

fn is_base64_wrapper(v: &Value) -> bool {
    matches!(v, Value::Object(o) if o.len() == 1 && o.contains_key("base64"))
}

struct Fields<'a>(&'a Map<String, Value>);

impl Fields<'_> {
    fn uint(&self, key: &str) -> Result<Option<u64>, JsonError> {
        match self.0.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| JsonError::new(key, "expected a non-negative integer")),
            Some(Value::String(s)) => parse_uint(s)
                .map(Some)
                .ok_or_else(|| JsonError::new(key, format!("'{s}' is not an integer"))),
            Some(_) => Err(JsonError::new(key, "expected an integer")),
        }
    }

    fn percent(&self, key: &str) -> Result<Option<u32>, JsonError> {
        self.bounded(key, 0, 100)
    }

    fn priority(&self, key: &str) -> Result<Option<u32>, JsonError> {
        self.bounded(key, 1, 5)
    }

    fn u32(&self, key: &str) -> Result<Option<u32>, JsonError> {
        self.uint(key)?
            .map(|v| u32::try_from(v).map_err(|_| JsonError::new(key, "does not fit 32 bits")))
            .transpose()
    }

    /// A `u32` within `lo..=hi` (percentages, priorities).
    fn bounded(&self, key: &str, lo: u32, hi: u32) -> Result<Option<u32>, JsonError> {
        match self.u32(key)? {
            Some(v) if v < lo || v > hi => Err(JsonError::new(
                key,
                format!("{v} is out of range ({lo} to {hi})"),
            )),
            v => Ok(v),
        }
    }

    fn bytes(&self, key: &str) -> Result<Option<BString>, JsonError> {
        self.0
            .get(key)
            .filter(|v| !v.is_null())
            .map(|v| bytes_from_json(key, v).map(BString::from))
            .transpose()
    }
}

fn parse_uint(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses one JSON event. Sequence numbers and ids in the input (`seq`, `id`,
/// `global_seq`, `local_seq`) are ignored: the journal assigns new ones on emission;
/// so is `cross_boundary_id` (only a coordinator makes an event part of a coordinated
/// transaction).
pub fn from_json(v: &Value) -> Result<Event, JsonError> {
    let obj = v
        .as_object()
        .ok_or_else(|| JsonError::new("<event>", "expected a JSON object"))?;
    if let Some(unknown) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(JsonError::new(
            unknown.as_str(),
            "unknown field (see docs/json.md)",
        ));
    }
    let f = Fields(obj);
    let event_type = match obj.get("type") {
        Some(Value::String(s)) => s
            .parse::<EventType>()
            .map_err(|e| JsonError::new("type", e.to_string()))?,
        Some(Value::Number(n)) => EventType::from_code(
            n.as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| JsonError::new("type", "code does not fit 32 bits"))?,
        ),
        Some(_) => {
            return Err(JsonError::new(
                "type",
                "expected a name like \"filesystem.write\" or a code",
            ));
        }
        None => {
            return Err(JsonError::new(
                "type",
                "missing (e.g. \"filesystem.write\")",
            ));
        }
    };
    if !event_type.is_known() && !explicit_unknown(obj.get("type")) {
        return Err(JsonError::new(
            "type",
            format!(
                "{} is not a known event type (see docs/json.md); to store an unlisted \
                 code deliberately, write \"{event_type}\"",
                obj.get("type").map_or_else(String::new, Value::to_string)
            ),
        ));
    }
    let mut ev = Event::new(event_type);
    if let Some(v) = obj.get("time") {
        ev.timestamp.ktime_ns = parse_time("time", v)?;
    }
    macro_rules! set {
        ($($key:literal => $($target:ident).+ : $kind:ident;)*) => {
            $( if let Some(x) = f.$kind($key)? { ev.$($target).+ = x; } )*
        };
    }
    set! {
        "subtype" => subtype: u32;
        "cpu" => timestamp.cpu_id: u32;
        "pid" => timestamp.process_id: u32;
        "parent" => parent_event_id: uint;
        "root_cause" => root_cause_event_id: uint;
        "visibility" => agent_visibility_mask: uint;
        "relevance" => agent_relevance_score: percent;
        "replay_priority" => replay_priority: priority;
        "compression_type" => compression_type: u32;
        "encryption_type" => encryption_type: u32;
        "tx" => context.transaction_id: uint;
        "session" => context.session_id: uint;
        "chain" => context.causality_chain_id: uint;
        "inode" => context.inode_number: uint;
        "file_type" => context.file_type: u32;
        "graph_node" => context.graph_node_id: uint;
        "graph_edge" => context.graph_edge_id: uint;
        "graph_op" => context.graph_operation_type: u32;
        "vector" => context.vector_id: uint;
        "dims" => context.vector_dimensions: u32;
        "vector_type" => context.vector_element_type: u32;
        "confidence" => context.agent_confidence: percent;
        "load" => context.system_load: u32;
        "memory" => context.memory_usage: uint;
        "io_pressure" => context.io_pressure: u32;
        "semantic_confidence" => context.semantic_confidence: percent;
        "path" => context.path: bytes;
        "agent" => context.agent_id: bytes;
        "intent" => context.agent_intent: bytes;
        "tags" => context.semantic_tags: bytes;
        "semantic_intent" => context.semantic_intent: bytes;
    }
    if let Some(p) = obj.get("priority").filter(|v| !v.is_null()) {
        let parsed = match p {
            Value::String(s) => s
                .parse::<Priority>()
                .map_err(|e| JsonError::new("priority", e.to_string()))?,
            _ => Priority::from_code(f.u32("priority")?.unwrap_or(3)),
        };
        if parsed.name().is_none() {
            return Err(JsonError::new(
                "priority",
                format!(
                    "{} is out of range: use critical, high, normal, low, background or 1 to 5",
                    parsed.code()
                ),
            ));
        }
        ev.priority = parsed;
    }
    if let Some(flags) = obj.get("flags").filter(|v| !v.is_null()) {
        ev.flags = parse_flags(flags)?;
    }
    if let Some(p) = obj.get("payload").filter(|v| !v.is_null()) {
        ev.payload = bytes_from_json("payload", p)?;
    }
    if let Some(m) = obj.get("metadata").filter(|v| !v.is_null()) {
        ev.metadata = if is_base64_wrapper(m) {
            bytes_from_json("metadata", m)?
        } else {
            serde_json::to_vec(m).map_err(|e| JsonError::new("metadata", e.to_string()))?
        };
    }
    if let Some(links) = obj.get("links").filter(|v| !v.is_null()) {
        let arr = links
            .as_array()
            .ok_or_else(|| JsonError::new("links", "expected an array"))?;
        for (i, l) in arr.iter().enumerate() {
            ev.links.push(parse_link(i, l)?);
        }
    }
    Ok(ev)
}

/// Whether a `type` value is the deliberate `"unknown(0x…)"` form.
fn explicit_unknown(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(s)) if s.trim().to_ascii_lowercase().starts_with("unknown("))
}

fn parse_flags(v: &Value) -> Result<EventFlags, JsonError> {
    match v {
        Value::String(s) => s
            .parse()
            .map_err(|e: vexfs_journal_format::ParseNameError| {
                JsonError::new("flags", e.to_string())
            }),
        Value::Number(n) => n
            .as_u64()
            .and_then(|b| u32::try_from(b).ok())
            .map(EventFlags::from_bits_retain)
            .ok_or_else(|| JsonError::new("flags", "mask does not fit 32 bits")),
        Value::Array(items) => items
            .iter()
            .try_fold(EventFlags::empty(), |acc, item| match item {
                Value::String(s) => Ok(acc
                    | EventFlags::parse_one(s)
                        .map_err(|e| JsonError::new("flags", e.to_string()))?),
                _ => Err(JsonError::new("flags", "array items must be flag names")),
            }),
        _ => Err(JsonError::new(
            "flags",
            "expected names (\"atomic|causal\" or [\"atomic\"]) or a mask",
        )),
    }
}

fn parse_link(i: usize, v: &Value) -> Result<CausalityLink, JsonError> {
    let field = format!("links[{i}]");
    let obj = v
        .as_object()
        .ok_or_else(|| JsonError::new(&field, "expected an object"))?;
    const KEYS: &[&str] = &[
        "cause",
        "effect",
        "type",
        "strength",
        "delay_ns",
        "description",
    ];
    if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
        return Err(JsonError::new(format!("{field}.{k}"), "unknown field"));
    }
    let f = Fields(obj);
    let named = |e: JsonError| JsonError::new(format!("{field}.{}", e.field), e.reason);
    Ok(CausalityLink {
        cause_event_id: f.uint("cause").map_err(named)?.unwrap_or(0),
        effect_event_id: f.uint("effect").map_err(named)?.unwrap_or(0),
        causality_type: f.u32("type").map_err(named)?.unwrap_or(0),
        strength: f.u32("strength").map_err(named)?.unwrap_or(0),
        delay_ns: match obj.get("delay_ns") {
            None | Some(Value::Null) => 0,
            Some(d) => d.as_i64().ok_or_else(|| {
                JsonError::new(format!("{field}.delay_ns"), "expected an integer")
            })?,
        },
        description: f.bytes("description").map_err(named)?.unwrap_or_default(),
    })
}

/// Parses one line of NDJSON. A key given twice in the event object, and a UTF-8 byte
/// order mark, are errors (JSON parsers differ on which duplicate wins; a BOM is not
/// part of NDJSON).
pub fn parse_line(line: &str) -> Result<Event, JsonError> {
    if line.starts_with('\u{feff}') {
        return Err(JsonError::new(
            "<event>",
            "the line starts with a UTF-8 byte order mark (BOM); save the input without it",
        ));
    }
    let checked: UniqueKeys = serde_json::from_str(line).map_err(|e| {
        // serde_json says "at line 1 column C": within one NDJSON line only the column
        // means anything (the caller names the input's line).
        let text = e.to_string();
        let what = text
            .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
            .unwrap_or(&text);
        let at = if e.column() > 0 {
            format!(" at column {}", e.column())
        } else {
            String::new()
        };
        JsonError::new("<event>", format!("invalid JSON{at}: {what}"))
    })?;
    if let Some(key) = checked.duplicate {
        return Err(JsonError::new(key, "given twice in one event"));
    }
    from_json(&checked.value)
}

/// A JSON value whose top-level object (if it is one) is checked for repeated keys.
struct UniqueKeys {
    value: Value,
    duplicate: Option<String>,
}

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = UniqueKeys;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut obj = Map::new();
                let mut duplicate = None;
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    if obj.contains_key(&k) {
                        duplicate.get_or_insert(k);
                    } else {
                        obj.insert(k, v);
                    }
                }
                Ok(UniqueKeys {
                    value: Value::Object(obj),
                    duplicate,
                })
            }
        }
        // Anything else than an object is parsed as a plain value (and refused later).
        d.deserialize_map(Visit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_fields_are_schema_fields() {
        for f in INTEGER_FIELDS {
            assert!(FIELDS.contains(f), "{f} is not a schema key");
        }
    }
}
