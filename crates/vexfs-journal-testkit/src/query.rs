//! What a query must return, decided event by event without indexes: the reference
//! the executor, replay and compaction are compared with.

use vexfs_journal_index::Query;
use vexfs_journal_storage::StoredEvent;

/// Whether `e` meets every criterion of `q` (sequence and time bounds, types,
/// categories, path prefix, agent, transaction, priority range, visibility).
pub fn matches(q: &Query, e: &StoredEvent) -> bool {
    let ev = &e.event;
    let t = ev.timestamp.ktime_ns;
    q.from_seq.is_none_or(|s| e.seq >= s)
        && q.to_seq.is_none_or(|s| e.seq <= s)
        && q.since_ns.is_none_or(|s| t >= s)
        && q.until_ns.is_none_or(|u| t <= u)
        && (q.types.is_empty() || q.types.contains(&ev.event_type))
        && (q.categories.is_empty() || q.categories.contains(&ev.event_type.category()))
        && q.path_prefix
            .as_ref()
            .is_none_or(|p| ev.context.path.starts_with(p.as_slice()))
        && q.agent.as_ref().is_none_or(|a| ev.context.agent_id == *a)
        && q.tx.is_none_or(|x| ev.context.transaction_id == x)
        && q.priority_at_least
            .is_none_or(|p| ev.priority.code() <= p.code())
        && q.priority_at_most
            .is_none_or(|p| ev.priority.code() >= p.code())
        && q.visibility
            .is_none_or(|m| ev.agent_visibility_mask & m != 0)
}

/// The sequences of `all` (in journal order) that `q` must return, in query order
/// (newest first for a reverse query). The cursor and the page limit are not applied.
pub fn expected(all: &[StoredEvent], q: &Query) -> Vec<u64> {
    let mut out: Vec<u64> = all
        .iter()
        .filter(|e| matches(q, e))
        .map(|e| e.seq)
        .collect();
    if q.reverse {
        out.reverse();
    }
    out
}
