//! The items API under 500 concurrent clients at the default pool size: p50/p99 of reads,
//! listings and writes, against `GET /health` under the same 500 clients in the same run.
//!
//! `/health` goes through the same listener, middleware stack and runtime but touches no
//! database, so the ratio items p99 / health p99 is what the query path (pool wait, the
//! statement, rows into JSON) adds to a request when 500 clients share ten connections. A
//! pool that queued without bound, or a cache that serialised readers, would show here as a
//! ratio far above the others; a 503 `RESOURCE_EXHAUSTED` (the pool's acquire timeout) is
//! counted, never hidden.
//!
//! The server runs on its own multi-thread runtime, as the binary does (conformance profile
//! for open registration, with the default pool size and query timeout, rate limits out of the
//! way); the clients on a second runtime. With `DATABASE_URL` set to a PostgreSQL database the
//! items live there (each run in tables of its own account), otherwise in the embedded
//! SQLite, whose pool has one connection. No timing assertions: the numbers depend on the
//! machine.
//!
//! Run: `cargo bench -p dx-server --bench items_load` (with `DATABASE_URL` for PostgreSQL).

// A benchmark is a test program: a failed setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dx_bench_record::{Count, Figure, Goal};
use dx_server::config::{LimitSpec, QuerySettings};
use dx_server::{AuthSettings, BoundServer, Config, DatabaseUrl, Profile};
use serde_json::{Value, json};

/// Concurrent clients.
const CLIENTS: usize = 500;
/// Requests each client sends per phase.
const ROUNDS: usize = 20;
/// Items the account holds before the load starts.
const SEEDED: usize = 1_000;

/// What one request did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Health,
    Read,
    List,
    Write,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Health => "GET /health",
            Kind::Read => "GET item",
            Kind::List => "GET listing",
            Kind::Write => "PUT item",
        }
    }
}

/// Nearest-rank percentile of sorted latencies.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Outcomes other than success, by status.
#[derive(Default)]
struct Failures {
    exhausted: AtomicU64,
    other: std::sync::Mutex<std::collections::BTreeMap<u16, u64>>,
}

/// The requests of one phase: `CLIENTS` tasks, each sending `ROUNDS` requests back to back,
/// the mix chosen by `pick(client, round)`. Returns the latencies by kind.
async fn phase(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    ids: &Arc<Vec<i64>>,
    pick: fn(usize, usize) -> Kind,
    failures: &Arc<Failures>,
) -> (Duration, Vec<(Kind, Duration)>) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let (http, base, token, ids, failures) = (
                http.clone(),
                base.to_owned(),
                token.to_owned(),
                Arc::clone(ids),
                Arc::clone(failures),
            );
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(ROUNDS);
                for round in 0..ROUNDS {
                    let kind = pick(client, round);
                    let id = ids[(client * ROUNDS + round) % ids.len()];
                    let request = match kind {
                        Kind::Health => http.get(format!("{base}/health")),
                        Kind::Read => http.get(format!("{base}/api/v1/items/{id}")),
                        Kind::List => http.get(format!(
                            "{base}/api/v1/items?after={}&limit=20",
                            (id - 30).max(0)
                        )),
                        Kind::Write => http.put(format!("{base}/api/v1/items/{id}")).json(
                            &json!({ "name": format!("item {id}"), "body": format!("round {round}") }),
                        ),
                    }
                    .bearer_auth(&token);
                    let start = Instant::now();
                    let response = request.send().await.unwrap();
                    let status = response.status().as_u16();
                    response.bytes().await.unwrap();
                    times.push((kind, start.elapsed()));
                    match status {
                        200 => {}
                        503 => {
                            failures.exhausted.fetch_add(1, Ordering::Relaxed);
                        }
                        other => {
                            *failures.other.lock().unwrap().entry(other).or_default() += 1;
                        }
                    }
                }
                times
            })
        })
        .collect();
    let mut all = Vec::with_capacity(CLIENTS * ROUNDS);
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    (started.elapsed(), all)
}

/// Prints one line per kind and returns the p99 of `kind`.
fn report(phase: &str, elapsed: Duration, times: &[(Kind, Duration)]) -> Vec<(Kind, Duration)> {
    println!(
        "{phase}: {} requests in {:.2} s ({:.0}/s)",
        times.len(),
        elapsed.as_secs_f64(),
        times.len() as f64 / elapsed.as_secs_f64()
    );
    let mut p99s = Vec::new();
    for kind in [Kind::Health, Kind::Read, Kind::List, Kind::Write] {
        let mut of_kind: Vec<Duration> = times
            .iter()
            .filter(|(k, _)| *k == kind)
            .map(|(_, d)| *d)
            .collect();
        if of_kind.is_empty() {
            continue;
        }
        of_kind.sort_unstable();
        let p99 = percentile(&of_kind, 99.0);
        println!(
            "  {:<12} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  ({} requests)",
            kind.name(),
            ms(percentile(&of_kind, 50.0)),
            ms(p99),
            ms(of_kind[of_kind.len() - 1]),
            of_kind.len()
        );
        p99s.push((kind, p99));
    }
    p99s
}

fn main() {
    // `cargo test --benches` runs bench targets without `--bench`: nothing to measure then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("items_load: run with `cargo bench -p dx-server --bench items_load`");
        return;
    }
    let mut config = Config::conformance();
    // The default pool size and query timeout, not the conformance profile's short timeout.
    config.query = QuerySettings::for_profile(Profile::Production);
    config.query.metrics = true;
    // Tokens that outlive the run (the conformance profile's expire in seconds).
    config.auth = AuthSettings::for_profile(Profile::Production);
    config.auth.registration = true;
    // Out of the way: this measures the query path, not the limiter.
    config.security.limits = [LimitSpec {
        max_requests: 10_000_000,
        window_seconds: 1,
    }; 3];
    let backend = match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => {
            config.database = DatabaseUrl::parse(&url).unwrap();
            "PostgreSQL"
        }
        _ => "SQLite (embedded, one connection)",
    };
    println!(
        "items_load: {CLIENTS} concurrent clients x {ROUNDS} requests per phase, pool size {}, {backend}",
        config.query.pool_size
    );

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let bound = server_rt.block_on(BoundServer::bind(config)).unwrap();
    let base = format!("http://{}", bound.local_addr().unwrap());
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(bound.serve(async {
        let _ = stopped.await;
    }));

    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(CLIENTS)
            .build()
            .unwrap();
        let email = format!("items-load-{}@example.test", std::process::id());
        let password = "correct horse battery staple";
        let registered = http
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(registered, 201, "registration failed");
        let login: Value = http
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = login["access_token"].as_str().unwrap().to_owned();

        let mut ids = Vec::with_capacity(SEEDED);
        for i in 0..SEEDED {
            let item: Value = http
                .post(format!("{base}/api/v1/items"))
                .bearer_auth(&token)
                .json(&json!({ "name": format!("seed {i}"), "body": "x".repeat(200) }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            ids.push(item["id"].as_i64().expect("created item has an id"));
        }
        let ids = Arc::new(ids);
        let failures = Arc::new(Failures::default());

        // Warm-up: every client's connection opened, the pool filled.
        let _ = phase(&http, &base, &token, &ids, |_, _| Kind::Health, &failures).await;

        let (elapsed, health) =
            phase(&http, &base, &token, &ids, |_, _| Kind::Health, &failures).await;
        let health_p99 = report("peer: /health", elapsed, &health);
        let mixed = |client: usize, round: usize| match (client + round) % 10 {
            0..=6 => Kind::Read,
            7 | 8 => Kind::List,
            _ => Kind::Write,
        };
        let (elapsed, items) = phase(&http, &base, &token, &ids, mixed, &failures).await;
        let items_p99 = report("items API (70% read, 20% list, 10% write)", elapsed, &items);

        let floor = health_p99[0].1;
        for (kind, p99) in items_p99 {
            println!(
                "ratio p99 {} / p99 /health: {:.2}x",
                kind.name(),
                ms(p99) / ms(floor)
            );
            Figure::lower_is_better(format!("p99 of {}", kind.name()), "ms")
                .group(backend)
                .ours(format!("{}, 500 clients", kind.name()), ms(p99))
                .peer("/health under the same 500 clients", ms(floor))
                .record()
                .expect("the results file is writable");
        }
        let exhausted = failures.exhausted.load(Ordering::Relaxed);
        let other: u64 = failures.other.lock().unwrap().values().sum();
        Count::new(
            "answers other than 2xx (503 RESOURCE_EXHAUSTED: the pool's acquire timeout passed)",
            (exhausted + other) as f64,
            "answers",
        )
        .group(backend)
        .goal(Goal::AtMost(0.0), "none")
        .record()
        .expect("the results file is writable");
        println!(
            "503 RESOURCE_EXHAUSTED: {}, other failures by status: {:?}",
            failures.exhausted.load(Ordering::Relaxed),
            failures.other.lock().unwrap()
        );
    });
    let _ = stop_server.send(());
    server_rt.block_on(server).unwrap().unwrap();
}
