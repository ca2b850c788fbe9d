//! Checkpoint files (`vexfs_journal_format::checkpoint`): never panic; decode → encode
//! → decode is the identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::checkpoint::{decode_checkpoint, encode_checkpoint};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    vexfs_journal_fuzz::seal_checkpoint(&mut sealed);
    if sealed != data {
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    let Ok(checkpoint) = decode_checkpoint(data) else {
        return;
    };
    let out = encode_checkpoint(&checkpoint);
    assert_eq!(out.len(), data.len());
    let again = decode_checkpoint(&out).expect("re-encoded checkpoint decodes");
    assert_eq!(again, checkpoint);
}
