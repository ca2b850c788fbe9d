//! Compaction: by type, by age (with a fixed `now_ns`), by size; every remaining event
//! keeps its sequence number and bytes; the open segment is never touched; indexed
//! queries after compaction equal brute force over the remaining events; and a crash
//! at any point of the swap leaves the old set or the new set of segments, never a mix.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::num::NonZeroU64;
use std::path::Path;
use std::time::Duration;

use common::*;
use vexfs_journal::ext;
use vexfs_journal::format::checksum::kernel_crc32;
use vexfs_journal::format::tx::Decision;
use vexfs_journal::{
    AgentOp, CompactOptions, CompactReport, FsOp, Journal, JournalReader, Query, SemanticOp,
    StoredEvent, compact,
};
use vexfs_journal_storage::swap::{SWAP_DIR, SWAP_MANIFEST, SwapManifest};
use vexfs_journal_testkit::query::matches;
use vexfs_journal_testkit::{copy_dir, events::TYPES, segment_files, tagged};

/// Base time of the events of [`timed_journal`].
const T0: i64 = 1_800_000_000_000_000_000;

/// A closed journal of `n` events, event `i` at time `T0 + i ms`. Returns the events.
fn timed_journal(dir: &Path, n: u64) -> Vec<StoredEvent> {
    let j = Journal::create(dir, small_config()).unwrap();
    for i in 0..n {
        let mut ev = tagged(0, i);
        ev.timestamp.ktime_ns = T0 + i as i64 * 1_000_000;
        j.emit(ev).unwrap();
    }
    let events = journal_events(&j);
    j.close().unwrap();
    assert!(segment_files(dir).len() >= 5, "{:?}", segment_files(dir));
    events
}

/// First sequence of the open (newest) segment.
fn open_first(dir: &Path) -> u64 {
    let last = segment_files(dir).pop().unwrap();
    last.file_stem().unwrap().to_str().unwrap().parse().unwrap()
}

fn queries() -> Vec<Query> {
    vec![
        Query::new(),
        Query::new().types([FsOp::Write.into()]),
        Query::new().types([AgentOp::Decision.into(), TYPES[2]()]),
        Query::new().path_prefix("/p0/3/"),
        Query::new().agent("agent-1"),
        Query::new().agent("agent-2").types([FsOp::Write.into()]),
        Query::new().from_seq(150).to_seq(420),
        Query::new()
            .since(T0 + 100_000_000)
            .until(T0 + 500_000_000)
            .path_prefix("/p0/7"),
    ]
}

/// Every query, forward and backward, whole and paged, equals brute force over `all`.
fn assert_queries_match(j: &Journal, all: &[StoredEvent], ctx: &str) {
    for q in queries() {
        let want: Vec<u64> = all
            .iter()
            .filter(|e| matches(&q, e))
            .map(|e| e.seq)
            .collect();
        let got = seqs(&j.query(&q).unwrap().events);
        assert_eq!(got, want, "{ctx}: {q:?}");
        let mut back = seqs(&j.query(&q.clone().reverse(true)).unwrap().events);
        back.reverse();
        assert_eq!(back, want, "{ctx}: reverse {q:?}");
        // Pages of 7 through a cursor: no gap, no duplicate.
        let mut paged = Vec::new();
        let mut page = j.query(&q.clone().limit(7)).unwrap();
        loop {
            paged.extend(seqs(&page.events));
            if page.exhausted || page.events.is_empty() {
                break;
            }
            page = j
                .query(&q.clone().limit(7).after(page.cursor.unwrap()))
                .unwrap();
        }
        assert_eq!(paged, want, "{ctx}: paged {q:?}");
        // The returned events are the stored ones, intact.
        for e in j.query(&q).unwrap().events {
            assert_eq!(e, all[all.binary_search_by_key(&e.seq, |x| x.seq).unwrap()]);
        }
    }
}

/// After compaction: the journal holds exactly `expected`, reads, queries and
/// continues.
fn assert_compacted(dir: &Path, expected: &[StoredEvent], next: u64, ctx: &str) {
    assert_eq!(read_all(dir), expected, "{ctx}: remaining events");
    let j = Journal::open_existing(dir).unwrap();
    assert_eq!(journal_events(&j), expected, "{ctx}");
    assert_queries_match(&j, expected, ctx);
    assert_eq!(j.next_seq(), next, "{ctx}: sequence numbers continue");
    assert_eq!(j.emit_durable(tagged(1, 0)).unwrap(), next, "{ctx}");
    j.close().unwrap();
    assert!(!dir.join(SWAP_DIR).exists() && !dir.join(SWAP_MANIFEST).exists());
}

// Checks I32 (docs/invariants.md).
#[test]
fn compact_by_type_keeps_sequences_and_queries_match_brute_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let events = timed_journal(&dir, 900);
    let open_from = open_first(&dir);
    let segs = segment_files(&dir);
    {
        let j = Journal::open_existing(&dir).unwrap();
        assert_queries_match(&j, &events, "before");
        j.close().unwrap();
    }
    let dropped_type = AgentOp::Decision.into();
    let r = compact(
        &dir,
        &CompactOptions {
            drop_types: vec![dropped_type],
            ..Default::default()
        },
    )
    .unwrap();
    let expected: Vec<StoredEvent> = events
        .iter()
        .filter(|e| e.event.event_type != dropped_type || e.seq >= open_from)
        .cloned()
        .collect();
    assert_eq!(r.events_dropped as usize, events.len() - expected.len());
    assert_eq!(r.segments_before, segs.len());
    assert_eq!(r.segments_after, segs.len());
    assert_eq!(r.rewritten, segs[..segs.len() - 1], "every sealed segment");
    assert!(r.deleted.is_empty());
    assert!(r.bytes_after < r.bytes_before);
    assert!(
        expected.iter().any(|e| e.event.event_type == dropped_type),
        "the open segment keeps its events"
    );
    assert_compacted(&dir, &expected, events.len() as u64 + 1, "by type");
}

// Checks I32 (docs/invariants.md).
#[test]
fn compact_by_age_with_a_fixed_now() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let events = timed_journal(&dir, 900);
    let open_from = open_first(&dir);
    let segs = segment_files(&dir);
    // "Now" is T0 + 700 ms; events older than 400 ms (before T0 + 300 ms) go.
    let cutoff = T0 + 300_000_000;
    let r = compact(
        &dir,
        &CompactOptions {
            max_age: Some(Duration::from_millis(400)),
            now_ns: Some(T0 + 700_000_000),
            ..Default::default()
        },
    )
    .unwrap();
    let expected: Vec<StoredEvent> = events
        .iter()
        .filter(|e| e.event.timestamp.ktime_ns >= cutoff || e.seq >= open_from)
        .cloned()
        .collect();
    assert_eq!(r.events_dropped as usize, events.len() - expected.len());
    // Segments entirely older than the cutoff are deleted whole, the one straddling it
    // is rewritten, newer ones are untouched.
    assert!(!r.deleted.is_empty(), "{r:?}");
    assert_eq!(r.rewritten.len(), 1, "{r:?}");
    assert_eq!(r.segments_after, segs.len() - r.deleted.len());
    for d in &r.deleted {
        assert!(!d.exists());
    }
    assert_compacted(&dir, &expected, events.len() as u64 + 1, "by age");
    // Nothing more is old enough with the same "now": a second compaction is a no-op.
    let again = compact(
        &dir,
        &CompactOptions {
            max_age: Some(Duration::from_millis(400)),
            now_ns: Some(T0 + 700_000_000),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(again.events_dropped, 0, "{again:?}");
    assert!(again.rewritten.is_empty() && again.deleted.is_empty());
}

// Checks I32 (docs/invariants.md).
#[test]
fn compact_by_size_deletes_whole_oldest_segments_never_the_open_one() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let events = timed_journal(&dir, 900);
    let before: u64 = segment_files(&dir)
        .iter()
        .map(|s| std::fs::metadata(s).unwrap().len())
        .sum();
    let max = before / 2;
    let r = compact(
        &dir,
        &CompactOptions {
            max_total_bytes: Some(max),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.bytes_before, before);
    assert!(r.bytes_after <= max, "{r:?}");
    assert!(r.rewritten.is_empty());
    let first_kept = segment_files(&dir)[0].clone();
    let from: u64 = first_kept
        .file_stem()
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let expected: Vec<StoredEvent> = events.iter().filter(|e| e.seq >= from).cloned().collect();
    assert_eq!(r.events_dropped as usize, events.len() - expected.len());
    assert_compacted(&dir, &expected, events.len() as u64 + 1, "by size");

    // A limit below one segment deletes every sealed segment, keeps the open one.
    let r = compact(
        &dir,
        &CompactOptions {
            max_total_bytes: Some(1),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.segments_after, 1, "{r:?}");
    let left = read_all(&dir);
    assert!(!left.is_empty());
    assert_eq!(left.last().unwrap().seq, events.len() as u64 + 1);
}

// Checks I32, I42 (docs/invariants.md).
/// Compaction refuses to run while a writer has the journal open.
#[test]
fn compact_needs_the_journal_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    timed_journal(&dir, 900);
    let j = Journal::open_existing(&dir).unwrap();
    let err = compact(
        &dir,
        &CompactOptions {
            drop_types: vec![FsOp::Write.into()],
            ..Default::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
    j.close().unwrap();
}

// Checks I32 (docs/invariants.md).
/// Compaction by type leaves deliberate sequence gaps; a compacted journal is not
/// damaged and `verify` (hence absolute mode) must accept it.
#[test]
fn verify_is_clean_after_compaction() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    timed_journal(&dir, 900);
    compact(
        &dir,
        &CompactOptions {
            drop_types: vec![AgentOp::Decision.into()],
            ..Default::default()
        },
    )
    .unwrap();
    let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
    assert!(v.is_clean(), "{:?}", v.problems);
    let j = Journal::open_existing_with(&dir, vexfs_journal::RecoveryMode::Absolute, 0).unwrap();
    j.close().unwrap();
}

// ---------------------------------------------------------------------------------
// Crashes during compaction. The swap protocol: new segments are written to
// `swap.tmp/`, then the `SWAP` manifest (JSON, then "\ncrc32=XXXXXXXX\n", kernel crc of
// the JSON) commits it, then the files are moved into place and the manifest removed.
// Each state a crash can leave is built below from the old set and the new set.
// ---------------------------------------------------------------------------------

fn encode_manifest(m: &SwapManifest) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(m).unwrap();
    let crc = kernel_crc32(&out);
    out.extend_from_slice(format!("\ncrc32={crc:08x}\n").as_bytes());
    out
}

fn name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

// Checks I31 (docs/invariants.md).
#[test]
fn a_crash_mid_compaction_leaves_the_old_set_or_the_new_set() {
    let tmp = tempfile::tempdir().unwrap();
    let old_dir = tmp.path().join("old");
    let old_events = timed_journal(&old_dir, 900);
    let options = CompactOptions {
        drop_types: vec![AgentOp::Decision.into()],
        max_age: Some(Duration::from_millis(400)),
        now_ns: Some(T0 + 600_000_000),
        ..Default::default()
    };
    let new_dir = tmp.path().join("new");
    copy_dir(&old_dir, &new_dir);
    let r: CompactReport = compact(&new_dir, &options).unwrap();
    let new_events = read_all(&new_dir);
    assert!(!r.rewritten.is_empty() && !r.deleted.is_empty(), "{r:?}");
    assert_ne!(new_events, old_events);
    // What compaction's swap holds: the rewritten segments, then the journal manifest
    // that describes them.
    let mut replace: Vec<String> = r.rewritten.iter().map(|p| name(p)).collect();
    replace.push("MANIFEST".into());
    let manifest = SwapManifest {
        reason: "compaction".into(),
        replace,
        delete: r.deleted.iter().map(|p| name(p)).collect(),
        keeps_open_segment: true,
    };

    // Builds a crash state from the old journal: `staged` new files in swap.tmp/,
    // optionally the manifest (valid or damaged), and the first `applied` replacements
    // and `deleted` deletions already done.
    struct State {
        what: &'static str,
        staged: usize,
        partial_last: bool,
        manifest: Option<bool>,
        applied: usize,
        deleted: usize,
        new: bool,
    }
    let n = manifest.replace.len();
    let d = manifest.delete.len();
    let states = [
        State {
            what: "swap.tmp created, empty",
            staged: 0,
            partial_last: false,
            manifest: None,
            applied: 0,
            deleted: 0,
            new: false,
        },
        State {
            what: "half the new files written",
            staged: n.div_ceil(2),
            partial_last: true,
            manifest: None,
            applied: 0,
            deleted: 0,
            new: false,
        },
        State {
            what: "all new files written, no manifest",
            staged: n,
            partial_last: false,
            manifest: None,
            applied: 0,
            deleted: 0,
            new: false,
        },
        State {
            what: "manifest damaged (torn write)",
            staged: n,
            partial_last: false,
            manifest: Some(false),
            applied: 0,
            deleted: 0,
            new: false,
        },
        State {
            what: "manifest committed, nothing applied",
            staged: n,
            partial_last: false,
            manifest: Some(true),
            applied: 0,
            deleted: 0,
            new: true,
        },
        State {
            what: "one file moved into place",
            staged: n,
            partial_last: false,
            manifest: Some(true),
            applied: 1,
            deleted: 0,
            new: true,
        },
        State {
            what: "all moved, nothing deleted",
            staged: n,
            partial_last: false,
            manifest: Some(true),
            applied: n,
            deleted: 0,
            new: true,
        },
        State {
            what: "all moved, some deleted",
            staged: n,
            partial_last: false,
            manifest: Some(true),
            applied: n,
            deleted: d / 2 + 1,
            new: true,
        },
        State {
            what: "all applied, manifest left",
            staged: n,
            partial_last: false,
            manifest: Some(true),
            applied: n,
            deleted: d,
            new: true,
        },
    ];
    for (k, s) in states.iter().enumerate() {
        for reader_first in [false, true] {
            let dir = tmp.path().join(format!("state-{k}-{reader_first}"));
            copy_dir(&old_dir, &dir);
            let swap = dir.join(SWAP_DIR);
            std::fs::create_dir_all(&swap).unwrap();
            for (i, f) in manifest.replace.iter().take(s.staged).enumerate() {
                let bytes = std::fs::read(new_dir.join(f)).unwrap();
                let bytes = if s.partial_last && i + 1 == s.staged {
                    bytes[..bytes.len() / 3].to_vec()
                } else {
                    bytes
                };
                std::fs::write(swap.join(f), bytes).unwrap();
            }
            if let Some(valid) = s.manifest {
                let mut bytes = encode_manifest(&manifest);
                if !valid {
                    bytes.truncate(bytes.len() - 20);
                }
                std::fs::write(dir.join(SWAP_MANIFEST), bytes).unwrap();
            }
            for f in manifest.replace.iter().take(s.applied) {
                std::fs::rename(swap.join(f), dir.join(f)).unwrap();
            }
            for f in manifest.delete.iter().take(s.deleted) {
                std::fs::remove_file(dir.join(f)).unwrap();
            }
            let want = if s.new { &new_events } else { &old_events };
            let ctx = format!("{} (reader first: {reader_first})", s.what);
            if reader_first {
                // A reader finishes a committed swap, and never sees a mix.
                let r = JournalReader::open(&dir).unwrap();
                let seen: Vec<StoredEvent> = r.scan(0..u64::MAX).map(|e| e.unwrap()).collect();
                assert_eq!(&seen, want, "{ctx}: reader");
            }
            let j = Journal::open_existing(&dir).unwrap();
            assert_eq!(&journal_events(&j), want, "{ctx}");
            j.close().unwrap();
            assert!(!swap.exists(), "{ctx}: swap.tmp left behind");
            assert!(!dir.join(SWAP_MANIFEST).exists(), "{ctx}");
            let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
            let damage: Vec<_> = v
                .problems
                .iter()
                .filter(|p| p.kind != vexfs_journal_recovery::ProblemKind::SequenceGap)
                .collect();
            assert!(damage.is_empty(), "{ctx}: {damage:?}");
            // Compacting again from there ends with the new set.
            compact(&dir, &options).unwrap();
            assert_eq!(read_all(&dir), new_events, "{ctx}: compaction completes");
        }
    }
}

/// A transaction marker (commit) for `tx` at time `at`, as a participant writes it.
fn commit_marker(tx: u64, at: i64) -> vexfs_journal::Event {
    let mut e = vexfs_journal::Event::new(SemanticOp::TransactionEnd);
    e.subtype = Decision::Commit.marker_subtype();
    e.context.transaction_id = tx;
    e.timestamp.ktime_ns = at;
    e
}

/// A closed journal: 300 timed events, then transaction 7 (three members at
/// `T0 + 900 ms`, its commit marker stamped old, at `T0`), an ordinary (non-marker)
/// `transaction_end` event, and 600 more timed events so the transaction's segment is
/// sealed. Returns the transaction's member sequences and the marker's sequence.
fn journal_with_a_transaction(dir: &Path) -> (Vec<u64>, u64, u64) {
    let j = Journal::create(dir, small_config()).unwrap();
    for i in 0..300 {
        let mut ev = tagged(0, i);
        ev.timestamp.ktime_ns = T0 + i as i64 * 1_000_000;
        j.emit(ev).unwrap();
    }
    let tx = NonZeroU64::new(7).unwrap();
    let members: Vec<_> = (0..3)
        .map(|i| {
            let mut ev = tagged(2, i);
            ev.timestamp.ktime_ns = T0 + 900_000_000;
            ev
        })
        .collect();
    let members = ext::emit_transactional(&j, tx, members, true).unwrap();
    let marker = ext::emit_transactional(&j, tx, vec![commit_marker(7, T0)], true).unwrap();
    let plain = j.emit(commit_marker(0, T0)).unwrap();
    for i in 300..900 {
        let mut ev = tagged(0, i);
        ev.timestamp.ktime_ns = T0 + i as i64 * 1_000_000;
        j.emit(ev).unwrap();
    }
    j.close().unwrap();
    assert!(segment_files(dir).len() >= 5);
    assert!(
        marker.start < open_first(dir),
        "the marker's segment is sealed"
    );
    (members.collect(), marker.start, plain)
}

/// A read-committed reader of `dir` sees every member of transaction 7 and the marker,
/// and nothing holds it back.
fn assert_transaction_readable(dir: &Path, members: &[u64], marker: u64, ctx: &str) {
    let r = JournalReader::open(dir).unwrap();
    assert_eq!(r.held_by().unwrap(), None, "{ctx}: a reader is held back");
    let seen = seqs(&r.query(&Query::new()).unwrap().events);
    for s in members.iter().chain([&marker]) {
        assert!(seen.contains(s), "{ctx}: {s} not read ({seen:?})");
    }
}

// Checks I32 (docs/invariants.md).
#[test]
fn compaction_by_type_or_age_never_drops_a_transaction_marker() {
    let tmp = tempfile::tempdir().unwrap();
    // By type: dropping every `transaction_end` keeps the marker but drops the ordinary
    // event of the same type (the negative control: the filter did apply).
    let dir = tmp.path().join("by-type");
    let (members, marker, plain) = journal_with_a_transaction(&dir);
    assert_transaction_readable(&dir, &members, marker, "before");
    let r = compact(
        &dir,
        &CompactOptions {
            drop_types: vec![SemanticOp::TransactionEnd.into()],
            ..Default::default()
        },
    )
    .unwrap();
    assert_transaction_readable(&dir, &members, marker, "by type");
    assert_eq!((r.markers_kept, r.events_dropped), (1, 1), "{r:?}");
    let left = seqs(&read_all(&dir));
    assert!(left.contains(&marker) && !left.contains(&plain), "{left:?}");

    // By age: the marker is stamped older than the cutoff, its members are not; the
    // old ordinary events around it go, the marker stays.
    let dir = tmp.path().join("by-age");
    let (members, marker, plain) = journal_with_a_transaction(&dir);
    let r = compact(
        &dir,
        &CompactOptions {
            max_age: Some(Duration::from_millis(100)),
            now_ns: Some(T0 + 400_000_000),
            ..Default::default()
        },
    )
    .unwrap();
    assert_transaction_readable(&dir, &members, marker, "by age");
    assert_eq!(r.markers_kept, 1, "{r:?}");
    assert!(r.events_dropped >= 300, "{r:?}");
    let left = seqs(&read_all(&dir));
    assert!(left.contains(&marker) && !left.contains(&plain), "{left:?}");
}
