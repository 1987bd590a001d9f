//! Whether password hashing starves the rest of the server: `GET /health` latency while idle
//! against `GET /health` latency while logins saturate the hashing pool, measured in the same
//! run against the same server.
//!
//! Argon2id costs tens of milliseconds of CPU per login. The server runs it on a bounded pool
//! of its own threads at a lower priority (one worker per core but one, four waiting per
//! worker, 1 s wait, then 503 with `Retry-After`), so that the async runtime stays free for
//! everything else; if that works, a cheap request's tail latency barely moves under login
//! load. The goal is p99(loaded) / p99(idle) under 2x.
//!
//! The program starts the server (`Config::conformance()`, its auth limit raised so that no
//! login is answered 429) on its own multi-thread runtime, as the binary does, and runs the load generator in a process of its own (this program
//! re-executed with `--load URL`): it registers one account, then, each round, times
//! sequential `/health` requests (paced, one every 1 ms) on one pooled client while idle,
//! starts 2 x cores login loops (each with its own client, counting 200s and 503s, on a thread
//! and runtime of their own) and times `/health` again while they run, then stops them. It
//! prints each round's latencies and ratio, the median ratio over the rounds, and the login
//! throughput of the loaded phases. There are no timing assertions: the numbers depend on the
//! machine.
//!
//! Run: `cargo bench -p dx-server --bench auth_load` (`-- --rounds N`, 5 by default).

// A benchmark is a test program: a failed setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dx_bench_record::{Count, Figure, Goal};
use dx_server::config::LimitSpec;
use dx_server::{BoundServer, Config};
use serde_json::json;

/// `/health` requests timed per phase.
const HEALTH_REQUESTS: usize = 5_000;
/// The interval between timed `/health` requests. Paced rather than back to back, so that each
/// request finds the server idle-waiting like a real arrival (not a thread kept hot by the
/// previous request), and so the loaded phase lasts long enough (~5 s) to count logins.
const HEALTH_PACE: Duration = Duration::from_millis(1);
/// Untimed `/health` requests before each phase (connection set-up, caches).
const HEALTH_WARM_UP: usize = 100;
/// How long the login loops run before `/health` is timed, so the pool is saturated.
const LOAD_RAMP_UP: Duration = Duration::from_millis(500);
const EMAIL: &str = "bench@example.test";
const PASSWORD: &str = "correct horse battery staple";

/// Latencies of one phase, sorted.
struct Latencies(Vec<Duration>);

impl Latencies {
    /// Nearest-rank percentile.
    fn percentile(&self, p: f64) -> Duration {
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    fn max(&self) -> Duration {
        self.0[self.0.len() - 1]
    }

    fn line(&self, phase: &str) -> String {
        format!(
            "health {phase}: p50 {:.0} µs, p99 {:.0} µs, max {:.0} µs ({} requests)",
            micros(self.percentile(50.0)),
            micros(self.percentile(99.0)),
            micros(self.max()),
            self.0.len(),
        )
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Times `HEALTH_REQUESTS` sequential `GET /health`, one every `HEALTH_PACE`, after an
/// untimed warm-up.
async fn time_health(client: &reqwest::Client, url: &str) -> Latencies {
    for _ in 0..HEALTH_WARM_UP {
        let status = client.get(url).send().await.unwrap().status();
        assert_eq!(status, 200);
    }
    let mut pace = tokio::time::interval(HEALTH_PACE);
    pace.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut times = Vec::with_capacity(HEALTH_REQUESTS);
    for _ in 0..HEALTH_REQUESTS {
        pace.tick().await;
        let start = Instant::now();
        let response = client.get(url).send().await.unwrap();
        let status = response.status();
        response.bytes().await.unwrap();
        times.push(start.elapsed());
        assert_eq!(status, 200);
    }
    times.sort_unstable();
    Latencies(times)
}

/// What the login loops saw.
#[derive(Default)]
struct LoginCounts {
    ok: AtomicU64,
    busy: AtomicU64,
    other: AtomicU64,
}

/// Logs in with the right password until `stop`, counting outcomes.
async fn login_loop(url: String, stop: Arc<AtomicBool>, counts: Arc<LoginCounts>) {
    let client = reqwest::Client::new();
    let body = json!({ "email": EMAIL, "password": PASSWORD });
    while !stop.load(Ordering::Relaxed) {
        match client.post(&url).json(&body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                // Read the body so the connection goes back to the pool.
                let _ = response.bytes().await;
                match status {
                    200 => counts.ok.fetch_add(1, Ordering::Relaxed),
                    503 => {
                        // Saturated: back off briefly rather than spin (Retry-After is 1 s,
                        // but the point is to keep the pool full).
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        counts.busy.fetch_add(1, Ordering::Relaxed)
                    }
                    _ => counts.other.fetch_add(1, Ordering::Relaxed),
                };
            }
            Err(_) => {
                counts.other.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--load") {
        let rounds = args
            .iter()
            .position(|a| a == "--rounds")
            .and_then(|i| args.get(i + 1))
            .map_or(5, |v| v.parse().unwrap());
        load(&args[i + 1], rounds);
        return;
    }
    // `cargo test --benches` runs bench targets without `--bench`: nothing to measure then.
    if !args.iter().any(|a| a == "--bench") {
        println!("auth_load: run with `cargo bench -p dx-server --bench auth_load`");
        return;
    }

    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // The conformance profile's auth limit (5 per 2 s per client) would answer nearly every
    // login 429 before it reaches the hashing pool: raised out of reach.
    let mut config = Config::conformance();
    config.security.limits[0] = LimitSpec {
        max_requests: 1_000_000_000,
        window_seconds: 1,
    };
    let bound = server_rt.block_on(BoundServer::bind(config)).unwrap();
    let base = format!("http://{}", bound.local_addr().unwrap());
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = server_rt.spawn(bound.serve(async {
        let _ = stopped.await;
    }));

    // The load generator: this program in a process of its own, its output passed through.
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    command.args(["--load", &base]);
    if let Some(i) = args.iter().position(|a| a == "--rounds") {
        command.args(&args[i..(i + 2).min(args.len())]);
    }
    let status = command.status().unwrap();
    assert!(status.success(), "the load generator failed: {status}");

    let _ = stop_server.send(());
    server_rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(5), server).await })
        .expect("server stops within 5 s")
        .unwrap()
        .unwrap();
}

/// One round's figures.
struct Round {
    idle: Latencies,
    loaded: Latencies,
    ok: u64,
    busy: u64,
    window: Duration,
}

impl Round {
    fn ratio(&self) -> f64 {
        micros(self.loaded.percentile(99.0)) / micros(self.idle.percentile(99.0))
    }
}

/// The load generator's process: registers, then runs `rounds` idle and loaded phases against
/// the server at `base`.
fn load(base: &str, rounds: usize) {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let logins = 2 * cores;
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    client_rt.block_on(async {
        let health_url = format!("{base}/health");
        let login_url = format!("{base}/api/v1/auth/login");
        let health = reqwest::Client::new();

        let registered = health
            .post(format!("{base}/api/v1/auth/register"))
            .json(&json!({ "email": EMAIL, "password": PASSWORD }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(registered, 201, "registration failed");

        println!();
        println!(
            "auth_load: {cores} cores, {logins} concurrent login loops, Argon2id OWASP; the load generator in its own process"
        );
        let mut results = Vec::new();
        let mut other = 0;
        for round in 1..=rounds {
            let idle = time_health(&health, &health_url).await;

            // The login loops run on a thread and runtime of their own, so the timed
            // `/health` client's thread does nothing but time `/health`.
            let stop = Arc::new(AtomicBool::new(false));
            let counts = Arc::new(LoginCounts::default());
            let load = {
                let (stop, counts, login_url) =
                    (Arc::clone(&stop), Arc::clone(&counts), login_url.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(async move {
                        let loops: Vec<_> = (0..logins)
                            .map(|_| {
                                tokio::spawn(login_loop(
                                    login_url.clone(),
                                    Arc::clone(&stop),
                                    Arc::clone(&counts),
                                ))
                            })
                            .collect();
                        for handle in loops {
                            handle.await.unwrap();
                        }
                    });
                })
            };
            tokio::time::sleep(LOAD_RAMP_UP).await;
            let (ok_before, busy_before) = (
                counts.ok.load(Ordering::Relaxed),
                counts.busy.load(Ordering::Relaxed),
            );
            let window = Instant::now();
            let loaded = time_health(&health, &health_url).await;
            let window = window.elapsed();
            let ok = counts.ok.load(Ordering::Relaxed) - ok_before;
            let busy = counts.busy.load(Ordering::Relaxed) - busy_before;
            stop.store(true, Ordering::Relaxed);
            load.join().unwrap();
            other += counts.other.load(Ordering::Relaxed);
            let result = Round {
                idle,
                loaded,
                ok,
                busy,
                window,
            };
            println!("round {round}:");
            println!("  {}", result.idle.line("idle"));
            println!("  {}", result.loaded.line("loaded"));
            println!(
                "  p99 loaded/idle: {:.2}x; p50 loaded/idle: {:.2}x; logins {:.1}/s ({} x 200, {} x 503 in {:.2} s)",
                result.ratio(),
                micros(result.loaded.percentile(50.0)) / micros(result.idle.percentile(50.0)),
                result.ok as f64 / result.window.as_secs_f64(),
                result.ok,
                result.busy,
                result.window.as_secs_f64(),
            );
            results.push(result);
            // Let the pool drain before the next idle phase.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut ratios: Vec<f64> = results.iter().map(Round::ratio).collect();
        ratios.sort_by(f64::total_cmp);
        let median = ratios[ratios.len() / 2];
        let ok: u64 = results.iter().map(|r| r.ok).sum();
        let busy: u64 = results.iter().map(|r| r.busy).sum();
        let window: f64 = results.iter().map(|r| r.window.as_secs_f64()).sum();
        println!();
        println!(
            "p99 loaded/idle over {rounds} rounds: median {median:.2}x (goal < 2x: {}); sorted: {}",
            if median < 2.0 { "met" } else { "not met" },
            ratios
                .iter()
                .map(|r| format!("{r:.2}x"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "logins while loaded: {:.1}/s successful ({ok} x 200, {busy} x 503 in {window:.2} s; {other} other outcomes)",
            ok as f64 / window,
        );
        // The round whose ratio is the median gives the figure's two sides.
        if let Some(middle) = results.iter().find(|r| r.ratio() == median) {
            Figure::lower_is_better("/health p99 while logins saturate the hashing pool", "ms")
                .ours("loaded", micros(middle.loaded.percentile(99.0)) / 1e3)
                .peer("idle, same round", micros(middle.idle.percentile(99.0)) / 1e3)
                .goal(Goal::RatioAtMost(2.0), "under 2x idle")
                .note(format!(
                    "median of {rounds} rounds; {:.1} logins/s while loaded",
                    ok as f64 / window
                ))
                .record()
                .expect("the results file is writable");
        }
        Count::new("logins answered neither 200 nor 503", other as f64, "logins")
            .of((ok + busy + other) as f64)
            .goal(Goal::AtMost(0.0), "none")
            .record()
            .expect("the results file is writable");
        assert_eq!(other, 0, "logins answered neither 200 nor 503");
    });
}
