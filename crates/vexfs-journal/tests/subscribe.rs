//! Subscriptions: catch up, then follow live, with no gap and no duplicate at the
//! hand-over, bounded memory for a slow consumer, sync iterator and tokio stream.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

#[cfg(feature = "async")]
use futures_util::StreamExt;
use vexfs_journal::*;

fn ev(i: u64) -> Event {
    let t = if i.is_multiple_of(3) {
        FsOp::Write
    } else {
        FsOp::Read
    };
    Event::filesystem(t).path(format!("/f/{}", i % 10)).inode(i)
}

/// Emits `ev(1..total)` on another thread, syncing every `every` events and at the end.
fn write_in_background(j: Journal, total: u64, every: u64) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for i in 1..total {
            j.emit(ev(i)).unwrap();
            if i % every == 0 {
                j.sync().unwrap();
            }
        }
        j.sync().unwrap();
    })
}

fn journal(dir: &std::path::Path) -> Journal {
    Journal::create(
        dir,
        Config {
            block_bytes: 2048,
            ..Config::default()
        },
    )
    .unwrap()
}

#[test]
fn catch_up_then_live_without_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    for i in 0..500 {
        j.emit(ev(i)).unwrap();
    }
    j.sync().unwrap();
    let writes = Query::new().types([EventType::from(FsOp::Write)]);
    let mut sub = j.subscribe(writes, StartAt::Beginning).unwrap();
    let writer = {
        let j = j.clone();
        std::thread::spawn(move || {
            for i in 500..3000 {
                j.emit(ev(i)).unwrap();
                if i % 97 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            j.sync().unwrap();
        })
    };
    let mut got = Vec::new();
    while got.len() < 1000 {
        let e = sub
            .next_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("event within 10 s");
        got.push(e.event.context.inode_number);
    }
    writer.join().unwrap();
    let expected: Vec<u64> = (0..3000).filter(|i| i % 3 == 0).collect();
    assert_eq!(got, expected);
    // Nothing more matches; closing the journal ends the iterator.
    assert!(sub.try_next().unwrap().is_none());
    j.close().unwrap();
    assert!(sub.next().is_none());
}

// Checks I36 (docs/invariants.md).
#[test]
fn start_now_and_resume_after_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    for i in 0..100 {
        j.emit(ev(i)).unwrap();
    }
    j.sync().unwrap();
    let mut now = j.subscribe(Query::new(), StartAt::Now).unwrap();
    assert!(now.try_next().unwrap().is_none());
    for i in 100..200 {
        j.emit(ev(i)).unwrap();
    }
    j.sync().unwrap();
    let mut seen = Vec::new();
    for _ in 0..40 {
        seen.push(
            now.next_timeout(Duration::from_secs(5))
                .unwrap()
                .unwrap()
                .event
                .context
                .inode_number,
        );
    }
    assert_eq!(seen, (100..140).collect::<Vec<_>>());
    // Restart from the cursor: exactly the rest, no repeat.
    let cursor = now.cursor().unwrap();
    drop(now);
    let mut again = j.subscribe(Query::new(), StartAt::After(cursor)).unwrap();
    let mut rest = Vec::new();
    while let Some(e) = again.try_next().unwrap() {
        rest.push(e.event.context.inode_number);
    }
    assert_eq!(rest, (140..200).collect::<Vec<_>>());
    // The cursor text survives a reopen of the journal.
    let text = cursor.encode();
    j.close().unwrap();
    drop(j);
    let j = Journal::open_existing(dir.path()).unwrap();
    let c = j.parse_cursor(&text).unwrap();
    let mut after = j.subscribe(Query::new(), StartAt::After(c)).unwrap();
    assert_eq!(
        after
            .try_next()
            .unwrap()
            .unwrap()
            .event
            .context
            .inode_number,
        140
    );
}

#[test]
fn slow_consumer_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    let mut sub = j.subscribe(Query::new(), StartAt::Beginning).unwrap();
    let mut delivered = 0u64;
    for round in 0..5u64 {
        for i in 0..20_000 {
            j.emit(ev(round * 20_000 + i)).unwrap();
        }
        j.sync().unwrap();
        // The consumer reads only a little between bursts.
        for _ in 0..100 {
            let e = sub.try_next().unwrap().unwrap();
            assert_eq!(e.event.context.inode_number, delivered);
            delivered += 1;
            assert!(sub.buffered() <= 256, "{} buffered", sub.buffered());
        }
    }
    while let Some(e) = sub.try_next().unwrap() {
        assert_eq!(e.event.context.inode_number, delivered);
        delivered += 1;
        assert!(sub.buffered() <= 256);
    }
    assert_eq!(delivered, 100_000);
}

// Checks I16 (docs/invariants.md).
#[test]
fn reader_subscription_follows_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    j.emit(ev(0)).unwrap();
    j.sync().unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let mut sub = reader.subscribe(Query::new(), StartAt::Beginning).unwrap();
    let writer = write_in_background(j.clone(), 2000, 200);
    let mut got = Vec::new();
    while got.len() < 2000 {
        let e = sub
            .next_timeout(Duration::from_secs(10))
            .unwrap()
            .expect("event within 10 s");
        got.push(e.event.context.inode_number);
    }
    writer.join().unwrap();
    assert_eq!(got, (0..2000).collect::<Vec<_>>());
}

#[cfg(feature = "async")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_stream_and_emit() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    let stream = j
        .subscribe(Query::new().path_prefix("/f/1"), StartAt::Beginning)
        .unwrap()
        .into_stream();
    let producer = {
        let j = j.clone();
        tokio::spawn(async move {
            for i in 0..500 {
                j.emit_async(ev(i)).await.unwrap();
            }
            j.emit_durable_async(ev(500)).await.unwrap();
        })
    };
    let got: Vec<u64> = stream
        .take(50)
        .map(|r| r.unwrap().event.context.inode_number)
        .collect()
        .await;
    producer.await.unwrap();
    assert_eq!(got, (0..500).filter(|i| i % 10 == 1).collect::<Vec<_>>());
}

/// An async subscription on a reader follows the files another thread writes, on a
/// single-threaded runtime (the reader's refreshes go through the blocking pool).
// Checks I16 (docs/invariants.md).
#[cfg(feature = "async")]
#[tokio::test(flavor = "current_thread")]
async fn async_reader_stream_follows_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let j = journal(dir.path());
    j.emit(ev(0)).unwrap();
    j.sync().unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    let mut stream = std::pin::pin!(
        reader
            .subscribe(Query::new(), StartAt::Beginning)
            .unwrap()
            .into_stream()
    );
    let writer = write_in_background(j, 1000, 100);
    let mut got = Vec::new();
    while got.len() < 1000 {
        let e = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .expect("event within 10 s")
            .expect("the stream does not end")
            .unwrap();
        got.push(e.event.context.inode_number);
    }
    writer.join().unwrap();
    assert_eq!(got, (0..1000).collect::<Vec<_>>());
}
