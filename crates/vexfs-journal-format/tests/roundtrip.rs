//! Property tests: every event within the limits survives both encodings unchanged, and
//! every over-limit event fails with the error naming what does not fit.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

use proptest::prelude::*;
use vexfs_journal_format::kernel::check_kernel_limits;
use vexfs_journal_format::*;

fn text(max: usize) -> impl Strategy<Value = BString> {
    prop::collection::vec(1u8..=255, 0..=max).prop_map(BString::from)
}

prop_compose! {
    fn context()(
        ids in prop::array::uniform8(prop_oneof![Just(0u64), any::<u64>()]),
        small in prop::array::uniform9(prop_oneof![Just(0u32), any::<u32>()]),
        path in text(300), agent_id in text(63), agent_intent in text(255),
        semantic_tags in text(511), semantic_intent in text(255),
    ) -> Context {
        Context {
            transaction_id: ids[0], session_id: ids[1], causality_chain_id: ids[2], path,
            inode_number: ids[3], file_type: small[0], graph_node_id: ids[4], graph_edge_id: ids[5],
            graph_operation_type: small[1], vector_id: ids[6], vector_dimensions: small[2],
            vector_element_type: small[3], agent_id, agent_intent, agent_confidence: small[4],
            system_load: small[5], memory_usage: ids[7], io_pressure: small[6], semantic_tags,
            semantic_intent, semantic_confidence: small[7],
        }
    }
}

prop_compose! {
    fn link()(ids in any::<(u64, u64, u32, u32, i64)>(), description in text(127)) -> CausalityLink {
        CausalityLink { cause_event_id: ids.0, effect_event_id: ids.1, causality_type: ids.2, strength: ids.3, delay_ns: ids.4, description }
    }
}

prop_compose! {
    fn event()(
        code in prop_oneof![prop::sample::select(EventType::all().collect::<Vec<_>>()), any::<u32>().prop_map(EventType::from_code)],
        header in any::<(u64, u32, i64, u64, u32, u32, u64, u64)>(),
        more in any::<(u32, u32, u32, u32, u64, u64, u64, u32, u32)>(),
        context in context(),
        payload in prop::collection::vec(any::<u8>(), 0..600),
        metadata in prop::collection::vec(any::<u8>(), 0..200),
        links in prop::collection::vec(link(), 0..4),
    ) -> Event {
        Event {
            event_id: header.0, event_type: code, subtype: header.1,
            timestamp: Timestamp { ktime_ns: header.2, sequence: header.3, cpu_id: header.4, process_id: header.5 },
            global_sequence: header.6, local_sequence: header.7,
            flags: EventFlags::from_bits_retain(more.0), priority: Priority::from_code(more.1),
            compression_type: more.2, encryption_type: more.3, parent_event_id: more.4,
            root_cause_event_id: more.5, agent_visibility_mask: more.6,
            agent_relevance_score: more.7, replay_priority: more.8,
            context, payload, metadata, links,
        }
    }
}

prop_compose! {
    fn ext()(v in any::<(u32, u64, u64, u64, u64, u64, u64, u32)>()) -> RecordExt {
        RecordExt { userspace_flags: v.0 & !1, emission_latency_ns: v.1, buffer_position: v.2, cross_boundary_id: v.3,
            userspace_sequence: v.4, processing_timestamp: v.5, persistence_timestamp: v.6, retry_count: v.7 }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn kernel_round_trip(ev in event()) {
        prop_assert!(check_kernel_limits(&ev).is_ok());
        let mut bytes = Vec::new();
        let size = encode_kernel_event(&ev, &mut bytes).unwrap();
        prop_assert_eq!(size, bytes.len());
        let (decoded, used) = decode_kernel_event(&bytes).unwrap();
        prop_assert_eq!(used, size);
        prop_assert_eq!(&decoded, &ev);
        let mut again = Vec::new();
        encode_kernel_event(&decoded, &mut again).unwrap();
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn record_round_trip(ev in event(), ext in ext()) {
        let mut bytes = vec![0xAA; 3]; // encoding appends: existing bytes stay
        let size = encode_record(&ev, &ext, &mut bytes).unwrap();
        prop_assert_eq!(&bytes[..3], &[0xAA; 3]);
        let (decoded, decoded_ext, used) = decode_record(&bytes[3..]).unwrap();
        prop_assert_eq!(used, size);
        prop_assert_eq!(&decoded, &ev);
        prop_assert_eq!(decoded_ext, ext);
        let mut again = Vec::new();
        encode_record(&decoded, &decoded_ext, &mut again).unwrap();
        prop_assert_eq!(&again[..], &bytes[3..]);
    }

    #[test]
    fn records_are_compact(ev in event()) {
        let mut record = Vec::new();
        encode_record(&ev, &RecordExt::default(), &mut record).unwrap();
        let mut kernel = Vec::new();
        encode_kernel_event(&ev, &mut kernel).unwrap();
        // The compact context never costs more than the kernel's fixed 5280 bytes.
        prop_assert!(record.len() < kernel.len());
    }
}

fn kernel_error(ev: &Event) -> FormatError {
    let mut out = vec![1, 2, 3];
    let err = encode_kernel_event(ev, &mut out).unwrap_err();
    assert_eq!(
        out,
        vec![1, 2, 3],
        "a failed encode leaves the buffer untouched"
    );
    assert_eq!(check_kernel_limits(ev).unwrap_err(), err);
    err
}

#[test]
fn over_limit_events_fail_with_the_specific_error() {
    let base = Event::filesystem(FsOp::Write);
    let path = "p".repeat(4096);
    assert_eq!(
        kernel_error(&base.clone().path(path.as_str())),
        FormatError::StringTooLong {
            field: "context.path",
            len: 4096,
            capacity: 4096
        }
    );
    // 4095 bytes plus the NUL fit exactly.
    let ok = base.clone().path(&path[..4095]);
    let mut out = Vec::new();
    encode_kernel_event(&ok, &mut out).unwrap();
    assert_eq!(decode_kernel_event(&out).unwrap().0, ok);

    assert_eq!(
        kernel_error(&base.clone().agent_id("a".repeat(64))),
        FormatError::StringTooLong {
            field: "context.agent_id",
            len: 64,
            capacity: 64
        }
    );
    assert_eq!(
        kernel_error(&base.clone().intent("i".repeat(256))),
        FormatError::StringTooLong {
            field: "context.agent_intent",
            len: 256,
            capacity: 256
        }
    );
    assert_eq!(
        kernel_error(&base.clone().tags("t".repeat(512))),
        FormatError::StringTooLong {
            field: "context.semantic_tags",
            len: 512,
            capacity: 512
        }
    );
    assert_eq!(
        kernel_error(&base.clone().payload(vec![0u8; 65_537])),
        FormatError::OverLimit {
            field: "payload",
            size: 65_537,
            limit: 65_536
        }
    );
    assert!(encode_kernel_event(&base.clone().payload(vec![7u8; 65_536]), &mut Vec::new()).is_ok());
    assert_eq!(
        kernel_error(&base.clone().metadata(vec![0u8; 2049])),
        FormatError::OverLimit {
            field: "metadata",
            size: 2049,
            limit: 2048
        }
    );
    let mut many = base.clone();
    many.links = vec![CausalityLink::default(); 257];
    assert_eq!(
        kernel_error(&many),
        FormatError::OverLimit {
            field: "causality link count",
            size: 257,
            limit: 256
        }
    );
    many.links.truncate(256);
    assert!(encode_kernel_event(&many, &mut Vec::new()).is_ok());
    let long_link = base.clone().link(CausalityLink {
        description: "d".repeat(128).into(),
        ..Default::default()
    });
    assert_eq!(
        kernel_error(&long_link),
        FormatError::StringTooLong {
            field: "causality link description",
            len: 128,
            capacity: 128
        }
    );
    assert_eq!(
        kernel_error(&base.clone().path("/a\0b")),
        FormatError::ContainsNul {
            field: "context.path",
            position: 2
        }
    );
}

#[test]
fn records_take_longer_strings_than_the_kernel() {
    let ev = Event::filesystem(FsOp::Create)
        .path("x".repeat(10_000))
        .payload(vec![1u8; 100_000]);
    let mut out = Vec::new();
    encode_record(&ev, &RecordExt::default(), &mut out).unwrap();
    assert_eq!(decode_record(&out).unwrap().0, ev);
    let too_long = Event::filesystem(FsOp::Create).path("x".repeat(65_536));
    assert_eq!(
        encode_record(&too_long, &RecordExt::default(), &mut out).unwrap_err(),
        FormatError::OverLimit {
            field: "context.path",
            size: 65_536,
            limit: 65_535
        }
    );
}
