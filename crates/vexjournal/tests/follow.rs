//! `vexjournal follow` in one process sees every event `vexjournal emit` writes in
//! others, and a follower restarted with `--after-cursor` misses and repeats nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use common::bin;

fn vexjournal(dir: &Path) -> Command {
    let mut c = bin();
    c.arg("--dir").arg(dir);
    c
}

fn emit(dir: &Path, lines: &[String]) {
    let mut child = vexjournal(dir)
        .arg("emit")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for l in lines {
        writeln!(stdin, "{l}").unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "emit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn line(i: u64) -> String {
    format!(r#"{{"type":"filesystem.write","path":"/follow/{i}","inode":{i}}}"#)
}

struct Follower {
    child: Child,
    events: Receiver<u64>,
    cursors: Receiver<String>,
}

fn follow(dir: &Path, extra: &[&str]) -> Follower {
    let mut child = vexjournal(dir)
        .arg("follow")
        .arg("--show-cursor")
        .arg("--path-prefix")
        .arg("/follow/")
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, events) = channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines() {
            let v: serde_json::Value = serde_json::from_str(&l.unwrap()).unwrap();
            if tx.send(v["inode"].as_u64().unwrap_or(0)).is_err() {
                break;
            }
        }
    });
    let (ctx, cursors) = channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(err).lines().map_while(Result::ok) {
            if let Some(c) = l.strip_prefix("cursor: ") {
                let _ = ctx.send(c.to_string());
            }
        }
    });
    Follower {
        child,
        events,
        cursors,
    }
}

fn next(f: &Follower) -> u64 {
    f.events
        .recv_timeout(Duration::from_secs(20))
        .expect("the follower printed nothing for 20 s")
}

// Checks I36 (docs/invariants.md).
#[test]
fn follower_sees_other_processes_and_resumes_from_its_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let init = vexjournal(&dir).arg("init").output().unwrap();
    assert!(init.status.success());

    let mut f = follow(&dir, &[]);
    // The follower starts at "now": probe until it is up.
    let mut probe = 1_000_000;
    loop {
        emit(&dir, &[line(probe)]);
        if let Ok(i) = f.events.recv_timeout(Duration::from_millis(500)) {
            assert_eq!(i, probe);
            break;
        }
        probe += 1;
        assert!(probe < 1_000_040, "follower never came up");
    }
    // Several writer processes, one after the other, with an unrelated event between.
    for batch in 0..4u64 {
        let lines: Vec<String> = (batch * 50..batch * 50 + 50).map(line).collect();
        emit(&dir, &lines);
        emit(
            &dir,
            &[r#"{"type":"agent.decision","agent":"other"}"#.to_string()],
        );
    }
    let seen: Vec<u64> = (0..200).map(|_| next(&f)).collect();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());

    // Kill it after the first 100 of the next events; restart from the last cursor it
    // printed: the rest arrives exactly once.
    let lines: Vec<String> = (200..300).map(line).collect();
    emit(&dir, &lines);
    let mut last_cursor = String::new();
    for i in 200..250 {
        assert_eq!(next(&f), i);
    }
    while let Ok(c) = f.cursors.recv_timeout(Duration::from_millis(200)) {
        last_cursor = c;
    }
    f.child.kill().unwrap();
    f.child.wait().unwrap();
    // Whatever it printed before dying, the cursor names the last event it printed.
    let mut printed_after = Vec::new();
    while let Ok(i) = f.events.try_recv() {
        printed_after.push(i);
    }
    let last_printed = printed_after.last().copied().unwrap_or(249);
    assert!(!last_cursor.is_empty());

    let lines: Vec<String> = (300..350).map(line).collect();
    emit(&dir, &lines);
    let mut g = follow(&dir, &["--after-cursor", &last_cursor]);
    let resumed: Vec<u64> = (last_printed + 1..350).map(|_| next(&g)).collect();
    assert_eq!(resumed, (last_printed + 1..350).collect::<Vec<_>>());
    assert!(
        g.events.recv_timeout(Duration::from_millis(300)).is_err(),
        "nothing repeated or extra"
    );
    g.child.kill().unwrap();
    g.child.wait().unwrap();

    // A cursor file does the same bookkeeping by itself.
    let cursor_file = tmp.path().join("cursor");
    let mut h = follow(
        &dir,
        &["--cursor-file", cursor_file.to_str().unwrap(), "-n", "5"],
    );
    let tail: Vec<u64> = (0..5).map(|_| next(&h)).collect();
    assert_eq!(tail, (345..350).collect::<Vec<_>>());
    // The cursor line comes after the cursor file is saved: wait for the fifth.
    for _ in 0..5 {
        h.cursors.recv_timeout(Duration::from_secs(10)).unwrap();
    }
    h.child.kill().unwrap();
    h.child.wait().unwrap();
    emit(&dir, &[line(350), line(351)]);
    let mut k = follow(&dir, &["--cursor-file", cursor_file.to_str().unwrap()]);
    assert_eq!((next(&k), next(&k)), (350, 351));
    k.child.kill().unwrap();
    k.child.wait().unwrap();
}

// Checks I37 (docs/invariants.md).
#[test]
fn query_pages_with_cursors_and_rejects_foreign_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    let b = tmp.path().join("b");
    for d in [&a, &b] {
        assert!(vexjournal(d).arg("init").output().unwrap().status.success());
        emit(d, &(0..30).map(line).collect::<Vec<_>>());
    }
    let page = |dir: &Path, after: Option<&str>| {
        let mut c = vexjournal(dir);
        c.args([
            "query",
            "--path-prefix",
            "/follow/",
            "--head",
            "7",
            "--show-cursor",
        ]);
        if let Some(a) = after {
            c.args(["--after-cursor", a]);
        }
        let out = c.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        let inodes: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["inode"]
                    .as_u64()
                    .unwrap_or(0)
            })
            .collect();
        let cursor = stderr
            .lines()
            .find_map(|l| l.strip_prefix("cursor: ").map(str::to_string))
            .unwrap_or_default();
        (out.status.success(), inodes, cursor, stderr)
    };
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let (ok, inodes, c, err) = page(&a, cursor.as_deref());
        assert!(ok, "{err}");
        all.extend(inodes);
        cursor = Some(c);
    }
    assert_eq!(all, (0..30).collect::<Vec<_>>());
    let (ok, _, _, err) = page(&b, cursor.as_deref());
    assert!(!ok && err.contains("belongs to journal"), "{err}");
}
