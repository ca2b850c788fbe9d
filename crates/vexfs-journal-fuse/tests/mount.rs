//! Mounts a mirror of a temporary directory and checks that operations reach the
//! source and become journal events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write;

use vexfs_journal::Query;
use vexfs_journal_fuse::capture::CaptureConfig;

#[test]
fn operations_reach_the_source_and_the_journal() {
    let s = common::scratch();
    let (src, mnt) = (s.src.clone(), s.mnt.clone());
    std::fs::write(src.join("existing.txt"), b"old").unwrap();
    let (journal, session) = common::mount(&s, CaptureConfig::default());

    assert_eq!(std::fs::read(mnt.join("existing.txt")).unwrap(), b"old");
    let mut f = std::fs::File::create(mnt.join("a.txt")).unwrap();
    f.write_all(b"hello").unwrap();
    drop(f);
    std::fs::create_dir(mnt.join("d")).unwrap();
    std::fs::rename(mnt.join("a.txt"), mnt.join("d/b.txt")).unwrap();
    assert_eq!(std::fs::read(src.join("d/b.txt")).unwrap(), b"hello");
    std::fs::remove_file(mnt.join("existing.txt")).unwrap();
    assert!(!src.join("existing.txt").exists());
    let mut names: Vec<_> = std::fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["d"]);
    assert_eq!(
        std::fs::read_dir(mnt.join("missing"))
            .unwrap_err()
            .raw_os_error(),
        Some(2)
    );
    assert_eq!(
        std::fs::remove_file(mnt.join("ghost"))
            .unwrap_err()
            .raw_os_error(),
        Some(2)
    );
    session.umount_and_join().unwrap();

    journal.sync().unwrap();
    let page = journal.query(&Query::new()).unwrap();
    let seen: Vec<(String, String)> = page
        .events
        .iter()
        .map(|e| {
            (
                e.event.event_type.to_string(),
                String::from_utf8_lossy(&e.event.context.path).into_owned(),
            )
        })
        .collect();
    let meta = |ty: &str, path: &str| -> serde_json::Value {
        let e = page
            .events
            .iter()
            .find(|e| {
                e.event.event_type.to_string() == ty && e.event.context.path == path.as_bytes()
            })
            .unwrap_or_else(|| panic!("{ty} {path} not journaled: {seen:?}"));
        serde_json::from_slice(&e.event.metadata).unwrap()
    };
    let expected = [
        ("filesystem.read", "/existing.txt"),
        ("filesystem.create", "/a.txt"),
        ("filesystem.write", "/a.txt"),
        ("filesystem.mkdir", "/d"),
        ("filesystem.rename", "/a.txt"),
        ("filesystem.delete", "/existing.txt"),
    ];
    for (ty, path) in expected {
        assert!(
            seen.iter().any(|(t, p)| t == ty && p == path),
            "{ty} {path} not journaled: {seen:?}"
        );
    }
    assert_eq!(meta("filesystem.rename", "/a.txt")["to"], "/d/b.txt");
    for ty in ["system.mount", "system.unmount"] {
        assert!(seen.iter().any(|(t, _)| t == ty), "{ty}: {seen:?}");
    }
    assert!(
        !page
            .events
            .iter()
            .any(|e| e.event.metadata.windows(8).any(|w| w == b"\"lookup\"")),
        "metadata reads are off by default"
    );
    let m = meta("filesystem.create", "/a.txt");
    assert_eq!(m["errno"], 0);
    assert_eq!(m["uid"], 0);
    // The write of "hello": offset 0, 5 bytes, in the chain of its handle.
    let writes: Vec<_> = page
        .events
        .iter()
        .filter(|e| e.event.event_type.to_string() == "filesystem.write")
        .map(|e| serde_json::from_slice::<serde_json::Value>(&e.event.metadata).unwrap())
        .filter(|m| m.get("len").is_some())
        .collect();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(
        (writes[0]["offset"].as_u64(), writes[0]["len"].as_u64()),
        (Some(0), Some(5))
    );
}

#[test]
fn links_attributes_xattrs_and_open_then_unlink_behave_like_the_source() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let s = common::scratch();
    let (src, mnt) = (s.src.clone(), s.mnt.clone());
    let (journal, session) = common::mount(&s, CaptureConfig::default());

    std::fs::write(mnt.join("f"), b"0123456789").unwrap();
    // Hard links: one inode, two names, the link count of the source.
    std::fs::hard_link(mnt.join("f"), mnt.join("g")).unwrap();
    let (f, g) = (
        std::fs::metadata(mnt.join("f")).unwrap(),
        std::fs::metadata(mnt.join("g")).unwrap(),
    );
    assert_eq!(f.ino(), g.ino());
    assert_eq!(f.nlink(), 2);
    // Symlinks.
    std::os::unix::fs::symlink("f", mnt.join("s")).unwrap();
    assert_eq!(
        std::fs::read_link(mnt.join("s")).unwrap().to_str(),
        Some("f")
    );
    assert_eq!(std::fs::read(mnt.join("s")).unwrap(), b"0123456789");
    // chmod and truncate reach the source.
    std::fs::set_permissions(mnt.join("f"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        std::fs::metadata(src.join("f")).unwrap().mode() & 0o777,
        0o600
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(mnt.join("f"))
        .unwrap()
        .set_len(4)
        .unwrap();
    assert_eq!(std::fs::read(src.join("f")).unwrap(), b"0123");
    // Open, then unlink: the open file keeps working.
    let mut open = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(mnt.join("g"))
        .unwrap();
    std::fs::remove_file(mnt.join("g")).unwrap();
    std::fs::remove_file(mnt.join("f")).unwrap();
    open.write_all(b"still here").unwrap();
    use std::io::{Read, Seek};
    open.rewind().unwrap();
    let mut back = String::new();
    open.read_to_string(&mut back).unwrap();
    assert_eq!(back, "still here");
    drop(open);
    // The errno of the source comes back unchanged.
    let e = std::fs::create_dir(mnt.join("s")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(17), "{e}");
    let e = std::fs::remove_dir(mnt.join("s")).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(20), "{e}");
    session.umount_and_join().unwrap();

    journal.sync().unwrap();
    let types: Vec<String> = journal
        .query(&Query::new())
        .unwrap()
        .events
        .iter()
        .map(|e| e.event.event_type.to_string())
        .collect();
    for t in [
        "filesystem.hardlink",
        "filesystem.symlink",
        "filesystem.chmod",
        "filesystem.truncate",
        "filesystem.delete",
    ] {
        assert!(types.iter().any(|x| x == t), "{t} not journaled: {types:?}");
    }
}

#[test]
fn read_only_opens_pass_through_and_later_opens_share_the_backing_file() {
    use std::io::{Read, Seek, SeekFrom};
    let s = common::scratch();
    let (src, mnt) = (s.src.clone(), s.mnt.clone());
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(src.join("big"), &big).unwrap();
    let (journal, session) = common::mount(&s, CaptureConfig::default());

    let mut reader = std::fs::File::open(mnt.join("big")).unwrap();
    let mut back = Vec::new();
    reader.read_to_end(&mut back).unwrap();
    assert!(back == big, "passthrough read differs");
    // A write open while the read-only one is open shares its backing file.
    let mut writer = std::fs::OpenOptions::new()
        .write(true)
        .open(mnt.join("big"))
        .unwrap();
    writer.seek(SeekFrom::Start(10)).unwrap();
    writer.write_all(b"XYZ").unwrap();
    drop(writer);
    reader.seek(SeekFrom::Start(9)).unwrap();
    let mut five = [0u8; 5];
    reader.read_exact(&mut five).unwrap();
    assert_eq!(&five[1..4], b"XYZ");
    drop(reader);
    assert_eq!(&std::fs::read(src.join("big")).unwrap()[10..13], b"XYZ");
    // With every open closed, a write open is served by the daemon again and its
    // writes are journaled one by one.
    std::fs::OpenOptions::new()
        .write(true)
        .open(mnt.join("big"))
        .unwrap()
        .write_all(b"abc")
        .unwrap();
    session.umount_and_join().unwrap();
    journal.sync().unwrap();
    let writes = journal
        .query(&Query::new())
        .unwrap()
        .events
        .iter()
        .filter(|e| e.event.event_type.to_string() == "filesystem.write")
        .filter(|e| {
            serde_json::from_slice::<serde_json::Value>(&e.event.metadata)
                .unwrap()
                .get("len")
                .is_some()
        })
        .count();
    assert_eq!(writes, 1);
}

#[test]
fn capture_configuration_selects_events() {
    let s = common::scratch();
    let (src, mnt) = (s.src.clone(), s.mnt.clone());
    std::fs::write(src.join("r"), b"read me").unwrap();
    let capture: CaptureConfig = toml::from_str(
        "read = \"every\"\nwrite = \"close\"\nexclude = [\"/skip*\"]\nsync = true\nmetadata_reads = true\n",
    )
    .unwrap();
    let (journal, session) = common::mount(&s, capture);
    assert_eq!(std::fs::read(mnt.join("r")).unwrap(), b"read me");
    let mut f = std::fs::File::create(mnt.join("w")).unwrap();
    f.write_all(b"one").unwrap();
    f.write_all(b"two").unwrap();
    drop(f);
    std::fs::OpenOptions::new()
        .append(true)
        .open(mnt.join("w"))
        .unwrap()
        .write_all(b"three")
        .unwrap();
    std::fs::write(mnt.join("skipped"), b"x").unwrap();
    // The kernel sends RELEASE after close() returns: wait for both close events.
    let closes = || {
        journal
            .query(&Query::new())
            .unwrap()
            .events
            .iter()
            .filter(|e| e.event.metadata.windows(7).any(|w| w == b"\"close\""))
            .count()
    };
    let start = std::time::Instant::now();
    while closes() < 2 && start.elapsed() < std::time::Duration::from_secs(10) {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    session.umount_and_join().unwrap();
    let events: Vec<(String, String, serde_json::Value)> = journal
        .query(&Query::new())
        .unwrap()
        .events
        .iter()
        .map(|e| {
            (
                e.event.event_type.to_string(),
                String::from_utf8_lossy(&e.event.context.path).into_owned(),
                serde_json::from_slice(&e.event.metadata).unwrap(),
            )
        })
        .collect();
    assert!(
        events.iter().all(|e| !e.1.starts_with("/skip")),
        "{events:?}"
    );
    let reads: Vec<_> = events
        .iter()
        .filter(|e| e.0 == "filesystem.read" && e.2.get("len").is_some())
        .collect();
    assert!(!reads.is_empty(), "read = every: {events:?}");
    let per_write = events
        .iter()
        .filter(|e| e.0 == "filesystem.write" && e.2.get("len").is_some())
        .count();
    assert_eq!(
        per_write, 0,
        "write = close: no per-write events: {events:?}"
    );
    let closes: Vec<_> = events
        .iter()
        .filter(|e| e.1 == "/w" && e.2["op"] == "close")
        .map(|e| (e.2["size_before"].as_u64(), e.2["size_after"].as_u64()))
        .collect();
    assert_eq!(
        closes,
        [(Some(0), Some(6)), (Some(6), Some(11))],
        "{events:?}"
    );
}
