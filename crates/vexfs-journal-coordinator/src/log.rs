//! The coordinator log: a journal of its own, one event per protocol step.
//!
//! | step | event | fields |
//! |---|---|---|
//! | reserve | `semantic.transaction_end`, subtype 4 | metadata `{"ids_below":N}`: ids with counters up to N may be handed out, from where the log's earlier reservations and ids end |
//! | begin | `semantic.transaction_begin` | metadata `{"id":N,"participants":[…],"timeout_ms":N}` (logs written before reservations have no `id`: the id is then the event's sequence) |
//! | decision | `semantic.transaction_end`, subtype 1 (commit) or 2 (abort) | `context.transaction_id`; metadata `{"written":{"name":[first,end],…}}` |
//! | complete | `semantic.transaction_end`, subtype 3 | `context.transaction_id`: every participant has its marker |
//!
//! Reservations and commit decisions are written durably before the step they allow
//! (handing out an id, a marker). Begin records, abort decisions and completions need
//! not be: a transaction with no durable decision is aborted on restart (presumed
//! abort), and one whose begin record was lost is found by its events in the
//! participants. Ids are never handed out twice: only from a durable reservation,
//! and each reservation starts above every reservation and id the log holds (I57).

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vexfs_journal::format::tx::{Decision, MARKER_ABORT, MARKER_COMMIT};
use vexfs_journal::{Event, EventType, SemanticOp, StoredEvent};

use crate::error::{CoordinatorError, Result};

/// Subtype of a completion record.
pub const COMPLETE: u32 = 3;

/// Subtype of an id reservation record.
pub const RESERVE: u32 = 4;

/// Ids one reservation record grants. A reservation starts at the log's id floor
/// ([`LogState::ids_below`]: above every reservation and every id the log names,
/// including ids of logs written before reservations, which are begin records'
/// sequences), and is durable before the first of its ids is handed out, so no id is
/// handed out twice (I57).
pub const IDS_PER_RESERVE: u64 = 1024;

/// One step of the protocol, as logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogRecord {
    /// A transaction began.
    Begin {
        /// Its id (`None` in logs written before ids were reserved: the id is then
        /// [`tx_id`] of the log's tag and the record's sequence).
        id: Option<u64>,
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
    /// Ids with counters below `ids_below` may be handed out (those above every
    /// earlier reservation and id of the log): written durably before any of them is.
    Reserve {
        /// The first counter not reserved.
        ids_below: u64,
    },
}

#[derive(Serialize, Deserialize)]
struct BeginMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<u64>,
    participants: Vec<String>,
    timeout_ms: u64,
}

#[derive(Serialize, Deserialize)]
struct ReserveMeta {
    ids_below: u64,
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
                id,
                participants,
                timeout_ms,
            } => {
                let mut e = Event::new(SemanticOp::TransactionBegin);
                e.metadata = json(&BeginMeta {
                    id: *id,
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
            LogRecord::Reserve { ids_below } => {
                let mut e = Event::new(SemanticOp::TransactionEnd);
                e.subtype = RESERVE;
                e.metadata = json(&ReserveMeta {
                    ids_below: *ids_below,
                });
                e
            }
        }
    }

    /// The step a stored event of the log records (`None`: not a protocol event).
    pub fn parse(e: &StoredEvent) -> Result<Option<LogRecord>> {
        let bad = |reason: String| CoordinatorError::BadRecord { seq: e.seq, reason };
        if e.ext.cross_boundary_id != 0 {
            // A coordinator log writes no transaction's events or markers.
            return Err(CoordinatorError::NotALog { seq: e.seq });
        }
        let ty = e.event.event_type;
        if ty == EventType::from(SemanticOp::TransactionBegin) {
            let meta: BeginMeta = serde_json::from_slice(&e.event.metadata)
                .map_err(|err| bad(format!("begin metadata: {err}")))?;
            return Ok(Some(LogRecord::Begin {
                id: meta.id,
                participants: meta.participants,
                timeout_ms: meta.timeout_ms,
            }));
        }
        if ty != EventType::from(SemanticOp::TransactionEnd) {
            return Ok(None);
        }
        if e.event.subtype == RESERVE {
            let meta: ReserveMeta = serde_json::from_slice(&e.event.metadata)
                .map_err(|err| bad(format!("reservation metadata: {err}")))?;
            return Ok(Some(LogRecord::Reserve {
                ids_below: meta.ids_below,
            }));
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

/// Bits of a transaction id holding its counter (in logs written before ids were
/// reserved, the sequence of its begin record); the bits above hold the coordinator
/// log's tag.
pub const SEQ_BITS: u32 = 40;

/// Bits of a transaction id holding the coordinator log's tag: ids stay below 2^53,
/// exact as JSON numbers in every language.
pub const TAG_BITS: u32 = 13;

/// The tag of a coordinator log: 13 bits of its journal id, so the transaction ids of
/// two coordinator logs (or of a log deleted and created again) sharing a participant
/// journal differ but with a chance of 1 in 8192 per pair of logs (and if they do
/// collide, a reader skips the later one's events as a conflict instead of showing
/// them: [`vexfs_journal::tx::TxView::conflicts`]).
pub fn tag_of(journal_id: vexfs_journal::Uuid) -> u64 {
    let b = journal_id.as_bytes();
    (u64::from(b[0]) << 8 | u64::from(b[1])) & ((1 << TAG_BITS) - 1)
}

/// The id with counter `counter` (or, in logs written before ids were reserved, of
/// the transaction whose begin record has that sequence) in a log tagged `tag`
/// (`None` past what the id holds).
pub fn tx_id(tag: u64, counter: u64) -> Option<std::num::NonZeroU64> {
    if counter >= 1 << SEQ_BITS {
        return None;
    }
    std::num::NonZeroU64::new(tag << SEQ_BITS | counter)
}

/// Whether `tx` is an id of the log tagged `tag`.
pub fn is_of(tag: u64, tx: u64) -> bool {
    tx >> SEQ_BITS == tag
}

/// One transaction as the log tells it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxSummary {
    /// Its id.
    pub id: u64,
    /// When it began, ns since the Unix epoch (0 when its begin record is missing).
    pub began_ns: i64,
    /// Its participants.
    pub participants: Vec<String>,
    /// Its timeout.
    pub timeout_ms: u64,
    /// Its decision, if one was logged (the first stands).
    pub decision: Option<Decision>,
    /// When it was decided, ns since the Unix epoch.
    pub decided_ns: Option<i64>,
    /// Sequences `[first, end)` each participant wrote, as of the decision.
    pub written: BTreeMap<String, (u64, u64)>,
    /// Whether every participant has its marker.
    pub complete: bool,
}

impl TxSummary {
    /// `undecided`, `committing`, `aborting` (decided, markers not all delivered),
    /// `committed` or `aborted`.
    pub fn state(&self) -> &'static str {
        match (self.decision, self.complete) {
            (None, _) => "undecided",
            (Some(Decision::Commit), false) => "committing",
            (Some(Decision::Abort), false) => "aborting",
            (Some(Decision::Commit), true) => "committed",
            (Some(Decision::Abort), true) => "aborted",
        }
    }
}

/// Every transaction of a coordinator log, by id, from its events in order.
pub fn summarize<E>(
    tag: u64,
    events: impl IntoIterator<Item = std::result::Result<StoredEvent, E>>,
) -> Result<BTreeMap<u64, TxSummary>>
where
    vexfs_journal::JournalError: From<E>,
{
    Ok(read_log(tag, events)?.txs)
}

/// What a coordinator log holds: its transactions, and where new ids may start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogState {
    /// Every transaction, by id.
    pub txs: BTreeMap<u64, TxSummary>,
    /// The id floor: a counter above every reservation and every id of this log's
    /// tag the log names (I57).
    pub ids_below: u64,
}

/// [`summarize`], and the id floor.
pub fn read_log<E>(
    tag: u64,
    events: impl IntoIterator<Item = std::result::Result<StoredEvent, E>>,
) -> Result<LogState>
where
    vexfs_journal::JournalError: From<E>,
{
    let mut ids_below = 1u64;
    // The first counter past `tx` (0 for another log's id).
    let past = |tx: u64| {
        if is_of(tag, tx) {
            (tx & ((1 << SEQ_BITS) - 1)).saturating_add(1)
        } else {
            0
        }
    };
    let mut txs: BTreeMap<u64, TxSummary> = BTreeMap::new();
    for e in events {
        let e = e.map_err(|e| CoordinatorError::log(e.into()))?;
        let time = e.event.timestamp.ktime_ns;
        match LogRecord::parse(&e)? {
            Some(LogRecord::Begin {
                id,
                participants,
                timeout_ms,
            }) => {
                let id = match id {
                    Some(id) => NonZeroU64::new(id),
                    None => tx_id(tag, e.seq),
                }
                .ok_or_else(|| CoordinatorError::BadRecord {
                    seq: e.seq,
                    reason: "a begin record without a valid transaction id".into(),
                })?;
                ids_below = ids_below.max(past(id.get()));
                let t = txs.entry(id.get()).or_default();
                t.id = id.get();
                t.began_ns = time;
                t.participants = participants;
                t.timeout_ms = timeout_ms;
            }
            Some(LogRecord::Decision {
                tx,
                decision,
                written,
            }) => {
                ids_below = ids_below.max(past(tx));
                let t = txs.entry(tx).or_default();
                t.id = tx;
                if t.decision.is_none() {
                    t.decision = Some(decision);
                    t.decided_ns = Some(time);
                    t.written = written;
                }
            }
            Some(LogRecord::Complete { tx }) => {
                ids_below = ids_below.max(past(tx));
                let t = txs.entry(tx).or_default();
                t.id = tx;
                t.complete = true;
            }
            Some(LogRecord::Reserve { ids_below: below }) => ids_below = ids_below.max(below),
            None => {}
        }
    }
    Ok(LogState { txs, ids_below })
}

/// The file beside the coordinator log naming each participant journal's directory.
pub const PARTICIPANTS_FILE: &str = "participants.json";

#[derive(Default, Serialize, Deserialize)]
struct ParticipantsFile {
    participants: BTreeMap<String, PathBuf>,
    /// Each participant journal's id when a coordinator last opened it (files written
    /// before ids were recorded have none).
    #[serde(default)]
    journal_ids: BTreeMap<String, String>,
}

fn read_participants_file(dir: &Path) -> Result<ParticipantsFile> {
    let path = dir.join(PARTICIPANTS_FILE);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(ParticipantsFile::default());
        }
        Err(e) => {
            return Err(CoordinatorError::Participants {
                path,
                reason: e.to_string(),
            });
        }
    };
    serde_json::from_slice(&text).map_err(|e| CoordinatorError::Participants {
        path,
        reason: e.to_string(),
    })
}

/// Checks that `name`'s journal, found at `at`, is the journal (by id) the coordinator
/// in `dir` last used under that name: a journal given in the wrong place would get
/// markers meant for another and leave that one's readers waiting. A name with no id
/// recorded passes.
pub fn check_participant_id(
    dir: &Path,
    name: &str,
    at: &Path,
    id: vexfs_journal::Uuid,
) -> Result<()> {
    let file = read_participants_file(dir)?;
    match file.journal_ids.get(name) {
        Some(recorded) if *recorded != id.to_string() => Err(CoordinatorError::BadParticipants {
            reason: format!(
                "participant {name:?} was journal {recorded} when this coordinator last used it, but the journal at {} is {id}: give the right journal (if {name} was deliberately replaced by a new journal, remove its entries from {})",
                at.display(),
                dir.join(PARTICIPANTS_FILE).display()
            ),
        }),
        _ => Ok(()),
    }
}

/// Where each participant journal known to the coordinator in `dir` is (recorded by
/// [`crate::Coordinator::open`] for participants that have a directory).
pub fn participant_dirs(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    Ok(read_participants_file(dir)?.participants)
}

/// Records `dirs` (merged over what is recorded) in `dir`'s participants file,
/// replacing it atomically.
/// The file is a convenience for operator tools: failing to read or write it never
/// stops a coordinator (it is warned about and rewritten from the participants given).
pub(crate) fn record_participant_dirs(
    dir: &Path,
    dirs: &BTreeMap<String, PathBuf>,
    ids: &BTreeMap<String, vexfs_journal::Uuid>,
) {
    let mut file = read_participants_file(dir).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "rewriting the participants file");
        ParticipantsFile::default()
    });
    let (dirs_before, ids_before) = (file.participants.clone(), file.journal_ids.clone());
    // A path that is not UTF-8 cannot be written in JSON: it is left out.
    file.participants.extend(
        dirs.iter()
            .filter(|(_, v)| v.to_str().is_some())
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    file.journal_ids
        .extend(ids.iter().map(|(k, v)| (k.clone(), v.to_string())));
    let path = dir.join(PARTICIPANTS_FILE);
    if file.participants == dirs_before && file.journal_ids == ids_before && path.exists() {
        return;
    }
    if let Err(e) = write_atomically(dir, &path, &file) {
        tracing::warn!(file = %path.display(), error = %e, "participants file not written");
    }
}

fn write_atomically(dir: &Path, path: &Path, file: &ParticipantsFile) -> std::io::Result<()> {
    use std::io::Write;
    let text = serde_json::to_vec_pretty(file).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!("{PARTICIPANTS_FILE}.tmp"));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(&text)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
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
                id: Some(7 << SEQ_BITS | 2048),
                participants: vec!["a".into(), "b".into()],
                timeout_ms: 500,
            },
            LogRecord::Begin {
                id: None,
                participants: vec!["a".into()],
                timeout_ms: 1,
            },
            LogRecord::Reserve { ids_below: 4096 },
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
    fn begin_records_name_their_id_and_old_ones_take_their_sequence() {
        let e = LogRecord::Begin {
            id: Some(tx_id(5, 3072).unwrap().get()),
            participants: vec!["a".into()],
            timeout_ms: 9,
        }
        .to_event();
        let expected = format!(
            r#"{{"id":{},"participants":["a"],"timeout_ms":9}}"#,
            5u64 << SEQ_BITS | 3072
        );
        assert_eq!(String::from_utf8(e.metadata.clone()).unwrap(), expected);
        // A begin record written before ids were reserved: the id is its sequence.
        let mut old = e.clone();
        old.metadata = br#"{"participants":["b"],"timeout_ms":9}"#.to_vec();
        let reserve = LogRecord::Reserve { ids_below: 4000 }.to_event();
        assert_eq!(
            (reserve.subtype, reserve.context.transaction_id),
            (RESERVE, 0)
        );
        let state = read_log(
            5,
            [
                Ok::<_, vexfs_journal::JournalError>(stored(4, old)),
                Ok(stored(5, reserve)),
                Ok(stored(6, e)),
            ],
        )
        .unwrap();
        // The floor is above the reservation and every id named.
        assert_eq!(state.ids_below, 4000);
        let txs = state.txs;
        let ids: Vec<u64> = txs.keys().copied().collect();
        assert_eq!(ids, [5 << SEQ_BITS | 4, 5 << SEQ_BITS | 3072]);
        assert_eq!(txs[&(5 << SEQ_BITS | 4)].participants, ["b"]);
        // Id 0 is not a transaction.
        let zero = LogRecord::Begin {
            id: Some(0),
            participants: vec![],
            timeout_ms: 1,
        }
        .to_event();
        let err =
            summarize(5, [Ok::<_, vexfs_journal::JournalError>(stored(8, zero))]).unwrap_err();
        assert!(err.to_string().contains("record 8"), "{err}");
    }

    #[test]
    fn damaged_records_are_named() {
        let mut e = LogRecord::Complete { tx: 4 }.to_event();
        e.subtype = 77;
        let err = LogRecord::parse(&stored(12, e)).unwrap_err().to_string();
        assert!(err.contains("record 12") && err.contains("77"), "{err}");
        let mut e = LogRecord::Begin {
            id: Some(1),
            participants: vec![],
            timeout_ms: 1,
        }
        .to_event();
        e.metadata = b"{".to_vec();
        assert!(LogRecord::parse(&stored(3, e)).is_err());
        let other = Event::new(SemanticOp::IntentCapture);
        assert_eq!(LogRecord::parse(&stored(1, other)).unwrap(), None);
        // A participant's marker is not a coordinator record.
        let mut marker = stored(5, LogRecord::Complete { tx: 4 }.to_event());
        marker.ext.cross_boundary_id = 4;
        let err = LogRecord::parse(&marker).unwrap_err().to_string();
        assert!(err.contains("participant journal"), "{err}");
    }
}
