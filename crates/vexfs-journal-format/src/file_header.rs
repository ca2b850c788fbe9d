//! The 128-byte userspace journal file header at the start of every segment file.
//!
//! Its `checksum` is the kernel crc32 of the 128 bytes with the checksum field zeroed
//! (the seeds' comment says SHA-256 but their code uses crc32 over part of the header;
//! `KERNEL-FORMAT.md` settles it as stated here).

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::checksum::crc32_with_zeroed_field;
use crate::consts::{FILE_HEADER_SIZE, SEMJ_MAGIC, USERSPACE_MARKER, VERSION_MAJOR, VERSION_MINOR};
use crate::error::{FormatError, Result};
use crate::layout::{FILE_CHECKSUM_OFFSET, RawFileHeader};

/// File header flag (`flags`): the segment is sealed and carries a block table footer
/// ([`crate::footer`]) at `index_offset`.
pub const FLAG_SEALED: u32 = 0x1;

/// File header flag: compaction removed events from this sealed segment, so sequences
/// missing within its range (from its first sequence up to the next segment's) were
/// dropped on purpose. It may even hold no block at all.
pub const FLAG_COMPACTED: u32 = 0x2;

/// File header flag: salvage rewrote this segment without damaged blocks (their bytes
/// are under `salvaged/`), so sequences missing within its range were lost to damage
/// and are accounted for in the salvage report.
pub const FLAG_SALVAGED: u32 = 0x4;

/// The fields of a journal file header that vary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FileHeader {
    /// Format minor version (major is always [`VERSION_MAJOR`]).
    pub version_minor: u32,
    /// Events in the file.
    pub total_events: u64,
    /// Next event id to be assigned.
    pub next_event_id: u64,
    /// Bytes of the file.
    pub journal_size: u64,
    /// Offset of an index section inside the file (0: none).
    pub index_offset: u64,
    /// File flag bits ([`FLAG_SEALED`], [`FLAG_COMPACTED`], [`FLAG_SALVAGED`]).
    pub flags: u32,
    /// Compression code used by the blocks.
    pub compression_algorithm: u32,
    /// Encryption code used by the blocks.
    pub encryption_algorithm: u32,
    /// Sequence of the last checkpoint.
    pub last_checkpoint_sequence: u64,
    /// Last kernel sequence synchronised into the journal.
    pub last_kernel_sync_sequence: u64,
    /// Creation time, seconds since the Unix epoch.
    pub creation_timestamp: u64,
    /// Last modification time, seconds since the Unix epoch.
    pub modification_timestamp: u64,
    /// Reserved words (zero when written by this version).
    pub reserved: [u32; 8],
}

impl FileHeader {
    /// A header for a new file with the current format version.
    pub fn new() -> FileHeader {
        FileHeader {
            version_minor: VERSION_MINOR,
            next_event_id: 1,
            journal_size: FILE_HEADER_SIZE as u64,
            ..FileHeader::default()
        }
    }

    /// The 128 bytes, checksum sealed.
    pub fn to_bytes(&self) -> [u8; FILE_HEADER_SIZE] {
        let raw = RawFileHeader {
            magic: U32::new(SEMJ_MAGIC),
            version_major: U32::new(VERSION_MAJOR),
            version_minor: U32::new(self.version_minor),
            total_events: U64::new(self.total_events),
            next_event_id: U64::new(self.next_event_id),
            journal_size: U64::new(self.journal_size),
            index_offset: U64::new(self.index_offset),
            flags: U32::new(self.flags),
            checksum: U32::new(0),
            userspace_marker: U32::new(USERSPACE_MARKER),
            compression_algorithm: U32::new(self.compression_algorithm),
            encryption_algorithm: U32::new(self.encryption_algorithm),
            last_checkpoint_sequence: U64::new(self.last_checkpoint_sequence),
            last_kernel_sync_sequence: U64::new(self.last_kernel_sync_sequence),
            creation_timestamp: U64::new(self.creation_timestamp),
            modification_timestamp: U64::new(self.modification_timestamp),
            reserved: self.reserved.map(U32::new),
        };
        let mut out = [0u8; FILE_HEADER_SIZE];
        out.copy_from_slice(raw.as_bytes());
        let crc = crc32_with_zeroed_field(&out, FILE_CHECKSUM_OFFSET).unwrap_or(0);
        out[FILE_CHECKSUM_OFFSET..FILE_CHECKSUM_OFFSET + 4].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Parses and checks a header: magic, checksum, userspace marker, major version.
    pub fn parse(buf: &[u8]) -> Result<FileHeader> {
        let (raw, _) = RawFileHeader::ref_from_prefix(buf).map_err(|_| FormatError::Truncated {
            what: "journal file header",
            offset: 0,
            needed: FILE_HEADER_SIZE,
            available: buf.len(),
        })?;
        if raw.magic.get() != SEMJ_MAGIC {
            return Err(FormatError::BadMagic {
                what: "journal file header",
                expected: SEMJ_MAGIC,
                found: raw.magic.get(),
            });
        }
        let bytes = buf.get(..FILE_HEADER_SIZE).unwrap_or_default();
        let computed = crc32_with_zeroed_field(bytes, FILE_CHECKSUM_OFFSET).unwrap_or(0);
        if computed != raw.checksum.get() {
            return Err(FormatError::ChecksumMismatch {
                what: "journal file header",
                stored: raw.checksum.get(),
                computed,
            });
        }
        if raw.userspace_marker.get() != USERSPACE_MARKER {
            return Err(FormatError::BadMagic {
                what: "journal file header userspace marker",
                expected: USERSPACE_MARKER,
                found: raw.userspace_marker.get(),
            });
        }
        if raw.version_major.get() != VERSION_MAJOR {
            return Err(FormatError::UnsupportedVersion {
                what: "journal file",
                found: raw.version_major.get(),
                supported: VERSION_MAJOR,
            });
        }
        Ok(FileHeader {
            version_minor: raw.version_minor.get(),
            total_events: raw.total_events.get(),
            next_event_id: raw.next_event_id.get(),
            journal_size: raw.journal_size.get(),
            index_offset: raw.index_offset.get(),
            flags: raw.flags.get(),
            compression_algorithm: raw.compression_algorithm.get(),
            encryption_algorithm: raw.encryption_algorithm.get(),
            last_checkpoint_sequence: raw.last_checkpoint_sequence.get(),
            last_kernel_sync_sequence: raw.last_kernel_sync_sequence.get(),
            creation_timestamp: raw.creation_timestamp.get(),
            modification_timestamp: raw.modification_timestamp.get(),
            reserved: raw.reserved.map(|r| r.get()),
        })
    }
}
