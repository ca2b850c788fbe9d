//! The kernel's bytes, for the VexFS semantic journal: everything about the kernel
//! module's on-disk and wire layouts that needs no journal, no engine and no runtime.
//! Tooling that reads or writes kernel images uses this crate alone; the bridge that
//! imports into a journal (`vexfs-journal-kernel`) is built on it.
//!
//! - [`convert`]: userspace [`Event`] ⇄ the kernel's exact binary event
//!   ([`convert_to_kernel_format`], [`convert_from_kernel_format`]), lossless within the
//!   kernel layout's limits, a precise [`ConversionError`] beyond them;
//! - [`image`]: kernel journal images — sequences of 4096-aligned storage blocks, LZ4
//!   or uncompressed — written by [`ImageWriter`] and streamed by [`ImageReader`], which
//!   reports damage with its offset and block and reads every intact block;
//! - [`version`]: the kernel format version policy ([`verify_compatibility`]);
//! - [`marker`]: the layout of the bridge's bookkeeping event that leads each import
//!   batch in a journal, and [`seqset`], the compact sets of kernel sequences it holds.
//!
//! ```
//! use vexfs_journal_format::{Event, FsOp};
//! use vexfs_journal_kernel_codec::{ImageWriter, WriterOptions, read_image_from};
//!
//! let mut ev = Event::filesystem(FsOp::Create).path("/k/file");
//! ev.global_sequence = 7;
//! let mut image = ImageWriter::new(Vec::new(), "image", WriterOptions::default())?;
//! image.push(&ev)?;
//! let (bytes, _) = image.finish()?;
//! let contents = read_image_from(&bytes[..], "image", Default::default())?;
//! assert_eq!(contents.blocks[0].events, vec![ev]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod convert;
pub mod error;
pub mod image;
pub mod marker;
pub mod seqset;
pub mod version;

pub use convert::{
    check_kernel_fit, convert_from_kernel_format, convert_into, convert_to_kernel_format,
    decode_prefix,
};
pub use error::{CompatibilityError, ConversionError, ImageError, MarkerError};
pub use image::{
    Damage, DamageKind, ImageBlock, ImageContents, ImageItem, ImageReader, ImageWriter, PAGE_SIZE,
    ReadStats, ReaderOptions, WriteSummary, WriterOptions, read_image, read_image_from,
    write_image,
};
pub use version::{SUPPORTED_VERSION, verify_compatibility};

pub use vexfs_journal_format::Event;
