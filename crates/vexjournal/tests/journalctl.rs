//! The journalctl-grade CLI, end to end with the built binary: -n/--head/-r/-S/-U/-f,
//! FIELD=VALUE matches, --grep, output formats, pager and colours only on a terminal,
//! tables that fit, `segments`, `disk-usage`, completions and man pages, and queries
//! over a damaged block (issue 10, finding 8).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

use common::{Run, bin, run_in};
use serde_json::{Value, json};
use vexfs_journal::{AgentOp, Config, Event, FsOp, Journal, VectorOp};
use vexfs_journal_testkit::blocks::segment_blocks;
use vexfs_journal_testkit::{Rng, flip_byte, segment_files};

fn vj(dir: &Path, args: &[&str]) -> Run {
    run_in(dir, args, b"", &[])
}

#[track_caller]
fn fails(r: Run) -> Run {
    assert!(
        !r.status.success(),
        "unexpectedly succeeded\nstdout:\n{}\nstderr:\n{}",
        r.stdout,
        r.stderr
    );
    r
}

fn lines(r: &Run) -> Vec<Value> {
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
        .collect()
}

fn seqs(evs: &[Value]) -> Vec<u64> {
    evs.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// A journal made with `init` holding `events` (NDJSON through `emit`).
fn journal(tmp: &Path, events: &[Value]) -> std::path::PathBuf {
    let dir = tmp.join("j");
    vj(&dir, &["init"]).ok();
    let text: String = events.iter().map(|e| format!("{e}\n")).collect();
    run_in(&dir, &["emit"], text.as_bytes(), &[]).ok();
    dir
}

/// Ten events: types alternate write/read, pids 100+i%3, times one minute apart.
fn ten(tmp: &Path) -> std::path::PathBuf {
    let evs: Vec<Value> = (1..=10u64)
        .map(|i| {
            json!({
                "type": if i % 2 == 0 { "filesystem.write" } else { "filesystem.read" },
                "pid": 100 + i % 3,
                "inode": i,
                "session": i % 2 + 7,
                "path": format!("/d/{i}"),
                "agent": if i <= 5 { "Planner" } else { "indexer" },
                "intent": if i == 4 { "Evict COLD vectors" } else { "" },
                "payload": format!("payload number {i}"),
                "time": format!("2026-01-01T00:{:02}:00Z", i),
            })
        })
        .collect();
    journal(tmp, &evs)
}

#[test]
fn lines_is_most_recent_head_is_first_reverse_is_newest_first() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    for cmd in ["cat", "query"] {
        let s = |args: &[&str]| {
            let mut a = vec![cmd];
            a.extend_from_slice(args);
            seqs(&lines(&vj(&dir, &a).ok()))
        };
        assert_eq!(
            s(&["-n", "3"]),
            [8, 9, 10],
            "{cmd} -n: the most recent, in order"
        );
        assert_eq!(s(&["--lines", "2"]), [9, 10]);
        assert_eq!(s(&["--head", "3"]), [1, 2, 3], "{cmd} --head: the first");
        assert_eq!(s(&["-r", "--head", "2"]), [10, 9]);
        assert_eq!(s(&["-n", "3", "-r"]), [10, 9, 8]);
        assert_eq!(s(&["-r"]), (1..=10).rev().collect::<Vec<_>>());
        assert_eq!(s(&["-n", "20"]), (1..=10).collect::<Vec<_>>());
        assert_eq!(s(&["-n", "0"]), Vec::<u64>::new());
        assert_eq!(s(&["-n", "2", "--to-seq", "5"]), [4, 5]);
        // -n with a match counts matches, not events.
        assert_eq!(s(&["-n", "2", "type=filesystem.read"]), [7, 9]);
    }
    // Paging with --head and cursors still works.
    let r = vj(&dir, &["query", "--head", "4", "--show-cursor"]).ok();
    assert_eq!(seqs(&lines(&r)), [1, 2, 3, 4]);
    let cursor = r
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("cursor: "))
        .unwrap()
        .to_string();
    let r = vj(&dir, &["query", "--head", "4", "--after-cursor", &cursor]).ok();
    assert_eq!(seqs(&lines(&r)), [5, 6, 7, 8]);
    // The most recent 2 after the cursor.
    let r = vj(&dir, &["query", "-n", "2", "--after-cursor", &cursor]).ok();
    assert_eq!(seqs(&lines(&r)), [9, 10]);
    fails(vj(&dir, &["query", "-f", "-r"]));
}

#[test]
fn since_until_short_flags_local_time_and_utc_switch() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    let s = |args: &[&str], env: &[(&str, &str)]| {
        let mut a = vec!["query"];
        a.extend_from_slice(args);
        seqs(&lines(&run_in(&dir, &a, b"", env).ok()))
    };
    let utc = [("TZ", "UTC")];
    assert_eq!(
        s(
            &["-S", "2026-01-01T00:03:00Z", "-U", "2026-01-01T00:05:00Z"],
            &utc
        ),
        [3, 4, 5]
    );
    assert_eq!(
        s(
            &["--since", "2026-01-01 00:08", "--until", "2026-01-01 00:09"],
            &utc
        ),
        [8, 9]
    );
    // A zone five hours east of UTC: local 05:08 is 00:08 UTC; --utc reads it as UTC.
    let east = [("TZ", "XYZ-5")];
    assert_eq!(s(&["-S", "2026-01-01 05:08"], &east), [8, 9, 10]);
    assert_eq!(
        s(&["-S", "2026-01-01 05:08", "--utc"], &east),
        Vec::<u64>::new()
    );
    assert_eq!(s(&["-S", "2026-01-01 00:08", "--utc"], &east), [8, 9, 10]);
    // Times shown follow the same convention.
    let r = run_in(
        &dir,
        &["query", "--head", "1", "-o", "short-precise"],
        b"",
        &east,
    )
    .ok();
    assert!(
        r.stdout.starts_with("Jan 01 05:01:00.000000 "),
        "{}",
        r.stdout
    );
    let r = run_in(
        &dir,
        &["query", "--head", "1", "-o", "short", "--utc"],
        b"",
        &east,
    )
    .ok();
    assert!(r.stdout.starts_with("Jan 01 00:01:00 "), "{}", r.stdout);
    let r = run_in(&dir, &["cat", "-o", "table", "--utc"], b"", &east).ok();
    assert!(r.stdout.contains("time (UTC)"), "{}", r.stdout);
    assert!(
        r.stdout.contains("2026-01-01 00:01:00.000000"),
        "{}",
        r.stdout
    );
    let r = run_in(&dir, &["cat", "-o", "table"], b"", &east).ok();
    assert!(r.stdout.contains("time (UTC+05"), "{}", r.stdout);
    assert!(
        r.stdout.contains("2026-01-01 05:01:00.000000"),
        "{}",
        r.stdout
    );
    // The help says which convention holds.
    let help = vj(&dir, &["query", "--help"]).ok().stdout;
    assert!(help.contains("--utc") && help.contains("local"), "{help}");
}

#[test]
fn contradictory_bounds_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    for (args, says) in [
        (
            &["--since", "today", "--until", "yesterday"][..],
            "after --until",
        ),
        (&["--from-seq", "10", "--to-seq", "5"], "above --to-seq"),
        (&["--priority-at-least", "300"], "priorities are"),
        (
            &["--priority-at-least", "low", "--priority-at-most", "high"],
            "no priority",
        ),
        (&["bogus"], "FIELD=VALUE"),
        (&["uid=0"], "no uid"),
        (&["colour=red"], "unknown field"),
        (&["--grep", "("], "--grep"),
        (&["--output-fields", "seq,nope"], "unknown field"),
    ] {
        for cmd in ["query", "cat"] {
            let mut a = vec![cmd];
            a.extend_from_slice(args);
            let r = fails(vj(&dir, &a));
            assert!(r.stderr.contains(says), "{a:?}: {}", r.stderr);
            assert!(r.stdout.is_empty(), "{a:?}: {}", r.stdout);
        }
    }
    let r = fails(vj(&dir, &["follow", "--from-seq", "3", "--to-seq", "2"]));
    assert!(r.stderr.contains("above --to-seq"), "{}", r.stderr);
}

#[test]
fn field_matches_or_within_a_field_and_across_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    let s = |args: &[&str]| {
        let mut a = vec!["query"];
        a.extend_from_slice(args);
        seqs(&lines(&vj(&dir, &a).ok()))
    };
    assert_eq!(s(&["pid=101"]), [1, 4, 7, 10]);
    assert_eq!(s(&["pid=101", "pid=102"]), [1, 2, 4, 5, 7, 8, 10]);
    assert_eq!(s(&["pid=101", "type=filesystem.write"]), [4, 10]);
    assert_eq!(s(&["type=filesystem.write", "type=0x0103"]).len(), 10);
    assert_eq!(s(&["inode=7"]), [7]);
    assert_eq!(s(&["session=7"]), [2, 4, 6, 8, 10]);
    assert_eq!(s(&["path=/d/1"]), [1], "exact, not a prefix of /d/10");
    assert_eq!(s(&["agent=indexer", "inode=3"]), Vec::<u64>::new());
    assert_eq!(s(&["agent=indexer", "--to-seq", "7"]), [6, 7]);
    assert_eq!(s(&["tx=0"]).len(), 10, "absent means zero");
    assert_eq!(s(&["--type", "filesystem.read", "pid=100"]), [3, 9]);
    // cat takes them too.
    let r = vj(&dir, &["cat", "pid=100"]).ok();
    assert_eq!(seqs(&lines(&r)), [3, 6, 9]);
}

#[test]
fn grep_searches_text_fields_case_insensitive_when_lower_case() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    let s = |args: &[&str]| {
        let mut a = vec!["query"];
        a.extend_from_slice(args);
        seqs(&lines(&vj(&dir, &a).ok()))
    };
    assert_eq!(s(&["--grep", "number 1$"]), [1], "payload");
    assert_eq!(s(&["--grep", "cold"]), [4], "intent, case-insensitive");
    assert_eq!(
        s(&["--grep", "Cold"]),
        Vec::<u64>::new(),
        "upper case: sensitive"
    );
    assert_eq!(s(&["--grep", "COLD"]), [4]);
    assert_eq!(s(&["-g", "planner"]), [1, 2, 3, 4, 5], "agent");
    assert_eq!(s(&["--grep", "^/d/1"]), [1, 10], "path");
    assert_eq!(s(&["--grep", "planner", "pid=100"]), [3]);
}

#[test]
fn output_formats_and_fields() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    let env = [("TZ", "UTC")];
    let out = |args: &[&str]| {
        let mut a = vec!["cat", "--head", "2"];
        a.extend_from_slice(args);
        run_in(&dir, &a, b"", &env).ok().stdout
    };
    let short = out(&["-o", "short"]);
    assert_eq!(
        short.lines().next().unwrap(),
        "Jan 01 00:01:00 filesystem.read[101]: /d/1 inode=1 payload=16B",
        "{short}"
    );
    let pretty = out(&["-o", "json-pretty"]);
    let v: Value = serde_json::from_str(&pretty).unwrap();
    assert_eq!(seqs(v.as_array().unwrap()), [1, 2]);
    assert!(pretty.lines().count() > 4, "indented: {pretty}");
    let json = out(&["-o", "json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(seqs(v.as_array().unwrap()), [1, 2]);
    assert_eq!(out(&["-o", "cat"]), "payload number 1\npayload number 2\n");
    assert_eq!(
        out(&["-o", "cat", "--output-fields", "inode,path"]),
        "1 /d/1\n2 /d/2\n"
    );
    let nd = out(&["--output-fields", "pid,inode"]);
    let first: Value = serde_json::from_str(nd.lines().next().unwrap()).unwrap();
    assert_eq!(first, json!({"seq": 1, "pid": 101, "inode": 1}));
    let pretty = out(&["-o", "json-pretty", "--output-fields", "pid"]);
    let v: Value = serde_json::from_str(&pretty).unwrap();
    assert_eq!(v, json!([{"seq": 1, "pid": 101}, {"seq": 2, "pid": 102}]));
    // An empty selection is still well formed.
    let v: Value = serde_json::from_str(&out(&["-o", "json", "--from-seq", "99"])).unwrap();
    assert_eq!(v, json!([]));
}

/// The widest line of `text`, in characters.
fn widest(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[test]
fn tables_stream_and_fit_the_width() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    // No terminal, no $COLUMNS: nothing is cut or wrapped.
    let r = vj(&dir, &["cat", "-o", "table"]).ok();
    assert_eq!(
        r.stdout.lines().count(),
        12,
        "header, rule, 10 rows:\n{}",
        r.stdout
    );
    assert!(r.stdout.contains("payload=17B"), "{}", r.stdout);
    for (i, line) in r.stdout.lines().skip(2).enumerate() {
        let seq: u64 = line.split('┆').next().unwrap().trim().parse().unwrap();
        assert_eq!(seq, i as u64 + 1);
    }
    // A narrow width cuts lines; it never spreads a cell over lines.
    let r = run_in(&dir, &["cat", "-o", "table"], b"", &[("COLUMNS", "50")]).ok();
    assert_eq!(r.stdout.lines().count(), 12, "{}", r.stdout);
    assert!(widest(&r.stdout) <= 50, "{}", r.stdout);
    // Report tables: at a tiny width, cells keep whole words rather than one
    // character per column.
    for cols in ["10", "60"] {
        let r = run_in(&dir, &["stats"], b"", &[("COLUMNS", cols)]).ok();
        assert!(r.stdout.contains("events"), "{}", r.stdout);
        assert!(r.stdout.contains("segments"), "{}", r.stdout);
        assert!(widest(&r.stdout) <= 60, "COLUMNS={cols}:\n{}", r.stdout);
    }
    let r = vj(&dir, &["stats"]).ok();
    assert!(
        r.stdout
            .lines()
            .any(|l| l.contains("journal") && l.contains(&*dir.to_string_lossy())),
        "unknown width: no wrapping\n{}",
        r.stdout
    );
}

/// Runs `vexjournal ARGS` under `script`, so its stdout and stderr are a terminal.
fn on_terminal(dir: &Path, args: &str, env: &[(&str, &str)]) -> Run {
    let cmd = format!(
        "{} --dir {} {args}",
        env!("CARGO_BIN_EXE_vexjournal"),
        dir.display()
    );
    let mut c = std::process::Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]);
    c.env_remove("VEXJOURNAL_DIR").env_remove("VEXJOURNAL_LOG");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.stdin(Stdio::null()).output().unwrap();
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn have_script() -> bool {
    std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn pager_kernel_refusal_and_colour_only_on_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    let pager = [("PAGER", "sed s/^/PAGED:/"), ("TZ", "UTC")];
    // Not a terminal: never paged, never coloured, kernel bytes allowed.
    let r = run_in(&dir, &["cat"], b"", &pager).ok();
    assert!(!r.stdout.contains("PAGED:"), "{}", r.stdout);
    let r = run_in(&dir, &["cat", "-o", "kernel"], b"", &[]).ok();
    assert!(!r.stdout.is_empty());
    // Diagnostics: a journal whose indexes are gone logs that it rebuilds them.
    let many = many(tmp.path());
    let log = |args: &[&str], env: &[(&str, &str)]| {
        drop_indexes(&many);
        let mut a = vec!["--log", "info"];
        a.extend_from_slice(args);
        let r = run_in(&many, &a, b"", env).ok();
        assert!(r.stderr.contains("indexing segment"), "{}", r.stderr);
        r.stderr
    };
    assert!(
        !log(&["stats"], &[]).contains('\u{1b}'),
        "no ANSI codes into a pipe"
    );
    assert!(log(&["--color", "always", "stats"], &[]).contains("\u{1b}["));
    assert!(!log(&["--color", "never", "stats"], &[]).contains('\u{1b}'));
    if !have_script() {
        eprintln!("skipping the terminal half: no `script` command");
        return;
    }
    let r = on_terminal(&dir, "cat --head 2", &pager);
    assert!(r.stdout.contains("PAGED:{"), "{}", r.stdout);
    let r = on_terminal(&dir, "cat --head 2 --no-pager", &pager);
    assert!(
        !r.stdout.contains("PAGED:") && r.stdout.contains("\"seq\":1"),
        "{}",
        r.stdout
    );
    let r = on_terminal(&dir, "cat -o kernel", &[]);
    assert!(!r.status.success(), "{}", r.stdout);
    assert!(
        r.stdout.contains("refusing") && r.stdout.contains("redirect"),
        "{}",
        r.stdout
    );
    drop_indexes(&many);
    let r = on_terminal(&many, "--log info stats", &[]);
    assert!(
        r.stdout.contains("indexing segment") && r.stdout.contains("\u{1b}["),
        "{:?}",
        r.stdout
    );
    drop_indexes(&many);
    let r = on_terminal(&many, "--log info stats", &[("NO_COLOR", "1")]);
    assert!(r.stdout.contains("indexing segment"), "{:?}", r.stdout);
    assert!(!r.stdout.contains("\u{1b}["), "NO_COLOR: {:?}", r.stdout);
}

#[test]
fn follow_json_is_one_object_per_line_and_cat_follows() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    for args in [
        &["follow", "-o", "json", "-n", "2"][..],
        &["cat", "-f", "-o", "json", "-n", "2"],
        &["query", "-f", "-n", "2", "type=filesystem.write"],
    ] {
        let mut child = bin()
            .arg("--dir")
            .arg(&dir)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut read = |n: usize| -> Vec<u64> {
            (0..n)
                .map(|_| {
                    let mut l = String::new();
                    out.read_line(&mut l).unwrap();
                    let v: Value =
                        serde_json::from_str(&l).unwrap_or_else(|e| panic!("{args:?}: {l:?}: {e}"));
                    assert!(v.is_object(), "{args:?}: one object per line: {l}");
                    v["seq"].as_u64().unwrap()
                })
                .collect()
        };
        // The last two matches so far (each round adds a filesystem.write).
        let writes = args.contains(&"type=filesystem.write");
        let all = seqs(&lines(&vj(&dir, &["cat"]).ok()));
        let newest = *all.last().unwrap();
        let matching: Vec<u64> = all
            .into_iter()
            .filter(|s| !writes || *s % 2 == 0 || *s > 10)
            .collect();
        let want = &matching[matching.len() - 2..];
        assert_eq!(read(2), want, "{args:?}");
        run_in(
            &dir,
            &["emit"],
            b"{\"type\":\"filesystem.write\",\"inode\":99}\n",
            &[],
        )
        .ok();
        let next = read(1);
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(next, [newest + 1], "{args:?}: the new event");
    }
}

/// 1500 events through `init --segment-size 65536` and `emit`: several segments.
fn many(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("many");
    vj(&dir, &["init", "--segment-size", "65536"]).ok();
    let text: String = (0..1500)
        .map(|i| {
            format!(
                "{{\"type\":\"vector.search\",\"payload\":\"{}\"}}\n",
                noise(i, 120)
            )
        })
        .collect();
    run_in(&dir, &["emit"], text.as_bytes(), &[]).ok();
    dir
}

/// Removes the `.idx` files of the journal in `dir`.
fn drop_indexes(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "idx") {
            std::fs::remove_file(p).unwrap();
        }
    }
}

#[test]
fn table_rows_are_printed_as_they_come() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    // A table that never ends (-f) shows its header and rows while the command runs:
    // rows are streamed, not collected first.
    let mut child = bin()
        .arg("--dir")
        .arg(&dir)
        .args(["cat", "-f", "-o", "table", "-n", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut read = || {
        let mut l = String::new();
        out.read_line(&mut l).unwrap();
        l
    };
    assert!(read().contains("seq"));
    assert!(read().starts_with('─'));
    let rows: Vec<String> = (0..2).map(|_| read()).collect();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(rows[0].trim_start().starts_with("9 ┆"), "{rows:?}");
    assert!(rows[1].trim_start().starts_with("10 ┆"), "{rows:?}");
}

#[test]
fn segments_and_disk_usage() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = many(tmp.path());
    let list: Value =
        serde_json::from_str(&vj(&dir, &["segments", "-o", "json"]).ok().stdout).unwrap();
    let list = list.as_array().unwrap();
    assert!(list.len() >= 3, "{list:?}");
    assert_eq!(list.len(), segment_files(&dir).len());
    let mut next = 1;
    let mut total = 0;
    for (i, s) in list.iter().enumerate() {
        assert_eq!(s["first_seq"].as_u64().unwrap(), next, "{s}");
        next = s["last_seq"].as_u64().unwrap() + 1;
        total += s["events"].as_u64().unwrap();
        let last = i + 1 == list.len();
        assert_eq!(s["state"], if last { "open" } else { "sealed" }, "{s}");
        let file = dir.join(s["file"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            s["bytes"].as_u64().unwrap()
        );
        assert!(s["first_time"].as_str().unwrap() <= s["last_time"].as_str().unwrap());
    }
    assert_eq!(total, 1500);
    let table = vj(&dir, &["segments"]).ok().stdout;
    assert!(table.contains("sealed") && table.contains("open") && table.contains("1..="));
    let du: Value =
        serde_json::from_str(&vj(&dir, &["disk-usage", "-o", "json"]).ok().stdout).unwrap();
    let seg_bytes: u64 = list.iter().map(|s| s["bytes"].as_u64().unwrap()).sum();
    assert_eq!(du["segment_bytes"].as_u64().unwrap(), seg_bytes);
    assert!(du["total_bytes"].as_u64().unwrap() > seg_bytes);
    let text = vj(&dir, &["disk-usage"]).ok().stdout;
    assert!(text.contains("takes up"), "{text}");
    fails(vj(&tmp.path().join("nothing"), &["segments"]));
}

#[test]
fn completions_man_pages_and_help_list_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = ten(tmp.path());
    for shell in ["bash", "zsh", "fish"] {
        let r = vj(&dir, &["completions", shell]).ok();
        assert!(
            r.stdout.contains("vexjournal") && r.stdout.contains("segments"),
            "{shell}"
        );
    }
    let man = tmp.path().join("man1");
    let r = vj(&dir, &["man", "--out", man.to_str().unwrap()]).ok();
    for page in [
        "vexjournal.1",
        "vexjournal-query.1",
        "vexjournal-segments.1",
    ] {
        let text = std::fs::read_to_string(man.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
        assert!(r.stdout.contains(page));
    }
    assert!(
        !man.join("vexjournal-torture-writer.1").exists(),
        "hidden commands stay hidden"
    );
    let inside = dir.join("man");
    let r = fails(vj(&dir, &["man", "--out", inside.to_str().unwrap()]));
    assert!(r.stderr.contains("inside the journal"), "{}", r.stderr);
    let help = vj(&dir, &["--help"]).ok().stdout;
    for cmd in [
        "init",
        "emit",
        "cat",
        "stats",
        "query",
        "follow",
        "index",
        "recover",
        "checkpoint",
        "replay",
        "verify",
        "compact",
        "segments",
        "disk-usage",
        "completions",
        "man",
        "kernel",
        "bench",
        "demo",
    ] {
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{cmd} "))),
            "--help lists {cmd}:\n{help}"
        );
    }
}

/// Deterministic incompressible text.
fn noise(seed: u64, len: usize) -> String {
    let mut rng = Rng(seed);
    (0..len)
        .map(|_| char::from(b'a' + (rng.next() % 26) as u8))
        .collect()
}

/// A journal of `n` events (types cycle write, decision, search) in small segments.
fn damaged_journal(tmp: &Path) -> (std::path::PathBuf, usize, (u64, u64)) {
    let dir = tmp.join("j");
    let config = Config {
        segment_size: 64 << 10,
        block_bytes: 2048,
        checkpoint_interval_s: 0,
        ..Config::default()
    };
    let j = Journal::create(&dir, config).unwrap();
    for i in 0..1200u64 {
        let ev = match i % 3 {
            0 => Event::filesystem(FsOp::Write).path(format!("/data/{i}")),
            1 => Event::agent(AgentOp::Decision).agent_id("a"),
            _ => Event::vector(VectorOp::Search),
        };
        j.emit(ev.inode(i + 1).payload(noise(i, 200))).unwrap();
    }
    j.close().unwrap();
    let segs = segment_files(&dir);
    assert!(segs.len() >= 4, "{segs:?}");
    // A block of the third segment (not its first) holding a vector.search event.
    let (ordinal, (offset, size, first, last)) = segment_blocks(&segs[2])
        .into_iter()
        .enumerate()
        .skip(1)
        .find(|(_, b)| (b.2..=b.3).any(|s| (s - 1) % 3 == 2))
        .unwrap();
    flip_byte(&segs[2], offset + size / 2);
    (dir, ordinal, (first, last))
}

#[test]
fn damaged_block_queries_print_every_earlier_match_then_name_the_block() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, ordinal, (first, last)) = damaged_journal(tmp.path());
    let search = |s: &u64| (s - 1) % 3 == 2;
    let before: Vec<u64> = (1..first).filter(search).collect();
    let after: Vec<u64> = (last + 1..=1200).filter(search).collect();

    let r = fails(vj(&dir, &["query", "--type", "vector.search"]));
    assert_eq!(
        seqs(&lines(&r)),
        before,
        "every match before the damaged block, in order"
    );
    assert!(r.stderr.contains("0000"), "names the segment: {}", r.stderr);
    assert!(
        r.stderr.contains(&format!("block {ordinal} of"))
            && r.stderr.contains(&format!("{first}..={last}")),
        "names the block: {}",
        r.stderr
    );
    assert!(r.stderr.contains("--skip-damaged"), "{}", r.stderr);
    assert_eq!(r.stderr.matches("caused by").count(), 0, "{}", r.stderr);

    // cat: the events before it, and well-formed JSON.
    let r = fails(vj(&dir, &["cat", "-o", "json"]));
    let v: Value = serde_json::from_str(&r.stdout).expect("cat -o json stays well formed");
    assert_eq!(seqs(v.as_array().unwrap()), (1..first).collect::<Vec<_>>());
    let r = fails(vj(
        &dir,
        &["query", "-o", "json-pretty", "--type", "vector.search"],
    ));
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(seqs(v.as_array().unwrap()), before);

    // Reverse: the matches after it, newest first, then the error.
    let r = fails(vj(&dir, &["query", "-r", "--type", "vector.search"]));
    assert_eq!(
        seqs(&lines(&r)),
        after.iter().rev().copied().collect::<Vec<_>>()
    );
    // Not reaching the block: fine.
    let r = vj(&dir, &["query", "-n", "3", "--type", "vector.search"]).ok();
    assert_eq!(seqs(&lines(&r)), after[after.len() - 3..]);

    // --skip-damaged: everything else, a warning, and exit status 1.
    let r = fails(vj(
        &dir,
        &["query", "--type", "vector.search", "--skip-damaged"],
    ));
    let mut want = before.clone();
    want.extend(&after);
    assert_eq!(seqs(&lines(&r)), want);
    assert!(
        r.stderr
            .contains(&format!("warning: skipped block {ordinal} of")),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("sequences {first}..={last}")),
        "{}",
        r.stderr
    );
    let r = fails(vj(&dir, &["cat", "-o", "json", "--skip-damaged"]));
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let got = seqs(v.as_array().unwrap());
    assert_eq!(got.len() as u64, 1200 - (last - first + 1));
    assert!(got.iter().all(|s| *s < first || *s > last));
}
