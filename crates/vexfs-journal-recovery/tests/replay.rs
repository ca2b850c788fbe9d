//! Replay: full, selective (query filters against brute force), incremental (from a
//! checkpoint, a consumer position, a cursor), parallel in order equal to sequential,
//! unordered delivering the same multiset, validated replay naming the damaged file
//! and offset, and cancellation / sink stops resuming exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use vexfs_journal::format::consts::BLOCK_HEADER_SIZE;
use vexfs_journal::format::{BlockHeader, kernel_crc32};
use vexfs_journal::{
    AgentOp, Compression, Config, FsOp, Journal, JournalReader, Order, Progress, Query,
    ReplayOptions, ReplayReport, ReplayStart, StoredEvent,
};
use vexfs_journal_testkit::query::matches;
use vexfs_journal_testkit::{
    Rng, blocks::segment_blocks, copy_dir, events::TYPES, flip_bit, segment_files, tagged,
};

/// A closed journal of three producers' events (900 in all, interleaved), with a
/// checkpoint after 400 carrying consumer "indexer" at 250. Returns the events.
fn fixture(dir: &Path, config: Config) -> Vec<StoredEvent> {
    let j = Journal::create(dir, config).unwrap();
    for i in 0..300 {
        for p in 0..3 {
            let mut ev = tagged(p, i);
            if i % 5 == 0 {
                ev = ev.tx(100 + i % 3);
            }
            j.emit(ev).unwrap();
        }
        if i == 133 {
            j.sync().unwrap();
            j.set_consumer_position("indexer", 250);
            let c = j.create_checkpoint().unwrap();
            assert_eq!(c.durable_seq, 403);
        }
    }
    let events = journal_events(&j);
    j.close().unwrap();
    assert!(segment_files(dir).len() >= 4);
    events
}

fn no_progress() -> impl FnMut(&Progress) {
    |_| {}
}

/// Replays in sequence order; returns the events and the report.
fn replay(
    r: &JournalReader,
    options: ReplayOptions,
    start: ReplayStart,
) -> (Vec<StoredEvent>, ReplayReport) {
    let mut got = Vec::new();
    let cancel = AtomicBool::new(false);
    let report = r
        .replay(options, start, &cancel, &mut no_progress(), &mut |e| {
            got.push(e);
            true
        })
        .unwrap();
    (got, report)
}

fn unordered(
    r: &JournalReader,
    options: ReplayOptions,
    start: ReplayStart,
) -> (Vec<StoredEvent>, ReplayReport) {
    let got = Mutex::new(Vec::new());
    let cancel = AtomicBool::new(false);
    let report = r
        .replay_unordered(options, start, &cancel, &mut no_progress(), &|e| {
            got.lock().unwrap().push(e)
        })
        .unwrap();
    (got.into_inner().unwrap(), report)
}

fn with_query(q: Query) -> ReplayOptions {
    ReplayOptions {
        query: q,
        ..Default::default()
    }
}

fn filters() -> Vec<Query> {
    vec![
        Query::new(),
        Query::new().types([FsOp::Write.into()]),
        Query::new().types([AgentOp::Decision.into(), TYPES[3]()]),
        Query::new().path_prefix("/p1/"),
        Query::new().path_prefix("/p2/4/"),
        Query::new().agent("agent-0"),
        Query::new().tx(101),
        Query::new().tx(102).path_prefix("/p0/"),
        Query::new().from_seq(333).to_seq(777).agent("agent-2"),
        Query::new().types([TYPES[2]()]).to_seq(10),
        Query::new().path_prefix("/nowhere/"),
    ]
}

#[test]
fn full_replay_delivers_every_event_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let events = fixture(tmp.path(), small_config());
    let r = JournalReader::open(tmp.path()).unwrap();
    let (got, report) = replay(&r, ReplayOptions::default(), ReplayStart::Beginning);
    assert_eq!(got, events);
    assert_eq!(report.events, events.len() as u64);
    assert_eq!(report.blocks, r.stats().blocks);
    assert_eq!(report.resume_after, Some(events.len() as u64));
    assert!(!report.stopped);
    assert!(report.bytes > 0);
    // Borrowed views see the same sequence.
    let mut views = Vec::new();
    let cancel = AtomicBool::new(false);
    r.replay_views(
        ReplayOptions::default(),
        ReplayStart::Beginning,
        &cancel,
        &mut no_progress(),
        &mut |v| {
            views.push(v.ext().userspace_sequence);
            true
        },
    )
    .unwrap();
    assert_eq!(views, seqs(&events));
    // The writer's replay delivers what is durable, the same events.
    let j = Journal::open_existing(tmp.path()).unwrap();
    let mut live = Vec::new();
    j.replay(
        ReplayOptions::default(),
        ReplayStart::Beginning,
        &cancel,
        &mut no_progress(),
        &mut |e| {
            live.push(e);
            true
        },
    )
    .unwrap();
    assert_eq!(live, events);
    j.close().unwrap();
}

// Checks I38 (docs/invariants.md).
#[test]
fn selective_replay_equals_brute_force_for_every_filter() {
    let tmp = tempfile::tempdir().unwrap();
    let events = fixture(tmp.path(), small_config());
    let r = JournalReader::open(tmp.path()).unwrap();
    for q in filters() {
        let want: Vec<StoredEvent> = events.iter().filter(|e| matches(&q, e)).cloned().collect();
        let (got, report) = replay(&r, with_query(q.clone()), ReplayStart::Beginning);
        assert_eq!(seqs(&got), seqs(&want), "{q:?}");
        assert_eq!(got, want, "{q:?}");
        assert_eq!(report.events, want.len() as u64);
        // Limit and reverse do not apply to a replay.
        let (again, _) = replay(
            &r,
            with_query(q.clone().limit(3).reverse(true)),
            ReplayStart::Beginning,
        );
        assert_eq!(again, want, "{q:?} with limit/reverse");
        let (mut any, _) = unordered(&r, with_query(q.clone()), ReplayStart::Beginning);
        any.sort_by_key(|e| e.seq);
        assert_eq!(any, want, "{q:?} unordered");
    }
}

// Checks I36 (docs/invariants.md).
#[test]
fn incremental_replay_from_checkpoint_consumer_and_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let events = fixture(tmp.path(), small_config());
    let r = JournalReader::open(tmp.path()).unwrap();
    let after = |from: u64, q: &Query| -> Vec<StoredEvent> {
        events
            .iter()
            .filter(|e| e.seq >= from && matches(q, e))
            .cloned()
            .collect()
    };
    for q in [
        Query::new(),
        Query::new().path_prefix("/p0/"),
        Query::new().from_seq(600),
    ] {
        let (got, _) = replay(&r, with_query(q.clone()), ReplayStart::Checkpoint(1));
        assert_eq!(got, after(403, &q), "from checkpoint 1: {q:?}");
        let (got, _) = replay(
            &r,
            with_query(q.clone()),
            ReplayStart::Consumer {
                checkpoint: 1,
                name: "indexer".into(),
            },
        );
        assert_eq!(got, after(251, &q), "after consumer indexer: {q:?}");
        let cursor = vexfs_journal::Cursor {
            journal: r.meta().id,
            seq: 512,
            reverse: false,
            generation: 0,
        };
        let (got, _) = replay(&r, with_query(q.clone()), ReplayStart::After(cursor));
        assert_eq!(got, after(513, &q), "after cursor 512: {q:?}");
        // The text form round-trips.
        let parsed = r.parse_cursor(&cursor.encode()).unwrap();
        assert_eq!(parsed, cursor);
    }
    let cancel = AtomicBool::new(false);
    let mut sink = |_: StoredEvent| true;
    let err = r
        .replay(
            ReplayOptions::default(),
            ReplayStart::Consumer {
                checkpoint: 1,
                name: "nobody".into(),
            },
            &cancel,
            &mut no_progress(),
            &mut sink,
        )
        .unwrap_err();
    assert!(err.to_string().contains("nobody"), "{err}");
    let err = r
        .replay(
            ReplayOptions::default(),
            ReplayStart::Checkpoint(9),
            &cancel,
            &mut no_progress(),
            &mut sink,
        )
        .unwrap_err();
    assert!(err.to_string().contains("checkpoint 9"), "{err}");
    let foreign = vexfs_journal::Cursor {
        journal: uuid_of_another().id,
        seq: 3,
        reverse: false,
        generation: 0,
    };
    assert!(
        r.replay(
            ReplayOptions::default(),
            ReplayStart::After(foreign),
            &cancel,
            &mut no_progress(),
            &mut sink,
        )
        .is_err()
    );
}

/// The id of some other journal.
fn uuid_of_another() -> vexfs_journal_storage::dir::JournalMeta {
    vexfs_journal_storage::JournalMeta::new(Default::default())
}

#[test]
fn parallel_ordered_replay_equals_sequential_and_unordered_the_same_multiset() {
    let tmp = tempfile::tempdir().unwrap();
    let events = fixture(tmp.path(), small_config());
    let r = JournalReader::open(tmp.path()).unwrap();
    for q in [
        Query::new(),
        Query::new().agent("agent-1"),
        Query::new().tx(100),
    ] {
        let sequential = ReplayOptions {
            query: q.clone(),
            parallelism: 1,
            chunk_blocks: 1,
            ..Default::default()
        };
        let (base, base_report) = replay(&r, sequential, ReplayStart::Beginning);
        let want: Vec<StoredEvent> = events.iter().filter(|e| matches(&q, e)).cloned().collect();
        assert_eq!(base, want);
        for (parallelism, chunk_blocks, validate) in [
            (4, 3, false),
            (8, 64, true),
            (0, 128, false),
            (2, 1000, true),
        ] {
            let options = ReplayOptions {
                query: q.clone(),
                parallelism,
                chunk_blocks,
                validate,
                order: Order::Sequence,
            };
            let (got, report) = replay(&r, options.clone(), ReplayStart::Beginning);
            assert_eq!(
                got, base,
                "{parallelism} threads, chunks of {chunk_blocks}, {q:?}"
            );
            assert_eq!(report.events, base_report.events);
            assert_eq!(report.blocks, base_report.blocks);
            assert_eq!(report.resume_after, base_report.resume_after);
            let (mut any, report) = unordered(&r, options, ReplayStart::Beginning);
            assert_eq!(report.events, base_report.events);
            any.sort_by_key(|e| e.seq);
            assert_eq!(any, base, "unordered: same multiset, no duplicate");
        }
    }
}

/// Rewrites the block at `offset` of `path` (compression none) with `edit` applied to
/// its records and its block checksum recomputed: only the record checks can notice.
fn edit_records(path: &Path, offset: u64, edit: impl FnOnce(&mut [u8])) {
    let mut bytes = std::fs::read(path).unwrap();
    let at = offset as usize;
    let mut header = BlockHeader::parse(&bytes[at..]).unwrap();
    assert_eq!(header.compression, Compression::None);
    let data = at + BLOCK_HEADER_SIZE..at + BLOCK_HEADER_SIZE + header.compressed_size as usize;
    edit(&mut bytes[data.clone()]);
    header.block_checksum = kernel_crc32(&bytes[data]);
    bytes[at..at + BLOCK_HEADER_SIZE].copy_from_slice(&header.to_bytes());
    std::fs::write(path, bytes).unwrap();
}

// Checks I34 (docs/invariants.md).
#[test]
fn validated_replay_names_the_file_and_offset_of_a_damaged_block() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let config = Config {
        compression: Compression::None,
        ..small_config()
    };
    let events = fixture(&base, config);
    let segs = segment_files(&base);
    let victim_seg = segs[1].file_name().unwrap().to_owned();
    let blocks = segment_blocks(&segs[1]);
    let victim = blocks[blocks.len() / 2];
    let options = |validate| ReplayOptions {
        validate,
        parallelism: 2,
        chunk_blocks: 4,
        ..Default::default()
    };

    // A flipped bit in the stored data: the block checksum fails.
    let dir = tmp.path().join("flip");
    copy_dir(&base, &dir);
    let path = dir.join(&victim_seg);
    flip_bit(&path, (victim.0 + BLOCK_HEADER_SIZE as u64 + 40) * 8 + 1);
    // Payload byte of a record (the block checksum recomputed): only the event checksum
    // and the record checks see it.
    let crafted = tmp.path().join("crafted");
    copy_dir(&base, &crafted);
    let crafted_path = crafted.join(&victim_seg);
    edit_records(&crafted_path, victim.0, |records| {
        let last = records.len() - 3;
        records[last] ^= 0x20;
    });
    for (dir, path) in [(&dir, &path), (&crafted, &crafted_path)] {
        let r = JournalReader::open(dir).unwrap();
        let cancel = AtomicBool::new(false);
        let mut delivered = Vec::new();
        let err = r
            .replay(
                options(true),
                ReplayStart::Beginning,
                &cancel,
                &mut no_progress(),
                &mut |e| {
                    delivered.push(e.seq);
                    true
                },
            )
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&path.display().to_string())
                && msg.contains(&format!("at byte {}", victim.0)),
            "{}: {msg}",
            dir.display()
        );
        // Nothing of or after the damaged block was delivered.
        assert!(delivered.iter().all(|&s| s < victim.2), "{}", dir.display());
        assert_eq!(delivered, seqs(&events)[..delivered.len()]);
        let err = r
            .replay_unordered(
                options(true),
                ReplayStart::Beginning,
                &cancel,
                &mut no_progress(),
                &|_| {},
            )
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!("at byte {}", victim.0)),
            "{err}"
        );
        // Replaying around the damage works.
        let (got, _) = replay(
            &r,
            ReplayOptions {
                query: Query::new().from_seq(victim.3 + 1),
                ..options(true)
            },
            ReplayStart::Beginning,
        );
        assert_eq!(got[..], events[victim.3 as usize..]);
    }
    // The undamaged journal replays validated.
    let r = JournalReader::open(&base).unwrap();
    let (got, _) = replay(&r, options(true), ReplayStart::Beginning);
    assert_eq!(got, events);
}

/// Stops a replay with the sink (after `k` events) and with the cancellation flag
/// (after the first progress report), resumes after the reported position, and
/// checks every matching event is delivered exactly once.
#[test]
fn cancellation_and_resume_deliver_exactly_once() {
    let tmp = tempfile::tempdir().unwrap();
    let events = fixture(tmp.path(), small_config());
    let r = JournalReader::open(tmp.path()).unwrap();
    let id = r.meta().id;
    let mut rng = Rng(42);
    for q in [
        Query::new(),
        Query::new().path_prefix("/p2/"),
        Query::new().tx(102),
    ] {
        let want: Vec<StoredEvent> = events.iter().filter(|e| matches(&q, e)).cloned().collect();
        let options = ReplayOptions {
            query: q.clone(),
            parallelism: 3,
            chunk_blocks: 5,
            ..Default::default()
        };
        // The sink stops at random points; each resume continues after the last event.
        let mut got: Vec<StoredEvent> = Vec::new();
        let mut start = ReplayStart::Beginning;
        let mut stops = 0;
        loop {
            let k = rng.range(1, 60);
            let mut n = 0;
            let cancel = AtomicBool::new(false);
            let report = r
                .replay(
                    options.clone(),
                    start.clone(),
                    &cancel,
                    &mut no_progress(),
                    &mut |e| {
                        got.push(e);
                        n += 1;
                        n < k
                    },
                )
                .unwrap();
            if !report.stopped {
                break;
            }
            stops += 1;
            assert_eq!(report.resume_after, got.last().map(|e| e.seq), "{q:?}");
            start = ReplayStart::After(report.resume_cursor(id).unwrap());
        }
        assert!(stops > 0 || want.len() < 60);
        assert_eq!(got, want, "{q:?}: sink stops and resumes");

        // The cancellation flag is honoured between chunks; resume_after is the end of
        // the last chunk fully delivered.
        for order in [Order::Sequence, Order::Any] {
            let mut got: Vec<StoredEvent> = Vec::new();
            let mut start = ReplayStart::Beginning;
            let mut rounds = 0;
            loop {
                rounds += 1;
                assert!(rounds < 1000);
                let cancel = AtomicBool::new(false);
                let mut chunks = 0;
                let mut progress = |_: &Progress| {
                    chunks += 1;
                    if chunks == 2 {
                        cancel.store(true, Ordering::SeqCst);
                    }
                };
                let report = match order {
                    Order::Sequence => {
                        let before = got.len();
                        let report = r
                            .replay(
                                options.clone(),
                                start.clone(),
                                &cancel,
                                &mut progress,
                                &mut |e| {
                                    got.push(e);
                                    true
                                },
                            )
                            .unwrap();
                        if let Some(last) = report.resume_after {
                            assert!(got[before..].iter().all(|e| e.seq <= last));
                        }
                        report
                    }
                    Order::Any => {
                        let sink = Mutex::new(Vec::new());
                        let report = r
                            .replay_unordered(
                                options.clone(),
                                start.clone(),
                                &cancel,
                                &mut progress,
                                &|e| sink.lock().unwrap().push(e),
                            )
                            .unwrap();
                        let mut batch = sink.into_inner().unwrap();
                        batch.sort_by_key(|e| e.seq);
                        if let Some(last) = report.resume_after {
                            assert!(batch.iter().all(|e| e.seq <= last));
                        }
                        got.extend(batch);
                        report
                    }
                };
                if !report.stopped {
                    break;
                }
                start = ReplayStart::After(report.resume_cursor(id).unwrap());
            }
            assert_eq!(got, want, "{q:?}: cancelled and resumed ({order:?})");
        }
    }
}
