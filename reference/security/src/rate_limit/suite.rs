//! One test suite every [`RateLimitStore`] must pass, run against the memory store and
//! against Redis (for real in CI). Each store is built on a [`ManualClock`] so windows are
//! checked to the millisecond; keys are unique per run, so a shared Redis needs no cleanup.
//! It is test code shipped with the crate, so a store written elsewhere can run it too: its
//! failures are panics, as in any test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::sync::Arc;

use crate::clock::{Clock, ManualClock};
use crate::rate_limit::store::RateLimitStore;

/// A fresh key, distinct across runs and processes.
fn key(name: &str) -> String {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    let salt: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("suite:{name}:{salt}")
}

/// Runs every case; `make` builds a store reading the given clock.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn RateLimitStore>>,
{
    counts_exactly_up_to_the_limit(&make).await;
    slides_to_the_millisecond(&make).await;
    retry_after_is_exact(&make).await;
    keys_and_windows_are_independent(&make).await;
    peeking_counts_nothing(&make).await;
    concurrent_hits_never_overfill(&make).await;
}

async fn store_at<F, Fut>(make: &F, now: u64) -> (Arc<ManualClock>, Arc<dyn RateLimitStore>)
where
    F: Fn(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn RateLimitStore>>,
{
    let clock = ManualClock::at(now);
    let store = make(clock.clone()).await;
    (clock, store)
}

/// N requests in one window count N; the (max+1)th is refused and not counted (Property 13).
pub async fn counts_exactly_up_to_the_limit<F, Fut>(make: &F)
where
    F: Fn(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn RateLimitStore>>,
{
    let (clock, store) = store_at(make, 1_700_000_000_000).await;
    let k = key("count");
    for n in 1..=5u32 {
        let d = store.hit(&k, 5, 10_000).await.unwrap();
        assert!(d.admitted, "request {n}");
        assert_eq!(d.count, n);
        clock.advance(7);
    }
    let refused = store.hit(&k, 5, 10_000).await.unwrap();
    assert!(!refused.admitted);
    assert_eq!(refused.count, 5);
    assert_eq!(store.peek(&k, 5, 10_000).await.unwrap().count, 5);
}

/// The window is (T - w, T]: a slot frees exactly when the oldest entry is w old (Property 15).
pub async fn slides_to_the_millisecond<F, Fut>(make: &F)
where
    F: Fn(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn RateLimitStore>>,
{
    // Start just before a multiple of the window: a fixed window would reset at 2_000_000.
    let (clock, store) = store_at(make, 1_999_900).await;
    let k = key("slide");
    assert!(store.hit(&k, 2, 1_000).await.unwrap().admitted);
    clock.set(1_999_950);
    assert!(store.hit(&k, 2, 1_000).await.unwrap().admitted);
    clock.set(2_000_100);
    assert!(
        !store.hit(&k, 2, 1_000).await.unwrap().admitted,
        "a burst across the boundary at 2_000_000 must not get through"
    );
    clock.set(2_000_899);
    assert!(!store.hit(&k, 2, 1_000).await.unwrap().admitted);
    clock.set(2_000_900);
    let d = store.hit(&k, 2, 1_000).await.unwrap();
    assert!(d.admitted, "the first request left the window at 2_000_900");
    assert_eq!(d.count, 2);
    assert_eq!(d.reset_after_ms, 50);
}

/// A refused request learns exactly how long to wait (Property 14).
pub async fn retry_after_is_exact<F, Fut>(make: &F)
where
    F: Fn(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn RateLimitStore>>,
{
    let (clock, store) = store_at(make, 5_000_000).await;
    let k = key("retry");
    assert!(store.hit(&k, 1, 3_000).await.unwrap().admitted);
    clock.advance(1_234);
    let refused = store.hit(&k, 1, 3_000).await.unwrap();
    assert!(!refused.admitted);
    assert_eq!(refused.reset_after_ms, 1_766);
    clock.advance(1_765);
    assert!(!store.hit(&k, 1, 3_000).await.unwrap().admitted);
    clock.advance(1);
    assert!(store.hit(&k, 1, 3_000).await.unwrap().admitted);
}

/// Keys do not share counts, and one key under two windows keeps them apart by key.
pub async fn keys_and_windows_are_independent<F, Fut>(make: &F)
where
    F: Fn(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn RateLimitStore>>,
{
    let (_clock, store) = store_at(make, 9_000_000).await;
    let a = key("a");
    let b = key("b");
    assert!(store.hit(&a, 1, 60_000).await.unwrap().admitted);
    assert!(!store.hit(&a, 1, 60_000).await.unwrap().admitted);
    let d = store.hit(&b, 1, 60_000).await.unwrap();
    assert!(d.admitted);
    assert_eq!(d.count, 1);
}

/// A peek reports without counting; an unknown key is empty.
pub async fn peeking_counts_nothing<F, Fut>(make: &F)
where
    F: Fn(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn RateLimitStore>>,
{
    let (_clock, store) = store_at(make, 3_000_000).await;
    let k = key("peek");
    for _ in 0..3 {
        let d = store.peek(&k, 2, 1_000).await.unwrap();
        assert_eq!((d.admitted, d.count, d.reset_after_ms), (false, 0, 0));
    }
    assert_eq!(store.hit(&k, 2, 1_000).await.unwrap().count, 1);
    assert_eq!(store.peek(&k, 2, 1_000).await.unwrap().count, 1);
}

/// Many concurrent hits on one key admit exactly max of them.
pub async fn concurrent_hits_never_overfill<F, Fut>(make: &F)
where
    F: Fn(Arc<dyn Clock>) -> Fut,
    Fut: Future<Output = Arc<dyn RateLimitStore>>,
{
    let (_clock, store) = store_at(make, 7_000_000).await;
    let k = key("race");
    let hits = (0..64).map(|_| {
        let store = Arc::clone(&store);
        let k = k.clone();
        tokio::spawn(async move { store.hit(&k, 10, 60_000).await.unwrap().admitted })
    });
    let mut admitted = 0;
    for hit in hits {
        if hit.await.unwrap() {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 10);
}
