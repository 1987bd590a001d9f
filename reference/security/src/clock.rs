//! Time in milliseconds, injectable so window boundaries and token expiry are tested to the
//! millisecond without sleeping.

use std::fmt::Debug;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + Debug {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> u64;
}

/// The system's wall clock, read as the wall time at start-up plus the monotonic time since:
/// it never goes backwards (a step back of the system clock cannot free a window's slots
/// early), and reading it touches no shared state, so concurrent checks do not contend. The
/// monotonic part is `quanta`'s (the CPU's invariant TSC where it has one, the OS clock
/// otherwise): a rate-limit check reads the clock every time, and the TSC costs a third of
/// `std::time::Instant` here (`cargo bench -p dx-security --bench rate_limit`, "clocks").
#[derive(Debug)]
pub struct SystemClock {
    epoch_at_start: u64,
    monotonic: quanta::Clock,
    start: u64,
}

impl Default for SystemClock {
    fn default() -> Self {
        let epoch_at_start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        let monotonic = quanta::Clock::new();
        let start = monotonic.raw();
        Self {
            epoch_at_start,
            monotonic,
            start,
        }
    }
}

impl SystemClock {
    /// The system clock, shared.
    pub fn shared() -> Arc<dyn Clock> {
        Arc::new(Self::default())
    }
}

impl Clock for SystemClock {
    fn now_millis(&self) -> u64 {
        let elapsed = self
            .monotonic
            .delta_as_nanos(self.start, self.monotonic.raw())
            / 1_000_000;
        self.epoch_at_start.saturating_add(elapsed)
    }
}

/// A clock that only moves when told to (for tests).
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock reading `now_millis`.
    pub fn at(now_millis: u64) -> Arc<Self> {
        Arc::new(Self {
            now: AtomicU64::new(now_millis),
        })
    }

    /// Moves the clock forward by `millis`.
    pub fn advance(&self, millis: u64) {
        self.now.fetch_add(millis, Ordering::AcqRel);
    }

    /// Sets the clock to `now_millis`.
    pub fn set(&self, now_millis: u64) {
        self.now.store(now_millis, Ordering::Release);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> u64 {
        self.now.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_clock_is_monotonic_and_recent() {
        let clock = SystemClock::default();
        let a = clock.now_millis();
        let b = clock.now_millis();
        assert!(b >= a);
        assert!(a > 1_700_000_000_000, "{a}");
        // It follows real time: 30 ms of sleep read as 30 ms or a little more.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let c = clock.now_millis();
        assert!((30..1_000).contains(&(c - b)), "{}", c - b);
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::at(5);
        assert_eq!(clock.now_millis(), 5);
        clock.advance(10);
        assert_eq!(clock.now_millis(), 15);
        clock.set(3);
        assert_eq!(clock.now_millis(), 3);
    }
}
