//! The kernel bridge of the VexFS semantic journal.
//!
//! - [`convert`]: userspace [`Event`] ⇄ the kernel's exact binary event
//!   ([`convert_to_kernel_format`], [`convert_from_kernel_format`]), lossless within the
//!   kernel layout's limits, a precise [`ConversionError`] beyond them;
//! - [`image`]: kernel journal images — sequences of 4096-aligned storage blocks, LZ4
//!   or uncompressed — written by [`ImageWriter`] and streamed by [`ImageReader`], which
//!   reports damage with its offset and block and reads every intact block;
//! - [`KernelBridge`]: imports kernel events into a [`vexfs_journal::Journal`] keeping
//!   their ids, sequences and timestamps, idempotently, and keeps the kernel and
//!   userspace sequence spaces synchronised (offset, drift detection, automatic resync);
//!   it implements the seed's [`KernelCompatibilityBridgeTrait`];
//! - [`timeline`]: the merged timeline (origin of each journal event, consistency check);
//! - [`verify_compatibility`]: kernel format version policy.
//!
//! The design — sequence mapping, drift, resynchronisation, idempotent import — is
//! described in `docs/kernel.md`.
//!
//! ```
//! use vexfs_journal::{Config, Event, FsOp, Journal};
//! use vexfs_journal_kernel::{BridgeConfig, ImageWriter, KernelBridge, WriterOptions};
//!
//! // A kernel image holding one kernel event (id 41, kernel sequence 7).
//! let mut kernel_event = Event::filesystem(FsOp::Create).path("/k/file");
//! kernel_event.event_id = 41;
//! kernel_event.global_sequence = 7;
//! let mut image = ImageWriter::new(Vec::new(), "image", WriterOptions::default())?;
//! image.push(&kernel_event)?;
//! let (bytes, _) = image.finish()?;
//!
//! let dir = tempfile::tempdir()?;
//! let journal = Journal::create(dir.path(), Config::default())?;
//! let bridge = KernelBridge::new(journal.clone(), BridgeConfig::default())?;
//! let first = bridge.import_reader(&bytes[..], "image")?;
//! let again = bridge.import_reader(&bytes[..], "image")?;
//! assert_eq!((first.imported, again.imported, again.already_present), (1, 0, 1));
//! assert_eq!(journal.storage().marks().last_kernel_sync_sequence, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bridge;
pub mod convert;
pub mod error;
pub mod export;
pub mod image;
pub mod marker;
pub mod seqset;
pub mod timeline;
pub mod version;

pub use bridge::{
    BridgeConfig, ImportReport, KernelBridge, KernelCompatibilityBridgeTrait, KernelJournalStatus,
    SequenceSyncResult, SyncMetrics, SyncState,
};
pub use convert::{
    check_kernel_fit, convert_from_kernel_format, convert_into, convert_to_kernel_format,
    decode_prefix,
};
pub use error::{CompatibilityError, ConversionError, ImageError, SyncError, SyncResult};
pub use export::{ExportError, ExportReport, OriginFilter, export_events};
pub use image::{
    Damage, DamageKind, ImageBlock, ImageContents, ImageItem, ImageReader, ImageWriter, PAGE_SIZE,
    ReadStats, ReaderOptions, WriteSummary, WriterOptions, read_image, read_image_from,
    write_image,
};
pub use timeline::{JournalView, Origin, Timeline, TimelineCheck, check_timeline};
pub use version::{SUPPORTED_VERSION, verify_compatibility};

pub use vexfs_journal_format::Event;
