//! The live feed every follower shares.
//!
//! One thread follows the journal and encodes each new event once, as an SSE frame
//! (`id:` cursor, `data:` JSON) and an NDJSON line, into a ring bounded in bytes. A
//! follower at the live edge sends those frames — shared buffers, no per-follower
//! encoding — batched into one write per wake-up. A follower behind the ring (new with
//! an old cursor, or too slow to keep up) reads from disk through its own
//! `Subscription`, a page at a time, and joins the ring when it catches up. The ring is
//! the only buffer, and its size does not depend on the number of followers.

use std::collections::VecDeque;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use futures_util::stream::{self, Stream};
use tokio::sync::watch;
use vexfs_journal::{Cursor, Follow, Query, StartAt, StoredEvent, Subscription};

use crate::error::ServerError;

/// Most bytes a follower sends in one chunk.
const CHUNK_BYTES: usize = 256 << 10;
/// Events a catching-up follower reads from disk per blocking task.
const DISK_BATCH: usize = 1024;

/// One event, encoded once for everyone.
#[derive(Debug)]
struct Frame {
    event: StoredEvent,
    sse: Bytes,
    ndjson: Bytes,
}

impl Frame {
    fn new(event: StoredEvent, cursor: &Cursor) -> Frame {
        let json = vexfs_journal::json::to_json(&event).to_string();
        Frame {
            sse: Bytes::from(format!("id: {}\ndata: {json}\n\n", cursor.encode())),
            ndjson: Bytes::from(format!("{json}\n")),
            event,
        }
    }

    fn len(&self) -> usize {
        self.sse.len() + self.ndjson.len() + 256
    }
}

#[derive(Debug, Default)]
struct Ring {
    frames: VecDeque<Frame>,
    bytes: usize,
    /// Every event with a sequence in `start..end` is in `frames`.
    start: u64,
    end: u64,
    /// Why the feed stopped, once it has.
    error: Option<String>,
}

/// The shared feed: the ring and a signal of its end.
#[derive(Debug)]
pub(crate) struct Live {
    ring: RwLock<Ring>,
    /// Most bytes of encoded frames the ring keeps.
    cap: usize,
    end: watch::Sender<u64>,
}

impl Live {
    /// Starts the feeding thread on `source`, from its followable end.
    pub(crate) fn start<F: Follow>(
        source: F,
        poll: Duration,
        cap: usize,
    ) -> Result<Arc<Live>, ServerError> {
        let from = source.followable_end();
        let (end, _) = watch::channel(from);
        let live = Arc::new(Live {
            ring: RwLock::new(Ring {
                start: from,
                end: from,
                ..Ring::default()
            }),
            cap,
            end,
        });
        // From exactly where the ring starts (not `StartAt::Now`, which would start
        // at the end as of a moment later and drop what was appended in between).
        let mut sub = source.subscribe(Query::new().from_seq(from), StartAt::Beginning)?;
        let feed = Arc::downgrade(&live);
        let journal = source.journal_id();
        std::thread::Builder::new()
            .name("vexjournal-live".into())
            .spawn(move || {
                loop {
                    let Some(live) = feed.upgrade() else { return };
                    let first = match sub.next_timeout(poll) {
                        Ok(Some(ev)) => ev,
                        Ok(None) if sub.is_done() => {
                            live.fail("the journal was closed".into());
                            return;
                        }
                        Ok(None) => {
                            // Nothing new: still report what the files say, so a
                            // follower waiting past the ring's end is not stuck.
                            continue;
                        }
                        Err(e) => {
                            live.fail(e.to_string());
                            return;
                        }
                    };
                    let generation = source.generation();
                    let cursor = |seq| Cursor {
                        journal,
                        seq,
                        reverse: false,
                        generation,
                    };
                    let mut batch = vec![Frame::new(first.clone(), &cursor(first.seq))];
                    while batch.len() < DISK_BATCH && sub.buffered() > 0 {
                        match sub.try_next() {
                            Ok(Some(ev)) => {
                                let c = cursor(ev.seq);
                                batch.push(Frame::new(ev, &c));
                            }
                            Ok(None) => break,
                            Err(e) => {
                                live.fail(e.to_string());
                                return;
                            }
                        }
                    }
                    live.push(batch);
                }
            })
            .map_err(|e| ServerError::Task(format!("starting the live feed: {e}")))?;
        Ok(live)
    }

    fn fail(&self, why: String) {
        let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
        ring.error = Some(why);
        let end = ring.end;
        drop(ring);
        // Wakes every follower (even with an unchanged end).
        self.end.send_modify(|e| *e = end);
    }

    fn push(&self, batch: Vec<Frame>) {
        let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
        for f in batch {
            ring.end = f.event.seq + 1;
            ring.bytes += f.len();
            ring.frames.push_back(f);
        }
        while ring.bytes > self.cap {
            let Some(old) = ring.frames.pop_front() else {
                break;
            };
            ring.bytes -= old.len();
            ring.start = old.event.seq + 1;
        }
        let end = ring.end;
        drop(ring);
        self.end.send_replace(end);
    }

    /// Frames from `position` matching `query`, up to a chunk, and the position after
    /// them; `Behind` when `position` left the ring.
    fn take(&self, position: u64, query: &Query, sse: bool) -> Take {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        if position < ring.start {
            return Take::Behind;
        }
        let from = ring.frames.partition_point(|f| f.event.seq < position);
        let mut chunk = Vec::new();
        let mut bytes = 0;
        // All of the ring from `position` on is looked at unless the chunk fills.
        let mut next = position.max(ring.end);
        for f in ring.frames.range(from..) {
            if matches(query, &f.event) {
                let b = if sse { &f.sse } else { &f.ndjson };
                bytes += b.len();
                chunk.push(b.clone());
            }
            if bytes >= CHUNK_BYTES {
                next = f.event.seq + 1;
                break;
            }
        }
        if chunk.is_empty()
            && let Some(e) = &ring.error
        {
            return Take::Failed(e.clone());
        }
        Take::Frames(chunk, next)
    }
}

enum Take {
    Frames(Vec<Bytes>, u64),
    Behind,
    Failed(String),
}

/// Whether a stored event matches what `GET /events` can ask (the index's
/// `Query::matches` works on records; this is the same test on an event).
fn matches(q: &Query, ev: &StoredEvent) -> bool {
    let e = &ev.event;
    let t = e.event_type;
    let c = &e.context;
    let prio = e.priority.code();
    !(q.from_seq.is_some_and(|s| ev.seq < s)
        || q.to_seq.is_some_and(|s| ev.seq > s)
        || (!q.types.is_empty() && !q.types.contains(&t))
        || (!q.categories.is_empty() && !q.categories.contains(&t.category()))
        || q.since_ns.is_some_and(|s| e.timestamp.ktime_ns < s)
        || q.until_ns.is_some_and(|u| e.timestamp.ktime_ns > u)
        || q.priority_at_least.is_some_and(|p| prio > p.code())
        || q.priority_at_most.is_some_and(|p| prio < p.code())
        || q.visibility
            .is_some_and(|m| e.agent_visibility_mask & m == 0)
        || q.path_prefix
            .as_ref()
            .is_some_and(|p| !c.path.starts_with(p.as_slice()))
        || q.agent.as_ref().is_some_and(|a| c.agent_id != *a)
        || q.tx.is_some_and(|tx| c.transaction_id != tx))
}

/// Whether the fast path can serve `query` (it tests events with [`matches`]).
pub(crate) fn can_serve(query: &Query) -> bool {
    query.refers_to.is_none() && query.event_id.is_none() && !query.reverse
}

enum Mode<F: Follow> {
    Disk(Box<Subscription<F>>),
    Ring,
    Done,
}

struct Follower<F: Follow> {
    source: F,
    live: Arc<Live>,
    end: watch::Receiver<u64>,
    query: Query,
    position: u64,
    mode: Mode<F>,
    sse: bool,
    keep_alive: Duration,
}

/// A following stream of encoded frames from `start`, each chunk with the number of
/// events in it: from disk while behind the ring, then from the ring.
pub(crate) fn follow<F: Follow>(
    source: F,
    live: Arc<Live>,
    query: Query,
    start: StartAt,
    sse: bool,
    keep_alive: Duration,
) -> Result<impl Stream<Item = (Bytes, u64)> + Send + 'static, ServerError> {
    let (position, mode) = match start {
        StartAt::Now => (source.followable_end(), Mode::Ring),
        other => {
            let sub = source.subscribe(query.clone(), other)?;
            let position = match other {
                StartAt::After(c) => c.seq + 1,
                _ => query.from_seq.unwrap_or(0),
            };
            (position, Mode::Disk(Box::new(sub)))
        }
    };
    let end = live.end.subscribe();
    let f = Follower {
        source,
        live,
        end,
        query,
        position,
        mode,
        sse,
        keep_alive,
    };
    Ok(stream::unfold(f, |mut f| async move {
        let chunk = f.next().await?;
        Some((chunk, f))
    }))
}

fn error_frame(sse: bool, why: &str) -> Bytes {
    let data = serde_json::json!({ "error": why }).to_string();
    Bytes::from(if sse {
        format!("event: error\ndata: {data}\n\n")
    } else {
        format!("{data}\n")
    })
}

impl<F: Follow> Follower<F> {
    async fn next(&mut self) -> Option<(Bytes, u64)> {
        loop {
            match std::mem::replace(&mut self.mode, Mode::Done) {
                Mode::Done => return None,
                Mode::Disk(sub) => match self.read_disk(sub).await {
                    Ok(Some(chunk)) => return Some(chunk),
                    Ok(None) => {}
                    Err(e) => return Some((error_frame(self.sse, &e.to_string()), 0)),
                },
                Mode::Ring => {
                    self.mode = Mode::Ring;
                    // Seen: a push after this wakes the wait below.
                    self.end.borrow_and_update();
                    match self.live.take(self.position, &self.query, self.sse) {
                        Take::Failed(why) => {
                            self.mode = Mode::Done;
                            return Some((error_frame(self.sse, &why), 0));
                        }
                        Take::Behind => {
                            let start = match self.position.checked_sub(1) {
                                Some(seq) => StartAt::After(Cursor {
                                    journal: self.source.journal_id(),
                                    seq,
                                    reverse: false,
                                    generation: self.source.generation(),
                                }),
                                None => StartAt::Beginning,
                            };
                            match self.source.subscribe(self.query.clone(), start) {
                                Ok(sub) => self.mode = Mode::Disk(Box::new(sub)),
                                Err(e) => {
                                    self.mode = Mode::Done;
                                    return Some((error_frame(self.sse, &e.to_string()), 0));
                                }
                            }
                        }
                        Take::Frames(chunk, next) => {
                            self.position = next;
                            if !chunk.is_empty() {
                                let n = chunk.len() as u64;
                                return Some((Bytes::from(chunk.concat()), n));
                            }
                            let waited =
                                tokio::time::timeout(self.keep_alive, self.end.changed()).await;
                            match waited {
                                Ok(Ok(())) => {}
                                Ok(Err(_)) => {
                                    self.mode = Mode::Done;
                                    return None;
                                }
                                Err(_) if self.sse => {
                                    return Some((Bytes::from_static(b": keep-alive\n\n"), 0));
                                }
                                Err(_) => {}
                            }
                        }
                    }
                }
            }
        }
    }

    /// A chunk read from disk, or `None` after switching to the ring.
    async fn read_disk(
        &mut self,
        mut sub: Box<Subscription<F>>,
    ) -> Result<Option<(Bytes, u64)>, ServerError> {
        let sse = self.sse;
        let (sub, out) = tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            let mut last = None;
            let mut n = 0;
            while n < DISK_BATCH {
                match sub.try_next() {
                    Ok(Some(ev)) => {
                        let cursor = match sub.cursor() {
                            Some(c) => c,
                            None => return (sub, Err(ServerError::NoCursor(ev.seq))),
                        };
                        last = Some(ev.seq);
                        let f = Frame::new(ev, &cursor);
                        out.extend_from_slice(if sse { &f.sse } else { &f.ndjson });
                        n += 1;
                    }
                    Ok(None) => break,
                    Err(e) => return (sub, Err(ServerError::Journal(e))),
                }
            }
            (sub, Ok((out, last, n)))
        })
        .await
        .map_err(|e| ServerError::Task(e.to_string()))?;
        let (out, last, n) = out?;
        if let Some(seq) = last {
            self.position = seq + 1;
        }
        if n == DISK_BATCH || !out.is_empty() {
            self.mode = Mode::Disk(sub);
            return Ok(Some((Bytes::from(out), n as u64)));
        }
        // Caught up with the files: the ring has what comes next, unless the feed
        // has not reached here yet (then wait on the disk a little longer).
        let ring_start = self
            .live
            .ring
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .start;
        if self.position >= ring_start {
            self.mode = Mode::Ring;
        } else {
            self.mode = Mode::Disk(sub);
            let _ = tokio::time::timeout(Duration::from_millis(50), self.end.changed()).await;
        }
        Ok(None)
    }
}
