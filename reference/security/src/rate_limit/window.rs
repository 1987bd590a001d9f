//! The exact sliding window: a log of the times of the requests admitted in the last window.
//! A request at T is admitted when fewer than `max_requests` admitted requests lie in
//! `(T - window, T]` (requirement 5.5), so no burst straddling a boundary gets through, and
//! `Retry-After` is exact: the oldest counted request leaves the window at its time plus the
//! window. Refused requests are not logged: a client that keeps knocking is still let in
//! once its earlier requests age out. At most `max_requests` times are kept per key, each as
//! four bytes (milliseconds after the log's base), so a long log costs half the memory and
//! cache traffic of full timestamps.

use std::collections::VecDeque;

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

/// The admitted request times of one key, oldest first, as offsets from `base`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SlidingLog {
    base: u64,
    stamps: VecDeque<u32>,
}

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
        let fixed = mutations.is(SecurityMutant::FixedWindow);
        // Sliding: keep stamps in (now - window, now]. Fixed (mutant): keep the current
        // aligned window [start, start + window).
        let (keep_from, window_end) = if fixed {
            mutants::fixed_window(now, window_ms)
        } else {
            // A window reaching before the epoch keeps every stamp.
            ((now + 1).saturating_sub(window_ms), 0)
        };
        let base = self.base;
        while self
            .stamps
            .front()
            .is_some_and(|&t| base + u64::from(t) < keep_from)
        {
            self.stamps.pop_front();
        }
        let held = u32::try_from(self.stamps.len()).unwrap_or(u32::MAX);
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
        let counted = u32::try_from(self.stamps.len()).unwrap_or(u32::MAX);
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
        if self.stamps.is_empty() {
            self.base = now;
        } else if now - self.base > MAX_WINDOW_MS {
            let shift = self.stamps.front().copied().unwrap_or(0);
            self.base += u64::from(shift);
            for t in &mut self.stamps {
                *t -= shift;
            }
        }
        let offset = u32::try_from(now - self.base).unwrap_or(u32::MAX);
        self.stamps.push_back(offset);
    }

    /// The oldest logged time.
    fn oldest(&self) -> Option<u64> {
        self.stamps.front().map(|&t| self.base + u64::from(t))
    }

    /// The newest logged time.
    fn newest(&self) -> Option<u64> {
        self.stamps.back().map(|&t| self.base + u64::from(t))
    }

    /// When this log stops mattering: its newest entry plus the window (0 when empty).
    pub fn expires_at(&self, window_ms: u64) -> u64 {
        self.newest()
            .map_or(0, |t| t + window_ms.clamp(1, MAX_WINDOW_MS))
    }

    /// How many admitted requests are logged (expired ones included until the next hit).
    pub fn len(&self) -> usize {
        self.stamps.len()
    }

    /// Whether nothing is logged.
    pub fn is_empty(&self) -> bool {
        self.stamps.is_empty()
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
        assert_eq!(log.expires_at(100), 0);
        assert!(admitted(&mut log, 5, 3, 100));
        assert!(admitted(&mut log, 6, 3, 100));
        assert_eq!(log.len(), 2);
        assert!(!log.is_empty());
        assert_eq!(log.expires_at(100), 106);
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
        assert_eq!(log.expires_at(w), 5_000_001_000 + w);
        // A longer window is cut to the longest one a log holds.
        assert_eq!(log.expires_at(u64::MAX), 5_000_001_000 + w);
        let d = log.hit(5_000_001_000, 10, u64::MAX, false, NONE);
        assert_eq!(d.reset_after_ms, 3_000_001_000 + w - 5_000_001_000);
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
