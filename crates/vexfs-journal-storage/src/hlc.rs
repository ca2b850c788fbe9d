//! The journal's hybrid logical clock (I56).
//!
//! Every event whose time the journal assigns gets a timestamp strictly above the one
//! before it in sequence order, and strictly above every time the journal was told of
//! with [`JournalClock::observe`]. The clock is folded into the event's own
//! `ktime` field (nanoseconds since the epoch): it is the wall clock while the wall
//! clock moves forward, and counts nanoseconds past it when the wall clock stalls, runs
//! backwards, or lags a clock observed from another journal. No format change: the
//! highest timestamp is persisted by the records themselves, and reopening starts the
//! clock above the highest time stored (leaving out times more than [`MAX_AHEAD_NS`]
//! past the wall clock, which only explicit times reach).
//!
//! Hand-written rather than `uhlc`: that crate's timestamps are 64-bit NTP fractions
//! paired with a 128-bit node id, while the kernel format has one signed nanosecond
//! field to carry the clock; the logic needed here is a `max` and an increment.
//!
//! Who does what: producers stamp the wall clock as before (no shared write on the
//! emit path); the single writer thread raises each stamped time to
//! `max(stamp, last + 1, observed + 1)` in sequence order, so concurrent producers
//! cannot leave times out of sequence order. Times a caller gave explicitly (imports,
//! `emit --time`) are stored as given and do not move the clock.

use std::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering::{AcqRel, Acquire, Release};

use crossbeam_utils::CachePadded;

/// How far past the wall clock a stored time may be and still set the clock at open
/// (one hour): further is an explicit time, not one the clock assigned.
pub const MAX_AHEAD_NS: i64 = 3_600 * 1_000_000_000;

/// The clock state shared by the writer and the journal's callers.
#[derive(Debug)]
pub struct JournalClock {
    /// The highest time observed from outside; assigned times go above it.
    observed: CachePadded<AtomicI64>,
    /// The last time the writer assigned (or the highest time stored, at open).
    last: CachePadded<AtomicI64>,
}

impl JournalClock {
    /// A clock whose next assigned time is above `floor` (the highest time stored).
    pub fn starting_above(floor: i64) -> JournalClock {
        JournalClock {
            observed: CachePadded::new(AtomicI64::new(floor)),
            last: CachePadded::new(AtomicI64::new(floor)),
        }
    }

    /// Tells the clock of a time seen elsewhere (another journal's event, a message):
    /// every event this journal stamps from now on is later than `time_ns`.
    pub fn observe(&self, time_ns: i64) {
        self.observed.fetch_max(time_ns, AcqRel);
    }

    /// The latest time this clock has assigned or observed: an event stamped after
    /// this call is later than it.
    pub fn now(&self) -> i64 {
        self.last.load(Acquire).max(self.observed.load(Acquire))
    }

    /// The time for the next assigned event, given its wall-clock stamp and the last
    /// time assigned before it (writer thread only).
    pub(crate) fn assign(&self, stamp: i64, last: i64) -> i64 {
        let floor = last.max(self.observed.load(Acquire));
        stamp.max(floor.saturating_add(1))
    }

    /// Publishes the last assigned time (writer thread only).
    pub(crate) fn publish(&self, last: i64) {
        self.last.store(last, Release);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn assigned_times_rise_past_a_stalled_or_backward_wall_clock() {
        let c = JournalClock::starting_above(1_000);
        let a = c.assign(500, 1_000);
        assert_eq!(a, 1_001);
        let b = c.assign(1_001, a);
        assert_eq!(b, 1_002);
        let d = c.assign(5_000, b);
        assert_eq!(d, 5_000);
    }

    #[test]
    fn an_observed_time_is_exceeded_by_the_next_assigned_one() {
        let c = JournalClock::starting_above(0);
        c.observe(9_000);
        assert_eq!(c.now(), 9_000);
        assert_eq!(c.assign(100, 50), 9_001);
        c.observe(10);
        assert_eq!(c.assign(100, 9_001), 9_002);
    }
}
