//! Encryption at rest (docs/encryption.md): an encrypted journal round-trips through
//! every read path, no file of its directory holds a path, agent or payload written, a
//! wrong or missing key is refused before anything is read or changed, and a block
//! changed or copied from elsewhere does not decrypt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use vexfs_journal::{
    CompactOptions, Config, ErrorKind, Event, EventType, FsOp, Journal, JournalKey, JournalReader,
    OpenOptions, Query, RecoveryMode, VerifyOptions,
};

fn key(byte: u8) -> Arc<JournalKey> {
    Arc::new(JournalKey::from_bytes([byte; 32]))
}

fn config(key: Option<Arc<JournalKey>>) -> Config {
    Config {
        // Several segments, so that rotation, sealed footers and retention all run.
        segment_size: 64 << 10,
        encryption_key: key,
        checkpoint_interval_s: 0,
        ..Config::default()
    }
}

fn path_of(i: u64) -> String {
    format!("/secret-models/tenant-{}/weights-{i:05}.bin", i % 7)
}

fn agent_of(i: u64) -> String {
    format!("agent-classified-{}", i % 5)
}

fn payload_of(i: u64) -> Vec<u8> {
    format!(
        "payload-confidential-{i:05} {}",
        "q".repeat((i % 97) as usize)
    )
    .into_bytes()
}

fn event(i: u64) -> Event {
    let ty = if i.is_multiple_of(3) {
        FsOp::Write
    } else {
        FsOp::Read
    };
    Event::filesystem(ty)
        .path(path_of(i))
        .agent_id(agent_of(i))
        .payload(payload_of(i))
}

/// Every file under `dir` (recursively), with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.clone(), std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn holds(bytes: &[u8], needle: &[u8]) -> bool {
    bytes.windows(needle.len()).any(|w| w == needle)
}

/// The files of `dir` that hold any of the paths, agents or payload prefixes of events
/// `0..n`, or the key's hex.
fn leaks(dir: &Path, n: u64, key: &JournalKey) -> Vec<(PathBuf, String)> {
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for i in 0..n {
        needles.push(path_of(i).into_bytes());
        needles.push(format!("payload-confidential-{i:05}").into_bytes());
    }
    for a in 0..5 {
        needles.push(agent_of(a).into_bytes());
    }
    // Short needles shared by many events: any one of them would be a leak.
    needles.push(b"/secret-models/".to_vec());
    needles.push(b"agent-classified".to_vec());
    needles.push(key.to_hex().as_bytes().to_vec());
    let mut found = Vec::new();
    for (path, bytes) in files(dir) {
        for n in &needles {
            if holds(&bytes, n) {
                found.push((path.clone(), String::from_utf8_lossy(n).into_owned()));
                break;
            }
        }
    }
    found
}

fn seqs_of(page: &vexfs_journal::Page) -> Vec<u64> {
    page.events.iter().map(|e| e.seq).collect()
}

// Checks I59 (docs/invariants.md).
#[test]
fn an_encrypted_journal_reads_back_and_no_file_holds_plaintext() {
    const N: u64 = 3_000;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let k = key(7);
    let j = Journal::create(&dir, config(Some(k.clone()))).unwrap();
    for i in 0..N {
        j.emit(event(i)).unwrap();
    }
    j.sync().unwrap();
    j.create_checkpoint().unwrap();
    let q = Query {
        path_prefix: Some("/secret-models/tenant-3/".into()),
        ..Query::new()
    };
    let expected: Vec<u64> = (0..N).filter(|i| i % 7 == 3).map(|i| i + 1).collect();
    let q = Query {
        limit: Some(100_000),
        ..q
    };
    assert_eq!(
        seqs_of(&j.query(&q).unwrap()),
        expected,
        "path-prefix query"
    );
    j.close().unwrap();
    drop(j);
    assert!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg"))
            .count()
            > 2,
        "the test needs several segments"
    );

    // A reader, and the writer reopened, see every event as written.
    let r = JournalReader::open_keyed(&dir, Some(k.clone())).unwrap();
    let all: Vec<_> = r.scan(0..u64::MAX).map(|e| e.unwrap()).collect();
    assert_eq!(all.len() as u64, N);
    for (i, e) in all.iter().enumerate() {
        let i = i as u64;
        assert_eq!(e.seq, i + 1);
        assert_eq!(e.event.context.path, path_of(i).as_bytes());
        assert_eq!(e.event.context.agent_id, agent_of(i).as_bytes());
        assert_eq!(e.event.payload, payload_of(i));
    }
    assert_eq!(
        r.get(1234).unwrap().unwrap().event.payload,
        payload_of(1233)
    );
    let agent = Query {
        agent: Some(agent_of(2).into()),
        types: vec![EventType::from(FsOp::Write)],
        limit: Some(100_000),
        ..Query::new()
    };
    let expected_agent: Vec<u64> = (0..N)
        .filter(|i| i % 5 == 2 && i % 3 == 0)
        .map(|i| i + 1)
        .collect();
    assert_eq!(seqs_of(&r.query(&agent).unwrap()), expected_agent);
    drop(r);
    // Index files are written, encrypted, and used by the next open.
    let idx: Vec<PathBuf> = files(&dir)
        .into_keys()
        .filter(|p| p.extension().is_some_and(|x| x == "idx"))
        .collect();
    assert!(idx.len() > 2, "{idx:?}");
    for p in &idx {
        assert!(std::fs::read(p).unwrap().starts_with(b"VXJIDXE1"), "{p:?}");
    }
    let r = JournalReader::open_keyed(&dir, Some(k.clone())).unwrap();
    assert!(
        r.index_report().rebuilt.is_empty(),
        "{:?}",
        r.index_report().rebuilt
    );
    drop(r);
    // An index file put in another segment's place does not decrypt there: both are
    // rebuilt, and queries stay right.
    let (a, b) = (
        std::fs::read(&idx[0]).unwrap(),
        std::fs::read(&idx[1]).unwrap(),
    );
    std::fs::write(&idx[0], &b).unwrap();
    std::fs::write(&idx[1], &a).unwrap();
    let j = Journal::open(&dir, config(Some(k.clone()))).unwrap();
    assert_eq!(
        j.index_report().rebuilt.len(),
        2,
        "{:?}",
        j.index_report().rebuilt
    );
    assert_eq!(seqs_of(&j.query(&q).unwrap()), expected);
    let more = j.emit_durable(event(N)).unwrap();
    assert_eq!(more, N + 1);
    let report = j.verify(true).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    j.close().unwrap();
    drop(j);

    // Compaction rewrites segments encrypted too.
    let dropped = vexfs_journal::compact(
        &dir,
        &CompactOptions {
            key: Some(k.clone()),
            drop_types: vec![EventType::from(FsOp::Read)],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(dropped.events_dropped > 0, "{dropped:?}");
    let r = JournalReader::open_keyed(&dir, Some(k.clone())).unwrap();
    let kept: Vec<u64> = r.scan(0..u64::MAX).map(|e| e.unwrap().seq).collect();
    assert!(kept.contains(&1) && !kept.contains(&2), "{:?}", &kept[..5]);
    drop(r);

    let found = leaks(&dir, N + 1, &k);
    assert!(found.is_empty(), "plaintext in files: {found:?}");
    // The same events in a journal that is not encrypted do show up: the scan can see.
    let plain = tmp.path().join("plain");
    let j = Journal::create(&plain, config(None)).unwrap();
    for i in 0..50 {
        j.emit(event(i)).unwrap();
    }
    j.close().unwrap();
    assert!(!leaks(&plain, 50, &k).is_empty());
}

/// A journal with a torn tail: events 1..=n written durably, then garbage appended to
/// the open segment as a crash mid-write leaves it.
fn torn_journal(dir: &Path, k: &Arc<JournalKey>, n: u64) {
    let j = Journal::create(dir, config(Some(k.clone()))).unwrap();
    for i in 0..n {
        j.emit(event(i)).unwrap();
    }
    j.sync().unwrap();
    drop(j); // no clean close: the next open scans
    let _ = std::fs::remove_file(dir.join("CLEAN"));
    let last = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[0x5A; 300]);
    std::fs::write(&last, bytes).unwrap();
}

// Checks I59 (docs/invariants.md).
#[test]
fn a_wrong_or_missing_key_is_refused_and_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let k = key(1);
    torn_journal(&dir, &k, 200);
    let before = files(&dir);
    let wrong = key(2);
    assert_ne!(wrong.id(), k.id());
    let attempts: Vec<(&str, vexfs_journal::JournalError)> = vec![
        (
            "writer, wrong key",
            Journal::open(&dir, config(Some(wrong.clone()))).unwrap_err(),
        ),
        (
            "writer, no key",
            Journal::open(&dir, config(None)).unwrap_err(),
        ),
        (
            "writer, salvage mode, wrong key",
            Journal::open(
                &dir,
                Config {
                    recovery: RecoveryMode::Salvage,
                    ..config(Some(wrong.clone()))
                },
            )
            .unwrap_err(),
        ),
        (
            "writer, absolute mode, no key",
            Journal::open_existing_with_options(
                &dir,
                OpenOptions::default(),
                RecoveryMode::Absolute,
                0,
            )
            .unwrap_err(),
        ),
        (
            "reader, wrong key",
            JournalReader::open_keyed(&dir, Some(wrong.clone())).unwrap_err(),
        ),
        ("reader, no key", JournalReader::open(&dir).unwrap_err()),
        (
            "verify, no key",
            vexfs_journal::verify(&dir, VerifyOptions::default(), |_, _| {})
                .unwrap_err()
                .into(),
        ),
        (
            "compact, wrong key",
            vexfs_journal::compact(
                &dir,
                &CompactOptions {
                    key: Some(wrong.clone()),
                    max_total_bytes: Some(1),
                    ..Default::default()
                },
            )
            .unwrap_err()
            .into(),
        ),
    ];
    for (what, err) in attempts {
        assert_eq!(err.kind(), ErrorKind::Key, "{what}: {err}");
        let text = err.to_string();
        assert!(text.contains(&k.id().to_string()), "{what}: {text}");
    }
    assert!(
        files(&dir) == before,
        "a refused open changed the directory"
    );

    // The right key repairs the torn tail and reads every event.
    let j = Journal::open(&dir, config(Some(k.clone()))).unwrap();
    assert!(j.recovery_report().bytes_cut > 0);
    assert_eq!(j.scan(0..u64::MAX).count(), 200);
}

#[test]
fn a_key_does_not_write_a_journal_that_is_not_encrypted() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let j = Journal::create(&dir, config(None)).unwrap();
    j.emit_durable(event(0)).unwrap();
    j.close().unwrap();
    drop(j);
    let err = Journal::open(&dir, config(Some(key(3)))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Key, "{err}");
    assert!(err.to_string().contains("not encrypted"), "{err}");
    // Reading needs no key, and one given is not used.
    let r = JournalReader::open_keyed(&dir, Some(key(3))).unwrap();
    assert_eq!(r.scan(0..u64::MAX).count(), 1);
}

/// The segment files of `dir`, oldest first.
fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

const HEADER: usize = 128;
const BLOCK_HEADER: usize = 104;
/// Offset of `block_checksum` in a block header.
const CHECKSUM_AT: usize = 36;

/// Recomputes the checksum of the block at `at` (as an attacker who knows the format
/// would, so that only the cipher can notice).
fn fix_checksum(seg: &mut [u8], at: usize) {
    let stored = u32::from_le_bytes(seg[at + 28..at + 32].try_into().unwrap()) as usize;
    let data = &seg[at + BLOCK_HEADER..at + BLOCK_HEADER + stored];
    let crc = vexfs_journal::format::kernel_crc32(data);
    seg[at + CHECKSUM_AT..at + CHECKSUM_AT + 4].copy_from_slice(&crc.to_le_bytes());
}

// Checks I59 (docs/invariants.md).
#[test]
fn a_changed_block_or_one_copied_from_another_journal_does_not_decrypt() {
    let tmp = tempfile::tempdir().unwrap();
    let k = key(9);
    // Two journals with the same key and the same single event, uncompressed: their
    // blocks have the same size and place and differ in the journal (and the event's
    // time).
    let make = |name: &str| {
        let dir = tmp.path().join(name);
        let config = Config {
            compression: vexfs_journal::Compression::None,
            ..config(Some(k.clone()))
        };
        let j = Journal::create(&dir, config).unwrap();
        j.emit_durable(event(1)).unwrap();
        j.close().unwrap();
        dir
    };
    let (a, b) = (make("a"), make("b"));
    let (seg_a, seg_b) = (segments(&a)[0].clone(), segments(&b)[0].clone());
    let bytes_a = std::fs::read(&seg_a).unwrap();
    let bytes_b = std::fs::read(&seg_b).unwrap();
    let size = u32::from_le_bytes(bytes_a[HEADER + 16..HEADER + 20].try_into().unwrap()) as usize;
    let block_a = &bytes_a[HEADER..HEADER + size];
    let block_b = &bytes_b[HEADER..HEADER + size];
    // Same sizes and sequence; different ciphertext (salts differ).
    assert_eq!(block_a[..CHECKSUM_AT], block_b[..CHECKSUM_AT]);
    assert_ne!(block_a[BLOCK_HEADER..], block_b[BLOCK_HEADER..]);

    // What a reader finds (a reader stops at the first block it cannot open: none),
    // and what `verify` says of the block.
    let read_back = |dir: &Path| -> Option<Vec<u8>> {
        let r = JournalReader::open_keyed(dir, Some(k.clone())).ok()?;
        let e = r.scan(0..u64::MAX).next()?.ok()?;
        Some(e.event.payload)
    };
    let verdict = |dir: &Path| -> String {
        let options = VerifyOptions {
            key: Some(k.clone()),
            ..VerifyOptions::default()
        };
        let report = vexfs_journal::verify(dir, options, |_, _| {}).unwrap();
        report
            .problems
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(read_back(&a), Some(payload_of(1)));
    assert_eq!(verdict(&a), "");

    // B's block put in A's place: the checksum holds, the cipher refuses.
    let mut swapped = bytes_a.clone();
    swapped[HEADER..HEADER + size].copy_from_slice(block_b);
    std::fs::write(&seg_a, &swapped).unwrap();
    assert_eq!(read_back(&a), None);
    assert!(verdict(&a).contains("does not decrypt"), "{}", verdict(&a));

    // One bit of A's ciphertext flipped, checksum recomputed.
    for at in [BLOCK_HEADER, BLOCK_HEADER + 20, size - 1] {
        let mut flipped = bytes_a.clone();
        flipped[HEADER + at] ^= 0x10;
        fix_checksum(&mut flipped, HEADER);
        std::fs::write(&seg_a, &flipped).unwrap();
        assert_eq!(read_back(&a), None, "byte {at}");
        let v = verdict(&a);
        assert!(v.contains("does not decrypt"), "byte {at}: {v}");
    }

    // A header field changed (the first event id), checksum recomputed: the header is
    // authenticated too.
    let mut forged = bytes_a.clone();
    forged[HEADER + 88] ^= 0x01;
    fix_checksum(&mut forged, HEADER);
    std::fs::write(&seg_a, &forged).unwrap();
    assert_eq!(read_back(&a), None);
    let v = verdict(&a);
    assert!(v.contains("does not decrypt"), "{v}");

    std::fs::write(&seg_a, &bytes_a).unwrap();
    assert_eq!(read_back(&a), Some(payload_of(1)));
    assert_eq!(verdict(&a), "");
}

// Checks I59 (docs/invariants.md).
#[test]
fn a_forged_block_at_the_tail_is_refused_not_cut_as_torn() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let k = key(4);
    let j = Journal::create(&dir, config(Some(k.clone()))).unwrap();
    for i in 0..3 {
        j.emit_durable(event(i)).unwrap();
    }
    drop(j); // as a crash leaves it: the next open scans the open segment
    let _ = std::fs::remove_file(dir.join("CLEAN"));
    let seg = segments(&dir).pop().unwrap();
    let mut bytes = std::fs::read(&seg).unwrap();
    // The last block: walk the blocks from the header.
    let mut at = HEADER;
    let mut last = at;
    while at + BLOCK_HEADER <= bytes.len() && bytes[at..at + 4] != [0; 4] {
        last = at;
        at += u32::from_le_bytes(bytes[at + 16..at + 20].try_into().unwrap()) as usize;
    }
    bytes[last + BLOCK_HEADER + 20] ^= 0x01;
    fix_checksum(&mut bytes, last);
    // As if the crash came before the sync that covered the last block: it lies past
    // the bytes known fsynced, where a damaged block would be a torn write.
    let mut header = vexfs_journal::format::FileHeader::parse(&bytes[..HEADER]).unwrap();
    header.journal_size = last as u64;
    bytes[..HEADER].copy_from_slice(&header.to_bytes());
    std::fs::write(&seg, &bytes).unwrap();
    let before = std::fs::read(&seg).unwrap();
    let err = Journal::open(&dir, config(Some(k.clone()))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Damaged, "{err}");
    assert!(err.to_string().contains("salvage"), "{err}");
    assert_eq!(std::fs::read(&seg).unwrap(), before, "nothing was cut");
}

// Checks I59 (docs/invariants.md).
#[test]
fn a_full_disk_under_an_encrypted_journal_loses_nothing_acknowledged() {
    const ENOSPC: i32 = 28;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let k = key(6);
    let j = Journal::create(&dir, config(Some(k.clone()))).unwrap();
    for i in 0..50 {
        j.emit_durable(event(i)).unwrap();
    }
    j.close().unwrap();
    drop(j);
    let faults = Arc::new(vexfs_journal_storage::faults::Faults::new());
    let options = OpenOptions {
        faults: Some(faults.clone()),
        key: Some(k.clone()),
        ..Default::default()
    };
    let j = Journal::open_with(&dir, options).unwrap();
    for i in 50..60 {
        j.emit_durable(event(i)).unwrap();
    }
    faults.fail_writes_after(0, ENOSPC);
    let err = j.emit_durable(event(60)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoSpace, "{err}");
    drop(j);
    faults.clear();
    let r = JournalReader::open_keyed(&dir, Some(k.clone())).unwrap();
    let all: Vec<_> = r.scan(0..u64::MAX).map(|e| e.unwrap()).collect();
    assert!(all.len() >= 60, "{} events", all.len());
    for (i, e) in all.iter().take(60).enumerate() {
        assert_eq!(e.event.payload, payload_of(i as u64));
    }
    drop(r);
    let found = leaks(&dir, 61, &k);
    assert!(found.is_empty(), "plaintext in files: {found:?}");
}
