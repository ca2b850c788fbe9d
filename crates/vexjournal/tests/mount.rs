//! `vexjournal mount` as an operator runs it: the binary in the background, files
//! changed through the mount, SIGTERM or `vexjournal umount` to stop, the events in
//! the journal afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{bin, mounted, run_in, wait_for};

#[test]
fn mount_journals_changes_and_stops_on_sigterm_or_umount() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (src, mnt, j) = (root.join("src"), root.join("mnt"), root.join("j"));
    std::fs::create_dir(&src).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    for stop_with_umount in [false, true] {
        let mut child = bin()
            .arg("--dir")
            .arg(&j)
            .arg("mount")
            .arg(&src)
            .arg(&mnt)
            .arg("--foreground")
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        wait_for("the mount", Duration::from_secs(20), || mounted(&mnt));
        let name = format!("f{}", u8::from(stop_with_umount));
        std::fs::write(mnt.join(&name), b"data").unwrap();
        assert_eq!(std::fs::read(src.join(&name)).unwrap(), b"data");
        if !stop_with_umount {
            std::fs::rename(mnt.join(&name), mnt.join("renamed")).unwrap();
            std::fs::remove_file(mnt.join("renamed")).unwrap();
        }
        if stop_with_umount {
            run_in(&j, &["umount", mnt.to_str().unwrap()], b"", &[]).ok();
        } else {
            let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
            rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        }
        let status = child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        assert!(!mounted(&mnt));
    }
    // Without --foreground, mount returns once the mount is up and a background
    // process serves it; umount returns once that process has closed the journal.
    let r = run_in(
        &j,
        &["mount", src.to_str().unwrap(), mnt.to_str().unwrap()],
        b"",
        &[],
    )
    .ok();
    assert!(mounted(&mnt), "{r:?}");
    assert!(r.stderr.contains("daemon pid"), "{r:?}");
    // The daemon's umask (022) does not narrow the modes callers ask for.
    let old = rustix::process::umask(rustix::fs::Mode::empty());
    std::fs::create_dir(mnt.join("open")).unwrap();
    rustix::process::umask(old);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(src.join("open"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o777);
    std::fs::remove_dir(mnt.join("open")).unwrap();
    // Two files hold the name /x in turn; the first moves to /y.
    std::fs::write(mnt.join("x"), b"1").unwrap();
    std::fs::rename(mnt.join("x"), mnt.join("y")).unwrap();
    std::fs::write(mnt.join("x"), b"2").unwrap();
    std::fs::hard_link(mnt.join("y"), mnt.join("z")).unwrap();
    let again = run_in(
        &j,
        &["mount", src.to_str().unwrap(), mnt.to_str().unwrap()],
        b"",
        &[],
    )
    .fails();
    assert!(again.stderr.contains("already a FUSE mount"), "{again:?}");
    run_in(&j, &["umount", mnt.to_str().unwrap()], b"", &[]).ok();
    assert!(!mounted(&mnt));
    // The journal is closed: a writer opens it at once.
    run_in(&j, &["emit"], b"{\"type\":\"system.sync\"}\n", &[]).ok();
    // Bad mount options are refused before anything is mounted.
    let r = run_in(
        &j,
        &[
            "mount",
            src.to_str().unwrap(),
            mnt.to_str().unwrap(),
            "-o",
            "ro,colour",
        ],
        b"",
        &[],
    )
    .fails();
    assert!(
        r.stderr.contains("unknown mount option \"colour\""),
        "{r:?}"
    );
    assert!(!mounted(&mnt));
    let life = |p: &str| -> Vec<(String, String, u64)> {
        let h = run_in(&j, &["history", p, "-o", "json"], b"", &[]).ok();
        let rows: Vec<serde_json::Value> = serde_json::from_str(&h.stdout).unwrap();
        rows.iter()
            .filter(|e| e["op"].is_null())
            .map(|e| {
                (
                    e["type"].as_str().unwrap().to_string(),
                    e["path"].as_str().unwrap().to_string(),
                    e["inode"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let y = life("/y");
    let kinds: Vec<(&str, &str)> = y.iter().map(|(t, p, _)| (t.as_str(), p.as_str())).collect();
    assert_eq!(
        kinds,
        [
            ("filesystem.create", "/x"),
            ("filesystem.write", "/x"),
            ("filesystem.rename", "/x"),
            ("filesystem.hardlink", "/z"),
        ],
        "the first /x only, followed to /y and its link /z"
    );
    assert!(
        y.iter().all(|(_, _, ino)| *ino == y[0].2 && *ino != 0),
        "{y:?}"
    );
    let x = life("/x");
    assert_eq!(
        x.iter()
            .filter(|(t, _, _)| t == "filesystem.create")
            .count(),
        2,
        "both files that held /x: {x:?}"
    );
    // A path nothing touched says just that.
    let none = run_in(&j, &["history", "/never-touched"], b"", &[]).ok();
    assert_eq!(none.stdout.trim(), "no event touched /never-touched");
    // Unmounting what is not mounted says so.
    let r = run_in(&j, &["umount", mnt.to_str().unwrap()], b"", &[]).fails();
    assert!(r.stderr.contains("not a mount point"), "{r:?}");
    // A missing source is refused before anything is mounted.
    let r = run_in(
        &j,
        &["mount", "/nonexistent-source", mnt.to_str().unwrap()],
        b"",
        &[],
    )
    .fails();
    assert!(
        r.stderr
            .contains("/nonexistent-source (the source) does not exist"),
        "{r:?}"
    );
    let out = run_in(&j, &["cat", "-o", "ndjson"], b"", &[]).ok();
    // The life of /f0: created, written, renamed, deleted under its new name.
    let h = run_in(&j, &["history", "/f0", "-o", "json"], b"", &[]).ok();
    let life: Vec<serde_json::Value> = serde_json::from_str(&h.stdout).unwrap();
    let steps: Vec<(&str, &str)> = life
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps.first().copied(),
        Some(("filesystem.create", "/f0")),
        "{steps:?}"
    );
    assert!(steps.contains(&("filesystem.rename", "/f0")), "{steps:?}");
    assert_eq!(
        steps.last().copied(),
        Some(("filesystem.delete", "/renamed")),
        "{steps:?}"
    );
    assert!(!steps.iter().any(|s| s.1 == "/f1"), "{steps:?}");
    for name in ["/f0", "/f1"] {
        assert!(
            out.stdout
                .lines()
                .any(|l| l.contains("filesystem.create") && l.contains(name)),
            "{name}: {}",
            out.stdout
        );
    }
}
