//! End-to-end tests of `vexjournal kernel export|import|sync|inspect|layout` and
//! `vexjournal query -o kernel`, running the real binary.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};
use vexfs_journal::format::layout::all_layouts;
use vexfs_journal::{Config, Event, FsOp, Journal, JournalReader, Query};
use vexfs_journal_kernel::{
    ImageWriter, WriterOptions, convert_to_kernel_format, read_image, read_image_from,
};

struct Run {
    code: Option<i32>,
    stdout: Vec<u8>,
    stderr: String,
}
use common::bin;

impl Run {
    fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.text(), self.stderr))
    }

    #[track_caller]
    fn ok(self) -> Self {
        assert_eq!(
            self.code,
            Some(0),
            "command failed\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        self
    }
}

fn vj(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut cmd = bin();
    cmd.arg("--dir").arg(dir).args(args);
    let Output {
        status,
        stdout,
        stderr,
    } = common::run_raw(cmd, stdin);
    Run {
        code: status.code(),
        stdout,
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

fn init(dir: &Path) {
    vj(dir, &["init"], b"").ok();
}

fn emit(dir: &Path, events: &[Value]) {
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    vj(dir, &["emit"], text.as_bytes()).ok();
}

fn sample_events() -> Vec<Value> {
    vec![
        json!({"type": "filesystem.write", "path": "/models/a.bin", "inode": 7, "payload": "hello",
               "time": "2026-01-02T03:04:05Z"}),
        json!({"type": "agent.decision", "agent": "planner-7", "intent": "evict cold vectors",
               "metadata": {"k": 1}, "links": [{"cause": 1, "effect": 2, "type": 1, "strength": 80}]}),
        json!({"type": "vector.search", "vector": 31337, "dims": 768, "priority": "high"}),
        json!({"type": "filesystem.write", "path": "/models/b.bin", "inode": 8}),
        json!({"type": "system.checkpoint", "memory": 12345}),
    ]
}

fn events_of(dir: &Path) -> Vec<Event> {
    JournalReader::open(dir)
        .unwrap()
        .query(&Query::new())
        .unwrap()
        .events
        .into_iter()
        .map(|s| s.event)
        .collect()
}

#[test]
fn layout_prints_every_struct_from_the_code() {
    let dir = tempfile::tempdir().unwrap();
    let text = vj(dir.path(), &["kernel", "layout"], b"").ok().text();
    for s in all_layouts() {
        assert!(
            text.contains(&format!("struct {} ({} bytes, packed)", s.name, s.size)),
            "{}:\n{text}",
            s.name
        );
        for f in &s.fields {
            let line = format!("{:>6}  {:>5}  {}", f.offset, f.size, f.name);
            assert!(text.contains(&line), "{}.{}: `{line}`", s.name, f.name);
        }
    }
    assert!(text.contains("struct vexfs_event_header (132 bytes, packed)"));
    assert!(text.contains("    84      4  checksum"));
    assert!(text.contains("struct vexfs_context (5280 bytes, packed)"));
    assert!(text.contains("    24   4096  path"));
    assert!(text.contains("struct vexfs_block_header (104 bytes, packed)"));

    let v = vj(dir.path(), &["kernel", "layout", "-o", "json"], b"")
        .ok()
        .json();
    let structs = v.as_array().unwrap();
    assert_eq!(structs.len(), all_layouts().len());
    let header = structs
        .iter()
        .find(|s| s["struct"] == "vexfs_event_header")
        .unwrap();
    assert_eq!(header["size"], 132);
    assert_eq!(
        header["fields"][21],
        json!({"field": "replay_priority", "offset": 128, "size": 4})
    );
}

#[test]
fn export_then_import_into_another_journal_keeps_every_event() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    init(&a);
    emit(&a, &sample_events());
    let img = tmp.path().join("a.img");
    let img_s = img.to_str().unwrap();
    let report = vj(&a, &["kernel", "export", "--out", img_s, "-o", "json"], b"")
        .ok()
        .json();
    assert_eq!(report["export"]["events"], 5);
    let len = std::fs::metadata(&img).unwrap().len();
    assert_eq!(len % 4096, 0, "kernel images are 4096-aligned blocks");
    assert_eq!(report["image_summary"]["bytes"], len);
    let source_events = events_of(&a);
    let image = read_image(&img).unwrap();
    assert_eq!(image.events().cloned().collect::<Vec<_>>(), source_events);

    init(&b);
    emit(&b, &[json!({"type": "system.mount"})]);
    let r = vj(&b, &["kernel", "import", img_s, "-o", "json"], b"")
        .ok()
        .json();
    assert_eq!(r["imported"], 5);
    assert_eq!(r["synced_after"], 5);
    assert_eq!(r["journal_ranges"], json!([[3, 7]]));
    let imported: Vec<Event> = events_of(&b)[2..].to_vec();
    assert_eq!(
        imported, source_events,
        "ids, sequences and timestamps kept"
    );

    // Again: nothing added.
    let again = vj(&b, &["kernel", "import", img_s, "-o", "json"], b"")
        .ok()
        .json();
    assert_eq!(
        (
            again["imported"].as_u64(),
            again["already_present"].as_u64()
        ),
        (Some(0), Some(5))
    );
    assert_eq!(events_of(&b).len(), 7);
    let table = vj(&b, &["kernel", "import", img_s], b"").ok().text();
    assert!(
        table.contains("already present") && table.contains("5 -> 5"),
        "{table}"
    );

    // The merged journal exports without the bridge marker; by origin on request.
    let out = tmp.path().join("b.img");
    let out_s = out.to_str().unwrap();
    let r = vj(&b, &["kernel", "export", "--out", out_s, "-o", "json"], b"")
        .ok()
        .json();
    assert_eq!(
        (
            r["export"]["events"].as_u64(),
            r["export"]["markers_skipped"].as_u64()
        ),
        (Some(6), Some(1))
    );
    let r = vj(
        &b,
        &[
            "kernel", "export", "--origin", "kernel", "--out", out_s, "-o", "json",
        ],
        b"",
    )
    .ok()
    .json();
    assert_eq!(r["export"]["events"], 5);
    assert_eq!(
        read_image(&out)
            .unwrap()
            .events()
            .cloned()
            .collect::<Vec<_>>(),
        source_events
    );
}

#[test]
fn export_takes_the_query_filters() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    init(&a);
    emit(&a, &sample_events());
    let img = tmp.path().join("w.img");
    let img_s = img.to_str().unwrap();
    vj(
        &a,
        &[
            "kernel",
            "export",
            "--type",
            "filesystem.write",
            "--compression",
            "none",
            "--out",
            img_s,
        ],
        b"",
    )
    .ok();
    let image = read_image(&img).unwrap();
    let paths: Vec<String> = image.events().map(|e| e.context.path.to_string()).collect();
    assert_eq!(paths, ["/models/a.bin", "/models/b.bin"]);
    assert!(
        image
            .blocks
            .iter()
            .all(|b| b.header.compression.code() == 0)
    );
    vj(
        &a,
        &[
            "kernel",
            "export",
            "--path-prefix",
            "/models/b",
            "-n",
            "1",
            "--out",
            img_s,
        ],
        b"",
    )
    .ok();
    assert_eq!(read_image(&img).unwrap().stats.events, 1);
    // To stdout.
    let run = vj(
        &a,
        &["kernel", "export", "--category", "agent", "--out", "-"],
        b"",
    )
    .ok();
    let image = read_image_from(&run.stdout[..], "stdout", Default::default()).unwrap();
    assert_eq!(image.stats.events, 1);
    assert!(
        run.stderr.contains("events"),
        "the report goes to stderr: {}",
        run.stderr
    );
}

#[test]
fn query_o_kernel_writes_raw_kernel_events() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    init(&a);
    emit(&a, &sample_events());
    let raw = vj(&a, &["query", "-o", "kernel"], b"").ok().stdout;
    let expected: Vec<u8> = events_of(&a)
        .iter()
        .flat_map(|e| convert_to_kernel_format(e).unwrap())
        .collect();
    assert_eq!(raw, expected);

    // An event the kernel layout cannot carry (journal without kernel compatibility).
    let c = tmp.path().join("c");
    let j = Journal::create(
        &c,
        Config {
            kernel_compatibility: false,
            ..Config::default()
        },
    )
    .unwrap();
    j.emit(Event::filesystem(FsOp::Create).path(vec![b'p'; 5000]))
        .unwrap();
    j.close().unwrap();
    drop(j);
    let run = vj(&c, &["query", "-o", "kernel"], b"");
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains(
            "path is 5000 bytes but the kernel's path field (char[4096]) holds at most 4095"
        ),
        "{}",
        run.stderr
    );
    let img = tmp.path().join("c.img");
    let run = vj(
        &c,
        &["kernel", "export", "--out", img.to_str().unwrap()],
        b"",
    );
    assert_eq!(run.code, Some(1));
    assert!(
        run.stderr.contains("journal sequence 1") && run.stderr.contains("path is 5000 bytes"),
        "{}",
        run.stderr
    );
    assert!(!img.exists(), "no half-written image is left behind");
}

fn kernel_event(k: u64) -> Event {
    let mut ev = Event::filesystem(FsOp::Write)
        .path(format!("/k/{k}"))
        .inode(k);
    ev.event_id = 100 + k;
    ev.global_sequence = k;
    ev.timestamp.ktime_ns = 1_000 + k as i64;
    ev
}

fn kernel_image(range: std::ops::RangeInclusive<u64>, first_block: u64) -> Vec<u8> {
    let mut w = ImageWriter::new(
        Vec::new(),
        "t",
        WriterOptions {
            block_events: 4,
            first_block_id: first_block,
            compression: vexfs_journal::Compression::None,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    for k in range {
        w.push(&kernel_event(k)).unwrap();
    }
    w.finish().unwrap().0
}

#[test]
fn a_damaged_image_imports_its_intact_blocks_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    init(&a);
    let mut bytes = kernel_image(1..=12, 1);
    let blocks = read_image_from(&bytes[..], "t", Default::default())
        .unwrap()
        .blocks;
    let second = blocks[1].offset as usize;
    bytes[second + 3000] ^= 0xFF;
    let img = tmp.path().join("bad.img");
    std::fs::write(&img, &bytes).unwrap();
    let img_s = img.to_str().unwrap();

    let run = vj(&a, &["kernel", "inspect", img_s], b"");
    assert_eq!(run.code, Some(2));
    let text = run.text();
    assert!(text.contains("DAMAGED"), "{text}");
    assert!(
        text.contains("2 intact blocks, 8 events, 1 damaged regions"),
        "{text}"
    );
    assert!(
        text.contains(&format!("damaged: bytes {second}..")),
        "{text}"
    );

    let run = vj(&a, &["kernel", "import", img_s, "-o", "json"], b"");
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    let r = run.json();
    assert_eq!(r["imported"], 8);
    assert_eq!(r["damage"][0]["offset"], second);
    assert_eq!(r["damage"][0]["block_id"], 2);
    assert!(
        r["damage"][0]["what"]
            .as_str()
            .unwrap()
            .contains("checksum mismatch")
    );
    let table = vj(&a, &["kernel", "import", img_s], b"");
    assert_eq!(table.code, Some(2));
    assert!(
        table.text().contains(&format!("bytes {second}..")) && table.text().contains("block id 2"),
        "{}",
        table.text()
    );
    let ks: Vec<u64> = events_of(&a)
        .iter()
        .map(|e| e.global_sequence)
        .filter(|k| *k != 0)
        .collect();
    assert_eq!(ks, [1, 2, 3, 4, 9, 10, 11, 12]);

    // Missing file: a clear error naming it.
    let run = vj(&a, &["kernel", "import", "/nonexistent/k.img"], b"");
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("/nonexistent/k.img"), "{}", run.stderr);
}

#[test]
fn sync_imports_what_is_new_and_reports_drift() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    init(&a);
    let src = tmp.path().join("kernel.img");
    let src_s = src.to_str().unwrap();
    std::fs::write(&src, kernel_image(1..=10, 1)).unwrap();
    emit(&a, &sample_events()[..2]);
    let r = vj(
        &a,
        &["kernel", "sync", "--source", src_s, "-o", "json"],
        b"",
    )
    .ok()
    .json();
    assert_eq!(r["imported"], 10);
    assert_eq!(r["kernel_sequence"], 10);
    assert_eq!(r["synced_kernel_sequence"], 10);
    // Marker at 3, events 1..=10 at 4..=13.
    assert_eq!(r["offset"], 10 - 13);

    // Both advance: the kernel by 6, userspace by 2.
    let mut more = std::fs::read(&src).unwrap();
    more.extend(kernel_image(11..=16, 4));
    std::fs::write(&src, more).unwrap();
    emit(&a, &sample_events()[..2]);
    let r = vj(
        &a,
        &["kernel", "sync", "--source", src_s, "-o", "json"],
        b"",
    )
    .ok()
    .json();
    assert_eq!(r["imported"], 6);
    assert_eq!(r["drift"], 4);
    assert_eq!(r["drift_detected"], true);
    let table = vj(&a, &["kernel", "sync", "--source", src_s], b"")
        .ok()
        .text();
    assert!(table.contains("offset (kernel - userspace)"), "{table}");

    let missing = vj(&a, &["kernel", "sync", "--source", "/nonexistent/dev"], b"");
    assert_eq!(missing.code, Some(1));
    assert!(
        missing.stderr.contains("/nonexistent/dev"),
        "{}",
        missing.stderr
    );
}
