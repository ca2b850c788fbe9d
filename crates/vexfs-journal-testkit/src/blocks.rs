//! Where the blocks of a segment file are, as the storage engine's inspector finds them.

use std::path::Path;

use vexfs_journal_storage::inspect::{Region, inspect};

/// The intact blocks of a segment file as `(offset, size, first_seq, last_seq)`, in
/// file order; damaged regions are left out.
pub fn segment_blocks(path: &Path) -> Vec<(u64, u64, u64, u64)> {
    let first = path
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{} is not named after a sequence", path.display()));
    inspect(path, first)
        .unwrap()
        .regions
        .iter()
        .filter_map(|r| match r {
            Region::Block(b) => Some((b.offset, u64::from(b.size), b.first_seq, b.last_seq)),
            Region::Damaged { .. } => None,
        })
        .collect()
}

/// Where the written part of a segment file ends: after its last intact block (or its
/// header), when only zeros follow — the space the writer preallocates ahead — else
/// the file's length.
pub fn written_end(path: &Path) -> u64 {
    let len = std::fs::metadata(path).unwrap().len();
    let end = segment_blocks(path)
        .last()
        .map_or(vexfs_journal_format::consts::FILE_HEADER_SIZE as u64, |b| {
            b.0 + b.1
        });
    let bytes = std::fs::read(path).unwrap();
    match bytes.get(end as usize..) {
        Some(rest) if end < len && rest.iter().all(|&b| b == 0) => end,
        _ => len,
    }
}

/// Drops the preallocated zeros at the end of every segment of journal `dir`, as a
/// power cut that lost the (unsynced) preallocation leaves them: the file then ends
/// with its last written block. Tests that damage or cut "the end of the file" mean
/// the written end, which this makes the same.
pub fn drop_preallocated(dir: &Path) {
    for seg in crate::files::segment_files(dir) {
        let end = written_end(&seg);
        if end < std::fs::metadata(&seg).unwrap().len() {
            crate::files::set_len(&seg, end);
        }
    }
}
