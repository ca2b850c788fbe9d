//! Tamper evidence for a journal: an RFC 6962 Merkle tree over its records, signed
//! tree heads written into the journal, verification of the journal on disk against
//! a head kept elsewhere, and inclusion proofs of single records (`docs/seal.md`).
//!
//! - The tree's leaves are the journal's records in sequence order, each hashed as
//!   stored (its bytes, checksum included), read uncommitted: every record is a
//!   leaf, whatever transaction it belongs to.
//! - A [`Sealer`] signs heads and writes each into the journal as an
//!   `observability.audit_event` of agent [`SEAL_AGENT`] whose payload is the 144-byte
//!   signed head; the head's own record becomes a leaf like any other.
//! - [`verify`] recomputes the tree and checks a trusted head (exported with
//!   `vexjournal seal head`, kept where an attacker cannot reach it) and every head in
//!   the journal; [`prove`] builds an inclusion proof that checks offline.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use vexfs_journal::{Config, Event, FsOp, Journal};
//! use vexfs_journal_seal::{Sealer, merkle, prove, verify};
//!
//! let dir = tempfile::tempdir()?;
//! let journal = Journal::create(dir.path(), Config::default())?;
//! let seq = journal.emit(Event::filesystem(FsOp::Create).path("/a"))?;
//! let key = merkle::generate_key()?;
//! let mut sealer = Sealer::new(key.clone());
//! let head = sealer.seal(&journal)?;
//! assert_eq!(head.head.tree_size, 1);
//! let report = verify(&journal, &key.verifying_key(), Some(&head))?;
//! assert!(report.is_clean());
//! let proof = prove(&journal, seq, None)?;
//! proof.verify(&key.verifying_key())?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use vexfs_journal::format::tx::TxRole;
use vexfs_journal::{
    Event, EventType, Follow, Journal, JournalError, ObservabilityOp, Query, Uuid,
};
use vexfs_journal_merkle::{
    ConsistencyProof, Frontier, HeadError, InclusionProof, ProofError, RangeRoots, SignedTreeHead,
    SigningKey, TreeHead, VerifyingKey, empty_root, inclusion_ranges, leaf_hash,
};

pub use vexfs_journal_merkle as merkle;

/// The agent id of the records that hold signed tree heads.
pub const SEAL_AGENT: &str = "vexjournal.seal";

/// The event type of the records that hold signed tree heads.
pub fn head_type() -> EventType {
    EventType::from(ObservabilityOp::AuditEvent)
}

/// What went wrong sealing, verifying or proving.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// Reading or writing the journal failed.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// No record has this sequence.
    #[error("sequence {seq} is not in the journal")]
    NoSuchSeq {
        /// The sequence asked for.
        seq: u64,
    },
    /// No head covers the record.
    #[error(
        "no signed tree head in the journal covers sequence {seq}: seal a new head \
         (`vexjournal seal head`) and prove again"
    )]
    NotCovered {
        /// The sequence asked for.
        seq: u64,
    },
    /// The journal does not match the head a proof was asked against.
    #[error(
        "the journal does not match the head of {tree_size} records: {reason}; run `vexjournal verify --trusted-head`"
    )]
    HeadMismatch {
        /// The head's size.
        tree_size: u64,
        /// What differs.
        reason: String,
    },
    /// The journal holds no signed tree head.
    #[error("the journal holds no signed tree head: seal one first (`vexjournal seal head`)")]
    NoHead,
    /// A proof could not be built.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// The sealing thread could not start, or failed.
    #[error("the periodic sealer: {0}")]
    Thread(String),
    /// A key file that cannot be used.
    #[error("key file {path}: {reason}")]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why, and what to do.
        reason: String,
    },
}

impl From<HeadError> for SealError {
    fn from(e: HeadError) -> Self {
        SealError::Proof(ProofError::Head(e))
    }
}

type Result<T, E = SealError> = std::result::Result<T, E>;

/// Calls `visit(seq, record)` on each record from `from_seq` on, in order, as stored
/// (read uncommitted), until it returns false.
fn each_record<F: Follow>(
    source: &F,
    from_seq: u64,
    mut visit: impl FnMut(u64, &[u8]) -> bool,
) -> Result<()> {
    vexfs_journal::ext::query_uncommitted(source, &Query::new().from_seq(from_seq), |v| {
        visit(journal_seq(v), v.bytes)
    })?;
    Ok(())
}

/// A record's journal sequence: its extension's `userspace_sequence` (the header's
/// `global_sequence` is the kernel's or the emitter's and may differ).
fn journal_seq(v: &vexfs_journal::format::record::RecordView<'_>) -> u64 {
    v.raw_ext.userspace_sequence.get()
}

fn now_ns() -> u64 {
    u64::try_from(vexfs_journal::system_ns(SystemTime::now())).unwrap_or(0)
}

/// The record that holds a signed tree head in its journal.
pub fn head_event(head: &SignedTreeHead) -> Event {
    Event::observability(ObservabilityOp::AuditEvent)
        .agent_id(SEAL_AGENT)
        .payload(head.to_bytes().to_vec())
}

/// Signs tree heads of one journal and writes them into it. It keeps the tree's
/// frontier (O(log n) hashes), so each seal hashes only the records added since the
/// last; the first seal of a new `Sealer` reads the whole journal.
#[derive(Debug)]
pub struct Sealer {
    key: SigningKey,
    frontier: Frontier,
    first_seq: Option<u64>,
    next_seq: u64,
    generation: Option<u64>,
    /// The sequence of the last head this sealer wrote.
    own_head: Option<u64>,
    /// The journal the tree is of.
    journal: Option<Uuid>,
}

impl Sealer {
    /// A sealer signing with `key`.
    pub fn new(key: SigningKey) -> Sealer {
        Sealer {
            key,
            frontier: Frontier::new(),
            first_seq: None,
            next_seq: 0,
            generation: None,
            own_head: None,
            journal: None,
        }
    }

    /// Whether the journal holds records this sealer's last head does not cover,
    /// besides that head's own record (false before the first seal only for an
    /// empty journal).
    pub fn has_news(&self, journal: &Journal) -> bool {
        match self.own_head {
            // Records written while the last seal ran lie between the last record it
            // hashed and its own head record.
            Some(seq) => self.next_seq < seq || journal.next_seq() > seq + 1,
            None => journal.next_seq() > 0,
        }
    }

    /// The public key that verifies this sealer's heads.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// The signed head of every record written so far, without writing it anywhere.
    pub fn head(&mut self, source: &impl Follow) -> Result<SignedTreeHead> {
        if self.generation != Some(source.generation())
            || self.journal.is_some_and(|id| id != source.journal_id())
        {
            // History was rewritten (a rollback), or this is another journal: start
            // over.
            *self = Sealer::new(self.key.clone());
            self.generation = Some(source.generation());
            self.journal = Some(source.journal_id());
        }
        let (frontier, first, next) = (&mut self.frontier, &mut self.first_seq, &mut self.next_seq);
        each_record(source, *next, |seq, record| {
            first.get_or_insert(seq);
            frontier.push(leaf_hash(record));
            *next = seq + 1;
            true
        })?;
        Ok(TreeHead {
            journal_id: source.journal_id(),
            tree_size: self.frontier.size(),
            first_seq: self.first_seq.unwrap_or(0),
            timestamp_ns: now_ns(),
            root: self.frontier.root(),
        }
        .sign(&self.key))
    }

    /// Signs the head of every record written so far and appends it to the journal,
    /// durably; returns the head (to export, e.g. with `vexjournal seal head`).
    pub fn seal(&mut self, journal: &Journal) -> Result<SignedTreeHead> {
        journal.flush()?;
        let head = self.head(journal)?;
        self.append(journal, &head)?;
        Ok(head)
    }

    /// Writes `head` (from [`Sealer::head`]) into the journal, durably; returns the
    /// sequence of its record. [`Sealer::seal`] is [`Sealer::head`] then this; apart,
    /// a caller can export a head before it is written.
    pub fn append(&mut self, journal: &Journal, head: &SignedTreeHead) -> Result<u64> {
        let seq = journal.emit_durable(head_event(head))?;
        self.own_head = Some(seq);
        Ok(seq)
    }
}

/// A [`Sealer`] on a thread of its own: seals the journal every `every` while records
/// arrive (an idle journal gets no new heads), hands each head to `on_head` (to export
/// it), and seals once more when stopped, so the journal's end is covered.
#[derive(Debug)]
pub struct PeriodicSealer {
    shared: Arc<(Mutex<Periodic>, Condvar)>,
    thread: Option<JoinHandle<Result<()>>>,
}

#[derive(Debug, Default)]
struct Periodic {
    stop: bool,
    last: Option<SignedTreeHead>,
    /// Why the last seal failed, until one succeeds.
    error: Option<String>,
}

impl PeriodicSealer {
    /// Starts sealing `journal` with `key` every `every`.
    pub fn spawn(
        journal: Journal,
        key: SigningKey,
        every: Duration,
        mut on_head: impl FnMut(&SignedTreeHead) + Send + 'static,
    ) -> Result<PeriodicSealer> {
        let shared = Arc::new((Mutex::new(Periodic::default()), Condvar::new()));
        let state = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vexjournal-sealer".into())
            .spawn(move || -> Result<()> {
                let mut sealer = Sealer::new(key);
                let (lock, cv) = &*state;
                loop {
                    let stop = {
                        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                        let (guard, _) = cv
                            .wait_timeout_while(guard, every, |s| !s.stop)
                            .unwrap_or_else(|p| p.into_inner());
                        guard.stop
                    };
                    if sealer.has_news(&journal) {
                        match sealer.seal(&journal) {
                            Ok(head) => {
                                on_head(&head);
                                let mut state = lock.lock().unwrap_or_else(|p| p.into_inner());
                                state.last = Some(head);
                                state.error = None;
                            }
                            // The last seal's failure is the caller's to see; an earlier
                            // one (a full disk for a while) is retried next period.
                            Err(e) if stop => return Err(e),
                            Err(e) => {
                                tracing::warn!(error = %e, "sealing failed; retrying next period");
                                lock.lock().unwrap_or_else(|p| p.into_inner()).error =
                                    Some(e.to_string());
                            }
                        }
                    }
                    if stop {
                        return Ok(());
                    }
                }
            })
            .map_err(|e| SealError::Thread(e.to_string()))?;
        Ok(PeriodicSealer {
            shared,
            thread: Some(thread),
        })
    }

    /// The last head written, if any.
    pub fn last_head(&self) -> Option<SignedTreeHead> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner()).last
    }

    /// Why the last attempt to seal failed, while no later one has succeeded.
    pub fn last_error(&self) -> Option<String> {
        self.shared
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .error
            .clone()
    }

    /// Seals once more (when records arrived since the last head), stops the thread
    /// and returns the last head, or the error that stopped sealing.
    pub fn finish(mut self) -> Result<Option<SignedTreeHead>> {
        self.stop()?;
        Ok(self.last_head())
    }

    fn stop(&mut self) -> Result<()> {
        {
            let (lock, cv) = &*self.shared;
            lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
            cv.notify_all();
        }
        match self.thread.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(SealError::Thread("the sealer thread panicked".into())),
        }
    }
}

impl Drop for PeriodicSealer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A record that holds (or claims to hold) a signed tree head.
#[derive(Debug)]
pub struct HeadRecord {
    /// Its sequence.
    pub seq: u64,
    /// The head, or why its payload is not one.
    pub head: Result<SignedTreeHead, HeadError>,
}

/// Every head record of the journal, in order (signatures not checked).
pub fn heads<F: Follow>(source: &F) -> Result<Vec<HeadRecord>> {
    let mut out = Vec::new();
    let q = Query::new().types([head_type()]).agent(SEAL_AGENT);
    vexfs_journal::ext::query_uncommitted(source, &q, |v| {
        out.push(HeadRecord {
            seq: journal_seq(v),
            head: SignedTreeHead::from_bytes(v.payload),
        });
        true
    })?;
    Ok(out)
}

/// The check of one signed tree head against the journal.
#[derive(Clone, Debug, Serialize)]
pub struct HeadCheck {
    /// The sequence of the record holding it; `None` for the trusted head.
    pub seq: Option<u64>,
    /// Records it covers.
    pub tree_size: u64,
    /// When it was signed, ns since the Unix epoch.
    pub timestamp_ns: u64,
    /// What is wrong with it; `None` when it holds.
    pub problem: Option<String>,
}

/// What [`verify`] found.
#[derive(Clone, Debug, Serialize)]
pub struct SealReport {
    /// The journal's id.
    pub journal_id: Uuid,
    /// Records in the journal (the tree's leaves).
    pub records: u64,
    /// Sequence of the first record.
    pub first_seq: Option<u64>,
    /// Sequence of the last record.
    pub last_seq: Option<u64>,
    /// The trusted head, when one was given.
    pub trusted: Option<HeadCheck>,
    /// Every head written in the journal, in order.
    pub heads: Vec<HeadCheck>,
    /// Records covered by a head that holds: the first `covered` records are exactly
    /// what was signed.
    pub covered: u64,
    /// The sequence of the last covered record.
    pub covered_through: Option<u64>,
    /// Coordinated transactions with events among the covered records whose decision
    /// (their marker) is not covered: whether those events are visible rests on
    /// records no signature covers (`docs/seal.md`).
    pub undecided_transactions: u64,
    /// Every problem found, in words.
    pub problems: Vec<String>,
}

impl SealReport {
    /// Whether nothing was found wrong.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// Records after the last head that holds: not covered by any signature, so an
    /// edit or a truncation there cannot be detected.
    pub fn uncovered(&self) -> u64 {
        self.records - self.covered
    }
}

/// Recomputes the journal's tree and checks `trusted` (when given) and every head
/// written in the journal against it, each with `key`.
///
/// The trusted head proves the journal's first `tree_size` records are exactly those
/// signed (nothing edited, removed, reordered, truncated or rewritten since); heads in
/// the journal extend that to their sizes, if signed by `key`. A head signed by any
/// other key is a problem, as is a head that disagrees with the records.
pub fn verify<F: Follow>(
    source: &F,
    key: &VerifyingKey,
    trusted: Option<&SignedTreeHead>,
) -> Result<SealReport> {
    let journal_id = source.journal_id();
    let written = heads(source)?;
    let mut sizes: BTreeSet<u64> = written
        .iter()
        .filter_map(|h| h.head.as_ref().ok().map(|h| h.head.tree_size))
        .collect();
    if let Some(t) = trusted {
        sizes.insert(t.head.tree_size);
    }

    // One pass over every record: the root at each size a head names.
    let mut roots: BTreeMap<u64, [u8; 32]> = BTreeMap::new();
    if sizes.contains(&0) {
        roots.insert(0, empty_root());
    }
    let mut last_at: HashMap<u64, u64> = HashMap::new();
    let mut frontier = Frontier::new();
    let (mut first_seq, mut last_seq) = (None, None);
    let mut out_of_order = Vec::new();
    // Transactions whose members come before a head's size and whose marker does not
    // (or is missing): counted per size, as a difference array over `sorted`.
    let sorted: Vec<u64> = sizes.iter().copied().collect();
    let mut undecided_diff = vec![0i64; sorted.len() + 1];
    let mut open_tx: HashMap<u64, u64> = HashMap::new();
    // A member after its transaction's marker is a conflict readers never deliver.
    let mut decided: BTreeSet<u64> = BTreeSet::new();
    vexfs_journal::ext::query_uncommitted(source, &Query::new(), |v| {
        let seq = journal_seq(v);
        first_seq.get_or_insert(seq);
        if let Some(last) = last_seq
            && seq <= last
        {
            out_of_order.push((last, seq));
        }
        last_seq = Some(seq);
        let index = frontier.size();
        match vexfs_journal::tx::role_of_record(v) {
            TxRole::Member(tx) if !decided.contains(&tx) => {
                open_tx.entry(tx).or_insert(index);
            }
            TxRole::Member(_) => {}
            TxRole::Marker(tx, _) => {
                decided.insert(tx);
                if let Some(first) = open_tx.remove(&tx) {
                    // Sizes in (first, index]: the members are covered, the marker not.
                    undecided_diff[sorted.partition_point(|&s| s <= first)] += 1;
                    undecided_diff[sorted.partition_point(|&s| s <= index)] -= 1;
                }
            }
            TxRole::None => {}
        }
        frontier.push(leaf_hash(v.bytes));
        if sizes.contains(&frontier.size()) {
            roots.insert(frontier.size(), frontier.root());
            last_at.insert(frontier.size(), seq);
        }
        true
    })?;
    for first in open_tx.values() {
        undecided_diff[sorted.partition_point(|&s| s <= *first)] += 1;
    }
    let mut undecided_at: HashMap<u64, u64> = HashMap::new();
    let mut running = 0i64;
    for (size, diff) in sorted.iter().zip(&undecided_diff) {
        running += diff;
        undecided_at.insert(*size, u64::try_from(running).unwrap_or(0));
    }
    let records = frontier.size();

    let check = |h: &SignedTreeHead| -> Option<String> {
        let h_ = &h.head;
        if let Err(e) = h.verify(key) {
            return Some(e.to_string());
        }
        if h_.journal_id != journal_id {
            return Some(format!(
                "it is a head of journal {}, not of this journal ({journal_id})",
                h_.journal_id
            ));
        }
        if h_.tree_size > 0 && first_seq.is_none() {
            return Some(format!(
                "it covers {} records but the journal holds none",
                h_.tree_size
            ));
        }
        if h_.tree_size > 0 && Some(h_.first_seq) != first_seq {
            return Some(format!(
                "its tree starts at sequence {} but the journal's first record is {}: \
                 records were removed from the start (retention or tampering) or \
                 inserted before it",
                h_.first_seq,
                first_seq.unwrap_or(0)
            ));
        }
        if h_.tree_size > records {
            return Some(format!(
                "it covers {} records but the journal holds {records}: records were \
                 removed or the tail was truncated",
                h_.tree_size
            ));
        }
        match roots.get(&h_.tree_size) {
            Some(root) if *root == h_.root => None,
            _ => Some(format!(
                "the journal's first {} records are not the ones signed: edited, removed, \
                 reordered or rewritten since",
                h_.tree_size
            )),
        }
    };

    let mut problems: Vec<String> = out_of_order
        .iter()
        .take(10)
        .map(|(last, seq)| {
            format!("sequence {seq} follows sequence {last}: records are out of order or repeated")
        })
        .collect();
    if out_of_order.len() > 10 {
        problems.push(format!(
            "… {} more records out of order",
            out_of_order.len() - 10
        ));
    }
    let mut covered = 0;
    let trusted_check = trusted.map(|t| {
        let problem = check(t);
        match &problem {
            Some(p) => problems.push(format!("trusted head ({} records): {p}", t.head.tree_size)),
            None => covered = covered.max(t.head.tree_size),
        }
        HeadCheck {
            seq: None,
            tree_size: t.head.tree_size,
            timestamp_ns: t.head.timestamp_ns,
            problem,
        }
    });

    let mut checks = Vec::new();
    let mut previous: Option<TreeHead> = None;
    for w in &written {
        let check = match &w.head {
            Err(e) => HeadCheck {
                seq: Some(w.seq),
                tree_size: 0,
                timestamp_ns: 0,
                problem: Some(format!("not a signed tree head: {e}")),
            },
            Ok(h) => {
                // (A head cannot cover its own record: that root would have to hash
                // itself. The root check below rejects one that claims to.)
                let mut problem = check(h);
                if problem.is_none()
                    && let Some(p) = previous
                    && (h.head.tree_size < p.tree_size || h.head.timestamp_ns < p.timestamp_ns)
                {
                    problem = Some(format!(
                        "it covers {} records signed at {} ns, after a head of {} records \
                         signed at {} ns: heads must grow",
                        h.head.tree_size, h.head.timestamp_ns, p.tree_size, p.timestamp_ns
                    ));
                }
                if problem.is_none() {
                    covered = covered.max(h.head.tree_size);
                    previous = Some(h.head);
                }
                HeadCheck {
                    seq: Some(w.seq),
                    tree_size: h.head.tree_size,
                    timestamp_ns: h.head.timestamp_ns,
                    problem,
                }
            }
        };
        if let Some(p) = &check.problem {
            problems.push(format!("head at sequence {}: {p}", w.seq));
        }
        checks.push(check);
    }
    Ok(SealReport {
        journal_id,
        records,
        first_seq,
        last_seq,
        trusted: trusted_check,
        heads: checks,
        covered,
        covered_through: last_at.get(&covered).copied(),
        undecided_transactions: undecided_at.get(&covered).copied().unwrap_or(0),
        problems,
    })
}

/// An inclusion proof of the record with sequence `seq`, against `head` or, when
/// `None`, the last head written in the journal that covers the record.
///
/// The journal is checked against the head while the proof is built, so a proof is
/// only printed when it will verify (the head's signature is the verifier's to check).
pub fn prove<F: Follow>(
    source: &F,
    seq: u64,
    head: Option<SignedTreeHead>,
) -> Result<InclusionProof> {
    // The record's leaf index: its position among the records.
    let mut index = 0u64;
    let mut found: Option<Vec<u8>> = None;
    each_record(source, 0, |s, record| {
        if s == seq {
            found = Some(record.to_vec());
            return false;
        }
        if s > seq {
            return false;
        }
        index += 1;
        true
    })?;
    let Some(record) = found else {
        return Err(SealError::NoSuchSeq { seq });
    };
    let head = match head {
        Some(h) => h,
        None => heads(source)?
            .into_iter()
            .rev()
            .filter_map(|h| h.head.ok())
            .find(|h| h.head.tree_size > index)
            .ok_or(SealError::NotCovered { seq })?,
    };
    let size = head.head.tree_size;
    if index >= size {
        return Err(SealError::HeadMismatch {
            tree_size: size,
            reason: format!("sequence {seq} is record {index}, after the head's last"),
        });
    }
    let mismatch = |reason: String| SealError::HeadMismatch {
        tree_size: size,
        reason,
    };
    if head.head.journal_id != source.journal_id() {
        return Err(mismatch(format!(
            "the head is of journal {}",
            head.head.journal_id
        )));
    }
    let mut path = RangeRoots::new(&inclusion_ranges(index, size));
    let mut frontier = Frontier::new();
    let mut first = None;
    each_record(source, 0, |s, record| {
        first.get_or_insert(s);
        let leaf = leaf_hash(record);
        path.push(leaf);
        frontier.push(leaf);
        frontier.size() < size
    })?;
    if first != Some(head.head.first_seq) {
        return Err(mismatch(format!(
            "the head's tree starts at sequence {}, the journal at {first:?}",
            head.head.first_seq
        )));
    }
    if frontier.size() < size {
        return Err(mismatch(format!("only {} records", frontier.size())));
    }
    if frontier.root() != head.head.root {
        return Err(mismatch("the root differs".into()));
    }
    Ok(InclusionProof {
        seq,
        leaf_index: index,
        record,
        path: path.finish()?,
        head,
    })
}

/// A proof that the tree of `old` is a prefix of the tree of `new` or, when `None`,
/// of the last head written in the journal: what an auditor holding an older exported
/// head checks a newer one with, without the journal (RFC 6962 §2.1.2).
///
/// The journal is checked against both heads while the proof is built.
pub fn prove_consistency<F: Follow>(
    source: &F,
    old: SignedTreeHead,
    new: Option<SignedTreeHead>,
) -> Result<ConsistencyProof> {
    let new = match new {
        Some(h) => h,
        None => heads(source)?
            .into_iter()
            .rev()
            .find_map(|h| h.head.ok())
            .ok_or(SealError::NoHead)?,
    };
    let (m, n) = (old.head.tree_size, new.head.tree_size);
    for h in [&old, &new] {
        if h.head.journal_id != source.journal_id() {
            return Err(SealError::HeadMismatch {
                tree_size: h.head.tree_size,
                reason: format!("the head is of journal {}", h.head.journal_id),
            });
        }
    }
    if m > n {
        return Err(SealError::Proof(ProofError::Shrunk { old: m, new: n }));
    }
    let mut path = RangeRoots::new(&merkle::consistency_ranges(m, n));
    let mut frontier = Frontier::new();
    let mut old_root = (m == 0).then(empty_root);
    each_record(source, 0, |_, record| {
        let leaf = leaf_hash(record);
        path.push(leaf);
        frontier.push(leaf);
        if frontier.size() == m {
            old_root = Some(frontier.root());
        }
        frontier.size() < n
    })?;
    if old_root != Some(old.head.root) {
        return Err(SealError::HeadMismatch {
            tree_size: m,
            reason: "the journal's records are not those of the older head".into(),
        });
    }
    if frontier.size() < n || frontier.root() != new.head.root {
        return Err(SealError::HeadMismatch {
            tree_size: n,
            reason: "the journal's records are not those of the newer head".into(),
        });
    }
    Ok(ConsistencyProof {
        old,
        new,
        path: path.finish()?,
    })
}

/// Reads a signing key file (the 32-byte seed in hex). The file must be readable by
/// its owner only (mode 0600 or 0400), as `ssh` requires of private keys.
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let text = vexfs_journal::keyfile::read_secret(path).map_err(key_file)?;
    merkle::signing_key_from_hex(&text).map_err(|e| SealError::KeyFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

fn key_file(e: vexfs_journal::keyfile::KeyFileError) -> SealError {
    SealError::KeyFile {
        path: e.path,
        reason: e.reason,
    }
}

/// Reads a public key file (32 bytes in hex).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey> {
    let bad = |reason: String| SealError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    merkle::verifying_key_from_hex(&text).map_err(|e| bad(e.to_string()))
}

/// Generates a key pair into `<prefix>.key` (mode 0600) and `<prefix>.pub`; fails
/// rather than overwrite either file.
pub fn write_key_pair(prefix: &Path) -> Result<(PathBuf, PathBuf)> {
    let key = merkle::generate_key()?;
    let secret = PathBuf::from(format!("{}.key", prefix.display()));
    let public = PathBuf::from(format!("{}.pub", prefix.display()));
    if public.exists() {
        return Err(SealError::KeyFile {
            path: public,
            reason: "exists: refusing to overwrite a key; choose another prefix".into(),
        });
    }
    let secret_text = zeroize::Zeroizing::new(hex::encode(key.to_bytes()));
    vexfs_journal::keyfile::write_new(&secret, &secret_text, 0o600).map_err(key_file)?;
    let public_text = hex::encode(key.verifying_key().as_bytes());
    if let Err(e) = vexfs_journal::keyfile::write_new(&public, &public_text, 0o644) {
        // A half-made pair would make every retry refuse: leave none.
        let _ = std::fs::remove_file(&secret);
        return Err(key_file(e));
    }
    Ok((secret, public))
}
