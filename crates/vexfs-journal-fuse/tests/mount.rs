//! Mounts a mirror of a temporary directory and checks that operations reach the
//! source and become journal events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use vexfs_journal::{Config, Journal, Query};
use vexfs_journal_fuse::{MirrorFs, config};

#[test]
fn operations_reach_the_source_and_the_journal() {
    let tmp = tempfile::tempdir().unwrap();
    let (src, mnt, jdir) = (
        tmp.path().join("src"),
        tmp.path().join("mnt"),
        tmp.path().join("j"),
    );
    for d in [&src, &mnt] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(src.join("existing.txt"), b"old").unwrap();
    let journal = Journal::create(&jdir, Config::default()).unwrap();
    let fs = MirrorFs::new(&src, journal.clone()).unwrap();
    let session = fuser::spawn_mount(fs, &mnt, &config(&src)).unwrap();

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
    let expected = [
        ("filesystem.create", "/a.txt"),
        ("filesystem.mkdir", "/d"),
        ("filesystem.rename", "/a.txt -> /d/b.txt"),
        ("filesystem.delete", "/existing.txt"),
    ];
    for (ty, path) in expected {
        assert!(
            seen.iter().any(|(t, p)| t == ty && p == path),
            "{ty} {path} not journaled: {seen:?}"
        );
    }
}
