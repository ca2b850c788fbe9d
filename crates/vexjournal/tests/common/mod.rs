//! The CLI tests' own helpers: running the `vexjournal` binary (each test file uses a
//! subset). Helpers every crate's tests share are in `vexfs-journal-testkit`.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::{Value, json};

/// The `vexjournal` binary, with the environment variables that change its behaviour
/// removed.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vexjournal"));
    c.env_remove("VEXJOURNAL_DIR")
        .env_remove("VEXJOURNAL_LOG")
        .env_remove("VEXJOURNAL_ALLOW_OTHERS_WRITABLE")
        .env_remove("VEXJOURNAL_KEY")
        .env_remove("VEXJOURNAL_KEY_FILE");
    c
}

/// `vexjournal --dir DIR emit --durable`, fed NDJSON on stdin, printing each
/// acknowledged sequence on stdout.
pub fn spawn_durable_emit(dir: &Path, stderr: Stdio) -> Child {
    bin()
        .arg("--dir")
        .arg(dir)
        .args(["emit", "--durable"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// What one `vexjournal` run did.
#[derive(Debug)]
pub struct Run {
    /// Exit status.
    pub status: std::process::ExitStatus,
    /// Standard output (lossy UTF-8).
    pub stdout: String,
    /// Standard error (lossy UTF-8).
    pub stderr: String,
}

impl Run {
    /// Asserts the run succeeded.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.status.success(), "failed: {self:#?}");
        self
    }

    /// Asserts the run failed cleanly: an exit status, no panic.
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "expected a clean failure: {self:#?}"
        );
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self
    }

    /// Asserts the run exited with `code`.
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Self {
        assert_eq!(
            self.status.code(),
            Some(code),
            "expected exit {code}: {self:#?}"
        );
        self
    }

    /// Standard output as one JSON document.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// Standard output as NDJSON, one value a line.
    pub fn ndjson(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Standard output and standard error together.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// Runs `vexjournal --dir DIR ARGS…` with `stdin` and `env` set, and waits for it.
pub fn run_in(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
    let mut c = bin();
    c.arg("--dir").arg(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    run_command(c, stdin)
}

/// Runs `cmd` with `stdin` and waits for it.
pub fn run_command(cmd: Command, stdin: &[u8]) -> Run {
    let out = run_raw(cmd, stdin);
    Run {
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `cmd` with `stdin` and waits for it; its output as bytes.
pub fn run_raw(mut cmd: Command, stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // The child may stop reading early: a broken pipe is expected then.
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

/// The `seq` of every line of NDJSON output (`cat`, `replay`, `query -o ndjson`).
pub fn ndjson_seqs(ndjson: &str) -> Vec<u64> {
    ndjson
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

/// The part of an event `cat` prints that a test feeding `emit` chose.
pub fn content(ev: &Value) -> Value {
    json!({
        "type": ev["type"],
        "inode": ev["inode"],
        "path": ev["path"],
        "payload": ev["payload"],
    })
}

/// Whether `mnt` is a mount point now (`/proc/self/mounts`).
pub fn mounted(mnt: &Path) -> bool {
    std::fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(mnt.to_str().unwrap()))
}

/// Polls `cond` until it holds; fails the test after `limit`.
pub fn wait_for(what: &str, limit: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
