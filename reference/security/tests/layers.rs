//! The layers in an axum application of their own, without the reference server: what any
//! application adding them gets.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::{get, post};
use dx_security::clock::ManualClock;
use dx_security::csrf::{Csrf, CsrfConfig, CsrfLayer, CsrfManager, MemorySessions};
use dx_security::rate_limit::{
    ClientIp, EndpointCategory, MemoryStore, RateLimit, RateLimitConfig, RateLimitLayer,
    RateLimiter, RedisStore, RouteCategories, StoreFailure,
};
use dx_security::{SecurityConfig, SecurityHeadersLayer};
use http::{HeaderName, Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

async fn body_json(response: Response<Body>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}

fn from(peer: &str, req: http::request::Builder) -> http::request::Builder {
    let addr: SocketAddr = format!("{peer}:4000").parse().unwrap();
    req.extension(ConnectInfo(addr))
}

fn limited_app(store_failure: StoreFailure, limiter: RateLimiter) -> Router {
    let config = RateLimitConfig {
        routes: RouteCategories::new()
            .with("/api/", EndpointCategory::Api)
            .with("/api/auth/", EndpointCategory::Auth),
        client_ip: ClientIp::trusting(["10.0.0.0/8".parse().unwrap()]),
        partition_header: Some(HeaderName::from_static("x-partition")),
        on_store_failure: store_failure,
    };
    Router::new()
        .route("/api/thing", get(|| async { "ok" }))
        .route("/api/auth/login", post(|| async { "ok" }))
        .route("/health", get(|| async { "ok" }))
        .layer(RateLimitLayer::new(limiter, config))
        .layer(SecurityHeadersLayer::new(&SecurityConfig::production()).unwrap())
}

fn memory_limiter(clock: Arc<ManualClock>) -> RateLimiter {
    RateLimiter::new(Arc::new(MemoryStore::new(1_000, clock)))
        .with_limit(
            EndpointCategory::Api,
            RateLimit {
                max_requests: 3,
                window_seconds: 10,
            },
        )
        .with_limit(
            EndpointCategory::Auth,
            RateLimit {
                max_requests: 1,
                window_seconds: 60,
            },
        )
}

#[tokio::test]
async fn the_limit_is_enforced_with_fields_and_an_exact_retry_after() {
    let clock = ManualClock::at(1_700_000_000_000);
    let app = limited_app(StoreFailure::Open, memory_limiter(clock.clone()));
    // t counts down to the moment the first request leaves the window (10 s, 8.5 s, 7 s).
    for (remaining, reset) in [(2, 10), (1, 9), (0, 7)] {
        let r = app
            .clone()
            .oneshot(
                from("192.0.2.1", Request::get("/api/thing"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["ratelimit-policy"], "\"api\";q=3;w=10");
        assert_eq!(
            r.headers()["ratelimit"],
            format!("\"api\";r={remaining};t={reset}").as_str()
        );
        clock.advance(1_500);
    }
    let refused = app
        .clone()
        .oneshot(
            from("192.0.2.1", Request::get("/api/thing"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    // The first request was at t0; now is t0 + 4.5 s: 5.5 s to wait, rounded up.
    assert_eq!(refused.headers()["retry-after"], "6");
    assert_eq!(refused.headers()["ratelimit"], "\"api\";r=0;t=6");
    assert!(refused.headers().contains_key("content-security-policy"));
    let body = body_json(refused).await;
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    assert_eq!(body["error"]["details"]["retry_after_seconds"], 6);
    // Another client, another category, an unlimited path and another partition are apart.
    let other = app
        .clone()
        .oneshot(
            from("192.0.2.2", Request::get("/api/thing"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    let auth = app
        .clone()
        .oneshot(
            from("192.0.2.1", Request::post("/api/auth/login"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(auth.headers()["ratelimit-policy"], "\"auth\";q=1;w=60");
    let health = app
        .clone()
        .oneshot(
            from("192.0.2.1", Request::get("/health"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert!(!health.headers().contains_key("ratelimit"));
    let part = app
        .clone()
        .oneshot(
            from(
                "192.0.2.1",
                Request::get("/api/thing").header("x-partition", "check-1"),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(part.status(), 200);
    // An invalid partition value is ignored: the client's own budget, already spent.
    let bad_part = app
        .clone()
        .oneshot(
            from(
                "192.0.2.1",
                Request::get("/api/thing").header("x-partition", "a b"),
            )
            .body(Body::empty())
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(bad_part.status(), 429);
    clock.advance(5_500);
    let again = app
        .clone()
        .oneshot(
            from("192.0.2.1", Request::get("/api/thing"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        200,
        "a request Retry-After seconds later is admitted"
    );
}

#[tokio::test]
async fn forged_forwarding_headers_do_not_change_the_key() {
    let clock = ManualClock::at(1_700_000_000_000);
    let app = limited_app(StoreFailure::Open, memory_limiter(clock));
    // An untrusted peer rotating X-Forwarded-For stays one client.
    for i in 0..3 {
        let r = app
            .clone()
            .oneshot(
                from(
                    "198.51.100.9",
                    Request::post("/api/auth/login")
                        .header("x-forwarded-for", format!("203.0.113.{i}")),
                )
                .body(Body::empty())
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), if i == 0 { 200 } else { 429 }, "request {i}");
    }
    // Behind a trusted proxy, each reported client has its own budget.
    for i in 0..3 {
        let r = app
            .clone()
            .oneshot(
                from(
                    "10.0.0.5",
                    Request::post("/api/auth/login")
                        .header("x-forwarded-for", format!("203.0.113.{i}")),
                )
                .body(Body::empty())
                .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "client {i}");
    }
    // No peer recorded at all: one shared "unknown" client, still limited.
    let no_peer = |_: ()| {
        Request::post("/api/auth/login")
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        app.clone().oneshot(no_peer(())).await.unwrap().status(),
        200
    );
    assert_eq!(
        app.clone().oneshot(no_peer(())).await.unwrap().status(),
        429
    );
}

#[tokio::test]
async fn a_failed_store_fails_open_or_closed_as_configured() {
    let store = RedisStore::new(redis::Client::open("redis://127.0.0.1:1/").unwrap(), "x:")
        .unwrap()
        .with_timeout(Duration::from_millis(200));
    let limiter = || {
        RateLimiter::new(Arc::new(store.clone())).with_limit(
            EndpointCategory::Api,
            RateLimit {
                max_requests: 1,
                window_seconds: 1,
            },
        )
    };
    let open = limited_app(StoreFailure::Open, limiter());
    let r = open
        .oneshot(
            from("192.0.2.1", Request::get("/api/thing"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("ratelimit"));
    let closed = limited_app(StoreFailure::Closed, limiter());
    let r = closed
        .oneshot(
            from("192.0.2.1", Request::get("/api/thing"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(body_json(r).await["error"]["code"], "SERVICE_UNAVAILABLE");
    assert_eq!(StoreFailure::Open.as_str(), "open");
    assert_eq!(StoreFailure::Closed.as_str(), "closed");
}

struct CsrfApp {
    app: Router,
    clock: Arc<ManualClock>,
}

fn csrf_app() -> CsrfApp {
    let clock = ManualClock::at(1_700_000_000_000);
    let manager = CsrfManager::new([3; 32], Duration::from_secs(5)).with_clock(clock.clone());
    let sessions = Arc::new(MemorySessions::new(1_000, clock.clone()));
    let mut config = CsrfConfig::plain_http().exempt("/hooks/");
    config.max_form_bytes = 4096;
    let csrf = Arc::new(Csrf::new(manager, sessions, config));
    let issue = Arc::clone(&csrf);
    let end = Arc::clone(&csrf);
    let app = Router::new()
        .route(
            "/csrf",
            get(move |req: Request<Body>| {
                let csrf = Arc::clone(&issue);
                async move { csrf.issue(req.headers()).await }
            }),
        )
        .route(
            "/session/end",
            post(move |req: Request<Body>| {
                let csrf = Arc::clone(&end);
                async move { csrf.end_session(req.headers()).await }
            }),
        )
        .route(
            "/thing",
            post(|body: String| async move { body })
                .put(|| async { "put" })
                .patch(|| async { "patch" })
                .delete(|| async { "delete" }),
        )
        .route("/hooks/x", post(|| async { "hook" }))
        .layer(CsrfLayer::new(csrf));
    CsrfApp { app, clock }
}

struct Session {
    cookie: String,
    token: String,
}

async fn session(app: &Router) -> Session {
    let r = app
        .clone()
        .oneshot(Request::get("/csrf").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    assert!(
        cookies[0].starts_with("dx_session=")
            && cookies[0].contains("HttpOnly")
            && cookies[0].contains("SameSite=Lax")
    );
    assert!(cookies[1].starts_with("dx_csrf=") && !cookies[1].contains("HttpOnly"));
    let cookie = cookies[0].split(';').next().unwrap().to_owned();
    let body = body_json(r).await;
    assert_eq!(body["header"], "x-csrf-token");
    assert_eq!(body["form_field"], "_csrf");
    assert_eq!(body["expires_in"], 5);
    Session {
        cookie,
        token: body["token"].as_str().unwrap().to_owned(),
    }
}

async fn reason(response: Response<Body>) -> String {
    assert_eq!(response.status(), 403);
    body_json(response).await["error"]["details"]["reason"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn unsafe_methods_need_a_valid_token_in_the_header_or_the_form() {
    let CsrfApp { app, clock } = csrf_app();
    let s = session(&app).await;
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let without = Request::builder()
            .method(method)
            .uri("/thing")
            .header("cookie", &s.cookie)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            reason(app.clone().oneshot(without).await.unwrap()).await,
            "missing",
            "{method}"
        );
        let with = Request::builder()
            .method(method)
            .uri("/thing")
            .header("cookie", &s.cookie)
            .header("x-csrf-token", &s.token)
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            app.clone().oneshot(with).await.unwrap().status(),
            200,
            "{method}"
        );
    }
    let form = Request::post("/thing")
        .header("cookie", &s.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("a=1&_csrf={}", s.token)))
        .unwrap();
    let r = app.clone().oneshot(form).await.unwrap();
    assert_eq!(r.status(), 200);
    let echoed = r.into_body().collect().await.unwrap().to_bytes();
    assert!(
        echoed.starts_with(b"a=1&_csrf="),
        "the handler still gets the whole body"
    );
    let multipart = format!(
        "--XX\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n{}\r\n--XX--\r\n",
        s.token
    );
    let mp = Request::post("/thing")
        .header("cookie", &s.cookie)
        .header("content-type", "multipart/form-data; boundary=XX")
        .body(Body::from(multipart))
        .unwrap();
    assert_eq!(app.clone().oneshot(mp).await.unwrap().status(), 200);
    // Both places: both must be valid.
    let both_bad = Request::post("/thing")
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.token)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("_csrf=nope"))
        .unwrap();
    assert_eq!(
        reason(app.clone().oneshot(both_bad).await.unwrap()).await,
        "malformed"
    );
    // Safe methods need nothing.
    let get = Request::get("/csrf")
        .header("cookie", &s.cookie)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.clone().oneshot(get).await.unwrap().status(), 200);
    // Expiry.
    clock.advance(5_000);
    let late = Request::post("/thing")
        .header("cookie", &s.cookie)
        .header("x-csrf-token", &s.token)
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        reason(app.clone().oneshot(late).await.unwrap()).await,
        "expired"
    );
}

#[tokio::test]
async fn wrong_sessions_and_hostile_tokens_are_refused_with_their_reason() {
    let CsrfApp { app, .. } = csrf_app();
    let a = session(&app).await;
    let b = session(&app).await;
    assert_ne!(a.token, b.token);
    let post = |cookie: &str, token: &str| {
        Request::post("/thing")
            .header("cookie", cookie)
            .header("x-csrf-token", token)
            .body(Body::empty())
            .unwrap()
    };
    assert_eq!(
        reason(
            app.clone()
                .oneshot(post(&a.cookie, &b.token))
                .await
                .unwrap()
        )
        .await,
        "session-mismatch"
    );
    for bad in [
        "",
        "x",
        &"A".repeat(96),
        &"A".repeat(95),
        &format!("{}=", &a.token[..95]),
        &a.token.to_uppercase(),
    ] {
        let r = reason(app.clone().oneshot(post(&a.cookie, bad)).await.unwrap()).await;
        assert!(r == "malformed" || r == "invalid", "{bad:?}: {r}");
    }
    // No session cookie (but other cookies), an unknown session, an ended session.
    assert_eq!(
        reason(
            app.clone()
                .oneshot(post("theme=dark", &a.token))
                .await
                .unwrap()
        )
        .await,
        "no-session"
    );
    assert_eq!(
        reason(
            app.clone()
                .oneshot(post("dx_session=AAAAAAAAAAAAAAAAAAAAAA", &a.token))
                .await
                .unwrap()
        )
        .await,
        "no-session"
    );
    let end = Request::post("/session/end")
        .header("cookie", &a.cookie)
        .header("x-csrf-token", &a.token)
        .body(Body::empty())
        .unwrap();
    let ended = app.clone().oneshot(end).await.unwrap();
    assert_eq!(ended.status(), 204);
    assert_eq!(ended.headers().get_all("set-cookie").iter().count(), 2);
    assert_eq!(
        reason(
            app.clone()
                .oneshot(post(&a.cookie, &a.token))
                .await
                .unwrap()
        )
        .await,
        "no-session"
    );
    // A cross-site unsafe request is refused even without cookies.
    let cross = Request::post("/thing")
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        reason(app.clone().oneshot(cross).await.unwrap()).await,
        "cross-site"
    );
    let same = Request::post("/thing")
        .header("sec-fetch-site", "same-origin")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.clone().oneshot(same).await.unwrap().status(), 200);
}

#[tokio::test]
async fn requests_without_cookies_and_exempt_paths_pass_and_big_forms_are_refused() {
    let CsrfApp { app, .. } = csrf_app();
    let bearer = Request::post("/thing")
        .header("authorization", "Bearer x")
        .body(Body::from("hi"))
        .unwrap();
    assert_eq!(app.clone().oneshot(bearer).await.unwrap().status(), 200);
    let hook = Request::post("/hooks/x")
        .header("cookie", "dx_session=AAAAAAAAAAAAAAAAAAAAAA")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.clone().oneshot(hook).await.unwrap().status(), 200);
    let s = session(&app).await;
    let big = Request::post("/thing")
        .header("cookie", &s.cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("a".repeat(5_000)))
        .unwrap();
    let r = app.clone().oneshot(big).await.unwrap();
    assert_eq!(r.status(), 413);
    // A session reused by the token endpoint keeps its cookie: only the token cookie is set.
    let again = app
        .clone()
        .oneshot(
            Request::get("/csrf")
                .header("cookie", &s.cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(again.headers().get_all("set-cookie").iter().count(), 1);
}

#[test]
fn production_cookies_are_host_prefixed_and_secure() {
    let p = CsrfConfig::production();
    assert_eq!(p.session_ttl, Duration::from_secs(12 * 3600));
    assert_eq!(p.max_form_bytes, 1024 * 1024);
    assert!(p.fetch_metadata && p.exempt_paths.is_empty());
    assert_eq!(
        (p.header.as_str(), p.form_field.as_str()),
        ("x-csrf-token", "_csrf")
    );
    let c = p.with_session_ttl(Duration::from_secs(60));
    assert!(c.session_cookie.starts_with("__Host-") && c.token_cookie.starts_with("__Host-"));
    assert!(c.secure_cookies);
    assert_eq!(c.session_ttl, Duration::from_secs(60));
    let plain = CsrfConfig::plain_http();
    assert!(!plain.secure_cookies);
    assert_eq!(
        (plain.session_cookie.as_str(), plain.token_cookie.as_str()),
        ("dx_session", "dx_csrf")
    );
}

/// An inner service that is never ready: every layer must pass its readiness (and its
/// error) through, not claim to be ready for it.
#[derive(Clone)]
struct Down;

impl tower::Service<Request<Body>> for Down {
    type Response = Response<Body>;
    type Error = &'static str;
    type Future = std::future::Ready<Result<Response<Body>, &'static str>>;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Err("inner service down"))
    }

    fn call(&mut self, _req: Request<Body>) -> Self::Future {
        std::future::ready(Err("called while down"))
    }
}

#[tokio::test]
async fn every_layer_passes_its_inner_service_readiness_through() {
    use tower::Layer;
    let clock = ManualClock::at(1);
    let limit = RateLimitLayer::new(memory_limiter(clock.clone()), RateLimitConfig::default());
    assert_eq!(
        limit.layer(Down).ready().await.err(),
        Some("inner service down")
    );
    let headers = SecurityHeadersLayer::new(&SecurityConfig::production()).unwrap();
    assert_eq!(
        headers.layer(Down).ready().await.err(),
        Some("inner service down")
    );
    let manager = CsrfManager::new([1; 32], Duration::from_secs(1));
    let csrf = Arc::new(Csrf::new(
        manager,
        Arc::new(MemorySessions::default()),
        CsrfConfig::production(),
    ));
    assert_eq!(
        CsrfLayer::new(csrf).layer(Down).ready().await.err(),
        Some("inner service down")
    );
}

#[test]
fn the_layer_exposes_its_limiter_and_configuration() {
    let config = RateLimitConfig {
        routes: RouteCategories::new().with("/api/", EndpointCategory::Api),
        client_ip: ClientIp::trusting(["10.0.0.0/8".parse().unwrap()]),
        partition_header: Some(HeaderName::from_static("x-partition")),
        on_store_failure: StoreFailure::Closed,
    };
    let layer = RateLimitLayer::new(memory_limiter(ManualClock::at(1)), config);
    assert_eq!(
        layer.config().routes.category("/api/x"),
        Some(EndpointCategory::Api)
    );
    assert_eq!(layer.config().client_ip.trusted_proxies().len(), 1);
    assert_eq!(
        layer
            .config()
            .partition_header
            .as_ref()
            .map(HeaderName::as_str),
        Some("x-partition")
    );
    assert_eq!(layer.config().on_store_failure, StoreFailure::Closed);
    assert_eq!(
        layer
            .limiter()
            .limit(EndpointCategory::Auth)
            .map(|l| l.max_requests),
        Some(1)
    );
}
