//! The HTTP contract of spec/http-contract.md, exercised over real HTTP against the server
//! running in-process: bad input of every kind gets the error envelope with the right status,
//! the server keeps serving, request ids, profiles and the fault hooks' gating.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use dx_server::{Config, Profile};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};

fn client() -> Client {
    Client::new()
}

async fn envelope(resp: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(resp.status().as_u16(), status);
    assert_eq!(resp.headers()["content-type"], "application/json");
    // Every error answer (404, 405, 408, 413, 415, 500 from a panic, …) carries the security
    // headers (spec/security.md), whichever layer produced it.
    for name in dx_security::headers::HEADER_NAMES {
        assert_eq!(
            resp.headers().get_all(name).iter().count(),
            1,
            "{name} on a {status}"
        );
    }
    let header_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    assert_eq!(body["request_id"], header_id.as_str());
    body
}

#[tokio::test]
async fn bad_input_gets_the_envelope_and_the_server_keeps_serving() {
    let server = TestServer::start(Config::conformance()).await;
    let c = client();
    let reports = server.url("/api/v1/client-errors");

    let r = c.get(server.url("/nope/deeper")).send().await.unwrap();
    envelope(r, 404, "NOT_FOUND").await;
    let r = c.get(server.url("/%FF%FE")).send().await.unwrap();
    envelope(r, 404, "NOT_FOUND").await;
    let r = c
        .request(Method::DELETE, server.url("/health"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("allow").is_some());
    envelope(r, 405, "METHOD_NOT_ALLOWED").await;
    let r = c
        .post(&reports)
        .header("content-type", "application/json")
        .body("{\"boundary\":")
        .send()
        .await
        .unwrap();
    envelope(r, 400, "BAD_REQUEST").await;
    let r = c
        .post(&reports)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{'])
        .send()
        .await
        .unwrap();
    envelope(r, 400, "BAD_REQUEST").await;
    let r = c
        .post(&reports)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    envelope(r, 415, "UNSUPPORTED_MEDIA_TYPE").await;
    let r = c
        .post(&reports)
        .json(&json!({"boundary": "", "message": "m"}))
        .send()
        .await
        .unwrap();
    let body = envelope(r, 422, "VALIDATION_FAILED").await;
    assert_eq!(body["error"]["details"]["field"], "boundary");
    let r = c
        .post(&reports)
        .json(&json!({"boundary": "b", "message": "m", "extra": true}))
        .send()
        .await
        .unwrap();
    envelope(r, 422, "VALIDATION_FAILED").await;

    // A declared length over the limit, and a chunked body over it.
    let huge = vec![b' '; 2 * 1024 * 1024];
    let r = c
        .post(&reports)
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["connection"], "close");
    envelope(r, 413, "PAYLOAD_TOO_LARGE").await;
    let stream =
        futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let r = c
        .post(&reports)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["connection"], "close");
    envelope(r, 413, "PAYLOAD_TOO_LARGE").await;

    // Still serving, with a fresh client and the old one.
    for c in [client(), c] {
        let r = c.get(server.url("/health")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let r = c
            .post(&reports)
            .json(&json!({"boundary": "nav", "message": "boom", "code": 7}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["accepted"], true);
    }
    server.stop().await;
}

#[tokio::test]
async fn request_ids_are_kept_when_valid_and_replaced_otherwise() {
    let server = TestServer::start(Config::conformance()).await;
    let c = client();
    let r = c
        .get(server.url("/missing"))
        .header("x-request-id", "trace-42.a:b_c")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "trace-42.a:b_c");
    let body = envelope(r, 404, "NOT_FOUND").await;
    assert_eq!(body["request_id"], "trace-42.a:b_c");
    for bad in ["has space", &"x".repeat(129)] {
        let r = c
            .get(server.url("/health"))
            .header("x-request-id", bad)
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 36, "a generated UUID");
    }
    server.stop().await;
}

#[tokio::test]
async fn fault_hooks_exist_only_in_the_conformance_profile() {
    for (profile, hooks) in [
        (Profile::Production, false),
        (Profile::Development, false),
        (Profile::Conformance, true),
    ] {
        let server = TestServer::start(Config {
            profile,
            ..Config::conformance()
        })
        .await;
        let c = client();
        let r = c
            .post(server.url("/_dx/faults/add"))
            .json(&json!({"scope": "s", "add": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().is_success(), hooks, "{profile}");
        let doc: Value = c
            .get(server.url("/.well-known/dx-www"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["profile"], profile.as_str());
        assert_eq!(doc["fault_hooks"].is_null(), !hooks);
        server.stop().await;
    }
}

#[tokio::test]
async fn development_profile_shows_details_production_does_not() {
    let body =
        json!({"number": 2002, "message": "slow", "source": "socket timeout at /srv/db.rs:3"});
    for (profile, detailed) in [(Profile::Development, true), (Profile::Conformance, false)] {
        let mut config = Config::conformance();
        config.profile = profile;
        let server = TestServer::start(config).await;
        // Development has no fault hooks; use a malformed body there instead.
        let c = client();
        let r = if detailed {
            c.post(server.url("/api/v1/client-errors"))
                .header("content-type", "application/json")
                .body("{")
                .send()
                .await
                .unwrap()
        } else {
            c.post(server.url("/_dx/faults/error"))
                .json(&body)
                .send()
                .await
                .unwrap()
        };
        let text = r.text().await.unwrap();
        assert_eq!(text.contains("\"debug\""), detailed, "{profile}: {text}");
        assert!(!text.contains("/srv/db.rs"), "{text}");
        server.stop().await;
    }
}

#[tokio::test]
async fn error_hook_adds_the_headers_its_codes_need() {
    let server = TestServer::start(Config::conformance()).await;
    let c = client();
    let r = c
        .post(server.url("/_dx/faults/error"))
        .json(&json!({"number": 1005, "message": "slow down"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["retry-after"], "1");
    envelope(r, 429, "RATE_LIMITED").await;
    let r = c
        .post(server.url("/_dx/faults/error"))
        .json(&json!({"number": 4005, "message": "no"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["allow"], "POST");
    let r2 = c
        .post(server.url("/_dx/faults/error"))
        .json(&json!({"number": 9999, "message": "x"}))
        .send()
        .await
        .unwrap();
    envelope(r, 405, "METHOD_NOT_ALLOWED").await;
    envelope(r2, 422, "VALIDATION_FAILED").await;
    server.stop().await;
}

#[tokio::test]
async fn slow_requests_time_out_with_the_envelope() {
    let mut config = Config::conformance();
    config.request_timeout = std::time::Duration::from_millis(200);
    let server = TestServer::start(config).await;
    // A body that never finishes arriving.
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    tx.send(Ok(b"{".to_vec())).await.unwrap();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    let r = client()
        .post(server.url("/api/v1/client-errors"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    envelope(r, 408, "REQUEST_TIMEOUT").await;
    drop(tx);
    server.stop().await;
}
