//! Sequence synchronisation latency (seed target: < 1 ms per sync): a sync with nothing
//! new in a 1000-event source (resume point check, journal state reload), and a sync
//! that imports one new 8-event block (one atomic, fsynced batch).
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use vexfs_journal::{Config, Event, FsOp, FsyncPolicy, Journal};
use vexfs_journal_kernel::{BridgeConfig, ImageWriter, KernelBridge, WriterOptions};

fn kernel_event(k: u64) -> Event {
    let mut ev = Event::filesystem(FsOp::Write)
        .path(format!("/kernel/file-{k}"))
        .inode(k);
    ev.event_id = k;
    ev.global_sequence = k;
    ev.timestamp.ktime_ns = k as i64;
    ev
}

fn image(range: std::ops::Range<u64>, first_block: u64) -> Vec<u8> {
    let mut w = ImageWriter::new(
        Vec::new(),
        "bench",
        WriterOptions {
            block_events: 8,
            first_block_id: first_block,
            ..WriterOptions::default()
        },
    )
    .unwrap();
    for k in range {
        w.push(&kernel_event(k)).unwrap();
    }
    w.finish().unwrap().0
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("kernel.img");
    std::fs::write(&source, image(1..1001, 1)).unwrap();
    let journal = Journal::create(
        dir.path().join("j"),
        Config {
            fsync: FsyncPolicy::Batch,
            ..Config::default()
        },
    )
    .unwrap();
    for i in 0..1000 {
        journal
            .emit(Event::filesystem(FsOp::Read).inode(i))
            .unwrap();
    }
    let bridge = KernelBridge::new(journal, BridgeConfig::with_source(&source)).unwrap();
    bridge.sync().unwrap();

    let mut g = c.benchmark_group("kernel_sync");
    g.bench_function("sync_nothing_new", |b| {
        b.iter(|| black_box(bridge.sync().unwrap()))
    });
    let mut next = 1001u64;
    let mut block = 126u64;
    g.measurement_time(Duration::from_secs(10));
    g.bench_function("sync_one_new_block_of_8_events", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let bytes = image(next..next + 8, block);
                next += 8;
                block += 1;
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&source)
                    .unwrap()
                    .write_all(&bytes)
                    .unwrap();
                let t = Instant::now();
                let r = bridge.sync().unwrap();
                total += t.elapsed();
                assert_eq!(r.imported, 8);
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
