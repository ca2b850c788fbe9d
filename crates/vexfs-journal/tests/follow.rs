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
