//! Two `dx-reference` instances sharing one Redis behave as one (DESIGN.md, spec/security.md):
//! one rate limit between them, and CSRF sessions and tokens valid on both. Runs when
//! `REDIS_URL` is set (CI sets it, with `DX_REQUIRE_REDIS=1` so a missing Redis fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use dx_server::Config;
use dx_server::config::LimitSpec;

fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("DX_REQUIRE_REDIS").is_err(),
                "DX_REQUIRE_REDIS is set but REDIS_URL is not"
            );
            eprintln!("skipped: set REDIS_URL=redis://… to run the two-instance tests");
            None
        }
    }
}

/// Two instances on one Redis, signing with one key (so they share the CSRF secret).
async fn pair(url: &str) -> (TestServer, TestServer) {
    let key = std::env::temp_dir().join(format!("dx-instances-{}.key", std::process::id()));
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let config = || {
        let mut c = Config::conformance();
        c.redis_url = Some(url.to_owned());
        c.key_file = Some(key.clone());
        // A long window, so the test's own pace never frees a slot.
        c.security.limits[1] = LimitSpec {
            max_requests: 6,
            window_seconds: 60,
        };
        c
    };
    (
        TestServer::start(config()).await,
        TestServer::start(config()).await,
    )
}

#[tokio::test]
async fn one_limit_is_shared_between_instances() {
    let Some(url) = redis_url() else { return };
    let (a, b) = pair(&url).await;
    let client = reqwest::Client::new();
    let partition = format!("instances-{}", uuid_like());
    let mut admitted = 0;
    let mut remaining = Vec::new();
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let r = client
            .get(server.url("/api/dx-instances"))
            .header("x-dx-ratelimit-partition", &partition)
            .send()
            .await
            .unwrap();
        if r.status() != 429 {
            admitted += 1;
            remaining.push(r.headers()["ratelimit"].to_str().unwrap().to_owned());
        } else {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(
        admitted, 6,
        "one budget of 6 across both instances: {remaining:?}"
    );
    assert_eq!(
        remaining.last().map(String::as_str),
        Some("\"api\";r=0;t=60")
    );
}

#[tokio::test]
async fn a_session_and_its_token_work_on_every_instance_and_end_everywhere() {
    let Some(url) = redis_url() else { return };
    let (a, b) = pair(&url).await;
    let client = reqwest::Client::new();
    let issued = client
        .get(a.url("/api/v1/session/csrf"))
        .send()
        .await
        .unwrap();
    let cookie = issued
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("dx_session="))
        .unwrap();
    let token = issued.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Issued on A, accepted on B: the CSRF check lets it through (the route answers 405).
    let on_b = client
        .post(b.url("/api/v1/session/csrf"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_b.status(), 405);
    // Ended on B, refused on A.
    let end = client
        .post(b.url("/api/v1/session/end"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), 204);
    let on_a = client
        .post(a.url("/api/v1/session/csrf"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_a.status(), 403);
    let body: serde_json::Value = on_a.json().await.unwrap();
    assert_eq!(body["error"]["details"]["reason"], "no-session");
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
