//! Crash torture at the process level (ISSUE 5). Each test runs `TORTURE_ROUNDS` rounds
//! (default 60; `cargo xtask torture --rounds N` runs them in release and summarises).
//!
//! - `kill9_never_loses_acknowledged_events`: `vexjournal torture-writer` — several
//!   producer threads emitting durable single events and durable atomic batches, in
//!   some rounds with checkpoints — prints each acknowledgement; it is SIGKILLed after
//!   a random delay. After each kill the journal is reopened (recovery) and must hold:
//!   sequences exactly 1..=last; the events of earlier rounds unchanged; every
//!   acknowledged event, once, at its acknowledged sequence, with its content; each
//!   producer's events a prefix of what it emitted; every atomic batch whole; a clean
//!   `verify` after closing. Journals are renewed every few rounds.
//! - `kill_mid_checkpoint`: the same writer taking checkpoints back to back, killed at
//!   random: checkpoints are never left damaged, recovery trusts the latest one, and
//!   the same invariants hold.
//! - `kill_mid_compaction`: `vexjournal compact` on a copy of a multi-segment journal,
//!   SIGKILLed at a random point of its run: the next open finds exactly the old set of
//!   events or exactly the compacted set, never a mix, and finishing the compaction
//!   gives the compacted set.
//!
//! Each test prints a `torture <name>: rounds=… failures=0 …` summary line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::bin;
use vexfs_journal::admin::{ProblemKind, checkpoint};
use vexfs_journal::{
    AgentOp, Event, EventFlags, EventType, FsOp, Journal, RecoveryMode, StoredEvent, VectorOp,
};
use vexfs_journal_testkit::{Rng, copy_dir, rounds};

/// What `torture-writer` emits as event `index` of producer `p` (mirrors
/// `src/cmd/torture.rs`).
fn expected(p: u64, index: u64) -> Event {
    let letter = char::from(b'a' + ((p * 7 + index) % 26) as u8);
    let filler: String = std::iter::repeat_n(letter, ((p + index) % 300) as usize).collect();
    let ev = match index % 3 {
        0 => Event::filesystem(FsOp::Write),
        1 => Event::agent(AgentOp::Decision).agent_id(format!("producer-{p}")),
        _ => Event::vector(VectorOp::Embed),
    };
    ev.inode((p << 40) | index)
        .path(format!("/torture/{p}/{index}"))
        .payload(format!("{p}:{index}:{filler}").into_bytes())
}

/// The (producer, index) of a torture event, after checking its content.
fn tag(e: &StoredEvent, ctx: &str) -> (u64, u64) {
    let inode = e.event.context.inode_number;
    let (p, i) = (inode >> 40, inode & ((1 << 40) - 1));
    let want = expected(p, i);
    assert_eq!(
        e.event.event_type, want.event_type,
        "{ctx}: type of seq {}",
        e.seq
    );
    assert_eq!(
        e.event.context.path, want.context.path,
        "{ctx}: path of seq {}",
        e.seq
    );
    assert_eq!(
        e.event.payload, want.payload,
        "{ctx}: payload of seq {}",
        e.seq
    );
    assert_eq!(
        e.event.context.agent_id, want.context.agent_id,
        "{ctx}: agent of seq {}",
        e.seq
    );
    (p, i)
}

/// An acknowledgement: sequences `first..=last`, producer `p`, first index `i`.
#[derive(Clone, Copy, Debug)]
struct Ack {
    first: u64,
    last: u64,
    p: u64,
    i: u64,
}

/// What one writer run printed before it was killed.
#[derive(Debug, Default)]
struct Run {
    opened_at: Option<u64>,
    acks: Vec<Ack>,
    checkpoints: Vec<(u64, u64)>,
    stderr: String,
    killed: bool,
}

/// Runs `vexjournal --dir D <args>`, SIGKILLs it after `delay` (unless it ended), and
/// returns what it acknowledged.
fn run_and_kill(dir: &Path, args: &[String], delay: Duration) -> Run {
    let mut child = bin()
        .arg("--dir")
        .arg(dir)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    // Other commands' output is not parsed.
    let protocol = args.first().is_some_and(|a| a == "torture-writer");
    let reader = std::thread::spawn(move || {
        let mut run = Run::default();
        let mut r = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            match r.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                // A line cut by the kill is no acknowledgement.
                Ok(_) if !line.ends_with('\n') => break,
                Ok(_) => {}
            }
            if !protocol {
                continue;
            }
            let f: Vec<&str> = line.split_whitespace().collect();
            let n = |k: usize| f[k].parse::<u64>().unwrap();
            match f[0] {
                "open" => run.opened_at = Some(n(1)),
                "ack" => run.acks.push(Ack {
                    first: n(1),
                    last: n(1),
                    p: n(2),
                    i: n(3),
                }),
                "batch" => run.acks.push(Ack {
                    first: n(1),
                    last: n(2),
                    p: n(3),
                    i: n(4),
                }),
                "ckpt" => run.checkpoints.push((n(1), n(2))),
                other => panic!("unexpected line {other:?}"),
            }
        }
        run
    });
    let errors = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = stderr.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    std::thread::sleep(delay);
    let _ = child.kill();
    let status = child.wait().unwrap();
    let mut run = reader.join().unwrap();
    run.stderr = errors.join().unwrap();
    run.killed = status.signal() == Some(9);
    assert!(
        run.killed || status.success(),
        "{args:?} failed: {status}\n{}",
        run.stderr
    );
    run
}

fn init(dir: &Path, segment_size: u64) {
    let out = bin()
        .arg("--dir")
        .arg(dir)
        .args(["init", "--segment-size", &segment_size.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// Reopens the journal in this process (running recovery) and returns its events, the
/// checkpoint recovery trusted, and whether the previous session ended cleanly.
fn reopen(dir: &Path, ctx: &str) -> (Vec<StoredEvent>, Option<u64>) {
    let j = Journal::open_existing_with(dir, RecoveryMode::TolerateTail, 0)
        .unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
    let events: Vec<StoredEvent> = j
        .scan(0..u64::MAX)
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{ctx}: reading back failed: {e}"));
    let used = j.recovery_report().checkpoint_used;
    j.close().unwrap();
    (events, used)
}

fn verify_clean(dir: &Path, ctx: &str) {
    let v = vexfs_journal::verify(dir, Default::default(), |_, _| {}).unwrap();
    assert!(v.is_clean(), "{ctx}: verify: {:?}", v.problems);
}

/// Fails on any checkpoint the writer reported as failed.
fn no_checkpoint_failures(run: &Run, ctx: &str) {
    for line in run.stderr.lines() {
        if let Some(msg) = line.strip_prefix("checkpoint failed: ") {
            panic!("{ctx}: checkpoint failed: {msg}");
        }
    }
}

/// The invariants after a crash: `before` is what the journal held before the run.
fn check_run(events: &[StoredEvent], before: &[StoredEvent], run: &Run, ctx: &str) {
    let last = events.len() as u64;
    assert!(
        events.iter().map(|e| e.seq).eq(1..=last),
        "{ctx}: sequences are not exactly 1..={last}"
    );
    assert!(events.len() >= before.len(), "{ctx}: the journal shrank");
    assert_eq!(
        events[..before.len()],
        before[..],
        "{ctx}: earlier events changed"
    );
    if let Some(at) = run.opened_at {
        assert_eq!(
            at,
            before.len() as u64 + 1,
            "{ctx}: the writer opened elsewhere"
        );
    }
    // New events: per producer a prefix of what it emitted, batches whole.
    let mut next: BTreeMap<u64, u64> = BTreeMap::new();
    let mut k = before.len();
    while k < events.len() {
        let (p, i) = tag(&events[k], ctx);
        let want = next.entry(p).or_insert(0);
        assert_eq!(
            i, *want,
            "{ctx}: producer {p} jumps to {i} at seq {}",
            events[k].seq
        );
        let tx = events[k].event.context.transaction_id;
        let n = if tx == 0 {
            1
        } else {
            u64::from(events[k].event.subtype)
        };
        for m in 0..n {
            let e = events
                .get(k + m as usize)
                .unwrap_or_else(|| panic!("{ctx}: half atomic batch {tx:#x} at the end"));
            assert_eq!(tag(e, ctx), (p, i + m), "{ctx}: batch {tx:#x} broken");
            assert_eq!(e.event.context.transaction_id, tx, "{ctx}: batch {tx:#x}");
            assert_eq!(e.event.flags.contains(EventFlags::ATOMIC), tx != 0, "{ctx}");
        }
        *want += n;
        k += n as usize;
    }
    for a in &run.acks {
        assert!(
            a.last <= last,
            "{ctx}: acknowledged {a:?} lost (journal ends at {last})"
        );
        for (m, seq) in (a.first..=a.last).enumerate() {
            let (p, i) = tag(&events[(seq - 1) as usize], ctx);
            assert_eq!((p, i), (a.p, a.i + m as u64), "{ctx}: acknowledged {a:?}");
        }
    }
}

/// Rounds per journal before a fresh one (bounds the re-reading per round).
const ROUNDS_PER_JOURNAL: u64 = 5;

// Checks I1, I9 (docs/invariants.md).
#[test]
fn kill9_never_loses_acknowledged_events() {
    let rounds = rounds(60);
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (mut acks, mut killed, mut with_ckpt, mut events_total) = (0usize, 0u64, 0u64, 0usize);
    let mut dir = PathBuf::new();
    let mut before: Vec<StoredEvent> = Vec::new();
    for round in 0..rounds {
        let mut rng = Rng(0x4B11_0000 + round);
        if round % ROUNDS_PER_JOURNAL == 0 {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).unwrap();
            }
            dir = tmp.path().join(format!("j{round}"));
            init(&dir, 256 << 10);
            before.clear();
        }
        let producers = rng.range(1, 4);
        let checkpoints = rng.range(0, 3) == 0;
        let args: Vec<String> = [
            "torture-writer".to_string(),
            "--producers".into(),
            producers.to_string(),
            "--batch-percent".into(),
            rng.range(0, 60).to_string(),
            "--checkpoint-every-ms".into(),
            if checkpoints { "3" } else { "0" }.into(),
            "--seed".into(),
            round.to_string(),
            "--producer-base".into(),
            (round * 8).to_string(),
        ]
        .into();
        let delay = Duration::from_millis(rng.range(10, 300));
        let run = run_and_kill(&dir, &args, delay);
        let ctx = format!(
            "kill9 round {round} ({producers} producers, checkpoints {checkpoints}, killed after \
             {delay:?}, {} acks, journal had {} events)\nwriter stderr:\n{}",
            run.acks.len(),
            before.len(),
            run.stderr
        );
        let (events, _) = reopen(&dir, &ctx);
        check_run(&events, &before, &run, &ctx);
        verify_clean(&dir, &ctx);
        no_checkpoint_failures(&run, &ctx);
        acks += run.acks.len();
        killed += u64::from(run.killed);
        with_ckpt += u64::from(!run.checkpoints.is_empty());
        events_total += events.len() - before.len();
        before = events;
    }
    assert!(
        killed * 10 >= rounds * 9,
        "only {killed} of {rounds} runs were killed"
    );
    assert!(acks > 0);
    eprintln!(
        "torture kill9: rounds={rounds} failures=0 killed={killed} acks={acks} \
         events={events_total} rounds_with_checkpoints={with_ckpt} \
         elapsed={:.1}s",
        started.elapsed().as_secs_f64()
    );
}

// Checks I27, I28 (docs/invariants.md).
#[test]
fn kill_mid_checkpoint() {
    let rounds = rounds(60);
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let (mut trusted, mut checkpoints) = (0u64, 0usize);
    let mut dir = PathBuf::new();
    let mut before: Vec<StoredEvent> = Vec::new();
    for round in 0..rounds {
        let mut rng = Rng(0xC4EC_0000 + round);
        if round % ROUNDS_PER_JOURNAL == 0 {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).unwrap();
            }
            dir = tmp.path().join(format!("j{round}"));
            init(&dir, 128 << 10);
            before.clear();
        }
        let args: Vec<String> = [
            "torture-writer".to_string(),
            "--producers".into(),
            rng.range(1, 3).to_string(),
            "--checkpoint-every-ms".into(),
            "1".into(),
            "--seed".into(),
            round.to_string(),
            "--producer-base".into(),
            (round * 8).to_string(),
        ]
        .into();
        let delay = Duration::from_millis(rng.range(5, 200));
        let run = run_and_kill(&dir, &args, delay);
        let ctx = format!(
            "checkpoint round {round} (killed after {delay:?}, {} acks, {} checkpoints)\n{}",
            run.acks.len(),
            run.checkpoints.len(),
            run.stderr
        );
        // No checkpoint is ever left damaged (they are renamed into place).
        let listed = checkpoint::list(&dir);
        for c in &listed {
            assert!(c.is_ok(), "{ctx}: damaged checkpoint {c:?}");
        }
        let latest = listed.iter().flatten().map(|c| c.id).max();
        if let (Some(&(id, _)), Some(latest)) = (run.checkpoints.last(), latest) {
            assert!(latest >= id, "{ctx}: acknowledged checkpoint {id} is gone");
        }
        let latest_info = listed.iter().flatten().last().cloned();
        let (events, used) = reopen(&dir, &ctx);
        check_run(&events, &before, &run, &ctx);
        // Once the writer has opened the journal (removing the clean-shutdown marker),
        // a crash makes recovery trust the latest checkpoint of the open segment.
        if let Some(c) = &latest_info
            && run.opened_at.is_some()
            && c.segment_first_seq == dir_open_segment_first(&dir)
        {
            assert_eq!(used, Some(c.id), "{ctx}");
        }
        if let Some(c) = &latest_info {
            assert!(c.durable_seq <= events.len() as u64 + 1, "{ctx}: {c:?}");
            trusted += u64::from(used == Some(c.id));
        }
        verify_clean(&dir, &ctx);
        no_checkpoint_failures(&run, &ctx);
        checkpoints += run.checkpoints.len();
        before = events;
    }
    eprintln!(
        "torture mid-checkpoint: rounds={rounds} failures=0 checkpoints={checkpoints} \
         recoveries_from_checkpoint={trusted} elapsed={:.1}s",
        started.elapsed().as_secs_f64()
    );
}

fn dir_open_segment_first(dir: &Path) -> u64 {
    vexfs_journal_storage::dir::list_segments(dir)
        .unwrap()
        .last()
        .map_or(0, |(f, _)| *f)
}

fn read_events(dir: &Path, ctx: &str) -> Vec<StoredEvent> {
    reopen(dir, ctx).0
}

// Checks I31 (docs/invariants.md).
#[test]
fn kill_mid_compaction() {
    let rounds = rounds(60);
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    // A closed journal of 24 000 events, mixed types, in 20 segments of 128 KiB.
    let base = tmp.path().join("base");
    {
        let config = vexfs_journal::Config {
            segment_size: 128 << 10,
            checkpoint_interval_s: 0,
            ..Default::default()
        };
        let j = Journal::create(&base, config).unwrap();
        for p in 0..4 {
            for i in 0..6000 {
                j.emit(expected(p, i)).unwrap();
            }
        }
        j.close().unwrap();
    }
    let old = read_events(&base, "base");
    let base_segments = vexfs_journal_storage::dir::list_segments(&base)
        .unwrap()
        .len();
    let compact_args: Vec<String> = [
        "compact",
        "--drop-type",
        "agent.decision",
        "--drop-type",
        "vector.embed",
    ]
    .map(String::from)
    .into();
    // The compacted set, and how long compaction takes here.
    let done = tmp.path().join("done");
    copy_dir(&base, &done);
    let t = Instant::now();
    let out = bin()
        .arg("--dir")
        .arg(&done)
        .args(&compact_args)
        .output()
        .unwrap();
    let full = t.elapsed();
    assert!(out.status.success(), "{out:?}");
    let new = read_events(&done, "done");
    let dropped: [EventType; 2] = [AgentOp::Decision.into(), VectorOp::Embed.into()];
    assert!(new.len() < old.len());
    assert!(
        new.iter()
            .all(|e| !dropped.contains(&e.event.event_type)
                || e.seq >= dir_open_segment_first(&done))
    );
    let (mut saw_old, mut saw_new, mut finished) = (0, 0, 0);
    let window = full.as_micros() as u64 * 11 / 10;
    for round in 0..rounds {
        let mut rng = Rng(0xC0AC_0000 + round);
        let dir = tmp.path().join(format!("r{round}"));
        copy_dir(&base, &dir);
        // Half the kills anywhere in the run, half near its end (the commit and the
        // moves into place).
        let delay = if round % 2 == 0 {
            Duration::from_micros(rng.range(0, window))
        } else {
            Duration::from_micros(rng.range(window * 6 / 10, window))
        };
        let run = run_and_kill(&dir, &compact_args, delay);
        let ctx = format!(
            "compaction round {round} (killed after {delay:?} of {full:?})\n{}",
            run.stderr
        );
        let events = read_events(&dir, &ctx);
        if !run.killed {
            finished += 1;
            assert_eq!(events, new, "{ctx}: completed compaction");
        } else if events == old {
            saw_old += 1;
        } else if events == new {
            saw_new += 1;
        } else {
            panic!(
                "{ctx}: neither the old set ({} events) nor the new set ({} events): {} events",
                old.len(),
                new.len(),
                events.len()
            );
        }
        assert!(
            !dir.join("swap.tmp").exists() && !dir.join("SWAP").exists(),
            "{ctx}"
        );
        let v = vexfs_journal::verify(&dir, Default::default(), |_, _| {}).unwrap();
        // Compaction's deliberate gaps are reported as SequenceGap (a known bug, see
        // vexfs-journal-recovery/tests/compact.rs); nothing else may be.
        let damage: Vec<_> = v
            .problems
            .iter()
            .filter(|p| p.kind != ProblemKind::SequenceGap)
            .collect();
        assert!(damage.is_empty(), "{ctx}: {damage:?}");
        if round % 10 == 0 {
            let out = bin()
                .arg("--dir")
                .arg(&dir)
                .args(&compact_args)
                .output()
                .unwrap();
            assert!(out.status.success(), "{ctx}: {out:?}");
            assert_eq!(
                read_events(&dir, &ctx),
                new,
                "{ctx}: finishing the compaction"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
    assert!(
        rounds < 10 || saw_old + saw_new > 0,
        "no kill landed before the end of a compaction"
    );
    eprintln!(
        "torture mid-compaction: rounds={rounds} failures=0 old_set={saw_old} new_set={saw_new} \
         finished_before_kill={finished} segments={base_segments} events={} \
         compaction_time={:.0}ms elapsed={:.1}s",
        old.len(),
        full.as_secs_f64() * 1e3,
        started.elapsed().as_secs_f64()
    );
}
