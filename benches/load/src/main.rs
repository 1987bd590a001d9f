//! Mixed load, faults under load and soak against `dx-reference` (issue 28, items 3-5):
//! a scripted workload for a fixed duration against one instance or two sharing
//! PostgreSQL and Redis, each a child process of this driver, optionally with a fault in
//! the middle. It is a measurement, not a test: it prints throughput, answers by status
//! and error code and p99 per route, and judges what must hold whatever the speed (every
//! code documented, no 5xx outside a fault the driver caused, every acknowledged write read
//! back, every acknowledged sync message delivered or its loss reported), exiting 1 when
//! any of that fails. `benches/load/README.md` documents the options and the output.

mod http;
mod procs;
mod stats;
mod sync;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use dx_bench_record::{Count, Figure, Goal};
use serde_json::Value;

use crate::http::{Ctx, Instance, Paths};
use crate::procs::{Server, sample, shell};
use crate::stats::{Stats, Window, percentile_ms, slope};
use crate::sync::SyncTally;
use dx_bench_procs::write_key;

/// The fault injected in the middle of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// PostgreSQL stopped for `gap` seconds at a third of the run, Redis at two thirds.
    Services,
    /// The last instance killed (SIGKILL) at half the run.
    Kill,
    /// The last instance sent SIGTERM at half the run.
    Term,
}

#[derive(Debug, Clone)]
struct Options {
    reference: PathBuf,
    instances: usize,
    duration: u64,
    fault: Fault,
    gap: u64,
    database_url: String,
    redis_url: String,
    users: usize,
    items_clients: usize,
    subscribers: usize,
    channels: usize,
    publishers: usize,
    publish_rate: f64,
    login_rate: f64,
    refresh_rate: f64,
    hostile_rate: f64,
    health_rate: f64,
    health_idle: u64,
    sample: u64,
    group: Option<String>,
    logs: PathBuf,
    pg_stop: String,
    pg_start: String,
    redis_stop: String,
    redis_start: String,
}

impl Options {
    fn parse() -> Result<Self> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut o = Self {
            reference: root.join("target/release/dx-reference"),
            instances: 1,
            duration: 60,
            fault: Fault::None,
            gap: 5,
            database_url: std::env::var("DATABASE_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned()),
            redis_url: std::env::var("REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
            users: 8,
            items_clients: 8,
            subscribers: 40,
            channels: 4,
            publishers: 4,
            publish_rate: 25.0,
            login_rate: 2.0,
            refresh_rate: 5.0,
            hostile_rate: 5.0,
            health_rate: 50.0,
            health_idle: 5,
            sample: 0,
            group: None,
            logs: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/logs"),
            pg_stop: "pg_ctlcluster --skip-systemctl-redirect 15 main stop".to_owned(),
            pg_start: "pg_ctlcluster --skip-systemctl-redirect 15 main start".to_owned(),
            redis_stop: "redis-cli shutdown nosave".to_owned(),
            redis_start: "redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 \
                          --save '' --appendonly no"
                .to_owned(),
        };
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--reference" => o.reference = value()?.into(),
                "--instances" => o.instances = value()?.parse()?,
                "--duration" => o.duration = value()?.parse()?,
                "--faults" => {
                    o.fault = match value()?.as_str() {
                        "none" => Fault::None,
                        "services" => Fault::Services,
                        "kill" => Fault::Kill,
                        "term" => Fault::Term,
                        other => bail!("--faults: none, services, kill or term, not {other}"),
                    }
                }
                "--gap" => o.gap = value()?.parse()?,
                "--database-url" => o.database_url = value()?,
                "--redis-url" => o.redis_url = value()?,
                "--users" => o.users = value()?.parse()?,
                "--items-clients" => o.items_clients = value()?.parse()?,
                "--subscribers" => o.subscribers = value()?.parse()?,
                "--channels" => o.channels = value()?.parse()?,
                "--publishers" => o.publishers = value()?.parse()?,
                "--publish-rate" => o.publish_rate = value()?.parse()?,
                "--login-rate" => o.login_rate = value()?.parse()?,
                "--refresh-rate" => o.refresh_rate = value()?.parse()?,
                "--hostile-rate" => o.hostile_rate = value()?.parse()?,
                "--health-rate" => o.health_rate = value()?.parse()?,
                "--health-idle" => o.health_idle = value()?.parse()?,
                "--sample" => o.sample = value()?.parse()?,
                "--group" => o.group = Some(value()?),
                "--logs" => o.logs = value()?.into(),
                "--pg-stop" => o.pg_stop = value()?,
                "--pg-start" => o.pg_start = value()?,
                "--redis-stop" => o.redis_stop = value()?,
                "--redis-start" => o.redis_start = value()?,
                "--help" | "-h" => {
                    println!("see benches/load/README.md");
                    std::process::exit(0);
                }
                other => bail!("unknown option {other} (see benches/load/README.md)"),
            }
        }
        if o.instances == 0 || o.users == 0 || o.channels == 0 {
            bail!("--instances, --users and --channels must be at least 1");
        }
        if o.health_rate <= 0.0 {
            bail!("--health-rate must be above 0: /health is the peer of every route");
        }
        if matches!(o.fault, Fault::Kill | Fault::Term) && o.instances < 2 {
            bail!("--faults kill and term need --instances 2: the clients resume on the other");
        }
        Ok(o)
    }

    /// The configuration's name in the benchmark report: one heading per kind of run.
    fn group(&self) -> String {
        if let Some(group) = &self.group {
            return group.clone();
        }
        let instances = if self.instances == 1 {
            "one instance".to_owned()
        } else if self.instances == 2 {
            "two instances".to_owned()
        } else {
            format!("{} instances", self.instances)
        };
        match self.fault {
            Fault::None if self.sample > 0 && self.instances == 1 => "soak".to_owned(),
            Fault::None if self.sample > 0 => format!("soak, {instances}"),
            Fault::None => instances,
            Fault::Services => "faults: services".to_owned(),
            Fault::Kill => "faults: kill".to_owned(),
            Fault::Term => "faults: term".to_owned(),
        }
    }
}

/// A result for the benchmark report, written once the run is over.
enum Record {
    Figure(Figure),
    Count(Count),
}

impl From<Figure> for Record {
    fn from(f: Figure) -> Self {
        Self::Figure(f)
    }
}

impl From<Count> for Record {
    fn from(c: Count) -> Self {
        Self::Count(c)
    }
}

impl Record {
    fn record(self) -> std::io::Result<()> {
        match self {
            Self::Figure(f) => f.record(),
            Self::Count(c) => c.record(),
        }
    }
}

fn main() -> Result<()> {
    let o = Options::parse()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start tokio")?;
    let ok = runtime.block_on(run(o))?;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

/// Resident memory and descriptors of one instance at one moment.
#[derive(Debug, Clone, Copy)]
struct Sample {
    at: f64,
    instance: usize,
    rss_kib: u64,
    fds: u64,
}

async fn run(o: Options) -> Result<bool> {
    if !o.reference.exists() {
        bail!(
            "{} is missing: run benches/load/run.sh, or build it with \
             `cargo build --release -p dx-server --bin dx-reference`",
            o.reference.display()
        );
    }
    std::fs::create_dir_all(&o.logs)
        .with_context(|| format!("cannot create {}", o.logs.display()))?;
    let key = o.logs.join("signing-key.hex");
    write_key(&key)?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(15))
        .pool_idle_timeout(Duration::from_secs(5))
        .build()
        .context("cannot build the HTTP client")?;
    let limit = "1000000/1".to_owned();
    let args: Vec<String> = [
        "--profile",
        "production",
        "--database-url",
        &o.database_url,
        "--redis-url",
        &o.redis_url,
        "--key-file",
        &key.to_string_lossy(),
        "--allow-registration",
        "--rate-limit-auth",
        &limit,
        "--rate-limit-api",
        &limit,
        "--rate-limit-static",
        &limit,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut servers = Vec::new();
    for i in 0..o.instances {
        let label = format!("instance-{}", char::from(b'A' + i as u8));
        servers.push(Server::start(&o.reference, &label, &args, &o.logs, &client).await?);
    }
    let first = &servers[0];
    let paths = Paths {
        login: first.member("/auth/endpoints/login")?,
        refresh: first.member("/auth/endpoints/refresh")?,
        register: first.member("/auth/endpoints/register")?,
        items: first.member("/query/items")?,
        csrf_token: first.member("/csrf/token_endpoint")?,
        csrf_header: first.member("/csrf/header")?,
        sync: first.member("/sync/endpoint")?,
        health: first.member("/endpoints/health")?,
        max_body: first
            .discovery
            .pointer("/limits/max_body_bytes")
            .and_then(Value::as_u64)
            .unwrap_or(1 << 20),
    };
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let stats = Arc::new(Stats::new());
    let ctx = Arc::new(Ctx {
        run: run_id,
        client: client.clone(),
        stats: Arc::clone(&stats),
        instances: servers
            .iter()
            .map(|s| Instance {
                base: s.base(),
                alive: AtomicBool::new(true),
            })
            .collect(),
        paths,
        emails: (0..o.users)
            .map(|i| format!("load-{run_id}-{i}@example.com"))
            .collect(),
        password: format!("load password {run_id}"),
        stop: AtomicBool::new(false),
        acked: Default::default(),
        unknown_creates: AtomicU64::new(0),
        missing_during_run: AtomicU64::new(0),
        round_robin: AtomicU64::new(0),
        tokens: std::sync::Mutex::new(vec![None; o.users]),
    });
    println!(
        "dx-load: {} instance(s) of {} (production profile, PostgreSQL {}, Redis {}), {} s, \
         fault {:?}; logs in {}",
        o.instances,
        o.reference.display(),
        mask(&o.database_url),
        o.redis_url,
        o.duration,
        o.fault,
        o.logs.display()
    );
    ctx.register_all().await?;
    for user in 0..o.users {
        ctx.login_until(user).await.context("no first login")?;
    }
    let hostile_token = ctx
        .token(0)
        .await
        .context("no login for the hostile client")?;

    // The peer, first alone: /health with nothing else running.
    if o.health_idle > 0 {
        http::probe_health(
            Arc::clone(&ctx),
            o.health_rate,
            "health.idle",
            Some(Duration::from_secs(o.health_idle)),
        )
        .await;
    }

    let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    let baseline: Vec<Option<(u64, u64)>> = pids.iter().map(|&p| sample(p)).collect();

    // The workload.
    let tally = Arc::new(SyncTally::default());
    let mut tasks = tokio::task::JoinSet::new();
    let seed = run_id as u64;
    tasks.spawn(http::logins(Arc::clone(&ctx), o.login_rate, seed ^ 1));
    tasks.spawn(http::refreshes(Arc::clone(&ctx), o.refresh_rate, seed ^ 2));
    tasks.spawn(http::probe_health(
        Arc::clone(&ctx),
        o.health_rate,
        "health",
        None,
    ));
    tasks.spawn(http::hostile(
        Arc::clone(&ctx),
        o.hostile_rate,
        hostile_token,
    ));
    for w in 0..o.items_clients {
        tasks.spawn(http::items_client(
            Arc::clone(&ctx),
            w,
            w % 2 == 1,
            seed ^ (100 + w as u64),
        ));
    }
    let mut sync_tasks = tokio::task::JoinSet::new();
    for s in 0..o.subscribers {
        let channels = vec![s % o.channels, (s + 1) % o.channels];
        let channels = if o.channels == 1 { vec![0] } else { channels };
        sync_tasks.spawn(sync::subscriber(
            Arc::clone(&ctx),
            Arc::clone(&tally),
            s % o.instances,
            s % o.users,
            channels,
        ));
    }
    // Subscribers first, so the first messages have somebody to reach.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for p in 0..o.publishers {
        sync_tasks.spawn(sync::publisher(
            Arc::clone(&ctx),
            Arc::clone(&tally),
            p,
            p % o.instances,
            (p + 1) % o.users,
            p % o.channels,
            o.publish_rate,
        ));
    }

    // Samples of memory and descriptors.
    let samples: Arc<std::sync::Mutex<Vec<Sample>>> = Arc::default();
    // Samples are taken while the load runs (not during the read-back after it).
    let sampling = Arc::new(AtomicBool::new(true));
    if o.sample > 0 {
        let samples = Arc::clone(&samples);
        let ctx = Arc::clone(&ctx);
        let sampling = Arc::clone(&sampling);
        let pids = pids.clone();
        let every = o.sample;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(every));
            while sampling.load(Ordering::Relaxed) {
                tick.tick().await;
                let at = ctx.stats.elapsed().as_secs_f64();
                for (i, pid) in pids.iter().enumerate() {
                    if let Some((rss_kib, fds)) = sample(*pid) {
                        samples
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(Sample {
                                at,
                                instance: i,
                                rss_kib,
                                fds,
                            });
                    }
                }
            }
        });
    }

    // The fault, then the end of the load.
    let total = Duration::from_secs(o.duration);
    let mut term_exit = None;
    let mut term_code = None;
    match o.fault {
        Fault::None => tokio::time::sleep(total).await,
        Fault::Services => {
            tokio::time::sleep(total / 3).await;
            service_gap(&stats, "postgresql", &o.pg_stop, &o.pg_start, o.gap).await?;
            sleep_until(&stats, total * 2 / 3).await;
            service_gap(&stats, "redis", &o.redis_stop, &o.redis_start, o.gap).await?;
            sleep_until(&stats, total).await;
        }
        Fault::Kill | Fault::Term => {
            tokio::time::sleep(total / 2).await;
            let victim = servers.len() - 1;
            let start = stats.elapsed();
            // A load balancer stops sending new requests to an instance it is told is going.
            ctx.instances[victim].alive.store(false, Ordering::Relaxed);
            let signal = if o.fault == Fault::Kill {
                "-KILL"
            } else {
                "-TERM"
            };
            servers[victim].signal(signal).await?;
            let waited =
                tokio::time::timeout(Duration::from_secs(40), servers[victim].child.wait()).await;
            let end = stats.elapsed();
            let status = match waited {
                Ok(Ok(status)) => {
                    term_code = status.code();
                    status.to_string()
                }
                Ok(Err(e)) => format!("cannot wait: {e}"),
                Err(_) => "still running after 40 s".to_owned(),
            };
            println!(
                "fault: {} instance {} at {:.1} s; exited after {:.2} s ({status})",
                if o.fault == Fault::Kill {
                    "SIGKILL to"
                } else {
                    "SIGTERM to"
                },
                servers[victim].label,
                start.as_secs_f64(),
                (end - start).as_secs_f64()
            );
            term_exit = Some(status);
            stats.window(Window {
                name: format!("{signal} {}", servers[victim].label),
                start,
                end,
            });
            sleep_until(&stats, total).await;
        }
    }
    ctx.stop.store(true, Ordering::Relaxed);
    sampling.store(false, Ordering::Relaxed);
    let stopped_at = stats.elapsed();
    while tasks.join_next().await.is_some() {}
    while let Some(done) = sync_tasks.join_next().await {
        if let Ok(Err(e)) = done {
            println!("a sync client failed: {e:#}");
        }
    }
    let at_stop: Vec<Option<(u64, u64)>> = pids.iter().map(|&p| sample(p)).collect();

    // Everything acknowledged, read back.
    ctx.stop.store(false, Ordering::Relaxed);
    let readback = http::read_back(&ctx).await;
    ctx.stop.store(true, Ordering::Relaxed);
    let sync_result = tally.account();
    // Idle: the clients' pooled connections close after 5 s.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let after: Vec<Option<(u64, u64)>> = pids.iter().map(|&p| sample(p)).collect();

    let mut records = Vec::new();
    let mut failures = report(
        &o,
        &stats,
        &ctx,
        &tally,
        stopped_at,
        &readback,
        &sync_result,
        (term_exit.as_deref(), term_code),
        &mut records,
    );
    report_samples(
        &o,
        &samples.lock().unwrap_or_else(|p| p.into_inner()),
        &baseline,
        &at_stop,
        &after,
        &mut records,
        &mut failures,
    );
    let ok = verdict(&failures);
    drop(servers);
    let group = o.group();
    for r in records {
        match r {
            Record::Figure(f) => Record::Figure(f.group(&group)),
            Record::Count(c) => Record::Count(c.group(&group)),
        }
        .record()
        .context("cannot write the results file (DX_BENCH_RESULTS)")?;
    }
    Ok(ok)
}

fn mask(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match url[scheme + 3..at].find(':') {
            Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

async fn sleep_until(stats: &Stats, at: Duration) {
    let now = stats.elapsed();
    if at > now {
        tokio::time::sleep(at - now).await;
    }
}

/// Stops a service, waits `gap` seconds, starts it again: one window.
async fn service_gap(stats: &Stats, name: &str, stop: &str, start: &str, gap: u64) -> Result<()> {
    let begun = stats.elapsed();
    println!("fault: stopping {name} at {:.1} s", begun.as_secs_f64());
    shell(stop).await?;
    tokio::time::sleep(Duration::from_secs(gap)).await;
    let mut started = shell(start).await;
    for _ in 0..10 {
        if started.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        started = shell(start).await;
    }
    started.with_context(|| format!("{name} did not start again: start it by hand"))?;
    let end = stats.elapsed();
    println!("fault: {name} started again at {:.1} s", end.as_secs_f64());
    stats.window(Window {
        name: name.to_owned(),
        start: begun,
        end,
    });
    Ok(())
}

/// How long after a fault's window a 5xx still counts as the fault's (reconnecting pools,
/// requests that waited through the gap).
const RECOVERY_GRACE: Duration = Duration::from_secs(30);

#[allow(clippy::too_many_arguments)]
fn report(
    o: &Options,
    stats: &Stats,
    ctx: &Ctx,
    tally: &SyncTally,
    stopped_at: Duration,
    readback: &http::ReadBack,
    sync: &sync::SyncResult,
    (term_exit, term_code): (Option<&str>, Option<i32>),
    records: &mut Vec<Record>,
) -> Vec<String> {
    let mut failures: Vec<String> = Vec::new();
    let seconds = stopped_at.as_secs_f64();
    let routes = stats.routes();
    let sorted = |name: &str| {
        let mut latencies = routes
            .get(name)
            .map(|r| r.latencies.clone())
            .unwrap_or_default();
        latencies.sort_unstable();
        latencies
    };
    let health = sorted("health");
    let (health_p50, health_p99) = (percentile_ms(&health, 50.0), percentile_ms(&health, 99.0));
    println!();
    println!(
        "routes ({seconds:.1} s of load; latencies of answered requests; sync.publish is \
         PUBLISH to ACK/NACK, sync.delivery publish to MESSAGE; health is the peer, GET /health \
         at {} per s throughout the load, health.idle the same for {} s before it; x health: \
         p99 / health's p99)",
        o.health_rate, o.health_idle
    );
    println!(
        "{:<24} {:>9} {:>8} {:>9} {:>9} {:>9}  answers",
        "route", "requests", "per s", "p50 ms", "p99 ms", "x health"
    );
    let mut total = 0;
    for (name, route) in &routes {
        let latencies = sorted(name);
        let not_load =
            name.starts_with("readback") || *name == "register" || *name == "health.idle";
        let per_s = if not_load {
            0.0
        } else {
            route.count as f64 / seconds
        };
        if !not_load && *name != "sync.delivery" && *name != "health" {
            total += route.count;
        }
        let mut answers: Vec<String> = route
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        answers.extend(route.transport.iter().map(|(k, n)| format!("{k}: {n}")));
        let (p50, p99) = (
            percentile_ms(&latencies, 50.0),
            percentile_ms(&latencies, 99.0),
        );
        let ratio = p99 / health_p99;
        let shown = if ratio.is_finite() && !not_load && !latencies.is_empty() {
            format!("{ratio:.2}x")
        } else {
            "-".to_owned()
        };
        println!(
            "{:<24} {:>9} {:>8.1} {:>9.2} {:>9.2} {:>9}  {}",
            name,
            route.count,
            per_s,
            p50,
            p99,
            shown,
            answers.join(", ")
        );
        if !not_load && *name != "health" && !latencies.is_empty() && !health.is_empty() {
            records.push(
                Figure::lower_is_better(format!("{name} p99"), "ms")
                    .ours(*name, p99)
                    .peer("GET /health under the same load", health_p99)
                    .note(format!(
                        "{} answered; p50 {p50:.2} ms against /health's {health_p50:.2} ms",
                        latencies.len()
                    ))
                    .into(),
            );
        }
    }
    let idle = sorted("health.idle");
    if !health.is_empty() && !idle.is_empty() {
        let idle_p99 = percentile_ms(&idle, 99.0);
        println!(
            "GET /health p99: {health_p99:.2} ms under the load against {idle_p99:.2} ms idle \
             before it ({:.2}x): what the load costs a request that does no work",
            health_p99 / idle_p99
        );
        records.push(
            Figure::lower_is_better("GET /health p99, loaded against idle", "ms")
                .ours("under the load", health_p99)
                .peer("idle, before the load", idle_p99)
                .note(format!(
                    "{} probes under the load, {} idle, {} per s; p50 {health_p50:.2} ms against {:.2} ms",
                    health.len(),
                    idle.len(),
                    o.health_rate,
                    percentile_ms(&idle, 50.0)
                ))
                .into(),
        );
    }
    println!(
        "throughput: {:.0} requests and sync frames answered per second (deliveries and \
         /health probes apart)",
        total as f64 / seconds
    );
    println!();
    println!("error answers by status and code:");
    let mut codes: std::collections::BTreeMap<String, u64> = Default::default();
    for route in routes.values() {
        for (code, n) in &route.codes {
            *codes.entry(code.clone()).or_default() += n;
        }
    }
    for (code, n) in &codes {
        println!("  {code}: {n}");
    }
    let sync_codes = tally
        .codes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    for (code, n) in &sync_codes {
        println!("  sync {code}: {n}");
    }
    println!("connection closes seen by sync clients:");
    for (close, n) in tally
        .closes
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
    {
        println!("  {close}: {n}");
    }

    // Judgements.
    let windows = stats.windows();
    for w in &windows {
        println!(
            "fault window {}: {:.1} s to {:.1} s",
            w.name,
            w.start.as_secs_f64(),
            w.end.as_secs_f64()
        );
    }
    let notable = stats.notable();
    let mut grouped: std::collections::BTreeMap<String, (u64, f64)> = Default::default();
    let mut explained = 0;
    let (mut undocumented, mut outside) = (0u64, 0u64);
    let mut last_after: Vec<f64> = vec![0.0; windows.len()];
    for n in &notable {
        if stats.documented(&n.code) != Some(n.status) {
            undocumented += 1;
            let e = grouped
                .entry(format!(
                    "undocumented answer {} {} on {} (instance {})",
                    n.status, n.code, n.route, n.instance
                ))
                .or_insert((0, n.at.as_secs_f64()));
            e.0 += 1;
            continue;
        }
        if n.status < 500 || n.provoked {
            continue;
        }
        // The latest fault begun by then, if this is within its grace.
        let window = windows
            .iter()
            .rposition(|w| n.at + Duration::from_secs(1) >= w.start)
            .filter(|&i| n.at <= windows[i].end + RECOVERY_GRACE);
        match window {
            Some(i) => {
                explained += 1;
                let w = &windows[i];
                if n.at > w.end {
                    last_after[i] = last_after[i].max((n.at - w.end).as_secs_f64());
                }
            }
            None => {
                outside += 1;
                let e = grouped
                    .entry(format!(
                        "5xx outside any fault: {} {} on {} (instance {})",
                        n.status, n.code, n.route, n.instance
                    ))
                    .or_insert((0, n.at.as_secs_f64()));
                e.0 += 1;
            }
        }
    }
    for (what, (count, first)) in grouped {
        failures.push(format!("{what}: {count} times, the first at {first:.1} s"));
    }
    println!("5xx answers during a fault or within {RECOVERY_GRACE:?} after it: {explained}");
    let error_answers: u64 = routes.values().flat_map(|r| r.codes.values()).sum();
    records.push(
        Count::new(
            "error answers with an undocumented code or status",
            undocumented as f64,
            "answers",
        )
        .of(error_answers as f64)
        .goal(
            Goal::AtMost(0.0),
            "every code in spec/error-codes.toml, with its status",
        )
        .into(),
    );
    records.push(
        Count::new("5xx answers outside a fault", outside as f64, "answers")
            .goal(
                Goal::AtMost(0.0),
                format!(
                    "none, but during a fault the driver caused or {} s after it",
                    RECOVERY_GRACE.as_secs()
                ),
            )
            .note(format!("{explained} within a fault's window or grace"))
            .into(),
    );
    for (w, after) in windows.iter().zip(&last_after) {
        println!(
            "  {}: the last such 5xx {after:.1} s after the fault's end",
            w.name
        );
    }
    if !windows.is_empty() {
        let timeline = stats.timeline();
        println!("items routes per second (ok/4xx/5xx/no answer), around each fault:");
        for w in &windows {
            let from = w.start.as_secs().saturating_sub(2) as usize;
            let to = ((w.end + Duration::from_secs(8)).as_secs() as usize).min(timeline.len());
            let cells: Vec<String> = (from..to)
                .map(|s| {
                    let c = timeline[s];
                    format!("{s}s {}/{}/{}/{}", c[0], c[1], c[2], c[3])
                })
                .collect();
            println!("  {}: {}", w.name, cells.join(" | "));
        }
        // Recovered by itself: the last ten seconds of load served items without a 5xx.
        let end = stopped_at.as_secs() as usize;
        let tail: Vec<[u64; 4]> = timeline
            .iter()
            .skip(end.saturating_sub(10))
            .take(10.min(end))
            .copied()
            .collect();
        let ok: u64 = tail.iter().map(|c| c[0]).sum();
        let bad: u64 = tail.iter().map(|c| c[2] + c[3]).sum();
        println!("last 10 s of load: {ok} items answers ok, {bad} 5xx or unanswered");
        records.push(
            Count::new(
                "items requests answered 5xx or not at all in the last 10 s of load",
                bad as f64,
                "requests",
            )
            .of((ok + bad) as f64)
            .goal(Goal::AtMost(0.0), "recovered from the fault by itself")
            .into(),
        );
        if ok == 0 || bad > 0 {
            failures.push(format!(
                "not recovered by the end: {ok} ok and {bad} failed items requests in the last 10 s"
            ));
        }
    }
    let cut: u64 = routes
        .iter()
        .filter(|(n, _)| !n.starts_with("hostile"))
        .flat_map(|(_, r)| r.transport.iter())
        .filter(|(k, _)| k.as_str() != "connect")
        .map(|(_, n)| n)
        .sum();
    println!(
        "requests without an answer (cut, timed out or body cut; connection refused apart): {cut}"
    );
    if cut > 0 && o.fault != Fault::Kill {
        failures.push(format!("{cut} requests got no answer"));
    }
    // HTTP requests (upgrades included): not the sync frames, which the routes table also has.
    let asked: u64 = routes
        .iter()
        .filter(|(n, _)| {
            !n.starts_with("hostile") && **n != "sync.publish" && **n != "sync.delivery"
        })
        .map(|(_, r)| r.count)
        .sum();
    let unanswered =
        Count::new("HTTP requests without an answer", cut as f64, "requests").of(asked as f64);
    records.push(
        if o.fault == Fault::Kill {
            unanswered.note("not judged: SIGKILL cuts what the killed instance was serving")
        } else if o.fault == Fault::Term {
            unanswered.goal(
                Goal::AtMost(0.0),
                "none, SIGTERM included: the instance drains its requests",
            )
        } else {
            unanswered.goal(Goal::AtMost(0.0), "every request answered")
        }
        .into(),
    );

    println!();
    println!(
        "items acknowledged (201): {}; read back: {}; lost (404): {}; changed: {}; unreadable: {}; \
         creates with no answer or a 5xx (outcome unknown, not counted): {}; 404 for an \
         acknowledged item during the load: {}",
        readback.acked,
        readback.read_back,
        readback.lost,
        readback.changed,
        readback.unreadable,
        ctx.unknown_creates.load(Ordering::Relaxed),
        ctx.missing_during_run.load(Ordering::Relaxed)
    );
    let missing = ctx.missing_during_run.load(Ordering::Relaxed);
    records.push(
        Count::new(
            "acknowledged writes lost",
            (readback.lost + readback.changed + readback.unreadable) as f64,
            "items",
        )
        .of(readback.acked as f64)
        .goal(
            Goal::AtMost(0.0),
            "every item answered 201 read back unchanged",
        )
        .note(format!(
            "lost (404) {}, changed {}, unreadable {}; {} creates of unknown outcome not counted",
            readback.lost,
            readback.changed,
            readback.unreadable,
            ctx.unknown_creates.load(Ordering::Relaxed)
        ))
        .into(),
    );
    records.push(
        Count::new(
            "acknowledged items answered 404 during the load",
            missing as f64,
            "reads",
        )
        .goal(
            Goal::AtMost(0.0),
            "an acknowledged item is there from its 201 on",
        )
        .into(),
    );
    if readback.lost + readback.changed + readback.unreadable > 0 || missing > 0 {
        failures.push("acknowledged items lost, changed or unreadable".to_owned());
    }
    println!(
        "sync: {} published, {} acknowledged: {} delivered, {} lost with a 3004 report, {} lost \
         unreported; {} unanswered when their connection closed",
        tally.published.load(Ordering::Relaxed),
        sync.acked,
        sync.delivered,
        sync.loss_reported,
        sync.lost_unreported,
        tally.unanswered.load(Ordering::Relaxed)
    );
    println!(
        "sync subscribers: {} deliveries, {} duplicates, {} offsets skipped without 3004, {} new \
         epochs without 3004, {} loss reports (3004), {} reconnections, {} channels resumed \
         (RESUMED)",
        tally.deliveries.load(Ordering::Relaxed),
        tally.duplicates.load(Ordering::Relaxed),
        tally.gaps.load(Ordering::Relaxed),
        tally.unreported_epochs.load(Ordering::Relaxed),
        tally.loss_reports.load(Ordering::Relaxed),
        tally.reconnects.load(Ordering::Relaxed),
        tally.resumed.load(Ordering::Relaxed)
    );
    records.push(
        Count::new(
            "acknowledged sync messages lost",
            sync.lost_unreported as f64,
            "messages",
        )
        .of(sync.acked as f64)
        .goal(
            Goal::AtMost(0.0),
            "every ACKed message delivered, or its loss reported with ERROR 3004",
        )
        .note(format!(
            "{} delivered, {} lost with a 3004 report",
            sync.delivered, sync.loss_reported
        ))
        .into(),
    );
    let disorder = tally.duplicates.load(Ordering::Relaxed)
        + tally.gaps.load(Ordering::Relaxed)
        + tally.unreported_epochs.load(Ordering::Relaxed);
    records.push(
        Count::new(
            "sync deliveries duplicated, or offsets skipped without 3004",
            disorder as f64,
            "deliveries",
        )
        .of(tally.deliveries.load(Ordering::Relaxed) as f64)
        .goal(
            Goal::AtMost(0.0),
            "no duplicate or gap, across reconnections and RESUME",
        )
        .note(format!(
            "duplicates {}, offsets skipped {}, new epochs without 3004 {}; {} reconnections, \
             {} channels resumed",
            tally.duplicates.load(Ordering::Relaxed),
            tally.gaps.load(Ordering::Relaxed),
            tally.unreported_epochs.load(Ordering::Relaxed),
            tally.reconnects.load(Ordering::Relaxed),
            tally.resumed.load(Ordering::Relaxed)
        ))
        .into(),
    );
    let nacked: u64 = sync.nacked.values().sum();
    let nacked_delivered: u64 = sync
        .nacked_delivered
        .iter()
        .filter(|(code, _)| **code != 3003)
        .map(|(_, n)| n)
        .sum();
    records.push(
        Count::new(
            "messages answered NACK (other than 3003) that reached a subscriber",
            nacked_delivered as f64,
            "messages",
        )
        .of(nacked as f64)
        .goal(
            Goal::AtMost(0.0),
            "a NACK is final; spec/sync.md allows a false 3003 alone",
        )
        .into(),
    );
    for (code, n) in &sync.nacked {
        let delivered = sync.nacked_delivered.get(code).copied().unwrap_or(0);
        println!(
            "sync: {n} answered NACK {code}, of which {delivered} reached a subscriber all the same"
        );
        if *code != 3003 && delivered > 0 {
            failures.push(format!(
                "{delivered} messages answered NACK {code} reached a subscriber (spec/sync.md allows that false negative for 3003 alone)"
            ));
        }
    }
    if sync.lost_unreported
        + tally.duplicates.load(Ordering::Relaxed)
        + tally.gaps.load(Ordering::Relaxed)
        + tally.unreported_epochs.load(Ordering::Relaxed)
        > 0
    {
        failures.push("sync messages lost without a report, repeated or out of order".to_owned());
    }
    if sync.acked == 0 {
        failures.push("no sync message was acknowledged".to_owned());
    }
    if o.fault == Fault::Term {
        let closes = tally.closes.lock().unwrap_or_else(|p| p.into_inner());
        let bare = closes
            .iter()
            .filter(|(k, _)| k.contains("no close frame"))
            .map(|(_, n)| n)
            .sum::<u64>();
        let going_away = closes
            .iter()
            .filter(|(k, _)| k.ends_with(" 1001"))
            .map(|(_, n)| n)
            .sum::<u64>();
        println!(
            "SIGTERM: exit {}; sync connections closed with 1001: {going_away}; without a close frame: {bare}",
            term_exit.unwrap_or("?")
        );
        records.push(
            Count::new(
                "sync connections of the stopped instance closed with 1001",
                going_away as f64,
                "connections",
            )
            .of((going_away + bare) as f64)
            .goal(
                Goal::AtLeast((going_away + bare).max(1) as f64),
                "every one, none cut without a close frame",
            )
            .into(),
        );
        records.push(
            Count::new(
                "instances that did not exit 0 within 40 s of SIGTERM",
                if term_code == Some(0) { 0.0 } else { 1.0 },
                "instances",
            )
            .of(1.0)
            .goal(Goal::AtMost(0.0), "the stopped instance exits 0")
            .note(term_exit.unwrap_or("?"))
            .into(),
        );
        if bare > 0 || going_away == 0 {
            failures.push(format!(
                "SIGTERM: {going_away} sync connections closed with 1001, {bare} cut without a close frame"
            ));
        }
        if !term_exit.is_some_and(|s| s.contains("exit status: 0")) {
            failures.push("SIGTERM: the instance did not exit 0".to_owned());
        }
    }
    failures
}

/// The last line: `verdict: PASS`, or what failed.
fn verdict(failures: &[String]) -> bool {
    println!();
    if failures.is_empty() {
        println!(
            "verdict: PASS (every code documented, every 5xx within a fault, nothing acknowledged lost)"
        );
        true
    } else {
        for f in failures.iter().take(40) {
            println!("FAIL: {f}");
        }
        if failures.len() > 40 {
            println!("... and {} more", failures.len() - 40);
        }
        false
    }
}

/// The soak's samples: the series, the slope of memory after warm-up (the first fifth),
/// and descriptors at the start, at the end of the load and after 15 s idle.
fn report_samples(
    o: &Options,
    samples: &[Sample],
    baseline: &[Option<(u64, u64)>],
    at_stop: &[Option<(u64, u64)>],
    after: &[Option<(u64, u64)>],
    records: &mut Vec<Record>,
    failures: &mut Vec<String>,
) {
    let several = baseline.len() > 1;
    for i in 0..baseline.len() {
        let whose = |what: &str| {
            if several {
                format!("{what} (instance {})", char::from(b'A' + i as u8))
            } else {
                what.to_owned()
            }
        };
        let show = |s: Option<(u64, u64)>| {
            s.map_or("gone".to_owned(), |(rss, fds)| {
                format!("{:.1} MiB, {fds} fds", rss as f64 / 1024.0)
            })
        };
        println!(
            "instance {i}: before the load {}; at its end {}; 15 s after {}",
            show(baseline[i]),
            show(at_stop[i]),
            show(after[i])
        );
        if o.sample == 0 {
            continue;
        }
        let series: Vec<&Sample> = samples.iter().filter(|s| s.instance == i).collect();
        if series.is_empty() {
            continue;
        }
        let warm = o.duration as f64 / 5.0;
        let points: Vec<(f64, f64)> = series
            .iter()
            .filter(|s| s.at >= warm)
            .map(|s| (s.at / 60.0, s.rss_kib as f64 / 1024.0))
            .collect();
        let fd_points: Vec<(f64, f64)> = series
            .iter()
            .filter(|s| s.at >= warm)
            .map(|s| (s.at / 60.0, s.fds as f64))
            .collect();
        let rss: Vec<String> = series
            .iter()
            .map(|s| format!("{:.0}:{:.1}", s.at, s.rss_kib as f64 / 1024.0))
            .collect();
        let fds: Vec<String> = series.iter().map(|s| s.fds.to_string()).collect();
        println!("  RSS MiB by second: {}", rss.join(" "));
        println!("  open fds: {}", fds.join(" "));
        let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        let rss_slope = slope(&points);
        // Doubling in a day: the most a process restarted daily could grow (README).
        let bound = lo / DAY_MINUTES;
        println!(
            "  after warm-up ({warm:.0} s): RSS {lo:.1} to {hi:.1} MiB, fitted slope {rss_slope:+.3} MiB/min \
             (bound {bound:.3}: {lo:.1} MiB more in a day); fds fitted slope {:+.2} /min",
            slope(&fd_points)
        );
        if points.len() >= 2 {
            let minutes = points.last().map_or(0.0, |p| p.0) - points[0].0;
            records.push(
                Count::new(whose("RSS slope after warm-up"), rss_slope, "MiB/min")
                    .goal(
                        Goal::AtMost(bound),
                        format!(
                            "at most what would double the lowest RSS after warm-up ({lo:.1} MiB) in a day"
                        ),
                    )
                    .note(format!(
                        "least squares over {} samples, {minutes:.1} min after the first {warm:.0} s; \
                         RSS {lo:.1} to {hi:.1} MiB; before the load {}",
                        points.len(),
                        baseline[i].map_or("?".to_owned(), |(rss, _)| format!("{:.1} MiB", rss as f64 / 1024.0))
                    ))
                    .into(),
            );
            if rss_slope > bound {
                failures.push(format!(
                    "{}: {rss_slope:+.3} MiB/min, above {bound:.3} (doubling in a day)",
                    whose("RSS slope after warm-up")
                ));
            }
        }
        if let (Some((_, before)), Some((_, idle))) = (baseline[i], after[i]) {
            if idle > before {
                println!(
                    "  descriptors: {idle} after the load, {before} before it (+{})",
                    idle - before
                );
            }
            let during = series
                .iter()
                .map(|s| s.fds)
                .fold((u64::MAX, 0), |(lo, hi), f| (lo.min(f), hi.max(f)));
            records.push(
                Count::new(
                    whose("descriptors 15 s after the load, above the count before it"),
                    idle as f64 - before as f64,
                    "descriptors",
                )
                .goal(
                    Goal::AtMost(FD_SLACK as f64),
                    format!(
                        "back to the count before the load but for the pools' connections ({FD_SLACK})"
                    ),
                )
                .note(format!("{before} before the load, {}-{} during it, {idle} after", during.0, during.1))
                .into(),
            );
            if idle > before + FD_SLACK {
                failures.push(format!(
                    "{}: {idle} descriptors 15 s after the load, {before} before it (at most {FD_SLACK} more)",
                    whose("descriptors")
                ));
            }
        }
    }
}

/// Minutes in a day: the soak's memory bound is doubling in one.
const DAY_MINUTES: f64 = 24.0 * 60.0;

/// Descriptors an instance may keep open after the load: the database pool's ten
/// connections and Redis's (the broker's, the pub/sub feed, the stores'), which stay open.
const FD_SLACK: u64 = 16;
