//! What the reference server's whole middleware pipeline costs over real sockets: a small
//! JSON route behind the production stack against the same route on a bare axum router,
//! measured in the same run by a load generator in a process of its own (`wrk`, from Debian).
//!
//! - `bare`: `Router::new().route("/api/v1/bench", get(..).post(..))`, nothing else;
//! - `stack`: the same two handlers added to the production profile's routes and put behind
//!   [`dx_server::app::with_middleware`], exactly what `dx-reference --profile production`
//!   serves: security headers, request id and access log, error envelope, request timeout,
//!   rate limit (memory store; the api category raised to 1,000,000,000 requests per 1 s
//!   window, so nothing is refused: every request of the run comes from one client,
//!   127.0.0.1, and an exact log holds one stamp per request of the window), body limit,
//!   CSRF (the POST carries the session cookie and a valid token, so it is validated),
//!   per-route error boundaries, and tracing at `info` as JSON lines on stderr (one line per
//!   request, which the bench sends to `/dev/null`: the formatting and the write are paid,
//!   no disk).
//!
//! `GET` answers `{"id":42,"name":"bench","tags":["a","b"]}`; `POST` reads a small JSON body
//! and answers it back. Each server runs in a child process of this bench (the binary
//! re-executed with `--serve bare|stack`) on the runtime `dx-reference` builds (multi-thread,
//! one worker per core), on its own loopback port, with `TCP_NODELAY` as `dx-reference` sets
//! it. For each method, rounds alternate which server goes first; in each, `wrk --latency`
//! runs against one server then the other (`--threads` wrk threads, `--connections`
//! connections, `--duration` seconds, after a 1 s warm-up). Any non-2xx answer fails the run.
//! Printed: per round the requests/s; then per method the median requests/s, p50 and p99 of
//! each server, the ratio stack/bare of each, and whether the goal (the stack at least 85 %
//! of bare axum's throughput) is met.
//!
//! Run: `bash reference/server/benches/middleware_tcp.sh` (installs `wrk` with apt-get when
//! missing, then `cargo bench -p dx-server --bench middleware_tcp -- [OPTIONS]`); options:
//! `--rounds N` (3), `--duration SECS` (5), `--connections N` (32), `--threads N` (1).
//! Without `--bench` (as `cargo test --benches` runs it) it prints how to run it and exits.

// A benchmark is a test program: a failed setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use axum::routing::get;
use axum::serve::ListenerExt;
use axum::{Json, Router};
use dx_bench_record::{Figure, Goal};
use dx_server::config::LimitSpec;
use dx_server::{Config, LogFormat, app, telemetry};
use serde_json::{Value, json};

/// The route both servers serve.
const PATH: &str = "/api/v1/bench";
/// The POST body.
const BODY: &str = r#"{"name":"bench","count":1,"tags":["a","b"]}"#;

async fn read_item() -> Json<Value> {
    Json(json!({ "id": 42, "name": "bench", "tags": ["a", "b"] }))
}

async fn echo(Json(body): Json<Value>) -> Json<Value> {
    Json(body)
}

/// The production configuration, on an ephemeral loopback port, with an api limit no run
/// reaches.
fn stack_config() -> Config {
    let mut config = Config {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        log_format: LogFormat::Json,
        ..Config::default()
    };
    config.security.limits[1] = LimitSpec {
        max_requests: 1_000_000_000,
        window_seconds: 1,
    };
    config
}

/// Child mode: serve `kind` until standard input closes (the parent exited or is done).
fn serve_child(kind: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let app = match kind {
        "bare" => Router::new().route(PATH, get(read_item).post(echo)),
        "stack" => {
            let config = stack_config();
            telemetry::init(config.log_format);
            let state = runtime
                .block_on(async { dx_server::build_state(config) })
                .unwrap();
            let routes = app::route_table(&state).route(PATH, get(read_item).post(echo));
            app::with_middleware(routes, state)
        }
        other => panic!("--serve {other}: bare or stack"),
    };
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        println!("{}", listener.local_addr().unwrap());
        std::io::stdout().flush().unwrap();
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
}

/// A server child: killed with the bench (its standard input closes).
struct Server {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
    _stdin: ChildStdin,
}

impl Server {
    fn start(name: &'static str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--serve", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("the {name} server did not print its address: {line:?}"));
        Self {
            name,
            addr,
            child,
            _stdin: stdin,
        }
    }

    fn url(&self) -> String {
        format!("http://{}{PATH}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The CSRF session cookie and a token for it, from the stack's token endpoint, as a
/// `Cookie` header value and the token; checks that both servers answer the route.
async fn prepare(bare: &Server, stack: &Server) -> (String, String) {
    let client = reqwest::Client::new();
    let response = client
        .get(format!("http://{}/api/v1/session/csrf", stack.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the CSRF token endpoint");
    let cookie = response
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    let body: Value = response.json().await.unwrap();
    let token = body["token"].as_str().unwrap().to_owned();
    for server in [bare, stack] {
        let get = client.get(server.url()).send().await.unwrap();
        assert_eq!(get.status(), 200, "GET on {}", server.name);
        let post = client
            .post(server.url())
            .header("content-type", "application/json")
            .header("cookie", &cookie)
            .header("x-csrf-token", &token)
            .body(BODY)
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 200, "POST on {}", server.name);
        if server.name == "stack" {
            for name in ["x-request-id", "ratelimit", "content-security-policy"] {
                assert!(post.headers().contains_key(name), "the stack sets {name}");
            }
            // The same POST without its token is refused: CSRF is really checked.
            let forged = client
                .post(server.url())
                .header("content-type", "application/json")
                .header("cookie", &cookie)
                .body(BODY)
                .send()
                .await
                .unwrap();
            assert_eq!(forged.status(), 403, "a POST without its token");
        }
    }
    (cookie, token)
}

/// Options.
#[derive(Debug, Clone, Copy)]
struct Options {
    rounds: usize,
    duration: u64,
    connections: usize,
    threads: usize,
}

impl Options {
    fn from_args() -> Self {
        let args: Vec<String> = std::env::args().collect();
        let value = |name: &str, default: u64| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .map_or(default, |v| v.parse().unwrap())
        };
        Self {
            rounds: value("--rounds", 3) as usize,
            duration: value("--duration", 5),
            connections: value("--connections", 32) as usize,
            threads: value("--threads", 1) as usize,
        }
    }
}

/// A summary row: its name and the figure it takes from a run.
type Row = (&'static str, fn(&Figures) -> f64);

/// One wrk run's figures.
#[derive(Debug, Clone, Copy)]
struct Figures {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// A wrk latency like `1.23ms`, `456.00us` or `1.02s`, in milliseconds.
fn millis(text: &str) -> f64 {
    let (number, unit) = text
        .find(|c: char| c.is_ascii_alphabetic())
        .map(|i| text.split_at(i))
        .unwrap();
    let n: f64 = number.parse().unwrap();
    match unit {
        "us" => n / 1_000.0,
        "ms" => n,
        "s" => n * 1_000.0,
        "m" => n * 60_000.0,
        other => panic!("wrk latency unit {other}"),
    }
}

fn wrk(url: &str, script: &Path, options: Options, seconds: u64) -> Figures {
    let output = Command::new("wrk")
        .arg(format!("-t{}", options.threads))
        .arg(format!("-c{}", options.connections))
        .arg(format!("-d{seconds}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx"),
        "a non-2xx answer during the run:\n{text}"
    );
    assert!(
        !text.contains("Socket errors"),
        "socket errors during the run:\n{text}"
    );
    let mut figures = Figures {
        rps: f64::NAN,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => figures.rps = n.parse().unwrap(),
            ["50%", t] => figures.p50_ms = millis(t),
            ["99%", t] => figures.p99_ms = millis(t),
            _ => {}
        }
    }
    assert!(
        figures.rps.is_finite() && figures.p99_ms.is_finite(),
        "wrk's output: {text}"
    );
    figures
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn write_script(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn lua_string(s: &str) -> String {
    format!("{s:?}")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--serve") {
        serve_child(args.get(i + 1).map_or("", String::as_str));
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        println!("middleware_tcp: run with `bash reference/server/benches/middleware_tcp.sh`");
        return;
    }
    if Command::new("wrk")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        eprintln!(
            "middleware_tcp: wrk is not installed; `bash reference/server/benches/middleware_tcp.sh` installs it (apt-get install wrk)"
        );
        std::process::exit(1);
    }
    let options = Options::from_args();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bare = Server::start("bare");
    let stack = Server::start("stack");
    let (cookie, token) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(prepare(&bare, &stack));

    let dir = std::env::temp_dir().join(format!("dx-middleware-tcp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let get_script = write_script(&dir, "get.lua", "wrk.method = \"GET\"\n");
    let post_script = write_script(
        &dir,
        "post.lua",
        &format!(
            "wrk.method = \"POST\"\nwrk.body = {}\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.headers[\"Cookie\"] = {}\nwrk.headers[\"X-CSRF-Token\"] = {}\n",
            lua_string(BODY),
            lua_string(&cookie),
            lua_string(&token),
        ),
    );

    println!();
    println!(
        "middleware_tcp: {cores} cores; wrk -t{} -c{} -d{}s --latency, {} rounds per method, servers in child processes on loopback",
        options.threads, options.connections, options.duration, options.rounds
    );
    let mut summary = Vec::new();
    for (method, script) in [("GET", &get_script), ("POST", &post_script)] {
        let mut results: [Vec<Figures>; 2] = [Vec::new(), Vec::new()];
        for round in 0..options.rounds {
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let server = [&bare, &stack][which];
                wrk(&server.url(), script, options, 1);
                let figures = wrk(&server.url(), script, options, options.duration);
                println!(
                    "  {method} round {}: {:<6} {:>10.0} requests/s  p50 {:.3} ms  p99 {:.3} ms",
                    round + 1,
                    server.name,
                    figures.rps,
                    figures.p50_ms,
                    figures.p99_ms
                );
                results[which].push(figures);
            }
        }
        let pick =
            |which: usize, f: fn(&Figures) -> f64| median(results[which].iter().map(f).collect());
        let rows: [Row; 3] = [
            ("requests/s (median)", |f| f.rps),
            ("p50 ms (median)", |f| f.p50_ms),
            ("p99 ms (median)", |f| f.p99_ms),
        ];
        let per_round: Vec<f64> = results[1]
            .iter()
            .zip(&results[0])
            .map(|(s, b)| s.rps / b.rps)
            .collect();
        summary.push((
            method,
            rows.map(|(name, f)| (name, pick(0, f), pick(1, f))),
            per_round,
        ));
    }
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!(
        "  {:<6} {:<22} {:>12} {:>12} {:>8}",
        "", "", "bare axum", "stack", "ratio"
    );
    let mut verdicts = Vec::new();
    for (method, rows, per_round) in &summary {
        for (name, b, s) in rows {
            println!(
                "  {method:<6} {name:<22} {b:>12.3} {s:>12.3} {:>7.2}x",
                s / b
            );
        }
        let ratios: Vec<String> = per_round.iter().map(|r| format!("{r:.2}x")).collect();
        println!(
            "  {method:<6} throughput ratio per round: {}",
            ratios.join(", ")
        );
        let ratio = rows[0].2 / rows[0].1;
        for (n, (name, b, st)) in rows.iter().enumerate() {
            let (figure, unit) = match n {
                0 => ("requests/s", "requests/s"),
                1 => ("p50", "ms"),
                _ => ("p99", "ms"),
            };
            let figure = if n == 0 {
                Figure::higher_is_better(format!("{method} {figure}"), unit)
                    .goal(Goal::RatioAtLeast(0.85), "at least 85 % of bare axum")
            } else {
                Figure::lower_is_better(format!("{method} {figure}"), unit)
            };
            figure
                .ours("the production pipeline", *st)
                .peer("bare axum", *b)
                .note(format!(
                    "{name} of {} rounds; wrk -t{} -c{}",
                    per_round.len(),
                    options.threads,
                    options.connections
                ))
                .record()
                .expect("the results file is writable");
        }
        verdicts.push(format!(
            "{method} {:.1} % ({})",
            ratio * 100.0,
            if ratio >= 0.85 { "met" } else { "not met" }
        ));
    }
    println!(
        "  goal: the stack at least 85 % of bare axum's requests/s: {}",
        verdicts.join("; ")
    );
}
