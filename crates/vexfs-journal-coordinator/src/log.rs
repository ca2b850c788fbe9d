//! The coordinator log: a journal of its own, one event per protocol step.
//!
//! | step | event | fields |
//! |---|---|---|
//! | begin | `semantic.transaction_begin` | metadata `{"participants":[…],"timeout_ms":N}`; the transaction id is the event's sequence in this log |
//! | decision | `semantic.transaction_end`, subtype 1 (commit) or 2 (abort) | `context.transaction_id`; metadata `{"written":{"name":[first,end],…}}` |
//! | complete | `semantic.transaction_end`, subtype 3 | `context.transaction_id`: every participant has its marker |
//!
//! Begin records and commit decisions are written durably before the step they
//! allow (a participant write, a marker); abort decisions and completions need not be
//! (presumed abort: a transaction with no durable decision is aborted on restart).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vexfs_journal::format::tx::{Decision, MARKER_ABORT, MARKER_COMMIT};
use vexfs_journal::{Event, EventType, SemanticOp, StoredEvent};

use crate::error::{CoordinatorError, Result};

/// Subtype of a completion record.
pub const COMPLETE: u32 = 3;

/// One step of the protocol, as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogRecord {
    /// A transaction began (its id is the record's sequence).
    Begin {
        /// Participant names.
        participants: Vec<String>,
        /// Its timeout.
        timeout_ms: u64,
    },
    /// The decision.
    Decision {
        /// The transaction.
        tx: u64,
        /// Commit or abort.
        decision: Decision,
        /// Sequences `[first, end)` each participant wrote for it.
        written: BTreeMap<String, (u64, u64)>,
    },
    /// Every participant recorded the decision.
    Complete {
        /// The transaction.
        tx: u64,
    },
}

#[derive(Serialize, Deserialize)]
struct BeginMeta {
    participants: Vec<String>,
    timeout_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct DecisionMeta {
    written: BTreeMap<String, (u64, u64)>,
}

impl LogRecord {
    /// The event recording this step.
    pub fn to_event(&self) -> Event {
        match self {
            LogRecord::Begin {
                participants,
                timeout_ms,
            } => {
                let mut e = Event::new(SemanticOp::TransactionBegin);
                e.metadata = json(&BeginMeta {
                    participants: participants.clone(),
                    timeout_ms: *timeout_ms,
                });
                e
            }
            LogRecord::Decision {
                tx,
                decision,
                written,
            } => {
                let mut e = Event::new(SemanticOp::TransactionEnd);
                e.subtype = decision.marker_subtype();
                e.context.transaction_id = *tx;
                e.metadata = json(&DecisionMeta {
                    written: written.clone(),
                });
                e
            }
            LogRecord::Complete { tx } => {
                let mut e = Event::new(SemanticOp::TransactionEnd);
                e.subtype = COMPLETE;
                e.context.transaction_id = *tx;
                e
            }
        }
    }

    /// The step a stored event of the log records (`None`: not a protocol event).
    pub fn parse(e: &StoredEvent) -> Result<Option<LogRecord>> {
        let bad = |reason: String| CoordinatorError::BadRecord { seq: e.seq, reason };
        let ty = e.event.event_type;
        if ty == EventType::from(SemanticOp::TransactionBegin) {
            let meta: BeginMeta = serde_json::from_slice(&e.event.metadata)
                .map_err(|err| bad(format!("begin metadata: {err}")))?;
            return Ok(Some(LogRecord::Begin {
                participants: meta.participants,
                timeout_ms: meta.timeout_ms,
            }));
        }
        if ty != EventType::from(SemanticOp::TransactionEnd) {
            return Ok(None);
        }
        let tx = e.event.context.transaction_id;
        if tx == 0 {
            return Err(bad(
                "a decision or completion without a transaction id".into()
            ));
        }
        let decision = match e.event.subtype {
            COMPLETE => return Ok(Some(LogRecord::Complete { tx })),
            MARKER_COMMIT => Decision::Commit,
            MARKER_ABORT => Decision::Abort,
            other => return Err(bad(format!("unknown transaction_end subtype {other}"))),
        };
        let meta: DecisionMeta = serde_json::from_slice(&e.event.metadata)
            .map_err(|err| bad(format!("decision metadata: {err}")))?;
        Ok(Some(LogRecord::Decision {
            tx,
            decision,
            written: meta.written,
        }))
    }
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    // Maps of strings and numbers always serialize.
    serde_json::to_vec(v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use vexfs_journal::RecordExt;

    fn stored(seq: u64, event: Event) -> StoredEvent {
        StoredEvent {
            seq,
            event,
            ext: RecordExt::default(),
        }
    }

    #[test]
    fn records_round_trip() {
        let records = [
            LogRecord::Begin {
                participants: vec!["a".into(), "b".into()],
                timeout_ms: 500,
            },
            LogRecord::Decision {
                tx: 4,
                decision: Decision::Commit,
                written: BTreeMap::from([("a".into(), (3, 9))]),
            },
            LogRecord::Decision {
                tx: 4,
                decision: Decision::Abort,
                written: BTreeMap::new(),
            },
            LogRecord::Complete { tx: 4 },
        ];
        for r in records {
            assert_eq!(LogRecord::parse(&stored(9, r.to_event())).unwrap(), Some(r));
        }
    }

    #[test]
    fn damaged_records_are_named() {
        let mut e = LogRecord::Complete { tx: 4 }.to_event();
        e.subtype = 77;
        let err = LogRecord::parse(&stored(12, e)).unwrap_err().to_string();
        assert!(err.contains("record 12") && err.contains("77"), "{err}");
        let mut e = LogRecord::Begin {
            participants: vec![],
            timeout_ms: 1,
        }
        .to_event();
        e.metadata = b"{".to_vec();
        assert!(LogRecord::parse(&stored(3, e)).is_err());
        let other = Event::new(SemanticOp::IntentCapture);
        assert_eq!(LogRecord::parse(&stored(1, other)).unwrap(), None);
    }
}
