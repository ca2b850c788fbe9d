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
