//! The seed's `RateLimiter`: a limit per endpoint category, decided by a store.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::rate_limit::store::{RateLimitError, RateLimitStore};

/// The seed's endpoint categories.
#[derive(Debug, Clone, Copy, Hash, Eq, PartialEq, PartialOrd, Ord)]
pub enum EndpointCategory {
    /// Login, refresh, registration: the expensive, guessable endpoints.
    Auth,
    /// The application's API.
    Api,
    /// Static assets and the client `.wasm`.
    Static,
}

impl EndpointCategory {
    /// Every category.
    pub const ALL: [EndpointCategory; 3] = [Self::Auth, Self::Api, Self::Static];

    /// The name on the wire (discovery document, `RateLimit-Policy`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Api => "api",
            Self::Static => "static",
        }
    }
}

impl fmt::Display for EndpointCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A limit: at most `max_requests` in any `window_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Maximum requests allowed in any window.
    pub max_requests: u32,
    /// Window length in seconds.
    pub window_seconds: u64,
}

impl RateLimit {
    /// The window in milliseconds.
    pub fn window_ms(self) -> u64 {
        self.window_seconds.saturating_mul(1000)
    }
}

/// The verdict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitResult {
    /// Let through; `remaining` more fit in the window now; a slot frees in `reset_seconds`.
    Allowed {
        /// Requests that may still be made now.
        remaining: u32,
        /// Seconds (rounded up) until the oldest counted request leaves the window.
        reset_seconds: u64,
    },
    /// Refused; a request sent `retry_after` seconds later is admitted.
    Limited {
        /// Seconds to wait, from 1 to the window (requirement 5.3).
        retry_after: u64,
    },
}

/// Maps paths to categories by their longest matching prefix; unmatched paths are not
/// limited (health probes, the discovery document).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteCategories {
    rules: Vec<(String, EndpointCategory)>,
}

impl RouteCategories {
    /// No path is limited.
    pub fn new() -> Self {
        Self::default()
    }

    /// Paths starting with `prefix` count against `category` (unless a longer prefix says
    /// otherwise).
    pub fn with(mut self, prefix: impl Into<String>, category: EndpointCategory) -> Self {
        self.rules.push((prefix.into(), category));
        self.rules
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        self
    }

    /// The category of `path`.
    pub fn category(&self, path: &str) -> Option<EndpointCategory> {
        self.rules
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .map(|(_, c)| *c)
    }

    /// The prefixes of `category`, shortest first.
    pub fn prefixes(&self, category: EndpointCategory) -> Vec<&str> {
        let mut list: Vec<&str> = self
            .rules
            .iter()
            .filter(|(_, c)| *c == category)
            .map(|(p, _)| p.as_str())
            .collect();
        list.sort_by(|a, b| a.len().cmp(&b.len()).then(a.cmp(b)));
        list
    }
}

/// Sliding-window rate limiter (the seed's `RateLimiter`).
#[derive(Debug, Clone)]
pub struct RateLimiter {
    store: Arc<dyn RateLimitStore>,
    limits: HashMap<EndpointCategory, RateLimit>,
}

impl RateLimiter {
    /// A limiter over `store`; categories without a limit are not limited.
    pub fn new(store: Arc<dyn RateLimitStore>) -> Self {
        Self {
            store,
            limits: HashMap::new(),
        }
    }

    /// Limits `category` to `limit`. A limit of zero requests or a zero window is raised to
    /// one: a category that admits nothing is a misconfiguration, not a policy.
    pub fn with_limit(mut self, category: EndpointCategory, limit: RateLimit) -> Self {
        let limit = RateLimit {
            max_requests: limit.max_requests.max(1),
            window_seconds: limit.window_seconds.max(1),
        };
        self.limits.insert(category, limit);
        self
    }

    /// The limit of `category`, if it has one.
    pub fn limit(&self, category: EndpointCategory) -> Option<RateLimit> {
        self.limits.get(&category).copied()
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn RateLimitStore> {
        &self.store
    }

    /// The store key of `client` in `category`.
    pub fn key(client: &str, category: EndpointCategory) -> String {
        format!("{category}:{client}")
    }

    /// Checks whether a request from `ip` in `category` should be rate limited, counting it
    /// when admitted. Unlimited categories are always allowed, with `u32::MAX` remaining.
    pub async fn check(
        &self,
        ip: &str,
        category: EndpointCategory,
    ) -> Result<RateLimitResult, RateLimitError> {
        let Some(limit) = self.limit(category) else {
            return Ok(RateLimitResult::Allowed {
                remaining: u32::MAX,
                reset_seconds: 0,
            });
        };
        let key = Self::key(ip, category);
        let (max, window) = (limit.max_requests, limit.window_ms());
        let decision = match self.store.hit_now(&key, max, window) {
            Some(decision) => decision,
            None => self.store.hit(&key, max, window).await?,
        };
        let seconds = decision.reset_after_ms.div_ceil(1000);
        Ok(if decision.admitted {
            RateLimitResult::Allowed {
                remaining: limit.max_requests.saturating_sub(decision.count),
                reset_seconds: seconds,
            }
        } else {
            RateLimitResult::Limited {
                retry_after: seconds.clamp(1, limit.window_seconds),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::rate_limit::store::MemoryStore;
    use proptest::prelude::*;

    fn limiter(clock: Arc<ManualClock>, max: u32, window: u64) -> RateLimiter {
        RateLimiter::new(Arc::new(MemoryStore::new(1_000, clock))).with_limit(
            EndpointCategory::Api,
            RateLimit {
                max_requests: max,
                window_seconds: window,
            },
        )
    }

    #[test]
    fn routes_match_their_longest_prefix() {
        let routes = RouteCategories::new()
            .with("/api/", EndpointCategory::Api)
            .with("/api/v1/auth/", EndpointCategory::Auth)
            .with("/static/", EndpointCategory::Static);
        assert_eq!(
            routes.category("/api/v1/auth/login"),
            Some(EndpointCategory::Auth)
        );
        assert_eq!(
            routes.category("/api/v1/items"),
            Some(EndpointCategory::Api)
        );
        assert_eq!(
            routes.category("/static/app.wasm"),
            Some(EndpointCategory::Static)
        );
        assert_eq!(routes.category("/health"), None);
        assert_eq!(routes.prefixes(EndpointCategory::Api), vec!["/api/"]);
        let names: Vec<_> = EndpointCategory::ALL
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(names, ["auth", "api", "static"]);
    }

    #[tokio::test]
    async fn unlimited_categories_and_zero_limits() {
        let l = limiter(ManualClock::at(1), 0, 0);
        assert_eq!(
            l.limit(EndpointCategory::Api),
            Some(RateLimit {
                max_requests: 1,
                window_seconds: 1
            })
        );
        assert!(matches!(
            l.check("ip", EndpointCategory::Static).await.unwrap(),
            RateLimitResult::Allowed {
                remaining: u32::MAX,
                ..
            }
        ));
        assert_eq!(
            RateLimiter::key("1.2.3.4", EndpointCategory::Auth),
            "auth:1.2.3.4"
        );
        assert!(format!("{:?}", l.store()).contains("MemoryStore"));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// Feature: production-readiness, Property 14: Rate Limit Enforcement
        #[test]
        fn the_request_after_the_limit_is_refused_with_an_honest_retry_after(
            max in 1u32..50,
            window in 1u64..120,
            spread in 0u64..1_000,
            wait_ms in 0u64..5_000,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            rt.block_on(async {
                let clock = ManualClock::at(1_700_000_000_123);
                let l = limiter(clock.clone(), max, window);
                let step = spread.min(window * 1000 - 1) / u64::from(max);
                for i in 0..max {
                    let r = l.check("ip", EndpointCategory::Api).await.unwrap();
                    prop_assert_eq!(r, RateLimitResult::Allowed {
                        remaining: max - i - 1,
                        reset_seconds: (window * 1000 - step * u64::from(i)).div_ceil(1000),
                    });
                    clock.advance(step);
                }
                clock.advance(wait_ms.min(window * 1000 - 1 - step * u64::from(max)));
                let RateLimitResult::Limited { retry_after } = l.check("ip", EndpointCategory::Api).await.unwrap() else {
                    return Err(TestCaseError::fail("the request after the limit was admitted"));
                };
                prop_assert!((1..=window).contains(&retry_after));
                // Just before Retry-After the first request may still count; at it, it is gone.
                clock.advance(retry_after * 1000);
                let after = l.check("ip", EndpointCategory::Api).await.unwrap();
                prop_assert!(matches!(after, RateLimitResult::Allowed { .. }), "{:?}", after);
                Ok(())
            })?;
        }
    }
}
