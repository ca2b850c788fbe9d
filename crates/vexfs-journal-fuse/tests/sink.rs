//! `FsEventSink` on its own: what a FUSE daemon other than the mirror gets, and the
//! promise that a drop is never silent (gap records).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use vexfs_journal::{Config, FsOp, Journal, Query};
use vexfs_journal_fuse::capture::CaptureConfig;
use vexfs_journal_fuse::{Caller, FsEvent, FsEventSink, FsSubtype, Recorded};

#[test]
fn a_daemon_records_typed_events_through_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::create(dir.path(), Config::default()).unwrap();
    let capture: CaptureConfig = toml::from_str("exclude = [\"/tmp/**\"]").unwrap();
    let sink = FsEventSink::new(journal.clone(), &capture).unwrap();
    let caller = Caller {
        pid: std::process::id(),
        uid: 1000,
        gid: 100,
    };
    let ev = FsEvent::new(FsOp::Write, b"/models/a.bin".to_vec())
        .subtype(FsSubtype::Fallocate)
        .ino(7)
        .kind(0o100644)
        .io(4096, 8192)
        .chain(3)
        .errno(28);
    assert!(matches!(sink.record(&caller, ev), Recorded::Journaled(_)));
    let skipped = FsEvent::new(FsOp::Create, b"/tmp/x".to_vec());
    assert_eq!(sink.record(&caller, skipped), Recorded::Filtered);
    let c = sink.counters();
    assert_eq!((c.captured, c.filtered, c.dropped), (1, 1, 0));
    journal.sync().unwrap();
    let page = journal.query(&Query::new()).unwrap();
    assert_eq!(page.events.len(), 1);
    let e = &page.events[0].event;
    assert_eq!(e.event_type.to_string(), "filesystem.write");
    assert_eq!(e.subtype, FsSubtype::Fallocate as u32);
    assert_eq!(e.context.path, b"/models/a.bin"[..]);
    assert_eq!(e.context.inode_number, 7);
    assert_eq!(e.timestamp.process_id, std::process::id());
    let m: serde_json::Value = serde_json::from_slice(&e.metadata).unwrap();
    assert_eq!(m["op"], "fallocate");
    assert_eq!(
        (m["uid"].as_u64(), m["gid"].as_u64()),
        (Some(1000), Some(100))
    );
    assert_eq!(
        (m["offset"].as_u64(), m["len"].as_u64()),
        (Some(4096), Some(8192))
    );
    assert_eq!(m["errno"], 28);
    assert!(m["comm"].is_string() && m["latency_ns"].is_u64(), "{m}");
}

// Checks I44 (docs/invariants.md).
#[test]
fn every_drop_is_reported_by_a_gap_record() {
    let dir = tempfile::tempdir().unwrap();
    let capture: CaptureConfig = toml::from_str("when_full = \"drop\"").unwrap();
    let config = Config {
        buffer_capacity: 4,
        full_policy: capture.full_policy(),
        ..Config::default()
    };
    let journal = Journal::create(dir.path(), config).unwrap();
    let sink = FsEventSink::new(journal.clone(), &capture).unwrap();
    let caller = Caller::default();
    let ev = |i: u64| FsEvent::new(FsOp::Write, format!("/f{i}").into_bytes()).io(i, 1);
    // Two threads outrun the writer of a 4-event buffer: some events are refused.
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let sink = &sink;
            s.spawn(move || {
                for i in 0..200_000u64 {
                    sink.record(&caller, ev(t * 1_000_000 + i));
                    if i > 1000 && sink.counters().dropped > 0 {
                        break;
                    }
                }
            });
        }
    });
    let dropped = sink.counters().dropped;
    assert!(
        dropped > 0,
        "the buffer never filled: {:?}",
        sink.counters()
    );
    // The next event that gets in is preceded by the gap record.
    let mut tries = 0;
    while !matches!(sink.record(&caller, ev(9)), Recorded::Journaled(_)) {
        tries += 1;
        assert!(tries < 1000, "the journal never took an event again");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    journal.sync().unwrap();
    let page = journal
        .query(&Query::new().types([vexfs_journal::ObservabilityOp::ErrorReported.into()]))
        .unwrap();
    let reported: u64 = page
        .events
        .iter()
        .map(|e| serde_json::from_slice::<serde_json::Value>(&e.event.metadata).unwrap())
        .inspect(|m| assert_eq!(m["op"], "capture_gap"))
        .map(|m| m["dropped"].as_u64().unwrap())
        .sum();
    let c = sink.counters();
    assert_eq!(reported, c.dropped, "{c:?}");
    assert_eq!(c.gaps, page.events.len() as u64);
}
