//! One writer per journal: while an engine is open, opening or creating the same
//! directory fails with `Locked`, naming the holder's pid; after close it works again,
//! and the closed engine refuses new events.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{read_all, small_config};
use vexfs_journal_storage::{Engine, OpenOptions, StorageError};
use vexfs_journal_testkit::small_tagged;

// Checks I42 (docs/invariants.md).
#[test]
fn second_writer_is_refused_until_the_first_closes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Engine::create(dir.path(), small_config()).unwrap();
    first.emit(small_tagged(0, 0)).unwrap();
    let pid = format!("pid={}", std::process::id());

    for attempt in [
        Engine::open(dir.path()),
        Engine::create(dir.path(), small_config()),
        Engine::open_with(
            dir.path(),
            OpenOptions {
                create: true,
                ..Default::default()
            },
        ),
    ] {
        match attempt {
            Err(e @ StorageError::Locked { .. }) => {
                let StorageError::Locked {
                    dir: locked,
                    holder,
                } = &e
                else {
                    unreachable!()
                };
                assert_eq!(locked, dir.path());
                assert!(holder.contains(&pid), "holder {holder:?} lacks {pid}");
                let message = e.to_string();
                assert!(message.contains(&pid), "{message}");
                assert!(message.contains(&dir.path().display().to_string()));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
    }
    // The refused opens changed nothing: the first writer carries on.
    first.emit(small_tagged(0, 1)).unwrap();
    first.sync().unwrap();
    first.close().unwrap();
    assert!(matches!(
        first.emit(small_tagged(0, 2)),
        Err(StorageError::Closed)
    ));

    let second = Engine::open(dir.path()).unwrap();
    assert_eq!(second.next_seq(), 3);
    assert_eq!(read_all(&second).len(), 2);
    assert!(matches!(
        Engine::open(dir.path()),
        Err(StorageError::Locked { .. })
    ));
    drop(second);
    drop(first);
    // Dropping without close releases the lock too.
    let third = Engine::open(dir.path()).unwrap();
    assert_eq!(third.emit(small_tagged(0, 2)).unwrap(), 3);
}

#[test]
fn create_refuses_an_existing_journal_and_open_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    assert!(matches!(
        Engine::open(&missing),
        Err(StorageError::NotAJournal { .. })
    ));
    assert!(!missing.exists(), "open created the directory");
    let engine = Engine::create(dir.path(), small_config()).unwrap();
    engine.close().unwrap();
    drop(engine);
    assert!(matches!(
        Engine::create(dir.path(), small_config()),
        Err(StorageError::AlreadyExists { .. })
    ));
    // The refused create left the journal intact.
    Engine::open(dir.path()).unwrap();
}
