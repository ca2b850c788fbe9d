//! The kernel event: header (132) + context (5280) + payload + metadata + links (160 each),
//! sealed with the kernel crc32 over the whole event.

use alloc::vec::Vec;

use bstr::BStr;
use zerocopy::little_endian::{I64, U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::checksum::crc32_with_zeroed_field;
use crate::consts::*;
use crate::error::{FormatError, Result};
use crate::event::{CausalityLink, Context, ContextRef, Event, Timestamp, with_context_fields};
use crate::layout::{
    EVENT_CHECKSUM_OFFSET, RawCausalityLink, RawContext, RawEventHeader, RawTimestamp,
};
use crate::types::{EventFlags, EventType, Priority};

/// Sizes of an event's sections, as written in its header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SectionSizes {
    /// Total bytes of the event.
    pub event_size: u32,
    /// Bytes of the context section.
    pub context_size: u32,
    /// Bytes of the payload.
    pub payload_size: u32,
    /// Bytes of the metadata.
    pub metadata_size: u32,
    /// Number of causality links.
    pub link_count: u32,
}

impl From<Timestamp> for RawTimestamp {
    fn from(t: Timestamp) -> Self {
        RawTimestamp {
            ktime: I64::new(t.ktime_ns),
            sequence: U64::new(t.sequence),
            cpu_id: U32::new(t.cpu_id),
            process_id: U32::new(t.process_id),
        }
    }
}

impl From<&RawTimestamp> for Timestamp {
    fn from(t: &RawTimestamp) -> Self {
        Timestamp {
            ktime_ns: t.ktime.get(),
            sequence: t.sequence.get(),
            cpu_id: t.cpu_id.get(),
            process_id: t.process_id.get(),
        }
    }
}

/// The header of `ev` with the given section sizes and a zero checksum.
pub fn header_for(ev: &Event, sizes: SectionSizes) -> RawEventHeader {
    RawEventHeader {
        event_id: U64::new(ev.event_id),
        event_type: U32::new(ev.event_type.code()),
        event_subtype: U32::new(ev.subtype),
        timestamp: ev.timestamp.into(),
        global_sequence: U64::new(ev.global_sequence),
        local_sequence: U64::new(ev.local_sequence),
        event_flags: U32::new(ev.flags.bits()),
        event_priority: U32::new(ev.priority.code()),
        event_size: U32::new(sizes.event_size),
        context_size: U32::new(sizes.context_size),
        payload_size: U32::new(sizes.payload_size),
        metadata_size: U32::new(sizes.metadata_size),
        event_version: U32::new(EVENT_VERSION),
        checksum: U32::new(0),
        compression_type: U32::new(ev.compression_type),
        encryption_type: U32::new(ev.encryption_type),
        causality_link_count: U32::new(sizes.link_count),
        parent_event_id: U64::new(ev.parent_event_id),
        root_cause_event_id: U64::new(ev.root_cause_event_id),
        agent_visibility_mask: U64::new(ev.agent_visibility_mask),
        agent_relevance_score: U32::new(ev.agent_relevance_score),
        replay_priority: U32::new(ev.replay_priority),
    }
}

/// An event with the header's fields and empty sections.
pub fn event_from_header(h: &RawEventHeader) -> Event {
    Event {
        event_id: h.event_id.get(),
        event_type: EventType::from_code(h.event_type.get()),
        subtype: h.event_subtype.get(),
        timestamp: Timestamp::from(&h.timestamp),
        global_sequence: h.global_sequence.get(),
        local_sequence: h.local_sequence.get(),
        flags: EventFlags::from_bits_retain(h.event_flags.get()),
        priority: Priority::from_code(h.event_priority.get()),
        compression_type: h.compression_type.get(),
        encryption_type: h.encryption_type.get(),
        parent_event_id: h.parent_event_id.get(),
        root_cause_event_id: h.root_cause_event_id.get(),
        agent_visibility_mask: h.agent_visibility_mask.get(),
        agent_relevance_score: h.agent_relevance_score.get(),
        replay_priority: h.replay_priority.get(),
        context: Context::default(),
        payload: Vec::new(),
        metadata: Vec::new(),
        links: Vec::new(),
    }
}

/// A Rust value stored in a fixed kernel field.
trait KernelField<'a, R>: Sized {
    fn put(&self, raw: &mut R, field: &'static str) -> Result<()>;
    fn get(raw: &'a R, field: &'static str) -> Result<Self>;
    /// Whether `put` would succeed, without a destination.
    fn fits(&self, _field: &'static str) -> Result<()> {
        Ok(())
    }
}

/// [`KernelField::fits`] with the raw field type taken from an accessor.
fn fits_field<'a, T: KernelField<'a, R>, R>(
    value: &T,
    _: fn(&RawContext) -> &R,
    field: &'static str,
) -> Result<()> {
    value.fits(field)
}

macro_rules! kernel_int {
    ($($ty:ty => $raw:ty),*) => {$(
        impl<'a> KernelField<'a, $raw> for $ty {
            fn put(&self, raw: &mut $raw, _: &'static str) -> Result<()> {
                *raw = <$raw>::new(*self);
                Ok(())
            }
            fn get(raw: &'a $raw, _: &'static str) -> Result<Self> {
                Ok(raw.get())
            }
        }
    )*};
}
kernel_int!(u32 => U32, u64 => U64, i64 => I64);

/// Checks `s` fits a `char[capacity]` field: shorter than `capacity`, no NUL inside.
pub fn check_fixed_string(field: &'static str, s: &[u8], capacity: usize) -> Result<()> {
    if let Some(position) = s.iter().position(|b| *b == 0) {
        return Err(FormatError::ContainsNul { field, position });
    }
    if s.len() >= capacity {
        return Err(FormatError::StringTooLong {
            field,
            len: s.len(),
            capacity,
        });
    }
    Ok(())
}

impl<'a, const N: usize> KernelField<'a, [u8; N]> for &'a BStr {
    fn fits(&self, field: &'static str) -> Result<()> {
        check_fixed_string(field, self, N)
    }

    fn put(&self, raw: &mut [u8; N], field: &'static str) -> Result<()> {
        check_fixed_string(field, self, N)?;
        // check_fixed_string guarantees self.len() < N.
        if let Some(dst) = raw.get_mut(..self.len()) {
            dst.copy_from_slice(self);
        }
        Ok(())
    }

    fn get(raw: &'a [u8; N], field: &'static str) -> Result<Self> {
        let end = raw
            .iter()
            .position(|b| *b == 0)
            .ok_or(FormatError::Unterminated { field })?;
        let (text, padding) = raw.split_at(end);
        // An OR over the padding, not `any`: with no early exit it vectorises, and the
        // padding of a path field is usually ~4 KiB.
        if padding.iter().fold(0u8, |acc, b| acc | b) != 0 {
            return Err(FormatError::NonZeroPadding { field });
        }
        Ok(BStr::new(text))
    }
}

macro_rules! kernel_context_codec {
    ($( ($bit:literal, $field:ident, $kind:tt, $doc:literal) ),* $(,)?) => {
        fn context_fits(ctx: &ContextRef<'_>) -> Result<()> {
            $( fits_field(&ctx.$field, |r| &r.$field, concat!("context.", stringify!($field)))?; )*
            Ok(())
        }

        fn put_context(ctx: &ContextRef<'_>, raw: &mut RawContext) -> Result<()> {
            $( KernelField::put(&ctx.$field, &mut raw.$field, concat!("context.", stringify!($field)))?; )*
            Ok(())
        }

        /// Reads a kernel context, checking every `char[N]` field.
        pub fn context_from_raw(raw: &RawContext) -> Result<ContextRef<'_>> {
            Ok(ContextRef {
                $( $field: KernelField::get(&raw.$field, concat!("context.", stringify!($field)))?, )*
            })
        }
    };
}
with_context_fields!(kernel_context_codec);

/// Checks that `ev` fits the kernel layout, naming the first field that does not.
pub fn check_kernel_limits(ev: &Event) -> Result<()> {
    limit("payload", ev.payload.len(), MAX_PAYLOAD_SIZE)?;
    limit("metadata", ev.metadata.len(), MAX_METADATA_SIZE)?;
    limit("causality link count", ev.links.len(), MAX_CAUSALITY_LINKS)?;
    context_fits(&ev.context.as_ref())?;
    for link in &ev.links {
        check_fixed_string(
            "causality link description",
            &link.description,
            LINK_DESCRIPTION_CAPACITY,
        )?;
    }
    Ok(())
}

fn limit(field: &'static str, size: usize, max: usize) -> Result<()> {
    if size > max {
        return Err(FormatError::OverLimit {
            field,
            size: size as u64,
            limit: max as u64,
        });
    }
    Ok(())
}

/// Size of the kernel encoding of `ev` (no limits checked).
pub fn kernel_event_size(ev: &Event) -> usize {
    EVENT_HEADER_SIZE
        + CONTEXT_SIZE
        + ev.payload.len()
        + ev.metadata.len()
        + ev.links.len() * CAUSALITY_LINK_SIZE
}

/// Appends the kernel encoding of `ev` to `out`, checksum sealed; returns its size.
///
/// Fails without touching `out` when a field does not fit the kernel layout.
pub fn encode_kernel_event(ev: &Event, out: &mut Vec<u8>) -> Result<usize> {
    limit("payload", ev.payload.len(), MAX_PAYLOAD_SIZE)?;
    limit("metadata", ev.metadata.len(), MAX_METADATA_SIZE)?;
    limit("causality link count", ev.links.len(), MAX_CAUSALITY_LINKS)?;
    let size = kernel_event_size(ev);
    let sizes = SectionSizes {
        event_size: size as u32,
        context_size: CONTEXT_SIZE as u32,
        payload_size: ev.payload.len() as u32,
        metadata_size: ev.metadata.len() as u32,
        link_count: ev.links.len() as u32,
    };
    let start = out.len();
    out.resize(start + size, 0);
    let result = fill_kernel_event(ev, sizes, &mut out[start..]);
    if let Err(e) = result {
        out.truncate(start);
        return Err(e);
    }
    Ok(size)
}

fn fill_kernel_event(ev: &Event, sizes: SectionSizes, buf: &mut [u8]) -> Result<()> {
    let (head, rest) = buf.split_at_mut(EVENT_HEADER_SIZE);
    header_for(ev, sizes)
        .write_to(head)
        .map_err(|_| internal("header"))?;
    let (ctx_bytes, rest) = rest.split_at_mut(CONTEXT_SIZE);
    let raw_ctx = RawContext::mut_from_bytes(ctx_bytes).map_err(|_| internal("context"))?;
    put_context(&ev.context.as_ref(), raw_ctx)?;
    let (payload, rest) = rest.split_at_mut(ev.payload.len());
    payload.copy_from_slice(&ev.payload);
    let (metadata, mut rest) = rest.split_at_mut(ev.metadata.len());
    metadata.copy_from_slice(&ev.metadata);
    for link in &ev.links {
        let (slot, tail) = rest.split_at_mut(CAUSALITY_LINK_SIZE);
        let raw = RawCausalityLink::mut_from_bytes(slot).map_err(|_| internal("link"))?;
        raw.cause_event_id = U64::new(link.cause_event_id);
        raw.effect_event_id = U64::new(link.effect_event_id);
        raw.causality_type = U32::new(link.causality_type);
        raw.causality_strength = U32::new(link.strength);
        raw.causality_delay = I64::new(link.delay_ns);
        KernelField::put(
            &BStr::new(&link.description),
            &mut raw.description,
            "causality link description",
        )?;
        rest = tail;
    }
    seal_event_checksum(buf);
    Ok(())
}

/// Never returned for well-formed arguments: zerocopy conversions of slices whose
/// lengths this module computed itself.
fn internal(what: &'static str) -> FormatError {
    FormatError::Malformed {
        what,
        offset: 0,
        reason: "internal layout error",
    }
}

/// Computes and stores the checksum of the event (kernel or record) that fills `event`.
pub fn seal_event_checksum(event: &mut [u8]) {
    if let Some(crc) = crc32_with_zeroed_field(event, EVENT_CHECKSUM_OFFSET)
        && let Some(field) = event.get_mut(EVENT_CHECKSUM_OFFSET..EVENT_CHECKSUM_OFFSET + 4)
    {
        field.copy_from_slice(&crc.to_le_bytes());
    }
}

/// Checks the checksum of the event that fills `event` (its `event_size` bytes).
pub fn verify_event_checksum(event: &[u8], what: &'static str) -> Result<()> {
    let stored = event
        .get(EVENT_CHECKSUM_OFFSET..EVENT_CHECKSUM_OFFSET + 4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(u32::from_le_bytes)
        .ok_or(FormatError::Truncated {
            what,
            offset: 0,
            needed: EVENT_HEADER_SIZE,
            available: event.len(),
        })?;
    let computed = crc32_with_zeroed_field(event, EVENT_CHECKSUM_OFFSET).unwrap_or(!stored);
    crate::bytes::same_crc(stored, computed, what)
}

/// Reads the header at the start of `buf` and checks the buffer holds `event_size`
/// bytes; returns the header and the event's bytes.
pub fn split_event<'a>(
    buf: &'a [u8],
    what: &'static str,
) -> Result<(&'a RawEventHeader, &'a [u8])> {
    let (header, _) = RawEventHeader::ref_from_prefix(buf).map_err(|_| FormatError::Truncated {
        what,
        offset: 0,
        needed: EVENT_HEADER_SIZE,
        available: buf.len(),
    })?;
    let size = header.event_size.get() as usize;
    if size < EVENT_HEADER_SIZE {
        return Err(FormatError::SizeMismatch {
            field: "event_size",
            declared: size as u64,
            expected: EVENT_HEADER_SIZE as u64,
        });
    }
    let bytes = buf.get(..size).ok_or(FormatError::Truncated {
        what,
        offset: 0,
        needed: size,
        available: buf.len(),
    })?;
    Ok((header, bytes))
}

/// Decodes the kernel event at the start of `buf`; returns it and its size.
///
/// Checks, in order: the header is complete; `event_size` agrees with the section
/// sizes; the buffer holds the whole event; the checksum; the version; the limits; every
/// `char[N]` field is NUL-terminated and zero-padded.
pub fn decode_kernel_event(buf: &[u8]) -> Result<(Event, usize)> {
    let (h, bytes) = split_event_sized(buf)?;
    verify_event_checksum(bytes, "kernel event")?;
    if h.event_version.get() != EVENT_VERSION {
        return Err(FormatError::UnsupportedVersion {
            what: "kernel event",
            found: h.event_version.get(),
            supported: EVENT_VERSION,
        });
    }
    let payload_size = h.payload_size.get() as usize;
    let metadata_size = h.metadata_size.get() as usize;
    let link_count = h.causality_link_count.get() as usize;
    limit("payload", payload_size, MAX_PAYLOAD_SIZE)?;
    limit("metadata", metadata_size, MAX_METADATA_SIZE)?;
    limit("causality link count", link_count, MAX_CAUSALITY_LINKS)?;

    let mut ev = event_from_header(h);
    let mut pos = EVENT_HEADER_SIZE;
    let ctx_bytes = section(bytes, &mut pos, CONTEXT_SIZE)?;
    let raw_ctx = RawContext::ref_from_bytes(ctx_bytes).map_err(|_| internal("context"))?;
    ev.context = context_from_raw(raw_ctx)?.to_owned();
    ev.payload = section(bytes, &mut pos, payload_size)?.to_vec();
    ev.metadata = section(bytes, &mut pos, metadata_size)?.to_vec();
    ev.links = Vec::with_capacity(link_count);
    for _ in 0..link_count {
        let raw = RawCausalityLink::ref_from_bytes(section(bytes, &mut pos, CAUSALITY_LINK_SIZE)?)
            .map_err(|_| internal("link"))?;
        let description: &BStr = KernelField::get(&raw.description, "causality link description")?;
        ev.links.push(CausalityLink {
            cause_event_id: raw.cause_event_id.get(),
            effect_event_id: raw.effect_event_id.get(),
            causality_type: raw.causality_type.get(),
            strength: raw.causality_strength.get(),
            delay_ns: raw.causality_delay.get(),
            description: description.into(),
        });
    }
    Ok((ev, bytes.len()))
}

fn split_event_sized(buf: &[u8]) -> Result<(&RawEventHeader, &[u8])> {
    let (h, _) = RawEventHeader::ref_from_prefix(buf).map_err(|_| FormatError::Truncated {
        what: "kernel event header",
        offset: 0,
        needed: EVENT_HEADER_SIZE,
        available: buf.len(),
    })?;
    let context_size = u64::from(h.context_size.get());
    if context_size != CONTEXT_SIZE as u64 {
        return Err(FormatError::SizeMismatch {
            field: "context_size",
            declared: context_size,
            expected: CONTEXT_SIZE as u64,
        });
    }
    let expected = EVENT_HEADER_SIZE as u64
        + context_size
        + u64::from(h.payload_size.get())
        + u64::from(h.metadata_size.get())
        + u64::from(h.causality_link_count.get()) * CAUSALITY_LINK_SIZE as u64;
    let declared = u64::from(h.event_size.get());
    if declared != expected {
        return Err(FormatError::SizeMismatch {
            field: "event_size",
            declared,
            expected,
        });
    }
    let bytes = buf.get(..declared as usize).ok_or(FormatError::Truncated {
        what: "kernel event",
        offset: 0,
        needed: declared as usize,
        available: buf.len(),
    })?;
    Ok((h, bytes))
}

/// Takes the next `len` bytes of `bytes` at `*pos`.
pub(crate) fn section<'a>(bytes: &'a [u8], pos: &mut usize, len: usize) -> Result<&'a [u8]> {
    let start = *pos;
    let out = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or(FormatError::Truncated {
            what: "event section",
            offset: start,
            needed: len,
            available: bytes.len().saturating_sub(start),
        })?;
    *pos = start + len;
    Ok(out)
}
