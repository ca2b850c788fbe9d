//! Coordinated transactions as they appear in a participant journal.
//!
//! A transaction spanning several journals (see `vexfs-journal-coordinator`) writes
//! its events to each participant with the record extension's `cross_boundary_id` set
//! to the transaction id. Once the coordinator has decided, each participant receives
//! one **marker**: a `semantic.transaction_end` event whose `cross_boundary_id` and
//! `context.transaction_id` are the transaction id and whose subtype says the outcome
//! ([`MARKER_COMMIT`] or [`MARKER_ABORT`]). A marker always follows the transaction's
//! events in its journal. Ordinary events have `cross_boundary_id` 0.
//!
//! A read-committed reader delivers a transaction's events only once a commit marker
//! for it is in the journal, never those of an aborted one, and does not pass the
//! first event of a transaction not yet decided (the journal's last stable position).

use crate::types::{EventType, SemanticOp};

/// Subtype of a marker: the transaction committed.
pub const MARKER_COMMIT: u32 = 1;
/// Subtype of a marker: the transaction aborted.
pub const MARKER_ABORT: u32 = 2;

/// Subtype of a `semantic.causality_link` event written as a member of a coordinated
/// transaction to name a kernel journal event (`"KR"`): its `parent_event_id` is the
/// kernel event's id, its metadata `{"kernel_event_id":…,"kernel_sequence":…}`.
pub const KERNEL_REF_SUBTYPE: u32 = 0x4B52;

/// The outcome a marker records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Every participant's events of the transaction are part of the journal.
    Commit,
    /// None of them are.
    Abort,
}

impl Decision {
    /// The marker subtype recording this decision.
    pub fn marker_subtype(self) -> u32 {
        match self {
            Decision::Commit => MARKER_COMMIT,
            Decision::Abort => MARKER_ABORT,
        }
    }

    /// `"commit"` or `"abort"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Commit => "commit",
            Decision::Abort => "abort",
        }
    }
}

/// What a stored record is to coordinated transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TxRole {
    /// An ordinary event.
    None,
    /// An event of transaction `.0`.
    Member(u64),
    /// The marker deciding transaction `.0`.
    Marker(u64, Decision),
}

/// What a record with this type, subtype and `cross_boundary_id` is. A record with a
/// transaction id that looks like a marker but has an unknown subtype is a member
/// (so a reader never takes an unknown outcome for a decision).
pub fn role(event_type: EventType, subtype: u32, cross_boundary_id: u64) -> TxRole {
    if cross_boundary_id == 0 {
        return TxRole::None;
    }
    if event_type == EventType::from(SemanticOp::TransactionEnd) {
        match subtype {
            MARKER_COMMIT => return TxRole::Marker(cross_boundary_id, Decision::Commit),
            MARKER_ABORT => return TxRole::Marker(cross_boundary_id, Decision::Abort),
            _ => {}
        }
    }
    TxRole::Member(cross_boundary_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::FsOp;

    #[test]
    fn roles() {
        let end = EventType::from(SemanticOp::TransactionEnd);
        let write = EventType::from(FsOp::Write);
        assert_eq!(role(end, MARKER_COMMIT, 0), TxRole::None);
        assert_eq!(role(write, 0, 7), TxRole::Member(7));
        // A kernel event reference is an ordinary member, never a marker.
        assert_eq!(KERNEL_REF_SUBTYPE.to_be_bytes(), [0, 0, b'K', b'R']);
        let link = EventType::from(SemanticOp::CausalityLink);
        assert_eq!(role(link, KERNEL_REF_SUBTYPE, 7), TxRole::Member(7));
        assert_eq!(
            role(end, MARKER_COMMIT, 7),
            TxRole::Marker(7, Decision::Commit)
        );
        assert_eq!(
            role(end, MARKER_ABORT, 7),
            TxRole::Marker(7, Decision::Abort)
        );
        assert_eq!(role(end, 9, 7), TxRole::Member(7));
        assert_eq!(Decision::Abort.marker_subtype(), MARKER_ABORT);
    }
}
