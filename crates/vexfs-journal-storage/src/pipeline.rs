//! The emit path: sequence assignment, the bounded emission buffer and the watermarks
//! producers wait on.
//!
//! `emit` never takes a lock. It reserves room in the buffer (one CAS on a counter),
//! takes the next sequence numbers with one `fetch_add`, stamps the event and pushes it
//! on a lock-free MPMC queue (`crossbeam_queue::SegQueue`, bounded by the reservation
//! counter). The queue takes memory in blocks of 31 entries as they are used and frees
//! them to the allocator as they drain, so an idle journal does not keep
//! `buffer_capacity` events' worth of slots resident (an `ArrayQueue` writes every slot
//! when it is created: ~5 MB at the default 10,000). Producers racing between
//! `fetch_add` and `push` can reach the queue out of order; the single writer
//! thread puts entries back in sequence order with a small reorder heap, so events reach
//! disk in sequence order whatever the number of producers.
//!
//! Watermarks: every sequence below `written` is in a segment file (or was dropped);
//! every sequence below `durable` is also fsynced. Under `fsync = never` durability
//! only advances when a caller asks for it (`sync`, durable emits, close).

use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::signal::Signal as Notify;
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;
use vexfs_journal_format::Event;
use vexfs_journal_format::kernel::check_kernel_limits;
use vexfs_journal_format::record::check_record;

use crate::config::FullPolicy;
use crate::error::{Result, StorageError};
use crate::metrics::{Counters, sample_this_emit};

/// Events handed over in one piece. Single events stay inline: boxing them would cost
/// an allocation per emit.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Payload {
    One(Event),
    /// An all-or-nothing batch: written in one block or not at all.
    Batch(Vec<Event>),
    /// An all-or-nothing batch of a coordinated transaction: each record's
    /// `cross_boundary_id` is the transaction's id.
    Tx(u64, Vec<Event>),
}

impl Payload {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Payload::One(_) => 1,
            Payload::Batch(v) | Payload::Tx(_, v) => v.len() as u64,
        }
    }

    pub(crate) fn events_mut(&mut self) -> &mut [Event] {
        match self {
            Payload::One(e) => std::slice::from_mut(e),
            Payload::Batch(v) | Payload::Tx(_, v) => v,
        }
    }

    fn events(&self) -> &[Event] {
        match self {
            Payload::One(e) => std::slice::from_ref(e),
            Payload::Batch(v) | Payload::Tx(_, v) => v,
        }
    }
}

/// A queued payload and its first sequence number.
#[derive(Debug)]
pub(crate) struct Entry {
    pub seq: u64,
    pub payload: Payload,
    /// The journal stamped every event's time: the writer applies the clock (I56).
    pub clocked: bool,
}

const OPEN: u8 = 0;
const CLOSING: u8 = 1;
const FAILED: u8 = 2;

/// Ranges `(first, count)` of sequences dropped under [`FullPolicy::DropOldest`]
/// that the writer has not taken yet. Contiguous drops merge into one range: with the
/// writer stalled (a hung disk), every emit drops the oldest entry, and one record per
/// drop would grow without bound; the dropped entries leave the queue in nearly
/// sequence order, so the list stays a few ranges long.
#[derive(Debug, Default)]
pub(crate) struct Gaps {
    ranges: Mutex<Vec<(u64, u64)>>,
    /// Ranges held: lets the writer's hot loop check for gaps without the lock.
    len: AtomicUsize,
}

impl Gaps {
    fn add(&self, first: u64, count: u64) {
        let mut ranges = self.ranges.lock().unwrap_or_else(|p| p.into_inner());
        match ranges.last_mut() {
            Some((start, n)) if *start + *n == first => *n += count,
            _ => ranges.push((first, count)),
        }
        self.len.store(ranges.len(), SeqCst);
    }

    /// Takes every range recorded so far.
    pub(crate) fn take(&self) -> Vec<(u64, u64)> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut ranges = self.ranges.lock().unwrap_or_else(|p| p.into_inner());
        self.len.store(0, SeqCst);
        std::mem::take(&mut *ranges)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len.load(SeqCst) == 0
    }

    /// Ranges held (tests).
    #[cfg(test)]
    fn ranges(&self) -> usize {
        self.len.load(SeqCst)
    }
}

/// State shared by producers, the writer thread and waiters.
#[derive(Debug)]
pub(crate) struct Shared {
    pub next_seq: CachePadded<AtomicU64>,
    pending: CachePadded<AtomicUsize>,
    pub queue: SegQueue<Entry>,
    capacity: usize,
    policy: FullPolicy,
    kernel_limits: bool,
    /// Sequences discarded by drop-oldest, for the writer to skip.
    pub gaps: Gaps,
    pub writer_wake: Notify,
    space: Notify,
    pub written: CachePadded<AtomicU64>,
    /// Wakes the sync thread (new writes, sync requests, shutdown).
    pub sync_wake: Notify,
    writer_done: std::sync::atomic::AtomicBool,
    pub durable: CachePadded<AtomicU64>,
    pub progress: Notify,
    /// Callers want everything below this durable now.
    pub sync_request: AtomicU64,
    /// Held around every fsync of the open segment (sync thread, writer, leader): the
    /// next one in finds out whether the last one already covered what it wanted, so
    /// concurrent waiters share one fsync instead of queueing several.
    pub sync_gate: Mutex<()>,
    state: AtomicU8,
    failure: Mutex<Option<Arc<StorageError>>>,
    pub counters: Counters,
    /// The journal's hybrid logical clock.
    pub clock: crate::hlc::JournalClock,
    pid: u32,
}

impl Shared {
    pub(crate) fn new(
        next_seq: u64,
        capacity: usize,
        policy: FullPolicy,
        kernel_limits: bool,
        clock_floor: i64,
    ) -> Shared {
        Shared {
            next_seq: CachePadded::new(AtomicU64::new(next_seq)),
            pending: CachePadded::new(AtomicUsize::new(0)),
            queue: SegQueue::new(),
            capacity,
            policy,
            kernel_limits,
            gaps: Gaps::default(),
            writer_wake: Notify::new(),
            space: Notify::new(),
            written: CachePadded::new(AtomicU64::new(next_seq)),
            sync_wake: Notify::new(),
            writer_done: std::sync::atomic::AtomicBool::new(false),
            durable: CachePadded::new(AtomicU64::new(next_seq)),
            progress: Notify::new(),
            sync_request: AtomicU64::new(0),
            sync_gate: Mutex::new(()),
            state: AtomicU8::new(OPEN),
            failure: Mutex::new(None),
            counters: Counters::starting_at(next_seq),
            clock: crate::hlc::JournalClock::starting_above(clock_floor),
            pid: std::process::id(),
        }
    }

    fn check_state(&self) -> Result<()> {
        match self.state.load(SeqCst) {
            OPEN => Ok(()),
            CLOSING => Err(StorageError::Closed),
            _ => Err(self.failure_error()),
        }
    }

    pub(crate) fn failure_error(&self) -> StorageError {
        let cause = self
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            // The state is set to failed only after the cause is stored.
            .unwrap_or_else(|| Arc::new(StorageError::Closed));
        StorageError::Failed(cause)
    }

    pub(crate) fn is_failed(&self) -> bool {
        self.state.load(SeqCst) == FAILED
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.state.load(SeqCst) == CLOSING
    }

    /// Stops accepting events; the writer drains what was accepted and exits.
    pub(crate) fn begin_close(&self) {
        let _ = self.state.compare_exchange(OPEN, CLOSING, SeqCst, SeqCst);
        self.writer_wake.notify_all();
        self.space.notify_all();
    }

    /// Records a storage failure and wakes everybody waiting.
    pub(crate) fn fail(&self, error: StorageError) {
        let error = {
            let mut failure = self.failure.lock().unwrap_or_else(|p| p.into_inner());
            failure.get_or_insert_with(|| Arc::new(error)).clone()
        };
        self.state.store(FAILED, SeqCst);
        self.counters.storage_errors.fetch_add(1, Relaxed);
        tracing::error!(%error, "journal writer failed; no more events are accepted");
        self.progress.notify_all();
        self.space.notify_all();
        self.writer_wake.notify_all();
        self.sync_wake.notify_all();
    }

    /// Events reserved in the buffer (accepted, not yet taken by the writer).
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(SeqCst)
    }

    /// The writer took `n` events off the queue. Blocked producers are woken once a
    /// quarter of the buffer is free, not per event: each wake-up is a system call, and
    /// waking for one free slot would cost more than the event.
    pub(crate) fn release(&self, n: u64) {
        let before = self.pending.fetch_sub(n as usize, SeqCst);
        let after = before.saturating_sub(n as usize);
        if after <= self.capacity - self.capacity / 4 || after == 0 {
            self.space.notify_all();
        }
    }

    pub(crate) fn validate(&self, ev: &Event) -> Result<()> {
        let checked = check_record(ev).and_then(|_| {
            if self.kernel_limits {
                check_kernel_limits(ev)
            } else {
                Ok(())
            }
        });
        checked.map_err(|e| {
            self.counters.rejected.fetch_add(1, Relaxed);
            StorageError::InvalidEvent(e)
        })
    }

    /// Accepts a payload: validates, reserves room (blocking per the full policy),
    /// assigns sequence numbers and queues it. Returns the first sequence number.
    pub(crate) fn submit(&self, payload: Payload, assign_ids: bool) -> Result<u64> {
        let started = sample_this_emit().then(Instant::now);
        let n = self.prepare(&payload)?;
        if n == 0 {
            return Ok(self.next_seq.load(Acquire));
        }
        while !self.try_reserve(n)? {
            self.when_full(n)?;
        }
        self.enqueue(payload, assign_ids, started, true)
    }

    /// [`Shared::submit`] for a caller holding the writer (the durable fast path): never
    /// waits for room — waiting here would stop the writer that makes room — and does
    /// not wake the writer thread, since the caller drains the queue itself. Gives the
    /// payload back when the buffer is full.
    pub(crate) fn try_submit_leading(
        &self,
        payload: Payload,
        assign_ids: bool,
    ) -> Result<std::result::Result<u64, Payload>> {
        let started = sample_this_emit().then(Instant::now);
        let n = self.prepare(&payload)?;
        if n == 0 {
            return Ok(Ok(self.next_seq.load(Acquire)));
        }
        if !self.try_reserve(n)? {
            return Ok(Err(payload));
        }
        self.enqueue(payload, assign_ids, started, false).map(Ok)
    }

    /// [`Shared::submit`] for async callers: a full buffer under the block policy is
    /// awaited, never blocking the runtime's thread.
    pub(crate) async fn submit_async(&self, payload: Payload, assign_ids: bool) -> Result<u64> {
        let started = sample_this_emit().then(Instant::now);
        let n = self.prepare(&payload)?;
        if n == 0 {
            return Ok(self.next_seq.load(Acquire));
        }
        while !self.try_reserve(n)? {
            if self.policy == FullPolicy::Block {
                let listener = self.space.listen();
                if !self.try_reserve(n)? {
                    listener.await;
                    continue;
                }
                break;
            }
            self.when_full(n)?;
        }
        self.enqueue(payload, assign_ids, started, true)
    }

    fn prepare(&self, payload: &Payload) -> Result<usize> {
        self.check_state()?;
        for ev in payload.events() {
            self.validate(ev)?;
        }
        Ok(payload.len() as usize)
    }

    fn enqueue(
        &self,
        mut payload: Payload,
        assign_ids: bool,
        started: Option<Instant>,
        wake_writer: bool,
    ) -> Result<u64> {
        let n = payload.len();
        if let Err(e) = self.check_state() {
            // Closing began after the reservation: give it back, consume no sequence.
            self.release(n);
            return Err(e);
        }
        let seq = self.next_seq.fetch_add(n, AcqRel);
        let clocked = self.stamp(&mut payload, seq, assign_ids);
        // The reservation above is the bound: the queue itself never refuses.
        self.queue.push(Entry {
            seq,
            payload,
            clocked,
        });
        if wake_writer {
            self.writer_wake.notify_all();
        }
        if let Some(t) = started {
            self.counters
                .emit_latency
                .record(t.elapsed().as_nanos() as u64);
        }
        Ok(seq)
    }

    /// Assigns ids and stamps times; true when the journal stamped every event's time
    /// (the writer then applies the clock to them).
    fn stamp(&self, payload: &mut Payload, first: u64, assign_ids: bool) -> bool {
        let now = crate::clock::now_ns();
        let cpu = crate::clock::current_cpu();
        let mut clocked = assign_ids;
        for (i, ev) in payload.events_mut().iter_mut().enumerate() {
            let seq = first + i as u64;
            if assign_ids {
                ev.event_id = seq;
                ev.global_sequence = seq;
                ev.local_sequence = seq;
                if ev.root_cause_event_id == 0 && ev.parent_event_id == 0 {
                    ev.root_cause_event_id = seq;
                }
                if ev.timestamp.ktime_ns == 0 {
                    ev.timestamp.ktime_ns = now;
                    // A cpu or pid the caller gave is kept (an emitter writing for
                    // another process knows better than this one).
                    if ev.timestamp.cpu_id == 0 {
                        ev.timestamp.cpu_id = cpu;
                    }
                    if ev.timestamp.process_id == 0 {
                        ev.timestamp.process_id = self.pid;
                    }
                } else {
                    clocked = false;
                }
                if ev.timestamp.sequence == 0 {
                    ev.timestamp.sequence = seq;
                }
            }
        }
        clocked
    }

    /// Takes room for `n` events if there is some. A batch larger than the whole
    /// buffer goes alone into an empty buffer.
    fn try_reserve(&self, n: usize) -> Result<bool> {
        loop {
            self.check_state()?;
            let cur = self.pending.load(SeqCst);
            if cur + n > self.capacity && cur != 0 {
                return Ok(false);
            }
            if self
                .pending
                .compare_exchange_weak(cur, cur + n, SeqCst, SeqCst)
                .is_ok()
            {
                return Ok(true);
            }
        }
    }

    /// Applies the full-buffer policy once (the caller then retries the reservation).
    fn when_full(&self, n: usize) -> Result<()> {
        match self.policy {
            FullPolicy::Error => {
                self.counters.rejected.fetch_add(n as u64, Relaxed);
                Err(StorageError::BufferFull {
                    capacity: self.capacity,
                })
            }
            FullPolicy::DropOldest => {
                self.drop_oldest();
                Ok(())
            }
            FullPolicy::Block => {
                // Room usually frees within microseconds: yield a few times first.
                for _ in 0..32 {
                    std::thread::yield_now();
                    let cur = self.pending.load(SeqCst);
                    if cur + n <= self.capacity || cur == 0 {
                        return Ok(());
                    }
                }
                let listener = self.space.listen();
                let cur = self.pending.load(SeqCst);
                if cur + n > self.capacity && cur != 0 && !self.is_closing() && !self.is_failed() {
                    listener.wait_timeout(Duration::from_millis(50));
                }
                Ok(())
            }
        }
    }

    fn drop_oldest(&self) {
        match self.queue.pop() {
            Some(old) => {
                let n = old.payload.len();
                self.gaps.add(old.seq, n);
                self.pending.fetch_sub(n as usize, SeqCst);
                self.counters.dropped.fetch_add(n, Relaxed);
                self.writer_wake.notify_all();
            }
            None => std::thread::yield_now(),
        }
    }

    /// Blocks until every sequence below `target` is written.
    pub(crate) fn wait_written(&self, target: u64) -> Result<()> {
        self.wait_for(&self.written, target)
    }

    /// Asks for a sync and blocks until every sequence below `target` is durable.
    pub(crate) fn wait_durable(&self, target: u64) -> Result<()> {
        self.request_sync(target);
        self.wait_for(&self.durable, target)
    }

    pub(crate) fn request_sync(&self, target: u64) {
        if self.durable.load(Acquire) < target {
            self.sync_request.fetch_max(target, SeqCst);
            self.writer_wake.notify_all();
            self.sync_wake.notify_all();
        }
    }

    /// The writer has written everything it will write (closing or failed).
    pub(crate) fn writer_done(&self) -> bool {
        self.writer_done.load(SeqCst)
    }

    pub(crate) fn set_writer_done(&self) {
        self.writer_done.store(true, SeqCst);
        self.sync_wake.notify_all();
    }

    fn wait_for(&self, mark: &AtomicU64, target: u64) -> Result<()> {
        loop {
            if mark.load(Acquire) >= target {
                return Ok(());
            }
            if self.is_failed() {
                return Err(self.failure_error());
            }
            let listener = self.progress.listen();
            if mark.load(Acquire) >= target {
                return Ok(());
            }
            if self.is_failed() {
                return Err(self.failure_error());
            }
            listener.wait();
        }
    }

    /// Async form of [`Shared::wait_durable`]: awaits without blocking the runtime.
    pub(crate) async fn wait_durable_async(&self, target: u64) -> Result<()> {
        self.request_sync(target);
        loop {
            if self.durable.load(Acquire) >= target {
                return Ok(());
            }
            if self.is_failed() {
                return Err(self.failure_error());
            }
            let listener = self.progress.listen();
            if self.durable.load(Acquire) >= target {
                return Ok(());
            }
            if self.is_failed() {
                return Err(self.failure_error());
            }
            listener.await;
        }
    }

    /// Async form of [`Shared::wait_written`].
    pub(crate) async fn wait_written_async(&self, target: u64) -> Result<()> {
        loop {
            if self.written.load(Acquire) >= target {
                return Ok(());
            }
            if self.is_failed() {
                return Err(self.failure_error());
            }
            let listener = self.progress.listen();
            if self.written.load(Acquire) >= target {
                return Ok(());
            }
            listener.await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use vexfs_journal_format::{EventType, FsOp};

    fn event() -> Event {
        Event {
            event_type: EventType::from(FsOp::Write),
            ..Event::default()
        }
    }

    /// With nobody draining the buffer (a stalled writer), drop-oldest keeps the
    /// buffer full and records what it dropped as a few merged ranges, not one
    /// record per dropped event.
    #[test]
    fn drops_under_a_stalled_writer_merge_into_few_ranges() {
        let shared = Shared::new(1, 16, FullPolicy::DropOldest, false, 0);
        for _ in 0..100_000 {
            shared.submit(Payload::One(event()), true).unwrap();
        }
        assert_eq!(shared.pending(), 16);
        assert_eq!(shared.counters.dropped.load(Relaxed), 100_000 - 16);
        assert_eq!(shared.gaps.ranges(), 1);
        let gaps = shared.gaps.take();
        assert_eq!(gaps, vec![(1, 100_000 - 16)]);
        assert!(shared.gaps.is_empty());
        // A batch dropped after a hole starts a new range.
        shared.gaps.add(200_000, 2);
        shared.gaps.add(200_002, 1);
        shared.gaps.add(300_000, 5);
        assert_eq!(shared.gaps.take(), vec![(200_000, 3), (300_000, 5)]);
    }
}
