//! Queries against brute force: for random journals and random queries, the indexed
//! query returns exactly the events a full scan filtered by hand returns, in order, and
//! cursors page through them without gap or duplicate — also across a reopen, across
//! rotation, and with index files deleted, truncated or bit-flipped.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use proptest::prelude::*;
use vexfs_journal::seed::JournalSeedExt;
use vexfs_journal::*;
use vexfs_journal_index::idx_path;
use vexfs_journal_testkit::noise;
use vexfs_journal_testkit::query::expected;

const PATHS: &[&str] = &[
    "/models/a",
    "/models/b/c",
    "/data/x",
    "/data/xy",
    "/tmp",
    "",
];
const AGENTS: &[&str] = &["planner", "indexer", "", "auditor"];

fn event_for(spec: (u8, u8, u8, u8, u8, i64)) -> Event {
    let (t, p, a, tx, prio, dt) = spec;
    let types = [
        EventType::from(FsOp::Write),
        EventType::from(FsOp::Read),
        EventType::from(VectorOp::Search),
        EventType::from(AgentOp::Decision),
        EventType::from(GraphOp::EdgeCreate),
        EventType::from_code(0x0999),
    ];
    let mut ev = Event::new(types[t as usize % types.len()])
        .path(PATHS[p as usize % PATHS.len()])
        .agent_id(AGENTS[a as usize % AGENTS.len()])
        .tx(u64::from(tx % 4))
        .priority(Priority::from_code(u32::from(prio % 6)))
        .visibility(if prio % 3 == 0 { 0b01 } else { 0b10 })
        .payload(noise(u64::from(t) << 32 | dt as u64, 300));
    // Times mostly increase with the sequence, with some events from the past.
    ev.timestamp.ktime_ns = 1_700_000_000_000_000_000 + dt;
    ev
}

fn config() -> Config {
    Config {
        segment_size: 64 << 10,
        block_bytes: 1024,
        ..Config::default()
    }
}

fn build(dir: &Path, specs: &[(u8, u8, u8, u8, u8, i64)]) -> Journal {
    let j = Journal::create(dir, config()).unwrap();
    for (i, s) in specs.iter().enumerate() {
        let mut s = *s;
        s.5 = if s.5 % 7 == 0 {
            s.5 % 1000
        } else {
            i as i64 * 1000 + s.5 % 1000
        };
        j.emit(event_for(s)).unwrap();
    }
    j.sync().unwrap();
    j
}

prop_compose! {
    fn query()(
        from in prop::option::of(0u64..400), len in prop::option::of(0u64..400),
        since in prop::option::of(0i64..300_000), span in prop::option::of(0i64..200_000),
        t in prop::collection::vec(0u8..6, 0..3), cat in prop::option::of(0u8..4),
        p in prop::option::of(0usize..7), a in prop::option::of(0usize..5), tx in prop::option::of(0u64..5),
        least in prop::option::of(1u32..6), most in prop::option::of(1u32..6), vis in prop::option::of(1u64..4),
        reverse in any::<bool>(),
    ) -> Query {
        let types = [
            EventType::from(FsOp::Write), EventType::from(FsOp::Read), EventType::from(VectorOp::Search),
            EventType::from(AgentOp::Decision), EventType::from(GraphOp::EdgeCreate), EventType::from_code(0x0999),
        ];
        let cats = [Category::from_code(0x0100), Category::from_code(0x0300), Category::from_code(0x0400), Category::from_code(0x0900)];
        let base = 1_700_000_000_000_000_000i64;
        Query {
            from_seq: from,
            to_seq: from.zip(len).map(|(f, l)| f + l),
            since_ns: since.map(|s| base + s),
            until_ns: since.zip(span).map(|(s, d)| base + s + d),
            types: t.iter().map(|i| types[*i as usize]).collect(),
            categories: cat.map(|c| cats[c as usize]).into_iter().collect(),
            path_prefix: p.map(|i| ["/models/", "/data/x", "/tmp", "/models/b/c", "/", "/nothing", ""][i].into()),
            agent: a.map(|i| ["planner", "indexer", "auditor", "nobody", ""][i].into()),
            tx,
            priority_at_least: least.map(Priority::from_code),
            priority_at_most: most.map(Priority::from_code),
            visibility: vis,
            reverse,
            ..Query::default()
        }
    }
}

fn paged(read: impl Fn(&Query) -> Page, q: &Query, page: usize) -> Vec<u64> {
    let mut out = Vec::new();
    let mut q = q.clone();
    q.limit = Some(page);
    loop {
        let p = read(&q);
        out.extend(p.events.iter().map(|e| e.seq));
        if p.exhausted || p.events.is_empty() {
            break;
        }
        q.after = p.cursor;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    // Checks I36 (docs/invariants.md).
    #[test]
    fn queries_equal_brute_force_and_cursors_page_exactly(
        specs in prop::collection::vec(any::<(u8, u8, u8, u8, u8, i64)>().prop_map(|(a,b,c,d,e,f)| (a,b,c,d,e,f.rem_euclid(1_000_000))), 50..400),
        queries in prop::collection::vec(query(), 25),
        page in 1usize..40,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let j = build(dir.path(), &specs);
        let all: Vec<StoredEvent> = j.scan(0..u64::MAX).map(|r| r.unwrap()).collect();
        prop_assert_eq!(all.len(), specs.len());
        for q in &queries {
            let expected = expected(&all, q);
            let got: Vec<u64> = j.query(q).unwrap().events.iter().map(|e| e.seq).collect();
            prop_assert_eq!(&got, &expected, "query {:?}", q);
            prop_assert_eq!(paged(|q| j.query(q).unwrap(), q, page), expected.clone());
        }
        let segments = j.stats().segments;
        prop_assert!(segments > 1 || specs.len() < 250, "rotation must happen ({} events)", specs.len());
        // Across a reopen: cursors from before still resume exactly.
        let q0 = &queries[0];
        let mut first = q0.clone();
        first.limit = Some(page);
        let p = j.query(&first).unwrap();
        j.close().unwrap();
        drop(j);
        let j = Journal::open_existing(dir.path()).unwrap();
        prop_assert!(j.index_report().rebuilt.is_empty(), "clean reopen uses the saved indexes: {:?}", j.index_report().rebuilt);
        if let Some(c) = p.cursor.filter(|_| !p.exhausted) {
            let mut rest = q0.clone();
            rest.after = Some(c);
            let mut seqs: Vec<u64> = p.events.iter().map(|e| e.seq).collect();
            seqs.extend(paged(|q| j.query(q).unwrap(), &rest, page));
            prop_assert_eq!(seqs, expected(&all, q0));
        }
        // A reader in another "process" agrees.
        let r = JournalReader::open(dir.path()).unwrap();
        for q in queries.iter().take(5) {
            let got: Vec<u64> = r.query(q).unwrap().events.iter().map(|e| e.seq).collect();
            prop_assert_eq!(got, expected(&all, q));
        }
    }
}

fn sample_journal(dir: &Path) -> (Vec<StoredEvent>, Vec<Query>) {
    let specs: Vec<_> = (0..600u64)
        .map(|i| {
            (
                (i % 6) as u8,
                (i % 5) as u8,
                (i % 4) as u8,
                (i % 3) as u8,
                (i % 6) as u8,
                (i * 37 % 1000) as i64,
            )
        })
        .collect();
    let j = build(dir, &specs);
    let all: Vec<StoredEvent> = j.scan(0..u64::MAX).map(|r| r.unwrap()).collect();
    j.close().unwrap();
    let queries = vec![
        Query::new().path_prefix("/models/"),
        Query::new().agent("planner").reverse(true),
        Query::new().tx(2).types([EventType::from(FsOp::Read)]),
        Query::new()
            .since(1_700_000_000_000_200_000)
            .until(1_700_000_000_000_400_000),
        Query::new()
            .categories([Category::from_code(0x0300)])
            .priority_at_least(Priority::NORMAL),
    ];
    (all, queries)
}

fn check_all(dir: &Path, all: &[StoredEvent], queries: &[Query]) {
    let j = Journal::open_existing(dir).unwrap();
    for q in queries {
        let got: Vec<u64> = j.query(q).unwrap().events.iter().map(|e| e.seq).collect();
        assert_eq!(got, expected(all, q), "{q:?}");
    }
}

// Checks I38 (docs/invariants.md).
#[test]
fn damaged_index_files_are_detected_and_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (all, queries) = sample_journal(dir.path());
    let mut idx: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    idx.sort();
    assert!(idx.len() >= 2, "one index per segment: {idx:?}");
    let original: Vec<Vec<u8>> = idx.iter().map(|p| std::fs::read(p).unwrap()).collect();

    type Damage = fn(&Path, &[u8]);
    let damages: [(&str, Damage); 4] = [
        ("deleted", |p, _| std::fs::remove_file(p).unwrap()),
        ("truncated", |p, b| {
            std::fs::write(p, &b[..b.len() / 2]).unwrap()
        }),
        ("header bit", |p, b| {
            let mut b = b.to_vec();
            b[20] ^= 0x10;
            std::fs::write(p, b).unwrap()
        }),
        ("postings bit", |p, b| {
            let mut b = b.to_vec();
            let at = b.len() - 3;
            b[at] ^= 0x01;
            std::fs::write(p, b).unwrap()
        }),
    ];
    for (what, damage) in damages {
        for (p, bytes) in idx.iter().zip(&original) {
            damage(p, bytes);
        }
        // A reader detects, rebuilds in memory and answers correctly.
        let r = JournalReader::open(dir.path()).unwrap();
        assert!(!r.index_report().rebuilt.is_empty(), "{what} not detected");
        for q in &queries {
            let got: Vec<u64> = r.query(q).unwrap().events.iter().map(|e| e.seq).collect();
            assert_eq!(got, expected(&all, q), "{what}: {q:?}");
        }
        // The writer rebuilds and saves; the next open finds them usable.
        check_all(dir.path(), &all, &queries);
        let j = Journal::open_existing(dir.path()).unwrap();
        assert!(
            j.index_report().rebuilt.is_empty(),
            "{what}: rebuilt again: {:?}",
            j.index_report().rebuilt
        );
        j.close().unwrap();
    }
}

// Checks I38 (docs/invariants.md).
#[test]
fn stale_index_of_a_grown_segment_is_extended() {
    let dir = tempfile::tempdir().unwrap();
    let (all, queries) = sample_journal(dir.path());
    // A crash: the open segment grows after its index was saved (no clean close).
    let j = Journal::open_existing(dir.path()).unwrap();
    let active = vexfs_journal::ext::segments(&j).pop().unwrap().path;
    let saved = std::fs::read(idx_path(&active)).unwrap();
    let mut more = Vec::new();
    for i in 0..50 {
        let seq = j
            .emit(
                Event::filesystem(FsOp::Create)
                    .path(format!("/models/new/{i}"))
                    .tx(2),
            )
            .unwrap();
        more.push(seq);
    }
    j.sync().unwrap();
    let mut all = all;
    all.extend(j.scan(more[0]..more[49] + 1).map(|r| r.unwrap()));
    j.close().unwrap();
    drop(j);
    std::fs::write(idx_path(&active), saved).unwrap();
    std::fs::remove_file(dir.path().join("CLEAN")).unwrap();
    check_all(dir.path(), &all, &queries);
}

/// After a clean reopen the indexes stay in their files until needed; events appended
/// then (before and after any query) are indexed as before, and the next reopen
/// agrees.
#[test]
fn events_appended_after_a_clean_reopen_are_indexed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut all, queries) = sample_journal(dir.path());
    for round in 0..2 {
        let j = Journal::open_existing(dir.path()).unwrap();
        assert!(j.index_report().rebuilt.is_empty());
        if round == 1 {
            // A query first: the indexes load for it, then grow.
            for q in &queries {
                let got: Vec<u64> = j.query(q).unwrap().events.iter().map(|e| e.seq).collect();
                assert_eq!(got, expected(&all, q), "{q:?}");
            }
        }
        let mut more = Vec::new();
        for i in 0..40 {
            more.push(
                j.emit(
                    Event::filesystem(FsOp::Read)
                        .path(format!("/models/again/{round}/{i}"))
                        .agent_id("planner")
                        .tx(2),
                )
                .unwrap(),
            );
        }
        j.sync().unwrap();
        all.extend(j.scan(more[0]..more[39] + 1).map(|r| r.unwrap()));
        for q in &queries {
            let got: Vec<u64> = j.query(q).unwrap().events.iter().map(|e| e.seq).collect();
            assert_eq!(got, expected(&all, q), "round {round}: {q:?}");
        }
        j.close().unwrap();
        drop(j);
        check_all(dir.path(), &all, &queries);
    }
}

// Checks I35 (docs/invariants.md).
#[test]
fn foreign_and_damaged_cursors_are_refused() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let ja = build(a.path(), &[(0, 0, 0, 0, 3, 0); 10]);
    let jb = build(b.path(), &[(0, 0, 0, 0, 3, 0); 10]);
    let page = ja.query(&Query::new().limit(3)).unwrap();
    let text = page.cursor.unwrap().encode();
    assert_eq!(ja.parse_cursor(&text).unwrap(), page.cursor.unwrap());
    let err = jb.parse_cursor(&text).unwrap_err().to_string();
    assert!(err.contains("belongs to journal"), "{err}");
    let mut bad = text.clone();
    bad.pop();
    bad.push(if text.ends_with('A') { 'B' } else { 'A' });
    assert!(
        ja.parse_cursor(&bad)
            .unwrap_err()
            .to_string()
            .contains("invalid cursor")
    );
    assert!(ja.parse_cursor("hello").is_err());
    // A reverse cursor cannot continue a forward query.
    let rev = ja
        .query(&Query::new().reverse(true).limit(2))
        .unwrap()
        .cursor
        .unwrap();
    assert!(ja.query(&Query::new().after(rev)).is_err());
}

#[test]
fn seed_interfaces_are_thin_wrappers() {
    let dir = tempfile::tempdir().unwrap();
    let j = build(
        dir.path(),
        &[(0, 0, 0, 0, 3, 0), (2, 0, 0, 0, 3, 5), (2, 1, 1, 1, 3, 9)],
    );
    assert_eq!(j.query_events_by_sequence(2, 3).unwrap().len(), 2);
    let vec = j
        .query_events_by_type(EventType::from(VectorOp::Search), Some(1))
        .unwrap();
    assert_eq!(vec.len(), 1);
    assert_eq!(vec[0].global_sequence, 2);
    let t0 = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_000_000_000);
    let all = j
        .query_events_by_time(t0, t0 + std::time::Duration::from_secs(1))
        .unwrap();
    assert_eq!(all.len(), 3);
}
