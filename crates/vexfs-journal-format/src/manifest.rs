//! The journal manifest (`MANIFEST` in a journal directory): the durable record of the
//! segment set and of the sequence numbers ever handed out.
//!
//! Opening a journal compares the segment files on disk with the manifest, so a
//! deleted, replaced, shortened or unexpected segment is always noticed, and new events
//! never reuse a sequence number that was ever acknowledged (`next_seq_floor`). The file
//! is replaced whole (temporary file, fsync, rename, directory fsync), so a crash leaves
//! the old or the new manifest. Layout, little-endian:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `VJMF` |
//! | 4 | 4 | version (1) |
//! | 8 | 16 | journal id (UUID bytes) |
//! | 24 | 8 | generation: bumped when history is rewritten (rollback, restore, compaction, salvage) |
//! | 32 | 8 | next sequence floor: no new event gets a sequence below it |
//! | 40 | 8 | last update, ns since the epoch |
//! | 48 | 4 | segment count *s* |
//! | 52 | 4 | removal count *r* |
//! | 56 | 8 | reserved (0) |
//! | 64 | 64 × *s* | segments, oldest first ([`ManifestSegment`]) |
//! | … | 48 × *r* | removed sequence ranges, oldest first ([`Removal`]) |
//! | end − 4 | 4 | kernel crc32 of everything before |
//!
//! A segment entry:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 8 | first sequence (the file is `<first>.seg`) |
//! | 8 | 8 | sequence after its last event (sealed; 0 while open) |
//! | 16 | 8 | events (sealed) |
//! | 24 | 8 | smallest event time, ns (sealed) |
//! | 32 | 8 | largest event time, ns (sealed) |
//! | 40 | 8 | file length (sealed) |
//! | 48 | 8 | the segment header's creation time, s |
//! | 56 | 4 | kernel crc32 of the sealed header and footer (sealed) |
//! | 60 | 1 | state: 1 open, 2 sealed |
//! | 61 | 3 | reserved (0) |
//!
//! A removal entry:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 8 | first sequence removed |
//! | 8 | 8 | sequence after the last one removed |
//! | 16 | 8 | generation the removal created |
//! | 24 | 8 | time, ns since the epoch |
//! | 32 | 1 | reason ([`RemovalReason`]) |
//! | 33 | 15 | reserved (0) |

use alloc::vec::Vec;

use crate::bytes::{ByteReader, check_crc, split_crc};
use crate::checksum::kernel_crc32;
use crate::error::{FormatError, Result};

/// Magic of manifest files, `"VJMF"`.
pub const MANIFEST_MAGIC: u32 = 0x564A_4D46;
/// Manifest version this build reads and writes.
pub const MANIFEST_VERSION: u32 = 1;
/// Bytes of the fixed header.
pub const MANIFEST_HEADER_SIZE: usize = 64;
/// Bytes of a segment entry.
pub const MANIFEST_SEGMENT_SIZE: usize = 64;
/// Bytes of a removal entry.
pub const MANIFEST_REMOVAL_SIZE: usize = 48;

/// State of a listed segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentState {
    /// Being written; only its first sequence and creation time are recorded.
    Open,
    /// Sealed: every recorded field describes the file exactly.
    Sealed,
}

/// Why sequence numbers left the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    /// Retention deleted a whole segment.
    Retention,
    /// Compaction dropped events.
    Compaction,
    /// Salvage set damaged blocks aside (or found them missing): a reported loss.
    Salvage,
    /// A checkpoint restore rolled later events back (they were moved aside).
    Rollback,
    /// Sequence numbers reserved without being written (their events are unknown, for
    /// example a lost open segment).
    Reserved,
}

impl RemovalReason {
    /// Its code in the file.
    pub fn code(self) -> u8 {
        match self {
            RemovalReason::Retention => 1,
            RemovalReason::Compaction => 2,
            RemovalReason::Salvage => 3,
            RemovalReason::Rollback => 4,
            RemovalReason::Reserved => 5,
        }
    }

    /// The reason of a code.
    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => RemovalReason::Retention,
            2 => RemovalReason::Compaction,
            3 => RemovalReason::Salvage,
            4 => RemovalReason::Rollback,
            5 => RemovalReason::Reserved,
            _ => return None,
        })
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            RemovalReason::Retention => "retention",
            RemovalReason::Compaction => "compaction",
            RemovalReason::Salvage => "salvage",
            RemovalReason::Rollback => "rollback",
            RemovalReason::Reserved => "reserved",
        }
    }

    /// Whether events were lost to damage (as opposed to removed on purpose).
    pub fn is_loss(self) -> bool {
        matches!(self, RemovalReason::Salvage | RemovalReason::Reserved)
    }
}

/// One segment of the set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ManifestSegment {
    /// First sequence; names the file.
    pub first_seq: u64,
    /// Sequence after its last event (sealed).
    pub next_seq: u64,
    /// Events it holds (sealed).
    pub events: u64,
    /// Smallest event time, ns (sealed).
    pub min_time: i64,
    /// Largest event time, ns (sealed).
    pub max_time: i64,
    /// File length (sealed).
    pub file_len: u64,
    /// The segment header's creation time, seconds (tells a replaced file).
    pub created: u64,
    /// Kernel crc32 of the sealed header and footer bytes (sealed).
    pub checksum: u32,
    /// Open or sealed.
    pub state: SegmentState,
}

impl ManifestSegment {
    /// An open segment.
    pub fn open(first_seq: u64, created: u64) -> Self {
        ManifestSegment {
            first_seq,
            next_seq: 0,
            events: 0,
            min_time: 0,
            max_time: 0,
            file_len: 0,
            created,
            checksum: 0,
            state: SegmentState::Open,
        }
    }
}

/// A range of sequence numbers that left the journal, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Removal {
    /// First sequence removed.
    pub first_seq: u64,
    /// Sequence after the last one removed.
    pub end_seq: u64,
    /// Generation this removal created.
    pub generation: u64,
    /// When, ns since the epoch.
    pub time_ns: i64,
    /// Why.
    pub reason: RemovalReason,
}

/// The content of a manifest file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The journal it belongs to.
    pub journal_id: [u8; 16],
    /// Bumped each time history is rewritten; cursors carry it.
    pub generation: u64,
    /// No new event may get a sequence below this.
    pub next_seq_floor: u64,
    /// Last update, ns since the epoch.
    pub updated_ns: i64,
    /// The segments, oldest first.
    pub segments: Vec<ManifestSegment>,
    /// Sequence ranges that left the journal, oldest first.
    pub removals: Vec<Removal>,
}

/// Encodes a manifest.
pub fn encode_manifest(m: &Manifest) -> Vec<u8> {
    let mut out = Vec::with_capacity(
        MANIFEST_HEADER_SIZE
            + m.segments.len() * MANIFEST_SEGMENT_SIZE
            + m.removals.len() * MANIFEST_REMOVAL_SIZE
            + 4,
    );
    out.extend_from_slice(&MANIFEST_MAGIC.to_le_bytes());
    out.extend_from_slice(&MANIFEST_VERSION.to_le_bytes());
    out.extend_from_slice(&m.journal_id);
    out.extend_from_slice(&m.generation.to_le_bytes());
    out.extend_from_slice(&m.next_seq_floor.to_le_bytes());
    out.extend_from_slice(&m.updated_ns.to_le_bytes());
    out.extend_from_slice(&(m.segments.len() as u32).to_le_bytes());
    out.extend_from_slice(&(m.removals.len() as u32).to_le_bytes());
    out.extend_from_slice(&[0u8; 8]);
    for s in &m.segments {
        out.extend_from_slice(&s.first_seq.to_le_bytes());
        out.extend_from_slice(&s.next_seq.to_le_bytes());
        out.extend_from_slice(&s.events.to_le_bytes());
        out.extend_from_slice(&s.min_time.to_le_bytes());
        out.extend_from_slice(&s.max_time.to_le_bytes());
        out.extend_from_slice(&s.file_len.to_le_bytes());
        out.extend_from_slice(&s.created.to_le_bytes());
        out.extend_from_slice(&s.checksum.to_le_bytes());
        out.push(match s.state {
            SegmentState::Open => 1,
            SegmentState::Sealed => 2,
        });
        out.extend_from_slice(&[0u8; 3]);
    }
    for r in &m.removals {
        out.extend_from_slice(&r.first_seq.to_le_bytes());
        out.extend_from_slice(&r.end_seq.to_le_bytes());
        out.extend_from_slice(&r.generation.to_le_bytes());
        out.extend_from_slice(&r.time_ns.to_le_bytes());
        out.push(r.reason.code());
        out.extend_from_slice(&[0u8; 15]);
    }
    let crc = kernel_crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes and checks a manifest file.
pub fn decode_manifest(buf: &[u8]) -> Result<Manifest> {
    if buf.len() < MANIFEST_HEADER_SIZE + 4 {
        return Err(FormatError::Truncated {
            what: "manifest",
            offset: 0,
            needed: MANIFEST_HEADER_SIZE + 4,
            available: buf.len(),
        });
    }
    let (body, stored) = split_crc(buf, "manifest")?;
    let mut r = ByteReader::new(body, "manifest");
    let magic = r.u32()?;
    if magic != MANIFEST_MAGIC {
        return Err(FormatError::BadMagic {
            what: "manifest",
            expected: MANIFEST_MAGIC,
            found: magic,
        });
    }
    check_crc(body, stored, "manifest")?;
    let version = r.u32()?;
    if version != MANIFEST_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what: "manifest",
            found: version,
            supported: MANIFEST_VERSION,
        });
    }
    let journal_id = r.array::<16>()?;
    let generation = r.u64()?;
    let next_seq_floor = r.u64()?;
    let updated_ns = r.i64()?;
    let segments_n = u64::from(r.u32()?);
    let removals_n = u64::from(r.u32()?);
    let expected = MANIFEST_HEADER_SIZE as u64
        + segments_n * MANIFEST_SEGMENT_SIZE as u64
        + removals_n * MANIFEST_REMOVAL_SIZE as u64;
    if expected != body.len() as u64 {
        return Err(FormatError::SizeMismatch {
            field: "manifest length",
            declared: body.len() as u64,
            expected,
        });
    }
    r.set_what("manifest header");
    r.zeros(8)?;
    r.set_what("manifest segment");
    let mut segments = Vec::with_capacity(segments_n as usize);
    for _ in 0..segments_n {
        let first_seq = r.u64()?;
        let next_seq = r.u64()?;
        let events = r.u64()?;
        let min_time = r.i64()?;
        let max_time = r.i64()?;
        let file_len = r.u64()?;
        let created = r.u64()?;
        let checksum = r.u32()?;
        let state = match r.u8()? {
            1 => SegmentState::Open,
            2 => SegmentState::Sealed,
            _ => return Err(r.malformed_at(r.offset() - 1, "unknown segment state")),
        };
        r.zeros(3)?;
        segments.push(ManifestSegment {
            first_seq,
            next_seq,
            events,
            min_time,
            max_time,
            file_len,
            created,
            checksum,
            state,
        });
    }
    r.set_what("manifest removal");
    let mut removals = Vec::with_capacity(removals_n as usize);
    for _ in 0..removals_n {
        let first_seq = r.u64()?;
        let end_seq = r.u64()?;
        let generation = r.u64()?;
        let time_ns = r.i64()?;
        let reason = RemovalReason::from_code(r.u8()?)
            .ok_or_else(|| r.malformed_at(r.offset() - 1, "unknown removal reason"))?;
        r.zeros(15)?;
        removals.push(Removal {
            first_seq,
            end_seq,
            generation,
            time_ns,
            reason,
        });
    }
    let m = Manifest {
        journal_id,
        generation,
        next_seq_floor,
        updated_ns,
        segments,
        removals,
    };
    check_order(&m)?;
    Ok(m)
}

/// Segments must be strictly increasing by first sequence, at most the last one open.
fn check_order(m: &Manifest) -> Result<()> {
    for (i, w) in m.segments.windows(2).enumerate() {
        if w[1].first_seq <= w[0].first_seq {
            return Err(FormatError::Malformed {
                what: "manifest segment",
                offset: MANIFEST_HEADER_SIZE + (i + 1) * MANIFEST_SEGMENT_SIZE,
                reason: "segments are not in increasing order",
            });
        }
        if w[0].state == SegmentState::Open {
            return Err(FormatError::Malformed {
                what: "manifest segment",
                offset: MANIFEST_HEADER_SIZE + i * MANIFEST_SEGMENT_SIZE + 60,
                reason: "an open segment is not the last one",
            });
        }
    }
    for (i, r) in m.removals.iter().enumerate() {
        if r.end_seq < r.first_seq {
            return Err(FormatError::Malformed {
                what: "manifest removal",
                offset: MANIFEST_HEADER_SIZE
                    + m.segments.len() * MANIFEST_SEGMENT_SIZE
                    + i * MANIFEST_REMOVAL_SIZE
                    + 8,
                reason: "range ends before it starts",
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> Manifest {
        Manifest {
            journal_id: [9; 16],
            generation: 3,
            next_seq_floor: 20_001,
            updated_ns: 1_700_000_000_000_000_123,
            segments: alloc::vec![
                ManifestSegment {
                    first_seq: 1,
                    next_seq: 1_500,
                    events: 1_499,
                    min_time: 10,
                    max_time: 20,
                    file_len: 200_000,
                    created: 1_700_000_000,
                    checksum: 0xDEAD_BEEF,
                    state: SegmentState::Sealed,
                },
                ManifestSegment::open(1_500, 1_700_000_100),
            ],
            removals: alloc::vec![Removal {
                first_seq: 100,
                end_seq: 200,
                generation: 2,
                time_ns: 5,
                reason: RemovalReason::Compaction,
            }],
        }
    }

    #[test]
    fn round_trip_every_flip_and_truncation() {
        let m = sample();
        let bytes = encode_manifest(&m);
        assert_eq!(bytes.len(), 64 + 2 * 64 + 48 + 4);
        assert_eq!(decode_manifest(&bytes).unwrap(), m);
        for bit in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(decode_manifest(&b).is_err(), "bit {bit}");
        }
        for len in 0..bytes.len() {
            assert!(decode_manifest(&bytes[..len]).is_err(), "len {len}");
        }
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        ByteReader::with_base(&b[at..], at, "test").u64().unwrap()
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        ByteReader::with_base(&b[at..], at, "test").u32().unwrap()
    }

    #[test]
    fn field_offsets_are_pinned() {
        let bytes = encode_manifest(&sample());
        assert_eq!(&bytes[0..4], b"FMJV");
        assert_eq!(u64_at(&bytes, 24), 3);
        assert_eq!(u64_at(&bytes, 32), 20_001);
        assert_eq!(u32_at(&bytes, 48), 2);
        assert_eq!(u32_at(&bytes, 52), 1);
        assert_eq!(u64_at(&bytes, 64), 1);
        assert_eq!(u32_at(&bytes, 64 + 56), 0xDEAD_BEEF);
        assert_eq!(bytes[64 + 60], 2);
        assert_eq!(bytes[128 + 60], 1);
        assert_eq!(u64_at(&bytes, 192 + 8), 200);
        assert_eq!(bytes[192 + 32], 2);
    }
}
