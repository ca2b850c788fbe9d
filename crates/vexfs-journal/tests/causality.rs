//! Causality walks against brute force: for random event graphs (parents, links
//! carried by either end, links about their carrier) spread over several segments,
//! the indexed walk finds exactly the ancestors and descendants a search over every
//! event finds — in the writer, in a reader of the files, and after the index files
//! are deleted and rebuilt.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use vexfs_journal::*;
use vexfs_journal_index::idx_path;

fn config() -> Config {
    Config {
        segment_size: 64 << 10,
        block_bytes: 1024,
        ..Config::default()
    }
}

/// How event *i* names earlier events: its parent, and links (cause, effect) where
/// `None` means "the carrier itself" (written as id 0).
#[derive(Clone, Debug)]
struct Spec {
    parent: Option<usize>,
    links: Vec<(Option<usize>, Option<usize>)>,
    mask: u64,
}

fn specs() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (
            any::<u16>(),
            prop::collection::vec((any::<u16>(), any::<u16>(), 0u8..3), 0..3),
            0u8..4,
        ),
        5..120,
    )
    .prop_map(|raw| {
        raw.into_iter()
            .enumerate()
            .map(|(i, (p, links, m))| {
                let pick = |x: u16| (i > 0).then(|| x as usize % i);
                Spec {
                    // About a third of the events are roots.
                    parent: pick(p).filter(|_| p % 3 != 0),
                    links: links
                        .into_iter()
                        .filter_map(|(a, b, kind)| match kind {
                            // Cause earlier, effect the carrier.
                            0 => pick(a).map(|c| (Some(c), None)),
                            // The carrier causes an earlier event.
                            1 => pick(b).map(|e| (None, Some(e))),
                            // A link between two earlier events.
                            _ => pick(a).zip(pick(b)).map(|(c, e)| (Some(c), Some(e))),
                        })
                        .collect(),
                    mask: if m == 0 { 0b10 } else { 0b01 },
                }
            })
            .collect()
    })
}

/// Writes the graph; returns the sequence of each spec'd event.
fn build(j: &Journal, specs: &[Spec]) -> Vec<u64> {
    let mut seqs: Vec<u64> = Vec::new();
    for (i, s) in specs.iter().enumerate() {
        let id = |k: Option<usize>| k.map_or(0, |k| seqs[k]);
        let mut ev = Event::agent(AgentOp::Decision)
            .path(format!("/g/{i}"))
            .visibility(s.mask);
        if let Some(p) = s.parent {
            ev.parent_event_id = seqs[p];
        }
        for (c, e) in &s.links {
            ev.links.push(CausalityLink {
                cause_event_id: id(*c),
                effect_event_id: id(*e),
                causality_type: 7,
                strength: 50,
                ..Default::default()
            });
        }
        seqs.push(j.emit(ev).unwrap());
        // Unrelated events between, so the graph spans blocks and segments.
        for k in 0..3 {
            j.emit(
                Event::filesystem(FsOp::Read)
                    .path(format!("/noise/{k}"))
                    .payload(vec![7; 300]),
            )
            .unwrap();
        }
    }
    j.sync().unwrap();
    seqs
}

/// Cause → effect over every event a principal of `mask` sees, by brute force (ids
/// are sequences here): what a hidden event states is hidden too.
fn all_edges(specs: &[Spec], seqs: &[u64], mask: Option<u64>) -> BTreeSet<(u64, u64)> {
    let mut edges = BTreeSet::new();
    for (i, s) in specs.iter().enumerate() {
        if mask.is_some_and(|m| s.mask & m == 0) {
            continue;
        }
        let me = seqs[i];
        if let Some(p) = s.parent {
            edges.insert((seqs[p], me));
        }
        for (c, e) in &s.links {
            let c = c.map_or(me, |k| seqs[k]);
            let e = e.map_or(me, |k| seqs[k]);
            if c != e {
                edges.insert((c, e));
            }
        }
    }
    edges
}

fn reach(
    edges: &BTreeSet<(u64, u64)>,
    start: u64,
    up: bool,
    visible: &dyn Fn(u64) -> bool,
) -> BTreeSet<u64> {
    let mut out = BTreeSet::new();
    let mut todo = vec![start];
    while let Some(n) = todo.pop() {
        for (c, e) in edges {
            let next = match (up, *c == n, *e == n) {
                (true, false, true) => *c,
                (false, true, false) => *e,
                _ => continue,
            };
            if next != start && visible(next) && out.insert(next) {
                todo.push(next);
            }
        }
    }
    out
}

fn check<F: Follow>(src: &F, specs: &[Spec], seqs: &[u64], mask: Option<u64>) {
    let edges = all_edges(specs, seqs, mask);
    let masks: BTreeMap<u64, u64> = seqs.iter().zip(specs).map(|(q, s)| (*q, s.mask)).collect();
    let visible = |seq: u64| mask.is_none_or(|m| masks.get(&seq).is_some_and(|v| v & m != 0));
    let options = CausalityOptions {
        visibility: mask,
        max_events: 100_000,
        ..CausalityOptions::default()
    };
    for &seq in seqs {
        let got = src.causality(seq, &options).unwrap();
        if !visible(seq) {
            assert!(got.is_none(), "hidden event {seq} answered");
            continue;
        }
        let got = got.unwrap();
        assert!(!got.truncated);
        let want_up = reach(&edges, seq, true, &visible);
        let want_down = reach(&edges, seq, false, &visible);
        let got_up: BTreeSet<u64> = got.ancestors.iter().copied().collect();
        let got_down: BTreeSet<u64> = got.descendants.iter().copied().collect();
        // The root cause may join the ancestors without a chain (a hidden link).
        let root = src.get(seq).unwrap().unwrap().event.root_cause_event_id;
        let extra: BTreeSet<u64> = got_up.difference(&want_up).copied().collect();
        assert!(
            extra.is_empty() || (extra.len() == 1 && extra.contains(&root)),
            "ancestors of {seq}: got {got_up:?}, want {want_up:?}"
        );
        assert!(
            want_up.is_subset(&got_up),
            "ancestors of {seq}: got {got_up:?}, want {want_up:?}"
        );
        assert_eq!(got_down, want_down, "descendants of {seq} (mask {mask:?})");
        for e in &got.edges {
            assert!(got.events.contains_key(&e.cause) && got.events.contains_key(&e.effect));
            assert!(
                edges.contains(&(e.cause, e.effect)) || e.kind == CauseKind::RootCause,
                "edge {e:?} is not in the journal"
            );
        }
        for ev in got.events.values() {
            assert!(visible(ev.seq), "hidden event {} in the answer", ev.seq);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    // Checks I46 (docs/invariants.md).
    #[test]
    fn indexed_walks_match_brute_force(specs in specs()) {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::create(dir.path(), config()).unwrap();
        let seqs = build(&j, &specs);
        check(&j, &specs, &seqs, None);
        check(&j, &specs, &seqs, Some(0b01));
        j.close().unwrap();
        let r = JournalReader::open(dir.path()).unwrap();
        check(&r, &specs, &seqs, None);
        drop(r);
        // Without index files: rebuilt from the segments, same answers.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let p = entry.unwrap().path();
            let idx = idx_path(&p);
            if idx != p && idx.exists() {
                std::fs::remove_file(idx).unwrap();
            }
        }
        let r = JournalReader::open(dir.path()).unwrap();
        check(&r, &specs, &seqs, Some(0b10));
    }
}

#[test]
fn a_chain_is_bounded_and_hidden_links_fall_back_to_the_root_cause() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), config()).unwrap();
    let root = j.emit(Event::agent(AgentOp::Decision)).unwrap();
    let mut prev = root;
    let mut chain = vec![root];
    for i in 0..10 {
        let mut ev = Event::agent(AgentOp::Decision).path(format!("/c/{i}"));
        ev.parent_event_id = prev;
        ev.root_cause_event_id = root;
        // The middle of the chain is hidden from agents of bit 2.
        ev.agent_visibility_mask = if i == 4 { 0b01 } else { 0b11 };
        prev = j.emit(ev).unwrap();
        chain.push(prev);
    }
    j.sync().unwrap();
    let last = *chain.last().unwrap();
    let all = j
        .causality(last, &CausalityOptions::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        all.ancestors,
        chain[..10].iter().rev().copied().collect::<Vec<_>>()
    );
    assert!(all.descendants.is_empty() && !all.truncated);

    let bounded = CausalityOptions {
        max_events: 4,
        ..CausalityOptions::default()
    };
    let b = j.causality(last, &bounded).unwrap().unwrap();
    assert!(b.truncated);
    assert_eq!(b.events.len(), 4);

    // Bit 2 cannot pass the hidden event: the walk stops there, and the root cause the
    // event names joins through a root-cause edge.
    let hidden = CausalityOptions {
        visibility: Some(0b10),
        ..CausalityOptions::default()
    };
    let h = j.causality(last, &hidden).unwrap().unwrap();
    assert!(!h.events.contains_key(&chain[5]));
    assert!(h.events.contains_key(&root));
    assert!(
        h.edges
            .iter()
            .any(|e| e.cause == root && e.effect == last && e.kind == CauseKind::RootCause)
    );
    assert!(j.causality(chain[5], &hidden).unwrap().is_none());
    assert!(j.causality(last + 100, &hidden).unwrap().is_none());
}

#[test]
fn imported_ids_are_found_through_the_foreign_id_postings() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::create(dir.path(), config()).unwrap();
    // Noise first, so an imported id is never its own sequence.
    for k in 0..200 {
        j.emit(
            Event::filesystem(FsOp::Read)
                .path(format!("/n/{k}"))
                .payload(vec![1; 300]),
        )
        .unwrap();
    }
    // Kernel-style events: ids far from any sequence, the chain named by those ids.
    let base = 1u64 << 40;
    let imported: Vec<Event> = (0..4u64)
        .map(|i| {
            let mut ev = Event::filesystem(FsOp::Write).path(format!("/k/{i}"));
            ev.event_id = base + i;
            ev.global_sequence = base + i;
            ev.local_sequence = base + i;
            ev.root_cause_event_id = base;
            if i > 0 {
                ev.parent_event_id = base + i - 1;
            }
            ev
        })
        .collect();
    let seqs: Vec<u64> = vexfs_journal::ext::append_preserving(&j, imported)
        .unwrap()
        .collect();
    // A userspace event caused by the last imported one, through a link.
    let mut effect = Event::agent(AgentOp::Decision);
    effect.links.push(CausalityLink {
        cause_event_id: base + 3,
        causality_type: 1,
        ..Default::default()
    });
    let effect = j.emit(effect).unwrap();
    j.sync().unwrap();
    let stored = j.get(seqs[2]).unwrap().unwrap();
    assert_eq!(stored.event.event_id, base + 2, "the import kept its id");
    assert_ne!(stored.seq, stored.event.event_id);
    for src_is_reader in [false, true] {
        let got = if src_is_reader {
            JournalReader::open(dir.path())
                .unwrap()
                .causality(seqs[2], &CausalityOptions::default())
        } else {
            j.causality(seqs[2], &CausalityOptions::default())
        }
        .unwrap()
        .unwrap();
        assert_eq!(
            got.ancestors,
            vec![seqs[1], seqs[0]],
            "reader: {src_is_reader}"
        );
        assert_eq!(
            got.descendants,
            vec![seqs[3], effect],
            "reader: {src_is_reader}"
        );
        assert!(got.missing.is_empty());
    }
}
