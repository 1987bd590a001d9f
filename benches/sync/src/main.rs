//! Sync fan-out: dx-reference's `/_dx/sync` (spec/sync.md) against a Node.js server on the
//! npm `ws` package speaking the same binary frames (`benches/sync/node/server.js`), in the
//! same run, with the ratio dx/node for each figure. It is a measurement, not a test:
//! nothing is asserted about the numbers, but every delivery is counted, so a lost,
//! repeated or refused message fails the run instead of printing a fast number.
//!
//! Run, from the repository's root:
//!
//! ```sh
//! bash benches/sync/run.sh                 # npm ci, both release builds, then the bench (~4 min)
//! bash benches/sync/run.sh --rounds 5      # options after the script go to the bench
//! ```
//!
//! `run.sh` raises the open-file limit (`ulimit -n`) to its hard limit, installs the Node
//! server's dependencies (`npm ci` in `benches/sync/node`), builds
//! `cargo build --release -p dx-server --bin dx-reference` in the root workspace and this
//! bench, then runs it. Options: `--subscribers N` (1000), `--messages N` per round (2000),
//! `--rounds N` (3), `--window N` (64), `--publishers N` (8), `--payload BYTES` (64),
//! `--idle N` (10000), `--parts fanout,idle,redis` (all), `--reference PATH`
//! (`target/release/dx-reference`), `--node PATH` (`node`), `--redis-url URL` (`REDIS_URL`,
//! else `redis://127.0.0.1:6379`).
//!
//! What it prints, each part a table with one column per server and the ratio dx/node:
//!
//! 1. **Fan-out.** Both servers run side by side (each started once, as
//!    `dx-reference --profile conformance --bind 127.0.0.1:PORT` and
//!    `node benches/sync/node/server.js PORT`); each round, alternating between them, opens
//!    1,000 subscriber connections on one channel and one publisher, publishes 200 warm-up
//!    messages, then the measured messages with at most `--window` messages not yet delivered
//!    to every subscriber (so no send queue can overflow: the conformance profile closes a
//!    subscriber past 256 queued frames), then 200 more one at a time. Printed: deliveries
//!    per second (messages × subscribers over the time from the first measured publish to
//!    the last delivery; median of the rounds, each round listed), and publish-to-receive
//!    latency p50/p99 over every delivery of every round (the publish time is in the
//!    payload), under the window (saturated) and one message at a time. The publisher is one
//!    task publishing over `--publishers` connections in turn, because the conformance
//!    profile lets one connection publish 200 messages a second (`sync.publish_limit`); the
//!    Node server gets the same connections. Goal (the issue's): dx at least 1.5x Node's
//!    deliveries per second.
//! 2. **Idle connections.** A fresh process of each server; its RSS (`VmRSS` of
//!    `/proc/PID/status`) before and after opening `--idle` authenticated connections that
//!    only answer pings, and the difference divided by the connections (goal: at most
//!    Node's; the first budget was 20 KiB, and both verdicts are printed). When the open-file limit or a refused connection stops short, the largest
//!    count reached is used and the reason printed.
//! 3. **Two instances on Redis.** Two dx-reference processes with `--redis-url` and one
//!    `--key-file`, the subscribers split over both, the publisher on the first. When the
//!    subscribers on the second receive nothing within 5 s of a publish on the first (the
//!    instances share no broker), the part is skipped with that message; otherwise the
//!    fan-out figures of part 1 for the pair, with the ratio to one instance.
//!
//! The work is the same per delivery (decode the publish, encode one `MESSAGE`, queue it for
//! every subscriber), not per connection: both ping every second and drop a connection
//! silent for 3 s, but the reference also re-checks every connection's token each
//! `sync.token_check_seconds` (1 in the conformance profile) and keeps each channel's
//! history for replay, which the Node server does not.
//!
//! The output looks like this (2026-11-26, two cores shared with other builds):
//!
//! ```text
//! 1. fan-out: 1,000 subscribers on one channel, one publisher over 8 connections (...)
//!    round 1: dx-reference       95,653 deliveries/s
//!    round 1: node               81,391 deliveries/s
//!    ...
//!                                           dx-reference node v20.20.2 ws 8.23.0    ratio
//!    deliveries/s (median)                       108,620                 78,934    1.38x  higher is better
//!    latency p50 saturated (ms)                   280.06                 752.65    0.37x  lower is better
//!    latency p99 saturated (ms)                  1150.27                1767.50    0.65x  lower is better
//!    latency p50 one at a time (ms)                 9.40                   6.47    1.45x  lower is better
//!    latency p99 one at a time (ms)                52.66                  24.59    2.14x  lower is better
//!    goal: dx at least 1.5x node's deliveries/s: not met (1.38x)
//!
//! 2. idle connections: RSS of a fresh server before and after 10,000 authenticated connections (...)
//!    connections open                             10,000                 10,000    1.00x
//!    RSS before (MiB)                               14.0                   51.6    0.27x
//!    RSS after (MiB)                              1380.1                  132.0   10.46x
//!    per connection (KiB)                         139.89                   8.23   17.00x  lower is better
//!    goal: under 20 KiB per idle connection on dx: not met (139.89 KiB)
//!
//! 3. two dx-reference instances sharing Redis (redis://127.0.0.1:6379): (...)
//!    sync.broker in the discovery documents: A redis, B redis
//!    (rounds, then the table of part 1 with "two on Redis" against "one (part 1)"; or
//!    "SKIPPED: ..." when nothing crosses instances or Redis does not answer)
//! ```
//!
//! With `DX_BENCH_RESULTS` set (the benchmark report, `cargo benchmarks`), every figure of
//! these tables is also appended to that file as a JSON line (`dx-bench-record`), dx-reference
//! the ours side: group `fan-out` (deliveries/s with its goal, publish-to-receive p50 and p99
//! saturated and one at a time, and the count of deliveries missing or repeated, 0 by
//! construction since the run stops at the first), `idle connections` (RSS per idle
//! connection, goal at most Node's; RSS of the fresh server and with the connections open;
//! connections opened) and `two instances on Redis` (the fan-out figures of the pair, the
//! peer one instance from part 1 of the same run, none when part 1 did not run).
//!
//! Tokens come from the conformance profile's mint hook (`auth.test_hooks.mint` in
//! `GET /.well-known/dx-www`), one for the subscribers and one for the publisher, each
//! valid for an hour; the Node server checks no token and takes its text as the user.
//! Server logs go to `benches/sync/target/logs/`.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use dx_bench_procs::{free_port, write_key};
use dx_bench_record::{Count, Figure, Goal};
use dx_sync::ChannelName;
use dx_sync::frame::{ClientFrame, ServerFrame};
use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The groups of the benchmark report, one per part.
const FANOUT: &str = "fan-out";
const IDLE: &str = "idle connections";
const REDIS: &str = "two instances on Redis";

/// The subprotocol of spec/sync.md.
const SUBPROTOCOL: &str = "dx-sync.1";
/// Messages published before each measured phase, not counted.
const WARM_UP: u64 = 200;
/// Messages published one at a time after it, for the unloaded latency.
const ONE_AT_A_TIME: u64 = 200;
/// How long the publisher waits for a delivery before the run fails.
const STALL: Duration = Duration::from_secs(15);
/// How long the two-instance probe waits for its message on the second instance.
const PROBE: Duration = Duration::from_secs(5);
/// Upgrades in flight at once while connections are opened.
const CONNECTING: usize = 64;
/// How long one upgrade (and its `WELCOME`) may take.
const UPGRADE_TIMEOUT: Duration = Duration::from_secs(20);
/// File descriptors kept back from the open-file limit for everything but connections.
const SPARE_FDS: u64 = 200;
/// A minted token's lifetime: longer than any run, so no connection is closed for expiry.
const TOKEN_SECONDS: i64 = 3600;

#[derive(Debug, Clone)]
struct Options {
    subscribers: usize,
    messages: u64,
    rounds: usize,
    window: u64,
    publishers: usize,
    payload: usize,
    idle: usize,
    parts: Vec<String>,
    reference: PathBuf,
    node: String,
    node_server: PathBuf,
    redis_url: String,
    logs: PathBuf,
}

impl Options {
    fn parse() -> Result<Self> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut o = Self {
            subscribers: 1000,
            messages: 2000,
            rounds: 3,
            window: 64,
            publishers: 8,
            payload: 64,
            idle: 10_000,
            parts: vec!["fanout".into(), "idle".into(), "redis".into()],
            reference: root.join("../../target/release/dx-reference"),
            node: "node".into(),
            node_server: root.join("node/server.js"),
            redis_url: std::env::var("REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".into()),
            logs: root.join("target/logs"),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
            let number = |v: String| -> Result<u64> {
                v.parse()
                    .with_context(|| format!("{flag} takes a number, not {v:?}"))
            };
            match flag.as_str() {
                "--subscribers" => o.subscribers = number(value()?)? as usize,
                "--messages" => o.messages = number(value()?)?,
                "--rounds" => o.rounds = number(value()?)? as usize,
                "--window" => o.window = number(value()?)?,
                "--publishers" => o.publishers = number(value()?)? as usize,
                "--payload" => o.payload = number(value()?)? as usize,
                "--idle" => o.idle = number(value()?)? as usize,
                "--parts" => o.parts = value()?.split(',').map(str::to_owned).collect(),
                "--reference" => o.reference = value()?.into(),
                "--node" => o.node = value()?,
                "--redis-url" => o.redis_url = value()?,
                "--help" | "-h" => {
                    println!(
                        "usage: dx-sync-bench [--subscribers N] [--messages N] [--rounds N] \
                         [--window N] [--publishers N] [--payload BYTES] [--idle N] \
                         [--parts fanout,idle,redis] [--reference PATH] [--node PATH] \
                         [--redis-url URL]"
                    );
                    std::process::exit(0);
                }
                other => bail!("unknown option {other:?} (see --help)"),
            }
        }
        if o.subscribers < 2 || o.messages == 0 || o.rounds == 0 || o.publishers == 0 {
            bail!(
                "--subscribers must be at least 2; --messages, --rounds, --publishers at least 1"
            );
        }
        if o.window == 0 || o.payload < 16 {
            bail!("--window must be at least 1 and --payload at least 16 (sequence and time)");
        }
        if let Some(p) = o
            .parts
            .iter()
            .find(|p| !["fanout", "idle", "redis"].contains(&p.as_str()))
        {
            bail!("unknown part {p:?}: fanout, idle or redis");
        }
        Ok(o)
    }

    fn part(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p == name)
    }
}

fn main() -> Result<()> {
    let options = Options::parse()?;
    std::fs::create_dir_all(&options.logs)
        .with_context(|| format!("cannot create {}", options.logs.display()))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(run(options))
}

async fn run(o: Options) -> Result<()> {
    if !o.reference.exists() {
        bail!(
            "{} is missing: build it with `cargo build --release -p dx-server --bin dx-reference` \
             (or run benches/sync/run.sh)",
            o.reference.display()
        );
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "dx-sync-bench: {cores} cores, bench client on tokio ({cores} worker threads), \
         servers as child processes; logs in {}",
        o.logs.display()
    );
    let mut single = None;
    if o.part("fanout") {
        single = Some(fanout_part(&o).await?);
    }
    if o.part("idle") {
        idle_part(&o).await?;
    }
    if o.part("redis") {
        redis_part(&o, single.as_ref()).await?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Servers as child processes
// ---------------------------------------------------------------------------------------

/// A server process, killed when dropped.
struct Server {
    label: String,
    child: Child,
    port: u16,
    discovery: Value,
    log: PathBuf,
}

impl Server {
    /// `dx-reference --profile conformance --bind 127.0.0.1:PORT` plus `extra`.
    async fn reference(o: &Options, label: &str, extra: &[String]) -> Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(&o.reference);
        command
            .args(["--profile", "conformance", "--bind"])
            .arg(format!("127.0.0.1:{port}"))
            .args(extra)
            // One line per request would be written for every upgrade.
            .env("RUST_LOG", "warn");
        Self::spawn(o, label, command, port).await
    }

    /// `node benches/sync/node/server.js PORT`.
    async fn node(o: &Options, label: &str) -> Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(&o.node);
        command.arg(&o.node_server).arg(port.to_string());
        Self::spawn(o, label, command, port).await
    }

    async fn spawn(o: &Options, label: &str, mut command: Command, port: u16) -> Result<Self> {
        let log = o.logs.join(format!("{label}.log"));
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone().context("cannot share the log file")?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {label}: {command:?}"))?;
        let mut server = Self {
            label: label.to_owned(),
            child,
            port,
            discovery: Value::Null,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = server.child.try_wait().context("cannot poll a child")? {
                bail!(
                    "{label} exited with {status} before answering; see {}",
                    server.log.display()
                );
            }
            match http(port, "GET", "/.well-known/dx-www", None).await {
                Ok((200, doc)) => {
                    server.discovery = doc;
                    break;
                }
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok((status, _)) => bail!("{label}: discovery answered {status}"),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "{label} did not answer within 30 s; see {}",
                            server.log.display()
                        )
                    });
                }
            }
        }
        Ok(server)
    }

    fn sync(&self, member: &str) -> Option<&Value> {
        self.discovery.get("sync").and_then(|s| s.get(member))
    }

    fn url(&self) -> Result<String> {
        let endpoint = self
            .sync("endpoint")
            .and_then(Value::as_str)
            .with_context(|| {
                format!("{}: no sync.endpoint in the discovery document", self.label)
            })?;
        Ok(format!("ws://127.0.0.1:{}{endpoint}", self.port))
    }

    /// A token for `sub`: minted by the mint hook when the server has one, else `sub` itself
    /// (the Node server takes the token's text as the user).
    async fn token(&self, sub: &str) -> Result<String> {
        let hook = self
            .discovery
            .pointer("/auth/test_hooks/mint")
            .and_then(Value::as_str);
        let Some(hook) = hook else {
            return Ok(sub.to_owned());
        };
        let body = json!({ "sub": sub, "typ": "access", "exp_offset_seconds": TOKEN_SECONDS });
        let (status, answer) = http(self.port, "POST", hook, Some(&body))
            .await
            .with_context(|| format!("{}: minting a token at {hook}", self.label))?;
        answer
            .get("token")
            .and_then(Value::as_str)
            .filter(|_| status == 200)
            .map(str::to_owned)
            .with_context(|| format!("{}: the mint hook answered {status}: {answer}", self.label))
    }

    /// The process's resident set (`VmRSS`), in KiB.
    fn rss_kib(&self) -> Result<u64> {
        dx_bench_procs::rss_kib(self.child.id())
            .with_context(|| format!("no VmRSS for {} (pid {})", self.label, self.child.id()))
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Already gone is fine: there is nothing else to do with a child at the end.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange with `Connection: close`; the body is parsed as JSON.
async fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot connect to 127.0.0.1:{port}"))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream
        .write_all(request.as_bytes())
        .await
        .context("cannot send a request")?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .context("no answer within 10 s")?
        .context("cannot read the answer")?;
    let text = String::from_utf8_lossy(&answer);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("not an HTTP answer: {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("no status in {head:?}"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("{method} {path}: a chunked answer, which this client does not read");
    }
    let json = if rest.trim().is_empty() {
        Value::Null
    } else {
        serde_json::from_str(rest)
            .with_context(|| format!("{method} {path}: not JSON: {rest:?}"))?
    };
    Ok((status, json))
}

// ---------------------------------------------------------------------------------------
// The client side of spec/sync.md
// ---------------------------------------------------------------------------------------

/// Opens a sync connection with `token` and reads its `WELCOME`.
async fn connect(url: &str, token: &str) -> Result<Ws> {
    let mut request = url
        .into_client_request()
        .with_context(|| format!("not a WebSocket URL: {url}"))?;
    let headers = request.headers_mut();
    headers.insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}"))
            .context("a token not fit for a header")?,
    );
    headers.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    // Small buffers: ten thousand connections live in this process too.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(request, Some(config), true)
        .await
        .with_context(|| format!("upgrade at {url}"))?;
    match next_frame(&mut ws).await.context("waiting for WELCOME")? {
        ServerFrame::Welcome { .. } => Ok(ws),
        other => bail!("expected WELCOME, got {other:?}"),
    }
}

/// The next frame, skipping pings (answered by tungstenite) and presence events.
async fn next_frame(ws: &mut Ws) -> Result<ServerFrame> {
    loop {
        let message = tokio::time::timeout(UPGRADE_TIMEOUT, ws.next())
            .await
            .context("no frame within the timeout")?;
        match message {
            None => bail!("the connection closed"),
            Some(Err(e)) => return Err(e).context("reading a frame"),
            Some(Ok(Message::Binary(bytes))) => match ServerFrame::decode(&bytes) {
                Ok(ServerFrame::PresenceEvent { .. }) => {}
                Ok(frame) => return Ok(frame),
                Err(e) => bail!("an undecodable frame ({e:?}): {bytes:?}"),
            },
            Some(Ok(Message::Close(frame))) => bail!("closed by the server: {frame:?}"),
            Some(Ok(_)) => {}
        }
    }
}

async fn send(ws: &mut Ws, frame: &ClientFrame) -> Result<()> {
    ws.send(Message::Binary(frame.encode().into()))
        .await
        .context("sending a frame")
}

async fn subscribe(ws: &mut Ws, request: u32, channel: &ChannelName) -> Result<()> {
    let frame = ClientFrame::Subscribe {
        request,
        channel: channel.clone(),
    };
    send(ws, &frame).await?;
    match next_frame(ws).await.context("waiting for SUBSCRIBED")? {
        ServerFrame::Subscribed { request: r, .. } if r == request => Ok(()),
        other => bail!("expected SUBSCRIBED for request {request}, got {other:?}"),
    }
}

/// The open-file limit of this process (its children inherit it).
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

// ---------------------------------------------------------------------------------------
// Fan-out
// ---------------------------------------------------------------------------------------

/// One stretch of publishing.
#[derive(Debug, Clone, Copy)]
struct Phase {
    name: &'static str,
    messages: u64,
    /// At most this many messages not yet delivered to every subscriber.
    window: u64,
    /// How long to wait for progress before giving up.
    stall: Duration,
}

/// What the publisher and the subscribers share.
struct Tally {
    start: Instant,
    subscribers: u32,
    /// Per message: how many subscribers have it.
    received: Vec<AtomicU32>,
    /// Messages every subscriber has.
    completed: AtomicU64,
    /// When the last of them was completed (ns since `start`).
    last_completion: AtomicU64,
    /// Deliveries per server instance the subscribers are on.
    per_instance: [AtomicU64; 2],
    /// Why a subscriber or publisher connection stopped early.
    failures: Mutex<Vec<String>>,
    failed: AtomicBool,
    notify: Notify,
}

impl Tally {
    fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn fail(&self, why: String) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.push(why);
        }
        self.failed.store(true, Ordering::Release);
        self.notify.notify_one();
    }

    fn failures(&self) -> String {
        let failures = self.failures.lock().map(|f| f.clone()).unwrap_or_default();
        let shown: Vec<_> = failures.iter().take(5).cloned().collect();
        format!(
            "{} connection(s) failed: {}",
            failures.len(),
            shown.join("; ")
        )
    }

    /// Waits until `done` holds, failing when a connection failed or nothing moved for `stall`.
    async fn wait(&self, phase: &Phase, done: impl Fn(u64) -> bool) -> Result<()> {
        loop {
            if self.failed.load(Ordering::Acquire) {
                bail!("during {}: {}", phase.name, self.failures());
            }
            let completed = self.completed.load(Ordering::Acquire);
            if done(completed) {
                return Ok(());
            }
            if tokio::time::timeout(phase.stall, self.notify.notified())
                .await
                .is_err()
                && self.completed.load(Ordering::Acquire) == completed
            {
                return Err(Stalled {
                    phase: phase.name,
                    completed,
                    per_instance: [
                        self.per_instance[0].load(Ordering::Relaxed),
                        self.per_instance[1].load(Ordering::Relaxed),
                    ],
                    waited: phase.stall,
                }
                .into());
            }
        }
    }
}

/// No message was completed for a phase's `stall`.
#[derive(Debug)]
struct Stalled {
    phase: &'static str,
    completed: u64,
    per_instance: [u64; 2],
    waited: Duration,
}

impl fmt::Display for Stalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "during {}: no message reached every subscriber for {:?} ({} complete; deliveries \
             per instance {:?})",
            self.phase, self.waited, self.completed, self.per_instance
        )
    }
}

impl std::error::Error for Stalled {}

/// What a subscriber connection hands back.
struct Received {
    /// Publish-to-receive latencies (ns) per phase.
    latencies: Vec<Vec<u64>>,
    /// Kept open until every subscriber is done.
    _ws: Option<Ws>,
}

/// Reads `ws` until it has every message of every phase exactly once; `ends` are the
/// phases' ends. Messages may come in another order than their sequence numbers (the
/// publisher's connections race each other into the channel), never twice.
async fn receive(mut ws: Ws, tally: Arc<Tally>, instance: usize, ends: Arc<Vec<u64>>) -> Received {
    let total = ends.last().copied().unwrap_or(0);
    let mut latencies: Vec<Vec<u64>> = ends.iter().map(|_| Vec::new()).collect();
    let mut seen = vec![0u64; total.div_ceil(64) as usize];
    let mut got = 0u64;
    let stop =
        |got: u64, why: String| tally.fail(format!("subscriber after {got} messages: {why}"));
    while got < total {
        let frame = match ws.next().await {
            Some(Ok(Message::Binary(bytes))) => ServerFrame::decode(&bytes),
            Some(Ok(Message::Close(frame))) => {
                stop(got, format!("closed by the server: {frame:?}"));
                return Received {
                    latencies,
                    _ws: None,
                };
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                stop(got, format!("read error: {e}"));
                return Received {
                    latencies,
                    _ws: None,
                };
            }
            None => {
                stop(got, "the connection ended".into());
                return Received {
                    latencies,
                    _ws: None,
                };
            }
        };
        let why = match frame {
            Ok(ServerFrame::Message { payload, .. }) => {
                let now = tally.now();
                match stamp(&payload).filter(|(seq, _)| *seq < total) {
                    None => format!("a payload not from this run: {payload:?}"),
                    Some((seq, _)) if seen[(seq / 64) as usize] & (1 << (seq % 64)) != 0 => {
                        format!("message {seq} twice")
                    }
                    Some((seq, sent)) => {
                        seen[(seq / 64) as usize] |= 1 << (seq % 64);
                        got += 1;
                        let phase = ends.partition_point(|&end| end <= seq);
                        latencies[phase].push(now.saturating_sub(sent));
                        tally.per_instance[instance].fetch_add(1, Ordering::Relaxed);
                        let slot = &tally.received[seq as usize];
                        if slot.fetch_add(1, Ordering::AcqRel) + 1 == tally.subscribers {
                            tally.last_completion.fetch_max(now, Ordering::AcqRel);
                            tally.completed.fetch_add(1, Ordering::AcqRel);
                            tally.notify.notify_one();
                        }
                        continue;
                    }
                }
            }
            Ok(ServerFrame::Error { code, message, .. }) => format!("ERROR {code} {message}"),
            Ok(_) => continue,
            Err(e) => format!("an undecodable frame: {e:?}"),
        };
        stop(got, why);
        return Received {
            latencies,
            _ws: Some(ws),
        };
    }
    Received {
        latencies,
        _ws: Some(ws),
    }
}

/// The sequence number and publish time at the start of a payload.
fn stamp(payload: &[u8]) -> Option<(u64, u64)> {
    let seq = u64::from_le_bytes(payload.get(0..8)?.try_into().ok()?);
    let sent = u64::from_le_bytes(payload.get(8..16)?.try_into().ok()?);
    Some((seq, sent))
}

/// A fan-out's figures.
#[derive(Debug, Clone, Default)]
struct Fanout {
    /// Deliveries per second of the measured phase.
    rate: f64,
    /// Latencies (ns) of the measured phase and of the one-at-a-time phase.
    saturated: Vec<u64>,
    one_at_a_time: Vec<u64>,
}

/// Where subscribers and the publisher connect.
struct Target<'a> {
    servers: &'a [&'a Server],
    subscriber_token: String,
    publisher_token: String,
}

/// One fan-out: subscribers spread over `target.servers` in turn, the publisher on the first,
/// `phases` published in order; the phase named "measured" gives the rate and the latencies
/// under the window, the one named "one at a time" the other latencies.
async fn fanout(o: &Options, target: &Target<'_>, phases: &[Phase]) -> Result<Fanout> {
    let channel_text = format!("bench-{}-{}", std::process::id(), unique());
    let channel = ChannelName::new(&channel_text)
        .map_err(|_| anyhow!("{channel_text:?} is not a channel name"))?;
    let mut ends = Vec::with_capacity(phases.len());
    let mut total = 0;
    for p in phases {
        total += p.messages;
        ends.push(total);
    }
    let ends = Arc::new(ends);
    let tally = Arc::new(Tally {
        start: Instant::now(),
        subscribers: o.subscribers as u32,
        received: (0..total).map(|_| AtomicU32::new(0)).collect(),
        completed: AtomicU64::new(0),
        last_completion: AtomicU64::new(0),
        per_instance: [AtomicU64::new(0), AtomicU64::new(0)],
        failures: Mutex::new(Vec::new()),
        failed: AtomicBool::new(false),
        notify: Notify::new(),
    });
    let urls = target
        .servers
        .iter()
        .map(|s| s.url())
        .collect::<Result<Vec<_>>>()?;

    // Subscribers: each task connects, subscribes, reports, then reads until done, so
    // pings are answered from the first moment.
    let gate = Arc::new(Semaphore::new(CONNECTING));
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<()>>(o.subscribers);
    let mut subscribers = JoinSet::new();
    for i in 0..o.subscribers {
        let instance = i % urls.len();
        let url = urls[instance].clone();
        let token = target.subscriber_token.clone();
        let (gate, ready, tally, ends, channel) = (
            gate.clone(),
            ready_tx.clone(),
            tally.clone(),
            ends.clone(),
            channel.clone(),
        );
        subscribers.spawn(async move {
            let opened = async {
                let _permit = gate.acquire().await.context("connection gate closed")?;
                let mut ws = connect(&url, &token).await?;
                subscribe(&mut ws, i as u32, &channel).await?;
                Ok::<_, anyhow::Error>(ws)
            }
            .await;
            match opened {
                Ok(ws) => {
                    let _ = ready.send(Ok(())).await;
                    drop(ready);
                    Some(receive(ws, tally, instance, ends).await)
                }
                Err(e) => {
                    let _ = ready
                        .send(Err(e.context(format!("subscriber {i} at {url}"))))
                        .await;
                    None
                }
            }
        });
    }
    drop(ready_tx);
    for _ in 0..o.subscribers {
        ready_rx
            .recv()
            .await
            .context("a subscriber task ended without reporting")??;
    }

    // The publisher: one task, its connections used in turn; each connection's answers are
    // read (pings, and any ERROR, which fails the run: e.g. 1005 for a publish limit hit).
    let mut sinks: Vec<SplitSink<Ws, Message>> = Vec::with_capacity(o.publishers);
    let mut readers = JoinSet::new();
    for p in 0..o.publishers {
        let ws = connect(&urls[0], &target.publisher_token)
            .await
            .with_context(|| format!("publisher connection {p}"))?;
        let (sink, mut stream) = ws.split();
        sinks.push(sink);
        let tally = tally.clone();
        readers.spawn(async move {
            while let Some(message) = stream.next().await {
                match message {
                    Ok(Message::Binary(bytes)) => match ServerFrame::decode(&bytes) {
                        Ok(ServerFrame::Error {
                            code,
                            message,
                            request,
                            ..
                        }) => {
                            tally.fail(format!(
                                "publisher {p}: ERROR {code} {message} for publish {request}"
                            ));
                        }
                        Ok(_) => {}
                        Err(e) => tally.fail(format!("publisher {p}: an undecodable frame {e:?}")),
                    },
                    Ok(Message::Close(frame)) => {
                        tally.fail(format!("publisher {p}: closed by the server: {frame:?}"));
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        tally.fail(format!("publisher {p}: {e}"));
                        break;
                    }
                }
            }
        });
    }

    let mut result = Fanout::default();
    let mut seq = 0u64;
    for phase in phases {
        let end = seq + phase.messages;
        let t0 = tally.now();
        while seq < end {
            let next = seq;
            tally
                .wait(phase, |completed| next - completed < phase.window)
                .await?;
            let mut payload = vec![0u8; o.payload];
            payload[0..8].copy_from_slice(&seq.to_le_bytes());
            payload[8..16].copy_from_slice(&tally.now().to_le_bytes());
            let frame = ClientFrame::Publish {
                request: seq as u32,
                ack: false,
                channel: channel.clone(),
                payload,
            };
            sinks[(seq % o.publishers as u64) as usize]
                .send(Message::Binary(frame.encode().into()))
                .await
                .with_context(|| format!("publishing message {seq}"))?;
            seq += 1;
        }
        tally.wait(phase, |completed| completed >= end).await?;
        if phase.name == "measured" {
            let elapsed = tally
                .last_completion
                .load(Ordering::Acquire)
                .saturating_sub(t0);
            result.rate = (phase.messages * o.subscribers as u64) as f64 / (elapsed as f64 / 1e9);
        }
    }

    // Everyone has everything: collect the latencies, then close every connection.
    let measured = phases.iter().position(|p| p.name == "measured");
    let one = phases.iter().position(|p| p.name == "one at a time");
    let mut kept = Vec::with_capacity(o.subscribers);
    while let Some(joined) = subscribers.join_next().await {
        let Some(mut received) = joined.context("a subscriber task panicked")? else {
            continue;
        };
        if let Some(i) = measured {
            result.saturated.append(&mut received.latencies[i]);
        }
        if let Some(i) = one {
            result.one_at_a_time.append(&mut received.latencies[i]);
        }
        kept.push(received);
    }
    if tally.failed.load(Ordering::Acquire) {
        bail!("{}", tally.failures());
    }
    readers.abort_all();
    drop(sinks);
    drop(kept);
    Ok(result)
}

fn unique() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

fn phases(o: &Options, probe: bool) -> Vec<Phase> {
    let mut phases = Vec::new();
    if probe {
        phases.push(Phase {
            name: "probe",
            messages: 1,
            window: 1,
            stall: PROBE,
        });
    }
    phases.extend([
        Phase {
            name: "warm-up",
            messages: WARM_UP,
            window: o.window,
            stall: STALL,
        },
        Phase {
            name: "measured",
            messages: o.messages,
            window: o.window,
            stall: STALL,
        },
        Phase {
            name: "one at a time",
            messages: ONE_AT_A_TIME,
            window: 1,
            stall: STALL,
        },
    ]);
    phases
}

/// Several rounds' figures for one server.
#[derive(Debug, Default)]
struct Rounds {
    rates: Vec<f64>,
    saturated: Vec<u64>,
    one_at_a_time: Vec<u64>,
}

impl Rounds {
    fn add(&mut self, mut f: Fanout) {
        self.rates.push(f.rate);
        self.saturated.append(&mut f.saturated);
        self.one_at_a_time.append(&mut f.one_at_a_time);
    }

    fn median_rate(&self) -> f64 {
        let mut r = self.rates.clone();
        r.sort_by(f64::total_cmp);
        r.get(r.len() / 2).copied().unwrap_or(0.0)
    }

    fn finish(&mut self) {
        self.saturated.sort_unstable();
        self.one_at_a_time.sort_unstable();
    }
}

/// The nearest-rank percentile of sorted nanoseconds, in milliseconds.
fn percentile_ms(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1e6
}

async fn fanout_part(o: &Options) -> Result<Rounds> {
    let dx = Server::reference(o, "fanout-dx-reference", &[]).await?;
    let node = Server::node(o, "fanout-node").await?;
    let targets = [
        Target {
            servers: &[&dx],
            subscriber_token: dx.token("bench-subscriber").await?,
            publisher_token: dx.token("bench-publisher").await?,
        },
        Target {
            servers: &[&node],
            subscriber_token: node.token("bench-subscriber").await?,
            publisher_token: node.token("bench-publisher").await?,
        },
    ];
    let limit = dx.sync("publish_limit").cloned().unwrap_or(Value::Null);
    println!();
    println!(
        "1. fan-out: {} subscribers on one channel, one publisher over {} connections (dx's \
         publish limit {limit}), {}-byte payloads; per round {WARM_UP} warm-up messages, {} \
         measured with at most {} in flight, {ONE_AT_A_TIME} one at a time; {} rounds per server, alternating",
        thousands(o.subscribers as f64),
        o.publishers,
        o.payload,
        thousands(o.messages as f64),
        o.window,
        o.rounds
    );
    let mut results = [Rounds::default(), Rounds::default()];
    let phases = phases(o, false);
    for round in 0..o.rounds {
        for (i, target) in targets.iter().enumerate() {
            let name = ["dx-reference", "node"][i];
            let f = fanout(o, target, &phases)
                .await
                .with_context(|| format!("fan-out round {} on {name}", round + 1))?;
            println!(
                "   round {}: {name:<12} {:>12} deliveries/s",
                round + 1,
                thousands(f.rate)
            );
            results[i].add(f);
            // Let the server finish closing the round's connections.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    for r in &mut results {
        r.finish();
    }
    let [dx_r, node_r] = &results;
    let peer = node
        .discovery
        .get("peer")
        .map(|p| format!("node {} ws {}", text(p, "node"), text(p, "ws")))
        .unwrap_or_else(|| "node".into());
    println!();
    header("", &["dx-reference", &peer]);
    let (d, n) = (dx_r.median_rate(), node_r.median_rate());
    row(
        "deliveries/s (median)",
        &thousands(d),
        &thousands(n),
        d / n,
        "higher is better",
    );
    for (label, dx_l, node_l) in [
        ("saturated", &dx_r.saturated, &node_r.saturated),
        ("one at a time", &dx_r.one_at_a_time, &node_r.one_at_a_time),
    ] {
        for p in [50.0, 99.0] {
            let (a, b) = (percentile_ms(dx_l, p), percentile_ms(node_l, p));
            row(
                &format!("latency p{p} {label} (ms)"),
                &fixed(a),
                &fixed(b),
                a / b,
                "lower is better",
            );
        }
    }
    println!(
        "   goal: dx at least 1.5x node's deliveries/s: {} ({:.2}x)",
        if d >= 1.5 * n { "met" } else { "not met" },
        d / n
    );
    let rounds = |r: &Rounds| {
        r.rates
            .iter()
            .map(|v| thousands(*v))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Figure::higher_is_better("deliveries/s (median of the rounds)", "deliveries/s")
        .group(FANOUT)
        .ours("dx-reference", d)
        .peer(&peer, n)
        .goal(
            Goal::RatioAtLeast(1.5),
            "dx at least 1.5x Node's deliveries/s",
        )
        .note(format!(
            "{} subscribers on one channel, {} messages a round, window {}; rounds {} against {}",
            thousands(o.subscribers as f64),
            thousands(o.messages as f64),
            o.window,
            rounds(dx_r),
            rounds(node_r)
        ))
        .record()?;
    for (label, dx_l, node_l) in [
        ("saturated", &dx_r.saturated, &node_r.saturated),
        ("one at a time", &dx_r.one_at_a_time, &node_r.one_at_a_time),
    ] {
        for p in [50.0, 99.0] {
            Figure::lower_is_better(format!("publish-to-receive p{p} {label}"), "ms")
                .group(FANOUT)
                .ours("dx-reference", percentile_ms(dx_l, p))
                .peer(&peer, percentile_ms(node_l, p))
                .note(format!(
                    "over every delivery of every round ({} against {})",
                    thousands(dx_l.len() as f64),
                    thousands(node_l.len() as f64)
                ))
                .record()?;
        }
    }
    let per_round = (WARM_UP + o.messages + ONE_AT_A_TIME) * o.subscribers as u64;
    Count::new("deliveries missing or repeated", 0.0, "deliveries")
        .group(FANOUT)
        .of((per_round * 2 * o.rounds as u64) as f64)
        .goal(
            Goal::AtMost(0.0),
            "every message reaches every subscriber exactly once",
        )
        .note("counted per subscriber; the run stops at the first loss, repeat or refusal")
        .record()?;
    drop(node);
    drop(dx);
    let [dx_r, _] = results;
    Ok(dx_r)
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("?")
}

// ---------------------------------------------------------------------------------------
// Idle connections
// ---------------------------------------------------------------------------------------

/// An idle-connection measurement.
#[derive(Debug)]
struct Idle {
    before_kib: u64,
    after_kib: u64,
    reached: usize,
    /// Why fewer than asked were opened, or some closed.
    note: Option<String>,
}

async fn idle(server: &mut Server, count: usize) -> Result<Idle> {
    let url = server.url()?;
    let token = server.token("bench-idle").await?;
    // Warm up what the first connection initialises, then let the server settle.
    for _ in 0..10 {
        let ws = connect(&url, &token)
            .await
            .context("a warm-up connection")?;
        drop(ws);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before_kib = server.rss_kib()?;

    let gate = Arc::new(Semaphore::new(CONNECTING));
    let closed = Arc::new(AtomicU64::new(0));
    // After the first refusal no more upgrades are tried: the count reached is the figure.
    let refused = Arc::new(AtomicBool::new(false));
    let (ready_tx, mut ready_rx) = mpsc::channel::<Result<bool>>(count.max(1));
    let mut connections = JoinSet::new();
    for i in 0..count {
        let (url, token, gate, ready, closed, refused) = (
            url.clone(),
            token.clone(),
            gate.clone(),
            ready_tx.clone(),
            closed.clone(),
            refused.clone(),
        );
        connections.spawn(async move {
            let opened = async {
                let _permit = gate.acquire().await.context("connection gate closed")?;
                if refused.load(Ordering::Acquire) {
                    return Ok(None);
                }
                tokio::time::timeout(UPGRADE_TIMEOUT, connect(&url, &token))
                    .await
                    .context("the upgrade timed out")?
                    .map(Some)
            }
            .await;
            match opened {
                Ok(None) => {
                    let _ = ready.send(Ok(false)).await;
                }
                Ok(Some(mut ws)) => {
                    let _ = ready.send(Ok(true)).await;
                    drop(ready);
                    // Idle: only read, which answers the server's pings.
                    while let Some(Ok(message)) = ws.next().await {
                        if message.is_close() {
                            break;
                        }
                    }
                    closed.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    refused.store(true, Ordering::Release);
                    let _ = ready
                        .send(Err(e.context(format!("idle connection {i}"))))
                        .await;
                }
            }
        });
    }
    drop(ready_tx);
    let mut reached = 0;
    let mut first_error = None;
    for _ in 0..count {
        match ready_rx.recv().await {
            Some(Ok(true)) => reached += 1,
            Some(Ok(false)) => {}
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => break,
        }
    }
    // Held idle for a few ping intervals, so the figure includes a connection's steady state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after_kib = server.rss_kib()?;
    let lost = closed.load(Ordering::Relaxed);
    let mut notes = Vec::new();
    if let Some(e) = first_error {
        notes.push(format!(
            "{} of {} opened, then a refusal: {e:#} (see {})",
            thousands(reached as f64),
            thousands(count as f64),
            server.log.display()
        ));
        if let Some(seconds) = server.sync("token_check_seconds").and_then(Value::as_u64) {
            notes.push(format!(
                "each open connection re-checks its token every {seconds} s \
                 (sync.token_check_seconds), so {} connections ask the credential store \
                 for {} checks a second alongside the upgrades",
                thousands(reached as f64),
                thousands(reached as f64 / seconds as f64)
            ));
        }
    }
    if lost > 0 {
        notes.push(format!("{lost} closed while idle"));
    }
    if !server.is_running() {
        notes.push("the server exited".into());
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(Idle {
        before_kib,
        after_kib,
        reached,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

async fn idle_part(o: &Options) -> Result<()> {
    let limit = open_file_limit();
    let mut count = o.idle;
    let mut why = None;
    if let Some(limit) = limit
        && (count as u64) + SPARE_FDS > limit
    {
        count = limit.saturating_sub(SPARE_FDS) as usize;
        why = Some(format!(
            "the open-file limit is {limit} (ulimit -n; run.sh raises it to the hard limit), so at most {count}"
        ));
    }
    println!();
    println!(
        "2. idle connections: RSS of a fresh server before and after {} authenticated connections that only answer pings",
        thousands(count as f64)
    );
    if let Some(why) = why {
        println!("   asked for {}: {why}", thousands(o.idle as f64));
    }
    let mut figures = Vec::new();
    for name in ["dx-reference", "node"] {
        let mut server = if name == "node" {
            Server::node(o, "idle-node").await?
        } else {
            Server::reference(o, "idle-dx-reference", &[]).await?
        };
        let figure = idle(&mut server, count)
            .await
            .with_context(|| format!("idle connections on {name}"))?;
        if let Some(note) = &figure.note {
            println!("   {name}: {note}");
        }
        figures.push(figure);
        drop(server);
    }
    let [dx, node] = [&figures[0], &figures[1]];
    let per = |f: &Idle| {
        if f.reached == 0 {
            f64::NAN
        } else {
            (f.after_kib as f64 - f.before_kib as f64) / f.reached as f64
        }
    };
    header("", &["dx-reference", "node"]);
    row(
        "connections open",
        &thousands(dx.reached as f64),
        &thousands(node.reached as f64),
        dx.reached as f64 / node.reached as f64,
        "",
    );
    for (label, a, b) in [
        ("RSS before (MiB)", dx.before_kib, node.before_kib),
        ("RSS after (MiB)", dx.after_kib, node.after_kib),
    ] {
        row(
            label,
            &format!("{:.1}", a as f64 / 1024.0),
            &format!("{:.1}", b as f64 / 1024.0),
            a as f64 / b as f64,
            "",
        );
    }
    let (a, b) = (per(dx), per(node));
    row(
        "per connection (KiB)",
        &format!("{a:.2}"),
        &format!("{b:.2}"),
        a / b,
        "lower is better",
    );
    println!(
        "   goal: under 20 KiB per idle connection on dx: {} ({a:.2} KiB)",
        if a < 20.0 { "met" } else { "not met" }
    );
    println!(
        "   goal: at most node's per idle connection: {} ({:.2}x)",
        if a <= b { "met" } else { "not met" },
        a / b
    );
    let notes: Vec<String> = [("dx-reference", dx), ("node", node)]
        .iter()
        .filter_map(|(name, f)| f.note.as_ref().map(|n| format!("{name}: {n}")))
        .collect();
    let opened = format!(
        "{} asked; {} and {} open",
        thousands(count as f64),
        thousands(dx.reached as f64),
        thousands(node.reached as f64)
    );
    Figure::lower_is_better("RSS per idle authenticated connection", "KiB")
        .group(IDLE)
        .ours("dx-reference", a)
        .peer("node", b)
        .goal(Goal::RatioAtMost(1.0), "at most Node's per connection")
        .note(format!(
            "{opened}; the older budget, under 20 KiB: {}{}",
            if a < 20.0 { "met" } else { "not met" },
            if notes.is_empty() {
                String::new()
            } else {
                format!("; {}", notes.join("; "))
            }
        ))
        .record()?;
    for (label, a, b) in [
        ("RSS of a fresh server", dx.before_kib, node.before_kib),
        (
            "RSS with the idle connections open",
            dx.after_kib,
            node.after_kib,
        ),
    ] {
        Figure::lower_is_better(label, "MiB")
            .group(IDLE)
            .ours("dx-reference", a as f64 / 1024.0)
            .peer("node", b as f64 / 1024.0)
            .note(opened.clone())
            .record()?;
    }
    Figure::higher_is_better("idle connections opened", "connections")
        .group(IDLE)
        .ours("dx-reference", dx.reached as f64)
        .peer("node", node.reached as f64)
        .note(format!("{} asked", thousands(count as f64)))
        .record()?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Two instances sharing Redis
// ---------------------------------------------------------------------------------------

/// Whether Redis answers `PING` at `url` (`redis://HOST:PORT[/DB]`).
async fn redis_answers(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("redis://")
        .with_context(|| format!("{url}: only redis:// URLs"))?;
    let authority = rest.split('/').next().unwrap_or(rest);
    let host_port = authority.rsplit('@').next().unwrap_or(authority);
    let address = if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    };
    let mut stream = tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(&address))
        .await
        .with_context(|| format!("no connection to {address} within 2 s"))?
        .with_context(|| format!("cannot connect to {address}"))?;
    stream
        .write_all(b"PING\r\n")
        .await
        .context("cannot send PING")?;
    let mut answer = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer))
        .await
        .context("no answer to PING within 2 s")?
        .context("cannot read the answer to PING")?;
    let answer = String::from_utf8_lossy(&answer[..n]);
    if !answer.starts_with("+PONG") {
        bail!("{address} answered {answer:?} to PING");
    }
    Ok(())
}

async fn redis_part(o: &Options, single: Option<&Rounds>) -> Result<()> {
    println!();
    println!(
        "3. two dx-reference instances sharing Redis ({}): {} subscribers split over both, the publisher on the first",
        o.redis_url,
        thousands(o.subscribers as f64)
    );
    if let Err(e) = redis_answers(&o.redis_url).await {
        println!("   SKIPPED: Redis does not answer ({e:#}); set REDIS_URL or --redis-url");
        return Ok(());
    }
    let key = o.logs.join("redis-pair-signing-key.hex");
    write_key(&key)?;
    let extra = [
        "--redis-url".to_owned(),
        o.redis_url.clone(),
        "--key-file".to_owned(),
        key.display().to_string(),
    ];
    let a = Server::reference(o, "redis-dx-reference-a", &extra).await?;
    let b = Server::reference(o, "redis-dx-reference-b", &extra).await?;
    let brokers = [&a, &b].map(|s| {
        s.sync("broker")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned()
    });
    println!(
        "   sync.broker in the discovery documents: A {}, B {}",
        brokers[0], brokers[1]
    );
    let target = Target {
        servers: &[&a, &b],
        subscriber_token: a.token("bench-subscriber").await?,
        publisher_token: a.token("bench-publisher").await?,
    };
    let mut rounds = Rounds::default();
    for round in 0..o.rounds {
        match fanout(o, &target, &phases(o, true)).await {
            Ok(f) => {
                println!(
                    "   round {}: {:>12} deliveries/s",
                    round + 1,
                    thousands(f.rate)
                );
                rounds.add(f);
            }
            Err(e) => {
                if let Some(stalled) = e.downcast_ref::<Stalled>()
                    && stalled.phase == "probe"
                    && stalled.per_instance[1] == 0
                {
                    println!(
                        "   SKIPPED: the {} subscribers on instance B received nothing within {} s of \
                         a publish on instance A ({} of A's {} did): messages do not cross \
                         instances (sync.broker: A {}, B {}); this part measures once they share a broker",
                        thousands((o.subscribers / 2) as f64),
                        PROBE.as_secs(),
                        stalled.per_instance[0],
                        o.subscribers.div_ceil(2),
                        brokers[0],
                        brokers[1]
                    );
                    return Ok(());
                }
                return Err(e).with_context(|| format!("two-instance round {}", round + 1));
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    rounds.finish();
    header("", &["two on Redis", "one (part 1)"]);
    let one = single.map(Rounds::median_rate).unwrap_or(f64::NAN);
    let rate = rounds.median_rate();
    row(
        "deliveries/s (median)",
        &thousands(rate),
        &thousands(one),
        rate / one,
        "",
    );
    // Without part 1 in this run there is no peer from the same run: the figures go
    // without one.
    let with_peer = |f: Figure, v: f64| {
        if single.is_some() {
            f.peer("one instance (part 1)", v)
        } else {
            f
        }
    };
    with_peer(
        Figure::higher_is_better("deliveries/s (median of the rounds)", "deliveries/s")
            .group(REDIS)
            .ours("two dx-reference on Redis", rate),
        one,
    )
    .note(format!(
        "{} subscribers split over both, the publisher on the first",
        thousands(o.subscribers as f64)
    ))
    .record()?;
    for (label, two, single) in [
        ("saturated", &rounds.saturated, single.map(|s| &s.saturated)),
        (
            "one at a time",
            &rounds.one_at_a_time,
            single.map(|s| &s.one_at_a_time),
        ),
    ] {
        for p in [50.0, 99.0] {
            let a = percentile_ms(two, p);
            let b = single.map_or(f64::NAN, |s| percentile_ms(s, p));
            row(
                &format!("latency p{p} {label} (ms)"),
                &fixed(a),
                &fixed(b),
                a / b,
                "",
            );
            with_peer(
                Figure::lower_is_better(format!("publish-to-receive p{p} {label}"), "ms")
                    .group(REDIS)
                    .ours("two dx-reference on Redis", a),
                b,
            )
            .record()?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Printing
// ---------------------------------------------------------------------------------------

fn header(first: &str, columns: &[&str; 2]) {
    println!(
        "   {first:<34} {:>16} {:>22} {:>8}",
        columns[0], columns[1], "ratio"
    );
}

fn row(label: &str, a: &str, b: &str, ratio: f64, note: &str) {
    let ratio = if ratio.is_finite() {
        format!("{ratio:.2}x")
    } else {
        "-".into()
    };
    println!("   {label:<34} {a:>16} {b:>22} {ratio:>8}  {note}");
}

/// Two decimals, or `-` for no figure.
fn fixed(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.2}")
    } else {
        "-".into()
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v < 0.0 { format!("-{out}") } else { out }
}
