//! [`Index`]: the indexes of every segment of a journal, kept in step with the storage.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use vexfs_journal_format::footer::BlockEntry;
use vexfs_journal_storage::{BlockObserver, BlockRef, Segment, Store};

use crate::error::{IndexError, Result};
use crate::file::{self, IndexHeader, section};
use crate::sealed::{IdxFile, IndexKey, read_all};
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

/// Most bytes of block summaries of sealed segments kept in memory once loaded: past
/// it, the summaries loaded longest ago are dropped (and loaded again when needed).
const RESIDENT_SUMMARY_BYTES: usize = 16 << 20;

/// Bytes of memory one block's summary takes (the summary and its two pruning
/// entries).
const SUMMARY_MEM: usize = std::mem::size_of::<crate::segment_index::BlockSummary>() + 16;

/// The sealed segments whose summaries are loaded from their index files, oldest load
/// first, and the bytes they hold.
/// Loaded entries, oldest first, with their bytes; and the total.
type Loaded = (std::collections::VecDeque<(Weak<SegEntry>, usize)>, usize);

#[derive(Debug)]
struct Residency {
    loaded: Mutex<Loaded>,
    /// [`RESIDENT_SUMMARY_BYTES`] (smaller in tests).
    budget: std::sync::atomic::AtomicUsize,
}

impl Default for Residency {
    fn default() -> Self {
        Residency {
            loaded: Mutex::default(),
            budget: std::sync::atomic::AtomicUsize::new(RESIDENT_SUMMARY_BYTES),
        }
    }
}

impl Residency {
    /// Records that `entry` loaded `bytes` of summaries; returns the entries to drop
    /// to stay within [`RESIDENT_SUMMARY_BYTES`].
    fn loaded(&self, entry: Weak<SegEntry>, bytes: usize) -> Vec<Arc<SegEntry>> {
        let mut guard = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        let (queue, total) = &mut *guard;
        queue.push_back((entry, bytes));
        *total += bytes;
        let mut victims = Vec::new();
        let budget = self.budget.load(std::sync::atomic::Ordering::Relaxed);
        while *total > budget && queue.len() > 1 {
            let Some((victim, bytes)) = queue.pop_front() else {
                break;
            };
            *total -= bytes;
            if let Some(v) = victim.upgrade() {
                victims.push(v);
            }
        }
        victims
    }
}

/// The index of one segment.
#[derive(Debug)]
pub struct SegEntry {
    first_seq: u64,
    idx_path: PathBuf,
    /// This entry (for the residency list).
    me: Weak<SegEntry>,
    summary: RwLock<SegmentIndex>,
    /// For a sealed segment: its index file's header. Its summaries are then loaded
    /// from the file when first needed, and dropped again when too many are loaded.
    on_disk: RwLock<Option<IndexHeader>>,
    /// Whether `summary` holds the summaries (always, unless `on_disk` is set).
    resident: std::sync::atomic::AtomicBool,
    residency: Arc<Residency>,
    terms: RwLock<TermsSlot>,
    /// The counts section of a segment whose terms are on disk, once loaded.
    counts: RwLock<Option<Arc<BlockCounts>>>,
    /// Serialises writes of the index file (a checkpoint and the writer sealing the
    /// segment can persist it at the same time; they share the temporary name).
    persisting: Mutex<()>,
    /// The key of an encrypted journal's index files.
    key: Option<IndexKey>,
}

/// What a new [`SegEntry`] starts with.
#[derive(Debug)]
struct NewEntry {
    first_seq: u64,
    idx_path: PathBuf,
    /// The summaries, or (for a sealed segment whose index file was checked) where to
    /// load them from.
    summary: Result<SegmentIndex, IndexHeader>,
    terms: TermsSlot,
}

impl NewEntry {
    fn new(first_seq: u64, idx_path: PathBuf, summary: SegmentIndex, terms: TermsSlot) -> Self {
        NewEntry {
            first_seq,
            idx_path,
            summary: Ok(summary),
            terms,
        }
    }
}

impl SegEntry {
    fn build(new: NewEntry, residency: Arc<Residency>, key: Option<IndexKey>) -> Arc<SegEntry> {
        let (summary, on_disk) = match new.summary {
            Ok(s) => (s, None),
            Err(h) => (SegmentIndex::new(new.first_seq, h.covered_end), Some(h)),
        };
        let resident = on_disk.is_none();
        Arc::new_cyclic(|me| SegEntry {
            first_seq: new.first_seq,
            idx_path: new.idx_path,
            me: me.clone(),
            summary: RwLock::new(summary),
            on_disk: RwLock::new(on_disk),
            resident: std::sync::atomic::AtomicBool::new(resident),
            residency,
            terms: RwLock::new(new.terms),
            counts: RwLock::new(None),
            persisting: Mutex::new(()),
            key,
        })
    }

    fn on_disk(&self) -> Option<IndexHeader> {
        *self.on_disk.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Segment byte offset after the last indexed block, and the indexed blocks,
    /// without loading summaries.
    fn extent(&self) -> (u64, usize) {
        if !self.resident.load(std::sync::atomic::Ordering::Acquire)
            && let Some(h) = self.on_disk()
        {
            return (h.covered_end, h.block_count as usize);
        }
        let s = self.summary.read().unwrap_or_else(|p| p.into_inner());
        (s.covered_end, s.blocks.len())
    }

    /// Loads the summaries of a sealed segment from its index file, if they are not in
    /// memory. A file that no longer reads back leaves them empty: queries then read
    /// the segment's blocks instead (slower, never wrong).
    fn make_resident(&self) {
        use std::sync::atomic::Ordering;
        if self.resident.load(Ordering::Acquire) {
            return;
        }
        let bytes = {
            let mut summary = self.summary.write().unwrap_or_else(|p| p.into_inner());
            if self.resident.load(Ordering::Acquire) {
                return;
            }
            let Some(h) = self.on_disk() else {
                self.resident.store(true, Ordering::Release);
                return;
            };
            match load_summaries(&self.idx_path, &h, self.key.as_ref()) {
                Ok(loaded) => *summary = loaded,
                Err(e) => {
                    tracing::warn!(index = %self.idx_path.display(), error = %e, "index summaries unreadable; queries read this segment's blocks");
                    *summary = SegmentIndex::new(self.first_seq, h.covered_end);
                }
            }
            self.resident.store(true, Ordering::Release);
            summary.blocks.len() * SUMMARY_MEM
        };
        for victim in self.residency.loaded(self.me.clone(), bytes) {
            if !std::ptr::eq(Arc::as_ptr(&victim), self) {
                victim.drop_summaries();
            }
        }
    }

    /// Lets go of the summaries of a sealed segment (they stay in its index file).
    fn drop_summaries(&self) {
        use std::sync::atomic::Ordering;
        let mut summary = self.summary.write().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = self.on_disk()
            && self.resident.load(Ordering::Acquire)
        {
            self.resident.store(false, Ordering::Release);
            *summary = SegmentIndex::new(self.first_seq, h.covered_end);
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

    /// Read access to the block summaries (a sealed segment's are loaded from its
    /// index file when not in memory).
    pub fn summary(&self) -> std::sync::RwLockReadGuard<'_, SegmentIndex> {
        self.make_resident();
        self.summary.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access to the block summaries, which stay in memory from now on (a
    /// segment whose index grows).
    fn summary_mut(&self) -> std::sync::RwLockWriteGuard<'_, SegmentIndex> {
        self.make_resident();
        let guard = self.summary.write().unwrap_or_else(|p| p.into_inner());
        *self.on_disk.write().unwrap_or_else(|p| p.into_inner()) = None;
        self.resident
            .store(true, std::sync::atomic::Ordering::Release);
        guard
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
        let terms = Arc::new(load_terms(
            &self.idx_path,
            &header,
            self.first_seq,
            self.key.as_ref(),
        )?);
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
        let f = IdxFile::open(&self.idx_path, self.first_seq, self.key.as_ref())
            .map_err(|e| IndexError::io("opening", &self.idx_path, e))?;
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
    file: &IdxFile,
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

/// The block summaries of an index file whose header is `h`.
fn load_summaries(path: &Path, h: &IndexHeader, key: Option<&IndexKey>) -> Result<SegmentIndex> {
    let f =
        IdxFile::open(path, h.first_seq, key).map_err(|e| IndexError::io("opening", path, e))?;
    let bytes = read_section(&f, path, h, section::BLOCKS, "index block summaries")?;
    let summaries = file::decode_summaries(&bytes, h.block_count)
        .map_err(|e| IndexError::format(path, h.sections[section::BLOCKS].0, e))?;
    Ok(SegmentIndex::from_summaries(
        h.first_seq,
        h.covered_end,
        summaries,
    ))
}

fn load_terms(
    path: &Path,
    h: &IndexHeader,
    first_seq: u64,
    key: Option<&IndexKey>,
) -> Result<Terms> {
    let f = IdxFile::open(path, first_seq, key).map_err(|e| IndexError::io("opening", path, e))?;
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
    /// The key of an encrypted journal's index files.
    key: Option<IndexKey>,
    segs: RwLock<BTreeMap<u64, Arc<SegEntry>>>,
    residency: Arc<Residency>,
    /// Held by [`Index::catch_up`]: two at once would index a block twice.
    catching_up: Mutex<()>,
}

/// The index file of a segment.
pub fn idx_path(segment: &Path) -> PathBuf {
    segment.with_extension("idx")
}

impl Index {
    /// Loads or builds the index of every segment of `store`. A `writable` index
    /// persists what it rebuilds; a read-only one keeps it in memory.
    /// An encrypted journal's index files are encrypted whole with its key
    /// ([`crate::sealed`]).
    pub fn open(store: &Store, writable: bool) -> Result<(Index, IndexReport)> {
        let started = Instant::now();
        let key = store
            .cipher()
            .map(|c| IndexKey::new(c.key().clone(), c.journal()));
        let index = Index {
            writable,
            key: key.clone(),
            segs: RwLock::new(BTreeMap::new()),
            residency: Arc::default(),
            catching_up: Mutex::new(()),
        };
        let mut report = IndexReport::default();
        // What each loaded index file covers, to tell which files fall behind their
        // segment once caught up.
        let mut on_disk: BTreeMap<u64, (u64, u32)> = BTreeMap::new();
        let mut buf = Vec::new();
        for seg in store.segments() {
            let path = idx_path(seg.path());
            let loaded = if seg.is_sealed() {
                check_sealed_index(&path, &seg, &mut buf, key.as_ref()).map(|h| (None, h))
            } else {
                load_index(&path, &seg, key.as_ref()).map(|(s, h)| (Some(s), h))
            };
            if let Ok((_, header)) = &loaded {
                on_disk.insert(seg.first_seq(), (header.covered_end, header.block_count));
            }
            match loaded {
                Ok((None, header)) => {
                    // Checked against the segment; its summaries are loaded when a
                    // query first needs them.
                    index.insert(NewEntry {
                        first_seq: seg.first_seq(),
                        idx_path: path,
                        summary: Err(header),
                        terms: TermsSlot::OnDisk(header),
                    });
                    report.loaded += 1;
                }
                Ok((Some(summary), header)) => {
                    // A growing segment keeps its terms in memory to extend them, without
                    // postings of blocks it no longer has.
                    let kept = summary.blocks.len() as u32;
                    match load_terms(&path, &header, seg.first_seq(), key.as_ref()) {
                        Ok(mut terms) => {
                            prune_terms(&mut terms, kept);
                            index.insert(NewEntry::new(
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
                            index.insert(NewEntry::new(
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
                    let entry = NewEntry::new(
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
                    let (end, blocks) = e.extent();
                    (end, blocks as u32)
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

    fn insert(&self, entry: NewEntry) {
        let entry = SegEntry::build(entry, self.residency.clone(), self.key.clone());
        self.segs
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entry.first_seq, entry);
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
        let _one_at_a_time = self.catching_up.lock().unwrap_or_else(|p| p.into_inner());
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
                    let e = NewEntry::new(
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
            if seg.block_count() <= entry.extent().1 {
                continue;
            }
            // Growing from here on: the summaries stay in memory.
            let have = {
                let summary = entry.summary_mut();
                summary.blocks.len()
            };
            let missing: Vec<BlockEntry> = seg.blocks().iter().skip(have).copied().collect();
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
                self.insert(NewEntry::new(
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
        if entry.on_disk().is_some() {
            // Sealed, and its file already says exactly this.
            return Ok(());
        }
        let terms = entry.terms()?;
        let bytes = {
            let s = entry.summary();
            file::encode_index(first_seq, s.covered_end, &s.blocks, &terms)
        };
        let bytes = match &self.key {
            Some(k) => k
                .seal(first_seq, &bytes)
                .map_err(|e| IndexError::io("encrypting the index of", &entry.idx_path, e))?,
            None => bytes,
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
            && let Ok(data) = read_all(&entry.idx_path, first_seq, self.key.as_ref())
            && let Ok(h) = file::decode_header(&data, data.len() as u64)
        {
            *entry.terms.write().unwrap_or_else(|p| p.into_inner()) = TermsSlot::OnDisk(h);
            *entry.counts.write().unwrap_or_else(|p| p.into_inner()) = None;
            // The summaries stay loaded for now, among those that may be dropped.
            let blocks = {
                let summary = entry.summary.read().unwrap_or_else(|p| p.into_inner());
                *entry.on_disk.write().unwrap_or_else(|p| p.into_inner()) = Some(h);
                summary.blocks.len()
            };
            for victim in self
                .residency
                .loaded(entry.me.clone(), blocks * SUMMARY_MEM)
            {
                if !Arc::ptr_eq(&victim, &entry) {
                    victim.drop_summaries();
                }
            }
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
            let n = if s.resident.load(std::sync::atomic::Ordering::Acquire) {
                s.summary
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .blocks
                    .len()
            } else {
                0
            };
            blocks += n;
            bytes += n * SUMMARY_MEM;
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

/// Bytes of an index file read at a time when checking a sealed segment's file.
const CHECK_CHUNK: usize = file::SUMMARY_SIZE * 1024;

/// Reads `len` bytes of `f` at `off` a chunk at a time into `buf`, handing each chunk
/// to `each`.
fn stream(
    f: &IdxFile,
    off: u64,
    len: u64,
    buf: &mut Vec<u8>,
    mut each: impl FnMut(&[u8]) -> std::result::Result<(), Rebuilt>,
) -> std::result::Result<(), Rebuilt> {
    buf.resize(CHECK_CHUNK, 0);
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(CHECK_CHUNK as u64) as usize;
        let chunk = buf.get_mut(..n).unwrap_or_default();
        f.read_exact_at(chunk, off + done)
            .map_err(|e| Rebuilt::Corrupt(format!("cannot read: {e}")))?;
        each(chunk)?;
        done += n as u64;
    }
    Ok(())
}

/// [`load_index`] for a sealed segment, whose summaries are not kept: the file is
/// checked exactly as [`load_index`] checks it, read a chunk at a time through `buf`
/// (opening a large journal allocates nothing the size of an index file). Returns its
/// header.
fn check_sealed_index(
    path: &Path,
    seg: &Segment,
    buf: &mut Vec<u8>,
    key: Option<&IndexKey>,
) -> std::result::Result<IndexHeader, Rebuilt> {
    let f = match IdxFile::open(path, seg.first_seq(), key) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Rebuilt::Missing),
        Err(e) => return Err(Rebuilt::Corrupt(format!("cannot read: {e}"))),
    };
    let file_len = f
        .byte_len()
        .map_err(|e| Rebuilt::Corrupt(format!("cannot read: {e}")))?;
    let mut head = vec![0u8; (file::HEADER_SIZE as u64).min(file_len) as usize];
    f.read_exact_at(&mut head, 0)
        .map_err(|e| Rebuilt::Corrupt(format!("cannot read: {e}")))?;
    let h = segment_header(&head, file_len, seg.first_seq())?;
    let storage = seg.blocks_once();
    let (off, len, crc) = h.sections[section::BLOCKS];
    if len != u64::from(h.block_count) * file::SUMMARY_SIZE as u64 {
        return Err(Rebuilt::Corrupt(
            vexfs_journal_format::FormatError::SizeMismatch {
                field: "index block summaries length",
                declared: len,
                expected: u64::from(h.block_count) * file::SUMMARY_SIZE as u64,
            }
            .to_string(),
        ));
    }
    // Checksum, decoding and comparison in one pass; a difference counts only once
    // the checksum has passed (as when the section is checked first).
    let mut sum = vexfs_journal_format::KernelCrc32::new();
    let mut seen = 0usize;
    let mut differs: Option<String> = None;
    let mut malformed: Option<String> = None;
    stream(&f, off, len, buf, |chunk| {
        sum.update(chunk);
        if malformed.is_some() {
            return Ok(());
        }
        let count = (chunk.len() / file::SUMMARY_SIZE) as u32;
        match file::decode_summaries(chunk, count) {
            Ok(summaries) => {
                for s in &summaries {
                    if differs.is_none() {
                        match storage.get(seen) {
                            Some(b)
                                if s.first_seq == b.first_seq
                                    && s.last_seq == b.last_seq
                                    && s.count == b.event_count => {}
                            Some(b) => {
                                differs = Some(format!(
                                    "block at byte {} differs from the index",
                                    b.offset
                                ))
                            }
                            None => {}
                        }
                    }
                    seen += 1;
                }
            }
            Err(e) => malformed = Some(e.to_string()),
        }
        Ok(())
    })?;
    let computed = sum.finish();
    if computed != crc {
        return Err(Rebuilt::Corrupt(
            vexfs_journal_format::FormatError::ChecksumMismatch {
                what: "index block summaries",
                stored: crc,
                computed,
            }
            .to_string(),
        ));
    }
    if let Some(why) = malformed {
        return Err(Rebuilt::Corrupt(why));
    }
    if seen != storage.len() {
        return Err(Rebuilt::Stale(format!(
            "index covers {} blocks, segment has {}",
            seen,
            storage.len()
        )));
    }
    if let Some(why) = differs {
        return Err(Rebuilt::Stale(why));
    }
    let end = storage
        .last()
        .map_or(vexfs_journal_format::consts::FILE_HEADER_SIZE as u64, |b| {
            b.offset + u64::from(b.size)
        });
    if end != h.covered_end {
        return Err(Rebuilt::Stale(
            "covered end differs from the segment".into(),
        ));
    }
    drop(storage);
    for (which, what) in [
        (section::PATHS, "paths"),
        (section::AGENTS, "agents"),
        (section::TXS, "transactions"),
        (section::COUNTS, "counts"),
        (section::REFS, "causal references"),
        (section::IDS, "foreign ids"),
    ] {
        let (off, len, crc) = h.sections[which];
        let mut sum = vexfs_journal_format::KernelCrc32::new();
        stream(&f, off, len, buf, |chunk| {
            sum.update(chunk);
            Ok(())
        })?;
        let computed = sum.finish();
        if computed != crc {
            let e = vexfs_journal_format::FormatError::ChecksumMismatch {
                what: "index terms",
                stored: crc,
                computed,
            };
            return Err(Rebuilt::Corrupt(format!("{what}: {e}")));
        }
    }
    Ok(h)
}

/// Loads a segment's index file and checks it describes the segment as it is.
fn load_index(
    path: &Path,
    seg: &Segment,
    key: Option<&IndexKey>,
) -> std::result::Result<(SegmentIndex, IndexHeader), Rebuilt> {
    let bytes = match read_all(path, seg.first_seq(), key) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Rebuilt::Missing),
        Err(e) => return Err(Rebuilt::Corrupt(format!("cannot read: {e}"))),
    };
    let h = segment_header(&bytes, bytes.len() as u64, seg.first_seq())?;
    let (off, len, crc) = h.sections[section::BLOCKS];
    let sec = bytes
        .get(off as usize..(off + len) as usize)
        .ok_or_else(|| Rebuilt::Corrupt("block section outside the file".into()))?;
    file::check_section(sec, crc, "index block summaries")
        .map_err(|e| Rebuilt::Corrupt(e.to_string()))?;
    let summaries =
        file::decode_summaries(sec, h.block_count).map_err(|e| Rebuilt::Corrupt(e.to_string()))?;
    let storage = seg.blocks_once();
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

/// The header of an index file of a `file_len`-byte file, for the segment starting at
/// `first_seq`: a file of another version (an older build's) or of another segment is
/// out of date, not damaged.
fn segment_header(head: &[u8], file_len: u64, first_seq: u64) -> Result<IndexHeader, Rebuilt> {
    let h = file::decode_header(head, file_len).map_err(|e| match e {
        e @ vexfs_journal_format::FormatError::UnsupportedVersion { .. } => {
            Rebuilt::Stale(e.to_string())
        }
        e => Rebuilt::Corrupt(e.to_string()),
    })?;
    if h.first_seq != first_seq {
        return Err(Rebuilt::Stale(format!(
            "index is for segment {} not {first_seq}",
            h.first_seq
        )));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use vexfs_journal_format::{Event, FsOp};
    use vexfs_journal_storage::{Engine, OpenMode, StorageConfig};

    /// Sealed segments' summaries stay on disk after open, load when needed, and at
    /// most a budget of them stay loaded; what is loaded is what was built.
    #[test]
    fn sealed_summaries_load_when_needed_within_a_budget() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let config = StorageConfig {
            segment_size: 64 << 10,
            block_bytes: 1024,
            ..StorageConfig::default()
        };
        let engine = Engine::create(dir, config).unwrap();
        for i in 0..1600u64 {
            let ev = Event::filesystem(FsOp::Write)
                .path(format!("/d/{}", i % 13))
                .payload(vexfs_journal_testkit::noise(i, 120));
            engine.emit(ev).unwrap();
        }
        engine.close().unwrap();
        drop(engine);
        let (store, _) = Store::open(dir, OpenMode::ReadOnly).unwrap();
        let sealed = store.segments().iter().filter(|s| s.is_sealed()).count();
        assert!(sealed >= 4, "{sealed} sealed segments");
        // Built from the blocks and saved: the reference.
        let (built, _) = Index::open(&store, true).unwrap();
        let expected: Vec<String> = built
            .segments()
            .iter()
            .map(|e| format!("{:?} {}", e.summary().blocks, e.summary().covered_end))
            .collect();
        drop(built);

        let (index, report) = Index::open(&store, false).unwrap();
        assert_eq!(report.loaded, store.segments().len());
        let growing = store.segments().len() - sealed;
        let resident = |index: &Index| {
            index
                .segments()
                .iter()
                .filter(|e| e.resident.load(std::sync::atomic::Ordering::Acquire))
                .count()
        };
        assert_eq!(resident(&index), growing, "sealed summaries loaded at open");
        assert_eq!(
            index.segments()[0].extent().1,
            store.segments()[0].blocks().len()
        );
        // Room for about two segments' summaries.
        let per_segment = store.segments()[0].blocks().len() * SUMMARY_MEM;
        index.residency.budget.store(
            per_segment * 2 + per_segment / 2,
            std::sync::atomic::Ordering::Relaxed,
        );
        for round in 0..2 {
            for (e, want) in index.segments().iter().zip(&expected) {
                let got = format!("{:?} {}", e.summary().blocks, e.summary().covered_end);
                assert_eq!(&got, want, "round {round}");
                assert!(
                    resident(&index) <= growing + 3,
                    "{} resident",
                    resident(&index)
                );
            }
        }
        assert!(resident(&index) >= 2);
    }
}
