#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The CLI tried end to end as a new operator would (issue 10, acceptance): each test is
//! a surprise found that way, reproduced with the built binary, and the behaviour
//! required instead.

mod common;

use std::path::Path;

use common::{Run, bin, run_in};
use vexfs_journal_testkit::segment_files;

/// `vexjournal --dir DIR ARGS…` with nothing on stdin.
fn vj(dir: &Path, args: &[&str]) -> Run {
    run_in(dir, args, b"", &[])
}

/// A journal in `dir` with `n` small events of several types in 200000-byte segments,
/// cleanly closed.
fn journal(dir: &Path, n: usize) {
    let init = vj(dir, &["init", "--segment-size", "200000"]);
    assert!(init.status.success(), "{}", init.stderr);
    let types = ["filesystem.write", "vector.search", "graph.node_create"];
    let mut input = String::new();
    for i in 0..n {
        input.push_str(&format!(
            "{{\"type\":\"{}\",\"inode\":{},\"payload\":\"{}\"}}\n",
            types[i % types.len()],
            i % 50,
            "p".repeat(40 + i % 90)
        ));
    }
    let emit = run_in(dir, &["emit"], input.as_bytes(), &[]);
    assert!(emit.status.success(), "{}", emit.stderr);
}

fn code(r: &Run) -> i32 {
    r.status.code().unwrap_or(-1)
}

/// `cat pid=abc` printed nothing and exited 0, as if no event had that pid: a value an
/// integer field cannot have is an error naming the field.
#[test]
fn field_match_with_a_non_integer_value_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 30);
    for arg in ["pid=abc", "inode=seven", "tx=1.5"] {
        let r = vj(&dir, &["cat", arg]);
        assert_eq!(code(&r), 1, "{arg}: {}", r.stderr);
        let field = arg.split('=').next().unwrap();
        assert!(
            r.stderr
                .contains(&format!("{arg}: {field} takes an integer")),
            "{arg}: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty(), "{}", r.stdout);
    }
    // Decimal and hexadecimal integers still match.
    let dec = vj(&dir, &["cat", "inode=7", "-o", "ndjson"]);
    let hex = vj(&dir, &["cat", "inode=0x7", "-o", "ndjson"]);
    assert!(
        dec.status.success() && hex.status.success(),
        "{}",
        dec.stderr
    );
    assert!(!dec.stdout.is_empty());
    assert_eq!(dec.stdout, hex.stdout);
    // Text fields take any value.
    assert!(vj(&dir, &["cat", "path=abc"]).status.success());
}

/// The demo's "Explore it" hint was `cat --from-seq 1000 -n 5`, and `-n` is the most
/// recent N (as journalctl): it printed the journal's last five events. The command it
/// suggests prints five events from the sequence it names.
#[test]
fn demo_hint_prints_the_events_it_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let demo = bin()
        .args(["demo", "--events", "3000", "--path"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let stdout = String::from_utf8_lossy(&demo.stdout);
    let hint = stdout
        .lines()
        .find(|l| l.contains(" cat "))
        .unwrap_or_else(|| panic!("no cat hint in:\n{stdout}"));
    let words: Vec<&str> = hint.split_whitespace().collect();
    assert_eq!(words[0], "vexjournal", "{hint}");
    let from: u64 = words
        .iter()
        .position(|w| *w == "--from-seq")
        .and_then(|i| words.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no --from-seq in {hint}"));
    // Run the hint as printed, but as ndjson so the sequences can be read.
    let mut args: Vec<&str> = words[1..].to_vec();
    if let Some(i) = args.iter().position(|w| *w == "-o") {
        args.truncate(i);
    }
    args.extend(["-o", "ndjson"]);
    let run = bin().args(&args).output().unwrap();
    assert!(run.status.success(), "{hint}");
    let seqs: Vec<u64> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (from..from + 5).collect::<Vec<_>>(), "{hint}");
}

/// `bench --events 0` and `demo --events 0` reported throughput, latency and
/// "128.0 B/event" for nothing: zero events is refused as a usage error.
#[test]
fn bench_and_demo_refuse_zero_events() {
    let tmp = tempfile::tempdir().unwrap();
    let bench = bin()
        .args(["bench", "--events", "0", "--work-dir"])
        .arg(tmp.path())
        .output()
        .unwrap();
    let demo = bin()
        .args(["demo", "--events", "0", "--path"])
        .arg(tmp.path().join("demo"))
        .output()
        .unwrap();
    for o in [bench, demo] {
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("'0' for '--events"), "{err}");
        assert!(
            o.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    assert!(!tmp.path().join("demo").exists());
}

/// `checkpoint delete` without an id said only that `<ID>` was missing, although
/// `--damaged` is the other way to call it.
#[test]
fn checkpoint_delete_without_an_id_names_both_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 10);
    let r = vj(&dir, &["checkpoint", "delete"]);
    assert_eq!(code(&r), 2, "{}", r.stderr);
    assert!(r.stderr.contains("<ID|--damaged>"), "{}", r.stderr);
    // Both forms still work, and not together.
    assert_eq!(code(&vj(&dir, &["checkpoint", "delete", "--damaged"])), 0);
    let both = vj(&dir, &["checkpoint", "delete", "1", "--damaged"]);
    assert_eq!(code(&both), 2, "{}", both.stderr);
}

/// Salvage of a journal whose middle segment was deleted listed the loss as
/// `… at byte 0 (0 bytes), sequences A..=B ->` (an empty byte range and destination),
/// and what it did to the manifest (rebuilt it, reserved sequence numbers) was not
/// shown at all.
#[test]
fn salvage_report_says_what_was_missing_and_what_it_did_to_the_manifest() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 6000);
    let segs = segment_files(&dir);
    assert!(segs.len() >= 4, "{segs:?}");
    let gone = &segs[1];
    std::fs::remove_file(gone).unwrap();
    let r = vj(&dir, &["recover", "--mode", "salvage"]);
    assert!(r.status.success(), "{}\n{}", r.stdout, r.stderr);
    let lost: Vec<&str> = r.stdout.lines().filter(|l| l.contains(" lost ")).collect();
    assert_eq!(lost.len(), 1, "{}", r.stdout);
    let name = gone.file_name().unwrap().to_str().unwrap();
    assert!(
        lost[0].contains(name) && lost[0].contains("is missing"),
        "{}",
        lost[0]
    );
    assert!(
        !lost[0].contains("->") && !lost[0].contains("(0 bytes)"),
        "{}",
        lost[0]
    );
    let summary = r
        .stdout
        .lines()
        .find(|l| l.contains("block(s) kept"))
        .unwrap();
    assert!(
        summary.contains("0 damaged range(s) set aside, 1 missing or shortened segment(s)"),
        "{summary}"
    );

    // A damaged manifest: salvage rebuilds it and says so. The journal was closed
    // cleanly and its newest segment is the one the clean-shutdown marker names, so no
    // later segment can have gone with the manifest: nothing needs reserving.
    let manifest = dir.join("MANIFEST");
    let mut bytes = std::fs::read(&manifest).unwrap();
    bytes.truncate(100);
    std::fs::write(&manifest, bytes).unwrap();
    let r = vj(&dir, &["recover", "--mode", "salvage"]);
    assert!(r.status.success(), "{}\n{}", r.stdout, r.stderr);
    let notes: Vec<&str> = r
        .stdout
        .lines()
        .filter(|l| l.contains(" manifest "))
        .collect();
    assert!(
        notes
            .iter()
            .any(|l| l.contains("rebuilt from the segments")),
        "{}",
        r.stdout
    );
    assert!(
        !notes.iter().any(|l| l.contains("reserved")),
        "{}",
        r.stdout
    );
}

/// Every subcommand's help listed the global `--dir`, `--log` and `--color` in the
/// middle of its own options (`init --help`: `--compression`, `--dir`, `--log`,
/// `--segment-size`, …): they come last, under their own heading.
#[test]
fn global_options_are_listed_after_the_commands_own() {
    for cmd in [
        &["init"][..],
        &["cat"],
        &["compact"],
        &["checkpoint", "create"],
    ] {
        let o = bin().args(cmd).arg("--help").output().unwrap();
        assert!(o.status.success());
        let help = String::from_utf8_lossy(&o.stdout);
        let global = help
            .find("Global options:")
            .unwrap_or_else(|| panic!("{cmd:?}: no global heading in\n{help}"));
        for flag in ["--dir <DIR>", "--log <LOG>", "--color <COLOR>"] {
            let at = help.find(flag).unwrap();
            assert!(at > global, "{cmd:?}: {flag} before the heading\n{help}");
        }
        assert!(
            help[..global].contains("-h, --help"),
            "{cmd:?}: own options must come first\n{help}"
        );
    }
}

/// A line that is not JSON was reported as `line 2: … invalid JSON: expected ident at
/// line 1 column 2`: two different line numbers for one line. Only the column is given.
#[test]
fn invalid_json_names_the_column_not_a_second_line_number() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 1);
    let r = run_in(
        &dir,
        &["emit"],
        b"{\"type\":\"filesystem.write\"}\nnot json\n[1,2]\n",
        &[],
    );
    assert_eq!(code(&r), 1, "{}", r.stderr);
    assert!(r.stderr.contains("line 2: "), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("invalid JSON at column 2: expected ident"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("at line 1"), "{}", r.stderr);
    // The event before the bad line was written and is reported so.
    assert!(
        r.stderr.contains("events 2..=2 were written"),
        "{}",
        r.stderr
    );
}
