//! Building the C programs some tests cross-check the Rust code with.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A directory for this test process under `base` (pass `env!("CARGO_TARGET_TMPDIR")`),
/// named `{name}-{pid}` and created if missing.
pub fn scratch_dir(base: &str, name: &str) -> PathBuf {
    let dir = Path::new(base).join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Compiles `source` into `out` with `$CC` (or `cc`; `CC` may carry its own flags):
/// `$CC flags… -o out source after…`. Panics naming the compiler and its output when
/// there is none or it fails; `purpose` says which test needed it.
pub fn compile_c(purpose: &str, flags: &[&str], out: &Path, source: &Path, after: &[&str]) {
    let cc = std::env::var("CC")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| "cc".to_owned());
    let mut words = cc.split_whitespace();
    let program = words.next().unwrap_or("cc").to_owned();
    let output = Command::new(&program)
        .args(words)
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(source)
        .args(after)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{purpose} needs a C compiler: cannot run `{program}` ({e}). \
                 Install gcc (or clang) or set CC to a C compiler."
            )
        });
    assert!(
        output.status.success(),
        "`{cc}` failed to compile {} ({}):\n{}{}",
        source.display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}
