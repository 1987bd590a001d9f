//! `RecoveryConfig`: retry with exponential backoff and jitter, used by everything that
//! connects to a service (database, Redis), so a brief outage at start-up or mid-run is ridden
//! out instead of failing the process.

use std::future::Future;
use std::time::Duration;

/// Why a recovery configuration is unusable.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RecoveryConfigError {
    /// The jitter factor is outside 0.0..=1.0.
    #[error("jitter must be between 0.0 and 1.0, got {0}")]
    Jitter(f64),
    /// The base delay is larger than the cap.
    #[error("base delay {base:?} exceeds the maximum delay {max:?}")]
    BaseAboveMax {
        /// The base delay.
        base: Duration,
        /// The cap.
        max: Duration,
    },
}

/// Retry policy: at most `max_retries` retries after the first attempt, waiting
/// `min(base_delay * 2^attempt, max_delay)` scaled by a random factor in `1 ± jitter`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryConfig {
    /// Maximum retry attempts after the first try.
    pub max_retries: u32,
    /// Delay before the first retry.
    pub base_delay: Duration,
    /// Cap on any single delay.
    pub max_delay: Duration,
    /// Jitter factor (0.0 - 1.0).
    pub jitter: f64,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            jitter: 0.1,
        }
    }
}

impl RecoveryConfig {
    /// Checks the configuration's invariants.
    pub fn validate(&self) -> Result<(), RecoveryConfigError> {
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err(RecoveryConfigError::Jitter(self.jitter));
        }
        if self.base_delay > self.max_delay {
            return Err(RecoveryConfigError::BaseAboveMax {
                base: self.base_delay,
                max: self.max_delay,
            });
        }
        Ok(())
    }

    /// The delay before retry number `attempt` (0-based) without jitter.
    pub fn nominal_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.checked_pow(attempt).unwrap_or(u32::MAX);
        self.base_delay
            .checked_mul(factor)
            .map_or(self.max_delay, |d| d.min(self.max_delay))
    }

    /// The delay before retry number `attempt` with jitter `unit` in 0.0..1.0 mapped onto
    /// `1 - jitter ..= 1 + jitter`, still capped at `max_delay`.
    pub fn delay_with(&self, attempt: u32, unit: f64) -> Duration {
        let jitter = self.jitter.clamp(0.0, 1.0);
        let scale = 1.0 - jitter + 2.0 * jitter * unit.clamp(0.0, 1.0);
        self.nominal_delay(attempt)
            .mul_f64(scale)
            .min(self.max_delay)
    }

    /// The delay before retry number `attempt`, with random jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.delay_with(attempt, rand::random::<f64>())
    }

    /// Runs `op` until it succeeds, fails with an error `is_transient` rejects, or the retries
    /// run out; returns the last result. Each retry is logged.
    pub async fn retry<T, E, F, Fut>(
        &self,
        what: &str,
        is_transient: impl Fn(&E) -> bool,
        mut op: F,
    ) -> Result<T, E>
    where
        E: std::fmt::Display,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 0u32;
        loop {
            match op().await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.max_retries && is_transient(&e) => {
                    let delay = self.delay(attempt);
                    tracing::warn!(%what, attempt = attempt + 1, max = self.max_retries, delay_ms = delay.as_millis() as u64, error = %e, "retrying after failure");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Backoff never exceeds the cap, grows monotonically without jitter, and jitter keeps
        /// each delay within `nominal * (1 ± jitter)`.
        #[test]
        fn backoff_is_bounded_and_monotonic(
            base_ms in 1u64..1000,
            max_ms in 1000u64..60_000,
            jitter in 0.0f64..=1.0,
            attempt in 0u32..64,
            unit in 0.0f64..1.0,
        ) {
            let cfg = RecoveryConfig {
                max_retries: 5,
                base_delay: Duration::from_millis(base_ms),
                max_delay: Duration::from_millis(max_ms),
                jitter,
            };
            prop_assert!(cfg.validate().is_ok());
            let nominal = cfg.nominal_delay(attempt);
            prop_assert!(nominal <= cfg.max_delay);
            prop_assert!(cfg.nominal_delay(attempt + 1) >= nominal);
            let d = cfg.delay_with(attempt, unit);
            prop_assert!(d <= cfg.max_delay);
            prop_assert!(d >= nominal.mul_f64(1.0 - jitter) - Duration::from_nanos(1));
            prop_assert!(d <= nominal.mul_f64(1.0 + jitter) + Duration::from_nanos(1));
        }
    }

    #[test]
    fn default_matches_the_seed() {
        let cfg = RecoveryConfig::default();
        assert_eq!(cfg.max_retries, 3);
        assert_eq!(cfg.base_delay, Duration::from_millis(100));
        assert_eq!(cfg.max_delay, Duration::from_secs(10));
        assert!((cfg.jitter - 0.1).abs() < f64::EPSILON);
        assert_eq!(cfg.nominal_delay(0), Duration::from_millis(100));
        assert_eq!(cfg.nominal_delay(3), Duration::from_millis(800));
        assert_eq!(cfg.nominal_delay(40), Duration::from_secs(10));
        let d = cfg.delay(1);
        assert!(d >= Duration::from_millis(180) && d <= Duration::from_millis(220));
    }

    #[test]
    fn validation_rejects_bad_settings() {
        let bad_jitter = RecoveryConfig {
            jitter: 1.5,
            ..RecoveryConfig::default()
        };
        assert_eq!(bad_jitter.validate(), Err(RecoveryConfigError::Jitter(1.5)));
        let equal = RecoveryConfig {
            base_delay: Duration::from_secs(10),
            ..RecoveryConfig::default()
        };
        assert_eq!(
            equal.validate(),
            Ok(()),
            "a base delay equal to the cap is valid"
        );
        let inverted = RecoveryConfig {
            base_delay: Duration::from_secs(20),
            ..RecoveryConfig::default()
        };
        assert!(matches!(
            inverted.validate(),
            Err(RecoveryConfigError::BaseAboveMax { .. })
        ));
        assert!(
            inverted
                .validate()
                .unwrap_err()
                .to_string()
                .contains("exceeds")
        );
    }

    fn fast(max_retries: u32) -> RecoveryConfig {
        RecoveryConfig {
            max_retries,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(2),
            jitter: 0.5,
        }
    }

    #[tokio::test]
    async fn retry_succeeds_after_transient_failures() {
        let calls = AtomicU32::new(0);
        let result: Result<u32, String> = fast(3)
            .retry(
                "test",
                |_| true,
                || async {
                    let n = calls.fetch_add(1, Ordering::SeqCst);
                    if n < 2 {
                        Err(format!("fail {n}"))
                    } else {
                        Ok(n)
                    }
                },
            )
            .await;
        assert_eq!(result, Ok(2));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retry_gives_up_after_max_retries() {
        let calls = AtomicU32::new(0);
        let config = fast(2);
        let retrying = config.retry(
            "test",
            |_| true,
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), String>("down".to_owned())
            },
        );
        // Bounded, so a retry loop that never gives up fails here instead of hanging.
        let result = tokio::time::timeout(Duration::from_secs(5), retrying)
            .await
            .expect("retries are bounded");
        assert_eq!(result, Err("down".to_owned()));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn retry_stops_on_permanent_errors() {
        let calls = AtomicU32::new(0);
        let config = fast(5);
        let retrying = config.retry(
            "test",
            |e: &String| e != "permanent",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), String>("permanent".to_owned())
            },
        );
        let result = tokio::time::timeout(Duration::from_secs(5), retrying)
            .await
            .expect("a permanent error is not retried");
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
