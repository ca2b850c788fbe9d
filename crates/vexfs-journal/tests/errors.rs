//! Error kinds: a program can tell a full disk from another I/O error, also after the
//! journal stopped, and a full buffer or a bad cursor from damage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use vexfs_journal::{Config, ErrorKind, Event, FsOp, Journal, OpenOptions, Query};
use vexfs_journal_storage::faults::Faults;

const ENOSPC: i32 = 28;
const EIO: i32 = 5;

fn faulty(dir: &std::path::Path, faults: &Arc<Faults>) -> Journal {
    Journal::create(dir, Config::default())
        .unwrap()
        .close()
        .unwrap();
    Journal::open_with(
        dir,
        OpenOptions {
            faults: Some(faults.clone()),
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn a_stopped_journal_keeps_the_kind_of_its_first_failure() {
    for (errno, on_sync, kind) in [
        (ENOSPC, false, ErrorKind::NoSpace),
        (EIO, false, ErrorKind::Io),
        (EIO, true, ErrorKind::Io),
        (ENOSPC, true, ErrorKind::NoSpace),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let faults = Arc::new(Faults::new());
        let j = faulty(tmp.path(), &faults);
        j.emit_durable(Event::new(FsOp::Write)).unwrap();
        if on_sync {
            faults.fail_syncs_after(0, errno);
        } else {
            faults.fail_writes_after(0, errno);
        }
        let first = j.emit_durable(Event::new(FsOp::Write)).unwrap_err();
        assert_eq!(
            first.kind(),
            kind,
            "errno {errno} on sync {on_sync}: {first}"
        );
        let later = j.emit(Event::new(FsOp::Write)).unwrap_err();
        assert!(later.stopped(), "{later}");
        assert_eq!(
            later.kind(),
            kind,
            "errno {errno} on sync {on_sync}: {later}"
        );
        faults.clear();
    }
}

#[test]
fn closed_and_bad_cursor_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::create(tmp.path(), Config::default()).unwrap();
    j.emit_durable(Event::new(FsOp::Write)).unwrap();
    let e = j.parse_cursor("vxc2_not-a-cursor").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::BadCursor, "{e}");
    let _ = j.query(&Query::new()).unwrap();
    j.close().unwrap();
    let e = j.emit(Event::new(FsOp::Write)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Closed, "{e}");
    assert!(!e.stopped());
}

#[test]
fn locked_and_existing_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let j = Journal::create(tmp.path(), Config::default()).unwrap();
    let e = Journal::open_existing(tmp.path()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked, "{e}");
    let e = Journal::create(tmp.path(), Config::default()).unwrap_err();
    assert!(
        matches!(e.kind(), ErrorKind::AlreadyExists | ErrorKind::Locked),
        "{e}"
    );
    j.close().unwrap();
    let e = Journal::create(tmp.path(), Config::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
}

#[test]
fn a_directory_other_users_may_write_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("shared");
    std::fs::create_dir(&dir).unwrap();
    let set = |mode| std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
    set(0o777);
    let err = Journal::create(&dir, Config::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permissions, "{err}");
    assert!(err.to_string().contains("chmod o-w"), "{err}");
    assert!(
        std::fs::read_dir(&dir).unwrap().next().is_none(),
        "nothing was created"
    );
    let allowed = Config {
        allow_others_writable: true,
        ..Config::default()
    };
    Journal::create(&dir, allowed).unwrap().close().unwrap();
    let err = Journal::open_existing(&dir).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Permissions, "{err}");
    let options = OpenOptions {
        allow_others_writable: true,
        ..Default::default()
    };
    Journal::open_existing_with_options(
        &dir,
        options,
        vexfs_journal::RecoveryMode::TolerateTail,
        0,
    )
    .unwrap()
    .close()
    .unwrap();
    // Group-writable is the owner's choice (a shared group); readers are never refused.
    set(0o770);
    Journal::open_existing(&dir).unwrap().close().unwrap();
    set(0o777);
    vexfs_journal::JournalReader::open(&dir).unwrap();
}
