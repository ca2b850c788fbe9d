//! Kernel-looking events and kernel journal images, for the kernel codec's and the
//! kernel bridge's tests (feature `kernel`).

use vexfs_journal_format::{Event, FsOp, Timestamp};
use vexfs_journal_kernel_codec::{ImageWriter, WriterOptions};

/// A kernel-looking event: id `1000 + k`, global sequence `k`, kernel time.
pub fn kernel_event(k: u64) -> Event {
    let mut ev = Event::filesystem(FsOp::Write)
        .path(format!("/kernel/file-{k}"))
        .inode(k)
        .agent_id("kmod")
        .payload(format!("kernel payload {k}").into_bytes())
        .timestamp(Timestamp {
            ktime_ns: 5_000_000_000 + k as i64 * 1000,
            sequence: k,
            cpu_id: (k % 4) as u32,
            process_id: 1,
        });
    ev.event_id = 1000 + k;
    ev.global_sequence = k;
    ev.local_sequence = k;
    ev.root_cause_event_id = 1000 + k;
    ev
}

/// An image of `events` in memory.
///
/// # Panics
/// If the codec refuses an event (a test input error).
pub fn image_bytes(events: &[Event], opts: WriterOptions) -> Vec<u8> {
    let mut w = ImageWriter::new(Vec::new(), "test image", opts).expect("image writer");
    for ev in events {
        w.push(ev).expect("event fits the kernel layout");
    }
    w.finish().expect("image finished").0
}

/// Kernel events `range` as an uncompressed image with `per_block` events per block.
pub fn kernel_image(range: std::ops::RangeInclusive<u64>, per_block: usize) -> Vec<u8> {
    let events: Vec<Event> = range.map(kernel_event).collect();
    image_bytes(
        &events,
        WriterOptions {
            block_events: per_block,
            ..WriterOptions::default()
        },
    )
}
