//! `vexjournal serve`: the default Unix socket lives outside the journal directory,
//! answers NDJSON, and is removed on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn vexjournal(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vexjournal"));
    c.arg("--dir").arg(dir);
    c
}

#[test]
fn serves_ndjson_on_a_unix_socket_in_the_runtime_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let (journal, runtime) = (tmp.path().join("j"), tmp.path().join("run"));
    std::fs::create_dir(&runtime).unwrap();
    assert!(vexjournal(&journal).arg("init").status().unwrap().success());
    let mut emit = vexjournal(&journal)
        .arg("emit")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    emit.stdin
        .take()
        .unwrap()
        .write_all(b"{\"type\":\"filesystem.write\",\"path\":\"/a\"}\n{\"type\":\"filesystem.read\",\"path\":\"/b\"}\n")
        .unwrap();
    assert!(emit.wait().unwrap().success());

    let mut server = vexjournal(&journal)
        .arg("serve")
        .env("XDG_RUNTIME_DIR", &runtime)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let socket = loop {
        let found = std::fs::read_dir(&runtime)
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|x| x == "sock"));
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no socket appeared");
        std::thread::sleep(Duration::from_millis(20));
    };
    // Nothing new in the journal directory.
    assert!(
        std::fs::read_dir(&journal)
            .unwrap()
            .all(|e| { !e.unwrap().file_name().to_string_lossy().ends_with(".sock") })
    );

    let mut conn = UnixStream::connect(&socket).unwrap();
    conn.write_all(b"GET /events?category=filesystem HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    let body = reply.split("\r\n\r\n").nth(1).unwrap();
    let paths: Vec<String> = body
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["path"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(paths, ["/a", "/b"]);

    let pid = rustix::process::Pid::from_raw(server.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert!(server.wait().unwrap().success());
    assert!(!socket.exists(), "socket left behind");
}
