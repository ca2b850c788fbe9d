//! Operator safety of the `vexjournal` binary (issue 10): commands that must never lose
//! or hide data, refuse nonsense with a clear error, and exit quietly on a closed pipe.
//!
//! Every test runs the built binary on journals it builds with `init` and `emit`, and
//! checks exit status, messages and what the journal holds afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use vexfs_journal_testkit::blocks::segment_blocks;
use vexfs_journal_testkit::{flip_byte, noise_text, segment_files};

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::bin;
use serde_json::{Value, json};

type Out = common::Run;

/// `vexjournal --dir DIR ARGS` with `stdin`.
fn vj_in(dir: &Path, args: &[&str], stdin: &[u8]) -> Out {
    common::run_in(dir, args, stdin, &[])
}

fn vj(dir: &Path, args: &[&str]) -> Out {
    vj_in(dir, args, b"")
}

fn run(cmd: Command, stdin: &[u8]) -> Out {
    common::run_command(cmd, stdin)
}

/// NDJSON of events `from..to` (300-byte payloads, three types).
fn events(from: u64, to: u64) -> String {
    (from..to)
        .map(|i| {
            let t = ["filesystem.write", "vector.search", "agent.decision"][(i % 3) as usize];
            format!(
                "{}\n",
                json!({"type": t, "inode": i, "payload": noise_text(i, 300, b'a', 26)})
            )
        })
        .collect()
}

/// A journal of `n` events in 64 KiB segments (several sealed segments for n ≥ 500).
fn journal(dir: &Path, n: u64) {
    vj(dir, &["init", "--segment-size", "65536"]).ok();
    if n > 0 {
        vj_in(dir, &["emit"], events(0, n).as_bytes()).ok();
    }
}

fn cat(dir: &Path) -> Vec<Value> {
    vj(dir, &["cat", "-o", "ndjson"])
        .ok()
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn seqs(dir: &Path) -> Vec<u64> {
    cat(dir)
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

/// The journal is whole: `verify` says clean and every sequence `1..=n` is there.
#[track_caller]
fn assert_intact(dir: &Path, n: u64) {
    let v = vj(dir, &["verify"]);
    assert!(v.status.success() && v.stdout.contains("clean"), "{v:#?}");
    assert_eq!(seqs(dir), (1..=n).collect::<Vec<_>>());
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// ---------------------------------------------------------------------------------
// Broken pipe

/// Every command that prints a report exits quietly (status 0, no panic, nothing on
/// stderr) when its standard output is a pipe nobody reads.
#[test]
fn every_command_exits_quietly_on_a_closed_stdout() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 600);
    vj(&dir, &["checkpoint", "create"]).ok();
    let commands: &[&[&str]] = &[
        &["stats"],
        &["stats", "-o", "json"],
        &["verify"],
        &["recover"],
        &["index", "check"],
        &["index", "rebuild"],
        &["compact", "--drop-type", "system.mount"],
        &["replay", "-o", "summary"],
        &["replay"],
        &["checkpoint", "list"],
        &["checkpoint", "create"],
        &["cat"],
        &["kernel", "layout"],
        &["kernel", "export", "--out", "-"],
    ];
    for args in commands {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let out = bin()
            .arg("--dir")
            .arg(&dir)
            .args(*args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{args:?} on a closed pipe: {} {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(!stderr.contains("error"), "{args:?}: {stderr}");
    }
    assert_intact(&dir, 600);
}

// ---------------------------------------------------------------------------------
// Finding 4: disk full, Ctrl-C

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A 2 MB tmpfs mounted for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Fills the file system holding `path` until a write fails with ENOSPC.
fn fill(path: &Path) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC: {e}");
                break;
            }
        }
    }
    // Single bytes too, so no partial page is left either.
    while f.write_all(&[0]).is_ok() {}
    let _ = f.sync_all();
}

/// On a full disk, an emit whose events are durable succeeds even though the
/// clean-shutdown marker cannot be written (a warning says so); an emit whose event
/// cannot be written fails and says exactly which sequences are durable (none of this
/// run's). The journal is whole afterwards and no acknowledged sequence is reused.
#[test]
fn disk_full_after_the_commit_point_is_no_error() {
    if !is_root() {
        println!("skipped: mounting a tmpfs needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("small")) else {
        println!("skipped: cannot mount a tmpfs here");
        return;
    };
    let dir = fs.0.join("j");
    let filler = fs.0.join("filler");
    // Without preallocation every write needs new space (with it, see
    // `preallocated_space_takes_events_on_a_full_disk`).
    vj(
        &dir,
        &["init", "--segment-size", "65536", "--preallocate", "0"],
    )
    .ok();

    // Event 1 is durable (its ack printed), then the disk fills, then a small event 2
    // fits in the segment's last page; closing cannot write the marker.
    let mut child = common::spawn_durable_emit(&dir, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let mut acks = BufReader::new(child.stdout.take().unwrap());
    writeln!(stdin, "{}", json!({"type": "filesystem.write", "inode": 1})).unwrap();
    let mut line = String::new();
    acks.read_line(&mut line).unwrap();
    assert_eq!(line, "1\n");
    fill(&filler);
    writeln!(stdin, "{}", json!({"type": "filesystem.write", "inode": 2})).unwrap();
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut acks, &mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} {stderr}", out.status);
    assert_eq!(rest, "2\n", "{stderr}");
    assert!(
        stderr.contains("emitted 2 events, sequences 1..=2"),
        "{stderr}"
    );

    // Before the commit point: a 60 KB event cannot be written on the full disk.
    let big = format!(
        "{}\n",
        json!({"type": "filesystem.write", "inode": 3, "payload": noise_text(3, 60_000, b'a', 26)})
    );
    let out = vj_in(&dir, &["emit"], big.as_bytes()).fails();
    assert!(out.stderr.contains("line 1"), "{}", out.stderr);
    // Nothing durable, so nothing acknowledged on stdout.
    assert_eq!(out.stdout, "", "{}", out.stderr);
    assert!(
        out.stderr
            .contains("events 3..=3 were written but none is durable"),
        "{}",
        out.stderr
    );

    std::fs::remove_file(&filler).unwrap();
    assert_eq!(seqs(&dir), [1, 2]);
    let out = vj_in(&dir, &["emit"], events(3, 4).as_bytes()).ok();
    assert_eq!(out.stdout, "3..=3\n");
    assert_intact(&dir, 3);
}

/// Space the writer preallocated is the journal's: after the disk fills, events that
/// fit in it are still written and acknowledged durable.
#[test]
fn preallocated_space_takes_events_on_a_full_disk() {
    if !is_root() {
        println!("skipped: mounting a tmpfs needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(&tmp.path().join("small")) else {
        println!("skipped: cannot mount a tmpfs here");
        return;
    };
    let dir = fs.0.join("j");
    journal(&dir, 0);
    let mut child = common::spawn_durable_emit(&dir, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let mut acks = BufReader::new(child.stdout.take().unwrap());
    writeln!(stdin, "{}", json!({"type": "filesystem.write", "inode": 1})).unwrap();
    let mut line = String::new();
    acks.read_line(&mut line).unwrap();
    assert_eq!(line, "1\n");
    fill(&fs.0.join("filler"));
    let big =
        json!({"type": "filesystem.write", "inode": 2, "payload": noise_text(3, 30_000, b'a', 26)});
    writeln!(stdin, "{big}").unwrap();
    line.clear();
    acks.read_line(&mut line).unwrap();
    assert_eq!(line, "2\n");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(seqs(&dir), [1, 2]);
    assert_intact(&dir, 2);
}

/// Ctrl-C during `emit` reports what was written and what is durable, and exits 130.
#[test]
fn ctrl_c_during_emit_reports_what_is_durable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 0);
    let mut child = common::spawn_durable_emit(&dir, Stdio::piped());
    let mut stdin = child.stdin.take().unwrap();
    let mut acks = BufReader::new(child.stdout.take().unwrap());
    stdin.write_all(events(0, 5).as_bytes()).unwrap();
    stdin.flush().unwrap();
    for want in 1..=5 {
        let mut line = String::new();
        acks.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), want.to_string());
    }
    // stdin stays open: emit is waiting for more when the signal comes.
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(dir.join("CLEAN").exists(), "the journal is closed cleanly");
    assert!(
        stderr.contains("interrupted: events 1..=5 were written and are durable"),
        "{stderr}"
    );
    assert_intact(&dir, 5);
}

// ---------------------------------------------------------------------------------
// Finding 3: no output inside a journal, no half-written output

/// `kernel export --out` into the journal directory (over a segment, over
/// `journal.json`, a new file there, or through a symbolic link) is refused before
/// anything is written; the journal stays whole.
#[test]
fn export_never_writes_inside_a_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 600);
    let segs = segment_files(&dir);
    assert!(segs.len() > 3);
    let link = tmp.path().join("link.img");
    std::os::unix::fs::symlink(&segs[1], &link).unwrap();
    let other = tmp.path().join("other");
    journal(&other, 1);
    let before = files_in(&dir);
    for out in [
        segs[1].clone(),
        dir.join("journal.json"),
        dir.join("new.img"),
        dir.join("checkpoints").join("x.img"),
        link.clone(),
        other.join("x.img"),
    ] {
        let o = vj(&dir, &["kernel", "export", "--out", out.to_str().unwrap()]).fails();
        assert!(
            o.stderr.contains("inside the journal directory"),
            "{}: {}",
            out.display(),
            o.stderr
        );
    }
    assert_eq!(files_in(&dir), before);
    assert_intact(&dir, 600);

    // Outside a journal it works.
    let img = tmp.path().join("out.img");
    vj(&dir, &["kernel", "export", "--out", img.to_str().unwrap()]).ok();
    assert!(std::fs::metadata(&img).unwrap().len() > 0);
}

/// An export that fails part way (a damaged block) leaves the previous file as it was
/// and no temporary file behind.
#[test]
fn failed_export_leaves_the_old_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 600);
    let seg = &segment_files(&dir)[1];
    let (offset, size, ..) = segment_blocks(seg)[0];
    flip_byte(seg, offset + size / 2);
    let outdir = tmp.path().join("out");
    std::fs::create_dir(&outdir).unwrap();
    let img = outdir.join("image.img");
    std::fs::write(&img, b"previous image").unwrap();
    vj(&dir, &["kernel", "export", "--out", img.to_str().unwrap()]).fails();
    assert_eq!(std::fs::read(&img).unwrap(), b"previous image");
    assert_eq!(files_in(&outdir), ["image.img"]);
}

// ---------------------------------------------------------------------------------
// Finding 2: demo and init never replace what they did not make

/// `demo --path` refuses a real journal and a non-empty directory (both untouched), and
/// replaces a directory an earlier demo made.
#[test]
fn demo_replaces_only_its_own_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    journal(&real, 50);
    let demo = |path: &Path| {
        let mut c = bin();
        c.current_dir(tmp.path())
            .args(["demo", "--events", "2000", "--path"])
            .arg(path);
        run(c, b"")
    };
    let out = demo(&real).fails();
    assert!(
        out.stderr.contains("did not create") && out.stderr.contains("another --path"),
        "{}",
        out.stderr
    );
    assert_intact(&real, 50);

    let notes = tmp.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("a.txt"), "keep me").unwrap();
    demo(&notes).fails();
    assert_eq!(
        std::fs::read_to_string(notes.join("a.txt")).unwrap(),
        "keep me"
    );

    let d = tmp.path().join("d");
    demo(&d).ok();
    std::fs::write(d.join("extra"), "from the first demo").unwrap();
    demo(&d).ok();
    assert!(!d.join("extra").exists(), "the earlier demo is replaced");
    assert_eq!(seqs(&d).len(), 2000);
}

/// `init` refuses a non-empty directory that holds no journal, and changes nothing.
#[test]
fn init_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("stuff");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let out = vj(&dir, &["init"]).fails();
    assert!(out.stderr.contains("is not empty"), "{}", out.stderr);
    assert_eq!(files_in(&dir), ["notes.txt"]);
    // An empty directory is fine.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    vj(&empty, &["init"]).ok();
}

// ---------------------------------------------------------------------------------
// Section 2: validation

/// Each invalid line is refused naming its line and field; nothing is written.
#[test]
fn emit_refuses_out_of_range_and_ambiguous_input() {
    let tmp = tempfile::tempdir().unwrap();
    let good = json!({"type": "filesystem.write"}).to_string();
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"{"type":"filesystem.write","priority":9}"#,
            "priority",
            "1 to 5",
        ),
        (
            r#"{"type":"filesystem.write","priority":"0"}"#,
            "priority",
            "1 to 5",
        ),
        (
            r#"{"type":"agent.decision","confidence":101}"#,
            "confidence",
            "0 to 100",
        ),
        (
            r#"{"type":"agent.decision","relevance":500}"#,
            "relevance",
            "0 to 100",
        ),
        (
            r#"{"type":"agent.decision","replay_priority":0}"#,
            "replay_priority",
            "1 to 5",
        ),
        (
            r#"{"type":"filesystem.write","time":-1}"#,
            "time",
            "out of range",
        ),
        (
            r#"{"type":"filesystem.write","time":"1969-12-31T23:59:59Z"}"#,
            "time",
            "out of range",
        ),
        (
            r#"{"type":"filesystem.write","time":"2300-01-01T00:00:00Z"}"#,
            "time",
            "out of range",
        ),
        (
            r#"{"type":"filesystem.write","type":"vector.search"}"#,
            "type",
            "twice",
        ),
        (r#"{"type":"0x9999"}"#, "type", "not a known event type"),
        (r#"{"type":39321}"#, "type", "not a known event type"),
        (
            "\u{feff}{\"type\":\"filesystem.write\"}",
            "<event>",
            "byte order mark",
        ),
    ];
    for (k, (line, field, why)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("j{k}"));
        journal(&dir, 0);
        let input = format!("{good}\n{line}\n{good}\n");
        let out = vj_in(&dir, &["emit"], input.as_bytes()).fails();
        assert!(out.stderr.contains("line 2"), "{line}: {}", out.stderr);
        assert!(out.stderr.contains(field), "{line}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{line}: {}", out.stderr);
        assert!(
            dir.join("CLEAN").exists(),
            "{line}: the journal is closed cleanly"
        );
        assert_eq!(seqs(&dir), [1], "{line}: only line 1 is written");
    }
    // The deliberate form of an unlisted type is accepted and round-trips.
    let dir = tmp.path().join("unknown");
    journal(&dir, 0);
    vj_in(&dir, &["emit"], b"{\"type\":\"unknown(0x9999)\"}\n").ok();
    assert_eq!(cat(&dir)[0]["type"], "unknown(0x9999)");
}

#[test]
fn a_bogus_log_level_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 1);
    let out = vj(&dir, &["--log", "bogus", "stats"]);
    assert_eq!(out.status.code(), Some(2), "{out:#?}");
    assert!(
        out.stderr.contains("bogus") && out.stderr.contains("log level"),
        "{}",
        out.stderr
    );
    vj(&dir, &["--log", "debug", "stats"]).ok();
    vj(&dir, &["--log", "vexfs_journal=info,warn", "stats"]).ok();
}

/// An atomic batch larger than a segment is refused before anything is written.
#[test]
fn atomic_batch_larger_than_a_segment_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 0);
    let out = vj_in(&dir, &["emit", "--atomic"], events(0, 400).as_bytes()).fails();
    assert!(
        out.stderr.contains("must fit in one segment") && out.stderr.contains("65536"),
        "{}",
        out.stderr
    );
    assert_eq!(seqs(&dir), Vec::<u64>::new());
    // A batch that fits is written whole, in one segment.
    vj_in(&dir, &["emit", "--atomic"], events(0, 100).as_bytes()).ok();
    assert_eq!(seqs(&dir), (1..=100).collect::<Vec<_>>());
}

/// `cat | emit --atomic` copies events faithfully: the copy's NDJSON is the original's.
#[test]
fn atomic_copy_is_faithful() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    journal(&a, 0);
    journal(&b, 0);
    let mut input = events(0, 20);
    input.push_str(&format!(
        "{}\n",
        json!({"type": "agent.decision", "flags": "causal", "time": 5})
    ));
    vj_in(&a, &["emit"], input.as_bytes()).ok();
    let original = vj(&a, &["cat", "-o", "ndjson"]).ok().stdout;
    vj_in(&b, &["emit", "--atomic"], original.as_bytes()).ok();
    let copy = vj(&b, &["cat", "-o", "ndjson"]).ok().stdout;
    assert!(!copy.contains("atomic"), "{copy}");
    assert_eq!(copy, original);
}

/// `compact` with nothing to do says why.
#[test]
fn compact_that_does_nothing_says_why() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 5);
    let out = vj(&dir, &["compact"]).fails();
    assert!(out.stderr.contains("nothing to compact"), "{}", out.stderr);
    let out = vj(&dir, &["compact", "--max-size", "1MB"]).ok();
    assert!(
        out.stdout.contains("nothing compacted") && out.stdout.contains("still open"),
        "{}",
        out.stdout
    );
    assert_intact(&dir, 5);
}

/// Sizes take unit suffixes and ages are durations; a bare number of days is refused
/// with the duration grammar.
#[test]
fn compact_sizes_and_ages_take_units() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 600);
    for ok in [
        &["compact", "--max-size", "1MB"][..],
        &["compact", "--max-size", "512KiB"],
        &["compact", "--max-size", "2G"],
        &["compact", "--max-age", "7d"],
        &["compact", "--max-age", "12h"],
        &["compact", "--max-age", "30m"],
    ] {
        vj(&dir, ok).ok();
    }
    let out = vj(&dir, &["compact", "--max-age", "3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("7d"), "{}", out.stderr);
    let out = vj(&dir, &["compact", "--max-size", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stderr.contains("512KiB"), "{}", out.stderr);
    assert_intact(&dir, 600);
    // 100 KB keeps only the newest segments.
    vj(&dir, &["compact", "--max-size", "100kB"]).ok();
    let left: u64 = segment_files(&dir)
        .iter()
        .map(|s| std::fs::metadata(s).unwrap().len())
        .sum();
    assert!(left <= 100_000 + 65536, "{left}");
}

// ---------------------------------------------------------------------------------
// Section 2: error texts

/// A `journal.json` of a newer version is named as such, not as "not a journal".
#[test]
fn a_newer_journal_version_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 3);
    let meta = dir.join("journal.json");
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&meta).unwrap()).unwrap();
    v["version"] = json!(7);
    std::fs::write(&meta, v.to_string()).unwrap();
    for args in [&["stats"][..], &["cat"], &["emit"]] {
        let out = vj(&dir, args).fails();
        assert!(
            out.stderr
                .contains("unsupported journal.json version 7 (this build reads 2)"),
            "{args:?}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains("not a vexfs journal"),
            "{}",
            out.stderr
        );
    }
}

/// Error reports never repeat a cause, never show Rust debug output, and a damaged
/// fsynced block is described once and truthfully.
#[test]
fn error_texts_are_single_and_true() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 600);
    // Damage the open segment's first block after a crash (no clean-shutdown marker):
    // fsynced data, so opening refuses.
    std::fs::remove_file(dir.join("CLEAN")).unwrap();
    let open = segment_files(&dir).pop().unwrap();
    let (offset, size, ..) = segment_blocks(&open)[0];
    flip_byte(&open, offset + size / 2);
    let mut reports = vec![
        vj_in(&dir, &["emit"], events(0, 1).as_bytes())
            .fails()
            .stderr,
    ];
    reports.push(vj(&tmp.path().join("missing"), &["stats"]).fails().stderr);
    reports.push(vj(&dir, &["checkpoint", "restore", "99"]).fails().stderr);
    // Its io error's text is part of the first cause already.
    let clean = tmp.path().join("clean");
    journal(&clean, 1);
    let import = vj(&clean, &["kernel", "import", "/nonexistent/image"])
        .fails()
        .stderr;
    assert_eq!(
        import.matches("No such file or directory").count(),
        1,
        "{import}"
    );
    reports.push(import);
    let export = vj(&clean, &["kernel", "export", "--out", "/nonexistent/x.img"])
        .fails()
        .stderr;
    assert!(export.contains("/nonexistent does not exist"), "{export}");
    reports.push(export);
    for r in &reports {
        let lines: Vec<&str> = r.lines().collect();
        for w in lines.windows(2) {
            let cause = w[1].trim_start().trim_start_matches("caused by: ");
            assert!(!w[0].contains(cause), "repeated cause:\n{r}");
        }
        for debug in ["Corrupt(", "Some(", "{ ", "\\\""] {
            assert!(!r.contains(debug), "debug output {debug:?}:\n{r}");
        }
    }
    let damaged = &reports[0];
    assert!(damaged.contains("salvage"), "{damaged}");
    assert!(
        !(damaged.contains("intact blocks follow") && damaged.contains("no intact block follows")),
        "{damaged}"
    );
}

// ---------------------------------------------------------------------------------
// Section 2: checkpoints, recover, replay

/// A garbage checkpoint is reported by name and removable; the journal is clean again.
#[test]
fn damaged_checkpoints_are_named_and_deletable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 600);
    vj(&dir, &["checkpoint", "create"]).ok();
    vj(&dir, &["checkpoint", "create"]).ok();
    let garbage = dir.join("checkpoints").join("0000000003.ckpt");
    std::fs::write(&garbage, noise_text(9, 200, b'a', 26)).unwrap();
    let v = vj(&dir, &["verify"]);
    assert!(!v.status.success(), "{v:#?}");
    assert!(
        v.stdout.contains("0000000003.ckpt") && v.stdout.contains("checkpoint delete --damaged"),
        "{}",
        v.stdout
    );
    for mode in ["tolerate-tail", "salvage"] {
        let r = vj(&dir, &["recover", "--mode", mode]).ok();
        assert!(
            r.stdout.contains("0000000003.ckpt")
                && r.stdout.contains("checkpoint delete --damaged"),
            "{mode}: {}",
            r.stdout
        );
    }
    let list = vj(&dir, &["checkpoint", "list"]).ok();
    assert!(
        list.stdout.contains("0000000003.ckpt") && list.stdout.contains("DAMAGED"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("checkpoint delete --damaged"),
        "{}",
        list.stdout
    );
    let del = vj(&dir, &["checkpoint", "delete", "--damaged"]).ok();
    assert!(del.stdout.contains("0000000003.ckpt"), "{}", del.stdout);
    assert!(!garbage.exists());
    assert_intact(&dir, 600);
    // By id; an unknown id is an error naming it.
    let del = vj(&dir, &["checkpoint", "delete", "1"]).ok();
    assert!(del.stdout.contains("0000000001.ckpt"), "{}", del.stdout);
    let out = vj(&dir, &["checkpoint", "delete", "1"]).fails();
    assert!(out.stderr.contains("checkpoint 1"), "{}", out.stderr);
    let list = vj(&dir, &["checkpoint", "list", "-o", "json"]).ok().stdout;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], 2);
    assert_intact(&dir, 600);
}

/// `recover` names a damaged block of a sealed segment, points to salvage and exits 1.
#[test]
fn recover_reports_damaged_sealed_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 600);
    let seg = segment_files(&dir)[1].clone();
    let (offset, size, ..) = segment_blocks(&seg)[1];
    flip_byte(&seg, offset + size / 2);
    let out = vj(&dir, &["recover"]);
    assert_eq!(out.status.code(), Some(1), "{out:#?}");
    assert!(out.stdout.contains("DAMAGED"), "{}", out.stdout);
    assert!(
        out.stderr.contains(&seg.display().to_string())
            && out.stderr.contains(&format!("at byte {offset}"))
            && out.stderr.contains("recover --mode salvage"),
        "{}",
        out.stderr
    );
    vj(&dir, &["recover", "--mode", "salvage"]).ok();
    let out = vj(&dir, &["recover"]).ok();
    assert!(!out.stdout.contains("DAMAGED"), "{}", out.stdout);
}

/// Checkpoint bounds are inclusive in every table: after 20 events a checkpoint covers
/// "events through sequence 20".
#[test]
fn checkpoint_bounds_are_inclusive() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 20);
    let out = vj(&dir, &["checkpoint", "create"]).ok();
    assert!(
        out.stdout
            .starts_with("checkpoint 1 covers events through sequence 20 "),
        "{}",
        out.stdout
    );
    let list = vj(&dir, &["checkpoint", "list"]).ok();
    assert!(
        list.stdout.contains("covers events through sequence 20 "),
        "{}",
        list.stdout
    );
    let json: Value =
        serde_json::from_str(&vj(&dir, &["checkpoint", "list", "-o", "json"]).ok().stdout).unwrap();
    assert_eq!(json[0]["durable_through"], 20);
}

/// `replay` always prints a usable resume cursor, resumes after a consumer's recorded
/// position, and refuses an absurd thread count.
#[test]
fn replay_resumes_and_bounds_its_threads() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 30);
    let summary = |args: &[&str]| -> String {
        let mut all = vec!["replay", "-o", "summary"];
        all.extend_from_slice(args);
        let out = vj(&dir, &all).ok().stdout;
        let row = out
            .lines()
            .find(|l| l.contains("resume cursor"))
            .unwrap_or_else(|| panic!("{out}"))
            .to_string();
        // A table row: │ resume cursor ┆ CURSOR │
        row.split('┆')
            .nth(1)
            .unwrap()
            .trim()
            .trim_end_matches('│')
            .trim()
            .to_string()
    };
    let cursor = summary(&[]);
    assert_ne!(cursor, "-");
    // Nothing new after it: the same cursor again, still usable.
    let again = summary(&["--after-cursor", &cursor]);
    assert_eq!(again, cursor);
    vj_in(&dir, &["emit"], events(30, 35).as_bytes()).ok();
    let out = vj(&dir, &["replay", "--after-cursor", &again]).ok();
    let replayed = common::ndjson_seqs(&out.stdout);
    assert_eq!(replayed, (31..=35).collect::<Vec<_>>());

    // A consumer recorded by `checkpoint create --consumer`.
    vj(&dir, &["checkpoint", "create", "--consumer", "indexer=10"]).ok();
    let out = vj(
        &dir,
        &["replay", "--from-checkpoint", "1", "--consumer", "indexer"],
    )
    .ok();
    let first: Value = serde_json::from_str(out.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(first["seq"], 11);
    // Carried over to the next checkpoint.
    vj(&dir, &["checkpoint", "create", "--consumer", "auditor"]).ok();
    let out = vj(
        &dir,
        &["replay", "--from-checkpoint", "2", "--consumer", "indexer"],
    )
    .ok();
    assert_eq!(out.stdout.lines().count(), 25);
    let out = vj(
        &dir,
        &["replay", "--from-checkpoint", "2", "--consumer", "auditor"],
    )
    .ok();
    assert_eq!(out.stdout, "");
    // Without --from-checkpoint: the newest checkpoint recording the consumer.
    let out = vj(&dir, &["replay", "--consumer", "indexer"]).ok();
    assert_eq!(out.stdout.lines().count(), 25);
    let out = vj(&dir, &["replay", "--consumer", "nobody"]).fails();
    assert!(
        out.stderr.contains("checkpoint create --consumer nobody"),
        "{}",
        out.stderr
    );
    let out = vj(&dir, &["checkpoint", "create", "--consumer", "x=99"]).fails();
    assert!(
        out.stderr.contains("beyond the last durable event (35)"),
        "{}",
        out.stderr
    );

    let out = vj(&dir, &["replay", "--parallel", "1000"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("0 (one per core) to 256"),
        "{}",
        out.stderr
    );
}

/// A segment written by a newer format version is named as such by every command, and
/// no command "repairs" (overwrites) it.
#[test]
fn a_newer_segment_version_is_named() {
    use vexfs_journal::format::checksum::crc32_with_zeroed_field;
    use vexfs_journal::format::layout::FILE_CHECKSUM_OFFSET;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    journal(&dir, 600);
    let seg = segment_files(&dir)[0].clone();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[4..8].copy_from_slice(&7u32.to_le_bytes());
    let crc = crc32_with_zeroed_field(&bytes[..128], FILE_CHECKSUM_OFFSET).unwrap();
    bytes[FILE_CHECKSUM_OFFSET..FILE_CHECKSUM_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    for args in [
        &["stats"][..],
        &["cat"],
        &["verify"],
        &["recover"],
        &["emit"],
    ] {
        let out = vj(&dir, args);
        let all = format!("{}{}", out.stdout, out.stderr);
        assert!(!out.status.success(), "{args:?}: {all}");
        assert!(
            all.contains("unsupported journal file version 7 (this build reads 1)"),
            "{args:?}: {all}"
        );
        assert!(!all.contains("not a vexfs journal"), "{args:?}: {all}");
    }
    assert!(
        std::fs::read(&seg).unwrap() == bytes,
        "the newer segment is left as it is"
    );
}

// ---------------------------------------------------------------------------------
// Encryption at rest

/// An operator creates an encrypted journal and uses it: every command that reads it
/// takes the key, a missing or wrong key is named, a loose key file is refused, and no
/// file holds what was written (`docs/encryption.md`).
#[test]
fn an_operator_encrypts_a_journal_and_every_command_needs_its_key() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let key = tmp.path().join("journal.key");
    let key_s = key.to_str().unwrap();
    let made = vj(tmp.path(), &["key", "generate", key_s]).ok();
    assert!(made.stdout.contains("key id"), "{made:#?}");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let again = vj(tmp.path(), &["key", "generate", key_s]);
    assert!(
        !again.status.success() && again.stderr.contains("exists"),
        "{again:#?}"
    );

    // A key file others may read is refused, with the fix.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loose = vj(&dir, &["--key-file", key_s, "init"]);
    assert!(
        !loose.status.success() && loose.stderr.contains("chmod 600"),
        "{loose:#?}"
    );
    assert!(!dir.join("journal.json").exists());
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let k = ["--key-file", key_s];
    let with_key = |args: &[&str]| vj(&dir, &[&k[..], args].concat());
    with_key(&["init", "--segment-size", "65536"]).ok();
    let input: String = (0..600)
        .map(|i| {
            format!(
                "{}\n",
                json!({"type": "filesystem.write", "path": format!("/private/p{i}"),
                       "agent": "hidden-agent", "payload": format!("hush-{i}")})
            )
        })
        .collect();
    common::run_in(
        &dir,
        &["emit"],
        input.as_bytes(),
        &[("VEXJOURNAL_KEY_FILE", key_s)],
    )
    .ok();
    let listed = with_key(&["cat", "-o", "ndjson"]).ok();
    assert_eq!(listed.stdout.lines().count(), 600);
    let q = with_key(&["query", "--path-prefix", "/private/p59", "-o", "ndjson"]).ok();
    assert_eq!(q.stdout.lines().count(), 11, "{q:#?}");
    with_key(&["stats"]).ok();
    let v = with_key(&["verify", "--deep"]).ok();
    assert!(v.stdout.contains("clean"), "{v:#?}");
    with_key(&["index", "rebuild"]).ok();
    let checked = with_key(&["index", "check"]).ok();
    assert!(checked.stdout.contains(": ok"), "{checked:#?}");
    for name in files_in(&dir).iter().filter(|n| n.ends_with(".idx")) {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        assert!(bytes.starts_with(b"VXJIDXE1"), "{name} is not encrypted");
    }
    let id = with_key(&["key", "id"]).ok();
    assert_eq!(id.stdout.matches(&id_of(&key)).count(), 2, "{id:#?}");

    // Without the key, or with another, every reading command says which key it needs.
    let other = tmp.path().join("other.key");
    vj(tmp.path(), &["key", "generate", other.to_str().unwrap()]).ok();
    for args in [
        &["cat"][..],
        &["query", "--path-prefix", "/private"],
        &["stats"],
        &["verify"],
        &["emit"],
    ] {
        let none = vj(&dir, args);
        assert!(!none.status.success(), "{args:?} without a key: {none:#?}");
        assert!(
            none.stderr.contains("is encrypted") && none.stderr.contains(&id_of(&key)),
            "{args:?} without a key: {none:#?}"
        );
        let wrong = vj(
            &dir,
            &[&["--key-file", other.to_str().unwrap()][..], args].concat(),
        );
        assert!(
            !wrong.status.success() && wrong.stderr.contains("not with the key given"),
            "{args:?} with another key: {wrong:#?}"
        );
    }
    let wrong_id = vj(&dir, &["--key-file", other.to_str().unwrap(), "key", "id"]);
    assert_eq!(wrong_id.status.code(), Some(1), "{wrong_id:#?}");
    // The key given as digits in the environment works too.
    let hex = std::fs::read_to_string(&key).unwrap();
    let env = common::run_in(
        &dir,
        &["cat", "-n", "1"],
        b"",
        &[("VEXJOURNAL_KEY", hex.trim())],
    );
    assert!(env.ok().stdout.contains("/private/p599"));

    // Compaction keeps it encrypted; nothing in any file is readable.
    with_key(&["compact", "--drop-type", "filesystem.write"]).ok();
    for name in files_in(&dir) {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        for needle in [
            &b"/private/"[..],
            b"hidden-agent",
            b"hush-",
            hex.trim().as_bytes(),
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{name} holds {:?}",
                String::from_utf8_lossy(needle)
            );
        }
    }
}

/// The id `key id` prints for the key in `path`.
fn id_of(path: &Path) -> String {
    let mut c = bin();
    c.args([
        "--key-file",
        path.to_str().unwrap(),
        "--dir",
        "/nonexistent",
    ]);
    c.args(["key", "id"]);
    let out = run(c, b"");
    out.stdout
        .lines()
        .find_map(|l| l.strip_prefix("key given: "))
        .unwrap_or_else(|| panic!("{out:#?}"))
        .to_string()
}
