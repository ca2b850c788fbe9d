//! Reading the kernel source: checking it, opening it at a resume point, and what a
//! pass over it saw ([`Scan`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use vexfs_journal_format::BlockHeader;
use vexfs_journal_format::consts::BLOCK_HEADER_SIZE;

use super::state::SourceCursor;
use crate::error::{ImageError, SyncResult};
use crate::image::{Damage, ImageItem, ImageReader, ReadStats, ReaderOptions};
use crate::seqset::SeqSet;

/// Checks that `path` is a readable file or block device.
pub(super) fn check_source(path: &Path) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    let ft = meta.file_type();
    if !(ft.is_file() || ft.is_block_device() || ft.is_char_device()) {
        return Err("not a file or block device".into());
    }
    File::open(path).map(drop).map_err(|e| e.to_string())
}

/// Whether the block the cursor remembers is still where it was (the source was
/// appended to, not rewritten).
pub(super) fn cursor_still_valid(c: &SourceCursor) -> bool {
    let Ok(mut file) = File::open(&c.path) else {
        return false;
    };
    let mut head = [0u8; BLOCK_HEADER_SIZE];
    if file.seek(SeekFrom::Start(c.last_block.offset)).is_err()
        || file.read_exact(&mut head).is_err()
    {
        return false;
    }
    BlockHeader::parse(&head).is_ok_and(|h| {
        h.block_id == c.last_block.block_id && h.block_checksum == c.last_block.checksum
    })
}

/// A reader of the image at `path` from byte `start`.
pub(super) fn open_reader(
    path: &Path,
    start: u64,
    opts: &ReaderOptions,
) -> SyncResult<ImageReader<File>> {
    let name = path.display().to_string();
    let mut file = File::open(path).map_err(|e| ImageError::io("opening", name.clone(), e))?;
    if start > 0 {
        file.seek(SeekFrom::Start(start))
            .map_err(|e| ImageError::io(format!("seeking to byte {start} of"), name.clone(), e))?;
    }
    Ok(ImageReader::starting_at(file, name, opts.clone(), start))
}

/// Calls `visit` on every item of the image at `path` from byte `start`.
pub(super) fn read_source(
    path: &Path,
    start: u64,
    opts: &ReaderOptions,
    visit: &mut dyn FnMut(&ImageItem),
) -> SyncResult<ReadStats> {
    let mut reader = open_reader(path, start, opts)?;
    while let Some(item) = reader.next_item()? {
        visit(&item);
    }
    Ok(reader.stats().clone())
}

/// What a pass over a source saw.
#[derive(Default)]
pub(super) struct Scan {
    pub(super) kernel_last: u64,
    pub(super) kernel_last_id: u64,
    pub(super) pending: u64,
    pub(super) damage: Vec<Damage>,
}

impl Scan {
    /// Takes `item` into account; events in `settled` are not pending.
    pub(super) fn observe(&mut self, item: &ImageItem, settled: &SeqSet) {
        match item {
            ImageItem::Block(b) => {
                for ev in &b.events {
                    self.kernel_last = self.kernel_last.max(ev.global_sequence);
                    self.kernel_last_id = self.kernel_last_id.max(ev.event_id);
                    if ev.global_sequence != 0 && !settled.contains(ev.global_sequence) {
                        self.pending += 1;
                    }
                }
            }
            ImageItem::Damage(d) => self.damage.push(d.clone()),
        }
    }
}
