//! Userspace event ⇄ kernel binary event.
//!
//! A kernel event is header (132) + context (5280) + payload + metadata + causality
//! links (160 each), sealed with the kernel crc32 (see `docs/format.md`). Every field of
//! [`Event`] has a place in that layout, so the conversion is lossless both ways for
//! every event the layout can carry; an event it cannot carry (a path of 4096 bytes or
//! more, an agent id of 64 or more, a string with a NUL byte, more than 256 links, a
//! payload over 64 KiB, metadata over 2 KiB) is refused with a [`ConversionError`]
//! naming the field — never truncated.

use vexfs_journal_format::kernel::{check_kernel_limits, decode_kernel_event, kernel_event_size};
use vexfs_journal_format::{Event, encode_kernel_event};

use crate::error::ConversionError;

/// The exact kernel binary event for `event`: header + 5280-byte context + payload +
/// metadata + causality links, checksum sealed.
///
/// ```
/// use vexfs_journal_format::{Event, FsOp};
/// use vexfs_journal_kernel_codec::{convert_from_kernel_format, convert_to_kernel_format};
/// let ev = Event::filesystem(FsOp::Write).path("/models/a.bin").inode(7);
/// let bytes = convert_to_kernel_format(&ev)?;
/// assert_eq!(bytes.len(), 132 + 5280);
/// assert_eq!(convert_from_kernel_format(&bytes)?, ev);
/// # Ok::<(), vexfs_journal_kernel_codec::ConversionError>(())
/// ```
pub fn convert_to_kernel_format(event: &Event) -> Result<Vec<u8>, ConversionError> {
    let mut out = Vec::with_capacity(kernel_event_size(event));
    convert_into(event, &mut out)?;
    Ok(out)
}

/// Appends the kernel binary event for `event` to `out` and returns its size. On error
/// `out` is left as it was.
pub fn convert_into(event: &Event, out: &mut Vec<u8>) -> Result<usize, ConversionError> {
    encode_kernel_event(event, out).map_err(ConversionError::from_encode)
}

/// Checks that `event` fits the kernel layout, naming the first field that does not,
/// without encoding it.
pub fn check_kernel_fit(event: &Event) -> Result<(), ConversionError> {
    check_kernel_limits(event).map_err(ConversionError::from_encode)
}

/// The event encoded by `data`, which must hold exactly one kernel event: checks sizes,
/// checksum, version, limits and every `char[N]` field.
pub fn convert_from_kernel_format(data: &[u8]) -> Result<Event, ConversionError> {
    let (event, size) = decode_kernel_event(data).map_err(ConversionError::Decode)?;
    if size != data.len() {
        return Err(ConversionError::TrailingBytes {
            size,
            extra: data.len() - size,
        });
    }
    Ok(event)
}

/// Decodes the kernel event at the start of `data` (more may follow); returns it and
/// its size.
pub fn decode_prefix(data: &[u8]) -> Result<(Event, usize), ConversionError> {
    decode_kernel_event(data).map_err(ConversionError::Decode)
}
