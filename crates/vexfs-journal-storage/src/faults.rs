//! Failure injection for tests (feature `fault-injection`).

use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};

/// Makes the N-th next write or sync fail with an OS error.
#[derive(Debug, Default)]
pub struct Faults {
    writes_left: AtomicI64,
    syncs_left: AtomicI64,
    write_errno: AtomicI32,
    sync_errno: AtomicI32,
}

impl Faults {
    /// No failures armed.
    pub fn new() -> Self {
        Faults {
            writes_left: AtomicI64::new(-1),
            syncs_left: AtomicI64::new(-1),
            ..Default::default()
        }
    }

    /// After `n` more successful writes, every write fails with `errno` (e.g.
    /// `libc::ENOSPC` = 28, `EIO` = 5) until [`Faults::clear`].
    pub fn fail_writes_after(&self, n: i64, errno: i32) {
        self.write_errno.store(errno, Ordering::SeqCst);
        self.writes_left.store(n, Ordering::SeqCst);
    }

    /// After `n` more successful syncs, every sync fails with `errno`.
    pub fn fail_syncs_after(&self, n: i64, errno: i32) {
        self.sync_errno.store(errno, Ordering::SeqCst);
        self.syncs_left.store(n, Ordering::SeqCst);
    }

    /// Disarms all failures.
    pub fn clear(&self) {
        self.writes_left.store(-1, Ordering::SeqCst);
        self.syncs_left.store(-1, Ordering::SeqCst);
    }

    fn hit(left: &AtomicI64, errno: &AtomicI32) -> Option<std::io::Error> {
        let mut cur = left.load(Ordering::SeqCst);
        loop {
            if cur < 0 {
                return None;
            }
            if cur == 0 {
                return Some(std::io::Error::from_raw_os_error(
                    errno.load(Ordering::SeqCst),
                ));
            }
            match left.compare_exchange(cur, cur - 1, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return None,
                Err(actual) => cur = actual,
            }
        }
    }

    pub(crate) fn on_write(&self) -> Option<std::io::Error> {
        Self::hit(&self.writes_left, &self.write_errno)
    }

    pub(crate) fn on_sync(&self) -> Option<std::io::Error> {
        Self::hit(&self.syncs_left, &self.sync_errno)
    }
}
