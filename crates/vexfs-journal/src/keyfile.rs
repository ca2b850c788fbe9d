//! Key files: a secret in hex on one line, readable by its owner only.
//!
//! The journal's encryption key ([`read_journal_key`], [`write_journal_key`]) and the
//! sealing keys of `vexfs-journal-seal` are kept this way. A secret file other users
//! may read is refused, as `ssh` refuses such private keys; a new one is created 0600
//! and never replaces an existing file.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use vexfs_journal_cipher::{JournalKey, KEY_SIZE};
use zeroize::Zeroizing;

/// A key file that cannot be read, written or used.
#[derive(Debug, thiserror::Error)]
#[error("key file {}: {reason}", path.display())]
pub struct KeyFileError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong.
    pub reason: String,
}

fn bad(path: &Path, reason: impl ToString) -> KeyFileError {
    KeyFileError {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Reads a secret key file's text. The file must be readable by its owner only
/// (mode 0600 or 0400).
pub fn read_secret(path: &Path) -> Result<Zeroizing<String>, KeyFileError> {
    let meta = std::fs::metadata(path).map_err(|e| bad(path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(bad(
            path,
            format!(
                "mode {mode:04o} lets others read it; run `chmod 600 {}`",
                path.display()
            ),
        ));
    }
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| bad(path, e))
}

/// Writes `text` and a newline to a new file `path` with permission bits `mode`,
/// synced; refuses to replace an existing file, and leaves no file behind on failure.
pub fn write_new(path: &Path, text: &str, mode: u32) -> Result<(), KeyFileError> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => bad(
                path,
                "exists: refusing to overwrite a key; choose another name",
            ),
            _ => bad(path, e),
        })?;
    let mut line = Zeroizing::new(String::with_capacity(text.len() + 1));
    line.push_str(text);
    line.push('\n');
    if let Err(e) = f.write_all(line.as_bytes()).and_then(|_| f.sync_all()) {
        let _ = std::fs::remove_file(path);
        return Err(bad(path, e));
    }
    Ok(())
}

/// Reads a journal key file (64 hex digits; owner-only, see [`read_secret`]).
pub fn read_journal_key(path: &Path) -> Result<JournalKey, KeyFileError> {
    let text = read_secret(path)?;
    JournalKey::from_hex("the file's text", &text).map_err(|e| bad(path, e))
}

/// A new random journal key.
pub fn generate_journal_key() -> Result<JournalKey, KeyFileError> {
    let mut bytes = Zeroizing::new([0u8; KEY_SIZE]);
    getrandom::getrandom(bytes.as_mut()).map_err(|e| bad(Path::new("(new key)"), e))?;
    Ok(JournalKey::from_bytes(*bytes))
}

/// Generates a journal key into the new file `path` (mode 0600) and returns it.
pub fn write_journal_key(path: &Path) -> Result<JournalKey, KeyFileError> {
    let key = generate_journal_key()?;
    write_new(path, &key.to_hex(), 0o600)?;
    Ok(key)
}
