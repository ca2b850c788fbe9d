//! Conversion userspace event ⇄ kernel binary event: golden fixtures, round trips of
//! every field within the kernel limits, and the specific error for every limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use proptest::prelude::*;
use vexfs_journal_format::consts::{
    AGENT_ID_CAPACITY, AGENT_INTENT_CAPACITY, CAUSALITY_LINK_SIZE, CONTEXT_SIZE, EVENT_HEADER_SIZE,
    LINK_DESCRIPTION_CAPACITY, MAX_CAUSALITY_LINKS, MAX_METADATA_SIZE, MAX_PAYLOAD_SIZE, PATH_MAX,
    SEMANTIC_INTENT_CAPACITY, SEMANTIC_TAGS_CAPACITY,
};
use vexfs_journal_format::layout::EVENT_CHECKSUM_OFFSET;
use vexfs_journal_format::samples::{category_events, empty_event};
use vexfs_journal_format::{
    AgentOp, BString, CausalityLink, Event, FormatError, VectorOp, kernel_crc32,
};
use vexfs_journal_kernel_codec::{
    ConversionError, check_kernel_fit, convert_from_kernel_format, convert_to_kernel_format,
    decode_prefix,
};
use vexfs_journal_testkit::fixture;

#[test]
fn converts_the_samples_to_the_committed_kernel_event_fixtures() {
    for (name, ev) in category_events() {
        let bytes = convert_to_kernel_format(&ev).unwrap();
        assert!(
            bytes == fixture(&format!("kernel_event_{name}.bin")),
            "{name}: bytes differ from fixtures/kernel_event_{name}.bin"
        );
        assert_eq!(convert_from_kernel_format(&bytes).unwrap(), ev, "{name}");
    }
    let empty = convert_to_kernel_format(&empty_event()).unwrap();
    assert_eq!(empty, fixture("kernel_event_empty.bin"));
    assert_eq!(empty.len(), EVENT_HEADER_SIZE + CONTEXT_SIZE);
    assert_eq!(convert_from_kernel_format(&empty).unwrap(), empty_event());
}

#[test]
fn kernel_event_layout_of_a_converted_event() {
    let ev = Event::agent(AgentOp::Decision)
        .agent_id("planner")
        .payload(vec![7u8; 10])
        .metadata(b"{}".to_vec())
        .link(CausalityLink::default());
    let b = convert_to_kernel_format(&ev).unwrap();
    let size = EVENT_HEADER_SIZE + CONTEXT_SIZE + 10 + 2 + CAUSALITY_LINK_SIZE;
    assert_eq!(b.len(), size);
    let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    assert_eq!(u32_at(64) as usize, size, "event_size");
    assert_eq!(u32_at(68) as usize, CONTEXT_SIZE, "context_size");
    assert_eq!(u32_at(72), 10, "payload_size");
    assert_eq!(u32_at(76), 2, "metadata_size");
    assert_eq!(u32_at(80), 1, "event_version");
    assert_eq!(u32_at(96), 1, "causality_link_count");
    // agent_id at context offset 4168, NUL padded.
    let agent = EVENT_HEADER_SIZE + 4168;
    assert_eq!(&b[agent..agent + 8], b"planner\0");
    // Checksum: kernel crc32 of the event with the field zeroed.
    let mut zeroed = b.clone();
    zeroed[EVENT_CHECKSUM_OFFSET..EVENT_CHECKSUM_OFFSET + 4].fill(0);
    assert_eq!(u32_at(EVENT_CHECKSUM_OFFSET), kernel_crc32(&zeroed));
}

#[test]
fn the_limits_themselves_fit() {
    let ev = Event::vector(VectorOp::Embed)
        .path(vec![b'p'; PATH_MAX - 1])
        .agent_id(vec![b'a'; AGENT_ID_CAPACITY - 1])
        .intent(vec![b'i'; AGENT_INTENT_CAPACITY - 1])
        .tags(vec![b't'; SEMANTIC_TAGS_CAPACITY - 1])
        .semantic_intent(vec![b's'; SEMANTIC_INTENT_CAPACITY - 1])
        .payload(vec![0xFF; MAX_PAYLOAD_SIZE])
        .metadata(vec![b'm'; MAX_METADATA_SIZE]);
    let mut ev = ev;
    ev.links = vec![
        CausalityLink {
            description: BString::from(vec![b'd'; LINK_DESCRIPTION_CAPACITY - 1]),
            ..CausalityLink::default()
        };
        MAX_CAUSALITY_LINKS
    ];
    check_kernel_fit(&ev).unwrap();
    let bytes = convert_to_kernel_format(&ev).unwrap();
    assert_eq!(
        bytes.len(),
        EVENT_HEADER_SIZE
            + CONTEXT_SIZE
            + MAX_PAYLOAD_SIZE
            + MAX_METADATA_SIZE
            + MAX_CAUSALITY_LINKS * CAUSALITY_LINK_SIZE
    );
    assert_eq!(convert_from_kernel_format(&bytes).unwrap(), ev);
}

/// Each over-limit event and the exact error it must get.
fn over_limit_cases() -> Vec<(&'static str, Event, ConversionError)> {
    let base = || Event::agent(AgentOp::Query);
    let mut too_many_links = base();
    too_many_links.links = vec![CausalityLink::default(); MAX_CAUSALITY_LINKS + 1];
    let long_desc = base().link(CausalityLink {
        description: BString::from(vec![b'd'; LINK_DESCRIPTION_CAPACITY]),
        ..CausalityLink::default()
    });
    vec![
        (
            "path of PATH_MAX bytes",
            base().path(vec![b'p'; PATH_MAX]),
            ConversionError::PathTooLong { len: PATH_MAX },
        ),
        (
            "path of 10000 bytes",
            base().path(vec![b'p'; 10_000]),
            ConversionError::PathTooLong { len: 10_000 },
        ),
        (
            "agent id of 64 bytes",
            base().agent_id(vec![b'a'; AGENT_ID_CAPACITY]),
            ConversionError::AgentIdTooLong {
                len: AGENT_ID_CAPACITY,
            },
        ),
        (
            "257 links",
            too_many_links,
            ConversionError::TooManyLinks {
                count: MAX_CAUSALITY_LINKS + 1,
            },
        ),
        (
            "payload over 64 KiB",
            base().payload(vec![0; MAX_PAYLOAD_SIZE + 1]),
            ConversionError::PayloadTooLarge {
                size: MAX_PAYLOAD_SIZE + 1,
            },
        ),
        (
            "metadata over 2 KiB",
            base().metadata(vec![b'{'; MAX_METADATA_SIZE + 1]),
            ConversionError::MetadataTooLarge {
                size: MAX_METADATA_SIZE + 1,
            },
        ),
        (
            "agent intent of 256 bytes",
            base().intent(vec![b'i'; AGENT_INTENT_CAPACITY]),
            ConversionError::StringTooLong {
                field: "context.agent_intent",
                len: AGENT_INTENT_CAPACITY,
                capacity: AGENT_INTENT_CAPACITY,
            },
        ),
        (
            "tags of 512 bytes",
            base().tags(vec![b't'; SEMANTIC_TAGS_CAPACITY]),
            ConversionError::StringTooLong {
                field: "context.semantic_tags",
                len: SEMANTIC_TAGS_CAPACITY,
                capacity: SEMANTIC_TAGS_CAPACITY,
            },
        ),
        (
            "semantic intent of 256 bytes",
            base().semantic_intent(vec![b's'; SEMANTIC_INTENT_CAPACITY]),
            ConversionError::StringTooLong {
                field: "context.semantic_intent",
                len: SEMANTIC_INTENT_CAPACITY,
                capacity: SEMANTIC_INTENT_CAPACITY,
            },
        ),
        (
            "link description of 128 bytes",
            long_desc,
            ConversionError::StringTooLong {
                field: "causality link description",
                len: LINK_DESCRIPTION_CAPACITY,
                capacity: LINK_DESCRIPTION_CAPACITY,
            },
        ),
        (
            "path with a NUL byte",
            base().path(b"/a\0b".to_vec()),
            ConversionError::ContainsNul {
                field: "context.path",
                position: 2,
            },
        ),
    ]
}

#[test]
fn over_limit_events_fail_with_the_specific_error() {
    for (what, ev, expected) in over_limit_cases() {
        assert_eq!(
            check_kernel_fit(&ev),
            Err(expected.clone()),
            "{what}: check"
        );
        assert_eq!(
            convert_to_kernel_format(&ev),
            Err(expected.clone()),
            "{what}"
        );
        let mut out = vec![1, 2, 3];
        assert!(vexfs_journal_kernel_codec::convert_into(&ev, &mut out).is_err());
        assert_eq!(out, [1, 2, 3], "{what}: output untouched on error");
        let message = expected.to_string();
        assert!(!message.is_empty());
    }
    assert_eq!(
        ConversionError::PathTooLong { len: 4096 }.to_string(),
        "path is 4096 bytes but the kernel's path field (char[4096]) holds at most 4095"
    );
    assert_eq!(
        ConversionError::AgentIdTooLong { len: 70 }.to_string(),
        "agent id is 70 bytes but the kernel's agent_id field (char[64]) holds at most 63"
    );
}

#[test]
fn decoding_refuses_what_is_not_exactly_one_valid_kernel_event() {
    let bytes = convert_to_kernel_format(&category_events()[3].1).unwrap();
    // Trailing bytes.
    let mut longer = bytes.clone();
    longer.extend_from_slice(&[0; 5]);
    assert_eq!(
        convert_from_kernel_format(&longer),
        Err(ConversionError::TrailingBytes {
            size: bytes.len(),
            extra: 5
        })
    );
    // …which decode_prefix accepts.
    assert_eq!(decode_prefix(&longer).unwrap().1, bytes.len());
    // Truncated.
    assert!(matches!(
        convert_from_kernel_format(&bytes[..bytes.len() - 1]),
        Err(ConversionError::Decode(FormatError::Truncated { .. }))
    ));
    assert!(matches!(
        convert_from_kernel_format(&bytes[..100]),
        Err(ConversionError::Decode(FormatError::Truncated { .. }))
    ));
    // A flipped payload bit.
    let mut flipped = bytes.clone();
    flipped[EVENT_HEADER_SIZE + CONTEXT_SIZE] ^= 1;
    assert!(matches!(
        convert_from_kernel_format(&flipped),
        Err(ConversionError::Decode(
            FormatError::ChecksumMismatch { .. }
        ))
    ));
    // Every single-bit flip is refused (never a different event).
    for bit in (0..bytes.len() * 8).step_by(7) {
        let mut b = bytes.clone();
        b[bit / 8] ^= 1 << (bit % 8);
        assert!(
            convert_from_kernel_format(&b).is_err(),
            "bit {bit} flipped was accepted"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// userspace → kernel → userspace is the identity within the kernel limits.
    #[test]
    fn round_trip_is_identity_within_limits(ev in common::kernel_fit_event()) {
        check_kernel_fit(&ev).unwrap();
        let bytes = convert_to_kernel_format(&ev).unwrap();
        prop_assert_eq!(bytes.len(), EVENT_HEADER_SIZE + CONTEXT_SIZE + ev.payload.len()
            + ev.metadata.len() + ev.links.len() * CAUSALITY_LINK_SIZE);
        let back = convert_from_kernel_format(&bytes).unwrap();
        prop_assert_eq!(&back, &ev);
        // And kernel → userspace → kernel gives the same bytes.
        prop_assert_eq!(convert_to_kernel_format(&back).unwrap(), bytes);
    }

    /// An event pushed over one limit fails with that limit's error, whatever else it
    /// holds.
    #[test]
    fn over_limit_fails_with_the_specific_error(
        ev in common::kernel_fit_event(),
        which in 0usize..6,
        extra in 0usize..300,
    ) {
        let mut ev = ev;
        // Keep the other fields within limits but make earlier-checked sections small,
        // so the chosen limit is the first one broken.
        let expected = match which {
            0 => {
                ev.payload = vec![1; MAX_PAYLOAD_SIZE + 1 + extra];
                ConversionError::PayloadTooLarge { size: MAX_PAYLOAD_SIZE + 1 + extra }
            }
            1 => {
                ev.payload.truncate(10);
                ev.metadata = vec![1; MAX_METADATA_SIZE + 1 + extra];
                ConversionError::MetadataTooLarge { size: MAX_METADATA_SIZE + 1 + extra }
            }
            2 => {
                ev.payload.truncate(10);
                ev.metadata.truncate(10);
                ev.links = vec![CausalityLink::default(); MAX_CAUSALITY_LINKS + 1 + extra];
                ConversionError::TooManyLinks { count: MAX_CAUSALITY_LINKS + 1 + extra }
            }
            3 => {
                ev.context.path = BString::from(vec![b'/'; PATH_MAX + extra]);
                ConversionError::PathTooLong { len: PATH_MAX + extra }
            }
            4 => {
                ev.context.path = BString::from("/ok");
                ev.context.agent_id = BString::from(vec![b'a'; AGENT_ID_CAPACITY + extra]);
                ConversionError::AgentIdTooLong { len: AGENT_ID_CAPACITY + extra }
            }
            _ => {
                ev.context.path = BString::from(vec![b'/'; extra + 1]);
                ev.context.path.push(0);
                ConversionError::ContainsNul { field: "context.path", position: extra + 1 }
            }
        };
        prop_assert_eq!(convert_to_kernel_format(&ev), Err(expected));
    }
}
