//! Inputs found by the fuzz targets in `fuzz/` (`cargo xtask fuzz`), kept as tests so
//! the bugs they found stay fixed.
#![allow(clippy::expect_used)]

use vexfs_journal::json::{from_json, parse_line, to_json};
use vexfs_journal::{RecordExt, StoredEvent};

/// Prints `line`'s event as `cat` does and parses it back as `emit` does.
fn print_then_parse(line: &str) -> (vexfs_journal::Event, vexfs_journal::Event) {
    let event = parse_line(line).expect("the line is a valid event");
    let stored = StoredEvent {
        seq: 1,
        event: event.clone(),
        ext: RecordExt::default(),
    };
    let again = from_json(&to_json(&stored)).expect("a printed event parses");
    (event, again)
}

/// `fuzz/artifacts/ndjson/crash-0b51bc2b…` (target `ndjson`): a number in `metadata`
/// whose nearest double the default serde_json parser missed by one unit, so every
/// `cat | emit` copy changed the stored metadata text (`…784e+79` became `…78e+79`).
#[test]
fn metadata_floats_survive_print_then_parse() {
    let line = r#"{"type":"unknown(0x0999)","metadata":{"repl":47777777777777777777777777777777777777777777777777777777777777777777777777777242}}"#;
    let (event, again) = print_then_parse(line);
    assert_eq!(
        String::from_utf8_lossy(&again.metadata),
        String::from_utf8_lossy(&event.metadata)
    );
    assert_eq!(again, event);
    // The whole input the fuzzer found.
    let found = r#"{"type":"unknown(0x0999)","path":{"base64":"L2Zvbw=="},"metadata":{"base6ath":{"base64":"L2Zvbw=="},"metad%ata":{"base28":"AP7="},"relevance":50,"repl":47777777777777777777777777777777777777777777777777777777777777777777777777777242,"time":"2026-11-21T10000:00pa.123456789Z","pid":7,"ay_priority":2,"seq":9,"global_seq":3,"4":"AP7="},"relevance":50,"replay_priority":2,"seq":9,"global_seq":3,"local_seq":4}"#;
    let (event, again) = print_then_parse(found);
    assert_eq!(again, event);
}
