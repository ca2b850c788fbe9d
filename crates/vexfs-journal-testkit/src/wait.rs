//! Waiting for something another thread or process does.

use std::time::{Duration, Instant};

/// Polls `cond` every few milliseconds until it holds (true) or `limit` passes (false).
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
