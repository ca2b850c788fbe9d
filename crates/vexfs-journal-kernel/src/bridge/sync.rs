//! Sequence synchronisation: what is new in the source, the drift, the
//! resynchronisation and the new mapping (the policy is described in `docs/kernel.md`);
//! and the source's status against the journal.

use std::time::Instant;

use super::KernelBridge;
use super::importer::Importer;
use super::report::{KernelJournalStatus, SequenceSyncResult};
use super::source::{Scan, check_source, cursor_still_valid, open_reader, read_source};
use super::state::{Observation, SourceCursor, SyncState};
use crate::error::{SyncError, SyncResult};
use crate::image::ImageItem;
use crate::marker::signed_diff;
use crate::seqset::SeqSet;
use crate::version;

impl KernelBridge {
    /// Synchronises with the configured source (blocking): reads what is new in it,
    /// measures the drift, imports every kernel event the journal lacks and re-anchors
    /// the offset. See `docs/kernel.md` for the policy.
    pub fn sync(&self) -> SyncResult<SequenceSyncResult> {
        let started = Instant::now();
        let m = &self.inner.metrics;
        m.sync_started();
        let result = self.sync_locked(started);
        m.sync_ended(started.elapsed().as_nanos() as u64, &result);
        result
    }

    fn sync_locked(&self, started: Instant) -> SyncResult<SequenceSyncResult> {
        let path = self.source()?.to_path_buf();
        check_source(&path).map_err(|reason| SyncError::Unavailable {
            path: path.clone(),
            reason,
        })?;
        let mut shared = self.lock();
        let journal = &self.inner.journal;
        let state = SyncState::load(journal)?;
        let opts = &self.inner.config.reader;

        // Phase 1: what is new in the source (from the resume point if still valid).
        let resume = shared
            .cursor
            .as_ref()
            .filter(|c| c.path == path && cursor_still_valid(c))
            .cloned();
        let start = resume.as_ref().map_or(0, |c| c.next_offset);
        let mut scan = Scan::default();
        let stats1 = read_source(&path, start, opts, &mut |item| {
            scan.observe(item, &state.settled)
        })?;
        let phase1_bytes = stats1.bytes_read;
        let mut kernel_last = resume
            .as_ref()
            .map_or(0, |c| c.kernel_last)
            .max(scan.kernel_last);
        let mut kernel_last_id = resume
            .as_ref()
            .map_or(0, |c| c.kernel_last_id)
            .max(scan.kernel_last_id);
        let journal_before = journal.next_seq().saturating_sub(1);
        let spread = signed_diff(kernel_last, journal_before);
        let reference = shared.reference.or(state.anchor.map(|a| Observation {
            kernel: a.kernel,
            journal: a.journal,
        }));
        let drift = reference.map_or(0, |r| {
            spread.saturating_sub(signed_diff(r.kernel, r.journal))
        });
        if kernel_last < state.watermark() {
            return Err(SyncError::KernelSequenceRegressed {
                kernel_last,
                synced: state.watermark(),
                drift,
            });
        }
        let drift_detected = drift.unsigned_abs() > self.inner.config.drift_tolerance;

        // Phase 2: resynchronise — import every kernel event the journal lacks.
        let mut result = SequenceSyncResult {
            kernel_lag: scan.pending,
            full_scan: resume.is_none(),
            ..SequenceSyncResult::default()
        };
        let (state, stats) = if scan.pending > 0 {
            let name = path.display().to_string();
            let mut importer = Importer::new(journal, &self.inner.config, state, &name);
            let mut observed = Scan::default();
            let stats2 = {
                let mut visit = |item: &ImageItem| {
                    observed.observe(item, &SeqSet::new());
                };
                let mut reader = open_reader(&path, start, opts)?;
                importer.read(&mut reader, &mut visit)?
            };
            kernel_last = kernel_last.max(observed.kernel_last);
            kernel_last_id = kernel_last_id.max(observed.kernel_last_id);
            let (state, report) = importer.finish()?;
            self.inner.metrics.count_import(&report);
            result.imported = report.imported;
            result.already_present = report.already_present;
            result.damage = report.damage;
            (state, stats2)
        } else {
            result.damage = scan.damage;
            (state, stats1)
        };

        // Where to resume next time: after the last intact block (a damaged tail is
        // read again, it may be a block the kernel is still writing).
        shared.cursor = match (stats.last_block, resume) {
            (Some(last_block), _) => Some(SourceCursor {
                path: path.clone(),
                next_offset: stats.intact_end,
                last_block,
                kernel_last,
                kernel_last_id,
            }),
            (None, Some(mut c)) => {
                c.kernel_last = kernel_last;
                c.kernel_last_id = kernel_last_id;
                Some(c)
            }
            (None, None) => None,
        };
        let journal_after = journal.next_seq().saturating_sub(1);
        let offset = state
            .anchor
            .map_or_else(|| signed_diff(kernel_last, journal_after), |a| a.offset());
        shared.reference = Some(Observation {
            kernel: kernel_last,
            journal: journal_after,
        });
        shared.offset = offset;
        result.kernel_sequence = kernel_last;
        result.kernel_event_id = kernel_last_id;
        result.userspace_sequence_before = journal_before;
        result.userspace_sequence = journal_after;
        result.synced_kernel_sequence = state.watermark();
        result.offset = offset;
        result.drift = drift;
        result.drift_detected = drift_detected;
        result.resynced = result.imported > 0 || drift_detected;
        result.bytes_read = if scan.pending > 0 {
            phase1_bytes + stats.bytes_read
        } else {
            phase1_bytes
        };
        result.latency = started.elapsed();
        Ok(result)
    }

    /// Reads the whole source and compares it with the journal (blocking).
    pub fn kernel_status(&self) -> SyncResult<KernelJournalStatus> {
        let mut status = KernelJournalStatus {
            source: self.inner.config.source.clone(),
            format_version: version::SUPPORTED_VERSION,
            ..KernelJournalStatus::default()
        };
        let path = self.source()?.to_path_buf();
        status.available = check_source(&path).is_ok();
        let state = self.state()?;
        status.synced_kernel_sequence = state.watermark();
        status.userspace_sequence = self.inner.journal.next_seq().saturating_sub(1);
        status.offset = self.lock().offset;
        if !status.available {
            return Ok(status);
        }
        let mut scan = Scan::default();
        let stats = read_source(&path, 0, &self.inner.config.reader, &mut |item| {
            scan.observe(item, &state.settled)
        })?;
        status.blocks = stats.blocks;
        status.events = stats.events;
        status.damaged_regions = stats.damaged_regions;
        status.kernel_sequence = scan.kernel_last;
        status.kernel_event_id = scan.kernel_last_id;
        status.pending = scan.pending;
        Ok(status)
    }
}
