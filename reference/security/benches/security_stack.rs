//! What the whole security stack costs a request, against the same route without it, measured
//! in the same run:
//!
//! - `bare`: an axum `Router` with one route, `GET /api/x` and `POST /api/x` answering "ok";
//! - `stack`: the same router with the three layers in the reference server's order (outermost
//!   first): [`SecurityHeadersLayer`] (production headers), [`RateLimitLayer`] (a
//!   [`MemoryStore`] on the system clock, `/api/` limited to 1,000,000,000 requests per 1 s
//!   window per client, so nothing is refused; the client is the peer address, one of 1,024)
//!   and [`CsrfLayer`] (production configuration, memory sessions). The `POST` carries no
//!   cookies, so it is CSRF-exempt: it pays the layer's checks, not a token validation.
//!
//! Both are driven in process, with no sockets: each request is built (with the
//! `ConnectInfo<SocketAddr>` the rate limiter reads, on both sides), sent with
//! `tower::ServiceExt::oneshot` to a clone of the router on a current-thread runtime, and its
//! status checked. The summary gives ns/request for both (the median and the best of many short
//! interleaved rounds, alternating which goes first), the overhead ratio stack/bare and the
//! added nanoseconds; then the same for each layer alone, to show where the cost lies.
//!
//! Run: `cargo bench -p dx-security --bench security_stack`. Without the `--bench` argument
//! cargo passes (`cargo test --benches`) it runs a short smoke pass whose numbers mean nothing.

// A benchmark is a test program: a failed setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::get;
use dx_bench_record::Figure;
use dx_security::csrf::{Csrf, CsrfConfig, CsrfLayer, CsrfManager, MemorySessions};
use dx_security::rate_limit::{
    ClientIp, EndpointCategory, MemoryStore, RateLimit, RateLimitConfig, RateLimitLayer,
    RateLimiter, RouteCategories, StoreFailure,
};
use dx_security::{SecurityConfig, SecurityHeadersLayer};
use http::{Method, Request, StatusCode};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// Distinct client addresses the requests come from, in turn.
const PEERS: usize = 1_024;
/// Requests per timed round of one app and method.
const REQUESTS_PER_ROUND: usize = 4_000;
const PATH: &str = "/api/x";

/// How long things run: full length under `cargo bench`, a smoke pass otherwise.
#[derive(Debug, Clone, Copy)]
struct Settings {
    warm_up: usize,
    rounds: usize,
    layer_rounds: usize,
}

impl Settings {
    fn from_args() -> Self {
        if std::env::args().any(|a| a == "--bench") {
            Self {
                warm_up: 20_000,
                rounds: 100,
                layer_rounds: 30,
            }
        } else {
            Self {
                warm_up: 100,
                rounds: 2,
                layer_rounds: 1,
            }
        }
    }
}

fn route() -> Router {
    Router::new().route(PATH, get(|| async { "ok" }).post(|| async { "ok" }))
}

fn headers_layer() -> SecurityHeadersLayer {
    SecurityHeadersLayer::new(&SecurityConfig::production()).unwrap()
}

fn rate_limit_layer() -> RateLimitLayer {
    let limiter = RateLimiter::new(Arc::new(MemoryStore::default())).with_limit(
        EndpointCategory::Api,
        RateLimit {
            max_requests: 1_000_000_000,
            window_seconds: 1,
        },
    );
    let config = RateLimitConfig {
        routes: RouteCategories::new().with("/api/", EndpointCategory::Api),
        client_ip: ClientIp::default(),
        partition_header: None,
        on_store_failure: StoreFailure::Open,
    };
    RateLimitLayer::new(limiter, config)
}

fn csrf_layer() -> CsrfLayer {
    let manager = CsrfManager::random(Duration::from_secs(3600)).unwrap();
    let sessions = Arc::new(MemorySessions::default());
    CsrfLayer::new(Arc::new(Csrf::new(
        manager,
        sessions,
        CsrfConfig::production(),
    )))
}

/// The apps compared: the bare route, the whole stack, and each layer alone.
struct Apps {
    bare: Router,
    stack: Router,
    headers_only: Router,
    rate_limit_only: Router,
    csrf_only: Router,
}

impl Apps {
    fn new() -> Self {
        Self {
            bare: route(),
            // The reference server's order: headers outermost, then the rate limit, then CSRF.
            stack: route()
                .layer(csrf_layer())
                .layer(rate_limit_layer())
                .layer(headers_layer()),
            headers_only: route().layer(headers_layer()),
            rate_limit_only: route().layer(rate_limit_layer()),
            csrf_only: route().layer(csrf_layer()),
        }
    }
}

/// The client addresses.
fn peers() -> Vec<SocketAddr> {
    (0..PEERS)
        .map(|i| SocketAddr::from(([198, 18, (i / 256) as u8, (i % 256) as u8], 40_000)))
        .collect()
}

fn request(method: &Method, peer: SocketAddr) -> Request<Body> {
    Request::builder()
        .method(method.clone())
        .uri(PATH)
        .extension(ConnectInfo(peer))
        .body(Body::empty())
        .unwrap()
}

/// Sends `n` requests one after another, starting at peer `*next`; returns ns/request.
async fn drive(
    app: &Router,
    method: &Method,
    peers: &[SocketAddr],
    next: &mut usize,
    n: usize,
) -> f64 {
    let started = Instant::now();
    for _ in 0..n {
        let peer = peers[*next % peers.len()];
        *next += 1;
        let response = app.clone().oneshot(request(method, peer)).await.unwrap();
        assert_eq!(black_box(response.status()), StatusCode::OK);
    }
    started.elapsed().as_secs_f64() * 1e9 / n as f64
}

/// Before timing anything: every app answers 200, and the stack's layers really ran.
async fn check(apps: &Apps, peers: &[SocketAddr]) {
    for method in [Method::GET, Method::POST] {
        let bare = apps
            .bare
            .clone()
            .oneshot(request(&method, peers[0]))
            .await
            .unwrap();
        assert_eq!(bare.status(), StatusCode::OK);
        assert!(!bare.headers().contains_key("content-security-policy"));
        let stack = apps
            .stack
            .clone()
            .oneshot(request(&method, peers[0]))
            .await
            .unwrap();
        assert_eq!(stack.status(), StatusCode::OK, "{method} through the stack");
        let headers = stack.headers();
        assert!(headers.contains_key("content-security-policy"));
        assert!(headers.contains_key("strict-transport-security"));
        assert!(headers.contains_key("ratelimit"));
        assert!(headers.contains_key("ratelimit-policy"));
    }
}

/// Median and best ns/request of each of two apps over interleaved rounds, and the median
/// per-round ratio.
struct Comparison {
    base: (f64, f64),
    with: (f64, f64),
    median_ratio: f64,
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn compare(
    runtime: &Runtime,
    base: &Router,
    with: &Router,
    method: &Method,
    peers: &[SocketAddr],
    rounds: usize,
) -> Comparison {
    runtime.block_on(async {
        let mut next = 0;
        let mut base_times = Vec::with_capacity(rounds);
        let mut with_times = Vec::with_capacity(rounds);
        let mut ratios = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let (b, w) = if round % 2 == 0 {
                let b = drive(base, method, peers, &mut next, REQUESTS_PER_ROUND).await;
                (
                    b,
                    drive(with, method, peers, &mut next, REQUESTS_PER_ROUND).await,
                )
            } else {
                let w = drive(with, method, peers, &mut next, REQUESTS_PER_ROUND).await;
                (
                    drive(base, method, peers, &mut next, REQUESTS_PER_ROUND).await,
                    w,
                )
            };
            base_times.push(b);
            with_times.push(w);
            ratios.push(w / b);
        }
        let best = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        Comparison {
            base: (median(&mut base_times), best(&base_times)),
            with: (median(&mut with_times), best(&with_times)),
            median_ratio: median(&mut ratios),
        }
    })
}

fn main() {
    let settings = Settings::from_args();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let apps = Apps::new();
    let peers = peers();
    runtime.block_on(check(&apps, &peers));
    // Warm up every app on both methods (allocator, the stores' first keys, caches).
    runtime.block_on(async {
        let mut next = 0;
        for app in [
            &apps.bare,
            &apps.stack,
            &apps.headers_only,
            &apps.rate_limit_only,
            &apps.csrf_only,
        ] {
            for method in [Method::GET, Method::POST] {
                drive(app, &method, &peers, &mut next, settings.warm_up).await;
            }
        }
    });

    println!(
        "security_stack: in-process oneshot on a current-thread runtime, {PEERS} client addresses, \
         {REQUESTS_PER_ROUND} requests per round"
    );
    for method in [Method::GET, Method::POST] {
        let c = compare(
            &runtime,
            &apps.bare,
            &apps.stack,
            &method,
            &peers,
            settings.rounds,
        );
        let what = if method == Method::POST {
            "POST /api/x (no cookies: CSRF-exempt)"
        } else {
            "GET /api/x"
        };
        println!(
            "{what}: bare route {:.0} ns/request; full security stack {:.0} ns/request; \
             overhead ratio {:.2}x ({:+.0} ns/request) \
             [median of {} interleaved rounds; best {:.0} / {:.0} ns; \
             median paired-round ratio {:.2}x]",
            c.base.0,
            c.with.0,
            c.with.0 / c.base.0,
            c.with.0 - c.base.0,
            settings.rounds,
            c.base.1,
            c.with.1,
            c.median_ratio,
        );
        Figure::lower_is_better(format!("{what}, in process"), "ns/request")
            .ours("behind the whole security stack", c.with.0)
            .peer("the same route bare", c.base.0)
            .note(format!("median of {} interleaved rounds", settings.rounds))
            .record()
            .expect("the results file is writable");
    }
    for method in [Method::GET, Method::POST] {
        for (name, app) in [
            ("headers layer alone", &apps.headers_only),
            ("rate-limit layer alone", &apps.rate_limit_only),
            ("CSRF layer alone", &apps.csrf_only),
        ] {
            let c = compare(
                &runtime,
                &apps.bare,
                app,
                &method,
                &peers,
                settings.layer_rounds,
            );
            println!(
                "  {method} {name}: {:.0} ns/request vs bare {:.0} ns/request, \
                 ratio {:.2}x ({:+.0} ns) [median of {} rounds]",
                c.with.0,
                c.base.0,
                c.with.0 / c.base.0,
                c.with.0 - c.base.0,
                settings.layer_rounds,
            );
            Figure::lower_is_better(format!("{method} /api/x, {name}"), "ns/request")
                .group("each layer alone")
                .ours(name, c.with.0)
                .peer("the same route bare", c.base.0)
                .note(format!("median of {} rounds", settings.layer_rounds))
                .record()
                .expect("the results file is writable");
        }
    }
}
