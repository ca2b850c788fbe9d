//! Helpers shared by the CLI's integration tests (each test file uses a subset).
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::process::{Child, Command, Stdio};

/// The `vexjournal` binary, with the environment variables that change its behaviour
/// removed.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vexjournal"));
    c.env_remove("VEXJOURNAL_DIR").env_remove("VEXJOURNAL_LOG");
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

/// splitmix64: a small deterministic generator for reproducible rounds.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}
