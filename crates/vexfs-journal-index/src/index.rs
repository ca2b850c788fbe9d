//! [`Index`]: the indexes of every segment of a journal, kept in step with the storage.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_storage::{BlockObserver, BlockRef, Segment, Store};

use crate::error::{IndexError, Result};
use crate::file::{self, IndexHeader, section};
use crate::segment_index::{BlockCounts, SegmentIndex, Terms, summarise_block};

/// The terms of a segment: in memory while the segment grows, on disk once persisted
/// (loaded on first use).
#[derive(Debug)]
enum TermsSlot {
    Memory(Arc<Terms>),
    OnDisk(IndexHeader),
}

/// A segment's per-block counts: part of its terms while they are in memory, or
/// loaded alone from its index file (a rate needs no paths or transactions).
#[derive(Clone, Debug)]
pub enum SegCounts {
    /// The counts inside the terms held in memory.
    Terms(Arc<Terms>),
    /// The counts section, loaded alone.
    Loaded(Arc<BlockCounts>),
}

impl std::ops::Deref for SegCounts {
    type Target = BlockCounts;

    fn deref(&self) -> &BlockCounts {
        match self {
            SegCounts::Terms(t) => &t.counts,
            SegCounts::Loaded(c) => c,
        }
    }
}

/// The index of one segment.
#[derive(Debug)]
pub struct SegEntry {
    first_seq: u64,
    idx_path: PathBuf,
    summary: RwLock<SegmentIndex>,
    terms: RwLock<TermsSlot>,
    /// The counts section of a segment whose terms are on disk, once loaded.
    counts: RwLock<Option<Arc<BlockCounts>>>,
    /// Serialises writes of the index file (a checkpoint and the writer sealing the
    /// segment can persist it at the same time; they share the temporary name).
    persisting: Mutex<()>,
}

impl SegEntry {
    fn new(first_seq: u64, idx_path: PathBuf, summary: SegmentIndex, terms: TermsSlot) -> Self {
        SegEntry {
            first_seq,
            idx_path,
            summary: RwLock::new(summary),
            terms: RwLock::new(terms),
            counts: RwLock::new(None),
            persisting: Mutex::new(()),
        }
    }

    /// The ordinal of the indexed block holding sequence `seq`.
    pub fn block_of_seq(&self, seq: u64) -> Option<u32> {
        let summary = self.summary();
        let i = summary.blocks.partition_point(|b| b.last_seq < seq);
        let b = summary.blocks.get(i)?;
        (b.first_seq <= seq && b.count > 0)
            .then_some(i)
            .and_then(|i| u32::try_from(i).ok())
    }

    /// Read access to the block summaries.
    pub fn summary(&self) -> std::sync::RwLockReadGuard<'_, SegmentIndex> {
        self.summary.read().unwrap_or_else(|p| p.into_inner())
    }

    fn summary_mut(&self) -> std::sync::RwLockWriteGuard<'_, SegmentIndex> {
        self.summary.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The term postings, loading them from the index file if needed.
    pub fn terms(&self) -> Result<Arc<Terms>> {
        if let TermsSlot::Memory(t) = &*self.terms.read().unwrap_or_else(|p| p.into_inner()) {
            return Ok(t.clone());
        }
        let mut slot = self.terms.write().unwrap_or_else(|p| p.into_inner());
        let header = match &*slot {
            TermsSlot::Memory(t) => return Ok(t.clone()),
            TermsSlot::OnDisk(h) => *h,
        };
        let terms = Arc::new(load_terms(&self.idx_path, &header)?);
        *slot = TermsSlot::Memory(terms.clone());
        Ok(terms)
    }

    /// The per-block counts: from the terms in memory, or the counts section alone
    /// (loaded from the index file once, without the term sections).
    pub fn counts(&self) -> Result<SegCounts> {
        let slot = self.terms.read().unwrap_or_else(|p| p.into_inner());
        let header = match &*slot {
            TermsSlot::Memory(t) => return Ok(SegCounts::Terms(t.clone())),
            TermsSlot::OnDisk(h) => *h,
        };
        let mut cache = self.counts.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = &*cache {
            return Ok(SegCounts::Loaded(c.clone()));
        }
        let f =
            File::open(&self.idx_path).map_err(|e| IndexError::io("opening", &self.idx_path, e))?;
        let bytes = read_section(&f, &self.idx_path, &header, section::COUNTS, "index counts")?;
        let counts = Arc::new(
            file::decode_counts(&bytes, header.block_count).map_err(|e| {
                IndexError::format(&self.idx_path, header.sections[section::COUNTS].0, e)
            })?,
        );
        *cache = Some(counts.clone());
        Ok(SegCounts::Loaded(counts))
    }
}

fn read_section(
    file: &File,
    path: &Path,
    h: &IndexHeader,
    which: usize,
    what: &'static str,
) -> Result<Vec<u8>> {
    let (off, len, crc) = h.sections[which];
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, off)
        .map_err(|e| IndexError::io("reading", path, e))?;
    file::check_section(&buf, crc, what).map_err(|e| IndexError::format(path, off, e))?;
    Ok(buf)
}

fn load_terms(path: &Path, h: &IndexHeader) -> Result<Terms> {
    let f = File::open(path).map_err(|e| IndexError::io("opening", path, e))?;
    let paths = read_section(&f, path, h, section::PATHS, "index paths")?;
    let agents = read_section(&f, path, h, section::AGENTS, "index agents")?;
    let txs = read_section(&f, path, h, section::TXS, "index transactions")?;
    let refs = read_section(&f, path, h, section::REFS, "index causal references")?;
    let ids = read_section(&f, path, h, section::IDS, "index foreign ids")?;
    let counts = read_section(&f, path, h, section::COUNTS, "index counts")?;
    let sections = file::TermSections {
        paths: &paths,
        agents: &agents,
        txs: &txs,
        refs: &refs,
        ids: &ids,
    };
    let mut terms = file::decode_terms(sections, h.block_count)
        .map_err(|e| IndexError::format(path, h.sections[section::PATHS].0, e))?;
    terms.counts = file::decode_counts(&counts, h.block_count)
        .map_err(|e| IndexError::format(path, h.sections[section::COUNTS].0, e))?;
    Ok(terms)
}

/// Why an index file was not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rebuilt {
    /// No index file.
    Missing,
    /// The file does not describe the segment as it is now.
    Stale(String),
    /// The file does not decode or check.
    Corrupt(String),
}

impl std::fmt::Display for Rebuilt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Rebuilt::Missing => f.write_str("no index file"),
            Rebuilt::Stale(why) => write!(f, "out of date: {why}"),
            Rebuilt::Corrupt(why) => write!(f, "damaged: {why}"),
        }
    }
}

/// What opening the index found and did.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct IndexReport {
    /// Segments whose index file was used.
    pub loaded: usize,
    /// Segments indexed from their blocks, and why.
    pub rebuilt: Vec<(PathBuf, Rebuilt)>,
    /// Blocks read to build or extend indexes.
    pub blocks_indexed: u64,
    /// Events in those blocks.
    pub events_indexed: u64,
    /// Time spent.
    pub elapsed: Duration,
}

/// The indexes of every segment of a journal.
#[derive(Debug)]
pub struct Index {
    writable: bool,
    segs: RwLock<BTreeMap<u64, Arc<SegEntry>>>,
}

/// The index file of a segment.
pub fn idx_path(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

impl Index {
    /// Loads or builds the index of every segment of `store`. A `writable` index
    /// persists what it rebuilds; a read-only one keeps it in memory.
    pub fn open(store: &Store, writable: bool) -> Result<(Index, IndexReport)> {
        let started = Instant::now();
        let index = Index {
            writable,
            segs: RwLock::new(BTreeMap::new()),
        };
        let mut report = IndexReport::default();
        // What each loaded index file covers, to tell which files fall behind their
        // segment once caught up.
        let mut on_disk: BTreeMap<u64, (u64, u32)> = BTreeMap::new();
        for seg in store.segments() {
            let path = idx_path(seg.path());
            let loaded = load_index(&path, &seg);
            if let Ok((_, header)) = &loaded {
                on_disk.insert(seg.first_seq(), (header.covered_end, header.block_count));
            }
            match loaded {
                Ok((summary, header)) if seg.is_sealed() => {
                    index.insert(SegEntry::new(
                        seg.first_seq(),
                        path,
                        summary,
                        TermsSlot::OnDisk(header),
                    ));
                    report.loaded += 1;
                }
                Ok((summary, header)) => {
                    // A growing segment keeps its terms in memory to extend them, without
                    // postings of blocks it no longer has.
                    let kept = summary.blocks.len() as u32;
                    match load_terms(&path, &header) {
                        Ok(mut terms) => {
                            prune_terms(&mut terms, kept);
                            index.insert(SegEntry::new(
                                seg.first_seq(),
                                path,
                                summary,
                                TermsSlot::Memory(Arc::new(terms)),
                            ));
                            report.loaded += 1;
                        }
                        Err(e) => {
                            tracing::warn!(segment = %seg.path().display(), error = %e, "index terms unusable; rebuilding the index from the segment");
                            report
                                .rebuilt
                                .push((path.clone(), Rebuilt::Corrupt(e.to_string())));
                            index.insert(SegEntry::new(
                                seg.first_seq(),
                                path,
                                SegmentIndex::new(
                                    seg.first_seq(),
                                    vexfs_journal_format::consts::FILE_HEADER_SIZE as u64,
                                ),
                                TermsSlot::Memory(Arc::new(Terms::default())),
                            ));
                        }
                    }
                }
                Err(why) => {
                    // A missing file is only rebuilt (compaction and salvage leave
                    // none for the segments they rewrite); damage is worth a warning.
                    let level_warn = why != Rebuilt::Missing;
                    if level_warn {
                        tracing::warn!(segment = %seg.path().display(), reason = %why, "index unusable; rebuilding it from the segment");
                    } else {
                        tracing::info!(segment = %seg.path().display(), "indexing segment");
                    }
                    report.rebuilt.push((path.clone(), why));
                    let entry = SegEntry::new(
                        seg.first_seq(),
                        path,
                        SegmentIndex::new(
                            seg.first_seq(),
                            vexfs_journal_format::consts::FILE_HEADER_SIZE as u64,
                        ),
                        TermsSlot::Memory(Arc::new(Terms::default())),
                    );
                    index.insert(entry);
                }
            }
        }
        let (blocks, events) = index.catch_up(store)?;
        report.blocks_indexed = blocks;
        report.events_indexed = events;
        if writable {
            // Save every index that was rebuilt, caught up or cut, the growing segment's
            // too: after a power cut its file may be empty, and a journal that opened
            // must verify clean.
            for seg in store.segments() {
                let current = index.segment(seg.first_seq()).map(|e| {
                    let s = e.summary();
                    (s.covered_end, s.blocks.len() as u32)
                });
                let stale = current.is_some() && current != on_disk.get(&seg.first_seq()).copied();
                if stale && let Err(e) = index.persist(seg.first_seq()) {
                    // A read-only directory only costs a rebuild next time.
                    tracing::warn!(segment = %seg.path().display(), error = %e, "could not save the rebuilt index");
                }
            }
        }
        report.elapsed = started.elapsed();
        Ok((index, report))
    }

    fn insert(&self, entry: SegEntry) {
        self.segs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.first_seq, Arc::new(entry));
    }

    /// The index of the segment starting at `first_seq`.
    pub fn segment(&self, first_seq: u64) -> Option<Arc<SegEntry>> {
        self.segs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&first_seq)
            .cloned()
    }

    /// Indexes blocks the storage has and the index does not (other processes' writes,
    /// blocks written while no observer was attached) and forgets deleted segments.
    /// Returns (blocks, events) indexed.
    pub fn catch_up(&self, store: &Store) -> Result<(u64, u64)> {
        let segments = store.segments();
        {
            let live: Vec<u64> = segments.iter().map(|s| s.first_seq()).collect();
            self.segs
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|k, _| live.contains(k));
        }
        let (mut blocks, mut events) = (0, 0);
        for seg in segments {
            let entry = match self.segment(seg.first_seq()) {
                Some(e) => e,
                None => {
                    let e = SegEntry::new(
                        seg.first_seq(),
                        idx_path(seg.path()),
                        SegmentIndex::new(
                            seg.first_seq(),
                            vexfs_journal_format::consts::FILE_HEADER_SIZE as u64,
                        ),
                        TermsSlot::Memory(Arc::new(Terms::default())),
                    );
                    self.insert(e);
                    match self.segment(seg.first_seq()) {
                        Some(e) => e,
                        None => continue,
                    }
                }
            };
            let have = entry.summary().blocks.len();
            let missing: Vec<BlockEntry> = seg.blocks().iter().skip(have).copied().collect();
            if missing.is_empty() {
                continue;
            }
            // Terms are published before the summaries that refer to them, so a query
            // never sees an indexed block whose terms are missing (see query::plan).
            let mut terms = (*entry.terms()?).clone();
            let mut added = Vec::with_capacity(missing.len());
            for (i, b) in missing.iter().enumerate() {
                let ordinal = (have + i) as u32;
                let block = BlockRef {
                    segment: seg.clone(),
                    entry: *b,
                };
                let summary = store
                    .with_records(&block, |records| {
                        summarise_block(records, ordinal, &mut terms)
                    })?
                    .map_err(|e| IndexError::format(seg.path(), b.offset, e))?;
                added.push((summary, b.offset + u64::from(b.size)));
                blocks += 1;
                events += u64::from(summary.count);
            }
            *entry.terms.write().unwrap_or_else(|p| p.into_inner()) =
                TermsSlot::Memory(Arc::new(terms));
            let mut summary = entry.summary_mut();
            for (s, end) in added {
                summary.push(s, end);
            }
        }
        Ok((blocks, events))
    }

    /// Adds one block given its records (the writer's observer path).
    pub fn add_block(&self, segment: &Segment, entry: &BlockEntry, records: &[u8]) -> Result<()> {
        let seg_entry = match self.segment(segment.first_seq()) {
            Some(e) => e,
            None => {
                self.insert(SegEntry::new(
                    segment.first_seq(),
                    idx_path(segment.path()),
                    SegmentIndex::new(segment.first_seq(), entry.offset),
                    TermsSlot::Memory(Arc::new(Terms::default())),
                ));
                match self.segment(segment.first_seq()) {
                    Some(e) => e,
                    None => return Ok(()),
                }
            }
        };
        let mut slot = seg_entry.terms.write().unwrap_or_else(|p| p.into_inner());
        let TermsSlot::Memory(terms) = &mut *slot else {
            return Ok(());
        };
        let mut summary = seg_entry.summary_mut();
        let ordinal = summary.blocks.len() as u32;
        let s = summarise_block(records, ordinal, Arc::make_mut(terms))
            .map_err(|e| IndexError::format(segment.path(), entry.offset, e))?;
        summary.push(s, entry.offset + u64::from(entry.size));
        Ok(())
    }

    /// Writes the index file of a segment (atomically: temporary file, rename).
    pub fn persist(&self, first_seq: u64) -> Result<()> {
        if !self.writable {
            return Ok(());
        }
        let Some(entry) = self.segment(first_seq) else {
            return Ok(());
        };
        let _one_writer = entry.persisting.lock().unwrap_or_else(|p| p.into_inner());
        let terms = entry.terms()?;
        let bytes = {
            let s = entry.summary();
            file::encode_index(first_seq, s.covered_end, &s.blocks, &terms)
        };
        let tmp = entry.idx_path.with_extension("idx.tmp");
        let mut out = vexfs_journal_storage::dir::create_file(&tmp)?;
        std::io::Write::write_all(&mut out, &bytes)
            .map_err(|e| IndexError::io("writing", &tmp, e))?;
        std::fs::rename(&tmp, &entry.idx_path).map_err(|e| IndexError::io("renaming", &tmp, e))?;
        Ok(())
    }

    /// Persists every segment's index (at close: the growing segment too, so a clean
    /// reopen reads instead of rebuilding).
    pub fn persist_all(&self) -> Result<()> {
        let keys: Vec<u64> = self
            .segs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .copied()
            .collect();
        for k in keys {
            self.persist(k)?;
        }
        Ok(())
    }

    /// After a segment is sealed: persists its index and lets its terms go to disk.
    pub fn sealed(&self, first_seq: u64) -> Result<()> {
        self.persist(first_seq)?;
        if let Some(entry) = self.segment(first_seq) {
            entry.summary_mut().shrink_to_fit();
        }
        if !self.writable {
            return Ok(());
        }
        if let Some(entry) = self.segment(first_seq)
            && let Ok(data) = std::fs::read(&entry.idx_path)
            && let Ok(h) = file::decode_header(&data, data.len() as u64)
        {
            *entry.terms.write().unwrap_or_else(|p| p.into_inner()) = TermsSlot::OnDisk(h);
            *entry.counts.write().unwrap_or_else(|p| p.into_inner()) = None;
        }
        Ok(())
    }

    /// Forgets a deleted segment and deletes its index file.
    pub fn removed(&self, first_seq: u64) {
        let entry = self
            .segs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&first_seq);
        if let Some(e) = entry
            && self.writable
        {
            let _ = std::fs::remove_file(&e.idx_path);
        }
    }

    /// Every segment index, oldest first.
    pub fn segments(&self) -> Vec<Arc<SegEntry>> {
        self.segs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Blocks and approximate bytes held in memory.
    pub fn memory(&self) -> (usize, usize) {
        let mut blocks = 0;
        let mut bytes = 0;
        for s in self.segments() {
            let n = s.summary().blocks.len();
            blocks += n;
            bytes += n * (std::mem::size_of::<crate::segment_index::BlockSummary>() + 16);
            if let TermsSlot::Memory(t) = &*s.terms.read().unwrap_or_else(|p| p.into_inner()) {
                bytes += t.heap_bytes();
            }
            if let Some(c) = &*s.counts.read().unwrap_or_else(|p| p.into_inner()) {
                bytes += c.heap_bytes();
            }
        }
        (blocks, bytes)
    }
}

/// Drops postings of block ordinals `kept` and above.
fn prune_terms(terms: &mut Terms, kept: u32) {
    for list in terms.paths.values_mut().chain(terms.agents.values_mut()) {
        list.retain(|b| *b < kept);
    }
    for map in [&mut terms.txs, &mut terms.refs, &mut terms.ids] {
        for list in map.values_mut() {
            list.retain(|b| *b < kept);
        }
        map.retain(|_, l| !l.is_empty());
    }
    terms.paths.retain(|_, l| !l.is_empty());
    terms.agents.retain(|_, l| !l.is_empty());
    terms.counts.truncate(kept as usize);
}

/// Loads a segment's index file and checks it describes the segment as it is.
fn load_index(
    path: &Path,
    seg: &Segment,
) -> std::result::Result<(SegmentIndex, IndexHeader), Rebuilt> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Rebuilt::Missing),
        Err(e) => return Err(Rebuilt::Corrupt(format!("cannot read: {e}"))),
    };
    let h = file::decode_header(&bytes, bytes.len() as u64).map_err(|e| match e {
        // A file of another version (an older build's) is out of date, not damaged.
        e @ vexfs_journal_format::FormatError::UnsupportedVersion { .. } => {
            Rebuilt::Stale(e.to_string())
        }
        e => Rebuilt::Corrupt(e.to_string()),
    })?;
    if h.first_seq != seg.first_seq() {
        return Err(Rebuilt::Stale(format!(
            "index is for segment {} not {}",
            h.first_seq,
            seg.first_seq()
        )));
    }
    let (off, len, crc) = h.sections[section::BLOCKS];
    let sec = bytes
        .get(off as usize..(off + len) as usize)
        .ok_or_else(|| Rebuilt::Corrupt("block section outside the file".into()))?;
    file::check_section(sec, crc, "index block summaries")
        .map_err(|e| Rebuilt::Corrupt(e.to_string()))?;
    let summaries =
        file::decode_summaries(sec, h.block_count).map_err(|e| Rebuilt::Corrupt(e.to_string()))?;
    let storage = seg.blocks();
    let mut summaries = summaries;
    let mut truncated = false;
    if !seg.is_sealed() && summaries.len() > storage.len() {
        // The open segment lost its tail (a crash cut blocks the index had seen, e.g.
        // after a checkpoint): keep the part that still matches.
        summaries.truncate(storage.len());
        truncated = true;
    }
    if summaries.len() > storage.len() || (seg.is_sealed() && summaries.len() != storage.len()) {
        return Err(Rebuilt::Stale(format!(
            "index covers {} blocks, segment has {}",
            summaries.len(),
            storage.len()
        )));
    }
    for (s, b) in summaries.iter().zip(storage.iter()) {
        if s.first_seq != b.first_seq || s.last_seq != b.last_seq || s.count != b.event_count {
            return Err(Rebuilt::Stale(format!(
                "block at byte {} differs from the index",
                b.offset
            )));
        }
    }
    let end = summaries
        .len()
        .checked_sub(1)
        .and_then(|i| storage.get(i))
        .map_or(vexfs_journal_format::consts::FILE_HEADER_SIZE as u64, |b| {
            b.offset + u64::from(b.size)
        });
    if end != h.covered_end && !truncated {
        return Err(Rebuilt::Stale(
            "covered end differs from the segment".into(),
        ));
    }
    // Term sections are checked now too, so a damaged file is rebuilt at open rather
    // than failing a later query.
    for (which, what) in [
        (section::PATHS, "paths"),
        (section::AGENTS, "agents"),
        (section::TXS, "transactions"),
        (section::COUNTS, "counts"),
        (section::REFS, "causal references"),
        (section::IDS, "foreign ids"),
    ] {
        let (off, len, crc) = h.sections[which];
        let sec = bytes
            .get(off as usize..(off + len) as usize)
            .ok_or_else(|| Rebuilt::Corrupt(format!("{what} section outside the file")))?;
        file::check_section(sec, crc, "index terms")
            .map_err(|e| Rebuilt::Corrupt(format!("{what}: {e}")))?;
    }
    Ok((SegmentIndex::from_summaries(h.first_seq, end, summaries), h))
}

/// Feeds the writer's blocks into an [`Index`].
#[derive(Debug)]
pub struct IndexObserver {
    index: Arc<Index>,
}

impl IndexObserver {
    /// An observer updating `index`.
    pub fn new(index: Arc<Index>) -> Self {
        IndexObserver { index }
    }
}

impl BlockObserver for IndexObserver {
    fn on_block(&mut self, segment: &Segment, entry: &BlockEntry, records: &[u8]) {
        if let Err(e) = self.index.add_block(segment, entry, records) {
            tracing::warn!(error = %e, "index update failed; the segment will be re-indexed on open");
        }
    }

    fn on_seal(&mut self, segment: &Segment) {
        if let Err(e) = self.index.sealed(segment.first_seq()) {
            tracing::warn!(error = %e, "could not persist a sealed segment's index; it will be rebuilt on open");
        }
    }

    fn on_remove(&mut self, segment: &Segment) {
        self.index.removed(segment.first_seq());
    }
}
