#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Event rates from the per-block counts against a count by hand over every event:
//! random times (with runs of imported old times), types, agents, masks, steps and
//! windows, with the index built in memory and loaded back from its files.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use vexfs_journal_format::{Event, EventType, Timestamp};
use vexfs_journal_index::{Executor, Index, Rate, RateBy, RateError, RateQuery};
use vexfs_journal_storage::store::Scan;
use vexfs_journal_storage::{Engine, OpenMode, StorageConfig, Store, StoredEvent};

const T0: i64 = 1_700_000_000_000_000_000;

/// One generated event: time offset, type code, agent, visibility mask.
type Spec = (i64, u32, &'static str, u64);

const TYPES: [u32; 6] = [0x0101, 0x0104, 0x0203, 0x0401, 0x0801, 0x7F01];
const AGENTS: [&str; 4] = ["planner", "auditor", "", "indexer-9"];
const MASKS: [u64; 4] = [0b001, 0b010, 0b011, 0b100];

fn specs() -> impl Strategy<Value = Vec<Spec>> {
    // Runs of events sharing a type, agent and mask make blocks that counts can answer;
    // a run "from the past" lands an imported old time range in the middle.
    prop::collection::vec(
        (
            1usize..40,
            0usize..TYPES.len(),
            0usize..AGENTS.len(),
            0usize..MASKS.len(),
            prop::bool::weighted(0.15),
            0i64..5_000,
        ),
        1..25,
    )
    .prop_map(|runs| {
        let mut out = Vec::new();
        let mut t = 0i64;
        for (len, ty, ag, mask, past, jitter) in runs {
            for k in 0..len {
                let time = if past {
                    jitter + k as i64 * 3
                } else {
                    t += 1 + (jitter + k as i64 * 7) % 40;
                    10_000 + t
                };
                let ty = TYPES[(ty + usize::from(k % 9 == 8)) % TYPES.len()];
                let mask = MASKS[(mask + usize::from(k % 13 == 12)) % MASKS.len()];
                out.push((time, ty, AGENTS[ag], mask));
            }
        }
        out
    })
}

fn build(dir: &Path, specs: &[Spec]) -> Vec<StoredEvent> {
    let config = StorageConfig {
        segment_size: 64 << 10,
        block_bytes: 1024,
        ..StorageConfig::default()
    };
    let engine = Engine::create(dir, config).unwrap();
    for (time, ty, agent, mask) in specs {
        let mut ev = Event::new(EventType::from_code(*ty))
            .agent_id(*agent)
            .visibility(*mask);
        ev.timestamp = Timestamp {
            ktime_ns: T0 + time,
            ..ev.timestamp
        };
        engine.emit(ev).unwrap();
    }
    engine.sync().unwrap();
    engine.close().unwrap();
    let store = Arc::new(Store::open(dir, OpenMode::ReadOnly).unwrap().0);
    let end = store.next_seq().unwrap();
    Scan::new(store, 0, end).map(Result::unwrap).collect()
}

/// The rate counted by hand.
fn by_hand(
    all: &[StoredEvent],
    q: &RateQuery,
    end: u64,
    since: i64,
    until: i64,
) -> Vec<BTreeMap<String, u64>> {
    let n = ((until - since + q.step_ns - 1) / q.step_ns) as usize;
    let mut out = vec![BTreeMap::new(); n];
    for e in all.iter().filter(|e| e.seq < end) {
        let ev = &e.event;
        let t = ev.timestamp.ktime_ns;
        if t < since || t >= until {
            continue;
        }
        if q.visibility
            .is_some_and(|m| ev.agent_visibility_mask & m == 0)
        {
            continue;
        }
        let key = match q.by {
            RateBy::Category => ev.event_type.category().to_string(),
            RateBy::Type => ev.event_type.to_string(),
            RateBy::Agent => String::from_utf8_lossy(&ev.context.agent_id).into_owned(),
        };
        *out[((t - since) / q.step_ns) as usize]
            .entry(key)
            .or_default() += 1;
    }
    out
}

fn check(rate: &Rate, all: &[StoredEvent], q: &RateQuery, end: u64) {
    let expected = by_hand(all, q, end, rate.since_ns, rate.until_ns);
    let got: Vec<_> = rate.buckets.iter().map(|b| b.counts.clone()).collect();
    assert_eq!(got, expected, "{q:?}");
    for (k, b) in rate.buckets.iter().enumerate() {
        assert_eq!(b.start_ns, rate.since_ns + k as i64 * q.step_ns);
    }
}

fn queries(seed: u64) -> Vec<RateQuery> {
    let mut out = Vec::new();
    for (i, by) in [RateBy::Category, RateBy::Type, RateBy::Agent]
        .into_iter()
        .enumerate()
    {
        for (j, step) in [1i64, 37, 400, 5_000, 1_000_000].into_iter().enumerate() {
            let k = seed.wrapping_add((i * 5 + j) as u64);
            let since = [None, Some(T0), Some(T0 + 10_500 + (k % 700) as i64)][(k % 3) as usize];
            let until = [None, Some(T0 + 12_000 + (k % 3_000) as i64)][(k / 3 % 2) as usize];
            let visibility = [None, Some(0b001), Some(0b110)][(k / 6 % 3) as usize];
            out.push(RateQuery {
                by,
                step_ns: step,
                since_ns: since,
                until_ns: until,
                visibility,
            });
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    // Checks I47 (docs/invariants.md).
    #[test]
    fn rates_equal_a_count_by_hand(specs in specs(), seed in any::<u64>()) {
        let tmp = tempfile::tempdir().unwrap();
        let all = build(tmp.path(), &specs);
        let store = Arc::new(Store::open(tmp.path(), OpenMode::ReadOnly).unwrap().0);
        let end = store.next_seq().unwrap();
        let journal = vexfs_journal_storage::JournalMeta::load(tmp.path()).unwrap().id;
        // Built in memory, saved, then loaded back from the files.
        let (built, _) = Index::open(&store, true).unwrap();
        let (loaded, report) = Index::open(&store, true).unwrap();
        prop_assert!(report.rebuilt.is_empty());
        for index in [&built, &loaded] {
            let exec = Executor { index, store: &store, journal };
            for q in queries(seed) {
                for visible in [end, end / 2] {
                    let rate = exec.rate(&q, visible).unwrap();
                    check(&rate, &all, &q, visible);
                }
            }
        }
    }
}

#[test]
fn whole_blocks_come_from_the_counts_and_bad_queries_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let specs: Vec<Spec> = (0..3_000)
        .map(|i| {
            (
                i * 1_000,
                TYPES[(i / 50 % 6) as usize],
                AGENTS[(i / 70 % 4) as usize],
                0b11,
            )
        })
        .collect();
    let all = build(tmp.path(), &specs);
    let store = Arc::new(Store::open(tmp.path(), OpenMode::ReadOnly).unwrap().0);
    let end = store.next_seq().unwrap();
    let journal = vexfs_journal_storage::JournalMeta::load(tmp.path())
        .unwrap()
        .id;
    let (index, _) = Index::open(&store, false).unwrap();
    let exec = Executor {
        index: &index,
        store: &store,
        journal,
    };
    let blocks: u64 = store
        .segments()
        .iter()
        .map(|s| s.blocks().len() as u64)
        .sum();
    for by in [RateBy::Category, RateBy::Type, RateBy::Agent] {
        // One bucket over everything: no block is read.
        let q = RateQuery {
            by,
            step_ns: i64::MAX / 4,
            ..RateQuery::default()
        };
        let rate = exec.rate(&q, end).unwrap();
        check(&rate, &all, &q, end);
        assert_eq!((rate.blocks_read, rate.blocks_summarised), (0, blocks));
        // Buckets of 0.5 ms: only blocks straddling a boundary are read.
        let q = RateQuery {
            by,
            step_ns: 500_000,
            visibility: Some(0b10),
            ..RateQuery::default()
        };
        let rate = exec.rate(&q, end).unwrap();
        check(&rate, &all, &q, end);
        assert_eq!(rate.buckets.len(), 6);
        assert!(
            rate.blocks_read > 0 && rate.blocks_read < blocks,
            "{} of {blocks}",
            rate.blocks_read
        );
        assert_eq!(rate.blocks_read + rate.blocks_summarised, blocks);
        // A mask no event has: answered from the summaries alone.
        let q = RateQuery {
            by,
            step_ns: 500_000,
            visibility: Some(0b100),
            ..RateQuery::default()
        };
        let rate = exec.rate(&q, end).unwrap();
        assert_eq!(rate.blocks_read, 0);
        assert!(rate.buckets.iter().all(|b| b.counts.is_empty()));
    }
    // The widest window: offsets beyond 64 bits are bucketed exactly too.
    let q = RateQuery {
        step_ns: i64::MAX,
        since_ns: Some(i64::MIN),
        until_ns: Some(i64::MAX),
        ..RateQuery::default()
    };
    let rate = exec.rate(&q, end).unwrap();
    assert_eq!(rate.buckets.len(), 3);
    let counted: Vec<u64> = rate
        .buckets
        .iter()
        .map(|b| b.counts.values().sum())
        .collect();
    assert_eq!(counted, [0, all.len() as u64, 0]);
    let refused = |q: RateQuery| match exec.rate(&q, end) {
        Err(vexfs_journal_index::IndexError::Rate(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        refused(RateQuery {
            step_ns: 0,
            ..RateQuery::default()
        }),
        RateError::Step(0)
    );
    assert!(matches!(
        refused(RateQuery {
            step_ns: 1,
            ..RateQuery::default()
        }),
        RateError::TooManyBuckets {
            buckets: 2_999_001,
            max: 100_000
        }
    ));
    assert!(matches!(
        refused(RateQuery {
            step_ns: 1,
            since_ns: Some(5),
            until_ns: Some(4),
            ..RateQuery::default()
        }),
        RateError::Range { since: 5, until: 4 }
    ));
    assert!("weight".parse::<RateBy>().is_err());
    assert_eq!("Agent".parse::<RateBy>().unwrap(), RateBy::Agent);
}
