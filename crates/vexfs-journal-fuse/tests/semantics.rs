//! POSIX details of the mirror and the exact events they produce: failures with their
//! errno, stable inode numbers, large directories with telldir/seekdir, metadata
//! reads, operation filters and sampling. Runs as root with `/dev/fuse` (CI does).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

mod common;

use serde_json::Value;
use vexfs_journal::{Journal, Query};
use vexfs_journal_fuse::FsSubtype;

/// A mounted mirror of a fresh temporary directory.
struct Mirror {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    mnt: PathBuf,
    journal: Journal,
    session: Option<fuser::BackgroundSession>,
}

impl Mirror {
    fn new(capture: &str) -> Mirror {
        let s = common::scratch();
        let (journal, session) = common::mount(&s, toml::from_str(capture).unwrap());
        Mirror {
            src: s.src,
            mnt: s.mnt,
            _tmp: s.tmp,
            journal,
            session: Some(session),
        }
    }

    fn m(&self, p: &str) -> PathBuf {
        self.mnt.join(p)
    }

    fn s(&self, p: &str) -> PathBuf {
        self.src.join(p)
    }

    /// Unmounts and returns the filesystem events: (type, path, subtype, inode, metadata).
    fn events(mut self) -> Vec<(String, String, u32, u64, Value)> {
        if let Some(s) = self.session.take() {
            s.umount_and_join().unwrap();
        }
        self.journal.sync().unwrap();
        let page = self.journal.query(&Query::new().limit(100_000)).unwrap();
        page.events
            .iter()
            .filter(|e| e.event.event_type.to_string().starts_with("filesystem."))
            .map(|e| {
                (
                    e.event.event_type.to_string(),
                    String::from_utf8_lossy(&e.event.context.path).into_owned(),
                    e.event.subtype,
                    e.event.context.inode_number,
                    serde_json::from_slice(&e.event.metadata).unwrap(),
                )
            })
            .collect()
    }
}

fn errno_of(r: std::io::Result<impl Sized>) -> i32 {
    r.err().and_then(|e| e.raw_os_error()).unwrap_or(0)
}

fn find<'a>(
    evs: &'a [(String, String, u32, u64, Value)],
    ty: &str,
    path: &str,
    errno: i64,
) -> &'a (String, String, u32, u64, Value) {
    evs.iter()
        .find(|e| e.0 == ty && e.1 == path && e.4["errno"] == errno)
        .unwrap_or_else(|| panic!("no {ty} {path} errno {errno} in {evs:#?}"))
}

/// Errors the daemon returns are journaled with their errno. (Errors the kernel
/// decides alone — a name that already exists or is missing, `EACCES` from
/// `default_permissions` — never reach the daemon: `docs/fuse.md`.)
#[test]
fn failures_are_journaled_with_the_errno_the_caller_saw() {
    let m = Mirror::new("");
    std::fs::create_dir(m.m("d")).unwrap();
    std::fs::write(m.m("d/f"), b"x").unwrap();
    let ino_f = std::fs::metadata(m.s("d/f")).unwrap().ino();
    assert_eq!(errno_of(std::fs::remove_dir(m.m("d"))), 39); // ENOTEMPTY
    assert_eq!(
        rustix::fs::removexattr(m.m("d/f"), "user.missing"),
        Err(rustix::io::Errno::NODATA)
    );
    std::fs::write(m.m("g"), b"y").unwrap();
    let rename = |from: &str, to: &str, flags| {
        rustix::fs::renameat_with(rustix::fs::CWD, m.m(from), rustix::fs::CWD, m.m(to), flags)
    };
    rename("g", "h", rustix::fs::RenameFlags::NOREPLACE).unwrap();
    rename("h", "d/f", rustix::fs::RenameFlags::EXCHANGE).unwrap();
    assert_eq!(
        std::fs::read(m.s("h")).unwrap(),
        b"x",
        "exchanged in the source"
    );
    std::fs::remove_file(m.m("h")).unwrap();
    let evs = m.events();
    find(&evs, "filesystem.mkdir", "/d", 0);
    find(&evs, "filesystem.rmdir", "/d", 39);
    let rx = find(&evs, "filesystem.chmod", "/d/f", 61);
    assert_eq!(
        (rx.2, rx.4["name"].as_str()),
        (FsSubtype::Removexattr as u32, Some("user.missing"))
    );
    let r = find(&evs, "filesystem.rename", "/g", 0);
    assert_eq!(
        (r.4["to"].as_str(), r.4["flags"].as_u64()),
        (Some("/h"), Some(1))
    );
    let r = find(&evs, "filesystem.rename", "/h", 0);
    assert_eq!(
        (r.4["to"].as_str(), r.4["flags"].as_u64()),
        (Some("/d/f"), Some(2))
    );
    // The deleted file (the old /d/f, exchanged to /h) is named by its inode.
    let del = find(&evs, "filesystem.delete", "/h", 0);
    assert_eq!(del.3, ino_f);
    assert_eq!(del.4["uid"], 0);
}

// Checks I45 (docs/invariants.md).
#[test]
fn inode_numbers_are_the_sources_and_survive_forgets() {
    let m = Mirror::new("");
    std::fs::create_dir(m.m("d")).unwrap();
    std::fs::write(m.m("d/f"), b"x").unwrap();
    std::fs::hard_link(m.m("d/f"), m.m("link")).unwrap();
    let src_ino = std::fs::metadata(m.s("d/f")).unwrap().ino();
    let ino = |p: &Path| std::fs::symlink_metadata(p).unwrap().ino();
    assert_eq!(ino(&m.m("d/f")), src_ino, "stat shows the source's number");
    assert_eq!(ino(&m.m("link")), src_ino, "hard links: one inode");
    assert_eq!(ino(&m.m("d")), std::fs::metadata(m.s("d")).unwrap().ino());
    use std::os::unix::fs::DirEntryExt;
    let listed: Vec<(String, u64)> = std::fs::read_dir(m.m("d"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().into_string().unwrap(), e.ino())
        })
        .collect();
    assert_eq!(
        listed,
        [("f".to_string(), src_ino)],
        "readdir agrees with stat"
    );
    // The kernel forgets every unused inode; lookups then adopt them again.
    std::fs::write("/proc/sys/vm/drop_caches", b"2").unwrap();
    assert_eq!(ino(&m.m("d/f")), src_ino, "same number after a forget");
    m.events();
}

#[test]
fn a_large_directory_is_listed_whole_and_seekdir_returns_to_telldir() {
    let m = Mirror::new("");
    std::fs::create_dir(m.s("big")).unwrap();
    for i in 0..5000 {
        std::fs::write(m.s(&format!("big/f{i:05}")), b"").unwrap();
    }
    let open = || {
        let fd = rustix::fs::open(
            m.m("big"),
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap();
        rustix::fs::Dir::new(fd).unwrap()
    };
    let mut dir = open();
    let mut all = Vec::new();
    while let Some(e) = dir.read() {
        let e = e.unwrap();
        all.push((e.file_name().to_string_lossy().into_owned(), e.offset()));
    }
    assert_eq!(all.len(), 5002, "every entry plus . and ..");
    let mut names: Vec<_> = all.iter().map(|(n, _)| n.clone()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 5002, "no entry twice");
    // seekdir(telldir()) from the middle continues with the next entry.
    let (_, at) = &all[2500];
    dir.seek(*at).unwrap();
    let next = dir.read().unwrap().unwrap();
    assert_eq!(next.file_name().to_string_lossy(), all[2501].0);
    // A rewind lists files created since the open.
    std::fs::write(m.s("big/new"), b"").unwrap();
    dir.rewind();
    let mut n = 0;
    while let Some(e) = dir.read() {
        e.unwrap();
        n += 1;
    }
    assert_eq!(n, 5003);
    drop(dir);
    m.events();
}

#[test]
fn metadata_reads_are_journaled_when_asked() {
    let m = Mirror::new("metadata_reads = true");
    std::fs::write(m.s("f"), b"x").unwrap();
    rustix::fs::setxattr(m.s("f"), "user.k", b"v", rustix::fs::XattrFlags::empty()).unwrap();
    let _ = std::fs::read_dir(&m.mnt).unwrap().count();
    let mut buf = [0u8; 16];
    assert_eq!(
        rustix::fs::getxattr(m.m("f"), "user.k", &mut buf[..]),
        Ok(1)
    );
    assert_eq!(
        rustix::fs::getxattr(m.m("f"), "user.missing", &mut buf[..]),
        Err(rustix::io::Errno::NODATA)
    );
    let _ = std::fs::metadata(m.m("f")).unwrap();
    let evs = m.events();
    let sub = |s: FsSubtype| evs.iter().filter(move |e| e.2 == s as u32);
    assert!(sub(FsSubtype::Readdir).any(|e| e.1 == "/" && e.4["op"] == "readdir"));
    assert!(sub(FsSubtype::Lookup).any(|e| e.1 == "/f"));
    assert!(sub(FsSubtype::Getattr).any(|e| e.1 == "/f"));
    let got: Vec<_> = sub(FsSubtype::Getxattr)
        .map(|e| {
            (
                e.4["name"].as_str().unwrap().to_string(),
                e.4["errno"].as_i64(),
            )
        })
        .collect();
    assert!(got.contains(&("user.k".into(), Some(0))), "{got:?}");
    assert!(got.contains(&("user.missing".into(), Some(61))), "{got:?}");
    assert!(
        evs.iter()
            .filter(|e| e.2 != 0)
            .all(|e| e.0 == "filesystem.read"
                || e.0 == "filesystem.write"
                || e.0 == "filesystem.chmod"),
        "subtypes ride on read/write/chmod events"
    );
}

#[test]
fn operation_filters_and_sampling_apply_on_a_mount() {
    let m = Mirror::new("operations = [\"mkdir\", \"chmod\"]\nsample = { mkdir = 2 }");
    for i in 0..10 {
        std::fs::create_dir(m.m(&format!("d{i}"))).unwrap();
    }
    std::fs::write(m.m("f"), b"x").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(m.m("f"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let evs = m.events();
    let kinds: Vec<&str> = evs.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "filesystem.mkdir").count(),
        5,
        "one in two mkdirs: {kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .all(|k| *k == "filesystem.mkdir" || *k == "filesystem.chmod"),
        "{kinds:?}"
    );
    let chmod = find(&evs, "filesystem.chmod", "/f", 0);
    assert_eq!(chmod.4["mode"], 0o600);
}

/// Whether another process (python3's `lockf`) can take a write lock on `path` now.
fn other_process_can_lock(path: &Path) -> bool {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl,sys\nf=open(sys.argv[1],'r+')\ntry:\n fcntl.lockf(f,fcntl.LOCK_EX|fcntl.LOCK_NB)\n print('free')\nexcept OSError:\n print('busy')",
        ])
        .arg(path)
        .output()
        .expect("python3 runs");
    match String::from_utf8_lossy(&out.stdout).trim() {
        "free" => true,
        "busy" => false,
        other => panic!(
            "python3: {other:?} {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

#[test]
fn posix_locks_reach_the_source_and_go_at_close() {
    let m = Mirror::new("");
    std::fs::write(m.m("f"), b"0123456789").unwrap();
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(m.m("f"))
        .unwrap();
    let lock = libc::flock {
        l_type: libc::F_WRLCK as i16,
        l_whence: libc::SEEK_SET as i16,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    nix::fcntl::fcntl(&f, nix::fcntl::FcntlArg::F_SETLK(&lock)).unwrap();
    assert!(
        !other_process_can_lock(&m.m("f")),
        "held, seen through the mount"
    );
    assert!(!other_process_can_lock(&m.s("f")), "held at the source too");
    drop(f);
    assert!(other_process_can_lock(&m.s("f")), "a close drops the lock");
    let evs = m.events();
    let set: Vec<_> = evs
        .iter()
        .filter(|e| e.2 == FsSubtype::Setlk as u32)
        .map(|e| {
            (
                e.0.as_str(),
                e.4["lock"].as_str().unwrap(),
                e.4["errno"].as_i64().unwrap(),
            )
        })
        .collect();
    assert!(set.contains(&("filesystem.write", "write", 0)), "{set:?}");
    assert!(
        set.contains(&("filesystem.write", "write", 11)),
        "the refused one: {set:?}"
    );
}
