#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The executor against a filter applied by hand to every event, with and without
//! index files, forward and reverse, in pages.

use std::path::Path;
use std::sync::Arc;

use vexfs_journal_format::{AgentOp, Event, EventType, FsOp, Priority, Timestamp, VectorOp};
use vexfs_journal_index::{Executor, Index, Query};
use vexfs_journal_storage::store::Scan;
use vexfs_journal_storage::{Engine, OpenMode, StorageConfig, Store, StoredEvent};
use vexfs_journal_testkit::noise;
use vexfs_journal_testkit::query::expected;

const T0: i64 = 1_700_000_000_000_000_000;

fn event(i: u64) -> Event {
    let types = [
        EventType::from(FsOp::Write),
        EventType::from(FsOp::Read),
        EventType::from(VectorOp::Search),
        EventType::from(AgentOp::Decision),
    ];
    let mut ev = Event::new(types[(i % 4) as usize])
        .path(["/models/a", "/models/ab", "/data/x", ""][(i % 7 % 4) as usize])
        .agent_id(["planner", "auditor", ""][(i % 5 % 3) as usize])
        .tx(i % 6)
        .priority(Priority::from_code((i % 6) as u32))
        .visibility(if i.is_multiple_of(3) { 0b01 } else { 0b10 })
        .payload(noise(i, 200));
    // Mostly increasing times, with every eleventh event from the past.
    let t = if i.is_multiple_of(11) {
        (i % 50) as i64
    } else {
        i as i64 * 10
    };
    ev.timestamp = Timestamp {
        ktime_ns: T0 + t,
        ..ev.timestamp
    };
    ev
}

/// A journal of 900 events in blocks of `block_bytes` (LZ4: blocks over 2 KiB hold
/// several frames, which queries skip by their summaries).
fn build(dir: &Path, block_bytes: usize) -> Vec<StoredEvent> {
    let config = StorageConfig {
        segment_size: 64 << 10,
        block_bytes,
        ..StorageConfig::default()
    };
    let engine = Engine::create(dir, config).unwrap();
    for i in 0..900 {
        engine.emit(event(i)).unwrap();
    }
    engine.sync().unwrap();
    let all: Vec<_> = engine.scan(0..u64::MAX).map(Result::unwrap).collect();
    engine.close().unwrap();
    all
}

fn queries() -> Vec<Query> {
    let write = EventType::from(FsOp::Write);
    let search = EventType::from(VectorOp::Search);
    vec![
        Query::new(),
        Query::new().types([write]),
        Query::new().types([write, search]),
        Query::new().categories([write.category()]),
        Query::new().types([search]).categories([write.category()]),
        Query::new().path_prefix("/models/a"),
        Query::new().path_prefix("/models/ab"),
        Query::new().path_prefix("/models/"),
        Query::new().path_prefix("/data/"),
        Query::new().path_prefix("/"),
        Query::new().path_prefix(""),
        Query::new().agent("planner"),
        Query::new().agent(""),
        Query::new().tx(3),
        Query::new().tx(99),
        Query::new().priority_at_least(Priority::from_code(2)),
        Query::new().priority_at_most(Priority::from_code(4)),
        Query::new().visible_to(0b01),
        Query::new().since(T0 + 2000).until(T0 + 5000),
        Query::new().until(T0 + 40),
        // Whole segments out of range, skipped by their time ranges.
        Query::new().since(T0 + 7000),
        Query::new()
            .types([search])
            .since(T0 + 6000)
            .until(T0 + 6500),
        Query::new().since(T0 + 9000),
        Query::new().from_seq(100).to_seq(400).agent("auditor"),
        Query::new().tx(2).path_prefix("/data").types([search]),
    ]
}

/// Every matching sequence, in pages of `page` events.
fn paged(exec: &Executor<'_>, q: &Query, page: usize, end: u64) -> Vec<u64> {
    let mut q = q.clone().limit(page);
    let mut out = Vec::new();
    loop {
        let p = exec.page(&q, end).unwrap();
        out.extend(p.events.iter().map(|e| e.seq));
        if p.exhausted || p.events.is_empty() {
            return out;
        }
        q.after = p.cursor;
    }
}

// Checks I36, I38 (docs/invariants.md).
#[test]
fn pages_equal_a_filter_by_hand_with_or_without_index_files() {
    for block_bytes in [1024, 8192] {
        pages_equal_a_filter_by_hand(block_bytes);
    }
}

fn pages_equal_a_filter_by_hand(block_bytes: usize) {
    let tmp = tempfile::tempdir().unwrap();
    let all = build(tmp.path(), block_bytes);
    assert_eq!(all.len(), 900);
    for with_files in [true, false] {
        if !with_files {
            for entry in std::fs::read_dir(tmp.path()).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|e| e == "idx") {
                    std::fs::remove_file(path).unwrap();
                }
            }
        }
        let store = Arc::new(Store::open(tmp.path(), OpenMode::ReadOnly).unwrap().0);
        assert!(store.segments().len() >= 4 || block_bytes > 1024);
        let (index, _) = Index::open(&store, false).unwrap();
        let journal = vexfs_journal_storage::JournalMeta::load(tmp.path())
            .unwrap()
            .id;
        let exec = Executor {
            index: &index,
            store: &store,
            journal,
        };
        let end = store.next_seq().unwrap();
        // The store reads back what the engine wrote.
        let scanned: Vec<_> = Scan::new(store.clone(), 0, end)
            .map(Result::unwrap)
            .collect();
        assert_eq!(scanned, all);
        // Queries bounded exactly at each segment's own time range (segments are
        // skipped by it), and one nanosecond past it.
        let mut edges = queries();
        for seg in store.segments() {
            let (min, max) = seg.time_range().unwrap();
            edges.push(Query::new().since(max));
            edges.push(Query::new().since(max + 1).until(max + 1));
            edges.push(Query::new().until(min));
            edges.push(Query::new().until(min - 1).since(min - 1));
        }
        for q in edges {
            for reverse in [false, true] {
                let q = q.clone().reverse(reverse);
                let want = expected(&all, &q);
                let got: Vec<u64> = exec
                    .page(&q, end)
                    .unwrap()
                    .events
                    .iter()
                    .map(|e| e.seq)
                    .collect();
                assert_eq!(
                    got, want,
                    "{q:?} (index files: {with_files}, blocks of {block_bytes})"
                );
                for page in [1, 7, 100] {
                    assert_eq!(paged(&exec, &q, page, end), want, "{q:?} pages of {page}");
                }
            }
        }
    }
}

// Checks I50 (docs/invariants.md).
/// A query decodes only the frames its criteria may match: with one frame of a framed
/// block damaged, queries whose sequence range or time window rule that frame out
/// still answer exactly, and a query that needs it reports the damaged block.
#[test]
fn a_query_skips_frames_and_checks_those_it_reads() {
    use vexfs_journal_format::BlockHeader;
    use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;
    use vexfs_journal_format::frames::FrameTable;

    let tmp = tempfile::tempdir().unwrap();
    let all = build(tmp.path(), 8192);
    let store = Arc::new(Store::open(tmp.path(), OpenMode::ReadOnly).unwrap().0);
    let seg = store.segments()[0].clone();
    let victim = seg.blocks()[1];
    let mut bytes = std::fs::read(seg.path()).unwrap();
    let at = victim.offset as usize;
    let block = &bytes[at..at + victim.size as usize];
    let header = BlockHeader::parse(block).unwrap();
    let table = FrameTable::parse(
        &block[BLOCK_HEADER_SIZE..],
        header.block_id,
        header.compressed_size,
        header.uncompressed_size,
    )
    .unwrap();
    let frames = table.frames().to_vec();
    assert!(frames.len() >= 3, "{} frames", frames.len());
    let bad = frames[1];
    // The index reads every block when it opens: damage the frame after.
    let (index, _) = Index::open(&store, false).unwrap();
    bytes[at + BLOCK_HEADER_SIZE + bad.stored_offset + bad.stored_len as usize / 2] ^= 0x10;
    std::fs::write(seg.path(), &bytes).unwrap();

    let journal = vexfs_journal_storage::JournalMeta::load(tmp.path())
        .unwrap()
        .id;
    let exec = Executor {
        index: &index,
        store: &store,
        journal,
    };
    let end = store.next_seq().unwrap();
    let around = [
        Query::new()
            .from_seq(victim.first_seq)
            .to_seq(bad.first_seq - 1),
        Query::new()
            .from_seq(bad.last_seq + 1)
            .to_seq(victim.last_seq),
        Query::new()
            .from_seq(victim.first_seq)
            .to_seq(victim.last_seq)
            .since(bad.max_time + 1),
    ];
    for q in around {
        for reverse in [false, true] {
            let q = q.clone().reverse(reverse);
            let got: Vec<u64> = exec
                .page(&q, end)
                .unwrap()
                .events
                .iter()
                .map(|e| e.seq)
                .collect();
            assert_eq!(got, expected(&all, &q), "{q:?}");
        }
    }
    let through = Query::new()
        .from_seq(victim.first_seq)
        .to_seq(victim.last_seq);
    let err = exec.page(&through, end).unwrap_err();
    assert!(
        matches!(err, vexfs_journal_index::IndexError::DamagedBlock(_)),
        "{err}"
    );
}
