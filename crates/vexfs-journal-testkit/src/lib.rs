//! Helpers shared by the integration tests of the vexfs-journal crates.
//!
//! A dev-dependency only (`publish = false`): tests import what they need instead of
//! keeping copies in each crate's `tests/common`. Organised by concept:
//!
//! - [`rng`]: a seeded generator and the `TORTURE_ROUNDS` round count;
//! - [`noise`]: deterministic incompressible bytes and text;
//! - [`events`]: events whose content is a function of a `(producer, index)` tag, and
//!   what emission stamps on an event;
//! - [`files`]: journal directories and files — copies, segment listings, bit flips,
//!   segment headers;
//! - [`wait`]: polling for a condition;
//! - [`c`]: compiling the C programs of the cross-checks;
//! - `blocks` (feature `storage`): the intact blocks of a segment file;
//! - `query` (feature `index`): what a query must return, decided event by event.
//!
//! Layering: the core depends on `vexfs-journal-format` only, so every crate's tests
//! can use it — the storage engine's included — without building a second copy of the
//! crate under test. Helpers that need a journal of a given layer (an `Engine` with a
//! small `StorageConfig`, a facade `Journal` with a small `Config`, the CLI binary)
//! stay in that crate's own `tests/common`, where they are the only copy. The helpers
//! that read segments through the storage engine (`storage`) or evaluate a `Query`
//! (`index`) sit behind features that the crates at or above those layers turn on: their
//! integration tests link the same library the testkit does, so the types agree (a
//! crate's unit tests must not use them: they see a second build of the crate).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[cfg(feature = "storage")]
pub mod blocks;
pub mod c;
pub mod events;
pub mod files;
#[cfg(feature = "kernel")]
pub mod kernel;
pub mod noise;
#[cfg(feature = "index")]
pub mod query;
pub mod rng;
pub mod wait;

pub use events::{as_stamped, small_tag_of, small_tagged, tag_of, tagged};
pub use files::{
    check_golden, copy_dir, copy_dir_live, fixture, fixtures_dir, flip_bit, flip_byte,
    segment_files, set_len, torn_files, write_at,
};
pub use noise::{noise, noise_text};
pub use rng::{Rng, rounds};
pub use wait::eventually;
