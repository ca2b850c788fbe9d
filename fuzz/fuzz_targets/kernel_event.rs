//! Kernel events (`vexfs_journal_format::kernel`): never panic; a decoded event
//! re-encodes, and the re-encoding decodes to the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::{decode_kernel_event, encode_kernel_event};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    if vexfs_journal_fuzz::seal_event(&mut sealed).is_some() {
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    let Ok((event, size)) = decode_kernel_event(data) else {
        return;
    };
    assert!(size <= data.len(), "decoded size {size} past the input");
    let mut out = Vec::new();
    let written = encode_kernel_event(&event, &mut out).expect("a decoded event re-encodes");
    assert_eq!(written, out.len());
    let (again, again_size) = decode_kernel_event(&out).expect("a re-encoded event decodes");
    assert_eq!(again, event, "round trip changed the event");
    assert_eq!(again_size, written);
}
