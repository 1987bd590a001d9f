//! The store suites against a real Redis. Runs when `REDIS_URL` is set (CI sets it, and sets
//! `DX_REQUIRE_REDIS=1` so a missing Redis fails instead of skipping).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dx_security::csrf::session::session_store_suite;
use dx_security::csrf::{RedisSessions, SessionStore};
use dx_security::rate_limit::{RateLimitError, RateLimitStore, RedisStore, RedisTime, suite};

#[path = "../../test_services.rs"]
mod test_services;

fn redis_url() -> Option<String> {
    test_services::redis_url("the Redis store suites")
}

fn client(url: &str) -> redis::Client {
    redis::Client::open(url).unwrap()
}

#[tokio::test]
async fn the_redis_store_passes_the_store_suite() {
    let Some(url) = redis_url() else { return };
    suite::run_all(|clock| {
        let store = RedisStore::new(client(&url), "dx:test:rl:")
            .unwrap()
            .with_time(RedisTime::Clock(clock));
        async move { Arc::new(store) as Arc<dyn RateLimitStore> }
    })
    .await;
}

#[tokio::test]
async fn redis_time_places_windows_for_every_instance() {
    let Some(url) = redis_url() else { return };
    // Two stores, as on two instances, share one log on Redis's own clock.
    let one = RedisStore::new(client(&url), "dx:test:rl:").unwrap();
    let two = RedisStore::new(client(&url), "dx:test:rl:").unwrap();
    let key = format!("shared:{}", std::process::id());
    let first = one.hit(&key, 2, 60_000).await.unwrap();
    assert!(first.admitted);
    assert!(two.hit(&key, 2, 60_000).await.unwrap().admitted);
    let refused = one.hit(&key, 2, 60_000).await.unwrap();
    assert!(!refused.admitted);
    assert_eq!(refused.count, 2);
    assert!(refused.reset_after_ms > 59_000 && refused.reset_after_ms <= 60_000);
    assert!(format!("{one:?}").contains("dx:test:rl:"));
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast() {
    // Nothing listens on port 1: every check errs, none hangs.
    let store = RedisStore::new(client("redis://127.0.0.1:1/"), "x:")
        .unwrap()
        .with_timeout(Duration::from_millis(300));
    let started = Instant::now();
    for _ in 0..3 {
        let err = store.hit("k", 1, 1_000).await.unwrap_err();
        assert!(
            matches!(
                err,
                RateLimitError::Unavailable(_) | RateLimitError::Timeout(_)
            ),
            "{err}"
        );
    }
    assert!(store.peek("k", 1, 1_000).await.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let sessions = RedisSessions::new(client("redis://127.0.0.1:1/"), "x:").unwrap();
    assert!(sessions.create(Duration::from_secs(1)).await.is_err());
    assert!(sessions.is_live("AAAAAAAAAAAAAAAAAAAAAA").await.is_err());
    assert!(sessions.end("AAAAAAAAAAAAAAAAAAAAAA").await.is_err());
}

#[tokio::test]
async fn redis_sessions_pass_the_session_suite() {
    let Some(url) = redis_url() else { return };
    let store = RedisSessions::new(client(&url), "dx:test:session:").unwrap();
    session_store_suite(&store).await;
    let short = store.create(Duration::from_millis(50)).await.unwrap();
    assert!(store.is_live(&short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert!(!store.is_live(&short).await.unwrap());
    assert!(format!("{store:?}").contains("dx:test:session:"));
}
