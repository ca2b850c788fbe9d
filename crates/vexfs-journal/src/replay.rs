//! Where a replay starts.

use std::path::Path;

use vexfs_journal_index::{Cursor, Query};
use vexfs_journal_recovery::{RecoveryError, checkpoint};

use crate::error::Result;

/// Where a replay starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayStart {
    /// The first event (full replay).
    Beginning,
    /// Where a read-committed reader stopped at checkpoint `id`: right after its
    /// durable position, or earlier, at the first event of a coordinated transaction
    /// still undecided there (a reader then never passed it, so an incremental replay
    /// from here plus a full one up to the checkpoint deliver every committed event
    /// exactly once).
    Checkpoint(u64),
    /// Right after the position consumer `name` recorded in checkpoint `id`.
    Consumer {
        /// The checkpoint.
        checkpoint: u64,
        /// The consumer.
        name: String,
    },
    /// Right after a cursor.
    After(Cursor),
}

impl ReplayStart {
    /// `query` restricted to start where this says, reading positions as stored (a
    /// checkpoint's durable position, without the read-committed adjustment the read
    /// core makes).
    pub fn apply(&self, query: Query, dir: &Path, journal: uuid::Uuid) -> Result<Query> {
        self.apply_committed(query, dir, journal, |durable| durable)
    }

    /// [`ReplayStart::apply`], with `stable_at` giving where a read-committed reader
    /// that saw the records below a checkpoint's durable position stopped.
    pub(crate) fn apply_committed(
        &self,
        mut query: Query,
        dir: &Path,
        journal: uuid::Uuid,
        stable_at: impl Fn(u64) -> u64,
    ) -> Result<Query> {
        query.reverse = false;
        query.limit = None;
        let from = match self {
            ReplayStart::Beginning => None,
            ReplayStart::Checkpoint(id) => Some(stable_at(checkpoint::load(dir, *id)?.durable_seq)),
            ReplayStart::Consumer {
                checkpoint: id,
                name,
            } => {
                let c = checkpoint::load(dir, *id)?;
                let seq = c
                    .consumers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, s)| *s)
                    .ok_or_else(|| RecoveryError::Checkpoint {
                        id: *id,
                        reason: format!("no consumer named {name:?}"),
                    })?;
                Some(seq + 1)
            }
            ReplayStart::After(c) => {
                if c.journal != journal {
                    return Err(vexfs_journal_index::IndexError::ForeignCursor {
                        expected: journal,
                        found: c.journal,
                    }
                    .into());
                }
                Some(c.seq + 1)
            }
        };
        if let Some(from) = from {
            query.from_seq = Some(query.from_seq.map_or(from, |f| f.max(from)));
        }
        Ok(query)
    }
}
