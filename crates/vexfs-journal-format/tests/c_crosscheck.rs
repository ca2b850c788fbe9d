//! C cross-check: compiles `tests/c/kernel_layout.c` (packed structs of
//! `tests/c/vexfs_kernel.h`) with the system C compiler and checks that C and Rust agree
//! on every struct size and field offset, on the kernel crc32, and on the bytes of a
//! complete kernel event written by C.
//!
//! The compiler is `$CC` (first word: the program, the rest: extra arguments) or `cc`.
//! A missing compiler fails the test: CI installs gcc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use vexfs_journal_testkit::c::{compile_c, scratch_dir};

use vexfs_journal_format::consts::{CONTEXT_SIZE, EVENT_HEADER_SIZE};
use vexfs_journal_format::layout::{EVENT_CHECKSUM_OFFSET, all_layouts};
use vexfs_journal_format::{
    BString, CausalityLink, Event, EventFlags, Priority, Timestamp, VectorOp, decode_kernel_event,
    encode_kernel_event, kernel_crc32,
};

const C_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c");

/// (struct, size, [(field, offset, size)]) in declaration order.
type Layouts = Vec<(String, usize, Vec<(String, usize, usize)>)>;

/// What one run of the C program produced.
struct CRun {
    layouts: Layouts,
    crc_check: u32,
    event_crc: u32,
    event_size: usize,
    event: Vec<u8>,
}

fn compile(dir: &Path) -> PathBuf {
    let exe = dir.join("kernel_layout");
    compile_c(
        "the C cross-check",
        &[
            "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-I", C_DIR,
        ],
        &exe,
        &Path::new(C_DIR).join("kernel_layout.c"),
        &[],
    );
    exe
}

fn parse_num(word: Option<&str>, line: &str) -> usize {
    word.and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("bad number in C output line `{line}`"))
}

fn parse_hex(word: Option<&str>, line: &str) -> u32 {
    word.and_then(|w| w.strip_prefix("0x"))
        .and_then(|w| u32::from_str_radix(w, 16).ok())
        .unwrap_or_else(|| panic!("bad hex number in C output line `{line}`"))
}

fn parse_output(stdout: &str) -> (Layouts, Option<u32>, Option<u32>, Option<usize>) {
    let mut layouts: Layouts = Vec::new();
    let (mut crc_check, mut event_crc, mut event_size) = (None, None, None);
    for line in stdout.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("struct") => {
                let name = words.next().expect("struct name").to_owned();
                let size = parse_num(words.next(), line);
                layouts.push((name, size, Vec::new()));
            }
            Some("field") => {
                let owner = words.next().expect("field struct");
                let name = words.next().expect("field name").to_owned();
                let offset = parse_num(words.next(), line);
                let size = parse_num(words.next(), line);
                let current = layouts
                    .last_mut()
                    .filter(|(s, _, _)| s == owner)
                    .unwrap_or_else(|| panic!("field line outside its struct: `{line}`"));
                current.2.push((name, offset, size));
            }
            Some("crc_123456789") => crc_check = Some(parse_hex(words.next(), line)),
            Some("crc") => event_crc = Some(parse_hex(words.next(), line)),
            Some("event_size") => event_size = Some(parse_num(words.next(), line)),
            _ => panic!("unexpected C output line `{line}`"),
        }
        assert!(words.next().is_none(), "trailing words in `{line}`");
    }
    (layouts, crc_check, event_crc, event_size)
}

/// Compiles and runs the C program once for all tests.
fn c_run() -> &'static CRun {
    static RUN: OnceLock<CRun> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch_dir(env!("CARGO_TARGET_TMPDIR"), "c_crosscheck");
        let exe = compile(&dir);
        let event_path = dir.join("c_event.bin");
        let output = Command::new(&exe)
            .arg(&event_path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
        assert!(
            output.status.success(),
            "{} failed ({}):\n{}",
            exe.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).expect("C output is UTF-8");
        let (layouts, crc_check, event_crc, event_size) = parse_output(&stdout);
        let event = std::fs::read(&event_path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", event_path.display()));
        // Best effort: the directory is unique to this process.
        let _ = std::fs::remove_dir_all(&dir);
        CRun {
            layouts,
            crc_check: crc_check.expect("C printed no `crc_123456789` line"),
            event_crc: event_crc.expect("C printed no `crc` line"),
            event_size: event_size.expect("C printed no `event_size` line"),
            event,
        }
    })
}

fn rust_layouts() -> Layouts {
    all_layouts()
        .into_iter()
        .map(|s| {
            let fields = s
                .fields
                .iter()
                .map(|f| (f.name.to_owned(), f.offset, f.size))
                .collect();
            (s.name.to_owned(), s.size, fields)
        })
        .collect()
}

#[test]
fn struct_and_field_layouts_match_c() {
    let c = &c_run().layouts;
    let rust = rust_layouts();

    // Same set of structs, nothing missing on either side.
    let c_names: BTreeSet<&str> = c.iter().map(|s| s.0.as_str()).collect();
    let rust_names: BTreeSet<&str> = rust.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(c_names.len(), c.len(), "C printed a struct twice");
    assert_eq!(
        c_names.difference(&rust_names).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "structs in C but not in all_layouts()"
    );
    assert_eq!(
        rust_names.difference(&c_names).collect::<Vec<_>>(),
        Vec::<&&str>::new(),
        "structs in all_layouts() but not in C"
    );

    for (name, rust_size, rust_fields) in &rust {
        let (_, c_size, c_fields) = c.iter().find(|s| &s.0 == name).expect("checked above");
        assert_eq!(c_size, rust_size, "sizeof(struct {name})");

        // Same set of fields.
        let c_set: BTreeSet<&str> = c_fields.iter().map(|f| f.0.as_str()).collect();
        let rust_set: BTreeSet<&str> = rust_fields.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(
            c_set.len(),
            c_fields.len(),
            "{name}: C printed a field twice"
        );
        assert_eq!(
            c_set.difference(&rust_set).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "{name}: fields in C but not in all_layouts()"
        );
        assert_eq!(
            rust_set.difference(&c_set).collect::<Vec<_>>(),
            Vec::<&&str>::new(),
            "{name}: fields in all_layouts() but not in C"
        );

        // Same offset and size for every field.
        for (field, rust_off, rust_len) in rust_fields {
            let (_, c_off, c_len) = c_fields.iter().find(|f| &f.0 == field).expect("same set");
            assert_eq!(
                (c_off, c_len),
                (rust_off, rust_len),
                "{name}.{field}: (offset, size) C vs Rust"
            );
        }
        // And the same declaration order.
        assert_eq!(c_fields, rust_fields, "{name}: field order");
    }
    assert_eq!(*c, rust, "whole layout table");
}

#[test]
fn c_crc32_le_matches_kernel_crc32() {
    let run = c_run();
    assert_eq!(run.crc_check, 0x2DFD_2D88, "C crc32_le(0, \"123456789\")");
    assert_eq!(run.crc_check, kernel_crc32(b"123456789"));
}

/// The event `kernel_layout.c` writes, built in Rust from the same values.
fn expected_event() -> Event {
    const ID: u64 = 0x00C0_FFEE_0000_0017;
    const PARENT: u64 = 0x00C0_FFEE_0000_0016;
    const ROOT: u64 = 0x00C0_FFEE_0000_0001;
    let agent_id = "c-agent-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOPQ";
    assert_eq!(agent_id.len(), 63, "longest agent_id that fits char[64]");
    let long_description: BString = (0..127u8)
        .map(|i| b'A' + i % 26)
        .collect::<Vec<u8>>()
        .into();

    let mut ev = Event::vector(VectorOp::Similarity)
        .subtype(0xA5A5_0001)
        .timestamp(Timestamp {
            ktime_ns: 1_767_225_600_123_456_789,
            sequence: 987_654_321_012,
            cpu_id: 7,
            process_id: 31337,
        })
        .flags(
            EventFlags::CAUSAL
                | EventFlags::AGENT_VISIBLE
                | EventFlags::COMPRESSED
                | EventFlags::INDEXED,
        )
        .priority(Priority::HIGH)
        .parent(PARENT)
        .root_cause(ROOT)
        .visibility(0x8000_0000_0000_0005)
        .relevance(77)
        .replay_priority(Priority::CRITICAL.code())
        .tx(0xDEAD_BEEF_0000_0001)
        .session(0x5E55_1010)
        .causality_chain(0xC4A1_0000_0000_0009)
        .path("/c/written/by/gcc")
        .inode(0x0000_0001_0000_0002)
        .file_type(0o100644)
        .graph_node(0x6A_0000_0001)
        .graph_edge(0x6A_0000_0002)
        .graph_operation(4)
        .vector_ref(31337, 1536)
        .vector_element_type(2)
        .agent_id(agent_id)
        .intent("verify the packed layout from C")
        .confidence(93)
        .system_load(250)
        .memory_usage(10 << 30)
        .io_pressure(17)
        .tags(r#"{"lang":"c","tool":"gcc","check":["layout","crc"]}"#)
        .semantic_intent("cross-language byte compatibility")
        .semantic_confidence(100)
        .payload(b"C-payload\x00\x01\x7f\x80\xfe\xffend".to_vec())
        .metadata(br#"{"writer":"kernel_layout.c","lang":"c11"}"#.to_vec())
        .link(CausalityLink {
            cause_event_id: PARENT,
            effect_event_id: ID,
            causality_type: 1,
            strength: 90,
            delay_ns: 2500,
            description: "written by gcc before the Rust decoder reads it".into(),
        })
        .link(CausalityLink {
            cause_event_id: ROOT,
            effect_event_id: ID,
            causality_type: 3,
            strength: 0,
            delay_ns: -42,
            description: long_description,
        });
    ev.event_id = ID;
    ev.global_sequence = 0x0102_0304_0506_0708;
    ev.local_sequence = 0x1112_1314_1516_1718;
    ev.compression_type = 2;
    ev.encryption_type = 5;
    ev
}

#[test]
fn c_written_event_has_consistent_sizes_and_checksum() {
    let run = c_run();
    let bytes = &run.event;
    assert_eq!(bytes.len(), run.event_size, "file length vs C event_size");
    let expected = expected_event();
    let sections = EVENT_HEADER_SIZE
        + CONTEXT_SIZE
        + expected.payload.len()
        + expected.metadata.len()
        + 2 * 160;
    assert_eq!(
        bytes.len(),
        sections,
        "C event size vs the expected sections"
    );

    let stored = u32::from_le_bytes(
        bytes[EVENT_CHECKSUM_OFFSET..EVENT_CHECKSUM_OFFSET + 4]
            .try_into()
            .unwrap(),
    );
    assert_eq!(
        stored, run.event_crc,
        "stored checksum vs the crc C printed"
    );
    let mut zeroed = bytes.clone();
    zeroed[EVENT_CHECKSUM_OFFSET..EVENT_CHECKSUM_OFFSET + 4].fill(0);
    assert_eq!(
        kernel_crc32(&zeroed),
        run.event_crc,
        "Rust kernel_crc32 of the C event (checksum zeroed) vs C crc32_le"
    );
}

#[test]
fn rust_decodes_the_c_written_event() {
    let run = c_run();
    let (decoded, size) =
        decode_kernel_event(&run.event).expect("decode_kernel_event rejects the C event");
    assert_eq!(size, run.event.len(), "decoded size");
    let expected = expected_event();
    // Field by field first, for readable failures; then the whole event.
    assert_eq!(decoded.event_id, expected.event_id, "event_id");
    assert_eq!(decoded.event_type, expected.event_type, "event_type");
    assert_eq!(decoded.subtype, expected.subtype, "subtype");
    assert_eq!(decoded.timestamp, expected.timestamp, "timestamp");
    assert_eq!(decoded.global_sequence, expected.global_sequence);
    assert_eq!(decoded.local_sequence, expected.local_sequence);
    assert_eq!(decoded.flags, expected.flags, "flags");
    assert_eq!(decoded.priority, expected.priority, "priority");
    assert_eq!(decoded.compression_type, expected.compression_type);
    assert_eq!(decoded.encryption_type, expected.encryption_type);
    assert_eq!(decoded.parent_event_id, expected.parent_event_id);
    assert_eq!(decoded.root_cause_event_id, expected.root_cause_event_id);
    assert_eq!(
        decoded.agent_visibility_mask,
        expected.agent_visibility_mask
    );
    assert_eq!(
        decoded.agent_relevance_score,
        expected.agent_relevance_score
    );
    assert_eq!(decoded.replay_priority, expected.replay_priority);
    assert_eq!(decoded.context, expected.context, "context");
    assert_eq!(decoded.payload, expected.payload, "payload");
    assert_eq!(decoded.metadata, expected.metadata, "metadata");
    assert_eq!(decoded.links, expected.links, "links");
    assert_eq!(decoded, expected, "whole event");
}

#[test]
fn rust_encoder_matches_the_c_bytes() {
    let run = c_run();
    let mut encoded = Vec::new();
    let size = encode_kernel_event(&expected_event(), &mut encoded).expect("encode");
    assert_eq!(size, encoded.len());
    assert_eq!(encoded.len(), run.event.len(), "encoded length vs C length");
    if let Some(first) = encoded.iter().zip(&run.event).position(|(a, b)| a != b) {
        panic!(
            "Rust and C bytes differ first at offset {first}: Rust {:#04x}, C {:#04x}",
            encoded[first], run.event[first]
        );
    }
    assert_eq!(encoded, run.event);
}
