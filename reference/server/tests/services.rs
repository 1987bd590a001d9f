//! Readiness against the real services: PostgreSQL through sqlx and Redis, at `DATABASE_URL`
//! and `REDIS_URL` (or the machine's loopback defaults). With `CI=true` an unreachable service
//! fails these tests; elsewhere they say so and skip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{TestServer, in_ci, service_url};
use dx_server::{Config, DatabaseUrl};
use serde_json::Value;

const PG_DEFAULT: &str = "postgres://postgres@127.0.0.1:5432/test";
const REDIS_DEFAULT: &str = "redis://127.0.0.1:6379";

async fn reachable(config: &Config) -> bool {
    let services = dx_server::services::Services::open(config).unwrap();
    let r = services.readiness().await;
    r.is_ready()
}

#[tokio::test]
async fn ready_with_real_postgres_and_redis() {
    let mut config = Config::conformance();
    config.database = DatabaseUrl::parse(&service_url("DATABASE_URL", PG_DEFAULT)).unwrap();
    config.redis_url = Some(service_url("REDIS_URL", REDIS_DEFAULT));
    if !reachable(&config).await {
        assert!(
            !in_ci(),
            "CI=true: PostgreSQL and Redis must be reachable at DATABASE_URL and REDIS_URL"
        );
        eprintln!("skipping: PostgreSQL or Redis is not reachable (set DATABASE_URL / REDIS_URL)");
        return;
    }
    let server = TestServer::start(config).await;
    let r = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["redis"], "ok");
    server.stop().await;
}

#[tokio::test]
async fn unreachable_services_make_the_server_not_ready_without_leaking_urls() {
    let mut config = Config::conformance();
    config.database = DatabaseUrl::parse("postgres://app:s3cret-pw@127.0.0.1:1/prod").unwrap();
    config.redis_url = Some("redis://:r3dis-pw@127.0.0.1:1/0".into());
    let server = TestServer::start(config).await;
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(health.status(), 200, "liveness does not depend on services");
    let r = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(r.status(), 503);
    let text = r.text().await.unwrap();
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(
        body["error"]["details"]["checks"]["database"],
        "unavailable"
    );
    assert_eq!(body["error"]["details"]["checks"]["redis"], "unavailable");
    for secret in [
        "s3cret-pw",
        "r3dis-pw",
        "127.0.0.1:1",
        "postgres://",
        "redis://",
    ] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn embedded_sqlite_is_ready_and_redis_not_configured() {
    let server = TestServer::start(Config::conformance()).await;
    let body: Value = reqwest::get(server.url("/ready"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["redis"], "not_configured");
    server.stop().await;
}
