//! Segment file headers (`vexfs_journal_format::file_header`): never panic; a parsed
//! header serialises back to exactly the 128 bytes it was parsed from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::FileHeader;
use vexfs_journal_format::consts::FILE_HEADER_SIZE;

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    vexfs_journal_fuzz::seal_file_header(&mut sealed);
    if sealed != data {
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    let Ok(header) = FileHeader::parse(data) else {
        return;
    };
    let bytes = header.to_bytes();
    assert_eq!(
        &bytes[..],
        &data[..FILE_HEADER_SIZE],
        "to_bytes differs from the input"
    );
    assert_eq!(FileHeader::parse(&bytes).expect("re-parses"), header);
}
