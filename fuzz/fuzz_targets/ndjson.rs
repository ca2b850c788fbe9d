//! The NDJSON event parser (`vexfs_journal::json`, `docs/json.md`): never panic on any
//! line; an accepted event printed as JSON parses back to the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal::json::{from_json, parse_line, to_json};
use vexfs_journal_format::RecordExt;
use vexfs_journal_storage::StoredEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(event) = parse_line(line) else {
        return;
    };
    let stored = StoredEvent {
        seq: 1,
        event: event.clone(),
        ext: RecordExt::default(),
    };
    let json = to_json(&stored);
    let again = from_json(&json).expect("printed event parses back");
    assert_eq!(again, event, "print → parse changed the event: {json}");
});
