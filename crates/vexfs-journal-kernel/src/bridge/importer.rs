//! [`Importer`]: appends kernel events to a journal in atomic batches, each led by the
//! marker that records it (see [`crate::marker`]).

use std::io::Read;

use vexfs_journal::{Event, Journal, ext};

use super::config::BridgeConfig;
use super::report::ImportReport;
use super::state::{SyncState, record_header_mark};
use crate::error::{SyncError, SyncResult};
use crate::image::{ImageItem, ImageReader, ReadStats};
use crate::marker::{
    Anchor, AnchorRef, MAX_BATCH_RUNS, MAX_SETTLED_RANGES, build_marker, is_marker,
};
use crate::seqset::{Runs, SeqSet};

/// Appends kernel events to the journal in atomic batches, each led by its marker.
pub(super) struct Importer<'a> {
    journal: &'a Journal,
    config: &'a BridgeConfig,
    state: SyncState,
    batch: Vec<Event>,
    batch_bytes: usize,
    runs: Runs,
    in_batch: SeqSet,
    batch_max: Option<(u64, u64)>,
    source: String,
    report: ImportReport,
}

impl<'a> Importer<'a> {
    /// An importer into `journal` whose synchronisation state is `state`.
    pub(super) fn new(
        journal: &'a Journal,
        config: &'a BridgeConfig,
        state: SyncState,
        source: &str,
    ) -> Self {
        let report = ImportReport {
            source: source.to_string(),
            synced_before: state.watermark(),
            synced_after: state.watermark(),
            ..ImportReport::default()
        };
        Importer {
            journal,
            config,
            state,
            batch: Vec::new(),
            batch_bytes: 0,
            runs: Runs::new(),
            in_batch: SeqSet::new(),
            batch_max: None,
            source: source.to_string(),
            report,
        }
    }

    /// Offers every event of the image; damage is recorded in the report.
    pub(super) fn read<R: Read>(
        &mut self,
        reader: &mut ImageReader<R>,
        visit: &mut dyn FnMut(&ImageItem),
    ) -> SyncResult<ReadStats> {
        while let Some(item) = reader.next_item()? {
            visit(&item);
            match item {
                ImageItem::Block(b) => {
                    self.report.blocks += 1;
                    for ev in b.events {
                        self.offer(ev)?;
                    }
                }
                ImageItem::Damage(d) => {
                    tracing::warn!(source = %self.source, damage = %d, "damaged kernel image region skipped");
                    self.report.damage.push(d);
                }
            }
        }
        Ok(reader.stats().clone())
    }

    /// Offers one kernel event: skipped if unsequenced or already synchronised,
    /// otherwise added to the batch (appending the batch first if it is full).
    pub(super) fn offer(&mut self, ev: Event) -> SyncResult<()> {
        self.report.events_read += 1;
        let k = ev.global_sequence;
        if k == 0 {
            self.report.unsequenced += 1;
            if self.report.unsequenced_ids.len() < 16 {
                self.report.unsequenced_ids.push(ev.event_id);
            }
            return Ok(());
        }
        if self.state.settled.contains(k) || self.in_batch.contains(k) {
            self.report.already_present += 1;
            return Ok(());
        }
        let config = self.config;
        let size = ev.payload.len() + ev.metadata.len();
        if !self.batch.is_empty()
            && (self.batch.len() >= config.batch_events
                || self.batch_bytes + size > config.batch_bytes
                || (self.runs.would_start_run(k) && self.runs.runs().len() >= MAX_BATCH_RUNS))
        {
            self.commit()?;
        }
        if self.batch_max.is_none_or(|(max, _)| k > max) {
            self.batch_max = Some((k, self.batch.len() as u64));
        }
        self.batch.push(ev);
        self.batch_bytes += size;
        self.runs.push(k);
        self.in_batch.insert(k);
        Ok(())
    }

    fn commit(&mut self) -> SyncResult<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let mut settled = self.state.settled.clone();
        for &(a, b) in self.runs.runs() {
            settled.insert_range(a, b);
        }
        if settled.ranges().len() > MAX_SETTLED_RANGES {
            return Err(SyncError::TooFragmented {
                intervals: settled.ranges().len(),
                limit: MAX_SETTLED_RANGES,
            });
        }
        let anchor = match (self.batch_max, self.state.anchor) {
            (Some((kernel, index)), a) if a.is_none_or(|a| kernel > a.kernel) => {
                AnchorRef::InBatch { kernel, index }
            }
            (_, Some(a)) => AnchorRef::At(a),
            (_, None) => AnchorRef::None,
        };
        let marker = build_marker(&self.runs, &settled, anchor, &self.source, ext::now_ns());
        let n = self.batch.len() as u64;
        let mut events = Vec::with_capacity(self.batch.len() + 1);
        events.push(marker);
        events.append(&mut self.batch);
        let journal = self.journal;
        let range = ext::append_preserving(journal, events)?;
        journal.wait_durable(range.end)?;
        // Under the drop-oldest buffer policy a queued batch can be dropped whole after
        // it was accepted: make sure it is on disk before anything records it.
        // Read uncommitted: an undecided coordinated transaction before the batch
        // must not hide it.
        if !ext::get_stored(journal, range.start)?.is_some_and(|s| is_marker(&s.event)) {
            return Err(SyncError::State {
                seq: range.start,
                reason: format!(
                    "the import batch of {n} events accepted at journal sequences {}..{} is not in the journal (dropped by the drop-oldest buffer policy?); nothing was recorded, import again",
                    range.start, range.end
                ),
            });
        }
        self.state.anchor = match anchor {
            AnchorRef::InBatch { kernel, index } => Some(Anchor {
                kernel,
                journal: range.start + 1 + index,
            }),
            AnchorRef::At(a) => Some(a),
            AnchorRef::None => None,
        };
        self.state.settled = settled;
        self.state.marker_seq = Some(range.start);
        let (lo, hi) = self
            .runs
            .runs()
            .iter()
            .fold((u64::MAX, 0), |(lo, hi), r| (lo.min(r.0), hi.max(r.1)));
        self.report.kernel_range = Some(match self.report.kernel_range {
            Some((a, b)) => (a.min(lo), b.max(hi)),
            None => (lo, hi),
        });
        self.report.imported += n;
        self.report.batches += 1;
        self.report
            .journal_ranges
            .push((range.start + 1, range.end - 1));
        self.batch_bytes = 0;
        self.runs.clear();
        self.in_batch = SeqSet::new();
        self.batch_max = None;
        Ok(())
    }

    /// Appends the last batch and records the header mark.
    pub(super) fn finish(mut self) -> SyncResult<(SyncState, ImportReport)> {
        self.commit()?;
        record_header_mark(self.journal, self.state.watermark())?;
        self.report.synced_after = self.state.watermark();
        Ok((self.state, self.report))
    }
}
