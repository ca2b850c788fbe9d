//! The consistency checker: what a coordinator's log and its participant journals say
//! about every transaction, and what in them contradicts the protocol. It only reads
//! (the journals may be open elsewhere); [`repair`] fixes what is safe.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vexfs_journal::tx::{Decision, TxRole, TxView, role_of};
use vexfs_journal::{Journal, JournalReader};

use crate::coordinator::{Coordinator, CoordinatorConfig, RecoveryReport};
use crate::error::{CoordinatorError, Result};
use crate::log::{TxSummary, summarize, tag_of};
use crate::participant::{JournalParticipant, Participant, marker};

/// What one participant journal holds, as the checker found it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ParticipantCheck {
    /// Its name in the coordinator's log.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Events read.
    pub events: u64,
    /// Coordinated transactions with a record in it.
    pub transactions: usize,
    /// Why it could not be read (missing, damaged): nothing else about it is known.
    pub error: Option<String>,
}

/// A finding about one transaction at one participant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The transaction.
    pub tx: u64,
    /// The participant journal.
    pub participant: String,
    /// What was found, in words.
    pub detail: String,
    /// The decision a repair would deliver there: the log's (an undelivered
    /// decision), or the one every other participant's marker records (an orphan
    /// decided elsewhere, or abort); `None` otherwise.
    #[serde(serialize_with = "decision_name")]
    pub decision: Option<Decision>,
}

fn decision_name<S: serde::Serializer>(
    d: &Option<Decision>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(d.as_str()),
        None => s.serialize_none(),
    }
}

/// Sequences missing between two blocks of a journal that nothing deliberate
/// (retention, compaction, salvage, rollback, drop-oldest) explains, as `vexjournal
/// verify` reports them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Gap {
    /// The participant journal.
    pub participant: String,
    /// First missing sequence.
    pub from: u64,
    /// Sequence after the last missing one.
    pub to: u64,
}

/// An event naming, as its parent, a later event of its own journal.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CausalityViolation {
    /// The participant journal.
    pub participant: String,
    /// The event.
    pub seq: u64,
    /// The parent it names.
    pub parent: u64,
}

/// What [`check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConsistencyReport {
    /// Transactions in the coordinator's log.
    pub log_transactions: usize,
    /// Every participant journal checked.
    pub participants: Vec<ParticipantCheck>,
    /// Begun, with no decision logged (a crash, or still running): the next open of
    /// the coordinator aborts them (presumed abort).
    pub undecided: Vec<u64>,
    /// Decided in the log, but a participant holding events of it has no marker yet:
    /// the next open of the coordinator delivers it.
    pub undelivered: Vec<Finding>,
    /// A participant's marker says otherwise than the log (the log's decision is the
    /// truth; nothing repairs this).
    pub disagreements: Vec<Finding>,
    /// Within one journal, markers contradicting each other, or events written after
    /// their transaction's marker (never delivered to readers).
    pub conflicts: Vec<Finding>,
    /// Events of a transaction of this coordinator its log does not know (the log was
    /// lost or rolled back): undecided forever unless aborted (`repair` does).
    pub orphans: Vec<Finding>,
    /// Sequence gaps no recorded removal explains.
    pub gaps: Vec<Gap>,
    /// Events naming a later event of their journal as parent.
    pub causality: Vec<CausalityViolation>,
    /// Commit markers whose time is not later than every event of their transaction in
    /// every participant: clocks contradicting causality, so a merged timeline
    /// (`vexjournal timeline`) would show the commit before what it commits. The
    /// coordinator orders them (I56); events written with explicit future times, or by
    /// a coordinator predating the clock, do not. Not repairable.
    pub clock_order: Vec<Finding>,
}

impl ConsistencyReport {
    /// Whether nothing at all was found: every participant read, and no finding.
    pub fn is_consistent(&self) -> bool {
        self.participants.iter().all(|p| p.error.is_none())
            && self.undecided.is_empty()
            && self.undelivered.is_empty()
            && self.disagreements.is_empty()
            && self.conflicts.is_empty()
            && self.orphans.is_empty()
            && self.gaps.is_empty()
            && self.causality.is_empty()
            && self.clock_order.is_empty()
    }
}

/// What one participant journal holds of coordinated transactions.
struct Seen {
    view: TxView,
    /// Members per transaction.
    members: BTreeMap<u64, u64>,
    /// The latest time of a member, per transaction.
    latest_member: BTreeMap<u64, i64>,
    /// Commit markers per transaction: (sequence, time).
    commits: BTreeMap<u64, Vec<(u64, i64)>>,
}

/// Reads the coordinator log in `dir` and every participant journal in
/// `participants` (name → directory), and reports what disagrees (see
/// [`ConsistencyReport`]). Reads only; each participant journal is scanned once,
/// whole.
pub fn check(dir: &Path, participants: &BTreeMap<String, PathBuf>) -> Result<ConsistencyReport> {
    let log = JournalReader::open(dir).map_err(CoordinatorError::log)?;
    let tag = tag_of(log.journal_id());
    let txs = summarize(tag, log.scan(1..log.visible_end()))?;
    let mut report = ConsistencyReport {
        log_transactions: txs.len(),
        undecided: txs
            .values()
            .filter(|t| t.decision.is_none())
            .map(|t| t.id)
            .collect(),
        ..ConsistencyReport::default()
    };
    let mut markers: BTreeMap<u64, BTreeMap<&'static str, Decision>> = BTreeMap::new();
    // Per transaction: the latest member anywhere, and every participant's commits.
    let mut latest_member: BTreeMap<u64, (i64, &str)> = BTreeMap::new();
    let mut commits: Vec<(u64, &str, u64, i64)> = Vec::new();
    for (name, pdir) in participants {
        let mut entry = ParticipantCheck {
            name: name.clone(),
            dir: pdir.clone(),
            events: 0,
            transactions: 0,
            error: None,
        };
        match read_participant(name, pdir, &mut entry, &mut report) {
            Ok(seen) => {
                entry.transactions = seen.members.len();
                compare(name, tag, &txs, &seen, &mut report);
                for (tx, d) in seen.view.decided_txs() {
                    markers.entry(tx).or_default().insert(d.as_str(), d);
                }
                for (tx, time) in &seen.latest_member {
                    let latest = latest_member.entry(*tx).or_insert((*time, name));
                    if *time > latest.0 {
                        *latest = (*time, name);
                    }
                }
                for (tx, list) in &seen.commits {
                    commits.extend(
                        list.iter()
                            .map(|(seq, time)| (*tx, name.as_str(), *seq, *time)),
                    );
                }
            }
            Err(e) => entry.error = Some(e.to_string()),
        }
        report.participants.push(entry);
    }
    for (tx, participant, seq, time) in commits {
        if let Some((latest, at)) = latest_member.get(&tx)
            && time <= *latest
        {
            report.clock_order.push(Finding {
                tx,
                participant: participant.to_string(),
                decision: None,
                detail: format!(
                    "commit marker {seq} at {time} ns is not later than an event of the transaction at {at} ({latest} ns)"
                ),
            });
        }
    }
    // The log was read before the participants: a transaction begun meanwhile (by a
    // coordinator still running) usually has its begin record in the log by now, so
    // reading the log again tells most of them from a real orphan. Begin records are
    // not waited for, so one still queued in a running coordinator can be reported
    // as an orphan: check a coordinator that is idle or stopped (its next open
    // settles real orphans itself).
    if !report.orphans.is_empty() {
        let again = JournalReader::open(dir).map_err(CoordinatorError::log)?;
        let now = summarize(tag, again.scan(log.visible_end()..again.visible_end()))?;
        report.orphans.retain(|o| !now.contains_key(&o.tx));
    }
    // An orphan some other participant holds a marker for was decided (by a
    // coordinator whose log lost it): a repair delivers that decision, never the
    // opposite; with contradicting markers elsewhere, nothing.
    for orphan in &mut report.orphans {
        if let Some(found) = markers.get(&orphan.tx) {
            let mut decisions = found.values();
            match (decisions.next(), decisions.next()) {
                (Some(d), None) => {
                    orphan.decision = Some(*d);
                    orphan.detail += &format!("; decided {} at another participant", d.as_str());
                }
                _ => {
                    orphan.decision = None;
                    orphan.detail += "; other participants' markers contradict each other";
                }
            }
        }
    }
    Ok(report)
}

/// Scans one participant journal: its transactions, gaps and causality.
fn read_participant(
    name: &str,
    dir: &Path,
    entry: &mut ParticipantCheck,
    report: &mut ConsistencyReport,
) -> Result<Seen> {
    let reader = JournalReader::open(dir).map_err(|e| CoordinatorError::ParticipantJournal {
        participant: name.to_string(),
        source: Box::new(e),
    })?;
    let mut seen = Seen {
        view: TxView::new(),
        members: BTreeMap::new(),
        latest_member: BTreeMap::new(),
        commits: BTreeMap::new(),
    };
    for e in reader.scan(0..reader.visible_end()) {
        let e = e.map_err(|e| CoordinatorError::ParticipantJournal {
            participant: name.to_string(),
            source: Box::new(e.into()),
        })?;
        entry.events += 1;
        let parent = e.event.parent_event_id;
        if e.event.event_id == e.seq && parent > e.seq && parent != e.event.event_id {
            report.causality.push(CausalityViolation {
                participant: name.to_string(),
                seq: e.seq,
                parent,
            });
        }
        let role = role_of(&e);
        let time = e.event.timestamp.ktime_ns;
        match role {
            TxRole::Member(tx) => {
                *seen.members.entry(tx).or_default() += 1;
                let latest = seen.latest_member.entry(tx).or_insert(time);
                *latest = (*latest).max(time);
            }
            TxRole::Marker(tx, Decision::Commit) => {
                seen.commits.entry(tx).or_default().push((e.seq, time))
            }
            _ => {}
        }
        seen.view.observe(e.seq, role);
    }
    // Sequence gaps by verify's rules: a gap a recorded removal, a drop-oldest drop
    // (flagged on the record after it) or a compacted or salvaged segment explains is
    // deliberate.
    let verified = vexfs_journal::verify(dir, vexfs_journal::VerifyOptions::default(), |_, _| {})
        .map_err(|e| CoordinatorError::ParticipantJournal {
        participant: name.to_string(),
        source: Box::new(e.into()),
    })?;
    for p in &verified.problems {
        if p.kind == vexfs_journal::admin::ProblemKind::SequenceGap
            && let Some((from, to)) = p.seqs
        {
            report.gaps.push(Gap {
                participant: name.to_string(),
                from,
                to: to + 1,
            });
        }
    }
    for (tx, seq) in seen.view.conflicts() {
        report.conflicts.push(Finding {
            decision: None,
            tx: *tx,
            participant: name.to_string(),
            detail: match seen.view.decision(*tx) {
                Some(d) => format!(
                    "record {seq} contradicts or follows the first marker ({})",
                    d.as_str()
                ),
                None => format!("record {seq} conflicts"),
            },
        });
    }
    Ok(seen)
}

/// Compares one participant's transactions with the log.
fn compare(
    name: &str,
    tag: u64,
    txs: &BTreeMap<u64, TxSummary>,
    seen: &Seen,
    report: &mut ConsistencyReport,
) {
    for (tx, members) in &seen.members {
        let here = seen.view.decision(*tx);
        match txs.get(tx) {
            Some(t) => match (t.decision, here) {
                (Some(logged), None) => report.undelivered.push(Finding {
                    decision: Some(logged),
                    tx: *tx,
                    participant: name.to_string(),
                    detail: format!(
                        "{members} event(s), no marker; the log says {}",
                        logged.as_str()
                    ),
                }),
                (Some(logged), Some(found)) if logged != found => {
                    report.disagreements.push(Finding {
                        decision: None,
                        tx: *tx,
                        participant: name.to_string(),
                        detail: format!(
                            "marker says {}, the log says {}",
                            found.as_str(),
                            logged.as_str()
                        ),
                    })
                }
                (None, Some(Decision::Commit)) => report.disagreements.push(Finding {
                    decision: None,
                    tx: *tx,
                    participant: name.to_string(),
                    detail: "marker says commit, the log has no decision".into(),
                }),
                _ => {}
            },
            None if tx >> crate::log::SEQ_BITS == tag && here.is_none() => {
                report.orphans.push(Finding {
                    decision: Some(Decision::Abort),
                    tx: *tx,
                    participant: name.to_string(),
                    detail: format!(
                        "{members} event(s) of a transaction this coordinator's log does not hold"
                    ),
                })
            }
            None => {}
        }
    }
    // Markers for transactions the log decided otherwise, with no events here.
    for (tx, t) in txs {
        if seen.members.contains_key(tx) {
            continue;
        }
        if let (Some(logged), Some(found)) = (t.decision, seen.view.decision(*tx))
            && logged != found
        {
            report.disagreements.push(Finding {
                decision: None,
                tx: *tx,
                participant: name.to_string(),
                detail: format!(
                    "marker says {}, the log says {}",
                    found.as_str(),
                    logged.as_str()
                ),
            });
        }
    }
}

/// What [`repair`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RepairReport {
    /// Decided transactions whose decision it delivered to participants lacking it,
    /// and undecided ones it aborted (what opening the coordinator does).
    pub committed: Vec<u64>,
    /// Transactions aborted (undecided: presumed abort; or decided abort).
    pub aborted: Vec<u64>,
    /// Orphans (see [`ConsistencyReport::orphans`]) it decided, per participant: as
    /// another participant's marker records, or abort.
    pub orphans_decided: Vec<Finding>,
    /// Logged decisions it wrote to a participant the coordinator's open did not
    /// deliver to (one rolled back past its marker).
    pub delivered: Vec<Finding>,
    /// Transactions decided but still missing their marker at some participant (one
    /// it could not open): every other participant has it.
    pub in_doubt: Vec<StillInDoubt>,
}

/// A transaction [`repair`] decided but could not deliver everywhere.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct StillInDoubt {
    /// The transaction.
    pub tx: u64,
    /// Its decision: `commit` or `abort`.
    pub decision: &'static str,
    /// Participants still without its marker.
    pub missing: Vec<String>,
}

/// Fixes what is safe: opens the coordinator on the participant journals (which
/// delivers every logged decision, aborts undecided transactions and settles orphans:
/// abort, or commit where another participant holds a commit marker) and appends
/// the marker any orphan or participant still lacks after that. Needs the coordinator and the participants not
/// open in another process. Disagreements, conflicts, gaps and causality findings are
/// left as they are: nothing safe fixes them.
pub fn repair(dir: &Path, participants: &BTreeMap<String, PathBuf>) -> Result<RepairReport> {
    let mut journals: BTreeMap<String, Journal> = BTreeMap::new();
    let mut parts: Vec<Arc<dyn Participant>> = Vec::new();
    for (name, pdir) in participants {
        // A participant that cannot be opened stays out: its transactions stay in
        // doubt, and the others are still decided.
        let Ok(j) = Journal::open_existing(pdir) else {
            continue;
        };
        parts.push(Arc::new(JournalParticipant::new(name.clone(), j.clone())));
        journals.insert(name.clone(), j);
    }
    // Orphans as found before the open, which settles them itself (their begin record
    // was lost): reported per participant below.
    let before = check(dir, participants)?;
    let (coordinator, recovered): (Coordinator, RecoveryReport) =
        Coordinator::open(dir, parts, CoordinatorConfig::default())?;
    coordinator.close()?;
    let not_orphan = |ids: &[u64]| -> Vec<u64> {
        ids.iter()
            .copied()
            .filter(|id| !recovered.orphans.contains(id))
            .collect()
    };
    let mut out = RepairReport {
        committed: not_orphan(&recovered.committed),
        aborted: not_orphan(&recovered.aborted),
        in_doubt: recovered
            .in_doubt
            .iter()
            .map(|d| StillInDoubt {
                tx: d.tx,
                decision: d.decision.as_str(),
                missing: d.missing.clone(),
            })
            .collect(),
        ..RepairReport::default()
    };
    for f in &before.orphans {
        if recovered.orphans.contains(&f.tx) {
            let decision = if recovered.committed.contains(&f.tx) {
                Decision::Commit
            } else {
                Decision::Abort
            };
            out.orphans_decided.push(Finding {
                decision: Some(decision),
                ..f.clone()
            });
        }
    }
    // Orphans: the decision other participants recorded, or abort (presumed abort).
    // Then decisions the log holds that a participant still lacks after the open
    // (the coordinator does not deliver again what its log marks complete, e.g. after
    // a participant was rolled back past its marker).
    let again = check(dir, participants)?;
    // Orphans from this check too, not from one taken before (perhaps while a
    // coordinator still ran, or before someone else decided them): with every journal
    // open here and the coordinator recovered, what it finds cannot change under it.
    let undelivered = again.undelivered.iter().map(|f| (f, false));
    let orphans = again.orphans.iter().map(|f| (f, true));
    for (f, orphan) in orphans.chain(undelivered) {
        let (Some(j), Some(tx), Some(decision)) = (
            journals.get(&f.participant),
            NonZeroU64::new(f.tx),
            f.decision,
        ) else {
            continue;
        };
        // The marker comes after every event of the transaction (I56).
        let latest = journals.values().map(|j| j.clock_time()).max().unwrap_or(0);
        j.observe_time(latest);
        vexfs_journal::ext::emit_transactional(j, tx, vec![marker(tx, decision)], true).map_err(
            |e| CoordinatorError::ParticipantJournal {
                participant: f.participant.clone(),
                source: Box::new(e),
            },
        )?;
        if orphan {
            out.orphans_decided.push(f.clone());
        } else {
            out.delivered.push(f.clone());
        }
    }
    for (_, j) in journals {
        j.close().map_err(CoordinatorError::log)?;
    }
    Ok(out)
}
