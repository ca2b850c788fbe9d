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

#[test]
fn a_sealing_mount_exports_heads_the_journal_verifies_against() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap();
    let (src, mnt, j) = (root.join("src"), root.join("mnt"), root.join("j"));
    std::fs::create_dir(&src).unwrap();
    std::fs::create_dir(&mnt).unwrap();
    let keys = root.join("ops");
    run_in(&root, &["seal", "keygen", keys.to_str().unwrap()], b"", &[]).ok();
    let (key, public, out) = (
        keys.with_extension("key"),
        keys.with_extension("pub"),
        root.join("head.json"),
    );
    // --seal-out inside the journal is refused before anything is mounted.
    run_in(&j, &["init"], b"", &[]).ok();
    let inside = run_in(
        &j,
        &[
            "mount",
            src.to_str().unwrap(),
            mnt.to_str().unwrap(),
            "--seal-key",
            key.to_str().unwrap(),
            "--seal-out",
            j.join("head.json").to_str().unwrap(),
        ],
        b"",
        &[],
    )
    .fails();
    assert!(inside.stderr.contains("inside the journal"), "{inside:?}");
    assert!(!mounted(&mnt));
    let child = bin()
        .arg("--dir")
        .arg(&j)
        .args(["mount", "--foreground", "--seal-every", "1s"])
        .arg("--seal-key")
        .arg(&key)
        .arg("--seal-out")
        .arg(&out)
        .arg(&src)
        .arg(&mnt)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for("the mount", Duration::from_secs(20), || mounted(&mnt));
    std::fs::write(mnt.join("a"), b"data").unwrap();
    wait_for("an exported head", Duration::from_secs(20), || out.exists());
    std::fs::write(mnt.join("b"), b"more").unwrap();
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("sealed: the last head covers"), "{stderr}");
    // The last head, sealed at unmount, covers every event of the mount.
    let report = run_in(
        &j,
        &[
            "verify",
            "--trusted-head",
            out.to_str().unwrap(),
            "--pubkey",
            public.to_str().unwrap(),
            "-o",
            "json",
        ],
        b"",
        &[],
    )
    .ok()
    .json();
    let seal = &report["seal"];
    assert_eq!(
        seal["trusted"]["problem"],
        serde_json::Value::Null,
        "{seal}"
    );
    assert_eq!(
        seal["trusted"]["tree_size"], seal["covered"],
        "the exported head is the last: {seal}"
    );
    assert_eq!(
        seal["covered"].as_u64().unwrap() + 1,
        seal["records"].as_u64().unwrap(),
        "all but the last head's own record: {seal}"
    );
    assert!(seal["heads"].as_array().unwrap().len() >= 2, "{seal}");
}
