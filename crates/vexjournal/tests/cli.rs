//! End-to-end tests of the `vexjournal` binary: `init`, `emit`, `cat`, `stats`, the
//! journal directory options and the single-writer lock.
//!
//! Every test runs the real binary (`CARGO_BIN_EXE_vexjournal`) in its own temporary
//! directory and checks what it prints, its exit status and what the journal holds
//! afterwards (read back through `cat`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::bin;
use serde_json::{Value, json};

/// Longest any single command may take before the test fails instead of hanging.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// What one command did.
#[derive(Debug)]
struct Out {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(self) -> Self {
        assert!(
            self.status.success(),
            "command failed with {}\nstdout:\n{}\nstderr:\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    #[track_caller]
    fn fails(self) -> Self {
        assert!(
            !self.status.success(),
            "command unexpectedly succeeded\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Runs `cmd` with `stdin` as its standard input; fails the test after
/// [`COMMAND_TIMEOUT`].
fn run_cmd(mut cmd: Command, stdin: &[u8]) -> Out {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning vexjournal");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // The child may stop reading early (a bad line): a broken pipe is expected then.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        out_pipe.read_to_end(&mut s).unwrap();
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        err_pipe.read_to_end(&mut s).unwrap();
        s
    });
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("vexjournal did not finish within {COMMAND_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    writer.join().unwrap();
    let stdout = String::from_utf8(out_reader.join().unwrap()).expect("stdout is UTF-8");
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    Out {
        status,
        stdout,
        stderr,
    }
}

/// `vexjournal --dir <dir> <args…>` with `stdin`.
fn vj(dir: &Path, args: &[&str], stdin: &[u8]) -> Out {
    let mut cmd = bin();
    cmd.arg("--dir").arg(dir).args(args);
    run_cmd(cmd, stdin)
}

fn init(dir: &Path) {
    let out = vj(dir, &["init"], b"").ok();
    assert!(
        out.stdout.starts_with("created journal "),
        "init prints what it created: {:?}",
        out.stdout
    );
}

/// NDJSON text of `events`, one per line.
fn ndjson(events: &[Value]) -> String {
    events.iter().map(|e| format!("{e}\n")).collect()
}

/// Every event of the journal, parsed from `cat -o ndjson` (plus extra `cat` args).
fn cat(dir: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["cat", "-o", "ndjson"];
    args.extend_from_slice(extra);
    let out = vj(dir, &args, b"").ok();
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("cat line {l:?}: {e}")))
        .collect()
}

fn seqs(events: &[Value]) -> Vec<u64> {
    events
        .iter()
        .map(|e| e["seq"].as_u64().expect("every event has a numeric seq"))
        .collect()
}

fn stats_json(dir: &Path) -> Value {
    let out = vj(dir, &["stats", "-o", "json"], b"").ok();
    serde_json::from_str(&out.stdout).expect("stats -o json prints JSON")
}

/// `e` without the given keys.
fn without(e: &Value, keys: &[&str]) -> Value {
    let mut e = e.clone();
    let obj = e.as_object_mut().expect("an event is an object");
    for k in keys {
        obj.remove(*k);
    }
    e
}

/// (input line, expected `cat` output without `seq`/`id`). Every input sets `time` so the
/// output is fully determined; `cpu`/`pid` appear only where the input sets them.
fn schema_cases() -> Vec<(Value, Value)> {
    vec![
        // Type by name, UTF-8 path and payload, priority and flags by name.
        (
            json!({"type": "filesystem.write", "path": "/models/a.bin", "inode": 7,
                   "payload": "hello wörld ✓", "priority": "high", "flags": "atomic|causal",
                   "time": "2025-01-02T03:04:05.000000001Z"}),
            json!({"type": "filesystem.write", "path": "/models/a.bin", "inode": 7,
                   "payload": "hello wörld ✓", "priority": "high", "flags": "atomic|causal",
                   "time": "2025-01-02T03:04:05.000000001Z"}),
        ),
        // Type by hex code string, inode as hex string, priority by number, flags as an
        // array, non-UTF-8 payload in base64.
        (
            json!({"type": "0x0104", "inode": "0x10", "priority": 4,
                   "flags": ["indexed", "replicated"],
                   "payload": {"base64": "/wCAgf4="}, "time": "2025-01-02T03:04:05Z"}),
            json!({"type": "filesystem.write", "inode": 16, "priority": "low",
                   "flags": "indexed|replicated", "payload": {"base64": "/wCAgf4="},
                   "time": "2025-01-02T03:04:05.000000000Z"}),
        ),
        // Type by decimal code (260 = 0x0104), agent, intent, tx, parent, flags as a
        // mask, metadata object, links.
        (
            json!({"type": 260, "agent": "planner-7", "intent": "summarise the shard",
                   "tx": 99, "parent": 1, "flags": 5,
                   "metadata": {"k": [1, 2, {"z": null}], "s": "x", "f": 1.5},
                   "links": [
                       {"cause": 1, "effect": 2, "type": 3, "strength": 80, "delay_ns": -5,
                        "description": "because"},
                       {"cause": 4, "effect": 5, "type": 0, "strength": 0,
                        "description": {"base64": "/w=="}}
                   ],
                   "time": "2024-05-06T07:08:09.123456789Z"}),
            json!({"type": "filesystem.write", "agent": "planner-7",
                   "intent": "summarise the shard", "tx": 99, "parent": 1,
                   "flags": "atomic|causal",
                   "metadata": {"k": [1, 2, {"z": null}], "s": "x", "f": 1.5},
                   "links": [
                       {"cause": 1, "effect": 2, "type": 3, "strength": 80, "delay_ns": -5,
                        "description": "because"},
                       {"cause": 4, "effect": 5, "type": 0, "strength": 0,
                        "description": {"base64": "/w=="}}
                   ],
                   "time": "2024-05-06T07:08:09.123456789Z"}),
        ),
        // Time as integer nanoseconds, cpu/pid, root cause, critical priority.
        (
            json!({"type": "agent.decision", "root_cause": 1, "priority": "critical",
                   "time": 1_700_000_000_000_000_000_i64, "cpu": 3, "pid": 42,
                   "confidence": 87}),
            json!({"type": "agent.decision", "root_cause": 1, "priority": "critical",
                   "time": "2023-11-14T22:13:20.000000000Z", "cpu": 3, "pid": 42,
                   "confidence": 87}),
        ),
        // An unlisted type code given deliberately as `unknown(0x…)` round-trips; unnamed
        // flag bits too. (A bare unknown code or a priority outside 1–5 is refused: see
        // tests/hardening.rs.)
        (
            json!({"type": "unknown(0x0999)", "flags": 257, "priority": 5, "time": 5}),
            json!({"type": "unknown(0x0999)", "flags": "atomic|0x100", "priority": "background",
                   "time": "1970-01-01T00:00:00.000000005Z"}),
        ),
        // Every remaining field, at the widths' limits where it matters.
        (
            json!({"type": "vector.search", "subtype": 4_294_967_295_u64,
                   "time": "2025-06-07T08:09:10.5Z", "cpu": 4_294_967_295_u64, "pid": 7,
                   "priority": "background", "parent": u64::MAX, "root_cause": 9,
                   "visibility": 0, "relevance": 0, "replay_priority": 1,
                   "compression_type": 2, "encryption_type": 1, "session": 2, "chain": 3,
                   "path": {"base64": "L2Jh/3Bh"}, "inode": u64::MAX, "file_type": 8,
                   "graph_node": 11, "graph_edge": 12, "graph_op": 13, "vector": 14,
                   "dims": 768, "vector_type": 2, "agent": "ägent", "intent": "find ✓",
                   "load": 5, "memory": 123_456_789, "io_pressure": 6, "tags": "a,b",
                   "semantic_intent": {"base64": "gA=="}, "semantic_confidence": 77,
                   "metadata": "just text"}),
            json!({"type": "vector.search", "subtype": 4_294_967_295_u64,
                   "time": "2025-06-07T08:09:10.500000000Z", "cpu": 4_294_967_295_u64,
                   "pid": 7, "priority": "background", "parent": u64::MAX, "root_cause": 9,
                   "visibility": 0, "relevance": 0, "replay_priority": 1,
                   "compression_type": 2, "encryption_type": 1, "session": 2, "chain": 3,
                   "path": {"base64": "L2Jh/3Bh"}, "inode": u64::MAX, "file_type": 8,
                   "graph_node": 11, "graph_edge": 12, "graph_op": 13, "vector": 14,
                   "dims": 768, "vector_type": 2, "agent": "ägent", "intent": "find ✓",
                   "load": 5, "memory": 123_456_789, "io_pressure": 6, "tags": "a,b",
                   "semantic_intent": {"base64": "gA=="}, "semantic_confidence": 77,
                   "metadata": "just text"}),
        ),
        // Defaults are left out: normal priority, no flags, empty payload, nulls.
        // `root_cause` equal to the event's own id (this is line 7: seq 7) is left out.
        (
            json!({"type": "graph.node_create", "priority": "normal", "flags": "none",
                   "payload": "", "inode": null, "root_cause": 7, "time": 6}),
            json!({"type": "graph.node_create", "time": "1970-01-01T00:00:00.000000006Z"}),
        ),
        // Metadata that is not JSON stays base64; base64 of JSON text reads as JSON.
        (
            json!({"type": "system.checkpoint", "metadata": {"base64": "bm90IGpzb24="},
                   "time": 7}),
            json!({"type": "system.checkpoint", "metadata": {"base64": "bm90IGpzb24="},
                   "time": "1970-01-01T00:00:00.000000007Z"}),
        ),
        (
            json!({"type": "SEMANTIC.Intent_Capture", "metadata": {"base64": "eyJhIjoxfQ=="},
                   "tx": "12", "time": 8}),
            json!({"type": "semantic.intent_capture", "metadata": {"a": 1}, "tx": 12,
                   "time": "1970-01-01T00:00:00.000000008Z"}),
        ),
        // Just after the epoch, given with a UTC offset (times before the epoch are
        // refused: see tests/hardening.rs; 0 is the emission time), and another time
        // with an offset.
        (
            json!({"type": "system.mount", "time": "1970-01-01T01:00:00.000000001+01:00"}),
            json!({"type": "system.mount", "time": "1970-01-01T00:00:00.000000001Z"}),
        ),
        (
            json!({"type": "system.unmount", "time": "2024-02-29T12:00:00.25+02:00"}),
            json!({"type": "system.unmount", "time": "2024-02-29T10:00:00.250000000Z"}),
        ),
        // A large binary payload (all byte values).
        (
            json!({"type": "observability.log_generated",
                   "payload": {"base64": b64(&(0..=255u8).cycle().take(3000).collect::<Vec<_>>())},
                   "time": 9}),
            json!({"type": "observability.log_generated",
                   "payload": {"base64": b64(&(0..=255u8).cycle().take(3000).collect::<Vec<_>>())},
                   "time": "1970-01-01T00:00:00.000000009Z"}),
        ),
    ]
}

/// Standard base64 with padding (what the JSON schema uses).
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn base64_helper_matches_known_vectors() {
    assert_eq!(b64(b""), "");
    assert_eq!(b64(b"f"), "Zg==");
    assert_eq!(b64(b"fo"), "Zm8=");
    assert_eq!(b64(b"foo"), "Zm9v");
    assert_eq!(b64(&[0xff, 0x00, 0x80, 0x81, 0xfe]), "/wCAgf4=");
}

/// init → emit (every schema field) → cat, exact output; then cat → emit into a second
/// journal whose sequences are shifted, and the same events come back.
#[test]
fn emit_cat_round_trip_every_field() {
    let tmp = tempfile::tempdir().unwrap();
    let j1 = tmp.path().join("j1");
    init(&j1);
    let cases = schema_cases();
    let inputs: Vec<Value> = cases.iter().map(|(i, _)| i.clone()).collect();
    // Events without `time` get the emitting process's clock, cpu and pid.
    let mut input = ndjson(&inputs);
    input.push_str("{\"type\":\"filesystem.create\",\"path\":\"/now\"}\n");
    let n = cases.len() + 1;

    let out = vj(&j1, &["emit"], input.as_bytes()).ok();
    assert_eq!(out.stdout, format!("1..={n}\n"));

    let events = cat(&j1, &[]);
    assert_eq!(seqs(&events), (1..=n as u64).collect::<Vec<_>>());
    for (i, (ev, (input, expected))) in events.iter().zip(&cases).enumerate() {
        assert_eq!(
            ev["id"], ev["seq"],
            "event {i}: the id is the sequence number"
        );
        assert_eq!(
            without(ev, &["seq", "id"]),
            *expected,
            "event {i} (input {input}) does not read back as expected"
        );
    }
    let last = &events[n - 1];
    assert_eq!(last["type"], "filesystem.create");
    assert_eq!(last["path"], "/now");
    let time = last["time"].as_str().expect("stamped time");
    assert!(
        time.len() == "2025-01-02T03:04:05.000000001Z".len() && time.ends_with('Z'),
        "RFC 3339 with nanoseconds: {time}"
    );
    assert!(last["pid"].as_u64().unwrap_or(0) > 0, "stamped pid: {last}");

    // cat -o json: one JSON array with the same events.
    let out = vj(&j1, &["cat", "-o", "json"], b"").ok();
    let array: Value = serde_json::from_str(&out.stdout).expect("cat -o json is valid JSON");
    assert_eq!(array, Value::Array(events.clone()));

    // cat -o table: a header and one row per event, in order.
    let out = vj(&j1, &["cat", "-o", "table"], b"").ok();
    let header = out
        .stdout
        .lines()
        .find(|l| l.contains("seq"))
        .expect("table header");
    for col in ["seq", "time (UTC)", "type", "subject", "details"] {
        assert!(header.contains(col), "header {header:?} lacks {col:?}");
    }
    let rows = table_first_column(&out.stdout);
    assert_eq!(rows, (1..=n as u64).collect::<Vec<_>>(), "{}", out.stdout);
    assert!(out.stdout.contains("/models/a.bin"));
    assert!(out.stdout.contains("unknown(0x0999)"));

    // Second journal, with three events first so every sequence and id shifts by 3.
    let j2 = tmp.path().join("j2");
    init(&j2);
    let filler = ndjson(&[
        json!({"type": "system.mount", "time": 1}),
        json!({"type": "system.mount", "time": 2}),
        json!({"type": "system.mount", "time": 3}),
    ]);
    assert_eq!(vj(&j2, &["emit"], filler.as_bytes()).ok().stdout, "1..=3\n");
    let dump = vj(&j1, &["cat"], b"").ok().stdout;
    let out = vj(&j2, &["emit"], dump.as_bytes()).ok();
    assert_eq!(out.stdout, format!("4..={}\n", n + 3));
    let copied = cat(&j2, &["--from-seq", "4"]);
    assert_eq!(seqs(&copied), (4..=n as u64 + 3).collect::<Vec<_>>());
    for (a, b) in events.iter().zip(&copied) {
        assert_eq!(b["id"], b["seq"]);
        assert_eq!(
            without(a, &["seq", "id", "root_cause"]),
            without(b, &["seq", "id", "root_cause"]),
            "copy differs from the original"
        );
        // `root_cause` is left out when it equals the event's own id. An original without
        // one (its own id, or none under a parent) must stay without one; an explicit
        // root cause must keep its value, which the copy may leave out only where it
        // happens to equal the copy's new id (case 6: root cause 9, copied to seq 9).
        match a.get("root_cause") {
            None => assert_eq!(b.get("root_cause"), None, "copy of {a} has {b}"),
            Some(r) => assert_eq!(
                b.get("root_cause").unwrap_or(&b["id"]),
                r,
                "root cause of the copy {b} of {a}"
            ),
        }
    }
    assert!(
        copied
            .iter()
            .any(|b| b["id"] == 9 && b.get("root_cause").is_none())
            && events.iter().any(|a| a["id"] == 6 && a["root_cause"] == 9),
        "the data exercise a root cause that becomes the copy's own id"
    );
}

/// Sequence numbers in the first column of a `cat -o table` output.
fn table_first_column(table: &str) -> Vec<u64> {
    table
        .lines()
        .filter_map(|l| {
            let cell = l.trim_start_matches('│').split('┆').next()?.trim();
            cell.parse().ok()
        })
        .collect()
}

#[test]
fn cat_selects_by_sequence_and_count() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    init(&dir);
    let events: Vec<Value> = (1..=10)
        .map(|i| json!({"type": "filesystem.read", "inode": i * 100}))
        .collect();
    assert_eq!(
        vj(&dir, &["emit"], ndjson(&events).as_bytes()).ok().stdout,
        "1..=10\n"
    );
    let inodes =
        |evs: &[Value]| -> Vec<u64> { evs.iter().map(|e| e["inode"].as_u64().unwrap()).collect() };
    let all = cat(&dir, &[]);
    assert_eq!(seqs(&all), (1..=10).collect::<Vec<_>>());
    assert_eq!(inodes(&all), (1..=10).map(|i| i * 100).collect::<Vec<_>>());

    let cases: &[(&[&str], &[u64])] = &[
        (&["--from-seq", "3", "--to-seq", "6"], &[3, 4, 5, 6]),
        (&["--from-seq", "8"], &[8, 9, 10]),
        (&["--to-seq", "2"], &[1, 2]),
        (&["--head", "3"], &[1, 2, 3]),
        (&["--head", "2", "--from-seq", "5"], &[5, 6]),
        (
            &["--from-seq", "4", "--to-seq", "9", "--head", "2"],
            &[4, 5],
        ),
        (&["--from-seq", "6", "--to-seq", "6"], &[6]),
        (&["--from-seq", "0", "--to-seq", "1"], &[1]),
        (&["--from-seq", "10", "--head", "5"], &[10]),
        (&["--from-seq", "11"], &[]),
        (&["--head", "0"], &[]),
    ];
    for (args, want) in cases {
        let got = cat(&dir, args);
        assert_eq!(seqs(&got), *want, "cat {args:?}");
        assert_eq!(
            inodes(&got),
            want.iter().map(|s| s * 100).collect::<Vec<_>>(),
            "cat {args:?}: contents"
        );
    }
    // The same selection in the other formats.
    let out = vj(
        &dir,
        &["cat", "-o", "json", "--from-seq", "2", "--to-seq", "4"],
        b"",
    )
    .ok();
    let array: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(seqs(array.as_array().unwrap()), [2, 3, 4]);
    let out = vj(&dir, &["cat", "-o", "json", "--from-seq", "50"], b"").ok();
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!([])
    );
    let out = vj(&dir, &["cat", "-o", "table", "--from-seq", "9"], b"").ok();
    assert_eq!(table_first_column(&out.stdout), [9, 10]);
}

#[test]
fn emit_reports_assigned_sequences() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    init(&dir);
    let ev = |i: u64| json!({"type": "filesystem.write", "inode": i});

    // Plain: the range, once, on stdout. Blank lines are skipped.
    let mut input = ndjson(&[ev(1), ev(2)]);
    input.push_str("\n   \n");
    input.push_str(&ndjson(&[ev(3), ev(4), ev(5)]));
    let out = vj(&dir, &["emit"], input.as_bytes()).ok();
    assert_eq!(out.stdout, "1..=5\n");
    let out = vj(&dir, &["emit"], ndjson(&[ev(6), ev(7), ev(8)]).as_bytes()).ok();
    assert_eq!(out.stdout, "6..=8\n");

    // Durable: each acknowledged sequence, one per line, nothing else.
    let out = vj(
        &dir,
        &["emit", "--durable"],
        ndjson(&[ev(9), ev(10), ev(11)]).as_bytes(),
    )
    .ok();
    assert_eq!(out.stdout, "9\n10\n11\n");

    // Atomic: contiguous sequences, every event flagged atomic.
    let batch: Vec<Value> = (12..=15).map(ev).collect();
    let out = vj(&dir, &["emit", "--atomic"], ndjson(&batch).as_bytes()).ok();
    assert_eq!(out.stdout, "12..=15\n");
    let out = vj(
        &dir,
        &["emit", "--atomic", "--durable"],
        ndjson(&[ev(16), ev(17)]).as_bytes(),
    )
    .ok();
    assert_eq!(out.stdout, "16\n17\n");

    // No input: nothing on stdout, success.
    let out = vj(&dir, &["emit"], b"").ok();
    assert_eq!(out.stdout, "");
    assert!(out.stderr.contains("no events emitted"), "{}", out.stderr);

    let events = cat(&dir, &[]);
    assert_eq!(seqs(&events), (1..=17).collect::<Vec<_>>());
    for e in &events {
        assert_eq!(e["inode"], e["seq"], "event in the wrong place: {e}");
        let atomic = e["flags"]
            .as_str()
            .is_some_and(|f| f.split('|').any(|x| x == "atomic"));
        // `--atomic` writes the events as given: it adds no flag (copies stay faithful).
        assert!(!atomic, "atomic flag added to {e}");
    }
}

/// One malformed-input case: the lines, the 1-based number of the bad line, and text
/// the error must contain (the field).
struct BadInput {
    lines: Vec<String>,
    bad_line: usize,
    field: &'static str,
}

fn bad_inputs() -> Vec<BadInput> {
    let good = |i: u64| json!({"type": "filesystem.write", "inode": i}).to_string();
    let case = |bad: &str, at: usize, field: &'static str| {
        let mut lines: Vec<String> = (1..=5).map(good).collect();
        lines[at - 1] = bad.to_string();
        BadInput {
            lines,
            bad_line: at,
            field,
        }
    };
    vec![
        case(r#"{"type":"filesystem.write","inode":3"#, 3, "invalid JSON"),
        case(r#"not json at all"#, 2, "invalid JSON"),
        case(r#"{"type":"filesystem.write","colour":"red"}"#, 4, "colour"),
        case(r#"{"type":"filesystem.bogus","inode":1}"#, 2, "type"),
        case(r#"{"inode":1}"#, 3, "type"),
        case(r#"{"type":"filesystem.write","inode":"abc"}"#, 3, "inode"),
        case(r#"{"type":"filesystem.write","inode":-1}"#, 5, "inode"),
        case(r#"{"type":"filesystem.write","payload":42}"#, 2, "payload"),
        case(
            r#"{"type":"filesystem.write","flags":"sticky"}"#,
            3,
            "flags",
        ),
        case(
            r#"{"type":"filesystem.write","priority":"urgent"}"#,
            2,
            "priority",
        ),
        case(
            r#"{"type":"filesystem.write","dims":4294967296}"#,
            3,
            "dims",
        ),
        case(
            r#"{"type":"filesystem.write","links":[{"cause":1,"weight":2}]}"#,
            4,
            "weight",
        ),
        case(r#"[1,2,3]"#, 1, "<event>"),
        case(
            r#"{"type":"filesystem.write","time":"yesterday"}"#,
            3,
            "time",
        ),
        case(r#"{"type":"filesystem.write","flags":[1]}"#, 2, "flags"),
        case(
            r#"{"type":"filesystem.write","links":{"cause":1}}"#,
            4,
            "links",
        ),
        case(
            r#"{"type":"filesystem.write","path":{"base64":"%%%"}}"#,
            5,
            "path",
        ),
        case(r#"{"type":true}"#, 2, "type"),
    ]
}

#[test]
fn malformed_line_stops_emit_and_keeps_lines_before_it() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, case) in bad_inputs().into_iter().enumerate() {
        for durable in [false, true] {
            let dir = tmp.path().join(format!("j{k}-{durable}"));
            init(&dir);
            let input: String = case.lines.iter().map(|l| format!("{l}\n")).collect();
            let args: &[&str] = if durable {
                &["emit", "--durable"]
            } else {
                &["emit"]
            };
            let out = vj(&dir, args, input.as_bytes()).fails();
            let ctx = format!("case {k} (durable {durable}): {:?}", case.lines);
            assert!(
                out.stderr.contains(&format!("line {}:", case.bad_line)),
                "{ctx}: stderr does not name line {}:\n{}",
                case.bad_line,
                out.stderr
            );
            assert!(
                out.stderr.contains(case.field),
                "{ctx}: stderr does not name {:?}:\n{}",
                case.field,
                out.stderr
            );
            let kept = case.bad_line as u64 - 1;
            let events = cat(&dir, &[]);
            assert_eq!(
                seqs(&events),
                (1..=kept).collect::<Vec<_>>(),
                "{ctx}: only the lines before the bad one are written"
            );
            for e in &events {
                assert_eq!(e["inode"], e["seq"], "{ctx}: {e}");
            }
            let expected_stdout = match (durable, kept) {
                (true, _) => (1..=kept).map(|s| format!("{s}\n")).collect(),
                (false, 0) => String::new(),
                (false, k) => format!("1..={k}\n"),
            };
            assert_eq!(out.stdout, expected_stdout, "{ctx}: stdout");
        }
    }
}

#[test]
fn malformed_line_with_atomic_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    init(&dir);
    let seed = ndjson(&[json!({"type": "system.mount", "inode": 1})]);
    assert_eq!(vj(&dir, &["emit"], seed.as_bytes()).ok().stdout, "1..=1\n");
    for (k, case) in bad_inputs().into_iter().enumerate() {
        for durable in [false, true] {
            let input: String = case.lines.iter().map(|l| format!("{l}\n")).collect();
            let args: &[&str] = if durable {
                &["emit", "--atomic", "--durable"]
            } else {
                &["emit", "--atomic"]
            };
            let out = vj(&dir, args, input.as_bytes()).fails();
            let ctx = format!("case {k} (durable {durable}): {:?}", case.lines);
            assert!(
                out.stderr.contains(&format!("line {}:", case.bad_line)),
                "{ctx}: {}",
                out.stderr
            );
            assert!(out.stderr.contains(case.field), "{ctx}: {}", out.stderr);
            assert_eq!(out.stdout, "", "{ctx}: nothing was assigned");
            let events = cat(&dir, &[]);
            assert_eq!(seqs(&events), [1], "{ctx}: the atomic batch left events");
        }
    }
    // The journal still accepts a good atomic batch, right after the seed event.
    let good = ndjson(&[
        json!({"type": "system.sync", "inode": 2}),
        json!({"type": "system.sync", "inode": 3}),
    ]);
    let out = vj(&dir, &["emit", "--atomic"], good.as_bytes()).ok();
    assert_eq!(out.stdout, "2..=3\n");
    assert_eq!(seqs(&cat(&dir, &[])), [1, 2, 3]);
}

/// Lines that are valid JSON but exceed the format's limits (payload 64 KiB, path
/// 64 KiB, metadata 2 KiB, 256 links).
fn oversized_lines() -> Vec<(&'static str, String)> {
    vec![
        (
            "payload",
            json!({"type": "filesystem.write", "payload": "x".repeat(70_000)}).to_string(),
        ),
        (
            "path",
            json!({"type": "filesystem.write", "path": "p".repeat(70_000)}).to_string(),
        ),
        (
            "metadata",
            json!({"type": "filesystem.write", "metadata": {"m": "m".repeat(3000)}}).to_string(),
        ),
        (
            "link",
            json!({"type": "filesystem.write", "links": vec![json!({"cause": 1}); 300]})
                .to_string(),
        ),
    ]
}

fn with_bad_line_2(bad: &str) -> String {
    format!(
        "{}\n{bad}\n{}\n",
        json!({"type": "filesystem.write", "inode": 1}),
        json!({"type": "filesystem.write", "inode": 3})
    )
}

/// An event the journal rejects (too large) stops `emit` like a malformed line: what
/// came before it is kept, nothing of it or after it is written; `--atomic` writes
/// nothing.
#[test]
fn oversized_event_stops_emit() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, (what, bad)) in oversized_lines().into_iter().enumerate() {
        let input = with_bad_line_2(&bad);
        for args in [&["emit"][..], &["emit", "--durable"]] {
            let dir = tmp.path().join(format!("j{k}-{}", args.len()));
            init(&dir);
            let out = vj(&dir, args, input.as_bytes()).fails();
            assert!(out.stderr.contains(what), "{what}: {}", out.stderr);
            let events = cat(&dir, &[]);
            assert_eq!(
                seqs(&events),
                [1],
                "{what} {args:?}: only line 1 is written"
            );
            assert_eq!(events[0]["inode"], 1);
        }
        let dir = tmp.path().join(format!("j{k}-atomic"));
        init(&dir);
        vj(&dir, &["emit", "--atomic"], input.as_bytes()).fails();
        assert_eq!(cat(&dir, &[]), Vec::<Value>::new(), "{what} --atomic");
        // The journal still works after a rejected event.
        let out = vj(&dir, &["emit"], with_bad_line_2("").as_bytes()).ok();
        assert_eq!(out.stdout, "1..=2\n");
    }
}

#[test]
fn oversized_event_error_names_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    for (k, (what, bad)) in oversized_lines().into_iter().enumerate() {
        let dir = tmp.path().join(format!("j{k}"));
        init(&dir);
        let out = vj(&dir, &["emit"], with_bad_line_2(&bad).as_bytes()).fails();
        assert!(
            out.stderr.contains("line 2"),
            "{what}: the error does not name line 2:\n{}",
            out.stderr
        );
        assert_eq!(
            out.stdout, "1..=1\n",
            "{what}: the range written before the bad line is not printed"
        );
    }
}

/// Line 1 good, line 2 with a byte that is not UTF-8, line 3 good.
fn non_utf8_input() -> Vec<u8> {
    let mut input = format!("{}\n", json!({"type": "filesystem.write", "inode": 1})).into_bytes();
    input.extend_from_slice(b"{\"type\":\"filesystem.write\",\"path\":\"\xff\"}\n");
    input.extend_from_slice(
        format!("{}\n", json!({"type": "filesystem.write", "inode": 3})).as_bytes(),
    );
    input
}

#[test]
fn non_utf8_line_stops_emit() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    init(&dir);
    let out = vj(&dir, &["emit"], &non_utf8_input()).fails();
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
    let events = cat(&dir, &[]);
    assert_eq!(seqs(&events), [1]);
    assert_eq!(events[0]["inode"], 1);
    vj(&dir, &["emit", "--atomic"], &non_utf8_input()).fails();
    assert_eq!(seqs(&cat(&dir, &[])), [1], "--atomic writes nothing");
}

#[test]
fn non_utf8_line_reports_written_range() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    init(&dir);
    let out = vj(&dir, &["emit"], &non_utf8_input()).fails();
    assert_eq!(out.stdout, "1..=1\n", "stderr: {}", out.stderr);
}

#[test]
fn stats_reports_events_sequences_and_compression() {
    let tmp = tempfile::tempdir().unwrap();
    for compression in ["lz4", "zstd", "none"] {
        let dir = tmp.path().join(compression);
        let out = vj(&dir, &["init", "--compression", compression], b"").ok();
        assert!(
            out.stdout.contains(&format!("compression {compression}")),
            "{}",
            out.stdout
        );

        let empty = stats_json(&dir);
        assert_eq!(empty["events"], 0, "{empty}");
        assert_eq!(empty["first_seq"], Value::Null, "{empty}");
        assert_eq!(empty["last_seq"], Value::Null, "{empty}");
        assert_eq!(empty["compression"], compression);

        let events: Vec<Value> = (0..250)
            .map(|i| json!({"type": "vector.embed", "vector": i, "payload": "x".repeat(i % 50)}))
            .collect();
        // One atomic batch is one block, so the compression ratio does not depend on
        // how the group commits happened to fall.
        assert_eq!(
            vj(&dir, &["emit", "--atomic"], ndjson(&events).as_bytes())
                .ok()
                .stdout,
            "1..=250\n"
        );
        assert_eq!(
            vj(&dir, &["emit"], ndjson(&events[..7]).as_bytes())
                .ok()
                .stdout,
            "251..=257\n"
        );
        let s = stats_json(&dir);
        assert_eq!(s["events"], 257, "{s}");
        assert_eq!(s["first_seq"], 1, "{s}");
        assert_eq!(s["last_seq"], 257, "{s}");
        assert!(s["segments"].as_u64().unwrap() >= 1, "{s}");
        assert!(s["blocks"].as_u64().unwrap() >= 1, "{s}");
        assert!(s["disk_bytes"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["compression"], compression, "{s}");
        let ratio = s["compression_ratio"].as_f64().unwrap();
        if compression == "none" {
            // Stored bytes count block headers too.
            assert!(ratio > 0.9 && ratio <= 1.0, "{s}");
            assert!(s["raw_bytes"].as_u64() < s["stored_bytes"].as_u64(), "{s}");
        } else {
            assert!(ratio > 1.0, "repetitive events compress: {s}");
        }
        assert!(
            s["first_time"].is_string() && s["last_time"].is_string(),
            "{s}"
        );
        assert!(s["journal_id"].is_string(), "{s}");

        let table = vj(&dir, &["stats"], b"").ok().stdout;
        let row = |key: &str| -> String {
            table
                .lines()
                .find(|l| l.split('┆').next().is_some_and(|c| c.contains(key)))
                .unwrap_or_else(|| panic!("no {key:?} row in\n{table}"))
                .to_string()
        };
        assert!(row("events").contains("257"), "{table}");
        assert!(row("sequences").contains("1 ..= 257"), "{table}");
        assert!(row("compression").contains(compression), "{table}");
        assert!(row("segments").contains('1'), "{table}");
    }
}

/// `init --frame-bytes`: 0 writes blocks compressed whole (format version 1), a size
/// writes framed blocks; both read back the same events; a bad size is refused and
/// leaves no journal behind.
#[test]
fn init_takes_a_frame_size_or_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let events: Vec<Value> = (0..300)
        .map(|i| json!({"type": "filesystem.write", "path": format!("/d{}/f{i}", i % 3), "payload": "x".repeat(i % 90)}))
        .collect();
    let mut outputs: Vec<Vec<(u64, String)>> = Vec::new();
    for frames in ["0", "512", "4096"] {
        let dir = tmp.path().join(format!("frames-{frames}"));
        vj(&dir, &["init", "--frame-bytes", frames], b"").ok();
        vj(&dir, &["emit", "--atomic"], ndjson(&events).as_bytes()).ok();
        let seg = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "seg"))
            .unwrap();
        let bytes = std::fs::read(seg).unwrap();
        // The first block's version word follows the 128-byte file header and its magic.
        let version = u32::from_le_bytes(bytes[132..136].try_into().unwrap());
        assert_eq!(
            version,
            if frames == "0" { 1 } else { 2 },
            "frames {frames}"
        );
        let q = vj(&dir, &["cat", "--path-prefix", "/d1/", "-o", "ndjson"], b"").ok();
        let seqs_paths: Vec<(u64, String)> = q
            .stdout
            .lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                (
                    v["seq"].as_u64().unwrap(),
                    v["path"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        outputs.push(seqs_paths);
    }
    assert_eq!(outputs[0].len(), 100, "{:?}", outputs[0]);
    assert!(outputs[0].iter().all(|(_, p)| p.starts_with("/d1/")));
    assert!(outputs.iter().all(|o| *o == outputs[0]));

    let dir = tmp.path().join("bad");
    let out = vj(&dir, &["init", "--frame-bytes", "100"], b"").fails();
    assert!(out.stderr.contains("frame_bytes"), "{}", out.stderr);
    assert!(!dir.join("journal.json").exists());
}

/// `init` takes sizes as bytes or with a unit (binary for a bare K/M/G, as `compact
/// --max-size`), records them exactly, and refuses what is not a size before creating
/// anything.
#[test]
fn init_takes_sizes_with_units() {
    let tmp = tempfile::tempdir().unwrap();
    let config = |dir: &std::path::Path| -> Value {
        let meta: Value =
            serde_json::from_slice(&std::fs::read(dir.join("journal.json")).unwrap()).unwrap();
        meta["config"].clone()
    };
    let dir = tmp.path().join("units");
    let args = [
        "init",
        "--segment-size",
        "1MiB",
        "--preallocate",
        "512K",
        "--frame-bytes",
        "4KiB",
    ];
    let out = vj(&dir, &args, b"").ok();
    assert!(out.stdout.contains("segments 1.0 MiB"), "{}", out.stdout);
    let c = config(&dir);
    assert_eq!(c["segment_size"], 1 << 20);
    assert_eq!(c["preallocate_bytes"], 512 << 10);
    assert_eq!(c["frame_bytes"], 4096);

    let dir = tmp.path().join("decimal");
    vj(&dir, &["init", "--segment-size", "2MB"], b"").ok();
    assert_eq!(config(&dir)["segment_size"], 2_000_000);

    let dir = tmp.path().join("defaults");
    vj(&dir, &["init"], b"").ok();
    assert_eq!(config(&dir)["segment_size"], 64 << 20);
    assert_eq!(config(&dir)["preallocate_bytes"], 1 << 20);

    let dir = tmp.path().join("bad");
    let out = vj(&dir, &["init", "--segment-size", "lots"], b"").fails();
    assert!(
        out.stderr.contains("'lots' is not a size"),
        "{}",
        out.stderr
    );
    assert!(!dir.join("journal.json").exists());
}

#[test]
fn init_refuses_an_existing_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    init(&dir);
    let meta_before = std::fs::read(dir.join("journal.json")).unwrap();
    let seed = ndjson(&[json!({"type": "system.mount", "inode": 1})]);
    vj(&dir, &["emit"], seed.as_bytes()).ok();

    let out = vj(&dir, &["init", "--compression", "zstd"], b"").fails();
    assert!(
        out.stderr.contains("already holds a journal"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stdout, "");
    assert_eq!(
        std::fs::read(dir.join("journal.json")).unwrap(),
        meta_before,
        "the journal's identity is untouched"
    );
    assert_eq!(seqs(&cat(&dir, &[])), [1], "events are untouched");
}

#[test]
fn commands_on_a_missing_journal_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nowhere");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let event = ndjson(&[json!({"type": "system.mount"})]);
    for dir in [&missing, &empty] {
        for args in [
            &["cat"][..],
            &["cat", "-o", "json"],
            &["stats"],
            &["stats", "-o", "json"],
            &["emit"],
            &["emit", "--durable"],
        ] {
            let out = vj(dir, args, event.as_bytes()).fails();
            assert!(
                out.stderr.contains("is not a vexfs journal"),
                "{args:?} in {}: {}",
                dir.display(),
                out.stderr
            );
            assert!(
                out.stderr.contains(&dir.display().to_string()),
                "{args:?}: the error names the directory: {}",
                out.stderr
            );
            assert_eq!(out.stdout, "", "{args:?}");
        }
    }
    assert!(!missing.exists(), "no command creates a missing journal");
}

#[test]
fn failed_emit_leaves_no_file_in_a_non_journal_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let event = ndjson(&[json!({"type": "system.mount"})]);
    for args in [&["cat"][..], &["stats"], &["emit"], &["emit", "--atomic"]] {
        let dir = tmp.path().join(args.join("-"));
        std::fs::create_dir(&dir).unwrap();
        let out = vj(&dir, args, event.as_bytes()).fails();
        assert!(
            out.stderr.contains("is not a vexfs journal"),
            "{}",
            out.stderr
        );
        let left: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "{args:?} failed but left {left:?} in a directory that holds no journal"
        );
    }
}

#[test]
fn dir_flag_env_var_and_default() {
    let tmp = tempfile::tempdir().unwrap();
    let from_env = tmp.path().join("from-env");

    // VEXJOURNAL_DIR alone.
    let mut cmd = bin();
    cmd.env("VEXJOURNAL_DIR", &from_env).arg("init");
    run_cmd(cmd, b"").ok();
    assert!(from_env.join("journal.json").is_file());
    let mut cmd = bin();
    cmd.env("VEXJOURNAL_DIR", &from_env).arg("emit");
    let out = run_cmd(
        cmd,
        ndjson(&[json!({"type": "system.mount", "inode": 11})]).as_bytes(),
    )
    .ok();
    assert_eq!(out.stdout, "1..=1\n");

    // --dir reads what the environment variable wrote.
    let events = cat(&from_env, &[]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["inode"], 11);

    // --dir wins over VEXJOURNAL_DIR.
    let other = tmp.path().join("other");
    init(&other);
    vj(
        &other,
        &["emit"],
        ndjson(&[
            json!({"type": "system.mount", "inode": 21}),
            json!({"type": "system.mount", "inode": 22}),
        ])
        .as_bytes(),
    )
    .ok();
    let mut cmd = bin();
    cmd.env("VEXJOURNAL_DIR", &from_env)
        .arg("--dir")
        .arg(&other)
        .args(["cat"]);
    let out = run_cmd(cmd, b"").ok();
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert!(out.stdout.contains("\"inode\":21"), "{}", out.stdout);
    let mut cmd = bin();
    cmd.env("VEXJOURNAL_DIR", &other)
        .args(["stats", "-o", "json"]);
    let s: Value = serde_json::from_str(&run_cmd(cmd, b"").ok().stdout).unwrap();
    assert_eq!(s["events"], 2);

    // Neither: ./vexjournal-data.
    let cwd = tmp.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    let mut cmd = bin();
    cmd.current_dir(&cwd).arg("init");
    run_cmd(cmd, b"").ok();
    assert!(cwd.join("vexjournal-data").join("journal.json").is_file());
}

/// Kills and reaps a child when dropped, so that a failing test leaves no process.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether `text` contains `n` as a whole number (not as part of a longer one).
fn mentions_number(text: &str, n: u32) -> bool {
    text.split(|c: char| !c.is_ascii_digit())
        .any(|w| w == n.to_string())
}

// Checks I16, I42 (docs/invariants.md).
/// A running writer holds the lock: a second writer is refused naming the holder's pid,
/// readers still work, and the lock is free again once the first writer exits.
#[test]
fn second_writer_is_refused_while_readers_work() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    init(&dir);

    let mut holder = KillOnDrop(
        bin()
            .arg("--dir")
            .arg(&dir)
            .args(["emit", "--durable"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = holder.0.id();
    let mut feed = holder.0.stdin.take().unwrap();
    let acks = BufReader::new(holder.0.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in acks.lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let next_ack = || {
        rx.recv_timeout(COMMAND_TIMEOUT)
            .expect("the holder acknowledges the event")
    };

    // Once the first event is acknowledged the writer has certainly opened (and
    // locked) the journal.
    writeln!(feed, "{}", json!({"type": "filesystem.write", "inode": 1})).unwrap();
    feed.flush().unwrap();
    assert_eq!(next_ack(), "1");

    for args in [&["emit"][..], &["emit", "--durable"], &["emit", "--atomic"]] {
        let out = vj(
            &dir,
            args,
            ndjson(&[json!({"type": "filesystem.write", "inode": 99})]).as_bytes(),
        )
        .fails();
        assert!(out.stderr.contains("locked"), "{args:?}: {}", out.stderr);
        assert!(
            mentions_number(&out.stderr, pid),
            "{args:?}: the error names the holder's pid {pid}: {}",
            out.stderr
        );
        assert_eq!(out.stdout, "", "{args:?}");
    }

    // Readers take no lock.
    let events = cat(&dir, &[]);
    assert_eq!(seqs(&events), [1]);
    assert_eq!(events[0]["inode"], 1);
    assert_eq!(stats_json(&dir)["events"], 1);

    // The holder goes on working, then exits cleanly when its input ends.
    writeln!(feed, "{}", json!({"type": "filesystem.write", "inode": 2})).unwrap();
    feed.flush().unwrap();
    assert_eq!(next_ack(), "2");
    drop(feed);
    let status = holder.0.wait().unwrap();
    assert!(status.success(), "holder exited with {status}");
    reader.join().unwrap();
    assert!(rx.try_recv().is_err(), "--durable prints nothing but acks");

    // The lock is free again; none of the refused events were written.
    let out = vj(
        &dir,
        &["emit"],
        ndjson(&[json!({"type": "filesystem.write", "inode": 3})]).as_bytes(),
    )
    .ok();
    assert_eq!(out.stdout, "3..=3\n");
    let events = cat(&dir, &[]);
    assert_eq!(seqs(&events), [1, 2, 3]);
    for e in &events {
        assert_eq!(e["inode"], e["seq"]);
    }
}
