//! The kernel bridge of the VexFS semantic journal: a journal client that imports the
//! kernel module's events and keeps the two sequence spaces synchronised.
//!
//! The kernel's bytes — event conversion, kernel images, format versions, the marker
//! layout — are in `vexfs-journal-kernel-codec` (no journal, no runtime), re-exported
//! here as [`codec`] and under their old paths ([`convert`], [`image`], [`marker`],
//! [`seqset`], [`version`]). This crate adds what needs a journal:
//!
//! - [`KernelBridge`]: imports kernel events into a [`vexfs_journal::Journal`] keeping
//!   their ids, sequences and timestamps, idempotently, and keeps the kernel and
//!   userspace sequence spaces synchronised (offset, drift detection, automatic resync);
//!   it implements the seed's [`seed::KernelCompatibilityBridgeTrait`]. Its state belongs to
//!   the journal: every bridge of one open journal shares it;
//! - [`timeline`]: the merged timeline (origin of each journal event, consistency check);
//! - [`export`]: journal events written out as a kernel image.
//!
//! The bridge reaches the journal only through its public API and the facade's `ext`
//! surface. The design — sequence mapping, drift, resynchronisation, idempotent import
//! — is described in `docs/kernel.md`.
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
//! assert_eq!(vexfs_journal::ext::marks(&journal).last_kernel_sync_sequence, 7);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod bridge;
pub mod error;
pub mod export;
pub mod seed;
pub mod timeline;

pub use vexfs_journal_kernel_codec as codec;
pub use vexfs_journal_kernel_codec::{convert, image, marker, seqset, version};

pub use bridge::{
    BridgeConfig, ImportReport, KernelBridge, KernelJournalStatus, SequenceSyncResult, SyncMetrics,
    SyncState,
};
pub use error::{
    CompatibilityError, ConversionError, ImageError, MarkerError, SyncError, SyncResult,
};
pub use export::{ExportError, ExportReport, OriginFilter, export_events};
pub use timeline::{Origin, Timeline, TimelineCheck, check_timeline};
pub use vexfs_journal_kernel_codec::{
    Damage, DamageKind, ImageBlock, ImageContents, ImageItem, ImageReader, ImageWriter, PAGE_SIZE,
    ReadStats, ReaderOptions, SUPPORTED_VERSION, WriteSummary, WriterOptions, check_kernel_fit,
    convert_from_kernel_format, convert_into, convert_to_kernel_format, decode_prefix, read_image,
    read_image_from, verify_compatibility, write_image,
};

pub use vexfs_journal_format::Event;
