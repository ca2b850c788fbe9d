//! References to kernel journal events from a coordinated transaction.
//!
//! The kernel module writes its journal itself and takes no part in two-phase commit:
//! a transaction cannot hide or abort a kernel event. What it can do is *name* the
//! kernel events an operation caused, atomically with its userspace events: each
//! reference is a `semantic.causality_link` event (subtype [`KERNEL_REF_SUBTYPE`])
//! written as a member of the transaction to a participant (normally the kernel
//! bridge's journal, which imports the kernel events themselves). Read-committed
//! readers see the references once the transaction commits, never after an abort.

use serde::{Deserialize, Serialize};
use vexfs_journal::{Event, EventType, SemanticOp};

pub use vexfs_journal::format::tx::KERNEL_REF_SUBTYPE;

/// A kernel journal event, by the identity the kernel gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KernelEventRef {
    /// The kernel event's id (`event_id` in the kernel header; never 0).
    pub event_id: u64,
    /// Its sequence in the kernel journal (`global_sequence` in the kernel header).
    pub kernel_sequence: u64,
}

impl KernelEventRef {
    /// The event recording this reference: its `parent_event_id` is the kernel
    /// event's id, its metadata `{"kernel_event_id":…,"kernel_sequence":…}`.
    pub fn to_event(&self) -> Event {
        let mut e = Event::new(SemanticOp::CausalityLink);
        e.subtype = KERNEL_REF_SUBTYPE;
        e.parent_event_id = self.event_id;
        e.metadata = format!(
            "{{\"kernel_event_id\":{},\"kernel_sequence\":{}}}",
            self.event_id, self.kernel_sequence
        )
        .into_bytes();
        e
    }

    /// The reference `event` records, if it is one (and intact: its parent and
    /// metadata agree).
    pub fn from_event(event: &Event) -> Option<KernelEventRef> {
        #[derive(Deserialize)]
        struct Meta {
            kernel_event_id: u64,
            kernel_sequence: u64,
        }
        if event.event_type != EventType::from(SemanticOp::CausalityLink)
            || event.subtype != KERNEL_REF_SUBTYPE
        {
            return None;
        }
        let meta: Meta = serde_json::from_slice(&event.metadata).ok()?;
        (meta.kernel_event_id == event.parent_event_id && meta.kernel_event_id != 0).then_some(
            KernelEventRef {
                event_id: meta.kernel_event_id,
                kernel_sequence: meta.kernel_sequence,
            },
        )
    }
}

/// The reference events of `refs`, refusing an empty list, an id 0 and duplicates.
pub(crate) fn events_of(refs: &[KernelEventRef]) -> crate::Result<Vec<Event>> {
    let bad = |reason: String| crate::CoordinatorError::BadKernelRefs { reason };
    if refs.is_empty() {
        return Err(bad("none given".into()));
    }
    let mut seen = std::collections::HashSet::new();
    for r in refs {
        if r.event_id == 0 {
            return Err(bad(format!(
                "kernel sequence {}: event id 0 names no kernel event",
                r.kernel_sequence
            )));
        }
        if !seen.insert(r.event_id) {
            return Err(bad(format!("kernel event {} is named twice", r.event_id)));
        }
    }
    Ok(refs.iter().map(KernelEventRef::to_event).collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_reference_round_trips_through_its_event_and_others_are_not_references() {
        let r = KernelEventRef {
            event_id: u64::MAX,
            kernel_sequence: 7,
        };
        let e = r.to_event();
        assert_eq!(KernelEventRef::from_event(&e), Some(r));
        let mut other = e.clone();
        other.subtype = 0;
        assert_eq!(KernelEventRef::from_event(&other), None);
        let mut disagreeing = e.clone();
        disagreeing.parent_event_id = 1;
        assert_eq!(KernelEventRef::from_event(&disagreeing), None);
        let mut damaged = e;
        damaged.metadata = b"{\"kernel_event_id\":".to_vec();
        assert_eq!(KernelEventRef::from_event(&damaged), None);
    }
}
