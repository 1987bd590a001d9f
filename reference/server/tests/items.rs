//! The items API over real HTTP against the server in-process (spec/http-contract.md,
//! "Items"): owner-scoped CRUD, pages and searches, strict input, and the query module's
//! errors in the envelope; on PostgreSQL too when `DATABASE_URL` is set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use dx_server::config::LimitSpec;
use dx_server::{Config, DatabaseUrl};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// The conformance profile with rate limits out of reach (these tests are about items).
fn conformance() -> Config {
    let mut config = Config::conformance();
    config.security.limits = [LimitSpec {
        max_requests: 1_000_000,
        window_seconds: 1,
    }; 3];
    config
}

/// A conformance server on the embedded database, and one on PostgreSQL when available.
fn configs() -> Vec<(&'static str, Config)> {
    let mut out = vec![("sqlite", conformance())];
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            let mut config = conformance();
            config.database = DatabaseUrl::parse(&url).unwrap();
            out.push(("postgres", config));
        }
        _ => assert!(
            std::env::var("DX_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "DX_REQUIRE_POSTGRES=1 but DATABASE_URL is not a PostgreSQL URL"
        ),
    }
    out
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

async fn error_code(resp: reqwest::Response, status: u16) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    let body: Value = resp.json().await.unwrap();
    body["error"].clone()
}

#[tokio::test]
async fn items_round_trip_over_http_and_stay_with_their_owner() {
    let client = Client::new();
    for (name, config) in configs() {
        let server = TestServer::start(config).await;
        let alice = server.mint(&unique("alice")).await;
        let bob = server.mint(&unique("bob")).await;
        let payload = "'; DROP TABLE dx_items; -- \u{1f980} %_";
        let resp = client
            .post(server.url("/api/v1/items"))
            .bearer_auth(&alice)
            .json(&json!({ "name": payload, "body": "b" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED, "{name}");
        let location = resp.headers()["location"].to_str().unwrap().to_owned();
        let item: Value = resp.json().await.unwrap();
        assert_eq!(item["name"], payload);
        assert_eq!(location, format!("/api/v1/items/{}", item["id"]));
        // Read back exactly; invisible to another account.
        let read: Value = client
            .get(server.url(&location))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(read, item, "{name}");
        let other = client
            .get(server.url(&location))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(other, 404).await["code"], "NOT_FOUND");
        // Search by a substring with wildcard characters: found for alice only.
        let page: Value = client
            .get(server.url("/api/v1/items?q=%25_&limit=5"))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(page["items"].as_array().unwrap().len(), 1, "{name}: {page}");
        let none: Value = client
            .get(server.url("/api/v1/items?q=%25_"))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(none, json!({ "items": [], "next": null }));
        // Duplicate name: 409 with the query context and no value.
        let dup = client
            .post(server.url("/api/v1/items"))
            .bearer_auth(&alice)
            .json(&json!({ "name": payload, "body": "again" }))
            .send()
            .await
            .unwrap();
        let error = error_code(dup, 409).await;
        assert_eq!(error["code"], "DB_CONSTRAINT_VIOLATION", "{name}");
        assert_eq!(error["details"]["table"], "dx_items");
        assert_eq!(error["details"]["operation"], "insert");
        assert_eq!(error["details"]["error_type"], "constraint_violation");
        assert!(!error.to_string().contains("DROP TABLE"), "{error}");
        // Update, then delete; both owner scoped.
        let put = client
            .put(server.url(&location))
            .bearer_auth(&bob)
            .json(&json!({ "name": "x", "body": "y" }))
            .send()
            .await
            .unwrap();
        assert_eq!(put.status(), StatusCode::NOT_FOUND);
        let put: Value = client
            .put(server.url(&location))
            .bearer_auth(&alice)
            .json(&json!({ "name": "renamed", "body": "" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(put["name"], "renamed");
        let del = client
            .delete(server.url(&location))
            .bearer_auth(&bob)
            .send()
            .await
            .unwrap();
        assert_eq!(del.status(), StatusCode::NOT_FOUND);
        let del = client
            .delete(server.url(&location))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        assert_eq!(del.status(), StatusCode::NO_CONTENT);
        let gone = client
            .get(server.url(&location))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        assert_eq!(gone.status(), StatusCode::NOT_FOUND);
        server.stop().await;
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_no_token_gets_401() {
    let client = Client::new();
    let server = TestServer::start(conformance()).await;
    let carol = server.mint(&unique("carol")).await;
    let unauthenticated = client
        .get(server.url("/api/v1/items"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert!(unauthenticated.headers().contains_key("www-authenticate"));
    let cases = [
        (json!({ "name": "", "body": "" }), "name"),
        (json!({ "name": "a\u{0}b", "body": "" }), "name"),
        (json!({ "name": "n", "body": "x\u{0}" }), "body"),
        (json!({ "name": "n".repeat(257), "body": "" }), "name"),
        (
            json!({ "name": "n", "body": "b".repeat(16 * 1024 + 1) }),
            "body",
        ),
    ];
    for (body, field) in cases {
        let resp = client
            .post(server.url("/api/v1/items"))
            .bearer_auth(&carol)
            .json(&body)
            .send()
            .await
            .unwrap();
        let error = error_code(resp, 422).await;
        assert_eq!(error["details"]["field"], field, "{body}");
    }
    let extra = client
        .post(server.url("/api/v1/items"))
        .bearer_auth(&carol)
        .json(&json!({ "name": "n", "body": "", "owner": "mallory" }))
        .send()
        .await
        .unwrap();
    assert_eq!(extra.status().as_u16(), 422);
    let long_q = format!("q={}", "q".repeat(257));
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=1000000000", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("limit=ten", "limit"),
        ("limit=2.5", "limit"),
        ("after=-1", "after"),
        ("after=first", "after"),
        ("q=a&q=b", "q"),
        ("sort=name", "sort"),
        ("q=%00", "q"),
        (long_q.as_str(), "q"),
    ] {
        let resp = client
            .get(server.url(&format!("/api/v1/items?{query}")))
            .bearer_auth(&carol)
            .send()
            .await
            .unwrap();
        let error = error_code(resp, 422).await;
        assert_eq!(error["details"]["field"], field, "{query}");
    }
    // A search of 1 MiB cannot be a URI the server takes (spec/http-contract.md, "Parsing"):
    // refused before the application, and the server serves on.
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!(
        "GET /api/v1/items?q={} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {carol}\r\nConnection: close\r\n\r\n",
        "x".repeat(1 << 20)
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The server may close before reading it all; what it answered is what counts.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let status_line = String::from_utf8_lossy(&answer[..answer.len().min(12)]).into_owned();
    assert!(
        answer.is_empty() || status_line.starts_with("HTTP/1.1 4"),
        "a 1 MiB search was answered {status_line:?}"
    );
    let after = client
        .get(server.url("/api/v1/items?limit=1"))
        .bearer_auth(&carol)
        .send()
        .await
        .unwrap();
    assert_eq!(
        after.status(),
        StatusCode::OK,
        "serving on after the 1 MiB search"
    );
    for id in ["0", "-1", "abc", "99999999999999999999"] {
        let resp = client
            .get(server.url(&format!("/api/v1/items/{id}")))
            .bearer_auth(&carol)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 404, "{id}");
    }
    server.stop().await;
}

#[tokio::test]
async fn pages_continue_after_the_last_id() {
    let client = Client::new();
    let server = TestServer::start(conformance()).await;
    let dave = server.mint(&unique("dave")).await;
    for i in 0..5 {
        let resp = client
            .post(server.url("/api/v1/items"))
            .bearer_auth(&dave)
            .json(&json!({ "name": format!("item {i}"), "body": "" }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
    }
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let page: Value = client
            .get(server.url(&format!("/api/v1/items?limit=2&after={after}")))
            .bearer_auth(&dave)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for item in page["items"].as_array().unwrap() {
            seen.push(item["name"].as_str().unwrap().to_owned());
        }
        match page["next"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(seen, ["item 0", "item 1", "item 2", "item 3", "item 4"]);
    server.stop().await;
}

#[tokio::test]
async fn metrics_report_the_pool_queries_and_cache() {
    let client = Client::new();
    let server = TestServer::start(conformance()).await;
    let erin = server.mint(&unique("erin")).await;
    client
        .post(server.url("/api/v1/items"))
        .bearer_auth(&erin)
        .json(&json!({ "name": "metered", "body": "" }))
        .send()
        .await
        .unwrap();
    for _ in 0..2 {
        client
            .get(server.url("/api/v1/items?q=met"))
            .bearer_auth(&erin)
            .send()
            .await
            .unwrap();
    }
    let resp = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = resp.text().await.unwrap();
    for needle in [
        "dx_query_total{operation=\"insert\",outcome=\"ok\"}",
        "dx_query_duration_seconds_bucket{operation=\"select\"",
        "dx_db_pool_max_connections{backend=\"sqlite\"} 1",
        "dx_db_pool_connections{backend=\"sqlite\",state=\"in_use\"}",
        "dx_db_pool_waiting{backend=\"sqlite\"}",
        "dx_db_connections_opened_total{backend=\"sqlite\"}",
        "dx_query_cache_hits_total",
        "dx_query_cache_misses_total",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    server.stop().await;
    // Production does not serve it unless asked.
    let production = Config {
        bind: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let server = TestServer::start(production).await;
    let resp = client.get(server.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    server.stop().await;
}
