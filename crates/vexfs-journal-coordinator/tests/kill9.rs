//! Kill -9 torture of a process running the coordinator and three participant
//! journals. Each round a child process runs transactions (random participants, one
//! to three events each, then commit, abort, or nothing) and prints each
//! acknowledgement; a reader in this process follows the participant journals from
//! disk with read committed while it runs; the child is SIGKILLed at a random moment.
//! Then the coordinator and the journals are reopened here, and:
//!
//! - every participant holding events of a transaction holds its marker, and all
//!   markers of a transaction agree (I52);
//! - a commit acknowledged to the client stands, with every write acknowledged in it
//!   visible to read committed; an acknowledged abort stands (I54);
//! - a transaction the client never asked to commit is aborted (presumed abort);
//! - nothing the reader was shown during the run belongs to an aborted transaction
//!   (I53).
//!
//! `TORTURE_ROUNDS` rounds (default 200); `cargo xtask torture --rounds N` runs it in
//! release. It prints a `torture coordinator-kill9: …` summary line.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{NAMES, World, agreed_decisions, event, quick, visible_payloads};
use vexfs_journal::JournalReader;
use vexfs_journal::tx::{TxRole, TxView, Visibility, role_of};
use vexfs_journal_coordinator::Decision;
use vexfs_journal_testkit::{Rng, rounds};

const CHILD_DIR: &str = "VEXFS_TX_TORTURE_DIR";
const CHILD_SEED: &str = "VEXFS_TX_TORTURE_SEED";
/// Rounds before the journals are renewed (bounds what each check re-reads).
const ROUNDS_PER_WORLD: u64 = 10;

/// The child's workload (run by the test binary itself, see `kill9_*`): transactions
/// until it is killed. Prints `begin T`, `write T P TAG`, `ask T`, `commit T`,
/// `abort T` after each acknowledgement.
#[test]
#[ignore = "the child process of coordinator_kill9_keeps_agreement_and_acknowledged_commits"]
fn torture_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let seed: u64 = std::env::var(CHILD_SEED).unwrap().parse().unwrap();
    let mut rng = Rng(seed);
    let (w, _) = World::new(Path::new(&dir), quick());
    let c = w.coord();
    println!("ready");
    for k in 0u64.. {
        let mut parts: Vec<usize> = (0..3).filter(|_| rng.range(0, 1) == 0).collect();
        if parts.is_empty() {
            parts.push(rng.range(0, 2) as usize);
        }
        let names: Vec<&str> = parts.iter().map(|&p| NAMES[p]).collect();
        let tx = c.begin(&names).unwrap();
        println!("begin {tx}");
        for &p in &parts {
            for n in 0..rng.range(1, 3) {
                let tag = format!("{seed}-{k}-{p}-{n}");
                c.add_events(tx, NAMES[p], vec![event(&tag)]).unwrap();
                println!("write {tx} {p} {tag}");
            }
        }
        match rng.range(0, 9) {
            0..=6 => {
                println!("ask {tx}");
                c.commit(tx).unwrap();
                println!("commit {tx}");
            }
            7 | 8 => {
                c.abort(tx).unwrap();
                println!("abort {tx}");
            }
            // Left open: the client walked away.
            _ => {}
        }
    }
}

#[derive(Default)]
struct Acks {
    begun: BTreeSet<u64>,
    writes: BTreeMap<u64, Vec<(usize, String)>>,
    asked: BTreeSet<u64>,
    committed: BTreeSet<u64>,
    aborted: BTreeSet<u64>,
}

impl Acks {
    fn take(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let tx = |i: usize| words.get(i).and_then(|w| w.parse::<u64>().ok());
        match (words.first().copied(), tx(1)) {
            (Some("begin"), Some(t)) => {
                self.begun.insert(t);
            }
            (Some("write"), Some(t)) => {
                let p: usize = words[2].parse().unwrap();
                self.writes
                    .entry(t)
                    .or_default()
                    .push((p, words[3].to_string()));
            }
            (Some("ask"), Some(t)) => {
                self.asked.insert(t);
            }
            (Some("commit"), Some(t)) => {
                self.committed.insert(t);
            }
            (Some("abort"), Some(t)) => {
                self.aborted.insert(t);
            }
            _ => {}
        }
    }
}

/// Transactions whose events a read-committed reader of the journals on disk
/// delivers now.
fn shown(root: &Path, readers: &mut [Option<JournalReader>]) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    for (i, name) in NAMES.iter().enumerate() {
        if readers[i].is_none() {
            readers[i] = JournalReader::open(root.join(name)).ok();
        }
        let Some(r) = &readers[i] else { continue };
        if r.refresh().is_err() {
            continue;
        }
        let events: Vec<_> = r.scan(1..r.visible_end()).map_while(|e| e.ok()).collect();
        let mut view = TxView::new();
        for e in &events {
            view.observe_event(e);
        }
        for e in &events {
            match view.visibility(e.seq, role_of(e)) {
                Visibility::Wait => break,
                Visibility::Deliver => {
                    if let TxRole::Member(tx) = role_of(e) {
                        out.insert(tx);
                    }
                }
                Visibility::Skip => {}
            }
        }
    }
    out
}

// Checks I52, I53, I54 (docs/invariants.md).
#[test]
fn coordinator_kill9_keeps_agreement_and_acknowledged_commits() {
    let rounds = rounds(200);
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut root = tmp.path().join("w0");
    let (mut acked_commits, mut acked_aborts, mut presumed, mut killed, mut shown_total) =
        (0usize, 0usize, 0usize, 0u64, 0usize);
    // Transactions whose begin record the kill lost (found in the participants).
    let mut orphans = 0usize;
    for round in 0..rounds {
        let mut rng = Rng(0x7C00_0000 + round);
        if round % ROUNDS_PER_WORLD == 0 {
            let _ = std::fs::remove_dir_all(&root);
            root = tmp.path().join(format!("w{round}"));
            std::fs::create_dir_all(&root).unwrap();
        }
        let mut child = Command::new(&exe)
            .args(["torture_child", "--exact", "--ignored", "--nocapture"])
            .env(CHILD_DIR, &root)
            .env(CHILD_SEED, (round * 1000).to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acks = Arc::new(Mutex::new(Acks::default()));
        let ready = Arc::new(AtomicBool::new(false));
        let reader = {
            let (acks, ready) = (acks.clone(), ready.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if line.ends_with("ready") {
                        ready.store(true, Ordering::SeqCst);
                    }
                    acks.lock().unwrap().take(&line);
                }
            })
        };
        let wait_ready = Instant::now() + Duration::from_secs(60);
        while !ready.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < wait_ready,
                "round {round}: the child never started"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "round {round}: the child exited"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        // Follow the journals with read committed while the child runs.
        let mut readers = vec![None, None, None];
        let mut seen = BTreeSet::new();
        let run_for = Duration::from_millis(rng.range(5, 150));
        let t = Instant::now();
        while t.elapsed() < run_for {
            seen.extend(shown(&root, &mut readers));
        }
        if child.try_wait().unwrap().is_none() {
            killed += 1;
        }
        let _ = child.kill();
        let _ = child.wait();
        reader.join().unwrap();
        drop(readers);
        let acks = std::mem::take(&mut *acks.lock().unwrap());

        let (mut w, report) = World::new(&root, quick());
        let label = format!("round {round}");
        assert!(report.in_doubt.is_empty(), "{label}: {report:?}");
        orphans += report.orphans.len();
        let decided = agreed_decisions(&w, &label);
        let visible = visible_payloads(&w);
        for tx in &acks.committed {
            assert_eq!(
                decided.get(tx),
                Some(&Decision::Commit),
                "{label}: acked commit {tx} lost"
            );
            for (p, tag) in acks.writes.get(tx).into_iter().flatten() {
                assert!(
                    visible[*p].contains(tag),
                    "{label}: {tag} of committed {tx} missing"
                );
            }
            acked_commits += 1;
        }
        for tx in &acks.aborted {
            assert_ne!(
                decided.get(tx),
                Some(&Decision::Commit),
                "{label}: acked abort {tx} committed"
            );
            acked_aborts += 1;
        }
        for tx in &acks.begun {
            let commit = decided.get(tx) == Some(&Decision::Commit);
            if !acks.asked.contains(tx) {
                assert!(!commit, "{label}: {tx} committed though never asked");
                presumed += usize::from(!acks.aborted.contains(tx));
            }
            // All or nothing for readers.
            for (p, tag) in acks.writes.get(tx).into_iter().flatten() {
                assert_eq!(visible[*p].contains(tag), commit, "{label}: {tag} of {tx}");
            }
        }
        for tx in &seen {
            assert_eq!(
                decided.get(tx),
                Some(&Decision::Commit),
                "{label}: reader was shown {tx}, later aborted"
            );
        }
        shown_total += seen.len();
        w.coord.take();
        for j in w.journals.drain(..) {
            j.close().unwrap();
        }
    }
    assert!(
        killed * 10 >= rounds * 9,
        "only {killed} of {rounds} children were killed mid-run"
    );
    assert!(
        acked_commits > 0 && presumed > 0,
        "the workload never committed or never crashed mid-transaction"
    );
    eprintln!(
        "torture coordinator-kill9: rounds={rounds} failures=0 killed={killed} \
         acked_commits={acked_commits} acked_aborts={acked_aborts} presumed_aborts={presumed} \
         orphans={orphans} shown_to_readers={shown_total} secs={:.1}",
        started.elapsed().as_secs_f64()
    );
}
