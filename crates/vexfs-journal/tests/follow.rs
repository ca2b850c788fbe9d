//! One read core: code generic over `Follow` reads a writer's journal and a reader's
//! view of the same files alike.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use vexfs_journal::seed::JournalSeedExt;
use vexfs_journal::*;

/// What a server would do with any handle: a query, a point read, a cursor, a
/// subscription resumed from it and a replay.
fn serve<F: Follow>(handle: &F) -> (Vec<u64>, Option<u64>, Vec<u64>, u64, usize) {
    let writes = Query::new().types([EventType::from(FsOp::Write)]);
    let page = Follow::query(handle, &writes.clone().limit(5)).unwrap();
    let seqs: Vec<u64> = page.events.iter().map(|e| e.seq).collect();
    let got = Follow::get(handle, seqs[1])
        .unwrap()
        .map(|e| e.event.context.inode_number);
    let cursor = page.cursor.unwrap().encode();
    let cursor = Follow::parse_cursor(handle, &cursor).unwrap();
    let mut sub = Follow::subscribe(handle, writes, StartAt::Beginning).unwrap();
    let mut followed = Vec::new();
    while let Some(e) = sub.next_timeout(Duration::from_millis(200)).unwrap() {
        followed.push(e.seq);
        if followed.len() == 10 {
            break;
        }
    }
    let report = Follow::replay(
        handle,
        ReplayOptions::default(),
        ReplayStart::After(cursor),
        &AtomicBool::new(false),
        &mut |_| {},
        &mut |_| true,
    )
    .unwrap();
    let by_type = handle
        .query_events_by_type(EventType::from(FsOp::Write), None)
        .unwrap()
        .len();
    (followed, got, seqs, report.events, by_type)
}

#[test]
fn writer_and_reader_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), Config::default()).unwrap();
    for i in 0..40u64 {
        let op = if i % 4 == 0 { FsOp::Write } else { FsOp::Read };
        j.emit(Event::filesystem(op).inode(i)).unwrap();
    }
    j.sync().unwrap();
    let r = JournalReader::open(dir.path()).unwrap();
    let from_writer = serve(&j);
    let from_reader = serve(&r);
    assert_eq!(from_writer, from_reader);
    let (followed, got, seqs, replayed, by_type) = from_writer;
    // Sequences start at 1; every fourth event is a write.
    assert_eq!(seqs, [1, 5, 9, 13, 17]);
    assert_eq!(followed, (0..10).map(|k| 1 + 4 * k).collect::<Vec<u64>>());
    assert_eq!(got, Some(4));
    assert_eq!(by_type, 10);
    // The cursor points at the fifth write: the 23 events after it replay.
    assert_eq!(replayed, 23);
}

/// Runs `write` while `threads` threads refresh `r` in a loop (a server's followers and
/// handlers share one reader), then refreshes once more.
fn refreshing_while(r: &JournalReader, threads: usize, write: impl FnOnce()) {
    use std::sync::atomic::Ordering;
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    r.update_view().unwrap();
                }
            });
        }
        write();
        stop.store(true, Ordering::Relaxed);
    });
    r.update_view().unwrap();
}

/// Sequences a subscription from the beginning delivers, up to the reader's view.
fn all_seqs(r: &JournalReader) -> Vec<u64> {
    let mut all = r.subscribe(Query::new(), StartAt::Beginning).unwrap();
    let mut seqs = Vec::new();
    while let Some(e) = all.try_next().unwrap() {
        seqs.push(e.seq);
    }
    seqs
}

/// Refreshes racing a writer that rotates segments every few hundred events: a
/// segment the reader followed is finished before its successor is read, so no
/// segment's last blocks are skipped (the reader would otherwise jump to the next
/// segment and never come back). Racy by nature: with the bug it fails most runs, not
/// all; with correct code it never fails.
// Checks I49 (docs/invariants.md).
#[test]
fn refreshes_across_rotations_miss_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        block_bytes: 2048,
        segment_size: 64 << 10,
        ..Config::default()
    };
    let j = Journal::create(dir.path(), config).unwrap();
    j.emit(Event::filesystem(FsOp::Write).inode(0)).unwrap();
    j.sync().unwrap();
    let r = JournalReader::open(dir.path()).unwrap();
    let total = 50_000u64;
    refreshing_while(&r, 4, || {
        for i in 1..total {
            j.emit(Event::filesystem(FsOp::Write).inode(i)).unwrap();
            if i.is_multiple_of(10) {
                j.sync().unwrap();
            }
        }
        j.sync().unwrap();
    });
    let stats = r.stats();
    assert!(stats.segments > 20, "only {} segments", stats.segments);
    assert_eq!(stats.events, total, "the reader skipped or repeated blocks");
    assert_eq!(all_seqs(&r), (1..=total).collect::<Vec<u64>>());
}

/// Several threads refreshing one reader while a writer appends (a server's followers,
/// rate and health handlers all do): every block joins the reader's view once, so
/// stats, subscriptions and indexed queries see each event once, in order.
// Checks I49 (docs/invariants.md).
#[test]
fn concurrent_refreshes_add_each_block_once() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        block_bytes: 2048,
        ..Config::default()
    };
    let j = Journal::create(dir.path(), config).unwrap();
    let op = |i: u64| {
        if i.is_multiple_of(4) {
            FsOp::Write
        } else {
            FsOp::Read
        }
    };
    j.emit(Event::filesystem(op(0)).inode(0)).unwrap();
    j.sync().unwrap();
    let r = JournalReader::open(dir.path()).unwrap();
    let total = 4000u64;
    refreshing_while(&r, 6, || {
        for i in 1..total {
            j.emit(Event::filesystem(op(i)).inode(i)).unwrap();
            if i.is_multiple_of(25) {
                j.sync().unwrap();
            }
        }
        j.sync().unwrap();
    });
    assert_eq!(
        r.stats().events,
        total,
        "the block table holds a block twice"
    );
    assert_eq!(all_seqs(&r), (1..=total).collect::<Vec<u64>>());
    let writes = Query::new().types([EventType::from(FsOp::Write)]);
    let mut sub = r.subscribe(writes, StartAt::Beginning).unwrap();
    let mut inodes = Vec::new();
    while let Some(e) = sub.try_next().unwrap() {
        inodes.push(e.event.context.inode_number);
    }
    assert_eq!(inodes, (0..total).step_by(4).collect::<Vec<u64>>());
}
