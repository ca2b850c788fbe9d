#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Query cursors as text: both versions decode, and nothing damaged or foreign does.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use vexfs_journal_format::checksum::kernel_crc32;
use vexfs_journal_index::{Cursor, IndexError};

const JOURNAL: uuid::Uuid = uuid::Uuid::from_bytes([7; 16]);

/// The text of a cursor from before generations: id, sequence, flags, crc (29 bytes).
fn v1_text(journal: uuid::Uuid, seq: u64, flags: u8) -> String {
    let mut raw = Vec::new();
    raw.extend_from_slice(journal.as_bytes());
    raw.extend_from_slice(&seq.to_le_bytes());
    raw.push(flags);
    let crc = kernel_crc32(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    format!("vxc1_{}", URL_SAFE_NO_PAD.encode(raw))
}

/// `raw` (without its crc) as a current cursor with a correct crc.
fn v2_text_of(mut raw: Vec<u8>) -> String {
    let crc = kernel_crc32(&raw);
    raw.extend_from_slice(&crc.to_le_bytes());
    format!("vxc2_{}", URL_SAFE_NO_PAD.encode(raw))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    // Checks I35 (docs/invariants.md).
    #[test]
    fn v2_cursors_round_trip(id in any::<[u8; 16]>(), seq in any::<u64>(), reverse in any::<bool>(), generation in any::<u64>()) {
        let c = Cursor { journal: uuid::Uuid::from_bytes(id), seq, reverse, generation };
        let text = c.encode();
        prop_assert!(text.starts_with("vxc2_"), "{}", text);
        prop_assert_eq!(Cursor::decode(&text, c.journal).unwrap(), c);
        // Surrounding whitespace (a copied line) is ignored.
        prop_assert_eq!(Cursor::decode(&format!("  {text}\n"), c.journal).unwrap(), c);
    }
}

// Checks I35 (docs/invariants.md).
#[test]
fn v1_cursors_decode_as_generation_zero() {
    for (seq, reverse) in [(0, false), (1, true), (u64::MAX, false), (123_456, true)] {
        let text = v1_text(JOURNAL, seq, u8::from(reverse));
        let c = Cursor::decode(&text, JOURNAL).unwrap();
        assert_eq!(
            c,
            Cursor {
                journal: JOURNAL,
                seq,
                reverse,
                generation: 0
            }
        );
        // Re-encoding writes the current version.
        assert!(c.encode().starts_with("vxc2_"));
        assert_eq!(Cursor::decode(&c.encode(), JOURNAL).unwrap(), c);
    }
    // A v1 prefix on a v2 body (or the reverse) is the wrong length.
    let v2 = Cursor {
        journal: JOURNAL,
        seq: 5,
        reverse: false,
        generation: 3,
    }
    .encode();
    let swapped = v2.replacen("vxc2_", "vxc1_", 1);
    assert!(matches!(
        Cursor::decode(&swapped, JOURNAL),
        Err(IndexError::InvalidCursor(_))
    ));
    let swapped = v1_text(JOURNAL, 5, 0).replacen("vxc1_", "vxc2_", 1);
    assert!(matches!(
        Cursor::decode(&swapped, JOURNAL),
        Err(IndexError::InvalidCursor(_))
    ));
    // Unknown flags are refused in v1 as in v2.
    assert!(matches!(
        Cursor::decode(&v1_text(JOURNAL, 5, 2), JOURNAL),
        Err(IndexError::InvalidCursor(_))
    ));
}

// Checks I35 (docs/invariants.md).
#[test]
fn damaged_or_foreign_cursors_are_refused() {
    let c = Cursor {
        journal: JOURNAL,
        seq: 0x0102_0304_0506_0708,
        reverse: true,
        generation: 9,
    };
    let text = c.encode();
    let body = URL_SAFE_NO_PAD.decode(&text[5..]).unwrap();
    assert_eq!(body.len(), 37);

    // Every single-bit flip of the bytes is refused.
    for bit in 0..body.len() * 8 {
        let mut raw = body.clone();
        raw[bit / 8] ^= 1 << (bit % 8);
        let damaged = format!("vxc2_{}", URL_SAFE_NO_PAD.encode(&raw));
        assert!(
            matches!(
                Cursor::decode(&damaged, JOURNAL),
                Err(IndexError::InvalidCursor(_))
            ),
            "bit {bit}"
        );
    }
    // Every length but the right one.
    for len in 0..body.len() + 8 {
        if len == body.len() {
            continue;
        }
        let mut raw = body.clone();
        raw.resize(len, 0);
        let cut = format!("vxc2_{}", URL_SAFE_NO_PAD.encode(&raw));
        assert!(
            matches!(
                Cursor::decode(&cut, JOURNAL),
                Err(IndexError::InvalidCursor(_))
            ),
            "length {len}"
        );
    }
    // Not base64, no prefix, another prefix, nothing at all.
    for bad in [
        "vxc2_!!!!".to_string(),
        text[5..].to_string(),
        format!("vxc3_{}", &text[5..]),
        String::new(),
    ] {
        assert!(
            matches!(
                Cursor::decode(&bad, JOURNAL),
                Err(IndexError::InvalidCursor(_))
            ),
            "{bad:?}"
        );
    }
    // Flags above 1 with a correct checksum.
    let mut raw = body[..33].to_vec();
    raw[24] = 2;
    assert!(matches!(
        Cursor::decode(&v2_text_of(raw), JOURNAL),
        Err(IndexError::InvalidCursor(_))
    ));
    // Another journal's cursor names both journals.
    let other = uuid::Uuid::from_bytes([8; 16]);
    match Cursor::decode(&text, other) {
        Err(IndexError::ForeignCursor { expected, found }) => {
            assert_eq!((expected, found), (other, JOURNAL));
        }
        r => panic!("{r:?}"),
    }
    match Cursor::decode(&v1_text(JOURNAL, 1, 0), other) {
        Err(IndexError::ForeignCursor { .. }) => {}
        r => panic!("{r:?}"),
    }
}
