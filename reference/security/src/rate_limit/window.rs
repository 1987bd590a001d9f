//! The exact sliding window: a log of the times of the requests admitted in the last window.
//! A request at T is admitted when fewer than `max_requests` admitted requests lie in
//! `(T - window, T]` (requirement 5.5), so no burst straddling a boundary gets through, and
//! `Retry-After` is exact: the oldest counted request leaves the window at its time plus the
//! window. Refused requests are not logged: a client that keeps knocking is still let in
//! once its earlier requests age out. At most `max_requests` times are kept per key, each as
//! four bytes (milliseconds after the log's base), so a long log costs half the memory and
//! cache traffic of full timestamps.
//!
//! The times live in a ring of their own; the log itself (40 bytes) also holds the newest
//! time and the window, so a check reads the ring only at its oldest end (to drop what left
//! the window) and writes it at the other: on a store of many long logs, each read of the
//! ring is a cache miss.

use crate::mutants::{self, SecurityMutant, SecurityMutations};

/// What a store decided about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is admitted (and now counted).
    pub admitted: bool,
    /// The admitted requests counted in the window, this one included when admitted.
    pub count: u32,
    /// Milliseconds until the oldest counted request leaves the window, freeing a slot;
    /// 0 when the window is empty.
    pub reset_after_ms: u64,
}

/// The longest window a log can hold exactly (about 49.7 days); longer ones are cut to it.
pub const MAX_WINDOW_MS: u64 = u32::MAX as u64;

/// The smallest ring a log allocates.
const MIN_RING: usize = 4;

/// The admitted request times of one key, oldest first, as offsets from `base`.
#[derive(Debug, Clone, Default)]
pub struct SlidingLog {
    base: u64,
    /// The offsets, oldest at `head`, `len` of them, wrapping around; the ring's length is
    /// zero or a power of two.
    ring: Box<[u32]>,
    head: u32,
    len: u32,
    /// The newest offset (when `len > 0`).
    newest: u32,
    /// The window of the last decision, in milliseconds (for [`SlidingLog::expires_at`]).
    window: u32,
}

impl PartialEq for SlidingLog {
    /// The same times logged (how they sit in the ring does not matter).
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && self
                .offsets()
                .map(|t| self.base + u64::from(t))
                .eq(other.offsets().map(|t| other.base + u64::from(t)))
    }
}

impl Eq for SlidingLog {}

impl SlidingLog {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decides a request at `now` (milliseconds) against `max_requests` per `window_ms`, and
    /// logs it when `record` is set and it is admitted. `now` earlier than the newest entry
    /// (a clock that stepped back) is read as that entry's time.
    pub fn hit(
        &mut self,
        now: u64,
        max_requests: u32,
        window_ms: u64,
        record: bool,
        mutations: SecurityMutations,
    ) -> Decision {
        let now = self.newest().map_or(now, |newest| now.max(newest));
        let window_ms = window_ms.clamp(1, MAX_WINDOW_MS);
        self.window = u32::try_from(window_ms).unwrap_or(u32::MAX);
        let fixed = mutations.is(SecurityMutant::FixedWindow);
        // Sliding: keep stamps in (now - window, now]. Fixed (mutant): keep the current
        // aligned window [start, start + window).
        let (keep_from, window_end) = if fixed {
            mutants::fixed_window(now, window_ms)
        } else {
            // A window reaching before the epoch keeps every stamp.
            ((now + 1).saturating_sub(window_ms), 0)
        };
        if self.len > 0 {
            let mask = self.ring.len() - 1;
            while self.len > 0 && self.base + u64::from(self.ring[self.head as usize]) < keep_from {
                self.head = ((self.head as usize + 1) & mask) as u32;
                self.len -= 1;
            }
        }
        let held = self.len;
        let off_by_one = mutations.is(SecurityMutant::LimitOffByOne);
        let room = if off_by_one {
            mutants::room_off_by_one(held, max_requests)
        } else {
            held < max_requests
        };
        let admitted = record && room;
        if admitted {
            self.push(now);
        }
        let counted = self.len;
        let count = if off_by_one && admitted {
            mutants::count_off_by_one(counted)
        } else {
            counted
        };
        let reset_after_ms = match self.oldest() {
            None => 0,
            Some(_) if fixed => mutants::fixed_reset(window_end, now),
            Some(oldest) => oldest + window_ms - now,
        };
        Decision {
            admitted,
            count,
            reset_after_ms,
        }
    }

    /// Logs an admission at `now` (not before the newest entry). Every logged time lies
    /// within one window of `now`, so rebasing on the oldest one keeps offsets in range.
    fn push(&mut self, now: u64) {
        if self.len == 0 {
            self.base = now;
        } else if now - self.base > MAX_WINDOW_MS {
            let shift = self.ring[self.head as usize];
            self.base += u64::from(shift);
            let mask = self.ring.len() - 1;
            for i in 0..self.len as usize {
                self.ring[(self.head as usize + i) & mask] -= shift;
            }
            self.newest -= shift;
        }
        if self.len as usize == self.ring.len() {
            self.grow();
        }
        let offset = u32::try_from(now - self.base).unwrap_or(u32::MAX);
        let mask = self.ring.len() - 1;
        self.ring[(self.head as usize + self.len as usize) & mask] = offset;
        self.len += 1;
        self.newest = offset;
    }

    /// Doubles the ring, the times moved to its start in order.
    fn grow(&mut self) {
        let capacity = (self.ring.len() * 2).max(MIN_RING);
        let mut ring = vec![0u32; capacity];
        for (slot, t) in ring.iter_mut().zip(self.offsets()) {
            *slot = t;
        }
        self.ring = ring.into_boxed_slice();
        self.head = 0;
    }

    /// The logged offsets, oldest first.
    fn offsets(&self) -> impl Iterator<Item = u32> + '_ {
        let mask = self.ring.len().saturating_sub(1);
        (0..self.len as usize).map(move |i| self.ring[(self.head as usize + i) & mask])
    }

    /// The oldest logged time.
    fn oldest(&self) -> Option<u64> {
        (self.len > 0).then(|| self.base + u64::from(self.ring[self.head as usize]))
    }

    /// The newest logged time.
    fn newest(&self) -> Option<u64> {
        (self.len > 0).then(|| self.base + u64::from(self.newest))
    }

    /// When this log stops mattering: its newest entry plus the window of its last decision
    /// (0 when empty).
    pub fn expires_at(&self) -> u64 {
        self.newest()
            .map_or(0, |t| t + u64::from(self.window.max(1)))
    }

    /// How many admitted requests are logged (expired ones included until the next hit).
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether nothing is logged.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NONE: SecurityMutations = SecurityMutations::none();

    fn admitted(log: &mut SlidingLog, now: u64, max: u32, w: u64) -> bool {
        log.hit(now, max, w, true, NONE).admitted
    }

    #[test]
    fn the_window_is_half_open_to_the_millisecond() {
        let mut log = SlidingLog::new();
        assert!(admitted(&mut log, 10_000, 2, 1_000));
        assert!(admitted(&mut log, 10_500, 2, 1_000));
        let refused = log.hit(10_999, 2, 1_000, true, NONE);
        assert!(!refused.admitted);
        assert_eq!(refused.count, 2);
        assert_eq!(refused.reset_after_ms, 1);
        // At 11_000 the request of 10_000 is out of (10_000, 11_000].
        let let_in = log.hit(11_000, 2, 1_000, true, NONE);
        assert!(let_in.admitted);
        assert_eq!(let_in.count, 2);
        assert_eq!(let_in.reset_after_ms, 500);
    }

    #[test]
    fn peeking_records_nothing_and_an_empty_log_resets_now() {
        let mut log = SlidingLog::new();
        let d = log.hit(5, 3, 100, false, NONE);
        assert_eq!((d.admitted, d.count, d.reset_after_ms), (false, 0, 0));
        assert!(log.is_empty());
        assert_eq!(log.expires_at(), 0);
        assert!(admitted(&mut log, 5, 3, 100));
        assert!(admitted(&mut log, 6, 3, 100));
        assert_eq!(log.len(), 2);
        assert!(!log.is_empty());
        assert_eq!(log.expires_at(), 106);
    }

    #[test]
    fn offsets_are_rebased_when_the_log_outgrows_them() {
        let mut log = SlidingLog::new();
        let w = MAX_WINDOW_MS;
        assert!(admitted(&mut log, 1_000, 10, w));
        assert!(admitted(&mut log, 3_000_001_000, 10, w));
        // 5e9 ms after the base is past u32: the stamp at 1_000 has left the window, and the
        // log rebases on 3_000_001_000 without losing or moving it.
        let d = log.hit(5_000_001_000, 10, w, true, NONE);
        assert!(d.admitted);
        assert_eq!(d.count, 2);
        assert_eq!(d.reset_after_ms, 3_000_001_000 + w - 5_000_001_000);
        assert_eq!(log.expires_at(), 5_000_001_000 + w);
        // A longer window is cut to the longest one a log holds.
        let d = log.hit(5_000_001_000, 10, u64::MAX, false, NONE);
        assert_eq!(d.reset_after_ms, 3_000_001_000 + w - 5_000_001_000);
        assert_eq!(log.expires_at(), 5_000_001_000 + w);
    }

    #[test]
    fn the_ring_keeps_the_order_across_wrapping_and_growth() {
        let mut log = SlidingLog::new();
        // Four stamps fill the first ring (of four); at 111 the one of 100 leaves the
        // window of 11 ms and the new one wraps around to the ring's first slot.
        for t in [100, 101, 102, 103, 111] {
            assert!(admitted(&mut log, t, 100, 11));
        }
        assert_eq!(log.len(), 4);
        // A full, wrapped ring grows with its oldest time first.
        assert!(admitted(&mut log, 111, 100, 11));
        let d = log.hit(111, 100, 11, false, NONE);
        assert_eq!((d.count, d.reset_after_ms), (5, 1));
        let d = log.hit(113, 100, 11, false, NONE);
        assert_eq!((d.count, d.reset_after_ms), (3, 1));
        let mut model = SlidingLog::new();
        for t in [103, 111, 111] {
            assert!(admitted(&mut model, t, 100, 11));
        }
        assert_eq!(log, model);
        assert_eq!(log.expires_at(), 122);
    }

    #[test]
    fn a_clock_stepping_back_does_not_free_slots() {
        let mut log = SlidingLog::new();
        assert!(admitted(&mut log, 5_000, 1, 1_000));
        let d = log.hit(1_000, 1, 1_000, true, NONE);
        assert!(!d.admitted);
        assert_eq!(d.reset_after_ms, 1_000);
    }

    /// Every window (T - w, T] of the admitted times holds at most `max` of them: the
    /// definition of a sliding window, checked by brute force over every admitted T.
    fn no_window_overfull(times: &[u64], max: u32, w: u64) -> bool {
        times.iter().all(|&t| {
            let lo = t.saturating_sub(w);
            times.iter().filter(|&&s| s > lo && s <= t).count() <= max as usize
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// Feature: production-readiness, Property 15: Sliding Window Correctness
        #[test]
        fn no_burst_exceeds_the_limit_in_any_window(
            max in 1u32..8,
            w in 1u64..2_000,
            gaps in proptest::collection::vec(0u64..700, 1..120),
        ) {
            let mut log = SlidingLog::new();
            let mut now = 1_000_000u64;
            let mut admitted_at = Vec::new();
            let mut all = Vec::new();
            for gap in gaps {
                now += gap;
                let d = log.hit(now, max, w, true, NONE);
                // Admitted exactly when fewer than max admitted requests lie in (now - w, now].
                let before = admitted_at.iter().filter(|&&s| s + w > now).count();
                prop_assert_eq!(d.admitted, before < max as usize);
                if d.admitted {
                    admitted_at.push(now);
                    prop_assert_eq!(d.count as usize, before + 1);
                } else {
                    prop_assert_eq!(d.count as usize, before);
                    // Retry-After is exact: at now + reset the oldest counted one is gone.
                    let oldest = admitted_at.iter().copied().find(|&s| s + w > now).unwrap();
                    prop_assert_eq!(d.reset_after_ms, oldest + w - now);
                }
                all.push(now);
            }
            prop_assert!(no_window_overfull(&admitted_at, max, w));
        }

        /// Feature: production-readiness, Property 13: Rate Limit Counting Accuracy
        #[test]
        fn n_requests_in_one_window_count_n(
            max in 1u32..200,
            w in 1u64..100_000,
            offsets in proptest::collection::vec(0u64..1_000, 0..200),
        ) {
            let mut log = SlidingLog::new();
            let mut sorted = offsets.clone();
            sorted.sort_unstable();
            let span = sorted.last().copied().unwrap_or(0);
            prop_assume!(span < w);
            let start = 50_000u64;
            let mut last = Decision { admitted: false, count: 0, reset_after_ms: 0 };
            for (i, off) in sorted.iter().enumerate() {
                last = log.hit(start + off, max, w, true, NONE);
                let n = (i as u32 + 1).min(max);
                prop_assert_eq!(last.count, n);
                prop_assert_eq!(last.admitted, (i as u32) < max);
            }
            let peek = log.hit(start + span, max, w, false, NONE);
            prop_assert_eq!(peek.count, (sorted.len() as u32).min(max));
            prop_assert_eq!(peek.count, last.count);
        }
    }
}
