#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The shared helpers do what their tests rely on.

use vexfs_journal_testkit::{
    Rng, copy_dir, flip_bit, flip_byte, noise, noise_text, small_tag_of, small_tagged, tag_of,
    tagged, write_at,
};

#[test]
fn tags_round_trip_and_noise_is_deterministic() {
    for (p, i) in [(0, 0), (3, 17), (u64::from(u32::MAX), u64::from(u32::MAX))] {
        assert_eq!(tag_of(&tagged(p, i)), (p, i));
        assert_eq!(small_tag_of(&small_tagged(p, i)), (p, i));
    }
    assert_eq!(noise(7, 100), noise(7, 100));
    assert_ne!(noise(7, 100), noise(8, 100));
    let text = noise_text(7, 500, b'a', 26);
    assert!(text.bytes().all(|b| b.is_ascii_lowercase()));
    let mut rng = Rng(1);
    assert!((0..1000).all(|_| (3..=9).contains(&rng.range(3, 9))));
}

#[test]
#[should_panic(expected = "payload of 1:2")]
fn tag_of_notices_changed_content() {
    let mut ev = tagged(1, 2);
    ev.payload.pop();
    tag_of(&ev);
}

#[test]
fn file_surgery_changes_exactly_what_it_says() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a"), [0u8; 8]).unwrap();
    std::fs::write(src.join("sub/b"), b"b").unwrap();
    let dst = tmp.path().join("dst");
    copy_dir(&src, &dst);
    assert_eq!(std::fs::read(dst.join("sub/b")).unwrap(), b"b");
    let a = dst.join("a");
    flip_bit(&a, 9);
    flip_byte(&a, 3);
    write_at(&a, 6, &[0xFF]);
    assert_eq!(std::fs::read(&a).unwrap(), [0, 2, 0, 0x10, 0, 0, 0xFF, 0]);
}
