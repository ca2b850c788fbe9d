//! The bridge's bookkeeping event: one `system.sync` marker leads every import batch.
//!
//! The bridge appends an import batch, keeping the kernel's ids and sequences, as one
//! atomic block: the marker first, then the kernel events it describes at the
//! next journal sequences. A crash leaves both or neither, so the marker is an exact,
//! durable record of what was imported — the state the bridge reloads (the newest
//! marker, found with an indexed reverse query) — with no window in which events are
//! in the journal but the record of them is not.
//!
//! Marker fields: type `system.sync`, subtype [`MARKER_SUBTYPE`], event id and global
//! sequence 0 (journal bookkeeping, not an event of either side; first in its block so
//! the block header's `first_event_id <= last_event_id` holds whatever the kernel ids),
//! agent id [`BRIDGE_AGENT`], the source in `path` when it fits, a JSON summary in the
//! metadata and the exact kernel sequences in the payload (little-endian):
//!
//! ```text
//! "VKBM" | version u32 (1) | run count u32 | range count u32
//!        | runs: (first u64, last u64)…    kernel sequences of this batch, in journal order
//!        | ranges: (first u64, last u64)…  synchronised kernel sequences above `floor`
//! ```

use serde::{Deserialize, Serialize};
use vexfs_journal_format::consts::{MAX_PAYLOAD_SIZE, PATH_MAX};
use vexfs_journal_format::kernel::check_fixed_string;
use vexfs_journal_format::{Event, EventType, SystemOp, Timestamp};

use crate::error::MarkerError;
use crate::seqset::{Runs, SeqSet};

/// Agent id of the bridge's markers.
pub const BRIDGE_AGENT: &str = "vexfs-kernel-bridge";
/// Subtype of the bridge's markers (`"KB"`, version 1).
pub const MARKER_SUBTYPE: u32 = 0x4B42_0001;
/// The markers' event type.
pub const MARKER_TYPE: EventType = EventType::from_code(0x0503);

const PAYLOAD_MAGIC: &[u8; 4] = b"VKBM";
const PAYLOAD_VERSION: u32 = 1;
const PAYLOAD_HEAD: usize = 16;

/// Most runs of kernel sequences in one batch (a new batch starts beyond).
pub const MAX_BATCH_RUNS: usize = 1024;
/// Most disjoint ranges of synchronised sequences above the floor a marker records.
pub const MAX_SETTLED_RANGES: usize = (MAX_PAYLOAD_SIZE - PAYLOAD_HEAD) / 16 - MAX_BATCH_RUNS;

/// Where the highest synchronised kernel sequence is in the journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Anchor {
    /// The kernel global sequence.
    pub kernel: u64,
    /// The journal sequence of that event.
    pub journal: u64,
}

impl Anchor {
    /// `kernel − journal`: the offset between the two sequence spaces at the anchor.
    pub fn offset(&self) -> i64 {
        signed_diff(self.kernel, self.journal)
    }
}

/// `a − b` as an `i64`, saturated.
pub fn signed_diff(a: u64, b: u64) -> i64 {
    let d = i128::from(a) - i128::from(b);
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

#[derive(Serialize, Deserialize)]
struct MarkerMeta {
    kernel_bridge: u32,
    events: u64,
    kernel_first: u64,
    kernel_last: u64,
    floor: u64,
    watermark: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anchor_kernel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anchor_journal: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    anchor_index: Option<u64>,
}

/// Where a marker's anchor is: in an earlier batch, or at a position of its own batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnchorRef {
    /// No kernel event synchronised yet.
    None,
    /// Already in the journal.
    At(Anchor),
    /// The kernel sequence `kernel` at position `index` of this marker's batch.
    InBatch {
        /// Kernel sequence.
        kernel: u64,
        /// 0-based position among the batch's events.
        index: u64,
    },
}

/// A marker read back from the journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Marker {
    /// Journal sequence of the marker; its batch's events follow it.
    pub seq: u64,
    /// Kernel sequences of the batch in journal order.
    pub runs: Runs,
    /// Every kernel sequence synchronised once this batch was in.
    pub settled: SeqSet,
    /// Highest synchronised kernel sequence and where it is.
    pub anchor: Option<Anchor>,
}

impl Marker {
    /// Number of kernel events of the batch (journal sequences `seq + 1 ..= seq + n`).
    pub fn events(&self) -> u64 {
        self.runs.count()
    }

    /// Journal sequence of kernel sequence `k` if this batch holds it.
    pub fn locate(&self, k: u64) -> Option<u64> {
        self.runs.position(k).map(|p| self.seq + 1 + p)
    }
}

/// Whether `ev` has the identity of a bridge marker.
pub fn is_marker(ev: &Event) -> bool {
    ev.event_type == MARKER_TYPE
        && ev.subtype == MARKER_SUBTYPE
        && ev.event_id == 0
        && ev.global_sequence == 0
        && ev.context.agent_id == BRIDGE_AGENT.as_bytes()
}

/// Builds the marker leading a batch whose kernel sequences are `runs`.
pub fn build_marker(
    runs: &Runs,
    settled: &SeqSet,
    anchor: AnchorRef,
    source: &str,
    now_ns: i64,
) -> Event {
    let (kernel_first, kernel_last) = runs
        .runs()
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), r| (lo.min(r.0), hi.max(r.1)));
    let (anchor_kernel, anchor_journal, anchor_index) = match anchor {
        AnchorRef::None => (None, None, None),
        AnchorRef::At(a) => (Some(a.kernel), Some(a.journal), None),
        AnchorRef::InBatch { kernel, index } => (Some(kernel), None, Some(index)),
    };
    let meta = MarkerMeta {
        kernel_bridge: PAYLOAD_VERSION,
        events: runs.count(),
        kernel_first: if runs.count() == 0 { 0 } else { kernel_first },
        kernel_last,
        floor: settled.floor(),
        watermark: settled.max(),
        anchor_kernel,
        anchor_journal,
        anchor_index,
    };
    let mut payload =
        Vec::with_capacity(PAYLOAD_HEAD + 16 * (runs.runs().len() + settled.ranges().len()));
    payload.extend_from_slice(PAYLOAD_MAGIC);
    payload.extend_from_slice(&PAYLOAD_VERSION.to_le_bytes());
    payload.extend_from_slice(&(runs.runs().len() as u32).to_le_bytes());
    payload.extend_from_slice(&(settled.ranges().len() as u32).to_le_bytes());
    for &(a, b) in runs.runs().iter().chain(settled.ranges()) {
        payload.extend_from_slice(&a.to_le_bytes());
        payload.extend_from_slice(&b.to_le_bytes());
    }
    let mut ev = Event::system(SystemOp::Sync)
        .subtype(MARKER_SUBTYPE)
        .agent_id(BRIDGE_AGENT)
        .semantic_intent("kernel journal import")
        .timestamp(Timestamp {
            ktime_ns: now_ns,
            sequence: 0,
            cpu_id: 0,
            process_id: std::process::id(),
        })
        .metadata(serde_json::to_vec(&meta).unwrap_or_default())
        .payload(payload);
    if check_fixed_string("path", source.as_bytes(), PATH_MAX).is_ok() {
        ev = ev.path(source);
    }
    ev.root_cause_event_id = 0;
    ev
}

/// Reads back the marker `ev` stored at journal sequence `seq`. `Ok(None)` if the event
/// is not a marker at all (another `system.sync` event of that agent); an error if it
/// has a marker's identity but its content is damaged.
pub fn parse_marker(seq: u64, ev: &Event) -> Result<Option<Marker>, MarkerError> {
    if !is_marker(ev) {
        return Ok(None);
    }
    let meta: MarkerMeta =
        serde_json::from_slice(&ev.metadata).map_err(|e| MarkerError::Metadata(e.to_string()))?;
    if meta.kernel_bridge != PAYLOAD_VERSION {
        return Err(MarkerError::Version {
            found: meta.kernel_bridge,
            supported: PAYLOAD_VERSION,
        });
    }
    let p = &ev.payload;
    let word = |at: usize| -> Result<u32, MarkerError> {
        p.get(at..at + 4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_le_bytes)
            .ok_or(MarkerError::Truncated)
    };
    if p.get(..4) != Some(&PAYLOAD_MAGIC[..]) || word(4)? != PAYLOAD_VERSION {
        return Err(MarkerError::BadMagic);
    }
    let n_runs = word(8)? as usize;
    let n_ranges = word(12)? as usize;
    if p.len() != PAYLOAD_HEAD + 16 * (n_runs + n_ranges) {
        return Err(MarkerError::PayloadSize {
            size: p.len(),
            runs: n_runs,
            ranges: n_ranges,
        });
    }
    let pair = |i: usize| -> Result<(u64, u64), MarkerError> {
        let at = PAYLOAD_HEAD + 16 * i;
        let get = |o: usize| {
            p.get(o..o + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_le_bytes)
                .ok_or(MarkerError::Truncated)
        };
        let (a, b) = (get(at)?, get(at + 8)?);
        if a == 0 || b < a {
            return Err(MarkerError::InvalidRange { first: a, last: b });
        }
        Ok((a, b))
    };
    let runs = Runs::from_runs((0..n_runs).map(pair).collect::<Result<_, _>>()?);
    if runs.count() != meta.events {
        return Err(MarkerError::EventCount {
            declared: meta.events,
            held: runs.count(),
        });
    }
    let ranges: Vec<(u64, u64)> = (n_runs..n_runs + n_ranges)
        .map(pair)
        .collect::<Result<_, _>>()?;
    let settled = SeqSet::from_parts(meta.floor, ranges);
    if settled.max() != meta.watermark {
        return Err(MarkerError::Watermark {
            declared: meta.watermark,
            max: settled.max(),
        });
    }
    let anchor = match (meta.anchor_kernel, meta.anchor_journal, meta.anchor_index) {
        (None, _, _) => None,
        (Some(kernel), Some(journal), None) => Some(Anchor { kernel, journal }),
        (Some(kernel), None, Some(index)) if index < meta.events => Some(Anchor {
            kernel,
            journal: seq + 1 + index,
        }),
        _ => return Err(MarkerError::Anchor),
    };
    Ok(Some(Marker {
        seq,
        runs,
        settled,
        anchor,
    }))
}
