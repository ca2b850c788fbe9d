//! Compact encoding of contexts and causality links inside userspace records.
//!
//! A kernel context is 5280 bytes, almost all zeros; storing it per event would cost
//! 25× the typical payload. Userspace records store it compactly instead:
//!
//! - context: nothing at all when every field is zero/empty; otherwise a `u32` presence
//!   mask (bit *i* = field *i* of [`crate::Context`] is non-zero) followed by the
//!   present fields in field order — integers little-endian at their kernel width,
//!   strings as a `u16` length and the bytes;
//! - link: cause `u64`, effect `u64`, type `u32`, strength `u32`, delay `i64`, then the
//!   description as a `u16` length and the bytes (34 bytes plus the description).
//!
//! The encoding is canonical: a field marked present must be non-zero, unknown mask bits
//! are rejected and every byte must be consumed, so a buffer decodes to exactly one
//! context and re-encodes to the same bytes.

use alloc::vec::Vec;

use bstr::BStr;

use crate::bytes::ByteReader as Reader;
use crate::error::{FormatError, Result};
use crate::event::{
    CONTEXT_FIELD_COUNT, CausalityLink, CausalityLinkRef, ContextRef, with_context_fields,
};

/// Longest string the compact encoding can hold.
pub const MAX_COMPACT_STRING: usize = u16::MAX as usize;

/// A value with a compact encoding.
pub(crate) trait CompactField<'a>: Sized {
    fn is_zero(&self) -> bool;
    fn encoded_len(&self) -> usize;
    fn encode(&self, out: &mut Vec<u8>);
    fn decode(r: &mut Reader<'a>) -> Result<Self>;
}

macro_rules! compact_int {
    ($($ty:ty),*) => {$(
        impl<'a> CompactField<'a> for $ty {
            fn is_zero(&self) -> bool { *self == 0 }
            fn encoded_len(&self) -> usize { core::mem::size_of::<$ty>() }
            fn encode(&self, out: &mut Vec<u8>) { out.extend_from_slice(&self.to_le_bytes()); }
            fn decode(r: &mut Reader<'a>) -> Result<Self> { Ok(<$ty>::from_le_bytes(r.array()?)) }
        }
    )*};
}
compact_int!(u32, u64, i64);

impl<'a> CompactField<'a> for &'a BStr {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
    fn encoded_len(&self) -> usize {
        2 + self.len()
    }
    fn encode(&self, out: &mut Vec<u8>) {
        // Callers check the length against MAX_COMPACT_STRING before encoding.
        let len = u16::try_from(self.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self[..usize::from(len)]);
    }
    fn decode(r: &mut Reader<'a>) -> Result<Self> {
        let len = u16::from_le_bytes(r.array()?);
        Ok(BStr::new(r.take(usize::from(len))?))
    }
}

fn check_compact_string(field: &'static str, s: &[u8]) -> Result<()> {
    if s.len() > MAX_COMPACT_STRING {
        return Err(FormatError::OverLimit {
            field,
            size: s.len() as u64,
            limit: MAX_COMPACT_STRING as u64,
        });
    }
    Ok(())
}

macro_rules! check_strings {
    ($( ($bit:literal, $field:ident, $kind:tt, $doc:literal) ),* $(,)?) => {
        /// Checks every string of the context fits the compact encoding.
        pub(crate) fn check_context(ctx: &ContextRef<'_>) -> Result<()> {
            $( check_string_field!($kind, concat!("context.", stringify!($field)), ctx.$field); )*
            Ok(())
        }
    };
}
macro_rules! check_string_field {
    (str, $name:expr, $v:expr) => {
        check_compact_string($name, $v)?
    };
    ($other:tt, $name:expr, $v:expr) => {};
}
with_context_fields!(check_strings);

macro_rules! context_codec {
    ($( ($bit:literal, $field:ident, $kind:tt, $doc:literal) ),* $(,)?) => {
        /// Bytes [`encode_context`] writes for `ctx`.
        pub(crate) fn context_len(ctx: &ContextRef<'_>) -> usize {
            let mut len = 0;
            $( if !ctx.$field.is_zero() { len += ctx.$field.encoded_len(); } )*
            if len == 0 { 0 } else { len + 4 }
        }

        /// Appends the compact encoding of `ctx` (nothing for an all-zero context).
        /// Strings must have been checked with [`check_context`].
        pub(crate) fn encode_context(ctx: &ContextRef<'_>, out: &mut Vec<u8>) {
            let mut mask = 0u32;
            $( if !ctx.$field.is_zero() { mask |= 1 << $bit; } )*
            if mask == 0 {
                return;
            }
            out.extend_from_slice(&mask.to_le_bytes());
            $( if mask & (1 << $bit) != 0 { ctx.$field.encode(out); } )*
        }

        /// Decodes a whole compact context section.
        pub(crate) fn decode_context<'a>(buf: &'a [u8], base: usize) -> Result<ContextRef<'a>> {
            let mut ctx = ContextRef::default();
            if buf.is_empty() {
                return Ok(ctx);
            }
            let mut r = Reader::with_base(buf, base, "context");
            let mask = u32::from_le_bytes(r.array()?);
            if mask == 0 {
                return Err(r.malformed("empty presence mask (an empty context has no bytes)"));
            }
            if mask >> CONTEXT_FIELD_COUNT != 0 {
                return Err(r.malformed("unknown bits in the presence mask"));
            }
            $(
                if mask & (1 << $bit) != 0 {
                    ctx.$field = CompactField::decode(&mut r)?;
                    if ctx.$field.is_zero() {
                        return Err(r.malformed(concat!(stringify!($field), " marked present but empty")));
                    }
                }
            )*
            if !r.is_empty() {
                return Err(r.malformed("bytes after the last present field"));
            }
            Ok(ctx)
        }
    };
}
with_context_fields!(context_codec);

/// Bytes one link takes in the compact encoding.
pub(crate) fn link_len(link: &CausalityLink) -> usize {
    34 + link.description.len()
}

/// Appends one compact link. The description must fit [`MAX_COMPACT_STRING`].
pub(crate) fn encode_link(link: &CausalityLink, out: &mut Vec<u8>) {
    link.cause_event_id.encode(out);
    link.effect_event_id.encode(out);
    link.causality_type.encode(out);
    link.strength.encode(out);
    link.delay_ns.encode(out);
    BStr::new(&link.description).encode(out);
}

/// Checks a link fits the compact encoding.
pub(crate) fn check_link(link: &CausalityLink) -> Result<()> {
    check_compact_string("causality link description", &link.description)
}

/// Walks exactly `count` compact links filling all of `buf`, handing each to `f`.
pub(crate) fn walk_links<'a>(
    buf: &'a [u8],
    base: usize,
    count: usize,
    mut f: impl FnMut(CausalityLinkRef<'a>),
) -> Result<()> {
    let mut r = Reader::with_base(buf, base, "causality links");
    for _ in 0..count {
        f(CausalityLinkRef {
            cause_event_id: u64::decode(&mut r)?,
            effect_event_id: u64::decode(&mut r)?,
            causality_type: u32::decode(&mut r)?,
            strength: u32::decode(&mut r)?,
            delay_ns: i64::decode(&mut r)?,
            description: <&BStr>::decode(&mut r)?,
        });
    }
    if !r.is_empty() {
        return Err(r.malformed("bytes after the last causality link"));
    }
    Ok(())
}

/// Decodes exactly `count` compact links filling all of `buf`.
pub(crate) fn decode_links(buf: &[u8], base: usize, count: usize) -> Result<Vec<CausalityLink>> {
    // Each link takes at least 34 bytes: never reserve more than the buffer can hold.
    let mut links = Vec::with_capacity(count.min(buf.len() / 34));
    walk_links(buf, base, count, |l| links.push(l.to_owned()))?;
    Ok(links)
}
