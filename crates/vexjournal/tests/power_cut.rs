//! Power cut at every point of real runs, built from the system calls the journal
//! really made (the ALICE / CrashMonkey method).
//!
//! 1. Record. `tests/c/syscall_log.c` is compiled into an `LD_PRELOAD` library that
//!    logs, in the order they took effect, every write, truncate, fsync, fdatasync,
//!    create, rename, unlink, mkdir and directory fsync the real `vexjournal` binary
//!    makes under the journal directory, and every byte it prints on stdout. Under
//!    it run, one after the other: `init` with 64 KiB segments, durable emits (each
//!    acknowledged sequence printed once its event is durable) that rotate segments,
//!    `checkpoint create`, more emits, `compact --drop-type agent.decision --max-size`
//!    (a segment swap through `swap.tmp/` that rewrites segments and deletes the
//!    oldest), and emits after it. One log holds them all.
//! 2. Replay. The log is replayed against a model of a POSIX file system after a
//!    power cut (see [`Trace`]): file data written since the file's last completed
//!    fsync/fdatasync may be lost, kept, torn (a prefix kept, at a sector boundary or
//!    at any byte), scattered (some of its sectors kept) or, past the old end of the
//!    file, read back as zeros; a created, renamed or removed directory entry is
//!    durable only once its directory is fsynced after it, until then it may or may
//!    not have happened (a rename all or nothing); a file fsync does not make its own
//!    name durable. For the cut after each logged call, a bounded set of states is
//!    chosen: everything kept, everything unsynced lost, ordered prefixes, each
//!    unsynced call lost alone, each unsynced write torn, zero-filled extensions,
//!    data without metadata and metadata without data, and seeded random mixes.
//!    States that are equal are checked once, with the most acknowledgements any of
//!    their cut points had.
//! 3. Check. Each state is written to a directory and opened with the real binary:
//!    `cat` as found, `recover` (what the next writer does), `cat` again, `verify`,
//!    and `checkpoint list` once the checkpoint was acknowledged. Every event
//!    acknowledged before the cut must be there with its content, under its
//!    acknowledged sequence; no sequence appears twice; every event present is one
//!    that was fed, in the order fed. Events compaction dropped may be missing only
//!    once compaction started, all or none of them, and none after it reported.
//!    `cat` of the state as found may refuse instead of printing, if it names the
//!    damaged segment and where (an unsynced header update the cut tore): nothing
//!    acknowledged is hidden by that, and `recover` must then lose nothing. The
//!    summary line counts these refusals.
//!
//! The engine's own notion of what it synced is never used: a missing fsync of a
//! file or a directory shows up as an acknowledged event missing in some state.
//!
//! Size: every state is checked when `TORTURE_ROUNDS` is set (`cargo xtask torture`,
//! which also raises the random mixes per cut point to `TORTURE_ROUNDS / 100`);
//! otherwise at most `POWERCUT_STATES` (default 800) chosen states: the
//! everything-lost and everything-kept states and each unsynced name change lost alone
//! first, then a seeded sample (`POWERCUT_SEED`). Needs a C compiler (`$CC` or `cc`)
//! and glibc.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use common::bin;
use serde_json::{Value, json};
use vexfs_journal_testkit::Rng;
use vexfs_journal_testkit::c::compile_c;

const C_SOURCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/c/syscall_log.c");
/// The type `compact` drops.
const DROP_TYPE: &str = "agent.decision";
/// `compact --max-size`: below the journal's size when it runs, so the oldest
/// segment is deleted whole.
const MAX_SIZE: &str = "100000";
/// Sector size for torn and scattered writes.
const SECTOR: usize = 512;
/// States checked without `TORTURE_ROUNDS`.
const DEFAULT_STATES: usize = 800;
/// Random mixes per cut point without `TORTURE_ROUNDS`.
const DEFAULT_RANDOM_MIXES: u64 = 2;
/// Failures reported in full (the others are counted).
const REPORTED_FAILURES: usize = 12;

// ---------------------------------------------------------------------------------
// Recording

/// Compiles the interposer with `$CC` (or `cc`) into `dir`.
fn compile_interposer(dir: &Path) -> PathBuf {
    let lib = dir.join("syscall_log.so");
    compile_c(
        "the power-cut test",
        &[
            "-std=gnu11",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-shared",
            "-fPIC",
        ],
        &lib,
        Path::new(C_SOURCE),
        &["-ldl", "-lpthread"],
    );
    lib
}

/// The event fed as number `index` of emit run `run`: unique inode and path, a
/// payload of 1.5–3 KB that compresses poorly, so a few dozen events fill a segment.
fn fed_event(run: u64, index: u64) -> Value {
    let mut rng = Rng(run * 1_000_003 + index);
    let len = rng.range(1500, 3000) as usize;
    let mut payload = format!("run={run} index={index} ");
    while payload.len() < len {
        payload.push_str(&format!("{:016x}", rng.next()));
    }
    payload.truncate(len);
    json!({
        "type": if index % 3 == 1 { DROP_TYPE } else { "filesystem.write" },
        "inode": run * 10_000 + index + 1,
        "path": format!("/powercut/r{run}/e{index}"),
        "payload": payload,
    })
}

/// What a recorded process run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RunKind {
    Init,
    /// Emit run number (1-based); its events are `fed_event(n, 0..count)`.
    Emit(u64, u64),
    Checkpoint,
    Compact,
}

/// The workload: each run is one process under the interposer.
fn workload() -> Vec<RunKind> {
    vec![
        RunKind::Init,
        RunKind::Emit(1, 30),
        RunKind::Emit(2, 16),
        RunKind::Checkpoint,
        RunKind::Emit(3, 16),
        RunKind::Compact,
        RunKind::Emit(4, 6),
    ]
}

fn run_args(kind: RunKind) -> Vec<&'static str> {
    match kind {
        RunKind::Init => vec!["init", "--segment-size", "65536"],
        RunKind::Emit(..) => vec!["emit", "--durable"],
        RunKind::Checkpoint => vec!["checkpoint", "create"],
        RunKind::Compact => vec!["compact", "--drop-type", DROP_TYPE, "--max-size", MAX_SIZE],
    }
}

/// Runs the workload under the interposer; returns the log's text.
fn record(work: &Path, root: &Path) -> String {
    let lib = compile_interposer(work);
    let log = work.join("syscalls.log");
    for (i, kind) in workload().into_iter().enumerate() {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| writeln!(f, "RUN {i}"))
            .unwrap();
        let mut cmd = bin();
        cmd.arg("--dir")
            .arg(root)
            .args(run_args(kind))
            .env("LD_PRELOAD", &lib)
            .env("VEXPC_ROOT", root)
            .env("VEXPC_LOG", &log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut stdin = child.stdin.take().unwrap();
        if let RunKind::Emit(run, count) = kind {
            for index in 0..count {
                writeln!(stdin, "{}", fed_event(run, index)).unwrap();
            }
        }
        drop(stdin);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "recorded run {kind:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::read_to_string(&log).unwrap()
}

// ---------------------------------------------------------------------------------
// The log

/// One logged call.
#[derive(Debug)]
enum Rec {
    Run(usize),
    Root(u64),
    Open {
        path: String,
        ino: u64,
        dir: bool,
        created: bool,
        trunc: bool,
    },
    Mkdir {
        path: String,
        ino: u64,
    },
    Write {
        ino: u64,
        off: u64,
        data: Vec<u8>,
    },
    Truncate {
        ino: u64,
        len: u64,
    },
    SyncBegin {
        token: u64,
    },
    SyncEnd {
        token: u64,
        ino: u64,
        ok: bool,
    },
    Rename {
        from: String,
        to: String,
    },
    Unlink(String),
    Rmdir(String),
    Out(Vec<u8>),
    Unsupported(String),
    Other,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex field {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn parse_log(text: &str) -> Vec<Rec> {
    text.lines()
        .map(|line| {
            let w: Vec<&str> = line.split(' ').collect();
            let num = |i: usize| -> u64 {
                w.get(i)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("bad number {i} in log line {line:?}"))
            };
            let path = |i: usize| -> String {
                String::from_utf8(unhex(w.get(i).copied().unwrap_or(""))).unwrap()
            };
            let bytes = |i: usize| unhex(w.get(i).copied().unwrap_or(""));
            match w[0] {
                "RUN" => Rec::Run(num(1) as usize),
                "P" => Rec::Other,
                "ROOT" => Rec::Root(num(1)),
                "O" => Rec::Open {
                    path: path(1),
                    ino: num(2),
                    dir: w.get(3) == Some(&"d"),
                    created: num(4) == 1,
                    trunc: num(5) == 1,
                },
                "M" => Rec::Mkdir {
                    path: path(1),
                    ino: num(2),
                },
                "W" => Rec::Write {
                    ino: num(1),
                    off: num(2),
                    data: bytes(3),
                },
                "T" => Rec::Truncate {
                    ino: num(1),
                    len: num(2),
                },
                "SB" => Rec::SyncBegin { token: num(1) },
                "SE" => Rec::SyncEnd {
                    token: num(1),
                    ino: num(2),
                    ok: num(3) == 1,
                },
                "R" => Rec::Rename {
                    from: path(1),
                    to: path(2),
                },
                "U" => Rec::Unlink(path(1)),
                "D" => Rec::Rmdir(path(1)),
                "OUT" => Rec::Out(bytes(1)),
                "X" => Rec::Unsupported(w[1..].join(" ")),
                other => panic!("unknown log record {other:?} in {line:?}"),
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------
// The file-system model

/// A change to the tree, as the page cache saw it.
#[derive(Clone, Debug)]
enum Effect {
    Write {
        node: usize,
        off: u64,
        data: std::sync::Arc<[u8]>,
    },
    Truncate {
        node: usize,
        len: u64,
    },
    /// Directory entries set ((parent, name) to a node) or removed (None), all or
    /// nothing; durable once directory `dir` is fsynced after it.
    Names {
        sets: Vec<(usize, String, Option<usize>)>,
        dir: usize,
    },
}

/// An acknowledgement printed on stdout.
#[derive(Clone, Debug)]
enum Ack {
    /// `init` finished.
    Init,
    /// Emitted event (global feed index) got this sequence.
    Event {
        seq: u64,
        fed: usize,
    },
    Checkpoint,
    Compact,
}

/// The log replayed: what each cut point may leave.
struct Trace {
    /// Effects in page-cache order with the record index that made each.
    effects: Vec<(Effect, usize)>,
    /// Record index of the fsync that made each effect durable.
    durable_at: Vec<Option<usize>>,
    /// Which node is a directory.
    is_dir: Vec<bool>,
    /// Acknowledgements with the record index after which they were printed.
    acks: Vec<(usize, Ack)>,
    /// Record index of the compact run's start.
    compact_start: usize,
    records: usize,
    /// Every fed event, in feed order, with its inode.
    fed: Vec<Value>,
    /// Short description of each record (for failure reports).
    labels: Vec<String>,
}

fn split(path: &str) -> (&str, &str) {
    match path.rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => (".", path),
    }
}

impl Trace {
    fn replay(recs: &[Rec]) -> Trace {
        let runs = workload();
        let mut fed = Vec::new();
        let mut fed_base = HashMap::new();
        for kind in &runs {
            if let RunKind::Emit(run, count) = *kind {
                fed_base.insert(run, fed.len());
                fed.extend((0..count).map(|i| fed_event(run, i)));
            }
        }
        let mut t = Trace {
            effects: Vec::new(),
            durable_at: Vec::new(),
            is_dir: vec![true],
            acks: Vec::new(),
            compact_start: usize::MAX,
            records: recs.len(),
            fed,
            labels: Vec::new(),
        };
        // The volatile namespace and the inode numbers of the running process.
        let mut names: HashMap<(usize, String), usize> = HashMap::new();
        let mut inodes: HashMap<u64, usize> = HashMap::new();
        let mut sync_marks: HashMap<u64, usize> = HashMap::new();
        let mut run = None;
        let mut out = Vec::<u8>::new();
        let mut lines_done = 0usize;
        let resolve = |names: &HashMap<(usize, String), usize>, path: &str| -> Option<usize> {
            if path == "." {
                return Some(0);
            }
            path.split('/').try_fold(0usize, |node, part| {
                names.get(&(node, part.to_string())).copied()
            })
        };
        for (r, rec) in recs.iter().enumerate() {
            t.labels.push(match rec {
                Rec::Write { data, off, ino } => {
                    format!("write {} bytes at {off} to inode {ino}", data.len())
                }
                Rec::Out(b) => format!("stdout {:?}", String::from_utf8_lossy(b)),
                other => format!("{other:?}"),
            });
            let node_of = |inodes: &HashMap<u64, usize>, ino: u64| -> usize {
                *inodes.get(&ino).unwrap_or_else(|| {
                    panic!("record {r} ({rec:?}): inode {ino} was never opened under the journal")
                })
            };
            match rec {
                Rec::Run(i) => {
                    run = Some(runs[*i]);
                    out.clear();
                    lines_done = 0;
                    if runs[*i] == RunKind::Compact {
                        t.compact_start = r;
                    }
                }
                Rec::Root(ino) => {
                    inodes.insert(*ino, 0);
                }
                Rec::Open {
                    path,
                    ino,
                    dir,
                    created,
                    trunc,
                } => {
                    let node = if *created {
                        let (parent, name) = split(path);
                        let parent = resolve(&names, parent).unwrap_or_else(|| {
                            panic!("record {r}: {path} created in a directory the model lacks")
                        });
                        let node = t.is_dir.len();
                        t.is_dir.push(*dir);
                        names.insert((parent, name.to_string()), node);
                        t.push(
                            Effect::Names {
                                sets: vec![(parent, name.to_string(), Some(node))],
                                dir: parent,
                            },
                            r,
                        );
                        node
                    } else {
                        let node = resolve(&names, path).unwrap_or_else(|| {
                            panic!("record {r}: {path} opened but the model has no such file")
                        });
                        assert_eq!(t.is_dir[node], *dir, "record {r}: {path} changed kind");
                        node
                    };
                    inodes.insert(*ino, node);
                    if *trunc {
                        t.push(Effect::Truncate { node, len: 0 }, r);
                    }
                }
                Rec::Mkdir { path, ino } => {
                    let (parent, name) = split(path);
                    let parent = resolve(&names, parent).unwrap_or_else(|| {
                        panic!("record {r}: mkdir {path} in a directory the model lacks")
                    });
                    let node = t.is_dir.len();
                    t.is_dir.push(true);
                    names.insert((parent, name.to_string()), node);
                    inodes.insert(*ino, node);
                    t.push(
                        Effect::Names {
                            sets: vec![(parent, name.to_string(), Some(node))],
                            dir: parent,
                        },
                        r,
                    );
                }
                Rec::Write { ino, off, data } => {
                    let node = node_of(&inodes, *ino);
                    t.push(
                        Effect::Write {
                            node,
                            off: *off,
                            data: data.clone().into(),
                        },
                        r,
                    );
                }
                Rec::Truncate { ino, len } => {
                    let node = node_of(&inodes, *ino);
                    t.push(Effect::Truncate { node, len: *len }, r);
                }
                Rec::SyncBegin { token } => {
                    sync_marks.insert(*token, t.effects.len());
                }
                Rec::SyncEnd { token, ino, ok } => {
                    let mark = sync_marks[token];
                    if !ok {
                        continue;
                    }
                    // ino 0: sync()/syncfs(), everything before it.
                    let node = (*ino != 0).then(|| node_of(&inodes, *ino));
                    for i in 0..mark {
                        let covered = match (&t.effects[i].0, node) {
                            (_, None) => true,
                            (Effect::Names { dir, .. }, Some(n)) => t.is_dir[n] && *dir == n,
                            (Effect::Write { node: w, .. }, Some(n))
                            | (Effect::Truncate { node: w, .. }, Some(n)) => *w == n,
                        };
                        if covered && t.durable_at[i].is_none() {
                            t.durable_at[i] = Some(r);
                        }
                    }
                }
                Rec::Rename { from, to } => {
                    let node = resolve(&names, from).unwrap_or_else(|| {
                        panic!("record {r}: rename of {from}, which the model lacks")
                    });
                    let (fp, fname) = split(from);
                    let (tp, tname) = split(to);
                    let fp = resolve(&names, fp).unwrap();
                    let tp = resolve(&names, tp)
                        .unwrap_or_else(|| panic!("record {r}: rename into a missing directory"));
                    names.remove(&(fp, fname.to_string()));
                    names.insert((tp, tname.to_string()), node);
                    t.push(
                        Effect::Names {
                            sets: vec![
                                (fp, fname.to_string(), None),
                                (tp, tname.to_string(), Some(node)),
                            ],
                            dir: tp,
                        },
                        r,
                    );
                }
                Rec::Unlink(path) | Rec::Rmdir(path) => {
                    let (p, name) = split(path);
                    let p = resolve(&names, p).unwrap_or_else(|| {
                        panic!("record {r}: removal of {path} in a directory the model lacks")
                    });
                    names.remove(&(p, name.to_string()));
                    t.push(
                        Effect::Names {
                            sets: vec![(p, name.to_string(), None)],
                            dir: p,
                        },
                        r,
                    );
                }
                Rec::Out(bytes) => {
                    out.extend_from_slice(bytes);
                    let text = String::from_utf8_lossy(&out).into_owned();
                    let complete: Vec<&str> = text.split_inclusive('\n').collect();
                    let lines: Vec<&str> = complete
                        .iter()
                        .filter(|l| l.ends_with('\n'))
                        .map(|l| l.trim_end())
                        .collect();
                    while lines_done < lines.len() {
                        let line = lines[lines_done];
                        let ack = match run.expect("output before any run") {
                            RunKind::Init => Ack::Init,
                            RunKind::Checkpoint => Ack::Checkpoint,
                            RunKind::Compact => Ack::Compact,
                            RunKind::Emit(n, _) => Ack::Event {
                                seq: line.parse().unwrap_or_else(|e| {
                                    panic!("emit printed {line:?}, not a sequence: {e}")
                                }),
                                fed: fed_base[&n] + lines_done,
                            },
                        };
                        t.acks.push((r + 1, ack));
                        lines_done += 1;
                    }
                }
                Rec::Unsupported(what) => panic!(
                    "record {r}: the journal made a call the power-cut model does not \
                     cover ({what}); extend tests/c/syscall_log.c and this model"
                ),
                Rec::Other => {}
            }
        }
        t
    }

    fn push(&mut self, e: Effect, r: usize) {
        self.effects.push((e, r));
        self.durable_at.push(None);
    }
}

// ---------------------------------------------------------------------------------
// Crash states

/// What survives of one unsynced effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Fate {
    Lost,
    /// The first n bytes of a write.
    Torn(u32),
    /// Only the sectors a seeded hash picks.
    Scattered(u64),
    /// Lost, but the file grew to cover it: zeros past the old end.
    Zeros,
}

/// A state: effects `0..upto` applied in order except those given another fate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct StateKey {
    upto: usize,
    fates: Vec<(usize, Fate)>,
    /// 0 before compaction started, 1 while it ran, 2 once it reported.
    compact_phase: u8,
}

/// The most demanding cut point seen for a state.
#[derive(Clone, Debug)]
struct Cut {
    /// Records before the cut.
    at: usize,
    how: String,
    /// Everything kept, everything lost, or one name change lost: checked first when
    /// sampling.
    primary: bool,
}

fn is_write(e: &Effect) -> Option<usize> {
    match e {
        Effect::Write { data, .. } => Some(data.len()),
        _ => None,
    }
}

/// The states one cut point may leave, as (name, fates of the unsynced effects).
fn variants(
    trace: &Trace,
    pending: &[usize],
    rng: &mut Rng,
    mixes: u64,
) -> Vec<(String, BTreeMap<usize, Fate>)> {
    let mut out: Vec<(String, BTreeMap<usize, Fate>)> = Vec::new();
    let all = |f: Fate| pending.iter().map(|&i| (i, f)).collect::<BTreeMap<_, _>>();
    out.push(("page cache kept".into(), BTreeMap::new()));
    if pending.is_empty() {
        return out;
    }
    out.push(("everything unsynced lost".into(), all(Fate::Lost)));
    // Ordered prefixes (a journaling file system keeps calls in order).
    let n = pending.len();
    let step = n.div_ceil(8).max(1);
    for j in (1..n).step_by(step) {
        out.push((
            format!("first {j} of {n} unsynced calls kept"),
            pending[j..].iter().map(|&i| (i, Fate::Lost)).collect(),
        ));
    }
    // Each of the last few lost alone (reordering), and every name change.
    for (k, &i) in pending.iter().enumerate().rev() {
        if k + 8 >= n || matches!(trace.effects[i].0, Effect::Names { .. }) {
            out.push((format!("effect {i} alone lost"), [(i, Fate::Lost)].into()));
        }
    }
    // Each of the last few writes torn, later calls lost.
    for (k, &i) in pending.iter().enumerate().rev().take(8) {
        let Some(len) = is_write(&trace.effects[i].0) else {
            continue;
        };
        let later = pending[k + 1..].iter().map(|&j| (j, Fate::Lost));
        if len > SECTOR {
            let cut = (rng.range(1, (len / SECTOR) as u64) as usize * SECTOR).min(len - 1);
            out.push((
                format!("effect {i} torn at sector boundary {cut}"),
                later.clone().chain([(i, Fate::Torn(cut as u32))]).collect(),
            ));
            out.push((
                format!("effect {i} scattered sectors"),
                later
                    .clone()
                    .chain([(i, Fate::Scattered(rng.next()))])
                    .collect(),
            ));
        }
        if len > 1 {
            let cut = rng.range(1, len as u64 - 1) as u32;
            out.push((
                format!("effect {i} torn at byte {cut}"),
                later.chain([(i, Fate::Torn(cut))]).collect(),
            ));
        }
    }
    // Extensions read back as zeros.
    out.push((
        "unsynced writes lost, file sizes kept (zeros)".into(),
        pending
            .iter()
            .map(|&i| {
                let f = if is_write(&trace.effects[i].0).is_some() {
                    Fate::Zeros
                } else {
                    Fate::Lost
                };
                (i, f)
            })
            .collect(),
    ));
    // Data without metadata, metadata without data.
    let (names, data): (Vec<usize>, Vec<usize>) = pending
        .iter()
        .partition(|&&i| matches!(trace.effects[i].0, Effect::Names { .. }));
    if !names.is_empty() && !data.is_empty() {
        out.push((
            "unsynced data kept, unsynced names lost".into(),
            names.iter().map(|&i| (i, Fate::Lost)).collect(),
        ));
        out.push((
            "unsynced names kept, unsynced data lost".into(),
            data.iter().map(|&i| (i, Fate::Lost)).collect(),
        ));
    }
    for m in 0..mixes {
        let mut fates = BTreeMap::new();
        for &i in pending {
            let roll = rng.range(0, 99);
            let f = match is_write(&trace.effects[i].0) {
                Some(len) if roll < 10 && len > 1 => {
                    Fate::Torn(rng.range(1, len as u64 - 1) as u32)
                }
                Some(len) if roll < 20 && len > SECTOR => Fate::Scattered(rng.next()),
                Some(_) if roll < 25 => Fate::Zeros,
                _ if roll < 60 => Fate::Lost,
                _ => continue,
            };
            fates.insert(i, f);
        }
        out.push((format!("random mix {m}"), fates));
    }
    out
}

/// The phase of compaction at a cut.
fn compact_phase(trace: &Trace, at: usize) -> u8 {
    let reported = trace
        .acks
        .iter()
        .any(|(r, a)| matches!(a, Ack::Compact) && *r <= at);
    if reported {
        2
    } else if at > trace.compact_start {
        1
    } else {
        0
    }
}

/// Every distinct state of every cut point, each with its most demanding cut.
fn enumerate(trace: &Trace, mixes: u64, seed: u64) -> HashMap<StateKey, Cut> {
    let mut states: HashMap<StateKey, Cut> = HashMap::new();
    let mut rng = Rng(seed);
    let mut created = 0; // effects made before the cut
    let mut open: Vec<usize> = Vec::new(); // made and not yet durable
    for at in 0..=trace.records {
        while created < trace.effects.len() && trace.effects[created].1 < at {
            open.push(created);
            created += 1;
        }
        open.retain(|&i| trace.durable_at[i].is_none_or(|d| d >= at));
        let phase = compact_phase(trace, at);
        for (how, fates) in variants(trace, &open, &mut rng, mixes) {
            // Sampling keeps these first: everything kept, everything lost, and one
            // unsynced name change lost alone (what a missing directory fsync risks).
            let primary = fates.is_empty()
                || fates.values().all(|f| *f == Fate::Lost)
                    && (fates.len() == open.len()
                        || fates.len() == 1
                            && fates
                                .keys()
                                .all(|&i| matches!(trace.effects[i].0, Effect::Names { .. })));
            // Canonical: stop after the last effect that leaves a trace.
            let upto = (0..created)
                .rev()
                .find(|i| fates.get(i) != Some(&Fate::Lost))
                .map_or(0, |i| i + 1);
            let key = StateKey {
                upto,
                fates: fates.into_iter().filter(|(i, _)| *i < upto).collect(),
                compact_phase: phase,
            };
            let cut = Cut { at, how, primary };
            states
                .entry(key)
                .and_modify(|c| {
                    if at > c.at {
                        let p = c.primary || cut.primary;
                        *c = Cut {
                            primary: p,
                            ..cut.clone()
                        };
                    } else {
                        c.primary |= cut.primary;
                    }
                })
                .or_insert(cut);
        }
    }
    states
}

/// Writes state `key` into `dir` (which must not exist).
fn materialise(trace: &Trace, key: &StateKey, dir: &Path) {
    let fates: HashMap<usize, Fate> = key.fates.iter().copied().collect();
    let mut names: HashMap<(usize, String), usize> = HashMap::new();
    let mut data: HashMap<usize, Vec<u8>> = HashMap::new();
    for (i, (effect, _)) in trace.effects[..key.upto].iter().enumerate() {
        let fate = fates.get(&i).copied();
        if fate == Some(Fate::Lost) {
            continue;
        }
        match effect {
            Effect::Write {
                node,
                off,
                data: bytes,
            } => {
                let file = data.entry(*node).or_default();
                let off = *off as usize;
                let end = off + bytes.len();
                match fate {
                    None => {
                        if file.len() < end {
                            file.resize(end, 0);
                        }
                        file[off..end].copy_from_slice(&bytes[..]);
                    }
                    Some(Fate::Torn(n)) => {
                        let end = off + n as usize;
                        if file.len() < end {
                            file.resize(end, 0);
                        }
                        file[off..end].copy_from_slice(&bytes[..n as usize]);
                    }
                    Some(Fate::Scattered(seed)) => {
                        // Sectors of the file the write covers, each kept or not.
                        let mut pos = off;
                        while pos < end {
                            let next = ((pos / SECTOR) + 1) * SECTOR;
                            let next = next.min(end);
                            let mut h = Rng(seed ^ (pos / SECTOR) as u64);
                            if h.next() & 1 == 1 {
                                if file.len() < next {
                                    file.resize(next, 0);
                                }
                                file[pos..next].copy_from_slice(&bytes[pos - off..next - off]);
                            }
                            pos = next;
                        }
                    }
                    Some(Fate::Zeros) => {
                        if file.len() < end {
                            file.resize(end, 0);
                        }
                    }
                    Some(Fate::Lost) => unreachable!(),
                }
            }
            Effect::Truncate { node, len } => {
                data.entry(*node).or_default().resize(*len as usize, 0);
            }
            Effect::Names { sets, .. } => {
                for (parent, name, target) in sets {
                    match target {
                        Some(n) => names.insert((*parent, name.clone()), *n),
                        None => names.remove(&(*parent, name.clone())),
                    };
                }
            }
        }
    }
    let mut children: BTreeMap<usize, Vec<(&str, usize)>> = BTreeMap::new();
    for ((parent, name), node) in &names {
        children
            .entry(*parent)
            .or_default()
            .push((name.as_str(), *node));
    }
    std::fs::create_dir_all(dir).unwrap();
    let mut stack = vec![(0usize, dir.to_path_buf())];
    let mut seen = HashSet::new();
    while let Some((node, path)) = stack.pop() {
        if !seen.insert(node) {
            continue;
        }
        for &(name, child) in children.get(&node).map(Vec::as_slice).unwrap_or(&[]) {
            let p = path.join(name);
            if trace.is_dir[child] {
                std::fs::create_dir(&p).unwrap();
                stack.push((child, p));
            } else {
                std::fs::write(&p, data.get(&child).map(Vec::as_slice).unwrap_or(&[])).unwrap();
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Checking a state

/// What the checks expect at a cut.
struct Expect<'a> {
    init: bool,
    checkpoint: bool,
    /// (sequence, feed index) of every acknowledged event.
    events: Vec<(u64, usize)>,
    phase: u8,
    /// Sequences compaction drops.
    dropped: &'a HashSet<u64>,
}

fn expect<'a>(trace: &Trace, at: usize, phase: u8, dropped: &'a HashSet<u64>) -> Expect<'a> {
    let mut e = Expect {
        init: false,
        checkpoint: false,
        events: Vec::new(),
        phase,
        dropped,
    };
    for (r, ack) in &trace.acks {
        if *r > at {
            break;
        }
        match ack {
            Ack::Init => e.init = true,
            Ack::Checkpoint => e.checkpoint = true,
            Ack::Compact => {}
            Ack::Event { seq, fed } => e.events.push((*seq, *fed)),
        }
    }
    e
}

fn run(dir: &Path, args: &[&str]) -> Output {
    bin().arg("--dir").arg(dir).args(args).output().unwrap()
}

fn describe(out: &Output) -> String {
    format!(
        "{}; stderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )
}

/// Events printed by `cat -o ndjson`, checked against what was fed and acknowledged.
/// `settled`: the journal was recovered, so a compaction is wholly in or out.
fn check_events(
    trace: &Trace,
    fed_by_inode: &HashMap<u64, usize>,
    exp: &Expect<'_>,
    out: &Output,
    settled: bool,
) -> Result<(), String> {
    if !out.status.success() {
        return Err(format!("cat failed: {}", describe(out)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut present: HashMap<u64, usize> = HashMap::new();
    let mut last: Option<(u64, usize)> = None;
    for line in text.lines() {
        let ev: Value =
            serde_json::from_str(line).map_err(|e| format!("cat printed {line:?}: {e}"))?;
        let seq = ev["seq"]
            .as_u64()
            .ok_or_else(|| format!("event without seq: {line}"))?;
        let inode = ev["inode"].as_u64().unwrap_or(0);
        let &fed = fed_by_inode
            .get(&inode)
            .ok_or_else(|| format!("seq {seq} is no event that was fed: {line:.200}"))?;
        if common::content(&ev) != common::content(&trace.fed[fed]) {
            return Err(format!(
                "seq {seq} does not hold what was fed as event {fed}"
            ));
        }
        if let Some((s, f)) = last
            && (seq <= s || fed <= f)
        {
            return Err(format!(
                "seq {seq} (fed #{fed}) after seq {s} (fed #{f}): duplicate or out of order"
            ));
        }
        last = Some((seq, fed));
        present.insert(seq, fed);
    }
    let mut missing = Vec::new();
    for &(seq, fed) in &exp.events {
        match present.get(&seq) {
            Some(&f) if f == fed => {}
            Some(&f) => return Err(format!("acknowledged seq {seq} holds fed #{f}, not #{fed}")),
            None if exp.phase > 0 && exp.dropped.contains(&seq) => {}
            None => missing.push(seq),
        }
    }
    if !missing.is_empty() {
        return Err(format!(
            "acknowledged events lost: seq {:?} ({} of {} acknowledged)",
            missing,
            missing.len(),
            exp.events.len()
        ));
    }
    let acked_dropped = exp
        .events
        .iter()
        .filter(|(s, _)| exp.dropped.contains(s))
        .count();
    let kept_dropped = exp
        .events
        .iter()
        .filter(|(s, _)| exp.dropped.contains(s) && present.contains_key(s))
        .count();
    if settled && exp.phase == 1 && kept_dropped != 0 && kept_dropped != acked_dropped {
        return Err(format!(
            "half a compaction: {kept_dropped} of the {acked_dropped} events it drops remain"
        ));
    }
    if settled && exp.phase == 2 && kept_dropped != 0 {
        return Err(format!(
            "compaction reported done, yet {kept_dropped} events it dropped are back"
        ));
    }
    Ok(())
}

/// What opening a state did, when every check passed.
#[derive(Default)]
struct Passed {
    /// `cat` refused the state as found, naming the damage (an unsynced write the
    /// cut tore); `recover` then kept every acknowledged event.
    reader_refused: bool,
}

/// Runs every check on the state in `dir`.
fn check_state(
    trace: &Trace,
    fed_by_inode: &HashMap<u64, usize>,
    exp: &Expect<'_>,
    dir: &Path,
) -> Result<Passed, String> {
    let cat_args = ["cat", "-o", "ndjson"];
    let mut passed = Passed::default();
    if !exp.init {
        // Before init reported, anything but a crash of the binary is fine.
        let out = run(dir, &["recover"]);
        if out.status.code().is_none_or(|c| c == 101) {
            return Err(format!("recover before init finished: {}", describe(&out)));
        }
        return Ok(passed);
    }
    // A reader may refuse a state a power cut left (the writer repairs it) if it says
    // which file is damaged and where; it may not print a journal that lacks an
    // acknowledged event.
    let raw = run(dir, &cat_args);
    if raw.status.code() == Some(1) {
        let err = String::from_utf8_lossy(&raw.stderr);
        if !(err.contains(".seg at byte") || err.contains(".seg: ")) {
            return Err(format!(
                "cat of the state as found refused without naming the damage: {}",
                describe(&raw)
            ));
        }
        passed.reader_refused = true;
    } else {
        check_events(trace, fed_by_inode, exp, &raw, false)
            .map_err(|e| format!("cat of the state as found: {e}"))?;
    }
    let rec = run(dir, &["recover", "-o", "json"]);
    if !rec.status.success() {
        return Err(format!("recover refused: {}", describe(&rec)));
    }
    let after = run(dir, &cat_args);
    check_events(trace, fed_by_inode, exp, &after, true)
        .map_err(|e| format!("cat after recover: {e}"))?;
    let verify = run(dir, &["verify"]);
    if !verify.status.success() {
        return Err(format!(
            "verify after recover is not clean: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            describe(&verify)
        ));
    }
    if exp.checkpoint {
        let list = run(dir, &["checkpoint", "list", "-o", "json"]);
        let v: Value = serde_json::from_slice(&list.stdout).unwrap_or(Value::Null);
        let ok = v
            .as_array()
            .is_some_and(|a| a.iter().any(|c| c["id"] == 1 && c.get("damaged").is_none()));
        if !list.status.success() || !ok {
            return Err(format!(
                "acknowledged checkpoint 1 missing or damaged: {} {}",
                String::from_utf8_lossy(&list.stdout),
                describe(&list)
            ));
        }
    }
    Ok(passed)
}

/// Failures grouped by kind (the message without its numbers).
#[derive(Default)]
struct Failures {
    count: usize,
    /// kind -> (count, first example in full)
    kinds: BTreeMap<String, (usize, String)>,
}

impl Failures {
    fn add(&mut self, why: &str, example: impl FnOnce(usize) -> String) {
        self.count += 1;
        // Numbers become '#', lists "[…]".
        let mut kind = String::new();
        let mut depth = 0;
        for c in why.chars() {
            match c {
                '[' => {
                    depth += 1;
                    if depth == 1 {
                        kind.push_str("[…]");
                    }
                }
                ']' => depth -= 1,
                _ if depth > 0 => {}
                c if c.is_ascii_digit() => {
                    if !kind.ends_with('#') {
                        kind.push('#');
                    }
                }
                c => kind.push(c),
            }
            if kind.len() > 140 {
                break;
            }
        }
        let n = self.count;
        let kinds = self.kinds.len();
        self.kinds
            .entry(kind)
            .and_modify(|(c, _)| *c += 1)
            .or_insert_with(|| {
                (
                    1,
                    if kinds < REPORTED_FAILURES {
                        example(n)
                    } else {
                        String::new()
                    },
                )
            });
    }
}

// ---------------------------------------------------------------------------------
// The test

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

// Checks I9, I21, I31 (docs/invariants.md).
#[test]
fn every_power_cut_state_keeps_every_acknowledged_event() {
    let started = Instant::now();
    let work =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("power_cut-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let work = work.canonicalize().unwrap();
    // The journal directory exists (and is durable) before init: the model starts
    // from it, empty.
    let root = work.join("journal");
    std::fs::create_dir(&root).unwrap();

    let log = record(&work, &root);
    let recs = parse_log(&log);
    let recorded = started.elapsed();
    let trace = Trace::replay(&recs);

    // The recorded journal itself must be intact; its cat tells what compaction dropped.
    let fed_by_inode: HashMap<u64, usize> = trace
        .fed
        .iter()
        .enumerate()
        .map(|(i, ev)| (ev["inode"].as_u64().unwrap(), i))
        .collect();
    let final_cat = run(&root, &["cat", "-o", "ndjson"]);
    assert!(
        final_cat.status.success(),
        "cat of the recorded journal: {}",
        describe(&final_cat)
    );
    let final_seqs: HashSet<u64> = common::ndjson_seqs(&String::from_utf8_lossy(&final_cat.stdout))
        .into_iter()
        .collect();
    let acked: Vec<(u64, usize)> = trace
        .acks
        .iter()
        .filter_map(|(_, a)| match a {
            Ack::Event { seq, fed } => Some((*seq, *fed)),
            _ => None,
        })
        .collect();
    assert_eq!(
        acked.len(),
        trace.fed.len(),
        "every fed event is acknowledged"
    );
    let dropped: HashSet<u64> = acked
        .iter()
        .filter(|(s, _)| !final_seqs.contains(s))
        .map(|(s, _)| *s)
        .collect();
    // Compaction drops the oldest segment whole and the dropped type from the others:
    // nothing else may be missing.
    let first_kept = final_seqs.iter().min().copied().unwrap_or(0);
    let unexplained: Vec<u64> = acked
        .iter()
        .filter(|(s, f)| {
            dropped.contains(s) && *s >= first_kept && trace.fed[*f]["type"] != DROP_TYPE
        })
        .map(|(s, _)| *s)
        .collect();
    assert!(
        unexplained.is_empty(),
        "the recorded journal lost events compaction had no reason to drop: {unexplained:?}"
    );
    assert!(
        first_kept > 1 && dropped.iter().any(|s| *s >= first_kept),
        "compaction must delete the oldest segment and drop {DROP_TYPE} events from \
         others (first kept seq {first_kept}, dropped {dropped:?})"
    );
    let segments_made = recs
        .iter()
        .filter(|r| matches!(r, Rec::Rename { from, .. } if from.ends_with(".seg.tmp")))
        .count();
    assert!(
        segments_made >= 3,
        "the workload must rotate segments (made {segments_made})"
    );

    // States.
    let rounds = env_u64("TORTURE_ROUNDS");
    let mixes = rounds.map_or(DEFAULT_RANDOM_MIXES, |r| {
        (r / 100).max(DEFAULT_RANDOM_MIXES)
    });
    let seed = env_u64("POWERCUT_SEED").unwrap_or(0x5EED_C0FFEE);
    let cap = env_u64("POWERCUT_STATES")
        .map(|n| n as usize)
        .or(if rounds.is_some() {
            Some(usize::MAX)
        } else {
            None
        })
        .unwrap_or(DEFAULT_STATES);
    let cap = if cap == 0 { usize::MAX } else { cap };
    let states = enumerate(&trace, mixes, seed);
    let distinct = states.len();
    let mut all: Vec<(StateKey, Cut)> = states.into_iter().collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rng = Rng(seed);
    // Primary states first (spread evenly if even they exceed the cap), then a sample.
    let (mut primary, mut rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, c)| c.primary);
    let primaries = primary.len();
    let mut chosen = Vec::new();
    if primary.len() > cap {
        let step = primary.len() as f64 / cap as f64;
        chosen.extend((0..cap).map(|i| primary[(i as f64 * step) as usize].clone()));
    } else {
        chosen.append(&mut primary);
        for i in (1..rest.len()).rev() {
            let j = rng.range(0, i as u64) as usize;
            rest.swap(i, j);
        }
        rest.truncate(cap - chosen.len());
        chosen.append(&mut rest);
    }

    // Check them on a few threads.
    let scratch = work.join("states");
    let next = AtomicUsize::new(0);
    let failures: Mutex<Failures> = Mutex::new(Failures::default());
    let reader_refusals = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let check_started = Instant::now();
    std::thread::scope(|s| {
        for w in 0..workers {
            let (trace, chosen, next, failures, refusals, fed_by_inode, dropped, scratch) = (
                &trace,
                &chosen,
                &next,
                &failures,
                &reader_refusals,
                &fed_by_inode,
                &dropped,
                &scratch,
            );
            s.spawn(move || {
                let dir = scratch.join(format!("w{w}"));
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((key, cut)) = chosen.get(i) else {
                        break;
                    };
                    let _ = std::fs::remove_dir_all(&dir);
                    materialise(trace, key, &dir);
                    let exp = expect(trace, cut.at, key.compact_phase, dropped);
                    match check_state(trace, fed_by_inode, &exp, &dir) {
                        Ok(p) => {
                            if p.reader_refused {
                                refusals.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(why) => failures.lock().unwrap().add(&why, |n| {
                            let kept = scratch.join(format!("failed-{n}"));
                            let _ = std::fs::remove_dir_all(&kept);
                            materialise(trace, key, &kept);
                            let last = cut.at.checked_sub(1).map_or("start".into(), |r| {
                                format!("record {r}: {}", trace.labels[r])
                            });
                            format!(
                                "cut after {last}\n    state: {} ({} effects, {} with another \
                                 fate; {} events acknowledged; kept in {})\n    {why}",
                                cut.how,
                                key.upto,
                                key.fates.len(),
                                exp.events.len(),
                                kept.display()
                            )
                        }),
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    let syncs = recs
        .iter()
        .filter(|r| matches!(r, Rec::SyncEnd { .. }))
        .count();
    eprintln!(
        "torture power-cut: rounds={} failures={} records={} effects={} syncs={syncs} acks={} \
         cut_points={} distinct_states={distinct} primary={primaries} checked={} \
         reader_refusals={} record_s={:.1} check_s={:.1} workers={workers} seed={seed:#x}",
        rounds.unwrap_or(1),
        failures.count,
        trace.records,
        trace.effects.len(),
        trace.acks.len(),
        trace.records + 1,
        chosen.len(),
        reader_refusals.load(Ordering::Relaxed),
        recorded.as_secs_f64(),
        check_started.elapsed().as_secs_f64(),
    );
    let report: Vec<String> = failures
        .kinds
        .iter()
        .map(|(kind, (n, example))| format!("{n} x {kind}\n  {example}"))
        .collect();
    assert!(
        failures.count == 0,
        "{} of {} power-cut states lost or hid acknowledged data, {} kinds:\n{}",
        failures.count,
        chosen.len(),
        failures.kinds.len(),
        report.join("\n")
    );
    let _ = std::fs::remove_dir_all(&work);
}
