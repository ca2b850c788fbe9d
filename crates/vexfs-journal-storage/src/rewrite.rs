//! Writing a segment file from blocks (compaction, salvage): header, blocks, and — for
//! a sealed segment — footer and sealed header, synced.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use vexfs_journal_format::block::{EventSpan, split_events};
use vexfs_journal_format::consts::FILE_HEADER_SIZE;
use vexfs_journal_format::file_header::FLAG_SEALED;
use vexfs_journal_format::footer::{BlockEntry, encode_footer};
use vexfs_journal_format::record::RecordView;
use vexfs_journal_format::{Compression, FileHeader};

use crate::StorageConfig;
use crate::dir::create_file;
use crate::error::{Result, StorageError};
use crate::segment::{SegmentCipher, append_block, entry_for};

/// Builds a new segment file.
#[derive(Debug)]
pub struct SegmentWriter {
    file: File,
    path: PathBuf,
    header: FileHeader,
    first_seq: u64,
    end: u64,
    blocks: Vec<BlockEntry>,
    buf: Vec<u8>,
    min_next: u64,
    /// The journal's cipher, when it is encrypted.
    cipher: Option<SegmentCipher>,
}

impl SegmentWriter {
    /// Creates `path` for the segment whose first sequence is `first_seq`; `template`
    /// supplies the header fields to keep (creation time, journal-wide marks). Blocks
    /// are encrypted with `cipher` (the journal's, when it is encrypted).
    pub fn create(
        path: &Path,
        first_seq: u64,
        template: &FileHeader,
        compression: Compression,
        cipher: Option<&SegmentCipher>,
    ) -> Result<Self> {
        let file = create_file(path)?;
        let mut header = FileHeader {
            next_event_id: first_seq,
            compression_algorithm: compression.code(),
            total_events: 0,
            journal_size: FILE_HEADER_SIZE as u64,
            index_offset: 0,
            flags: template.flags & !FLAG_SEALED,
            modification_timestamp: crate::clock::unix_secs(),
            ..*template
        };
        header.encryption_algorithm = 0;
        header.reserved[..2].fill(0);
        if let Some(c) = cipher {
            crate::segment::mark_encrypted(&mut header, c);
        }
        file.write_all_at(&header.to_bytes(), 0)
            .map_err(|e| StorageError::io("writing", path, e))?;
        Ok(SegmentWriter {
            file,
            path: path.to_path_buf(),
            header,
            first_seq,
            end: FILE_HEADER_SIZE as u64,
            blocks: Vec::new(),
            buf: Vec::new(),
            min_next: first_seq,
            cipher: cipher.cloned(),
        })
    }

    /// Appends an intact block copied as stored; `entry` is its entry in the old file.
    /// `from` is the cipher of the old file's blocks and that file's first sequence
    /// (`None`: not encrypted): an encrypted block is decrypted from its old place and
    /// encrypted (with this writer's cipher) for its new one.
    pub fn push_raw(
        &mut self,
        entry: &BlockEntry,
        raw: &[u8],
        from: Option<(&SegmentCipher, u64)>,
    ) -> Result<()> {
        let moved;
        let raw = match (from, &self.cipher) {
            (None, None) => raw,
            (from, to) => {
                let mut plain = Vec::new();
                match from {
                    Some((c, segment)) => {
                        c.of(segment)
                            .decrypt_block(raw, entry.offset, &mut plain)
                            .map_err(|e| StorageError::format(&self.path, entry.offset, e))?;
                    }
                    None => plain.extend_from_slice(raw),
                }
                let size = match to {
                    Some(c) => c
                        .of(self.first_seq)
                        .encrypt_block(&mut plain, 0, self.end)?,
                    None => plain.len(),
                };
                plain.truncate(size);
                moved = plain;
                &moved[..]
            }
        };
        let entry = &BlockEntry {
            size: raw.len() as u32,
            ..*entry
        };
        self.file
            .write_all_at(raw, self.end)
            .map_err(|e| StorageError::io("writing", &self.path, e))?;
        self.blocks.push(BlockEntry {
            offset: self.end,
            ..*entry
        });
        self.end += raw.len() as u64;
        Ok(())
    }

    /// Appends a new block holding `records` (whole records, in sequence order), with
    /// the settings of `config` (compression, zstd level, frame size).
    pub fn push_records(&mut self, records: &[u8], config: &StorageConfig) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut span = EventSpan::default();
        for item in split_events(records) {
            let (_, bytes) = item.map_err(|e| StorageError::format(&self.path, self.end, e))?;
            let v = RecordView::parse_trusted(bytes)
                .map_err(|e| StorageError::format(&self.path, self.end, e))?;
            span.push(v.ext().userspace_sequence, v.event_id(), v.timestamp());
        }
        self.buf.clear();
        let size = append_block(
            &mut self.buf,
            records,
            &span,
            config.compression,
            config.zstd_level,
            config.frame_bytes,
        )?;
        let size = match &self.cipher {
            Some(c) => c
                .of(self.first_seq)
                .encrypt_block(&mut self.buf, 0, self.end)?,
            None => size,
        };
        self.file
            .write_all_at(&self.buf, self.end)
            .map_err(|e| StorageError::io("writing", &self.path, e))?;
        self.blocks.push(entry_for(
            self.end,
            size as u32,
            records.len() as u32,
            &span,
        ));
        self.end += size as u64;
        Ok(())
    }

    /// Blocks written so far.
    pub fn blocks(&self) -> &[BlockEntry] {
        &self.blocks
    }

    /// Records that sequences below `next` are taken (by events that were lost), so
    /// the journal continues at `next` at the least.
    pub fn reserve_until(&mut self, next: u64) {
        self.min_next = self.min_next.max(next);
    }

    /// Finishes the file: sealed (footer and sealed header) or open (header recording
    /// its length as durable), then synced. Returns its blocks.
    pub fn finish(mut self, seal: bool) -> Result<Vec<BlockEntry>> {
        let events: u64 = self.blocks.iter().map(|b| u64::from(b.event_count)).sum();
        let next = self
            .blocks
            .last()
            .map_or(self.first_seq, |b| b.last_seq + 1)
            .max(self.min_next);
        self.header.total_events = events;
        self.header.next_event_id = next;
        if seal {
            let mut footer = Vec::new();
            encode_footer(&self.blocks, &mut footer);
            self.file
                .write_all_at(&footer, self.end)
                .map_err(|e| StorageError::io("writing", &self.path, e))?;
            self.header.index_offset = self.end;
            self.header.journal_size = self.end + footer.len() as u64;
            self.header.flags |= FLAG_SEALED;
        } else {
            self.header.journal_size = self.end;
        }
        self.file
            .write_all_at(&self.header.to_bytes(), 0)
            .and_then(|_| self.file.sync_all())
            .map_err(|e| StorageError::io("syncing", &self.path, e))?;
        Ok(self.blocks)
    }
}
