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
use serde_json::Value;

use crate::http::{Ctx, Instance, Paths};
use crate::procs::{Server, sample, shell, write_key};
use crate::stats::{Stats, Window, percentile_ms, slope};
use crate::sync::SyncTally;

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
    sample: u64,
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
            sample: 0,
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
                "--sample" => o.sample = value()?.parse()?,
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
        if matches!(o.fault, Fault::Kill | Fault::Term) && o.instances < 2 {
            bail!("--faults kill and term need --instances 2: the clients resume on the other");
        }
        Ok(o)
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

    let pids: Vec<u32> = servers.iter().map(|s| s.pid).collect();
    let baseline: Vec<Option<(u64, u64)>> = pids.iter().map(|&p| sample(p)).collect();

    // The workload.
    let tally = Arc::new(SyncTally::default());
    let mut tasks = tokio::task::JoinSet::new();
    let seed = run_id as u64;
    tasks.spawn(http::logins(Arc::clone(&ctx), o.login_rate, seed ^ 1));
    tasks.spawn(http::refreshes(Arc::clone(&ctx), o.refresh_rate, seed ^ 2));
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
                Ok(Ok(status)) => status.to_string(),
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

    let ok = report(
        &o,
        &stats,
        &ctx,
        &tally,
        stopped_at,
        &readback,
        &sync_result,
        term_exit.as_deref(),
    );
    let memory_ok = report_samples(
        &o,
        &samples.lock().unwrap_or_else(|p| p.into_inner()),
        &baseline,
        &at_stop,
        &after,
    );
    drop(servers);
    Ok(ok && memory_ok)
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
    term_exit: Option<&str>,
) -> bool {
    let mut failures: Vec<String> = Vec::new();
    let seconds = stopped_at.as_secs_f64();
    let routes = stats.routes();
    println!();
    println!(
        "routes ({seconds:.1} s of load; latencies of answered requests; sync.publish is \
         PUBLISH to ACK/NACK, sync.delivery publish to MESSAGE)"
    );
    println!(
        "{:<24} {:>9} {:>8} {:>9} {:>9}  answers",
        "route", "requests", "per s", "p50 ms", "p99 ms"
    );
    let mut total = 0;
    for (name, route) in &routes {
        let mut latencies = route.latencies.clone();
        latencies.sort_unstable();
        let per_s = if name.starts_with("readback") || *name == "register" {
            0.0
        } else {
            route.count as f64 / seconds
        };
        if !name.starts_with("readback") && *name != "register" && *name != "sync.delivery" {
            total += route.count;
        }
        let mut answers: Vec<String> = route
            .statuses
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        answers.extend(route.transport.iter().map(|(k, n)| format!("{k}: {n}")));
        println!(
            "{:<24} {:>9} {:>8.1} {:>9.2} {:>9.2}  {}",
            name,
            route.count,
            per_s,
            percentile_ms(&latencies, 50.0),
            percentile_ms(&latencies, 99.0),
            answers.join(", ")
        );
    }
    println!(
        "throughput: {:.0} requests and sync frames answered per second (deliveries apart)",
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
    let mut last_after: Vec<f64> = vec![0.0; windows.len()];
    for n in &notable {
        if stats.documented(&n.code) != Some(n.status) {
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
    if readback.lost + readback.changed + readback.unreadable > 0
        || ctx.missing_during_run.load(Ordering::Relaxed) > 0
    {
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
        if bare > 0 || going_away == 0 {
            failures.push(format!(
                "SIGTERM: {going_away} sync connections closed with 1001, {bare} cut without a close frame"
            ));
        }
        if !term_exit.is_some_and(|s| s.contains("exit status: 0")) {
            failures.push("SIGTERM: the instance did not exit 0".to_owned());
        }
    }
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
) -> bool {
    let mut ok = true;
    for i in 0..baseline.len() {
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
        println!(
            "  after warm-up ({warm:.0} s): RSS {lo:.1} to {hi:.1} MiB, fitted slope {:+.3} MiB/min; \
             fds fitted slope {:+.2} /min",
            slope(&points),
            slope(&fd_points)
        );
        if let (Some((_, before)), Some((_, idle))) = (baseline[i], after[i])
            && idle > before
        {
            println!(
                "  descriptors: {idle} after the load, {before} before it (+{})",
                idle - before
            );
            ok = ok && idle <= before + 16;
        }
    }
    ok
}
