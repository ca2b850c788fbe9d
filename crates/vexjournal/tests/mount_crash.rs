//! `kill -9` of the `vexjournal mount` daemon in the middle of a workload (issue 12):
//! the dead mount is taken away by `vexjournal umount`, the journal verifies clean and
//! reopens, and with `sync = true` every operation that returned to its caller has its
//! event. Without `sync`, the events that survive are a prefix of each writer's
//! operations. Also `vexjournal umount`'s refusals.
//!
//! The mount tests need root and /dev/fuse; without them they print why and pass.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{bin, mounted, run_in, wait_for};
use serde_json::Value;

/// Writer threads per round.
const THREADS: usize = 2;

/// Why the mount tests cannot run here, if they cannot.
fn skip_reason() -> Option<&'static str> {
    if !Path::new("/dev/fuse").exists() {
        return Some("/dev/fuse is missing");
    }
    if !rustix::process::geteuid().is_root() {
        return Some("not root (the mount is made with the mount syscall)");
    }
    None
}

/// One file system call of the workload, as the workload made it and as the journal
/// names it (mount-relative paths).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    Create(String),
    Write(String),
    Rename(String, String),
    Delete(String),
}

impl Op {
    fn line(&self) -> String {
        match self {
            Op::Create(p) => format!("create {p}"),
            Op::Write(p) => format!("write {p}"),
            Op::Rename(a, b) => format!("rename {a} {b}"),
            Op::Delete(p) => format!("delete {p}"),
        }
    }

    fn parse(words: &[&str]) -> Op {
        match words {
            ["create", p] => Op::Create(p.to_string()),
            ["write", p] => Op::Write(p.to_string()),
            ["rename", a, b] => Op::Rename(a.to_string(), b.to_string()),
            ["delete", p] => Op::Delete(p.to_string()),
            _ => panic!("bad log line {words:?}"),
        }
    }

    /// The operation a journal event records (per-operation events only: not opens,
    /// closes or the mount's own events).
    fn of_event(e: &Value) -> Option<Op> {
        let path = e["path"].as_str()?.to_string();
        if e["metadata"].get("op").is_some() {
            return None;
        }
        Some(match e["type"].as_str()? {
            "filesystem.create" => Op::Create(path),
            "filesystem.write" => Op::Write(path),
            "filesystem.rename" => Op::Rename(path, e["metadata"]["to"].as_str()?.to_string()),
            "filesystem.delete" => Op::Delete(path),
            _ => return None,
        })
    }

    fn path(&self) -> &str {
        match self {
            Op::Create(p) | Op::Write(p) | Op::Rename(p, _) | Op::Delete(p) => p,
        }
    }
}

/// One writer thread: creates, writes, renames and (every other file) deletes files
/// under `/{prefix}t{tid}_N` until a call fails, appending each call that returned to
/// the log (outside the mount) after it returned. Gives back every call it attempted
/// (the last one failed) and the failure.
fn writer(
    mnt: PathBuf,
    prefix: String,
    tid: usize,
    log: PathBuf,
    done: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> (Vec<Op>, Option<std::io::Error>) {
    let mut log = File::options().append(true).create(true).open(log).unwrap();
    let mut attempts = Vec::new();
    let mut step = |op: Op, call: &mut dyn FnMut() -> std::io::Result<()>| {
        attempts.push(op.clone());
        call()?;
        log.write_all(format!("{tid} {}\n", op.line()).as_bytes())
            .unwrap();
        done.fetch_add(1, Ordering::SeqCst);
        Ok::<(), std::io::Error>(())
    };
    let at = |p: &str| mnt.join(p.trim_start_matches('/'));
    let mut run = || -> std::io::Result<()> {
        for i in 0.. {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let name = format!("/{prefix}t{tid}_{i}");
            let renamed = format!("{name}.x");
            let mut file = None;
            step(Op::Create(name.clone()), &mut || {
                file = Some(File::create(at(&name))?);
                Ok(())
            })?;
            step(Op::Write(name.clone()), &mut || {
                file.take().unwrap().write_all(&[b'v'; 100])
            })?;
            step(Op::Rename(name.clone(), renamed.clone()), &mut || {
                std::fs::rename(at(&name), at(&renamed))
            })?;
            if i % 2 == 0 {
                step(Op::Delete(renamed.clone()), &mut || {
                    std::fs::remove_file(at(&renamed))
                })?;
            }
        }
        Ok(())
    };
    let err = run().err();
    (attempts, err)
}

/// Kills the daemon and takes the mount away if a test fails half way.
struct Cleanup {
    child: Option<Child>,
    mnt: PathBuf,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().ok();
            c.wait().ok();
        }
        if mounted(&self.mnt) {
            rustix::mount::unmount(&self.mnt, rustix::mount::UnmountFlags::DETACH).ok();
        }
    }
}

/// The events of the journal, in sequence order (checked).
fn journal_events(j: &Path) -> Vec<Value> {
    let out = run_in(j, &["cat", "-o", "ndjson"], b"", &[]).ok();
    let events = out.ndjson();
    for w in events.windows(2) {
        assert!(
            w[0]["seq"].as_u64() < w[1]["seq"].as_u64(),
            "sequence out of order: {w:?}"
        );
    }
    events
}

/// What one round saw.
struct Round {
    /// Per thread: every call attempted, in order.
    attempts: Vec<Vec<Op>>,
    /// Per thread: the calls that returned (read back from the log file).
    returned: Vec<Vec<Op>>,
}

/// Mounts `src` at `mnt` with `capture`, runs the writers until `kill_after` calls
/// have returned, kills the daemon with SIGKILL, and takes the dead mount away with
/// `vexjournal umount` (with a directory on the mount held open when `hold_open`, so
/// the unmount has to detach; through a symbolic link in round 1). Verifies the
/// journal after.
fn crash_round(
    root: &Path,
    j: &Path,
    capture: &str,
    prefix: &str,
    kill_after: usize,
    hold_open: bool,
) -> Round {
    let (src, mnt) = (root.join("src"), root.join("mnt"));
    std::fs::create_dir_all(&src).unwrap();
    std::fs::create_dir_all(&mnt).unwrap();
    let cap = root.join("capture.toml");
    std::fs::write(&cap, capture).unwrap();
    let daemon_log = root.join(format!("{prefix}daemon.err"));
    let child = bin()
        .arg("--dir")
        .arg(j)
        .arg("mount")
        .arg(&src)
        .arg(&mnt)
        .arg("--capture")
        .arg(&cap)
        .arg("--foreground")
        .stderr(File::create(&daemon_log).unwrap())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut guard = Cleanup {
        child: Some(child),
        mnt: mnt.clone(),
    };
    wait_for("the mount", Duration::from_secs(30), || mounted(&mnt));
    let held = hold_open.then(|| File::open(&mnt).unwrap());

    let log = root.join(format!("{prefix}ops.log"));
    let done = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..THREADS)
        .map(|tid| {
            let (mnt, prefix, log) = (mnt.clone(), prefix.to_string(), log.clone());
            let (done, stop) = (done.clone(), stop.clone());
            std::thread::spawn(move || writer(mnt, prefix, tid, log, done, stop))
        })
        .collect();
    let start = Instant::now();
    while done.load(Ordering::SeqCst) < kill_after {
        if start.elapsed() > Duration::from_secs(60) {
            stop.store(true, Ordering::SeqCst);
            panic!(
                "the workload made only {} calls in 60 s; daemon: {}",
                done.load(Ordering::SeqCst),
                std::fs::read_to_string(&daemon_log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let mut child = guard.child.take().unwrap();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9)
    );

    let mut attempts = Vec::new();
    for t in threads {
        let (ops, err) = t.join().unwrap();
        let err = err.expect("a writer stopped without an error");
        // In flight at the kill: the connection is aborted; after it: not connected.
        assert!(
            matches!(
                err.raw_os_error(),
                Some(libc_errno::ENOTCONN | libc_errno::ECONNABORTED)
            ),
            "a writer failed with {err:?}"
        );
        attempts.push(ops);
    }
    let daemon = std::fs::read_to_string(&daemon_log).unwrap();
    assert!(!daemon.contains("journaling failed"), "{daemon}");
    // The mount is still there, dead.
    assert!(mounted(&mnt));
    let e = std::fs::metadata(&mnt).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc_errno::ENOTCONN), "{e:?}");

    // Once through a symbolic link to the mount point (it must follow it without
    // looking at the dead mount).
    let target = if prefix.ends_with('1') {
        let link = root.join(format!("{prefix}link"));
        std::os::unix::fs::symlink(&mnt, &link).unwrap();
        link
    } else {
        mnt.clone()
    };
    let r = run_in(j, &["umount", target.to_str().unwrap()], b"", &[]).ok();
    assert!(r.stderr.contains("its daemon had died"), "{r:?}");
    assert_eq!(r.stderr.contains("detached lazily"), hold_open, "{r:?}");
    assert!(!mounted(&mnt));
    drop(held);
    run_in(j, &["verify"], b"", &[]).ok();

    let mut returned = vec![Vec::new(); THREADS];
    for line in std::fs::read_to_string(&log).unwrap_or_default().lines() {
        let words: Vec<&str> = line.split(' ').collect();
        let tid: usize = words[0].parse().unwrap();
        returned[tid].push(Op::parse(&words[1..]));
    }
    for (t, ops) in returned.iter().enumerate() {
        assert_eq!(ops[..], attempts[t][..ops.len()], "the log of thread {t}");
    }
    Round { attempts, returned }
}

/// Per thread of round `prefix`: the journaled operations, in journal order.
fn journaled(events: &[Value], prefix: &str) -> Vec<Vec<Op>> {
    let mut per = vec![Vec::new(); THREADS];
    for op in events.iter().filter_map(Op::of_event) {
        for (t, ops) in per.iter_mut().enumerate() {
            if op.path().starts_with(&format!("/{prefix}t{t}_")) {
                ops.push(op.clone());
            }
        }
    }
    per
}

/// Checks that what the journal holds of each thread is a prefix of the calls it
/// attempted (no hole, nothing reordered), and returns how many each one holds.
fn assert_prefixes(journaled: &[Vec<Op>], round: &Round, prefix: &str) -> Vec<usize> {
    journaled
        .iter()
        .enumerate()
        .map(|(t, ops)| {
            let attempted = &round.attempts[t];
            assert!(
                ops.len() <= attempted.len() && ops[..] == attempted[..ops.len()],
                "round {prefix} thread {t}: the journal's operations are not a prefix of \
                 the attempted ones\njournal: {ops:?}\nattempted: {attempted:?}"
            );
            ops.len()
        })
        .collect()
}

/// The errno numbers the test checks (Linux).
mod libc_errno {
    pub const ECONNABORTED: i32 = 103;
    pub const ENOTCONN: i32 = 107;
}

// Checks I43 (docs/invariants.md).
#[test]
fn kill_9_with_sync_capture_loses_no_returned_operation() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let j = root.join("j");
    let mut rounds = Vec::new();
    // Kill points: at the first call, early, middle, late; the third round holds the
    // mount busy.
    for (n, kill_after) in [1, 20, 100, 400].into_iter().enumerate() {
        let prefix = format!("r{n}");
        let start = Instant::now();
        let round = crash_round(&root, &j, "sync = true\n", &prefix, kill_after, n == 2);
        let events = journal_events(&j);
        let held = assert_prefixes(&journaled(&events, &prefix), &round, &prefix);
        for (t, ops) in round.returned.iter().enumerate() {
            // Every returned call is journaled; at most the one in flight at the kill
            // is journaled without having returned.
            assert!(
                held[t] >= ops.len() && held[t] <= ops.len() + 1,
                "round {n} thread {t}: {} returned, {} journaled",
                ops.len(),
                held[t]
            );
        }
        eprintln!(
            "round {n}: killed after {kill_after} calls; returned {:?}, journaled {held:?}, \
             {} events in the journal, {:.2?}",
            round.returned.iter().map(Vec::len).collect::<Vec<_>>(),
            events.len(),
            start.elapsed()
        );
        rounds.push((prefix, round));
    }
    // Reopening the journal after each crash kept every earlier round's events.
    let events = journal_events(&j);
    for (prefix, round) in &rounds {
        let held = assert_prefixes(&journaled(&events, prefix), round, prefix);
        for (t, ops) in round.returned.iter().enumerate() {
            assert!(
                held[t] >= ops.len(),
                "round {prefix} thread {t} lost events"
            );
        }
    }
}

#[test]
fn kill_9_with_async_capture_keeps_a_consistent_prefix() {
    if let Some(why) = skip_reason() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let j = root.join("j");
    for (n, kill_after) in [20, 150, 600].into_iter().enumerate() {
        let prefix = format!("a{n}");
        let start = Instant::now();
        let round = crash_round(&root, &j, "", &prefix, kill_after, false);
        let events = journal_events(&j);
        let held = assert_prefixes(&journaled(&events, &prefix), &round, &prefix);
        eprintln!(
            "async round {n}: killed after {kill_after} calls; returned {:?}, journaled \
             {held:?}, {:.2?}",
            round.returned.iter().map(Vec::len).collect::<Vec<_>>(),
            start.elapsed()
        );
    }
    // The journal takes new events after the crashes.
    run_in(&j, &["emit"], b"{\"type\": \"system.mount\"}\n", &[]).ok();
    run_in(&j, &["verify"], b"", &[]).ok();
}

#[test]
fn umount_refuses_what_it_cannot_or_must_not_unmount() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let j = root.join("j");
    let dir = root.join("plain");
    std::fs::create_dir(&dir).unwrap();
    let r = run_in(&j, &["umount", dir.to_str().unwrap()], b"", &[]).fails();
    assert!(r.stderr.contains("not a mount point"), "{r:?}");
    let missing = root.join("missing");
    let r = run_in(&j, &["umount", missing.to_str().unwrap()], b"", &[]).fails();
    assert!(r.stderr.contains("does not exist"), "{r:?}");
    // A file system that is not a mirror (not even FUSE) is never taken, even with
    // --force: a typo must not unmount /proc or /.
    for args in [&["umount", "/proc"][..], &["umount", "--force", "/proc"]] {
        let r = run_in(&j, args, b"", &[]).fails();
        assert!(r.stderr.contains("not a vexjournal mirror"), "{r:?}");
        assert!(Path::new("/proc/self").exists());
    }
}
