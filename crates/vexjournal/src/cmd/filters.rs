//! Filter arguments shared by `query`, `follow` and `replay`.

use anyhow::{Context, Result};
use vexfs_journal::{Category, EventType, Priority, Query};

use crate::time::parse_time;

/// Which events to select (all criteria must hold; repeated --type or --category are
/// alternatives).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filters {
    /// Smallest sequence number.
    #[arg(long)]
    pub from_seq: Option<u64>,
    /// Largest sequence number (inclusive).
    #[arg(long)]
    pub to_seq: Option<u64>,
    /// Events at or after TIME (RFC 3339, 2026-11-21, "2026-11-21 10:00", 10m, 2h, yesterday, @SECONDS).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Events at or before TIME.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
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

impl Filters {
    /// The query these filters describe.
    pub fn to_query(&self) -> Result<Query> {
        let mut q = Query::new();
        q.from_seq = self.from_seq;
        q.to_seq = self.to_seq;
        if let Some(s) = &self.since {
            q.since_ns = Some(
                parse_time(s)
                    .map_err(anyhow::Error::msg)
                    .context("--since")?,
            );
        }
        if let Some(u) = &self.until {
            q.until_ns = Some(
                parse_time(u)
                    .map_err(anyhow::Error::msg)
                    .context("--until")?,
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
            .map(str::parse::<Priority>)
            .transpose()
            .context("--priority-at-least")?;
        q.priority_at_most = self
            .priority_at_most
            .as_deref()
            .map(str::parse::<Priority>)
            .transpose()
            .context("--priority-at-most")?;
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
