//! Time and CPU helpers for stamping events cheaply on the emit path.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// Nanoseconds since the Unix epoch (0 if the clock is before 1970).
pub fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

thread_local! {
    static CPU: Cell<(u32, u32)> = const { Cell::new((0, 0)) };
}

/// The CPU this thread runs on. `getcpu` is a real system call on this platform
/// (~100 ns), too slow for every emit, so each thread re-reads it every 256 calls.
pub fn current_cpu() -> u32 {
    CPU.with(|c| {
        let (cpu, uses) = c.get();
        if uses % 256 == 0 {
            let fresh = u32::try_from(rustix::thread::sched_getcpu()).unwrap_or(0);
            c.set((fresh, 1));
            fresh
        } else {
            c.set((cpu, uses + 1));
            cpu
        }
    })
}
