//! Exporting journal events as a kernel image.

use std::io::Write;

use serde::Serialize;
use vexfs_journal::{JournalError, Query};

use crate::error::ImageError;
use crate::image::ImageWriter;
use crate::marker::is_marker;
use crate::timeline::{Origin, Timeline, for_each};
use vexfs_journal::Follow;

/// Which events of a merged journal to export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OriginFilter {
    /// Userspace and imported kernel events. Their global sequences come from two
    /// spaces and may coincide: an import of such an image dedupes by global sequence.
    #[default]
    All,
    /// Only events imported from the kernel (one sequence space: the kernel's).
    Kernel,
    /// Only events emitted in userspace (one sequence space: the journal's).
    Userspace,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Querying the journal failed.
    #[error("reading the journal: {0}")]
    Journal(#[from] JournalError),
    /// Writing the image failed, or an event does not fit the kernel layout.
    #[error("journal sequence {seq}: {source}")]
    Image {
        /// Journal sequence of the event being written.
        seq: u64,
        /// Why.
        #[source]
        source: ImageError,
    },
}

/// What an export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ExportReport {
    /// Events written.
    pub events: u64,
    /// Bridge markers left out (journal bookkeeping, not events).
    pub markers_skipped: u64,
    /// First and last journal sequence written.
    pub seq_range: Option<(u64, u64)>,
}

/// Writes every event matching `query` and `origin` (in query order, `query.limit` as a
/// total) to `writer`, as the kernel event each is, ids and sequences unchanged. The
/// bridge's markers are left out. The first event that does not fit the kernel layout
/// stops the export with an error naming it.
pub fn export_events<W: Write>(
    view: &impl Follow,
    query: &Query,
    origin: OriginFilter,
    writer: &mut ImageWriter<W>,
) -> Result<ExportReport, ExportError> {
    let timeline = match origin {
        OriginFilter::All => Timeline::default(),
        _ => Timeline::load(view).map_err(|e| match e {
            crate::error::SyncError::Journal(e) => ExportError::Journal(e),
            other => ExportError::Journal(JournalError::Config(other.to_string())),
        })?,
    };
    let mut report = ExportReport::default();
    let mut left = query.limit.unwrap_or(usize::MAX);
    let mut q = query.clone();
    q.limit = None;
    let mut failure: Option<ExportError> = None;
    let walked = for_each(view, &q, 1024, |stored| {
        if left == 0 {
            return Ok(false);
        }
        if is_marker(&stored.event) {
            report.markers_skipped += 1;
            return Ok(true);
        }
        let keep = match origin {
            OriginFilter::All => true,
            OriginFilter::Kernel => timeline.origin(stored.seq) == Origin::Kernel,
            OriginFilter::Userspace => timeline.origin(stored.seq) == Origin::Userspace,
        };
        if !keep {
            return Ok(true);
        }
        if let Err(source) = writer.push(&stored.event) {
            failure = Some(ExportError::Image {
                seq: stored.seq,
                source,
            });
            return Ok(false);
        }
        report.events += 1;
        left -= 1;
        report.seq_range = Some(match report.seq_range {
            Some((a, _)) => (a, stored.seq),
            None => (stored.seq, stored.seq),
        });
        Ok(true)
    });
    if let Some(e) = failure {
        return Err(e);
    }
    match walked {
        Ok(()) => Ok(report),
        Err(crate::error::SyncError::Journal(e)) => Err(ExportError::Journal(e)),
        Err(other) => Err(ExportError::Journal(JournalError::Config(
            other.to_string(),
        ))),
    }
}
