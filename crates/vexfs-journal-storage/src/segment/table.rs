//! A segment's block table in memory: a plain vector while the segment is open, packed
//! ([`CompactTable`], 10–18 bytes a block instead of 56) once it is sealed.
//!
//! A sealed table is unpacked when something reads it and shared while in use; the
//! tables unpacked most recently stay unpacked, up to [`UNPACKED_TABLE_BYTES`] for
//! the whole process, so a journal of 100 M events keeps its idle memory to the
//! packed tables while reading a segment costs little more than before.
//! Unpacking needs no I/O and cannot fail for a table this process packed.

use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLockReadGuard, RwLockWriteGuard, Weak};

use vexfs_journal_format::footer::{BlockEntry, CompactTable};

use super::Segment;
use crate::manifest::SegmentFacts;

/// Most bytes of unpacked sealed block tables kept for reuse, process-wide: past it,
/// the tables unpacked longest ago are let go (once no reader holds them) and unpacked
/// again when next needed. 16 MiB holds every table of a 10 M-event journal.
pub const UNPACKED_TABLE_BYTES: usize = 16 << 20;

/// Bytes an unpacked entry takes.
const ENTRY_MEM: usize = std::mem::size_of::<BlockEntry>();

/// The block table of a segment.
#[derive(Debug)]
pub(super) enum Table {
    /// An open segment's table, growing as blocks are written, and the smallest and
    /// largest time of its blocks.
    Live(Vec<BlockEntry>, Option<(i64, i64)>),
    /// A sealed segment's table, packed.
    Sealed(Box<SealedTable>),
}

#[derive(Debug)]
pub(super) struct SealedTable {
    packed: CompactTable,
    first: Option<BlockEntry>,
    last: Option<BlockEntry>,
    events: u64,
    /// The smallest and largest time of its blocks, as in `Live`.
    times: Option<(i64, i64)>,
    /// The unpacked table while someone (a reader, the residency list) holds it.
    unpacked: Mutex<Weak<Vec<BlockEntry>>>,
}

impl Table {
    /// The table of an open segment.
    pub(super) fn live(blocks: Vec<BlockEntry>) -> Table {
        let times = blocks.iter().fold(None, widen);
        Table::Live(blocks, times)
    }

    /// The packed table of a sealed segment.
    pub(super) fn sealed(blocks: &[BlockEntry]) -> Table {
        Table::Sealed(Box::new(SealedTable {
            packed: CompactTable::pack(blocks),
            first: blocks.first().copied(),
            last: blocks.last().copied(),
            events: blocks.iter().map(|b| u64::from(b.event_count)).sum(),
            times: blocks.iter().fold(None, widen),
            unpacked: Mutex::new(Weak::new()),
        }))
    }
}

/// Read access to a segment's block table (see [`Segment::blocks`]).
pub struct Blocks<'a>(Held<'a>);

enum Held<'a> {
    Live(RwLockReadGuard<'a, Table>),
    Unpacked(Arc<Vec<BlockEntry>>),
}

/// What a `Live` guard shows if its table was sealed (it never is: the variant is
/// checked under the same guard).
static NO_BLOCKS: Vec<BlockEntry> = Vec::new();

impl Deref for Blocks<'_> {
    type Target = Vec<BlockEntry>;

    fn deref(&self) -> &Vec<BlockEntry> {
        match &self.0 {
            Held::Live(guard) => match &**guard {
                Table::Live(v, _) => v,
                Table::Sealed(_) => &NO_BLOCKS,
            },
            Held::Unpacked(v) => v,
        }
    }
}

/// The sealed tables unpacked most recently, oldest first, with their total bytes.
static RESIDENT: Mutex<(VecDeque<Arc<Vec<BlockEntry>>>, usize)> = Mutex::new((VecDeque::new(), 0));
/// [`UNPACKED_TABLE_BYTES`], smaller in tests.
static BUDGET: AtomicUsize = AtomicUsize::new(UNPACKED_TABLE_BYTES);

/// Keeps `table`, just unpacked, for reuse; lets go of the oldest beyond the budget.
fn keep(table: Option<Arc<Vec<BlockEntry>>>) {
    let victims = {
        let mut guard = RESIDENT.lock().unwrap_or_else(|p| p.into_inner());
        let (queue, total) = &mut *guard;
        if let Some(table) = table {
            *total += table.len() * ENTRY_MEM;
            queue.push_back(table);
        }
        let budget = BUDGET.load(Ordering::Relaxed);
        let mut victims = Vec::new();
        while *total > budget && queue.len() > 1 {
            let Some(old) = queue.pop_front() else { break };
            *total -= old.len() * ENTRY_MEM;
            victims.push(old);
        }
        victims
    };
    // Freed (if no reader holds them) outside the lock.
    drop(victims);
}

/// Sets the process-wide budget of unpacked sealed tables (tests).
#[doc(hidden)]
pub fn set_unpacked_table_budget(bytes: usize) {
    BUDGET.store(bytes, Ordering::Relaxed);
    keep(None);
}

/// Bytes of unpacked sealed tables kept for reuse, process-wide.
pub fn unpacked_table_bytes() -> usize {
    RESIDENT.lock().unwrap_or_else(|p| p.into_inner()).1
}

impl Segment {
    /// The block table. A sealed segment's is unpacked for the reader if it is not
    /// already (see the module docs); hold the result only as long as needed.
    pub fn blocks(&self) -> Blocks<'_> {
        self.blocks_for(true)
    }

    /// [`Segment::blocks`] for a reader that needs the table once (checking every
    /// segment at open): a sealed table unpacked for it is not kept for reuse.
    pub fn blocks_once(&self) -> Blocks<'_> {
        self.blocks_for(false)
    }

    fn blocks_for(&self, reuse: bool) -> Blocks<'_> {
        let guard = self.table();
        let sealed = match &*guard {
            Table::Live(..) => return Blocks(Held::Live(guard)),
            Table::Sealed(s) => s,
        };
        let mut slot = sealed.unpacked.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(table) = slot.upgrade() {
            return Blocks(Held::Unpacked(table));
        }
        let table = match sealed.packed.unpack() {
            Ok(v) => Arc::new(v),
            Err(e) => {
                // Only a bug can get here: this process packed these bytes.
                debug_assert!(false, "unpacking a block table: {e}");
                tracing::error!(segment = %self.path.display(), error = %e, "packed block table unreadable; reading the footer again");
                Arc::new(self.reread_footer().unwrap_or_default())
            }
        };
        if !reuse {
            return Blocks(Held::Unpacked(table));
        }
        *slot = Arc::downgrade(&table);
        drop(slot);
        drop(guard);
        keep(Some(table.clone()));
        Blocks(Held::Unpacked(table))
    }

    /// The footer of this sealed segment, read again from the file.
    fn reread_footer(&self) -> crate::error::Result<Vec<BlockEntry>> {
        let header = self.header();
        super::seal::read_footer(&self.file, &self.path, &header, header.journal_size)
    }

    /// Read access to the table as it is (packed, for a sealed segment).
    fn table(&self) -> RwLockReadGuard<'_, Table> {
        self.blocks.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Write access to an open segment's table (sealed tables do not change).
    pub(super) fn table_mut(&self) -> TableWriter<'_> {
        TableWriter(self.blocks.write().unwrap_or_else(|p| p.into_inner()))
    }

    /// Packs the table of a segment that has just been sealed.
    pub(super) fn pack_table(&self) {
        let mut guard = self.blocks.write().unwrap_or_else(|p| p.into_inner());
        if let Table::Live(v, _) = &*guard {
            *guard = Table::sealed(v);
        }
    }

    /// The last block whose first sequence is at most `seq`, and its ordinal, without
    /// unpacking a sealed table (a point lookup reads at most one restart interval of
    /// the packed table, or the unpacked table if someone holds it).
    pub fn find_block(&self, seq: u64) -> Option<(usize, BlockEntry)> {
        let in_slice = |blocks: &[BlockEntry]| {
            let i = crate::store::blocks_up_to(blocks, seq).checked_sub(1)?;
            Some((i, *blocks.get(i)?))
        };
        let guard = self.table();
        let sealed = match &*guard {
            Table::Live(v, _) => return in_slice(v),
            Table::Sealed(s) => s,
        };
        let unpacked = sealed
            .unpacked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .upgrade();
        if let Some(table) = unpacked {
            return in_slice(&table);
        }
        match sealed.packed.find(seq) {
            Ok(found) => found,
            Err(e) => {
                // Only a bug can get here: this process packed these bytes.
                debug_assert!(false, "searching a packed block table: {e}");
                drop(guard);
                in_slice(&self.blocks())
            }
        }
    }

    /// Blocks in the segment, without unpacking a sealed table.
    pub fn block_count(&self) -> usize {
        match &*self.table() {
            Table::Live(v, _) => v.len(),
            Table::Sealed(s) => s.packed.len(),
        }
    }

    /// The first block, without unpacking a sealed table.
    pub fn first_block(&self) -> Option<BlockEntry> {
        match &*self.table() {
            Table::Live(v, _) => v.first().copied(),
            Table::Sealed(s) => s.first,
        }
    }

    /// The last block, without unpacking a sealed table.
    pub fn last_block(&self) -> Option<BlockEntry> {
        match &*self.table() {
            Table::Live(v, _) => v.last().copied(),
            Table::Sealed(s) => s.last,
        }
    }

    /// Events in the segment, without unpacking a sealed table.
    pub fn event_count(&self) -> u64 {
        match &*self.table() {
            Table::Live(v, _) => v.iter().map(|b| u64::from(b.event_count)).sum(),
            Table::Sealed(s) => s.events,
        }
    }

    /// The smallest and largest event time, without unpacking a sealed table; `None`
    /// when the segment holds no block.
    pub fn time_range(&self) -> Option<(i64, i64)> {
        match &*self.table() {
            Table::Live(_, times) => *times,
            Table::Sealed(s) => s.times,
        }
    }

    /// What the manifest records of this segment, `file_len` bytes long, without
    /// unpacking a sealed table.
    pub fn facts(&self, file_len: u64) -> SegmentFacts {
        match &*self.table() {
            Table::Live(v, _) => SegmentFacts::from_blocks(v, self.first_seq, file_len),
            Table::Sealed(s) => SegmentFacts {
                next_seq: s.last.map_or(self.first_seq, |b| b.last_seq + 1),
                events: s.events,
                min_time: s.times.map_or(0, |(min, _)| min),
                max_time: s.times.map_or(0, |(_, max)| max),
                file_len,
                first_event: s.first.map_or(0, |b| b.first_seq),
            },
        }
    }

    /// Bytes of memory the table takes while idle (packed, for a sealed segment).
    pub fn table_bytes(&self) -> usize {
        match &*self.table() {
            Table::Live(v, _) => v.capacity() * ENTRY_MEM,
            Table::Sealed(s) => s.packed.heap_bytes() + std::mem::size_of::<SealedTable>(),
        }
    }
}

/// `times` widened to cover `b`'s times.
fn widen(times: Option<(i64, i64)>, b: &BlockEntry) -> Option<(i64, i64)> {
    Some(times.map_or((b.min_time, b.max_time), |(lo, hi)| {
        (lo.min(b.min_time), hi.max(b.max_time))
    }))
}

/// Write access to an open segment's table.
pub(super) struct TableWriter<'a>(RwLockWriteGuard<'a, Table>);

impl TableWriter<'_> {
    /// Appends a block; a sealed table takes none (and is never appended to).
    pub(super) fn push(&mut self, entry: BlockEntry) {
        match &mut *self.0 {
            Table::Live(v, times) => {
                *times = widen(*times, &entry);
                v.push(entry);
            }
            Table::Sealed(_) => {
                debug_assert!(false, "a block appended to a sealed segment's table");
            }
        }
    }
}
