//! A coordinator over three participant journals in a temporary directory, and what
//! read-committed readers of those journals see.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use vexfs_journal::tx::{TxRole, TxView, Visibility, role_of};
use vexfs_journal::{Config, Event, FsOp, Journal, JournalError, StoredEvent};
use vexfs_journal_coordinator::{
    Coordinator, CoordinatorConfig, Decision, JournalParticipant, Participant, RecoveryReport,
};

pub const NAMES: [&str; 3] = ["fuse", "vectors", "graph"];

/// A participant that can be told to fail.
pub struct Flaky {
    pub inner: JournalParticipant,
    pub fail_write: AtomicBool,
    pub fail_prepare: AtomicBool,
    pub fail_decide: AtomicBool,
    pub fail_sync: AtomicBool,
    /// While set, `prepare` waits (a participant slow to vote).
    pub hold_prepare: AtomicBool,
}

fn refused(what: &str) -> JournalError {
    JournalError::Config(format!("test participant refuses to {what}"))
}

impl Participant for Flaky {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn write(&self, tx: NonZeroU64, events: Vec<Event>) -> vexfs_journal::Result<Range<u64>> {
        if self.fail_write.load(Ordering::Relaxed) {
            return Err(refused("write"));
        }
        self.inner.write(tx, events)
    }
    fn prepare(&self, tx: NonZeroU64, written: Range<u64>) -> vexfs_journal::Result<()> {
        if self.fail_prepare.load(Ordering::Relaxed) {
            return Err(refused("prepare"));
        }
        while self.hold_prepare.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.inner.prepare(tx, written)
    }
    fn decide(&self, tx: NonZeroU64, decision: Decision) -> vexfs_journal::Result<u64> {
        if self.fail_decide.load(Ordering::Relaxed) {
            return Err(refused("decide"));
        }
        self.inner.decide(tx, decision)
    }
    fn make_durable(&self, end: u64) -> vexfs_journal::Result<()> {
        if self.fail_sync.load(Ordering::Relaxed) {
            return Err(refused("sync"));
        }
        self.inner.make_durable(end)
    }
    fn transactions(&self) -> vexfs_journal::Result<Arc<TxView>> {
        self.inner.transactions()
    }
    fn location(&self) -> Option<&Path> {
        self.inner.location()
    }
    fn journal_id(&self) -> Option<vexfs_journal::Uuid> {
        self.inner.journal_id()
    }
    fn clock_time(&self) -> i64 {
        self.inner.clock_time()
    }
    fn observe_time(&self, time_ns: i64) {
        self.inner.observe_time(time_ns)
    }
}

pub struct World {
    pub root: PathBuf,
    pub journals: Vec<Journal>,
    pub parts: Vec<Arc<Flaky>>,
    pub coord: Option<Coordinator>,
    pub config: CoordinatorConfig,
}

impl World {
    pub fn new(root: &Path, config: CoordinatorConfig) -> (World, RecoveryReport) {
        let mut w = World {
            root: root.to_path_buf(),
            journals: Vec::new(),
            parts: Vec::new(),
            coord: None,
            config,
        };
        let report = w.reopen();
        (w, report)
    }

    /// Drops the coordinator (without deciding what is open, as a crash would) and
    /// closes the journals (so, unlike a crash, nothing written is lost: the kill -9
    /// torture covers that), opens them again, and returns what recovery did.
    pub fn reopen(&mut self) -> RecoveryReport {
        self.coord = None;
        self.parts.clear();
        for j in self.journals.drain(..) {
            let _ = j.close();
        }
        for name in NAMES {
            let j = Journal::open(self.root.join(name), Config::default()).unwrap();
            self.journals.push(j.clone());
            self.parts.push(Arc::new(Flaky {
                inner: JournalParticipant::new(name, j),
                fail_write: AtomicBool::new(false),
                fail_prepare: AtomicBool::new(false),
                fail_decide: AtomicBool::new(false),
                fail_sync: AtomicBool::new(false),
                hold_prepare: AtomicBool::new(false),
            }));
        }
        let parts: Vec<Arc<dyn Participant>> = self
            .parts
            .iter()
            .map(|p| p.clone() as Arc<dyn Participant>)
            .collect();
        let (c, report) =
            Coordinator::open(self.root.join("coordinator"), parts, self.config.clone()).unwrap();
        self.coord = Some(c);
        report
    }

    pub fn coord(&self) -> &Coordinator {
        self.coord.as_ref().unwrap()
    }

    /// Every event of participant `i`, and its transaction view.
    pub fn read(&self, i: usize) -> (Vec<StoredEvent>, TxView) {
        let j = &self.journals[i];
        j.flush().unwrap();
        let events: Vec<StoredEvent> = j.scan(1..j.next_seq()).map(|e| e.unwrap()).collect();
        let mut view = TxView::new();
        for e in &events {
            view.observe_event(e);
        }
        (events, view)
    }

    /// What a read-committed reader of participant `i` delivers now.
    pub fn committed(&self, i: usize) -> Vec<StoredEvent> {
        let (events, view) = self.read(i);
        events
            .into_iter()
            .take_while(|e| view.visibility(e.seq, role_of(e)) != Visibility::Wait)
            .filter(|e| view.visibility(e.seq, role_of(e)) == Visibility::Deliver)
            .collect()
    }

    /// Each decided transaction's decision as the coordinator log says.
    pub fn log_decisions(&self) -> BTreeMap<u64, Decision> {
        let summary = match &self.coord {
            Some(c) => {
                let log = c.log();
                log.flush().unwrap();
                let tag = vexfs_journal_coordinator::log::tag_of(log.journal_id());
                vexfs_journal_coordinator::summarize(tag, log.scan(1..log.next_seq()))
            }
            // Closed: read it from disk.
            None => {
                let log =
                    vexfs_journal::JournalReader::open(self.root.join("coordinator")).unwrap();
                let tag = vexfs_journal_coordinator::log::tag_of(log.journal_id());
                vexfs_journal_coordinator::summarize(tag, log.scan(1..log.visible_end()))
            }
        };
        summary
            .unwrap()
            .into_iter()
            .filter_map(|(id, t)| t.decision.map(|d| (id, d)))
            .collect()
    }

    /// Per participant: each transaction's decision as its markers say (asserting no
    /// marker contradicts another, and every one agrees with the coordinator log).
    pub fn decisions(&self) -> Vec<BTreeMap<u64, Decision>> {
        let logged = self.log_decisions();
        (0..NAMES.len())
            .map(|i| {
                let (events, view) = self.read(i);
                assert!(
                    view.conflicts().is_empty(),
                    "{}: {:?}",
                    NAMES[i],
                    view.conflicts()
                );
                let markers: BTreeMap<u64, Decision> = events
                    .iter()
                    .filter_map(|e| match role_of(e) {
                        TxRole::Marker(tx, d) => Some((tx, d)),
                        _ => None,
                    })
                    .collect();
                for (tx, d) in &markers {
                    // Presumed abort: an abort whose begin record and decision were
                    // both lost with the log's unwritten tail leaves abort markers
                    // the log does not know. A commit marker always has its logged
                    // decision (written durably before any marker).
                    let agrees = match logged.get(tx) {
                        Some(logged) => logged == d,
                        None => *d == Decision::Abort,
                    };
                    assert!(
                        agrees,
                        "{}: marker {d:?} of {tx} against the coordinator log's {:?}",
                        NAMES[i],
                        logged.get(tx)
                    );
                }
                markers
            })
            .collect()
    }
}

/// Each participant's journal directory, by name (as the consistency checker takes
/// them).
pub fn dirs(w: &World) -> BTreeMap<String, PathBuf> {
    NAMES
        .iter()
        .map(|n| (n.to_string(), w.root.join(n)))
        .collect()
}

/// Stops the coordinator as a crash would and closes the journals (so the checker,
/// which only reads, and `repair`, which opens them, may).
pub fn stop(w: &mut World) {
    w.coord = None;
    w.parts.clear();
    for j in w.journals.drain(..) {
        j.close().unwrap();
    }
}

/// Payloads of the ordinary and transaction events a read-committed reader of
/// participant `i` delivers now (markers left out).
pub fn payloads(w: &World, i: usize) -> Vec<String> {
    w.committed(i)
        .iter()
        .filter(|e| matches!(role_of(e), TxRole::None | TxRole::Member(_)))
        .map(|e| String::from_utf8_lossy(&e.event.payload).into_owned())
        .collect()
}

/// A file write event whose payload names the transaction and the step.
pub fn event(tag: &str) -> Event {
    Event::filesystem(FsOp::Write)
        .path(format!("/t/{tag}"))
        .payload(tag.as_bytes().to_vec())
}

pub fn quick() -> CoordinatorConfig {
    CoordinatorConfig {
        timeout: Duration::from_secs(60),
        reap_interval: Duration::from_millis(20),
    }
}

/// After a recovery: asserts that no participant has an undecided transaction, that
/// every participant holding events of a transaction holds its marker, and that all
/// markers of a transaction agree; returns each transaction's decision.
pub fn agreed_decisions(w: &World, label: &str) -> BTreeMap<u64, Decision> {
    let decisions = w.decisions();
    let mut decided: BTreeMap<u64, Decision> = BTreeMap::new();
    for (i, d) in decisions.iter().enumerate() {
        let (events, view) = w.read(i);
        assert_eq!(
            view.undecided().count(),
            0,
            "{label}: {} undecided",
            NAMES[i]
        );
        for e in &events {
            if let TxRole::Member(tx) = role_of(e) {
                assert!(
                    d.contains_key(&tx),
                    "{label}: {} lacks a marker of {tx}",
                    NAMES[i]
                );
            }
        }
        for (tx, decision) in d {
            if let Some(other) = decided.insert(*tx, *decision) {
                assert_eq!(other, *decision, "{label}: markers of {tx} disagree");
            }
        }
    }
    decided
}

/// The payloads a read-committed reader of each participant delivers now.
pub fn visible_payloads(w: &World) -> Vec<std::collections::BTreeSet<String>> {
    (0..NAMES.len())
        .map(|i| {
            w.committed(i)
                .iter()
                .map(|e| String::from_utf8_lossy(&e.event.payload).into_owned())
                .collect()
        })
        .collect()
}
