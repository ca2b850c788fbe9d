//! Byte-exact formats of the VexFS semantic journal.
//!
//! This crate is the lowest layer of `vexfs-journal`: every byte the project writes or
//! reads is defined here and nowhere else.
//!
//! - [`layout`]: the packed kernel structs (timestamp, event header, context, causality
//!   link, storage block header) and the userspace file header and record extension,
//!   with their exact sizes and offsets;
//! - [`types`]: the event taxonomy, flags, priorities and compression codes;
//! - [`checksum`]: the kernel crc32 (`crc32_le`, seed 0, no final inversion);
//! - [`Event`]: the owned event model and its builder;
//! - [`kernel`]: complete kernel events (header + 5280-byte context + sections);
//! - [`record`]: the compact userspace records stored in segment blocks;
//! - [`block`] and [`file_header`]: storage blocks and segment file headers;
//! - [`frames`]: block format version 2, records in independently compressed frames;
//! - [`manifest`]: the record of a journal's segment set and sequence floor;
//! - [`footer`], [`checkpoint`], [`index_file`]: a sealed segment's block table and the
//!   clean-shutdown marker, checkpoint files, `<segment>.idx` index files;
//! - [`cursor`]: the binary body of query cursors;
//! - `lz4`: a resumable LZ4 block decoder (point reads decode only what they need);
//! - [`bytes`]: the one byte reader every decoder uses.
//!
//! Every decoder returns a typed [`FormatError`] for malformed input and never panics.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod block;
pub mod bytes;
pub mod checkpoint;
pub mod checksum;
pub mod compact;
pub mod consts;
pub mod cursor;
pub mod error;
pub mod event;
pub mod file_header;
pub mod footer;
pub mod frames;
pub mod index_file;
pub mod kernel;
pub mod layout;
#[cfg(feature = "lz4")]
pub mod lz4;
pub mod manifest;
pub mod record;
#[cfg(feature = "samples")]
pub mod samples;
pub mod tx;
pub mod types;

pub use block::{BlockHeader, EventSpan};
pub use bstr::{BStr, BString};
pub use bytes::ByteReader;
pub use checksum::{KernelCrc32, kernel_crc32};
pub use error::{FormatError, ParseNameError, Result};
pub use event::{CausalityLink, CausalityLinkRef, Context, ContextRef, Event, Timestamp};
pub use file_header::FileHeader;
pub use kernel::{decode_kernel_event, encode_kernel_event};
pub use record::{RecordExt, RecordView, decode_record, encode_record};
pub use types::{
    AgentOp, Category, Compression, EventFlags, EventType, FsOp, GraphOp, ObservabilityOp,
    Priority, SemanticOp, SystemOp, VectorOp,
};
