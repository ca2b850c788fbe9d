//! Conversion cost userspace event ⇄ kernel binary event (target: ≤ 1 µs per event,
//! payload copy excluded). Baselines in the same run: allocating and zeroing a kernel
//! event's 5412 bytes, and the kernel crc32 over them.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use vexfs_journal_format::consts::{CONTEXT_SIZE, EVENT_HEADER_SIZE};
use vexfs_journal_format::{Event, FsOp, Timestamp, kernel_crc32};
use vexfs_journal_kernel_codec::{
    convert_from_kernel_format, convert_into, convert_to_kernel_format,
};

fn typical(payload: usize) -> Event {
    let mut ev = Event::filesystem(FsOp::Write)
        .path("/models/llama/weights-00017-of-00032.safetensors")
        .inode(4_242_424)
        .file_type(0o100644)
        .agent_id("vexfs-fuse")
        .tx(77)
        .timestamp(Timestamp {
            ktime_ns: 1_767_225_600_000_000_000,
            sequence: 9,
            cpu_id: 1,
            process_id: 4321,
        })
        .payload(vec![0x5A; payload]);
    ev.event_id = 1_000_017;
    ev.global_sequence = 1_000_017;
    ev
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("kernel_conversion");
    g.throughput(Throughput::Elements(1));
    let empty = typical(0);
    let small = typical(64);
    let big = typical(65_536);

    g.bench_function("baseline_alloc_zero_5412B", |b| {
        b.iter(|| black_box(vec![0u8; EVENT_HEADER_SIZE + CONTEXT_SIZE]))
    });
    let zeros = vec![0u8; EVENT_HEADER_SIZE + CONTEXT_SIZE];
    g.bench_function("baseline_crc32_5412B", |b| {
        b.iter(|| black_box(kernel_crc32(black_box(&zeros))))
    });

    g.bench_function("to_kernel_no_payload", |b| {
        b.iter(|| black_box(convert_to_kernel_format(black_box(&empty)).unwrap()))
    });
    g.bench_function("to_kernel_64B_payload", |b| {
        b.iter(|| black_box(convert_to_kernel_format(black_box(&small)).unwrap()))
    });
    let mut out = Vec::with_capacity(1 << 20);
    g.bench_function("to_kernel_reused_buffer_no_payload", |b| {
        b.iter(|| {
            out.clear();
            black_box(convert_into(black_box(&empty), &mut out).unwrap())
        })
    });
    g.bench_function("to_kernel_64KiB_payload", |b| {
        b.iter(|| black_box(convert_to_kernel_format(black_box(&big)).unwrap()))
    });
    g.bench_function("to_kernel_reused_buffer_64KiB_payload", |b| {
        b.iter(|| {
            out.clear();
            black_box(convert_into(black_box(&big), &mut out).unwrap())
        })
    });

    let empty_bytes = convert_to_kernel_format(&empty).unwrap();
    let small_bytes = convert_to_kernel_format(&small).unwrap();
    let big_bytes = convert_to_kernel_format(&big).unwrap();
    g.bench_function("from_kernel_no_payload", |b| {
        b.iter(|| black_box(convert_from_kernel_format(black_box(&empty_bytes)).unwrap()))
    });
    g.bench_function("from_kernel_64B_payload", |b| {
        b.iter(|| black_box(convert_from_kernel_format(black_box(&small_bytes)).unwrap()))
    });
    g.bench_function("from_kernel_64KiB_payload", |b| {
        b.iter(|| black_box(convert_from_kernel_format(black_box(&big_bytes)).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
