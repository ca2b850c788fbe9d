//! Segment footers (block tables) and clean-shutdown markers
//! (`vexfs_journal_format::footer`): never panic; decode → encode → decode is the
//! identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::footer::{
    decode_clean_marker, decode_footer, encode_clean_marker, encode_footer,
};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    vexfs_journal_fuzz::seal_trailing_crc(&mut sealed);
    check(&sealed);
    let mut sealed = data.to_vec();
    vexfs_journal_fuzz::seal_clean_marker(&mut sealed);
    check(&sealed);
});

fn check(data: &[u8]) {
    if let Ok(entries) = decode_footer(data) {
        let mut out = Vec::new();
        encode_footer(&entries, &mut out);
        assert_eq!(out.len(), data.len());
        assert_eq!(
            decode_footer(&out).expect("re-encoded footer decodes"),
            entries
        );
    }
    if let Ok((first_seq, end, entries)) = decode_clean_marker(data) {
        let out = encode_clean_marker(first_seq, end, &entries);
        assert_eq!(out.len(), data.len());
        let again = decode_clean_marker(&out).expect("re-encoded marker decodes");
        assert_eq!(again, (first_seq, end, entries));
    }
}
