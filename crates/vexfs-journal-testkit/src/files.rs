//! Journal directories and files: copies, listings, surgery.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use vexfs_journal_format::FileHeader;
use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::manifest::{ManifestSegment, Removal, decode_manifest};

/// Copies a directory tree (of a closed journal, or of an open one as a process crash
/// — not a machine crash — would leave it).
pub fn copy_dir(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let from = entry.path();
        let to = dst.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&from, &to);
        } else {
            std::fs::copy(&from, &to).unwrap();
        }
    }
}

/// Copies a directory tree that a live journal is changing: files that vanish between
/// listing and copying (renamed temporaries, deleted old checkpoints) are skipped, as
/// a machine crashing at that moment would not have them either. The copy is taken
/// again while the journal's `MANIFEST` changes under it: a rotation or retention
/// finishing mid-copy would pair segment files and a manifest from different moments,
/// which no crash can leave (the writer orders those writes with fsyncs); see
/// [`ManifestShape`] for what counts as a change.
pub fn copy_dir_live(src: &Path, dst: &Path) {
    loop {
        let before = std::fs::read(src.join("MANIFEST")).ok();
        copy_tree_live(src, dst);
        let after = std::fs::read(src.join("MANIFEST")).ok();
        if manifest_shape(before.as_deref()) == manifest_shape(after.as_deref()) {
            // The manifest as read before the copy: its sequence floor is at most what
            // was durable then, all of which the copied segments hold.
            match before {
                Some(bytes) => std::fs::write(dst.join("MANIFEST"), bytes).unwrap(),
                None => {
                    let _ = std::fs::remove_file(dst.join("MANIFEST"));
                }
            }
            return;
        }
        std::fs::remove_dir_all(dst).unwrap();
    }
}

/// What of a manifest must not change while a live copy is taken: the history
/// generation, the segment set and the removals. A checkpoint rewrites the file only to
/// raise the sequence floor and the update time, so a journal checkpointing every few
/// milliseconds still gets copied (comparing the raw bytes retried forever). A manifest
/// that does not decode is compared as bytes.
type ManifestShape = Option<Result<(u64, Vec<ManifestSegment>, Vec<Removal>), Vec<u8>>>;

fn manifest_shape(bytes: Option<&[u8]>) -> ManifestShape {
    bytes.map(|b| match decode_manifest(b) {
        Ok(m) => Ok((m.generation, m.segments, m.removals)),
        Err(_) => Err(b.to_vec()),
    })
}

fn copy_tree_live(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        let from = entry.path();
        let to = dst.join(entry.file_name());
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            copy_tree_live(&from, &to);
        } else {
            match std::fs::copy(&from, &to) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let _ = std::fs::remove_file(&to);
                }
                Err(e) => panic!("copying {}: {e}", from.display()),
            }
        }
    }
}

/// The segment files (`*.seg`) of a journal directory, oldest first (their names are
/// zero-padded first sequences).
pub fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

/// The saved torn tails (`*.torn*`) of a journal directory, sorted.
pub fn torn_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains(".torn"))
        .collect();
    v.sort();
    v
}

/// Flips bit `bit` (0 = least significant bit of byte 0) of a file in place.
pub fn flip_bit(path: &Path, bit: u64) {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, bit / 8).unwrap();
    b[0] ^= 1 << (bit % 8);
    f.write_all_at(&b, bit / 8).unwrap();
}

/// Flips bit 4 of byte `at` of a file.
pub fn flip_byte(path: &Path, at: u64) {
    flip_bit(path, at * 8 + 4);
}

/// Overwrites bytes of a file at `offset`.
pub fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

/// The repository's `fixtures/` directory (golden files).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// The bytes of `fixtures/<name>`.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares `bytes` with the committed golden file `fixtures/<name>`, first writing
/// them there when `VEXFS_UPDATE_FIXTURES` is set; `regenerate` is the test command
/// that makes the file, named in the failure.
pub fn check_golden(name: &str, bytes: &[u8], regenerate: &str) {
    let path = fixtures_dir().join(name);
    if std::env::var_os("VEXFS_UPDATE_FIXTURES").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    let committed = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (generate it with VEXFS_UPDATE_FIXTURES=1 {regenerate})",
            path.display()
        )
    });
    assert!(
        committed == bytes,
        "{name} differs: regenerate with VEXFS_UPDATE_FIXTURES=1 {regenerate} if the change is deliberate"
    );
}

/// Cuts (or extends with zeros) a file to `len` bytes.
pub fn set_len(path: &Path, len: u64) {
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// The 128-byte header of a segment file.
pub fn header_of(path: &Path) -> FileHeader {
    let bytes = std::fs::read(path).unwrap();
    FileHeader::parse(&bytes[..FILE_HEADER_SIZE]).unwrap()
}
