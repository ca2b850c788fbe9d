//! Journal manifests (`vexfs_journal_format::manifest`): never panic; decode → encode is
//! the identity (every byte of a manifest is meaningful or checked to be zero).
#![no_main]

use libfuzzer_sys::fuzz_target;
use vexfs_journal_format::manifest::{decode_manifest, encode_manifest};

fuzz_target!(|data: &[u8]| {
    check(data);
    let mut sealed = data.to_vec();
    vexfs_journal_fuzz::seal_trailing_crc(&mut sealed);
    if sealed != data {
        check(&sealed);
    }
});

fn check(data: &[u8]) {
    let Ok(manifest) = decode_manifest(data) else {
        return;
    };
    assert_eq!(encode_manifest(&manifest), data);
}
