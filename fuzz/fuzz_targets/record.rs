//! Compact userspace records (`vexfs_journal_format::record`): never panic; a decoded
//! record re-encodes to one that decodes to the same event and extension; the trusted
//! parser and `peek_record` never panic and agree with the checked parser.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::record::{RecordView, peek_record};
use vexfs_journal_format::{decode_record, encode_record};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    if vexfs_journal_fuzz::seal_event(&mut sealed).is_some() {
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    let _ = peek_record(data);
    if let Ok(view) = RecordView::parse_trusted(data) {
        let _ = view.to_event();
        view.for_each_link(|_| {});
        assert!(view.record_len() <= data.len());
    }
    let Ok((event, ext, size)) = decode_record(data) else {
        return;
    };
    assert!(size <= data.len(), "decoded size {size} past the input");
    if let Some((peek_size, peek_seq)) = peek_record(data) {
        assert_eq!(peek_size, size);
        assert_eq!(peek_seq, ext.userspace_sequence);
    }
    let mut out = Vec::new();
    let written = encode_record(&event, &ext, &mut out).expect("a decoded record re-encodes");
    assert_eq!(written, out.len());
    let (again, again_ext, again_size) = decode_record(&out).expect("a re-encoded record decodes");
    assert_eq!(again, event, "round trip changed the event");
    assert_eq!(again_ext, ext, "round trip changed the extension");
    assert_eq!(again_size, written);
}
