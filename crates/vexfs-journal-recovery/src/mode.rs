//! Recovery modes and what opening a journal after a crash did.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use vexfs_journal_storage::dir::CLEAN_FILE;
use vexfs_journal_storage::{JournalMeta, OpenReport, TrustedPrefix};

use crate::checkpoint;
use crate::error::{RecoveryError, Result};
use crate::salvage::SalvageReport;
use crate::verify::{VerifyOptions, verify};

/// How opening treats damage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecoveryMode {
    /// Cut a torn or partial tail (keeping the bytes in `*.torn`); refuse damage to
    /// data that was fsynced (default).
    #[default]
    TolerateTail,
    /// Refuse to open on any inconsistency, with the full report; change nothing.
    Absolute,
    /// Keep every intact block and event wherever the damage is; set damaged bytes
    /// aside under `salvaged/` and report the ranges lost.
    Salvage,
}

impl fmt::Display for RecoveryMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RecoveryMode::TolerateTail => "tolerate-tail",
            RecoveryMode::Absolute => "absolute",
            RecoveryMode::Salvage => "salvage",
        })
    }
}

impl FromStr for RecoveryMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "tolerate-tail" | "tolerate_tail" => Ok(RecoveryMode::TolerateTail),
            "absolute" => Ok(RecoveryMode::Absolute),
            "salvage" => Ok(RecoveryMode::Salvage),
            other => Err(format!(
                "{other:?} is not tolerate-tail, absolute or salvage"
            )),
        }
    }
}

/// What recovery found and did when the journal was opened.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The mode used.
    pub mode: RecoveryMode,
    /// The previous session closed cleanly (nothing to scan).
    pub clean_shutdown: bool,
    /// Checkpoint whose block table was trusted (only what follows it was scanned).
    pub checkpoint_used: Option<u64>,
    /// Events found.
    pub events_recovered: u64,
    /// Segments opened.
    pub segments: usize,
    /// Bytes cut from torn tails.
    pub bytes_cut: u64,
    /// Where the cut bytes were saved.
    pub torn_files: Vec<PathBuf>,
    /// Segment headers or footers rebuilt from their blocks.
    pub segments_repaired: usize,
    /// Segments sealed because a rotation was interrupted.
    pub resealed: usize,
    /// Salvage details (salvage mode).
    pub salvage: Option<SalvageReport>,
    /// Problems verify found before opening (absolute mode; empty when clean).
    pub problems_before_open: usize,
    /// Time taken, seconds.
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What to pass to the storage engine, decided before opening.
#[derive(Debug, Default)]
pub struct Plan {
    /// Open strictly (absolute mode).
    pub strict: bool,
    /// A checkpoint's prefix to trust.
    pub trusted_prefix: Option<TrustedPrefix>,
    /// The report so far.
    pub report: RecoveryReport,
    started: Option<Instant>,
}

/// Prepares opening the journal in `dir` in `mode`: absolute mode verifies everything
/// first (refusing with the report on any problem), salvage mode repairs first, and
/// after an unclean shutdown the latest valid checkpoint is trusted so only what
/// follows it is scanned.
pub fn prepare(dir: &Path, mode: RecoveryMode) -> Result<Plan> {
    prepare_keyed(dir, mode, None)
}

/// [`prepare`] with the journal's key (required when it is encrypted).
pub fn prepare_keyed(
    dir: &Path,
    mode: RecoveryMode,
    key: Option<&std::sync::Arc<vexfs_journal_cipher::JournalKey>>,
) -> Result<Plan> {
    let started = Instant::now();
    let mut plan = Plan {
        report: RecoveryReport {
            mode,
            clean_shutdown: dir.join(CLEAN_FILE).exists(),
            ..Default::default()
        },
        started: Some(started),
        ..Default::default()
    };
    let Ok(meta) = JournalMeta::load(dir) else {
        // No journal yet (or not one): the engine reports it or creates one.
        return Ok(plan);
    };
    match mode {
        RecoveryMode::Absolute => {
            let options = VerifyOptions {
                key: key.cloned(),
                ..VerifyOptions::default()
            };
            let report = verify(dir, options, |_, _| {})?;
            plan.report.problems_before_open = report.problems.len();
            if !report.is_clean() {
                return Err(RecoveryError::Inconsistent(Box::new(report)));
            }
            plan.strict = true;
            return Ok(plan);
        }
        RecoveryMode::Salvage => {
            let s = crate::salvage::salvage_keyed(dir, key)?;
            if !s.lost.is_empty() {
                tracing::warn!(
                    ranges = s.lost.len(),
                    events = s.events_lost(),
                    "salvage set damaged data aside"
                );
            }
            plan.report.salvage = Some(s);
        }
        RecoveryMode::TolerateTail => {}
    }
    if !plan.report.clean_shutdown
        && let Some(c) = checkpoint::latest_valid(dir, meta.id)
    {
        plan.report.checkpoint_used = Some(c.id);
        plan.trusted_prefix = Some(checkpoint::trusted_prefix(&c));
    }
    Ok(plan)
}

impl Plan {
    /// Completes the report with what the engine did while opening.
    pub fn finish(mut self, open: &OpenReport) -> RecoveryReport {
        let r = &mut self.report;
        r.events_recovered = open.events;
        r.segments = open.segments;
        r.resealed = open.resealed;
        for (_, rec) in &open.repairs {
            if rec.prefix_rejected {
                // The checkpoint's table no longer matched its segment: not used.
                r.checkpoint_used = None;
            }
            r.bytes_cut += rec.torn_bytes;
            if let Some(t) = &rec.torn_file {
                r.torn_files.push(t.clone());
            }
            if rec.header_rewritten || rec.rescanned {
                r.segments_repaired += 1;
            }
        }
        if let Some(t) = self.started {
            r.elapsed = t.elapsed();
        }
        self.report
    }
}
