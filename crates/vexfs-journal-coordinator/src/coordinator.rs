//! The coordinator: two-phase commit over participant journals with a durable
//! decision log and presumed abort (see `docs/coordinator.md`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::num::NonZeroU64;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use vexfs_journal::ext::{AtomicHistogram, LatencySummary};
use vexfs_journal::format::tx::Decision;
use vexfs_journal::{Config, Event, Journal};

use crate::error::{CoordinatorError, Result};
use crate::log::LogRecord;
use crate::participant::Participant;

/// How a coordinator runs.
#[derive(Clone, Debug)]
pub struct CoordinatorConfig {
    /// A transaction not decided this long after it began is aborted.
    pub timeout: Duration,
    /// How often the timeout reaper looks for expired transactions.
    pub reap_interval: Duration,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            timeout: Duration::from_secs(30),
            reap_interval: Duration::from_millis(100),
        }
    }
}

/// Where a transaction is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxState {
    /// Begun: events may be added.
    Active,
    /// Every participant made its events durable; no decision yet.
    Prepared,
    /// Decided: commit. Finished once every participant has its marker.
    Committed,
    /// Decided: abort. Finished once every participant has its marker.
    Aborted,
}

impl TxState {
    /// Its name, as the CLI prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            TxState::Active => "active",
            TxState::Prepared => "prepared",
            TxState::Committed => "committed",
            TxState::Aborted => "aborted",
        }
    }
}

/// What the coordinator knows of one transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxStatus {
    /// Its id.
    pub id: u64,
    /// Its state.
    pub state: TxState,
    /// Whether it is finished (decided, and every participant has its marker).
    pub finished: bool,
    /// Its participants.
    pub participants: Vec<String>,
    /// Participants still without the decision's marker.
    pub undelivered: Vec<String>,
    /// Sequences `[first, end)` each participant wrote for it.
    pub written: BTreeMap<String, (u64, u64)>,
}

/// A transaction left undecided at some participant after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InDoubt {
    /// The transaction.
    pub tx: u64,
    /// Its decision (logged, or abort when none was).
    pub decision: Decision,
    /// Participants that could not be given the marker (not registered, or failing).
    pub missing: Vec<String>,
}

/// What opening the coordinator resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Records in the coordinator log.
    pub log_records: u64,
    /// Transactions whose commit was delivered to the participants that lacked it.
    pub committed: Vec<u64>,
    /// Transactions aborted: undecided at the crash (presumed abort), or decided abort.
    pub aborted: Vec<u64>,
    /// Transactions some participant still lacks the decision of.
    pub in_doubt: Vec<InDoubt>,
    /// Of `committed` and `aborted`, transactions the log did not hold (their begin
    /// record, which is not written durably, was lost in the crash) but whose events
    /// a participant did: found there and aborted (or committed, when another
    /// participant holds a commit marker).
    pub orphans: Vec<u64>,
}

/// Counters and latencies.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CoordinatorMetrics {
    /// Transactions begun.
    pub begun: u64,
    /// Transactions committed (decision logged).
    pub committed: u64,
    /// Transactions aborted (by a caller, a failure or a timeout).
    pub aborted: u64,
    /// Of those, aborted by the timeout.
    pub timed_out: u64,
    /// Decided transactions some participant still lacks the marker of.
    pub in_doubt: u64,
    /// Transactions whose markers are all written, waiting for them to be durable
    /// before the completion is logged.
    pub completing: u64,
    /// Prepare latency (every participant durable), ns.
    pub prepare: LatencySummary,
    /// Commit latency (prepare, durable decision, markers), ns.
    pub commit: LatencySummary,
}

#[derive(Debug)]
struct Tx {
    id: NonZeroU64,
    participants: Vec<String>,
    state: TxState,
    deadline: Instant,
    timeout_ms: u64,
    written: Written,
    /// Participants still to receive the decision's marker.
    undelivered: Vec<String>,
    /// Markers written so far: participant, marker sequence.
    markers: Vec<(String, u64)>,
}

/// A transaction whose markers are all written: its completion is logged once every
/// one of them is durable.
#[derive(Debug)]
struct Completing {
    tx: NonZeroU64,
    markers: Vec<(String, u64)>,
    /// Not retried before this (after a participant failed to sync).
    not_before: Instant,
}

/// How long the completer lets markers ride on the participants' own syncs (the next
/// transactions' prepares) before it syncs them itself.
const COMPLETE_LINGER: Duration = Duration::from_millis(2);

impl Tx {
    fn status(&self, finished: bool) -> TxStatus {
        TxStatus {
            id: self.id.get(),
            state: self.state,
            finished,
            participants: self.participants.clone(),
            undelivered: self.undelivered.clone(),
            written: self.written.clone(),
        }
    }

    fn decided(&self) -> bool {
        matches!(self.state, TxState::Committed | TxState::Aborted)
    }
}

/// Sequences `[first, end)` each participant wrote for a transaction, by name.
type Written = BTreeMap<String, (u64, u64)>;

/// Finished transactions whose outcome [`Coordinator::status`] still reports.
const FINISHED_KEPT: usize = 4096;

struct Inner {
    log: Journal,
    participants: HashMap<String, Arc<dyn Participant>>,
    txs: Mutex<HashMap<u64, Arc<Mutex<Tx>>>>,
    finished: Mutex<VecDeque<TxStatus>>,
    config: CoordinatorConfig,
    begun: AtomicU64,
    committed: AtomicU64,
    aborted: AtomicU64,
    timed_out: AtomicU64,
    prepare_ns: AtomicHistogram,
    commit_ns: AtomicHistogram,
    stop: Mutex<bool>,
    wake: Condvar,
    /// Transactions waiting for their markers to be durable (see [`Completing`]).
    completing: Mutex<Vec<Completing>>,
    completing_wake: Condvar,
    crashed: AtomicBool,
    /// A commit decision could not be logged: its outcome is unknown here.
    log_failed: AtomicBool,
    /// Transaction ids are this tag (from the log's journal id) above a counter: ids
    /// of different coordinator logs do not collide.
    tag: u64,
    /// Counters `[next, end)` reserved durably and not yet handed out (I57).
    ids: Mutex<(u64, u64)>,
    #[cfg(feature = "fault-injection")]
    crash_point: Mutex<Option<(&'static str, u32)>>,
}

/// Coordinates transactions across participant journals.
///
/// Every operation takes the lock of one transaction at most, and a participant is
/// only called under it, so operations on different transactions run in parallel and
/// cannot deadlock (see `docs/coordinator.md`).
pub struct Coordinator {
    inner: Arc<Inner>,
    reaper: Option<JoinHandle<()>>,
    completer: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Coordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coordinator")
            .field("log", &self.inner.log.dir())
            .field(
                "participants",
                &self.inner.participants.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Coordinator {
    /// Opens (or creates) the coordinator log in `dir` (fsync policy `never`: the
    /// coordinator waits for what must be durable) and resolves what a crash left
    /// open: a logged decision is delivered to every participant lacking it, and a
    /// transaction with no logged decision is aborted (presumed abort). A transaction
    /// whose participant is not among `participants` stays in doubt and is reported.
    pub fn open(
        dir: impl AsRef<Path>,
        participants: Vec<Arc<dyn Participant>>,
        config: CoordinatorConfig,
    ) -> Result<(Coordinator, RecoveryReport)> {
        // Everything the protocol needs durable in the log is waited for explicitly
        // (reservations, commit decisions); begin records, abort decisions and
        // completions need not be. So the log syncs only when asked: a sync of its
        // own for every begin record would compete with the participants' syncs.
        let log_config = Config {
            fsync: vexfs_journal::FsyncPolicy::Never,
            ..Config::default()
        };
        let log = Journal::open(dir.as_ref(), log_config).map_err(CoordinatorError::log)?;
        Coordinator::open_with_log(log, participants, config)
    }

    /// [`Coordinator::open`] on a log journal the caller opened (its own configuration,
    /// or open options such as fault injection in tests). The journal must not be
    /// written by anything else while the coordinator has it.
    pub fn open_with_log(
        log: Journal,
        participants: Vec<Arc<dyn Participant>>,
        config: CoordinatorConfig,
    ) -> Result<(Coordinator, RecoveryReport)> {
        let dir = log.dir().to_path_buf();
        let dir = dir.as_path();
        let mut by_name = HashMap::new();
        let mut dirs = BTreeMap::new();
        let mut ids = BTreeMap::new();
        for p in participants {
            let name = p.name().to_string();
            if let Err(reason) = p.check() {
                return Err(CoordinatorError::BadParticipants {
                    reason: format!("participant {name:?}: {reason}"),
                });
            }
            if let Some(at) = p.location() {
                dirs.insert(
                    name.clone(),
                    std::path::absolute(at).unwrap_or(at.to_path_buf()),
                );
            }
            if let Some(id) = p.journal_id() {
                let at = p.location().unwrap_or(Path::new("?"));
                crate::log::check_participant_id(dir, &name, at, id)?;
                ids.insert(name.clone(), id);
            }
            if by_name.insert(name.clone(), p).is_some() {
                return Err(CoordinatorError::BadParticipants {
                    reason: format!("two participants given to open are named {name:?}"),
                });
            }
        }
        crate::log::record_participant_dirs(dir, &dirs, &ids);
        let tag = crate::log::tag_of(log.journal_id());
        let inner = Arc::new(Inner {
            log,
            participants: by_name,
            txs: Mutex::new(HashMap::new()),
            finished: Mutex::new(VecDeque::new()),
            config,
            begun: AtomicU64::new(0),
            committed: AtomicU64::new(0),
            aborted: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            prepare_ns: AtomicHistogram::default(),
            commit_ns: AtomicHistogram::default(),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            completing: Mutex::new(Vec::new()),
            completing_wake: Condvar::new(),
            crashed: AtomicBool::new(false),
            log_failed: AtomicBool::new(false),
            tag,
            ids: Mutex::new((0, 0)),
            #[cfg(feature = "fault-injection")]
            crash_point: Mutex::new(None),
        });
        let report = inner.recover()?;
        let reaper = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("vexfs-tx-reaper".into())
                .spawn(move || inner.reap())
                .map_err(CoordinatorError::Thread)?
        };
        let completer = {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name("vexfs-tx-complete".into())
                .spawn(move || inner.complete_loop())
                .map_err(CoordinatorError::Thread)?
        };
        Ok((
            Coordinator {
                inner,
                reaper: Some(reaper),
                completer: Some(completer),
            },
            report,
        ))
    }

    /// Begins a transaction over the named participants. Its begin record is written
    /// but not waited for (one durable reservation covers the ids of many
    /// transactions, see [`crate::log::IDS_PER_RESERVE`]); if a crash loses it, the
    /// next open finds the transaction's events in the participants and aborts it.
    pub fn begin(&self, participants: &[&str]) -> Result<NonZeroU64> {
        self.inner.begin(participants)
    }

    /// Appends `events` to `participant` as part of `tx` (one atomic batch there).
    pub fn add_events(
        &self,
        tx: NonZeroU64,
        participant: &str,
        events: Vec<Event>,
    ) -> Result<Range<u64>> {
        self.inner.add_events(tx, participant, events)
    }

    /// Records, as part of `tx`, that it refers to these kernel journal events: one
    /// reference event each ([`KernelEventRef::to_event`]) written to `participant`
    /// (normally the kernel bridge's journal) as one atomic batch, visible to
    /// read-committed readers once `tx` commits. The kernel events themselves are the
    /// kernel's: a transaction names them, it cannot hide or abort them.
    pub fn add_kernel_event_refs(
        &self,
        tx: NonZeroU64,
        participant: &str,
        refs: &[crate::KernelEventRef],
    ) -> Result<Range<u64>> {
        self.inner
            .add_events(tx, participant, crate::kernel_ref::events_of(refs)?)
    }

    /// Makes every participant's events of `tx` durable. A participant that fails
    /// aborts the transaction.
    pub fn prepare(&self, tx: NonZeroU64) -> Result<()> {
        self.inner.prepare(tx)
    }

    /// Commits `tx` (preparing it first if needed): returns once the decision is
    /// durable and every participant has its commit marker written. The markers reach
    /// the disk with the participants' next syncs; until the coordinator has seen them
    /// durable and logged the completion, a restart delivers them again.
    pub fn commit(&self, tx: NonZeroU64) -> Result<()> {
        self.inner.commit(tx)
    }

    /// Aborts `tx` (unless it is already decided).
    pub fn abort(&self, tx: NonZeroU64) -> Result<()> {
        self.inner.abort(tx)
    }

    /// Delivers the decision of `tx` to the participants still lacking it.
    pub fn resolve(&self, tx: NonZeroU64) -> Result<()> {
        self.inner.resolve(tx)
    }

    /// The status of `tx`: an open one, or one of the most recently finished.
    pub fn status(&self, tx: u64) -> Option<TxStatus> {
        let entry = lock(&self.inner.txs).get(&tx).cloned();
        if let Some(entry) = entry {
            return Some(lock(&entry).status(false));
        }
        lock(&self.inner.finished)
            .iter()
            .rev()
            .find(|s| s.id == tx)
            .cloned()
    }

    /// Transactions not finished, oldest first.
    pub fn list_active(&self) -> Vec<TxStatus> {
        let entries: Vec<_> = lock(&self.inner.txs).values().cloned().collect();
        let mut out: Vec<TxStatus> = entries.iter().map(|e| lock(e).status(false)).collect();
        out.sort_by_key(|s| s.id);
        out
    }

    /// Counters and latency summaries.
    pub fn metrics(&self) -> CoordinatorMetrics {
        let i = &self.inner;
        CoordinatorMetrics {
            begun: i.begun.load(Relaxed),
            committed: i.committed.load(Relaxed),
            aborted: i.aborted.load(Relaxed),
            timed_out: i.timed_out.load(Relaxed),
            in_doubt: self
                .list_active()
                .iter()
                .filter(|s| s.state == TxState::Committed || s.state == TxState::Aborted)
                .count() as u64,
            completing: lock(&i.completing).len() as u64,
            prepare: i.prepare_ns.summary(),
            commit: i.commit_ns.summary(),
        }
    }

    /// Shuts down cleanly: aborts every transaction not yet decided (readers need not
    /// wait for a restart to presume it), makes every marker durable and logs those
    /// transactions complete, stops the background threads and closes the log.
    /// Decided transactions some participant still lacks stay for the next open.
    pub fn close(mut self) -> Result<()> {
        self.inner.alive()?;
        self.stop_threads();
        let entries: Vec<_> = lock(&self.inner.txs).values().cloned().collect();
        for entry in entries {
            let mut t = lock(&entry);
            if !t.decided() {
                self.inner.abort_or_keep(&mut t);
            }
        }
        self.inner.drain_completions()?;
        self.inner.log.close().map_err(CoordinatorError::log)
    }

    fn stop_threads(&mut self) {
        *lock(&self.inner.stop) = true;
        self.inner.wake.notify_all();
        if let Some(reaper) = self.reaper.take() {
            let _ = reaper.join();
        }
        // The completer checks the flag under its own mutex: notify under it too, so
        // it cannot miss the wake-up between its check and its wait.
        drop(lock(&self.inner.completing));
        self.inner.completing_wake.notify_all();
        if let Some(completer) = self.completer.take() {
            let _ = completer.join();
        }
    }

    /// The coordinator log.
    pub fn log(&self) -> &Journal {
        &self.inner.log
    }

    /// Makes the coordinator stop at the `nth` (from 0) next pass through `point`
    /// (`begin-logged`, `written`, `prepared`, `decision-logged`, `marker`,
    /// `completed`), as if its process died there: that call and every later one fail
    /// with [`CoordinatorError::Crashed`], and nothing more is written.
    #[cfg(feature = "fault-injection")]
    pub fn crash_at(&self, point: &'static str, nth: u32) {
        *lock(&self.inner.crash_point) = Some((point, nth));
    }
}

impl Drop for Coordinator {
    /// Stops the background threads and logs complete what is durable; undecided
    /// transactions are left to the next open (as after a crash).
    /// [`Coordinator::close`] aborts them instead.
    fn drop(&mut self) {
        self.stop_threads();
        if self.inner.alive().is_ok()
            && let Err(e) = self.inner.drain_completions()
        {
            tracing::warn!(error = %e, "completions not logged; the next open redelivers their markers");
        }
    }
}

/// Async variants: each runs the synchronous operation (which waits for fsyncs and
/// takes a transaction's lock) on Tokio's blocking pool, so an executor thread never
/// waits on a disk. They must be called inside a Tokio runtime
/// ([`CoordinatorError::NoRuntime`] otherwise). Dropping the future does not cancel the
/// operation: once started it finishes in the background (a commit still commits).
#[cfg(feature = "async")]
impl Coordinator {
    async fn unblock<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Inner) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| CoordinatorError::NoRuntime)?;
        let inner = self.inner.clone();
        runtime
            .spawn_blocking(move || op(&inner))
            .await
            .map_err(|e| CoordinatorError::TaskFailed(e.to_string()))?
    }

    /// Async [`Coordinator::begin`].
    pub async fn begin_async(&self, participants: &[&str]) -> Result<NonZeroU64> {
        let names: Vec<String> = participants.iter().map(|p| (*p).to_string()).collect();
        self.unblock(move |i| {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            i.begin(&names)
        })
        .await
    }

    /// Async [`Coordinator::add_events`].
    pub async fn add_events_async(
        &self,
        tx: NonZeroU64,
        participant: &str,
        events: Vec<Event>,
    ) -> Result<Range<u64>> {
        let participant = participant.to_string();
        self.unblock(move |i| i.add_events(tx, &participant, events))
            .await
    }

    /// Async [`Coordinator::add_kernel_event_refs`].
    pub async fn add_kernel_event_refs_async(
        &self,
        tx: NonZeroU64,
        participant: &str,
        refs: &[crate::KernelEventRef],
    ) -> Result<Range<u64>> {
        let events = crate::kernel_ref::events_of(refs)?;
        self.add_events_async(tx, participant, events).await
    }

    /// Async [`Coordinator::prepare`].
    pub async fn prepare_async(&self, tx: NonZeroU64) -> Result<()> {
        self.unblock(move |i| i.prepare(tx)).await
    }

    /// Async [`Coordinator::commit`].
    pub async fn commit_async(&self, tx: NonZeroU64) -> Result<()> {
        self.unblock(move |i| i.commit(tx)).await
    }

    /// Async [`Coordinator::abort`].
    pub async fn abort_async(&self, tx: NonZeroU64) -> Result<()> {
        self.unblock(move |i| i.abort(tx)).await
    }

    /// Async [`Coordinator::resolve`].
    pub async fn resolve_async(&self, tx: NonZeroU64) -> Result<()> {
        self.unblock(move |i| i.resolve(tx)).await
    }
}

impl Inner {
    fn prepare(&self, tx: NonZeroU64) -> Result<()> {
        let entry = self.tx(tx)?;
        let mut t = lock(&entry);
        self.prepare_locked(&mut t)
    }

    fn abort(&self, tx: NonZeroU64) -> Result<()> {
        let entry = self.tx(tx)?;
        let mut t = lock(&entry);
        self.alive()?;
        match t.state {
            TxState::Committed => Err(CoordinatorError::WrongState {
                tx: tx.get(),
                state: "committed",
                operation: "abort",
            }),
            TxState::Aborted => self.deliver(&mut t),
            TxState::Active | TxState::Prepared => self.abort_locked(&mut t, false),
        }
    }

    fn resolve(&self, tx: NonZeroU64) -> Result<()> {
        let entry = self.tx(tx)?;
        let mut t = lock(&entry);
        if !t.decided() {
            return Err(CoordinatorError::WrongState {
                tx: tx.get(),
                state: t.state.as_str(),
                operation: "resolve (it is not decided)",
            });
        }
        self.deliver(&mut t)
    }

    fn alive(&self) -> Result<()> {
        if self.crashed.load(Relaxed) {
            return Err(CoordinatorError::Crashed("an earlier point"));
        }
        if self.log_failed.load(Relaxed) {
            return Err(CoordinatorError::Stopped);
        }
        Ok(())
    }

    /// A crash point (fault-injection builds; otherwise only the liveness check).
    fn point(&self, _name: &'static str) -> Result<()> {
        self.alive()?;
        #[cfg(feature = "fault-injection")]
        {
            let mut p = lock(&self.crash_point);
            if let Some((point, nth)) = p.as_mut()
                && *point == _name
            {
                if *nth == 0 {
                    *p = None;
                    self.crashed.store(true, Relaxed);
                    return Err(CoordinatorError::Crashed(_name));
                }
                *nth -= 1;
            }
        }
        Ok(())
    }

    fn tx(&self, tx: NonZeroU64) -> Result<Arc<Mutex<Tx>>> {
        lock(&self.txs)
            .get(&tx.get())
            .cloned()
            .ok_or(CoordinatorError::UnknownTransaction { tx: tx.get() })
    }

    fn participant(&self, name: &str) -> Result<&Arc<dyn Participant>> {
        self.participants
            .get(name)
            .ok_or_else(|| CoordinatorError::UnknownParticipant { name: name.into() })
    }

    fn begin(&self, names: &[&str]) -> Result<NonZeroU64> {
        self.alive()?;
        if names.is_empty() {
            return Err(CoordinatorError::BadParticipants {
                reason: "none given".into(),
            });
        }
        let mut participants: Vec<String> = Vec::with_capacity(names.len());
        for name in names {
            self.participant(name)?;
            if participants.iter().any(|p| p == name) {
                return Err(CoordinatorError::BadParticipants {
                    reason: format!("{name:?} is named twice"),
                });
            }
            participants.push((*name).to_string());
        }
        let timeout_ms = u64::try_from(self.config.timeout.as_millis()).unwrap_or(u64::MAX);
        let id = self.next_id()?;
        let record = LogRecord::Begin {
            id: Some(id.get()),
            participants: participants.clone(),
            timeout_ms,
        };
        self.log
            .emit(record.to_event())
            .map_err(CoordinatorError::log)?;
        self.point("begin-logged")?;
        let tx = Tx {
            id,
            participants,
            state: TxState::Active,
            deadline: Instant::now() + self.config.timeout,
            timeout_ms,
            written: BTreeMap::new(),
            undelivered: Vec::new(),
            markers: Vec::new(),
        };
        lock(&self.txs).insert(id.get(), Arc::new(Mutex::new(tx)));
        self.begun.fetch_add(1, Relaxed);
        Ok(id)
    }

    /// A transaction id never handed out before: from the durable reservation, after
    /// logging a new one when it is used up (I57).
    fn next_id(&self) -> Result<NonZeroU64> {
        let mut ids = lock(&self.ids);
        if ids.0 >= ids.1 {
            let below = ids
                .1
                .checked_add(crate::log::IDS_PER_RESERVE)
                .filter(|b| *b <= 1 << crate::log::SEQ_BITS)
                .ok_or(CoordinatorError::BadRecord {
                    seq: self.log.next_seq(),
                    reason: "the transaction ids of this log are used up (start a new coordinator directory)".into(),
                })?;
            self.log
                .emit_durable(LogRecord::Reserve { ids_below: below }.to_event())
                .map_err(CoordinatorError::log)?;
            *ids = (ids.1, below);
        }
        let counter = ids.0;
        ids.0 += 1;
        crate::log::tx_id(self.tag, counter).ok_or(CoordinatorError::BadRecord {
            seq: counter,
            reason: "a transaction id counter past what an id holds".into(),
        })
    }

    fn add_events(
        &self,
        tx: NonZeroU64,
        participant: &str,
        events: Vec<Event>,
    ) -> Result<Range<u64>> {
        let entry = self.tx(tx)?;
        let mut t = lock(&entry);
        self.alive()?;
        self.check_open(&mut t, "add events")?;
        if !t.participants.iter().any(|p| p == participant) {
            return Err(CoordinatorError::NotAParticipant {
                tx: tx.get(),
                name: participant.into(),
            });
        }
        if t.state != TxState::Active {
            return Err(CoordinatorError::WrongState {
                tx: tx.get(),
                state: t.state.as_str(),
                operation: "add events (only an active transaction takes them)",
            });
        }
        let p = self.participant(participant)?;
        let range = match p.write(tx, events) {
            Ok(range) => range,
            Err(source) => {
                self.abort_or_keep(&mut t);
                return Err(CoordinatorError::Aborted {
                    tx: tx.get(),
                    name: participant.into(),
                    step: "write",
                    source: Box::new(source),
                });
            }
        };
        if !range.is_empty() {
            let w = t
                .written
                .entry(participant.to_string())
                .or_insert((range.start, range.end));
            w.0 = w.0.min(range.start);
            w.1 = w.1.max(range.end);
        }
        self.point("written")?;
        Ok(range)
    }

    /// Aborts a transaction already failing for another reason (the abort's own
    /// trouble is left to recovery: presumed abort).
    fn abort_or_keep(&self, t: &mut Tx) {
        if let Err(e) = self.abort_locked(t, false) {
            tracing::warn!(tx = t.id.get(), error = %e, "abort not completed; a restart finishes it");
        }
    }

    /// Fails (aborting it) when an undecided `t` is past its deadline.
    fn check_open(&self, t: &mut Tx, _operation: &'static str) -> Result<()> {
        if !t.decided() && Instant::now() >= t.deadline {
            self.abort_or_keep(t);
            self.timed_out.fetch_add(1, Relaxed);
            return Err(CoordinatorError::TimedOut {
                tx: t.id.get(),
                timeout_ms: t.timeout_ms,
            });
        }
        Ok(())
    }

    fn prepare_locked(&self, t: &mut Tx) -> Result<()> {
        self.alive()?;
        match t.state {
            TxState::Active => {}
            TxState::Prepared => return Ok(()),
            state => {
                return Err(CoordinatorError::WrongState {
                    tx: t.id.get(),
                    state: state.as_str(),
                    operation: "prepare",
                });
            }
        }
        self.check_open(t, "prepare")?;
        let started = Instant::now();
        for name in t.participants.clone() {
            let p = self.participant(&name)?;
            let written = t
                .written
                .get(&name)
                .map_or(0..0, |&(first, end)| first..end);
            if let Err(source) = p.prepare(t.id, written) {
                self.abort_or_keep(t);
                return Err(CoordinatorError::Aborted {
                    tx: t.id.get(),
                    name,
                    step: "prepare",
                    source: Box::new(source),
                });
            }
            self.point("prepared")?;
        }
        t.state = TxState::Prepared;
        self.prepare_ns
            .record(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        Ok(())
    }

    fn commit(&self, tx: NonZeroU64) -> Result<()> {
        let started = Instant::now();
        let entry = self.tx(tx)?;
        let mut t = lock(&entry);
        self.alive()?;
        match t.state {
            TxState::Committed => return self.deliver(&mut t),
            TxState::Aborted => {
                return Err(CoordinatorError::WrongState {
                    tx: tx.get(),
                    state: "aborted",
                    operation: "commit",
                });
            }
            TxState::Active | TxState::Prepared => {}
        }
        self.prepare_locked(&mut t)?;
        // The decision is later than every event of the transaction (I56).
        self.log.observe_time(self.participants_clock(&t));
        // The commit point: once this record is durable the transaction commits,
        // whatever fails next.
        let record = LogRecord::Decision {
            tx: tx.get(),
            decision: Decision::Commit,
            written: t.written.clone(),
        };
        if let Err(e) = self.log.emit_durable(record.to_event()) {
            // The record may be in the file though its sync failed: the outcome is
            // unknown until the log is read again. Nothing more is decided or
            // delivered by this instance; reopening settles it from the log.
            self.log_failed.store(true, Relaxed);
            return Err(CoordinatorError::OutcomeUnknown {
                tx: tx.get(),
                source: Box::new(e),
            });
        }
        self.point("decision-logged")?;
        t.state = TxState::Committed;
        t.undelivered = t.participants.clone();
        self.committed.fetch_add(1, Relaxed);
        let delivered = self.deliver(&mut t);
        self.commit_ns
            .record(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        delivered
    }

    /// Decides abort for an undecided `t` and delivers it.
    fn abort_locked(&self, t: &mut Tx, _timed_out: bool) -> Result<()> {
        self.alive()?;
        // Presumed abort: the record need not be durable (with no durable decision a
        // restart aborts), so it is not synced here.
        let record = LogRecord::Decision {
            tx: t.id.get(),
            decision: Decision::Abort,
            written: t.written.clone(),
        };
        if let Err(e) = self.log.emit(record.to_event()) {
            tracing::warn!(tx = t.id.get(), error = %e, "abort decision not logged; a restart presumes it");
        }
        self.point("decision-logged")?;
        t.state = TxState::Aborted;
        t.undelivered = t.participants.clone();
        self.aborted.fetch_add(1, Relaxed);
        self.deliver(t)
    }

    /// The latest clock time among `t`'s participants (0 for those not registered).
    fn participants_clock(&self, t: &Tx) -> i64 {
        t.participants
            .iter()
            .filter_map(|name| self.participant(name).ok())
            .map(|p| p.clock_time())
            .max()
            .unwrap_or(0)
    }

    /// Gives every participant still lacking it the marker of `t`'s decision; once
    /// all have it, logs the completion and forgets the transaction.
    fn deliver(&self, t: &mut Tx) -> Result<()> {
        let decision = match t.state {
            TxState::Committed => Decision::Commit,
            TxState::Aborted => Decision::Abort,
            _ => return Ok(()),
        };
        // Every marker is later than the decision and than every event of the
        // transaction, in every participant (I56).
        let after = self.participants_clock(t).max(self.log.clock_time());
        let mut failed = Vec::new();
        for name in std::mem::take(&mut t.undelivered) {
            // A participant this coordinator was not opened with (a transaction left
            // in doubt by a restart) has not got its marker: it stays undelivered.
            let decided = self.participant(&name).map(|p| {
                p.observe_time(after);
                p.decide(t.id, decision)
            });
            match decided {
                Ok(Ok(seq)) => t.markers.push((name, seq)),
                Ok(Err(e)) => {
                    tracing::warn!(tx = t.id.get(), participant = %name, error = %e, "marker not written");
                    failed.push(name);
                }
                Err(_) => failed.push(name),
            }
            if let Err(crash) = self.point("marker") {
                t.undelivered = failed;
                return Err(crash);
            }
        }
        if !failed.is_empty() {
            t.undelivered = failed.clone();
            return Err(CoordinatorError::Undelivered {
                tx: t.id.get(),
                decision: decision.as_str(),
                pending: failed,
            });
        }
        // Every participant has its marker written: the completion is logged once they
        // are durable (`complete_loop`), so that a crash before redelivers them.
        lock(&self.completing).push(Completing {
            tx: t.id,
            markers: std::mem::take(&mut t.markers),
            not_before: Instant::now(),
        });
        self.completing_wake.notify_one();
        lock(&self.txs).remove(&t.id.get());
        let mut finished = lock(&self.finished);
        if finished.len() >= FINISHED_KEPT {
            finished.pop_front();
        }
        finished.push_back(t.status(true));
        Ok(())
    }

    /// Resolves what the log shows unfinished (see [`Coordinator::open`]).
    fn recover(&self) -> Result<RecoveryReport> {
        let mut report = RecoveryReport::default();
        let state = crate::log::read_log(self.tag, self.log.scan(1..self.log.next_seq()))?;
        let txs = state.txs;
        report.log_records = self.log.next_seq().saturating_sub(1);
        // New ids start above every reservation and id the log holds (I57).
        *lock(&self.ids) = (state.ids_below, state.ids_below);
        // Which participants hold events of each transaction of this log without its
        // marker: they get the decision too, whether the log names them or not (a
        // begin record lost in a crash names nobody).
        let mut held: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        let mut views = Vec::new();
        let mut names: Vec<&String> = self.participants.keys().collect();
        names.sort();
        for name in names {
            let view = self.participants[name].transactions().map_err(|e| {
                CoordinatorError::ParticipantJournal {
                    participant: name.clone(),
                    source: Box::new(e),
                }
            })?;
            for (tx, _) in view.undecided() {
                if crate::log::is_of(self.tag, tx) {
                    held.entry(tx).or_default().push(name.clone());
                }
            }
            views.push(view);
        }
        for (&id, seen) in &txs {
            let holders = held.remove(&id).unwrap_or_default();
            if seen.complete {
                continue;
            }
            let Some(tx) = NonZeroU64::new(id) else {
                continue;
            };
            let decision = seen.decision.unwrap_or(Decision::Abort);
            let written = seen.written.clone();
            if seen.decision.is_none() {
                // Presumed abort, logged so the log tells the outcome (no sync needed:
                // without it a restart presumes the same).
                let record = LogRecord::Decision {
                    tx: id,
                    decision,
                    written: written.clone(),
                };
                self.log
                    .emit(record.to_event())
                    .map_err(CoordinatorError::log)?;
            }
            let mut t = Tx {
                id: tx,
                participants: seen.participants.clone(),
                state: match decision {
                    Decision::Commit => TxState::Committed,
                    Decision::Abort => TxState::Aborted,
                },
                deadline: Instant::now(),
                timeout_ms: seen.timeout_ms,
                written,
                undelivered: Vec::new(),
                markers: Vec::new(),
            };
            // Participants known to the log (those begun with, and any that wrote),
            // and any holding its events.
            for name in t.written.keys().chain(&holders) {
                if !t.participants.contains(name) {
                    t.participants.push(name.clone());
                }
            }
            self.settle(t, &mut report)?;
        }
        // What is left: transactions of this log that a participant holds events of
        // but the log does not know. Their begin record (not written durably) was
        // lost in the crash, so no decision was logged. Presumed abort at every
        // participant holding events of one — unless another participant holds its
        // commit marker (a log rolled back past the decision, I55): then commit.
        for (id, holders) in held {
            let Some(tx) = NonZeroU64::new(id) else {
                continue;
            };
            let found: Vec<Decision> = views.iter().filter_map(|v| v.decision(id)).collect();
            let decision = if found.contains(&Decision::Commit) {
                if found.contains(&Decision::Abort) {
                    // Markers contradict each other: nothing safe decides it
                    // (`check_consistency` reports it).
                    tracing::warn!(
                        tx = id,
                        "participants' markers contradict each other; left undecided"
                    );
                    continue;
                }
                Decision::Commit
            } else {
                Decision::Abort
            };
            // A begin record naming the participants found, so that a crash before
            // every marker is written still delivers them after the next open.
            let begin = LogRecord::Begin {
                id: Some(id),
                participants: holders.clone(),
                timeout_ms: 0,
            };
            self.log
                .emit(begin.to_event())
                .map_err(CoordinatorError::log)?;
            let record = LogRecord::Decision {
                tx: id,
                decision,
                written: Written::new(),
            };
            match decision {
                // A commit is logged durably before it is delivered, as always.
                Decision::Commit => self.log.emit_durable(record.to_event()),
                Decision::Abort => self.log.emit(record.to_event()),
            }
            .map_err(CoordinatorError::log)?;
            report.orphans.push(id);
            let t = Tx {
                id: tx,
                participants: holders,
                state: match decision {
                    Decision::Commit => TxState::Committed,
                    Decision::Abort => TxState::Aborted,
                },
                deadline: Instant::now(),
                timeout_ms: 0,
                written: Written::new(),
                undelivered: Vec::new(),
                markers: Vec::new(),
            };
            self.settle(t, &mut report)?;
        }
        self.log.sync().map_err(CoordinatorError::log)?;
        Ok(report)
    }

    /// Delivers the decision of `t`, found unfinished by [`Inner::recover`], to every
    /// participant (a duplicate marker is harmless); one not given to `open`, or
    /// failing, keeps the transaction in doubt.
    fn settle(&self, mut t: Tx, report: &mut RecoveryReport) -> Result<()> {
        let id = t.id.get();
        let decision = match t.state {
            TxState::Committed => Decision::Commit,
            _ => Decision::Abort,
        };
        t.undelivered = t.participants.clone();
        match self.deliver(&mut t) {
            Ok(()) => match decision {
                Decision::Commit => report.committed.push(id),
                Decision::Abort => report.aborted.push(id),
            },
            Err(CoordinatorError::Undelivered { pending, .. }) => {
                report.in_doubt.push(InDoubt {
                    tx: id,
                    decision,
                    missing: pending,
                });
                lock(&self.txs).insert(id, Arc::new(Mutex::new(t)));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// The completer: logs transactions complete once their markers are durable,
    /// letting the markers ride on the participants' own syncs for a moment first.
    fn complete_loop(&self) {
        loop {
            let batch = {
                let mut pending = lock(&self.completing);
                loop {
                    if *lock(&self.stop) {
                        return;
                    }
                    let now = Instant::now();
                    if pending.iter().any(|c| c.not_before <= now) {
                        break;
                    }
                    pending = self
                        .completing_wake
                        .wait_timeout(pending, self.config.reap_interval)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                drop(pending);
                std::thread::sleep(COMPLETE_LINGER);
                let now = Instant::now();
                let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *lock(&self.completing))
                    .into_iter()
                    .partition(|c| c.not_before <= now);
                lock(&self.completing).extend(later);
                ready
            };
            if self.alive().is_err() {
                // Crashed: what was not logged complete is redelivered by the next open.
                return;
            }
            let _ = self.complete(batch);
        }
    }

    /// Makes every marker of `batch` durable and logs those transactions complete;
    /// those with a participant that failed to sync go back to wait a second.
    fn complete(&self, batch: Vec<Completing>) -> Result<()> {
        let mut ends: BTreeMap<&str, u64> = BTreeMap::new();
        for c in &batch {
            for (name, seq) in &c.markers {
                let end = ends.entry(name.as_str()).or_insert(0);
                *end = (*end).max(seq.saturating_add(1));
            }
        }
        let mut failed = Vec::new();
        for (name, end) in ends {
            let synced = match self.participant(name) {
                Ok(p) => p.make_durable(end).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = synced {
                tracing::warn!(participant = %name, error = %e, "markers not durable; retried");
                failed.push(name.to_string());
            }
        }
        let mut retry = Vec::new();
        let mut batch = batch.into_iter();
        for c in batch.by_ref() {
            if c.markers.iter().any(|(n, _)| failed.contains(n)) {
                retry.push(Completing {
                    not_before: Instant::now() + Duration::from_secs(1),
                    ..c
                });
                continue;
            }
            if let Err(e) = self
                .log
                .emit(LogRecord::Complete { tx: c.tx.get() }.to_event())
            {
                tracing::warn!(tx = c.tx.get(), error = %e, "completion not logged; a restart redelivers");
            }
            // A crash here leaves the rest for the next open, which redelivers them.
            self.point("completed")?;
        }
        retry.extend(batch);
        lock(&self.completing).extend(retry);
        Ok(())
    }

    /// Completes everything waiting, now (close, drop).
    fn drain_completions(&self) -> Result<()> {
        let batch = std::mem::take(&mut *lock(&self.completing));
        self.complete(batch)?;
        let left = lock(&self.completing).len();
        if left > 0 {
            tracing::warn!(
                transactions = left,
                "markers not durable; the next open redelivers them"
            );
        }
        Ok(())
    }

    /// The timeout reaper: aborts undecided transactions past their deadline.
    fn reap(&self) {
        let retry_every =
            Duration::from_secs(1).as_nanos() / self.config.reap_interval.as_nanos().max(1);
        let retry_ticks: u64 = u64::try_from(retry_every).unwrap_or(1).max(1);
        let mut ticks = 0u64;
        loop {
            {
                let stop = lock(&self.stop);
                if *stop {
                    return;
                }
                let (stop, _) = self
                    .wake
                    .wait_timeout(stop, self.config.reap_interval)
                    .unwrap_or_else(|p| p.into_inner());
                if *stop {
                    return;
                }
            }
            if self.crashed.load(Relaxed) {
                continue;
            }
            let now = Instant::now();
            ticks += 1;
            // Decided transactions some participant lacks are retried about once a
            // second.
            let retry = ticks.is_multiple_of(retry_ticks);
            let entries: Vec<_> = lock(&self.txs).values().cloned().collect();
            for entry in entries {
                // A transaction busy in a participant call is left for the next pass.
                let Ok(mut t) = entry.try_lock() else {
                    continue;
                };
                if !t.decided() && now >= t.deadline {
                    let _ = self.check_open(&mut t, "reap");
                } else if t.decided() && retry && self.alive().is_ok() {
                    let _ = self.deliver(&mut t);
                }
            }
        }
    }
}
