//! Query cursors (`vexfs_journal_index::query::Cursor`): never panic on any text; a
//! cursor that decodes encodes back to text that decodes to the same cursor.
//!
//! The input is tried as cursor text, then (so the fuzzer gets past the checksum) its
//! first 25 bytes are taken as the raw cursor body, sealed and encoded.
#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use vexfs_journal_index::Cursor;

const JOURNAL: uuid::Uuid = uuid::Uuid::from_bytes([7; 16]);

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    if let Some(raw) = data.get(..25) {
        let mut raw = raw.to_vec();
        if data.len() > 25 && data[25] & 1 == 1 {
            raw[..16].copy_from_slice(JOURNAL.as_bytes());
        }
        let crc = vexfs_journal_format::checksum::kernel_crc32(&raw);
        raw.extend_from_slice(&crc.to_le_bytes());
        check(&format!("vxc1_{}", URL_SAFE_NO_PAD.encode(&raw)));
    }
});

fn check(text: &str) {
    let Ok(cursor) = Cursor::decode(text, JOURNAL) else {
        return;
    };
    assert_eq!(cursor.journal, JOURNAL);
    let again = Cursor::decode(&cursor.encode(), JOURNAL).expect("encoded cursor decodes");
    assert_eq!(again, cursor);
}
