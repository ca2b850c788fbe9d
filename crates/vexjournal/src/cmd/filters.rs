//! Filter arguments shared by `query`, `cat`, `follow`, `replay` and `kernel export`,
//! and the journalctl-style matches (`FIELD=VALUE`, `--grep`) of `query`, `cat` and
//! `follow`.

use anyhow::{Context, Result, bail};
use vexfs_journal::json::{FIELDS, INTEGER_FIELDS, to_json};
use vexfs_journal::{Category, EventType, Priority, Query, StoredEvent};

use crate::time::parse_time_in;

/// Which events to select (all criteria must hold; repeated --type or --category are
/// alternatives).
///
/// Times without a zone (`2026-11-21 10:00`, `today`) are local time, as in journalctl;
/// with --utc they are UTC, and so are the times shown.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filters {
    /// Smallest sequence number.
    #[arg(long)]
    pub from_seq: Option<u64>,
    /// Largest sequence number (inclusive).
    #[arg(long)]
    pub to_seq: Option<u64>,
    /// Events at or after TIME (RFC 3339, 2026-11-21, "2026-11-21 10:00", 10m, 2h, yesterday,
    /// @SECONDS). Dates and times without a zone are local time, as in journalctl (UTC with --utc).
    #[arg(short = 'S', long, value_name = "TIME")]
    pub since: Option<String>,
    /// Events at or before TIME.
    #[arg(short = 'U', long, value_name = "TIME")]
    pub until: Option<String>,
    /// Read and show times in UTC instead of the local time zone.
    #[arg(long)]
    pub utc: bool,
    /// Event type (filesystem.write, 0x0104, …); repeatable.
    #[arg(long = "type", value_name = "TYPE")]
    pub types: Vec<String>,
    /// Event category (filesystem, graph, vector, agent, system, semantic, observability); repeatable.
    #[arg(long = "category", value_name = "CATEGORY")]
    pub categories: Vec<String>,
    /// Path starting with PREFIX.
    #[arg(long, value_name = "PREFIX")]
    pub path_prefix: Option<String>,
    /// Agent id.
    #[arg(long)]
    pub agent: Option<String>,
    /// Transaction id.
    #[arg(long)]
    pub tx: Option<u64>,
    /// At least this urgent (critical, high, normal, low, background or 1–5).
    #[arg(long, value_name = "PRIORITY")]
    pub priority_at_least: Option<String>,
    /// At most this urgent.
    #[arg(long, value_name = "PRIORITY")]
    pub priority_at_most: Option<String>,
    /// Only events visible to this agent mask (decimal or 0x…).
    #[arg(long, value_name = "MASK")]
    pub visible_to: Option<String>,
}

/// A priority argument: a name or a code 1–5.
fn priority(flag: &str, text: &str) -> Result<Priority> {
    let p: Priority = text.parse().with_context(|| flag.to_string())?;
    if !(1..=5).contains(&p.code()) {
        bail!(
            "{flag} {text}: priorities are critical (1), high (2), normal (3), low (4) and \
             background (5)"
        );
    }
    Ok(p)
}

impl Filters {
    /// The query these filters describe. Contradictory bounds (`--since` after
    /// `--until`, `--from-seq` above `--to-seq`, …) are errors, not empty results.
    pub fn to_query(&self) -> Result<Query> {
        let mut q = Query::new();
        q.from_seq = self.from_seq;
        q.to_seq = self.to_seq;
        if let (Some(a), Some(b)) = (self.from_seq, self.to_seq)
            && a > b
        {
            bail!(
                "--from-seq {a} is above --to-seq {b}: no sequence can match (both bounds are inclusive)"
            );
        }
        if let Some(s) = &self.since {
            q.since_ns = Some(
                parse_time_in(s, self.utc)
                    .map_err(anyhow::Error::msg)
                    .context("--since")?,
            );
        }
        if let Some(u) = &self.until {
            q.until_ns = Some(
                parse_time_in(u, self.utc)
                    .map_err(anyhow::Error::msg)
                    .context("--until")?,
            );
        }
        if let (Some(s), Some(u)) = (q.since_ns, q.until_ns)
            && s > u
        {
            bail!(
                "--since {:?} ({}) is after --until {:?} ({}): no time can match",
                self.since.as_deref().unwrap_or_default(),
                crate::time::show(s, self.utc),
                self.until.as_deref().unwrap_or_default(),
                crate::time::show(u, self.utc),
            );
        }
        q.types = self
            .types
            .iter()
            .map(|t| t.parse::<EventType>())
            .collect::<Result<_, _>>()
            .context("--type")?;
        q.categories = self
            .categories
            .iter()
            .map(|c| c.parse::<Category>())
            .collect::<Result<_, _>>()
            .context("--category")?;
        q.path_prefix = self.path_prefix.clone().map(Into::into);
        q.agent = self.agent.clone().map(Into::into);
        q.tx = self.tx;
        q.priority_at_least = self
            .priority_at_least
            .as_deref()
            .map(|p| priority("--priority-at-least", p))
            .transpose()?;
        q.priority_at_most = self
            .priority_at_most
            .as_deref()
            .map(|p| priority("--priority-at-most", p))
            .transpose()?;
        if let (Some(least), Some(most)) = (q.priority_at_least, q.priority_at_most)
            && least.code() > most.code()
        {
            bail!(
                "--priority-at-least {} is less urgent than --priority-at-most {}: no priority can match",
                self.priority_at_least.as_deref().unwrap_or_default(),
                self.priority_at_most.as_deref().unwrap_or_default()
            );
        }
        q.visibility = self
            .visible_to
            .as_deref()
            .map(|m| match m.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => m.parse(),
            })
            .transpose()
            .context("--visible-to")?;
        Ok(q)
    }
}

/// journalctl-style matches: `FIELD=VALUE` arguments and `--grep`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Matches {
    /// FIELD=VALUE matches, as in journalctl: the same field repeated means any of the
    /// values, different fields must all match. FIELD is a JSON event field (docs/json.md):
    /// pid, inode, session, tx, agent, path (exact), type, priority, cpu, chain, …
    #[arg(value_name = "FIELD=VALUE")]
    pub fields: Vec<String>,
    /// Only events whose path, agent, intent, semantic intent, tags or payload match
    /// this regular expression (case-insensitive when it has no upper-case letter).
    #[arg(short = 'g', long, value_name = "PATTERN")]
    pub grep: Option<String>,
}

/// One parsed `FIELD=VALUE` group: a field and the values it may have.
#[derive(Debug, Clone)]
struct FieldMatch {
    field: String,
    values: Vec<String>,
}

/// The compiled matches, checked on each event after the query's own filters.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    fields: Vec<FieldMatch>,
    grep: Option<regex::bytes::Regex>,
}

fn parse_num(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl Matches {
    /// Compiles the matches and narrows `q` with the ones the indexes can answer.
    pub fn compile(&self, q: &mut Query) -> Result<Matcher> {
        let mut fields: Vec<FieldMatch> = Vec::new();
        for arg in &self.fields {
            let Some((field, value)) = arg.split_once('=') else {
                bail!(
                    "{arg:?} is not a FIELD=VALUE match (e.g. pid=42, type=filesystem.write, \
                     path=/models/a.bin)"
                );
            };
            let field = field.trim();
            if field == "uid" {
                bail!(
                    "{arg}: events carry no uid; match on pid, agent or session instead \
                     (fields: {})",
                    FIELDS.join(", ")
                );
            }
            if !FIELDS.contains(&field) {
                bail!(
                    "{arg}: unknown field {field:?}; fields are {}",
                    FIELDS.join(", ")
                );
            }
            match field {
                "type" => {
                    value.parse::<EventType>().with_context(|| arg.clone())?;
                }
                "priority" => {
                    priority(field, value)?;
                }
                f if INTEGER_FIELDS.contains(&f) && parse_num(value).is_none() => {
                    bail!(
                        "{arg}: {field} takes an integer (decimal or 0x…), not {value:?}: \
                         no event could match"
                    );
                }
                _ => {}
            }
            match fields.iter_mut().find(|f| f.field == field) {
                Some(f) => f.values.push(value.to_string()),
                None => fields.push(FieldMatch {
                    field: field.to_string(),
                    values: vec![value.to_string()],
                }),
            }
        }
        // Let the indexes narrow what they can; every match is still checked per event.
        for f in &fields {
            match f.field.as_str() {
                "type" if q.types.is_empty() => {
                    q.types = f
                        .values
                        .iter()
                        .filter_map(|v| v.parse::<EventType>().ok())
                        .collect();
                }
                "tx" if q.tx.is_none() && f.values.len() == 1 => {
                    q.tx = f.values.first().and_then(|v| parse_num(v));
                }
                "agent" if q.agent.is_none() && f.values.len() == 1 => {
                    q.agent = f.values.first().map(|v| v.clone().into());
                }
                "path" if q.path_prefix.is_none() && f.values.len() == 1 => {
                    q.path_prefix = f.values.first().map(|v| v.clone().into());
                }
                _ => {}
            }
        }
        let grep = match &self.grep {
            Some(p) => Some(
                regex::bytes::RegexBuilder::new(p)
                    .case_insensitive(!p.chars().any(char::is_uppercase))
                    .build()
                    .with_context(|| format!("--grep {p:?}"))?,
            ),
            None => None,
        };
        Ok(Matcher { fields, grep })
    }
}

impl Matcher {
    /// Whether `ev` passes every match.
    pub fn matches(&self, ev: &StoredEvent) -> bool {
        let mut json = None;
        for f in &self.fields {
            let ok = f
                .values
                .iter()
                .any(|v| field_is(ev, &f.field, v, &mut json));
            if !ok {
                return false;
            }
        }
        if let Some(re) = &self.grep {
            let c = &ev.event.context;
            let texts: [&[u8]; 6] = [
                &c.path,
                &c.agent_id,
                &c.agent_intent,
                &c.semantic_intent,
                &c.semantic_tags,
                &ev.event.payload,
            ];
            if !texts.iter().any(|t| re.is_match(t)) {
                return false;
            }
        }
        true
    }
}

/// Whether field `field` of `ev` has the value `want`.
fn field_is(
    ev: &StoredEvent,
    field: &str,
    want: &str,
    json: &mut Option<serde_json::Value>,
) -> bool {
    let e = &ev.event;
    let c = &e.context;
    let num = |have: u64| parse_num(want) == Some(have);
    match field {
        "type" => want.parse::<EventType>().is_ok_and(|t| t == e.event_type),
        "priority" => want.parse::<Priority>().is_ok_and(|p| p == e.priority),
        "seq" => num(ev.seq),
        "pid" => num(e.timestamp.process_id.into()),
        "cpu" => num(e.timestamp.cpu_id.into()),
        "tx" => num(c.transaction_id),
        "session" => num(c.session_id),
        "chain" => num(c.causality_chain_id),
        "inode" => num(c.inode_number),
        "path" => c.path == want.as_bytes(),
        "agent" => c.agent_id == want.as_bytes(),
        "intent" => c.agent_intent == want.as_bytes(),
        _ => {
            // Everything else compares with its JSON form (absent means zero or empty).
            let v = json.get_or_insert_with(|| to_json(ev));
            match v.get(field) {
                None => want.is_empty() || want == "0",
                Some(serde_json::Value::String(s)) => s == want,
                Some(serde_json::Value::Number(n)) => n.as_u64().is_some_and(num),
                Some(other) => other.to_string().as_str() == want,
            }
        }
    }
}
