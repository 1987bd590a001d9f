//! The query path's cost, each side next to its peer in the same run on the same pool, so the
//! printed ratios mean something on any machine:
//!
//! - `read`: [`Items::get`] (the client: the timeout, the waiting count, binding, rows read as
//!   JSON objects and then as an `Item`, metrics) against raw sqlx running the same statement
//!   text with the same binds on the same pool and reading the same columns into the same
//!   struct. Goal (issue: query module): under 10 % overhead.
//! - `cached`: a search served from the cache ([`Items::page`] with a search text, the same
//!   key every time) against the same raw sqlx statement reaching the database every time.
//!
//! SQLite in memory always (where the database is fastest, so our overhead shows most);
//! PostgreSQL too when `DATABASE_URL` names one (each run in a scratch schema it drops).
//! Each comparison warms both sides up, then runs interleaved rounds (which side goes first
//! alternates) and prints the median rate of each side, their ratio and the range of the
//! per-round ratios.
//!
//! Run: `cargo bench -p dx-query --bench query_path` (add `DATABASE_URL=postgres://…` for
//! PostgreSQL). Without `--bench` (as `cargo test --benches` runs it) it is a short smoke pass.

// A benchmark is a test program: a failed setup should stop it loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use dx_bench_record::{Figure, Goal};
use dx_query::items::{GET, SEARCH};
use dx_query::{
    Backend, Database, Item, Items, Pool, PoolConfig, ProductionQueryClient, QueryConfig,
};
use sqlx::Row;

/// Items the owner holds.
const ITEMS: i64 = 1_000;
/// Queries between two looks at the clock.
const BATCH: usize = 64;
const OWNER: &str = "bench-owner";

#[derive(Debug, Clone, Copy)]
struct Settings {
    warm_up: Duration,
    round: Duration,
    rounds: usize,
}

impl Settings {
    fn from_args() -> Self {
        if std::env::args().any(|a| a == "--bench") {
            Self {
                warm_up: Duration::from_millis(500),
                round: Duration::from_millis(300),
                rounds: 10,
            }
        } else {
            Self {
                warm_up: Duration::from_millis(10),
                round: Duration::from_millis(20),
                rounds: 2,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    Raw,
}

/// Reads an item the way a hand-written sqlx caller would.
macro_rules! item_of {
    ($row:expr) => {
        Item {
            id: $row.try_get("id").unwrap(),
            owner: $row.try_get("owner").unwrap(),
            name: $row.try_get("name").unwrap(),
            body: $row.try_get("body").unwrap(),
            created_at: $row.try_get("created_at").unwrap(),
            updated_at: $row.try_get("updated_at").unwrap(),
        }
    };
}

/// Raw sqlx: `statement` with the same binds, rows read into items.
async fn raw(db: &Database, sql_pg: &'static str, sql_lite: &'static str, binds: &Binds) -> usize {
    match db.pool() {
        Pool::Postgres(pool) => {
            let mut q = sqlx::query(sql_pg).bind(OWNER);
            q = binds.apply_pg(q);
            let rows = q.fetch_all(pool).await.unwrap();
            rows.iter()
                .map(|r| item_of!(r))
                .filter(|i| i.id > 0)
                .count()
        }
        Pool::Sqlite(pool) => {
            let mut q = sqlx::query(sql_lite).bind(OWNER);
            q = binds.apply_lite(q);
            let rows = q.fetch_all(pool).await.unwrap();
            rows.iter()
                .map(|r| item_of!(r))
                .filter(|i| i.id > 0)
                .count()
        }
    }
}

/// The binds after the owner.
enum Binds {
    Id(i64),
    Search(&'static str, i64, i64),
}

impl Binds {
    fn apply_pg<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
        match *self {
            Self::Id(id) => q.bind(id),
            Self::Search(text, after, limit) => q.bind(text).bind(after).bind(limit),
        }
    }

    fn apply_lite<'q>(
        &self,
        q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
        match *self {
            Self::Id(id) => q.bind(id),
            Self::Search(text, after, limit) => q.bind(text).bind(after).bind(limit),
        }
    }
}

/// What one comparison runs.
#[derive(Debug, Clone, Copy)]
enum Workload {
    Read,
    CachedSearch,
}

async fn one(items: &Items, side: Side, workload: Workload, i: i64) -> usize {
    let id = 1 + i % ITEMS;
    match (side, workload) {
        (Side::Ours, Workload::Read) => usize::from(items.get(OWNER, id).await.unwrap().is_some()),
        (Side::Raw, Workload::Read) => {
            let db = items.client().database();
            raw(
                db,
                GET.sql(Backend::Postgres),
                GET.sql(Backend::Sqlite),
                &Binds::Id(id),
            )
            .await
        }
        (Side::Ours, Workload::CachedSearch) => items
            .page(OWNER, Some("item 1"), 0, 10)
            .await
            .unwrap()
            .items
            .len(),
        (Side::Raw, Workload::CachedSearch) => {
            let db = items.client().database();
            raw(
                db,
                SEARCH.sql(Backend::Postgres),
                SEARCH.sql(Backend::Sqlite),
                &Binds::Search("item 1", 0, 10),
            )
            .await
        }
    }
}

/// Queries per second of `side` for `duration`.
async fn rate(items: &Items, side: Side, workload: Workload, duration: Duration) -> f64 {
    let started = Instant::now();
    let mut done = 0u64;
    let mut found = 0usize;
    loop {
        for i in 0..BATCH {
            found += one(items, side, workload, done as i64 + i as i64).await;
        }
        done += BATCH as u64;
        if started.elapsed() >= duration {
            break;
        }
    }
    assert!(found > 0, "{side:?} found nothing");
    done as f64 / started.elapsed().as_secs_f64()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn compare(name: &str, items: &Items, workload: Workload, settings: Settings) {
    rate(items, Side::Ours, workload, settings.warm_up).await;
    rate(items, Side::Raw, workload, settings.warm_up).await;
    let (mut ours, mut raw, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..settings.rounds {
        let (o, r) = if round % 2 == 0 {
            let o = rate(items, Side::Ours, workload, settings.round).await;
            (o, rate(items, Side::Raw, workload, settings.round).await)
        } else {
            let r = rate(items, Side::Raw, workload, settings.round).await;
            (rate(items, Side::Ours, workload, settings.round).await, r)
        };
        ours.push(o);
        raw.push(r);
        ratios.push(o / r);
    }
    let (o, r) = (median(&mut ours), median(&mut raw));
    let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = ratios.iter().copied().fold(0.0, f64::max);
    match workload {
        Workload::Read => {
            let overhead = 100.0 * (r / o - 1.0);
            let verdict = if overhead < 10.0 { "met" } else { "NOT met" };
            println!(
                "{name} read: ours {o:.0} q/s, raw sqlx {r:.0} q/s, ratio {:.2}x, overhead {overhead:.1}% per query (goal under 10%: {verdict}) [median of {} interleaved rounds of {} ms; per-round ratios {lo:.2}x..{hi:.2}x]",
                o / r,
                settings.rounds,
                settings.round.as_millis()
            );
            Figure::higher_is_better(format!("{name} read by id"), "queries/s")
                .ours("Items::get", o)
                .peer("raw sqlx, same statement and pool", r)
                .goal(
                    Goal::RatioAtLeast(1.0 / 1.1),
                    "under 10 % overhead per query",
                )
                .note(format!(
                    "median of {} interleaved rounds; per-round {lo:.2}x to {hi:.2}x",
                    settings.rounds
                ))
                .record()
                .expect("the results file is writable");
        }
        Workload::CachedSearch => println!(
            "{name} cached search: ours (cache hits) {o:.0} q/s, raw sqlx to the database {r:.0} q/s, ratio {:.2}x [median of {} rounds; per-round {lo:.2}x..{hi:.2}x; cache {:?}]",
            o / r,
            settings.rounds,
            items.client().stats().cache
        ),
    }
    if matches!(workload, Workload::CachedSearch) {
        Figure::higher_is_better(format!("{name} cached search"), "queries/s")
            .ours("Items::search, cache hits", o)
            .peer("raw sqlx reaching the database", r)
            .note(format!("median of {} rounds", settings.rounds))
            .record()
            .expect("the results file is writable");
    }
}

async fn seeded(url: &str) -> Items {
    let db = Database::connect_lazy(url, &PoolConfig::default()).unwrap();
    db.migrate().await.unwrap();
    let items = Items::new(ProductionQueryClient::new(db, &QueryConfig::default()));
    for i in 1..=ITEMS {
        items
            .create(OWNER, &format!("item {i}"), "body")
            .await
            .unwrap();
    }
    items
}

fn main() {
    let settings = Settings::from_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let lite = seeded("sqlite::memory:").await;
        compare("sqlite", &lite, Workload::Read, settings).await;
        compare("sqlite", &lite, Workload::CachedSearch, settings).await;
        match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres") => {
                let schema = format!("dxq_bench_{}", std::process::id());
                let admin = sqlx::PgPool::connect(&url).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                    .execute(&admin)
                    .await
                    .unwrap();
                let sep = if url.contains('?') { '&' } else { '?' };
                let scoped = format!("{url}{sep}options=-c%20search_path%3D{schema}");
                let pg = seeded(&scoped).await;
                compare("postgres", &pg, Workload::Read, settings).await;
                compare("postgres", &pg, Workload::CachedSearch, settings).await;
                pg.client().database().close().await;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .execute(&admin)
                    .await
                    .unwrap();
            }
            _ => println!("postgres: skipped (set DATABASE_URL=postgres://… to run it)"),
        }
    });
}
