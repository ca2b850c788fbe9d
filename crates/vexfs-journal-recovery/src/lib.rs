//! Crash recovery, corruption handling, checkpoints, replay, verification and
//! compaction of VexFS semantic journals (`docs/recovery.md`).
//!
//! - [`mode`]: recovery modes applied when a journal opens (tolerate a torn tail,
//!   absolute consistency, salvage) and the report of what recovery did;
//! - [`checkpoint`]: durable positions with the open segment's block table and
//!   consumer positions, so recovery scans only what follows and replay resumes;
//! - [`replay`]: full, selective, incremental, parallel and validated replay;
//! - [`mod@verify`]: the integrity report; [`mod@salvage`]: keep every intact block;
//! - [`mod@compact`]: drop what retention allows, atomically.

pub mod checkpoint;
pub mod compact;
pub mod error;
pub mod mode;
pub mod replay;
pub mod restore;
pub mod rotate;
pub mod salvage;
pub mod verify;

pub use checkpoint::{CheckpointInfo, Created};
pub use compact::{CompactOptions, CompactReport, compact};
pub use error::{RecoveryError, Result};
pub use mode::{Plan, RecoveryMode, RecoveryReport, prepare, prepare_keyed};
pub use replay::{Order, Progress, ReplayOptions, ReplayReport, Replayer};
pub use restore::{RestoreReport, restore, restore_keyed};
pub use rotate::{RotateReport, rotate_key};
pub use salvage::{LostRange, SalvageReport, salvage, salvage_keyed};
pub use verify::{Note, Problem, ProblemKind, VerifyOptions, VerifyReport, verify};

/// The cipher of the journal in `dir` given `key` (see
/// [`vexfs_journal_storage::dir::JournalMeta::cipher`]); `None` when it is not encrypted
/// or has no `journal.json` (its segments are then checked as they are opened).
pub(crate) fn cipher_of(
    dir: &std::path::Path,
    key: Option<&std::sync::Arc<vexfs_journal_cipher::JournalKey>>,
    writing: bool,
) -> Result<Option<vexfs_journal_storage::segment::SegmentCipher>> {
    // A committed swap not yet applied (a key rotation's, say) is finished first, as
    // any opener does: the segments on disk then match the key `journal.json` names.
    if dir
        .join(vexfs_journal_storage::swap::SWAP_MANIFEST)
        .exists()
    {
        vexfs_journal_storage::swap::apply_pending(dir, false)?;
    }
    match vexfs_journal_storage::dir::JournalMeta::load_effective(dir) {
        Ok(meta) => Ok(meta.cipher(dir, key, writing)?),
        Err(_) => Ok(None),
    }
}
