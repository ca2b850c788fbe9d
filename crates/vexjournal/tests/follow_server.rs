//! `vexjournal follow --server`: follows through the event server, survives a server
//! restart without gap or duplicate, and reports a refused token.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn vexjournal(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vexjournal"));
    c.arg("--dir").arg(dir);
    c
}

fn emit(dir: &Path, from: usize, n: usize) {
    let mut child = vexjournal(dir)
        .arg("emit")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for i in from..from + n {
        input.push_str(&format!(
            "{{\"type\":\"filesystem.write\",\"path\":\"/f/{i}\"}}\n"
        ));
    }
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
}

/// A server on `socket`, once it answers.
fn serve(dir: &Path, socket: &Path, extra: &[&str]) -> Child {
    let child = vexjournal(dir)
        .arg("serve")
        .arg("--unix")
        .arg(socket)
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        assert!(Instant::now() < deadline, "the server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

fn stop(child: &mut Child) {
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    child.wait().unwrap();
}

/// Lines of a child's stdout, as they come.
fn lines(child: &mut Child) -> mpsc::Receiver<String> {
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            if tx.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

fn paths(rx: &mpsc::Receiver<String>, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            let line = rx
                .recv_timeout(Duration::from_secs(20))
                .expect("follow printed nothing for 20 s");
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            v["path"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn follows_through_a_server_restart_without_gap_or_duplicate() {
    let tmp = tempfile::tempdir().unwrap();
    let (dir, socket) = (tmp.path().join("j"), tmp.path().join("s.sock"));
    assert!(vexjournal(&dir).arg("init").status().unwrap().success());
    emit(&dir, 0, 3);
    let mut server = serve(&dir, &socket, &[]);
    let mut follow = vexjournal(&dir)
        .args(["follow", "-n", "2", "--server"])
        .arg(&socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines(&mut follow);
    // The last two, then new ones.
    assert_eq!(paths(&rx, 2), ["/f/1", "/f/2"]);
    emit(&dir, 3, 3);
    assert_eq!(paths(&rx, 3), ["/f/3", "/f/4", "/f/5"]);
    // The server goes away; events written meanwhile arrive after it comes back.
    stop(&mut server);
    emit(&dir, 6, 4);
    let mut server = serve(&dir, &socket, &[]);
    emit(&dir, 10, 2);
    let want: Vec<String> = (6..12).map(|i| format!("/f/{i}")).collect();
    assert_eq!(paths(&rx, 6), want);
    assert!(
        rx.recv_timeout(Duration::from_millis(500)).is_err(),
        "a duplicate"
    );
    stop(&mut follow);
    stop(&mut server);
}

#[test]
fn a_refused_token_ends_follow_with_the_servers_reason() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let (dir, socket) = (tmp.path().join("j"), tmp.path().join("s.sock"));
    assert!(vexjournal(&dir).arg("init").status().unwrap().success());
    let tokens = tmp.path().join("tokens");
    std::fs::write(&tokens, "ops 0123456789abcdef0123 all\n").unwrap();
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut server = serve(&dir, &socket, &["--auth", tokens.to_str().unwrap()]);
    let out = vexjournal(&dir)
        .args(["follow", "--server"])
        .arg(&socket)
        .env("VEXJOURNAL_TOKEN", "not-the-token-at-all")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("401") && err.contains("not known"), "{err}");
    // A world-readable token file is refused at start.
    std::fs::set_permissions(&tokens, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = vexjournal(&dir)
        .args(["serve", "--unix"])
        .arg(tmp.path().join("t.sock"))
        .arg("--auth")
        .arg(&tokens)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
    stop(&mut server);
}
