//! The userspace event record stored in segment blocks.
//!
//! Layout: kernel event header (132) + userspace extension (72) + compact context
//! (`context_size`) + payload (`payload_size`) + metadata (`metadata_size`) + compact
//! causality links (`causality_link_count` of them, filling the rest of `event_size`).
//! The header's `checksum` is the kernel crc32 of all `event_size` bytes with the field
//! zeroed, exactly as for a kernel event. See [`crate::compact`] for the compact sections.

use alloc::vec::Vec;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::compact::{self, MAX_COMPACT_STRING};
use crate::consts::{EVENT_HEADER_SIZE, EVENT_VERSION, RECORD_EXT_SIZE};
use crate::error::{FormatError, Result};
use crate::event::{CausalityLinkRef, ContextRef, Event, Timestamp};
use crate::kernel::{
    SectionSizes, event_from_header, header_for, seal_event_checksum, section,
    verify_event_checksum,
};
use crate::layout::{RawEventHeader, RawRecordExt};
use crate::types::{EventFlags, EventType, Priority};

/// `userspace_flags` bit: context and links use the compact encoding, version 1.
/// Every record this crate writes sets it; records without it are rejected.
pub const RECORD_FLAG_COMPACT_V1: u32 = 0x0000_0001;
/// `userspace_flags` bit set on the first record after events discarded by the
/// drop-oldest policy, so `verify` can tell a deliberate gap from lost data.
pub const RECORD_FLAG_GAP_BEFORE: u32 = 0x0000_0002;

/// Fixed part of a record: kernel header and userspace extension.
pub const RECORD_FIXED_SIZE: usize = EVENT_HEADER_SIZE + RECORD_EXT_SIZE;

/// Largest record: `event_size` is a `u32`.
pub const MAX_RECORD_SIZE: usize = u32::MAX as usize;

/// The userspace extension of a stored record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct RecordExt {
    /// Userspace flag bits other than the encoding bit.
    pub userspace_flags: u32,
    /// Time from emission to encoding, ns.
    pub emission_latency_ns: u64,
    /// Position in the emission buffer.
    pub buffer_position: u64,
    /// Cross-boundary transaction id (0: none).
    pub cross_boundary_id: u64,
    /// Userspace sequence number.
    pub userspace_sequence: u64,
    /// When the writer encoded the event, ns since the Unix epoch.
    pub processing_timestamp: u64,
    /// When the block holding the event was written, ns since the Unix epoch.
    pub persistence_timestamp: u64,
    /// Number of write retries.
    pub retry_count: u32,
}

impl RecordExt {
    fn to_raw(self) -> RawRecordExt {
        RawRecordExt {
            userspace_flags: U32::new(self.userspace_flags | RECORD_FLAG_COMPACT_V1),
            emission_latency_ns: U64::new(self.emission_latency_ns),
            buffer_position: U64::new(self.buffer_position),
            cross_boundary_id: U64::new(self.cross_boundary_id),
            userspace_sequence: U64::new(self.userspace_sequence),
            processing_timestamp: U64::new(self.processing_timestamp),
            persistence_timestamp: U64::new(self.persistence_timestamp),
            retry_count: U32::new(self.retry_count),
            reserved: [U32::new(0); 4],
        }
    }

    fn from_raw(raw: &RawRecordExt) -> Self {
        RecordExt {
            userspace_flags: raw.userspace_flags.get() & !RECORD_FLAG_COMPACT_V1,
            emission_latency_ns: raw.emission_latency_ns.get(),
            buffer_position: raw.buffer_position.get(),
            cross_boundary_id: raw.cross_boundary_id.get(),
            userspace_sequence: raw.userspace_sequence.get(),
            processing_timestamp: raw.processing_timestamp.get(),
            persistence_timestamp: raw.persistence_timestamp.get(),
            retry_count: raw.retry_count.get(),
        }
    }
}

/// Checks that `ev` can be stored as a record (compact strings ≤ 65535 bytes, total
/// size within `u32`); returns its encoded size.
pub fn check_record(ev: &Event) -> Result<usize> {
    let ctx = ev.context.as_ref();
    compact::check_context(&ctx)?;
    let mut size = RECORD_FIXED_SIZE as u64
        + compact::context_len(&ctx) as u64
        + ev.payload.len() as u64
        + ev.metadata.len() as u64;
    for link in &ev.links {
        compact::check_link(link)?;
        size += compact::link_len(link) as u64;
    }
    if size > MAX_RECORD_SIZE as u64 {
        return Err(FormatError::OverLimit {
            field: "event_size",
            size,
            limit: MAX_RECORD_SIZE as u64,
        });
    }
    Ok(size as usize)
}

/// Appends the record encoding of `ev` to `out`, checksum sealed; returns its size.
/// Fails without touching `out` when the event cannot be stored.
pub fn encode_record(ev: &Event, ext: &RecordExt, out: &mut Vec<u8>) -> Result<usize> {
    let size = check_record(ev)?;
    let ctx = ev.context.as_ref();
    let sizes = SectionSizes {
        event_size: size as u32,
        context_size: compact::context_len(&ctx) as u32,
        payload_size: ev.payload.len() as u32,
        metadata_size: ev.metadata.len() as u32,
        link_count: ev.links.len() as u32,
    };
    let start = out.len();
    out.reserve(size);
    out.extend_from_slice(header_for(ev, sizes).as_bytes());
    out.extend_from_slice(ext.to_raw().as_bytes());
    compact::encode_context(&ctx, out);
    out.extend_from_slice(&ev.payload);
    out.extend_from_slice(&ev.metadata);
    for link in &ev.links {
        compact::encode_link(link, out);
    }
    debug_assert_eq!(out.len() - start, size);
    seal_event_checksum(&mut out[start..]);
    Ok(size)
}

/// A validated, borrowed view of one stored record.
#[derive(Clone, Copy, Debug)]
pub struct RecordView<'a> {
    /// The kernel header.
    pub header: &'a RawEventHeader,
    /// The userspace extension.
    pub raw_ext: &'a RawRecordExt,
    /// The decoded context.
    pub context: ContextRef<'a>,
    /// The payload.
    pub payload: &'a [u8],
    /// The metadata.
    pub metadata: &'a [u8],
    links: &'a [u8],
    links_offset: usize,
    /// The whole record.
    pub bytes: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// Parses and fully validates the record at the start of `buf`: sizes, checksum,
    /// version, encoding flag, compact sections. Use [`RecordView::record_len`] to step
    /// to the next record.
    pub fn parse(buf: &'a [u8]) -> Result<RecordView<'a>> {
        let view = Self::parse_structure(buf)?;
        verify_event_checksum(view.bytes, "event record")?;
        Ok(view)
    }

    /// Like [`RecordView::parse`] but trusts the checksum (for data whose enclosing
    /// block checksum was just verified). Structure is still fully validated, so no
    /// input can panic or be misread past its bounds.
    pub fn parse_trusted(buf: &'a [u8]) -> Result<RecordView<'a>> {
        Self::parse_structure(buf)
    }

    fn parse_structure(buf: &'a [u8]) -> Result<RecordView<'a>> {
        let (header, rest) =
            RawEventHeader::ref_from_prefix(buf).map_err(|_| FormatError::Truncated {
                what: "event record header",
                offset: 0,
                needed: RECORD_FIXED_SIZE,
                available: buf.len(),
            })?;
        let (raw_ext, _) =
            RawRecordExt::ref_from_prefix(rest).map_err(|_| FormatError::Truncated {
                what: "event record extension",
                offset: EVENT_HEADER_SIZE,
                needed: RECORD_EXT_SIZE,
                available: rest.len(),
            })?;
        let event_size = header.event_size.get() as usize;
        let context_size = header.context_size.get() as usize;
        let payload_size = header.payload_size.get() as usize;
        let metadata_size = header.metadata_size.get() as usize;
        let fixed = RECORD_FIXED_SIZE as u64
            + context_size as u64
            + payload_size as u64
            + metadata_size as u64;
        if (event_size as u64) < fixed {
            return Err(FormatError::SizeMismatch {
                field: "event_size",
                declared: event_size as u64,
                expected: fixed,
            });
        }
        let bytes = buf.get(..event_size).ok_or(FormatError::Truncated {
            what: "event record",
            offset: 0,
            needed: event_size,
            available: buf.len(),
        })?;
        if header.event_version.get() != EVENT_VERSION {
            return Err(FormatError::UnsupportedVersion {
                what: "event record",
                found: header.event_version.get(),
                supported: EVENT_VERSION,
            });
        }
        if raw_ext.userspace_flags.get() & RECORD_FLAG_COMPACT_V1 == 0 {
            return Err(FormatError::UnsupportedVersion {
                what: "event record encoding",
                found: 0,
                supported: RECORD_FLAG_COMPACT_V1,
            });
        }
        if raw_ext.reserved.iter().any(|r| r.get() != 0) {
            return Err(FormatError::Malformed {
                what: "event record extension",
                offset: EVENT_HEADER_SIZE + 56,
                reason: "reserved words are not zero",
            });
        }
        let mut pos = RECORD_FIXED_SIZE;
        let ctx_bytes = section(bytes, &mut pos, context_size)?;
        let context = compact::decode_context(ctx_bytes, RECORD_FIXED_SIZE)?;
        let payload = section(bytes, &mut pos, payload_size)?;
        let metadata = section(bytes, &mut pos, metadata_size)?;
        let links_offset = pos;
        let links = bytes.get(pos..).unwrap_or_default();
        let count = header.causality_link_count.get() as usize;
        compact::walk_links(links, links_offset, count, |_| {})?;
        Ok(RecordView {
            header,
            raw_ext,
            context,
            payload,
            metadata,
            links,
            links_offset,
            bytes,
        })
    }

    /// Bytes of this record (`event_size`).
    pub fn record_len(&self) -> usize {
        self.bytes.len()
    }

    /// Global sequence number.
    pub fn sequence(&self) -> u64 {
        self.header.global_sequence.get()
    }

    /// Event id.
    pub fn event_id(&self) -> u64 {
        self.header.event_id.get()
    }

    /// Event type.
    pub fn event_type(&self) -> EventType {
        EventType::from_code(self.header.event_type.get())
    }

    /// Flags.
    pub fn flags(&self) -> EventFlags {
        EventFlags::from_bits_retain(self.header.event_flags.get())
    }

    /// Priority.
    pub fn priority(&self) -> Priority {
        Priority::from_code(self.header.event_priority.get())
    }

    /// Timestamp.
    pub fn timestamp(&self) -> Timestamp {
        Timestamp::from(&self.header.timestamp)
    }

    /// The userspace extension.
    pub fn ext(&self) -> RecordExt {
        RecordExt::from_raw(self.raw_ext)
    }

    /// Visits the causality links without allocating.
    pub fn for_each_link(&self, f: impl FnMut(CausalityLinkRef<'a>)) {
        // Validated by parse; a second walk cannot fail.
        let count = self.header.causality_link_count.get() as usize;
        let _ = compact::walk_links(self.links, self.links_offset, count, f);
    }

    /// The owned event.
    pub fn to_event(&self) -> Event {
        let mut ev = event_from_header(self.header);
        ev.context = self.context.to_owned();
        ev.payload = self.payload.to_vec();
        ev.metadata = self.metadata.to_vec();
        let count = self.header.causality_link_count.get() as usize;
        ev.links = compact::decode_links(self.links, self.links_offset, count).unwrap_or_default();
        ev
    }
}

/// Byte offset of the journal sequence (`userspace_sequence`) in a record.
pub const RECORD_SEQ_OFFSET: usize = EVENT_HEADER_SIZE + 28;

/// Size and journal sequence of the record at the start of `buf`, read from their fixed
/// offsets without parsing it (for skipping through a block).
pub fn peek_record(buf: &[u8]) -> Option<(usize, u64)> {
    let (size, seq) = peek_record_fields(buf)?;
    (size >= RECORD_FIXED_SIZE && size <= buf.len()).then_some((size, seq))
}

/// The declared size and journal sequence at their fixed offsets, unchecked (`None`
/// when `buf` is shorter than them): for a reader holding only a record's start.
pub fn peek_record_fields(buf: &[u8]) -> Option<(usize, u64)> {
    let size = buf
        .get(crate::layout::EVENT_SIZE_OFFSET..crate::layout::EVENT_SIZE_OFFSET + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)? as usize;
    let seq = buf
        .get(RECORD_SEQ_OFFSET..RECORD_SEQ_OFFSET + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)?;
    Some((size, seq))
}

/// Decodes the record at the start of `buf` (checksum verified); returns the event,
/// its extension and its size.
pub fn decode_record(buf: &[u8]) -> Result<(Event, RecordExt, usize)> {
    let view = RecordView::parse(buf)?;
    Ok((view.to_event(), view.ext(), view.record_len()))
}

/// Longest string a record can hold.
pub const MAX_RECORD_STRING: usize = MAX_COMPACT_STRING;
