//! C cross-check of kernel images: `tests/c/kernel_image.c` (built on the packed structs
//! and crc32 of the format crate's `vexfs_kernel.h`) writes an image with several blocks
//! and events, which the bridge must read and import exactly; and it reads back and
//! verifies an image the bridge wrote.
//!
//! The compiler is `$CC` (first word: the program, the rest: extra arguments) or `cc`.
//! A missing compiler fails the test: CI installs gcc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use vexfs_journal_testkit::c::{compile_c, scratch_dir};

use vexfs_journal::Query;
use vexfs_journal_format::consts::{DEFAULT_VISIBILITY_MASK, PATH_MAX};
use vexfs_journal_format::{
    BString, CausalityLink, Compression, Event, EventFlags, EventType, Priority, Timestamp,
    kernel_crc32,
};
use vexfs_journal_kernel::{
    BridgeConfig, KernelBridge, Origin, Timeline, WriterOptions, check_timeline,
    convert_to_kernel_format, read_image, write_image,
};

const C_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c");

/// Compiles `kernel_image.c` once.
fn program() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let exe = scratch_dir(env!("CARGO_TARGET_TMPDIR"), "c_image").join("kernel_image");
        compile_c(
            "the C cross-check",
            &["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"],
            &exe,
            &Path::new(C_DIR).join("kernel_image.c"),
            &[],
        );
        exe
    })
}

fn run_c(mode: &str, file: &Path) -> String {
    let output = Command::new(program())
        .arg(mode)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C program: {e}"));
    assert!(
        output.status.success(),
        "kernel_image {mode} {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        file.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

const C_EVENTS: u64 = 8;
const C_BLOCK_EVENTS: [u64; 4] = [2, 3, 1, 2];
const TYPES: [u32; 7] = [0x0104, 0x0201, 0x0304, 0x0403, 0x0504, 0x0601, 0x0809];

/// Event `i` exactly as `kernel_image.c` builds it (`build_event`).
fn c_event(i: u64) -> Event {
    let payload_len = if i == 6 { 65_536 } else { (i * 37) % 200 };
    let path = if i == 7 {
        let mut p = vec![b'p'; PATH_MAX - 1];
        p[0] = b'/';
        BString::from(p)
    } else {
        BString::from(format!("/c/image/event-{i}"))
    };
    let mut ev = Event::new(EventType::from_code(TYPES[((i - 1) % 7) as usize]))
        .subtype(i as u32 * 3)
        .timestamp(Timestamp {
            ktime_ns: 1_767_225_600_000_000_000 + i as i64 * 1000,
            sequence: i,
            cpu_id: (i % 4) as u32,
            process_id: 4000 + i as u32,
        })
        .flags(EventFlags::CAUSAL | EventFlags::AGENT_VISIBLE)
        .priority(Priority::from_code((i % 5) as u32 + 1))
        .parent(if i > 1 { 1000 + i - 1 } else { 0 })
        .root_cause(1001)
        .visibility(DEFAULT_VISIBILITY_MASK)
        .relevance(50 + i as u32)
        .replay_priority(3)
        .tx(7000 + i)
        .session(0xC0DE)
        .causality_chain(500)
        .path(path)
        .inode(100 + i)
        .file_type(0o100644)
        .graph_node(10 + i)
        .graph_edge(20 + i)
        .graph_operation((i % 4) as u32)
        .vector_ref(30 + i, 128 * i as u32)
        .vector_element_type(1)
        .agent_id(format!("c-writer-{i}"))
        .intent(format!("intent {i}"))
        .confidence(90)
        .system_load(10 * i as u32)
        .memory_usage(i << 20)
        .io_pressure(i as u32)
        .tags(format!("{{\"i\":{i}}}"))
        .semantic_intent(format!("c image {i}"))
        .semantic_confidence(80)
        .payload(
            (0..payload_len)
                .map(|j| ((i * 31 + j * 7) & 0xff) as u8)
                .collect::<Vec<u8>>(),
        )
        .metadata(format!("{{\"writer\":\"kernel_image.c\",\"event\":{i}}}").into_bytes());
    for j in 0..i % 3 {
        ev = ev.link(CausalityLink {
            cause_event_id: 1000 + i - 1 - j,
            effect_event_id: 1000 + i,
            causality_type: j as u32 + 1,
            strength: 50 + j as u32,
            delay_ns: -(j as i64) * 10,
            description: format!("link {i}.{j}").into(),
        });
    }
    ev.event_id = 1000 + i;
    ev.global_sequence = i;
    ev.local_sequence = i;
    ev
}

fn hex(word: &str) -> u32 {
    u32::from_str_radix(word.trim_start_matches("0x"), 16).unwrap()
}

#[test]
fn the_bridge_imports_a_c_written_image_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.img");
    let out = run_c("write", &path);

    // What C says it wrote.
    let mut c_blocks = Vec::new();
    let mut c_events = Vec::new();
    let mut image_line = None;
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[0] {
            "block" => c_blocks.push((
                w[1].parse::<u64>().unwrap(),
                w[2].parse::<u64>().unwrap(),
                w[3].parse::<u32>().unwrap(),
                w[4].parse::<u32>().unwrap(),
                hex(w[5]),
            )),
            "event" => c_events.push((
                w[1].parse::<u64>().unwrap(),
                w[2].parse::<u64>().unwrap(),
                w[3].parse::<usize>().unwrap(),
                hex(w[4]),
            )),
            "image" => image_line = Some(w[1].parse::<u64>().unwrap()),
            _ => panic!("unexpected C output `{line}`"),
        }
    }
    let bytes_written = image_line.expect("C printed no `image` line");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), bytes_written);
    assert_eq!(c_blocks.len(), C_BLOCK_EVENTS.len());
    assert_eq!(c_events.len() as u64, C_EVENTS);

    // Read by the bridge: every block header as C wrote it, every event as expected.
    let image = read_image(&path).unwrap();
    assert!(image.damage.is_empty(), "{:?}", image.damage);
    assert_eq!(image.blocks.len(), c_blocks.len());
    for (b, (id, offset, size, count, crc)) in image.blocks.iter().zip(&c_blocks) {
        assert_eq!(b.header.block_id, *id);
        assert_eq!(b.offset, *offset);
        assert_eq!(b.header.block_size, *size);
        assert_eq!(b.header.event_count, *count);
        assert_eq!(b.header.block_checksum, *crc);
        assert_eq!(b.header.compression, Compression::None);
    }
    let expected: Vec<Event> = (1..=C_EVENTS).map(c_event).collect();
    let got: Vec<Event> = image.events().cloned().collect();
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e, "event {}", e.event_id);
    }
    assert_eq!(got, expected);
    // Rust encodes each expected event to the bytes C wrote (same size and crc).
    for (ev, (id, seq, size, crc)) in expected.iter().zip(&c_events) {
        assert_eq!((ev.event_id, ev.global_sequence), (*id, *seq));
        let bytes = convert_to_kernel_format(ev).unwrap();
        assert_eq!(bytes.len(), *size, "event {id} size");
        assert_eq!(
            u32::from_le_bytes(bytes[84..88].try_into().unwrap()),
            *crc,
            "event {id} checksum"
        );
    }

    // Imported into a journal: ids, sequences and timestamps kept; once only.
    let (_jdir, journal) = common::journal();
    let bridge = KernelBridge::new(journal.clone(), BridgeConfig::default()).unwrap();
    let report = bridge.import_image(&path).unwrap();
    assert_eq!(report.imported, C_EVENTS);
    assert!(report.damage.is_empty());
    assert_eq!(report.kernel_range, Some((1, C_EVENTS)));
    let again = bridge.import_image(&path).unwrap();
    assert_eq!((again.imported, again.already_present), (0, C_EVENTS));
    let timeline = Timeline::load(&journal).unwrap();
    let page = journal.query(&Query::new()).unwrap();
    let imported: Vec<Event> = page
        .events
        .iter()
        .filter(|s| timeline.origin(s.seq) == Origin::Kernel)
        .map(|s| s.event.clone())
        .collect();
    assert_eq!(imported, expected, "the journal holds exactly the C events");
    assert_eq!(
        vexfs_journal::ext::marks(&journal).last_kernel_sync_sequence,
        C_EVENTS
    );
    assert!(check_timeline(&journal).unwrap().is_consistent());
}

#[test]
fn the_c_program_verifies_an_image_the_bridge_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rust.img");
    let mut events: Vec<Event> = vexfs_journal_format::samples::category_events()
        .into_iter()
        .map(|(_, e)| e)
        .collect();
    events.extend((1..=C_EVENTS).map(c_event));
    let opts = WriterOptions {
        compression: Compression::None,
        block_events: 3,
        ..WriterOptions::default()
    };
    let summary = write_image(&path, &events, opts).unwrap();
    let written = read_image(&path).unwrap();

    let out = run_c("read", &path);
    let mut blocks = Vec::new();
    let mut c_events = Vec::new();
    let mut ok = None;
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w[0] {
            "block" => blocks.push(w[1..].iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            "event" => c_events.push(w[1..].iter().map(|s| s.to_string()).collect::<Vec<_>>()),
            "ok" => ok = Some((w[1].parse::<u64>().unwrap(), w[2].parse::<u64>().unwrap())),
            _ => panic!("unexpected C output `{line}`"),
        }
    }
    assert_eq!(ok, Some((summary.blocks, summary.events)), "C's verdict");
    assert_eq!(blocks.len(), written.blocks.len());
    for (c, b) in blocks.iter().zip(&written.blocks) {
        let expect = [
            b.header.block_id.to_string(),
            b.offset.to_string(),
            b.header.block_size.to_string(),
            b.header.event_count.to_string(),
            b.header.first_event_id.to_string(),
            b.header.last_event_id.to_string(),
            format!("0x{:08x}", b.header.block_checksum),
        ];
        assert_eq!(c[..], expect[..], "block as C read it");
    }
    assert_eq!(c_events.len(), events.len());
    for (c, ev) in c_events.iter().zip(&events) {
        let bytes = convert_to_kernel_format(ev).unwrap();
        let path =
            String::from_utf8_lossy(&ev.context.path[..ev.context.path.len().min(64)]).to_string();
        let mut expect = vec![
            ev.event_id.to_string(),
            ev.global_sequence.to_string(),
            ev.event_type.code().to_string(),
            ev.payload.len().to_string(),
            ev.metadata.len().to_string(),
            ev.links.len().to_string(),
            format!(
                "0x{:08x}",
                u32::from_le_bytes(bytes[84..88].try_into().unwrap())
            ),
            format!("0x{:08x}", kernel_crc32(&ev.payload)),
        ];
        if !path.is_empty() {
            expect.push(path);
        }
        assert_eq!(c[..], expect[..], "event {} as C read it", ev.event_id);
    }
}

#[test]
fn the_c_program_rejects_a_damaged_rust_image() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.img");
    let events: Vec<Event> = (1..=4).map(c_event).collect();
    let opts = WriterOptions {
        compression: Compression::None,
        block_events: 2,
        ..WriterOptions::default()
    };
    write_image(&path, &events, opts).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[104 + 300] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let output = Command::new(program())
        .arg("read")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success(), "C accepted a damaged image");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.contains("block checksum at 0"), "{err}");
}
