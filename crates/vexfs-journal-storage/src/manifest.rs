//! The journal manifest on disk (`MANIFEST`, bytes in `vexfs_journal_format::manifest`):
//! reading, atomic replacement, and the comparison of the segment files on disk with it.
//!
//! Every change of the segment set updates it: rotation (the sealed segment's facts and
//! the new open segment), retention (the removed range, recorded *before* the file is
//! deleted), compaction and salvage (the new manifest travels in their atomic swap),
//! checkpoint restore with rollback, and a clean close (the exact next sequence). Opening
//! compares the files with it ([`compare`]): a missing, replaced, shortened or
//! unexpected segment is a [`Discrepancy`] that refuses the open, and new sequence
//! numbers never fall below [`Manifest::next_seq_floor`].

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use vexfs_journal_format::checksum::kernel_crc32;
use vexfs_journal_format::file_header::FLAG_SEALED;
use vexfs_journal_format::manifest::{
    Manifest, ManifestSegment, Removal, RemovalReason, SegmentState, decode_manifest,
    encode_manifest,
};
use vexfs_journal_format::{FileHeader, FormatError};

use crate::dir::{create_file, segment_name, sync_dir};
use crate::error::{Result, StorageError};
use crate::segment::Segment;

/// Name of the manifest file.
pub const MANIFEST_FILE: &str = "MANIFEST";

/// How many sequence numbers a lost open segment may have used when nothing recorded
/// its end: new events start this far beyond the last known sequence, so none of them
/// can take a number an unknown acknowledged event had (2^32: more events than any
/// segment holds).
pub const UNKNOWN_TAIL_RESERVE: u64 = 1 << 32;

/// Reads `dir/MANIFEST`; `None` when there is none.
pub fn load(dir: &Path) -> Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io("reading", &path, e)),
    };
    decode_manifest(&bytes)
        .map(Some)
        .map_err(|source| StorageError::ManifestDamaged { path, source })
}

/// Writes `m` to `path` (a new file, synced). The caller renames it into place.
pub fn write_file(path: &Path, m: &Manifest) -> Result<()> {
    let mut f = create_file(path)?;
    f.write_all(&encode_manifest(m))
        .and_then(|_| f.sync_all())
        .map_err(|e| StorageError::io("writing", path, e))
}

/// Replaces `dir/MANIFEST` with `m` atomically: a crash leaves the old or the new one.
pub fn store(dir: &Path, m: &Manifest) -> Result<()> {
    let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
    if let Err(e) = write_file(&tmp, m) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, dir.join(MANIFEST_FILE)).map_err(|e| StorageError::io("renaming", &tmp, e))?;
    sync_dir(dir)
}

/// What the manifest records of a segment, from its header and block table.
pub fn entry_of(header: &FileHeader, first_seq: u64, facts: SegmentFacts) -> ManifestSegment {
    if header.flags & FLAG_SEALED == 0 {
        return ManifestSegment::open(first_seq, header.creation_timestamp);
    }
    ManifestSegment {
        first_seq,
        next_seq: facts.next_seq,
        events: facts.events,
        min_time: facts.min_time,
        max_time: facts.max_time,
        file_len: facts.file_len,
        created: header.creation_timestamp,
        checksum: kernel_crc32(&header.to_bytes()),
        state: SegmentState::Sealed,
    }
}

/// What the manifest records of an opened segment.
pub fn entry_of_segment(seg: &Segment) -> Result<ManifestSegment> {
    let file_len = fs::metadata(seg.path())
        .map_err(|e| StorageError::io("reading metadata of", seg.path(), e))?
        .len();
    Ok(entry_of(
        &seg.header(),
        seg.first_seq(),
        seg.facts(file_len),
    ))
}

/// Facts of a segment file that the manifest is compared with.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmentFacts {
    /// Sequence after its last event.
    pub next_seq: u64,
    /// Events.
    pub events: u64,
    /// Smallest event time.
    pub min_time: i64,
    /// Largest event time.
    pub max_time: i64,
    /// File length.
    pub file_len: u64,
    /// Sequence of its first event (0 when it holds none).
    pub first_event: u64,
}

impl SegmentFacts {
    /// Facts from a block table.
    pub fn from_blocks(
        blocks: &[vexfs_journal_format::footer::BlockEntry],
        first_seq: u64,
        file_len: u64,
    ) -> Self {
        SegmentFacts {
            next_seq: blocks.last().map_or(first_seq, |b| b.last_seq + 1),
            events: blocks.iter().map(|b| u64::from(b.event_count)).sum(),
            min_time: blocks.iter().map(|b| b.min_time).min().unwrap_or(0),
            max_time: blocks.iter().map(|b| b.max_time).max().unwrap_or(0),
            file_len,
            first_event: blocks.first().map_or(0, |b| b.first_seq),
        }
    }
}

/// A segment file as found on disk, for [`compare`].
#[derive(Clone, Debug)]
pub struct OnDisk {
    /// Its first sequence (from its name).
    pub first_seq: u64,
    /// Its path.
    pub path: PathBuf,
    /// Its header, if it parses.
    pub header: std::result::Result<FileHeader, FormatError>,
    /// Its facts (from the footer or a scan).
    pub facts: SegmentFacts,
    /// Whether opening it had to repair it (its header or footer no longer describe the
    /// sealed file byte for byte, so only its sequences are compared).
    pub repaired: bool,
    /// Whether damage inside it is reported by the caller (verify names each damaged
    /// block): sequences missing from it are then not reported again as shortened.
    pub damage_reported: bool,
}

/// A difference between the files on disk and the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discrepancy {
    /// A listed segment is gone.
    Missing {
        /// Where it was.
        path: PathBuf,
        /// Sequences it held, when known (an open segment's end is not recorded).
        seqs: (u64, Option<u64>),
    },
    /// A listed segment holds fewer events than when it was sealed, or the journal ends
    /// before sequences that were acknowledged.
    Shortened {
        /// The segment.
        path: PathBuf,
        /// Sequences no longer there.
        seqs: (u64, u64),
    },
    /// A listed segment was replaced by a different file.
    Replaced {
        /// The segment.
        path: PathBuf,
        /// What differs.
        what: String,
    },
    /// A segment file the manifest does not list.
    Unexpected {
        /// The file.
        path: PathBuf,
    },
    /// A segment whose sequences the manifest records as removed (retention or
    /// compaction was interrupted before deleting it); harmless, deleted by the writer.
    Leftover {
        /// The file.
        path: PathBuf,
    },
    /// A new, empty segment created by a rotation the crash interrupted before it was
    /// recorded; harmless, adopted by the writer.
    Unrecorded {
        /// The file.
        path: PathBuf,
    },
}

impl Discrepancy {
    /// Whether this difference means acknowledged data is missing or was changed
    /// (rather than an interrupted operation that the writer finishes).
    pub fn is_problem(&self) -> bool {
        !matches!(
            self,
            Discrepancy::Leftover { .. } | Discrepancy::Unrecorded { .. }
        )
    }

    /// The sequence range acknowledged events were lost from, when known.
    pub fn lost(&self) -> Option<(u64, Option<u64>)> {
        match self {
            Discrepancy::Missing { seqs, .. } => Some(*seqs),
            Discrepancy::Shortened { seqs, .. } => Some((seqs.0, Some(seqs.1))),
            _ => None,
        }
    }
}

impl std::fmt::Display for Discrepancy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Discrepancy::Missing {
                path,
                seqs: (a, Some(b)),
            } => write!(
                f,
                "segment {} is missing (it held sequences {a}..={b})",
                path.display()
            ),
            Discrepancy::Missing {
                path,
                seqs: (a, None),
            } => write!(
                f,
                "segment {} is missing (the open segment: sequences from {a} on)",
                path.display()
            ),
            Discrepancy::Shortened { path, seqs: (a, b) } => write!(
                f,
                "{} lost acknowledged sequences {a}..={b} (shortened or replaced)",
                path.display()
            ),
            Discrepancy::Replaced { path, what } => {
                write!(f, "segment {} was replaced ({what})", path.display())
            }
            Discrepancy::Unexpected { path } => write!(
                f,
                "segment {} is not in the manifest (copied in from elsewhere?)",
                path.display()
            ),
            Discrepancy::Leftover { path } => write!(
                f,
                "segment {} was removed by retention or compaction but is still on disk",
                path.display()
            ),
            Discrepancy::Unrecorded { path } => write!(
                f,
                "segment {} was created by an interrupted rotation",
                path.display()
            ),
        }
    }
}

/// Whether every sequence of `lo..hi` lies in a recorded removal.
fn removed(m: &Manifest, lo: u64, hi: u64) -> bool {
    let mut at = lo;
    let mut ranges: Vec<&Removal> = m.removals.iter().collect();
    ranges.sort_by_key(|r| r.first_seq);
    for r in ranges {
        if r.first_seq <= at && r.end_seq > at {
            at = r.end_seq;
        }
        if at >= hi {
            return true;
        }
    }
    at >= hi
}

/// Compares the segment files on disk (oldest first) with the manifest.
pub fn compare(m: &Manifest, dir: &Path, disk: &[OnDisk]) -> Vec<Discrepancy> {
    let mut out = Vec::new();
    let last_listed = m.segments.last().map(|s| s.first_seq);
    for entry in &m.segments {
        let Some(d) = disk.iter().find(|d| d.first_seq == entry.first_seq) else {
            let end = match entry.state {
                SegmentState::Sealed => Some(entry.next_seq.saturating_sub(1)),
                SegmentState::Open => None,
            };
            // An emptied sealed segment held nothing to lose.
            if entry.state == SegmentState::Sealed && entry.events == 0 {
                if !removed(m, entry.first_seq, entry.next_seq) {
                    out.push(Discrepancy::Missing {
                        path: dir.join(segment_name(entry.first_seq)),
                        seqs: (entry.first_seq, end),
                    });
                }
                continue;
            }
            out.push(Discrepancy::Missing {
                path: dir.join(segment_name(entry.first_seq)),
                seqs: (entry.first_seq, end),
            });
            continue;
        };
        let header = d.header.as_ref().ok();
        if d.facts.events > 0 && d.facts.first_event < entry.first_seq {
            out.push(Discrepancy::Replaced {
                path: d.path.clone(),
                what: format!(
                    "it holds sequences from {}, before the {} its name says",
                    d.facts.first_event, entry.first_seq
                ),
            });
            continue;
        }
        match entry.state {
            SegmentState::Sealed => {
                if d.facts.next_seq < entry.next_seq {
                    if !d.damage_reported {
                        out.push(Discrepancy::Shortened {
                            path: d.path.clone(),
                            seqs: (d.facts.next_seq.max(entry.first_seq), entry.next_seq - 1),
                        });
                    }
                    continue;
                }
                let Some(h) = header else { continue };
                if d.repaired {
                    // Damage inside it is reported where it was found (a damaged block,
                    // a rebuilt footer); only a segment that now ends elsewhere is a
                    // different file.
                    if d.facts.next_seq != entry.next_seq {
                        out.push(Discrepancy::Replaced {
                            path: d.path.clone(),
                            what: format!(
                                "it ends at sequence {} instead of {}",
                                d.facts.next_seq.saturating_sub(1),
                                entry.next_seq - 1
                            ),
                        });
                    }
                    continue;
                }
                if h.flags & FLAG_SEALED == 0 {
                    out.push(Discrepancy::Replaced {
                        path: d.path.clone(),
                        what: "it is not sealed, the manifest recorded it sealed".into(),
                    });
                    continue;
                }
                let crc = kernel_crc32(&h.to_bytes());
                if crc != entry.checksum
                    || d.facts.file_len != entry.file_len
                    || d.facts.next_seq != entry.next_seq
                    || d.facts.events != entry.events
                {
                    out.push(Discrepancy::Replaced {
                        path: d.path.clone(),
                        what: format!(
                            "{} bytes and {} events, header crc32 {crc:08x}; the manifest recorded {} bytes and {} events, crc32 {:08x}",
                            d.facts.file_len,
                            d.facts.events,
                            entry.file_len,
                            entry.events,
                            entry.checksum
                        ),
                    });
                }
            }
            SegmentState::Open => {
                if let Some(h) = header
                    && h.creation_timestamp != entry.created
                    && !d.repaired
                {
                    out.push(Discrepancy::Replaced {
                        path: d.path.clone(),
                        what: format!(
                            "created at {} s, the manifest recorded {} s",
                            h.creation_timestamp, entry.created
                        ),
                    });
                }
            }
        }
    }
    for d in disk {
        if m.segments.iter().any(|e| e.first_seq == d.first_seq) {
            continue;
        }
        let end = d.facts.next_seq.max(d.first_seq + 1);
        if removed(m, d.first_seq, end) {
            out.push(Discrepancy::Leftover {
                path: d.path.clone(),
            });
        } else if last_listed.is_none_or(|l| d.first_seq > l)
            && d.facts.events == 0
            && disk.last().is_some_and(|l| l.first_seq == d.first_seq)
        {
            out.push(Discrepancy::Unrecorded {
                path: d.path.clone(),
            });
        } else {
            out.push(Discrepancy::Unexpected {
                path: d.path.clone(),
            });
        }
    }
    // Sequences acknowledged before the last manifest update must still be there.
    let disk_next = disk.iter().map(|d| d.facts.next_seq).max().unwrap_or(0);
    let listed_next = m
        .segments
        .iter()
        .filter(|s| s.state == SegmentState::Sealed)
        .map(|s| s.next_seq)
        .max()
        .unwrap_or(0);
    let open_missing = out.iter().any(|d| {
        matches!(
            d,
            Discrepancy::Missing {
                seqs: (_, None),
                ..
            }
        )
    });
    if !open_missing
        && m.next_seq_floor > disk_next.max(listed_next)
        && !removed(m, disk_next.max(listed_next), m.next_seq_floor)
        && let Some(last) = disk.last().filter(|l| !l.damage_reported)
    {
        let from = disk_next.max(listed_next).max(last.first_seq);
        if from < m.next_seq_floor {
            out.push(Discrepancy::Shortened {
                path: last.path.clone(),
                seqs: (from, m.next_seq_floor - 1),
            });
        }
    }
    out
}

/// A manifest describing `segments` as they are, with `floor` as the sequence floor.
pub fn describe(
    journal_id: [u8; 16],
    segments: &[std::sync::Arc<Segment>],
    floor: u64,
) -> Result<Manifest> {
    let mut m = Manifest {
        journal_id,
        generation: 0,
        next_seq_floor: floor,
        updated_ns: crate::clock::now_ns(),
        segments: Vec::with_capacity(segments.len()),
        removals: Vec::new(),
    };
    for seg in segments {
        m.segments.push(entry_of_segment(seg)?);
    }
    Ok(m)
}

/// Records that `first..end` left the journal for `reason` (merged into the list).
pub fn record_removal(m: &mut Manifest, first: u64, end: u64, reason: RemovalReason) {
    if end <= first {
        return;
    }
    if let Some(last) = m.removals.last_mut()
        && last.reason == reason
        && last.generation == m.generation
        && last.end_seq == first
    {
        last.end_seq = end;
        last.time_ns = crate::clock::now_ns();
        return;
    }
    m.removals.push(Removal {
        first_seq: first,
        end_seq: end,
        generation: m.generation,
        time_ns: crate::clock::now_ns(),
        reason,
    });
}

/// Why a cursor taken at `generation`, positioned after `seq`, can no longer be
/// resumed, if it cannot: history was rolled back since, or its position was removed.
/// `still_there` tells whether the event at a sequence still exists (compaction may
/// have kept the cursor's own event).
pub fn cursor_refusal(
    m: &Manifest,
    generation: u64,
    seq: u64,
    still_there: impl Fn(u64) -> bool,
) -> Option<String> {
    if generation > m.generation {
        return Some(format!(
            "it is from generation {generation} but the journal is at generation {} (a newer journal state it cannot belong to)",
            m.generation
        ));
    }
    for r in m.removals.iter().filter(|r| r.generation > generation) {
        match r.reason {
            RemovalReason::Rollback if seq >= r.first_seq => {
                return Some(format!(
                    "the journal was rolled back to sequence {} after it was taken (generation {generation} → {}): events it saw are gone and new events may differ; start again from a checkpoint or the beginning",
                    r.first_seq.saturating_sub(1),
                    r.generation
                ));
            }
            RemovalReason::Compaction | RemovalReason::Salvage | RemovalReason::Reserved
                if r.first_seq <= seq && seq < r.end_seq && !still_there(seq) =>
            {
                return Some(format!(
                    "its position (sequence {seq}) was removed by {} after it was taken (sequences {}..={})",
                    r.reason.name(),
                    r.first_seq,
                    r.end_seq - 1
                ));
            }
            _ => {}
        }
    }
    None
}
