//! The query module against both back ends: migrations, the items repository, the cache's
//! invalidation through real writes, transactions, and Properties 19-21.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use dx_error::{DxError, ErrorCode};
use dx_query::{
    Backend, Database, Items, PoolConfig, ProductionQueryClient, QueryConfig, QueryErrorKind,
    Statement, Value,
};
use proptest::prelude::*;
use serde::Deserialize;

const COUNT_ITEMS: Statement = Statement::select("dx_items", "SELECT COUNT(*) AS n FROM dx_items");

fn client(db: Database) -> ProductionQueryClient {
    ProductionQueryClient::new(db, &QueryConfig::default())
}

#[tokio::test]
async fn migrations_run_once_and_again_without_change() {
    for (name, db) in common::backends(&PoolConfig::default()).await {
        db.migrate().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let items = Items::new(client(db));
        assert_eq!(items.count("nobody").await.unwrap(), 0, "{name}");
    }
}

#[tokio::test]
async fn items_round_trip_page_and_stay_with_their_owner() {
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let items = Items::new(client(db));
        let a = items.create("alice", "first", "one").await.unwrap();
        let b = items.create("alice", "second", "two").await.unwrap();
        let c = items.create("bob", "first", "bob's").await.unwrap();
        assert!(a.id < b.id, "{name}");
        assert_eq!(
            (a.owner.as_str(), a.name.as_str(), a.body.as_str()),
            ("alice", "first", "one")
        );
        assert_eq!(items.get("alice", a.id).await.unwrap(), Some(a.clone()));
        assert_eq!(
            items.get("bob", a.id).await.unwrap(),
            None,
            "{name}: owner scoped"
        );
        let page = items.page("alice", None, 0, 1).await.unwrap();
        assert_eq!(page.items, vec![a.clone()]);
        assert_eq!(page.next, Some(a.id));
        let page = items.page("alice", None, a.id, 1).await.unwrap();
        assert_eq!(page.items, vec![b.clone()]);
        let page = items.page("alice", None, b.id, 1).await.unwrap();
        assert_eq!((page.items.len(), page.next), (0, None));
        // Update and delete are owner scoped too.
        assert_eq!(items.update("bob", a.id, "x", "y").await.unwrap(), None);
        let changed = items
            .update("alice", a.id, "renamed", "new")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (changed.name.as_str(), changed.body.as_str()),
            ("renamed", "new")
        );
        assert!(changed.updated_at >= a.updated_at && changed.created_at == a.created_at);
        assert!(!items.delete("bob", a.id).await.unwrap());
        assert!(items.delete("alice", a.id).await.unwrap());
        assert!(!items.delete("alice", a.id).await.unwrap());
        assert_eq!(items.count("alice").await.unwrap(), 1);
        assert_eq!(items.get("bob", c.id).await.unwrap(), Some(c));
    }
}

#[tokio::test]
async fn searches_are_cached_until_a_write() {
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let items = Items::new(client(db));
        items.create("carol", "apple pie", "").await.unwrap();
        let first = items.page("carol", Some("pie"), 0, 10).await.unwrap();
        let again = items.page("carol", Some("pie"), 0, 10).await.unwrap();
        assert_eq!(first, again);
        let stats = items.client().stats().cache;
        assert_eq!((stats.hits, stats.misses), (1, 1), "{name}");
        // A write to the table: the next search sees it.
        items.create("carol", "cherry pie", "").await.unwrap();
        let after = items.page("carol", Some("pie"), 0, 10).await.unwrap();
        assert_eq!(after.items.len(), 2, "{name}: invalidated on write");
        let id = after.items[0].id;
        items.update("carol", id, "apple tart", "").await.unwrap();
        assert_eq!(
            items
                .page("carol", Some("pie"), 0, 10)
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        items.delete("carol", after.items[1].id).await.unwrap();
        assert!(
            items
                .page("carol", Some("pie"), 0, 10)
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }
}

#[tokio::test]
async fn transactions_commit_all_or_nothing() {
    const ADD: Statement = Statement::insert(
        "dx_items",
        "INSERT INTO dx_items (owner, name, body, created_at, updated_at) VALUES ($1, $2, '', 0, 0)",
    );
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let c = client(db);
        let items = Items::new(c.clone());
        let counts = c
            .transaction(&[
                (ADD, vec!["dave".into(), "a".into()]),
                (ADD, vec!["dave".into(), "b".into()]),
            ])
            .await
            .unwrap();
        assert_eq!(counts, [1, 1], "{name}");
        let err = c
            .transaction(&[
                (ADD, vec!["dave".into(), "c".into()]),
                (ADD, vec!["dave".into(), "a".into()]),
            ])
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            QueryErrorKind::ConstraintViolation,
            "{name}: {err}"
        );
        assert_eq!(items.count("dave").await.unwrap(), 2, "{name}: rolled back");
        assert!(c.transaction(&[]).await.unwrap().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Property 19: SQL injection prevention.

/// Classic payloads, each also a search needle.
const PAYLOADS: &[&str] = &[
    "'; DROP TABLE dx_items; --",
    "' OR '1'='1",
    "\" OR \"\"=\"",
    "1; DELETE FROM dx_items WHERE 1=1",
    "admin'--",
    "/* comment */ SELECT",
    "%",
    "_",
    "\\",
    "'; UPDATE dx_items SET owner = 'mallory' WHERE ''='",
    "$1",
    "?1",
    "Robert'); DROP TABLE Students;--",
    "\u{202e}\u{feff}ünïcødé 🦀 ' ; --",
];

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(PAYLOADS).prop_map(str::to_owned),
        "[';\"\\-/*%_ a-zA-Z0-9]{0,24}",
        any::<String>().prop_map(|s| s.replace('\0', "")),
        (proptest::sample::select(PAYLOADS), "[a-z]{0,4}").prop_map(|(p, s)| format!("{s}{p}{s}")),
    ]
}

#[derive(Debug, Deserialize)]
struct TableCount {
    n: i64,
}

async fn schema_tables(c: &ProductionQueryClient) -> i64 {
    const PG: Statement = Statement::select(
        "information_schema",
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()",
    )
    .with_sqlite("SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table'");
    let rows: Vec<TableCount> = c.query(&PG, &[]).await.unwrap();
    rows[0].n
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// Feature: production-readiness, Property 19: SQL Injection Prevention
    #[test]
    fn injection_payloads_are_stored_and_searched_as_plain_data(
        entries in proptest::collection::vec((text(), text()), 1..6),
        needle in text(),
    ) {
        let (rt, dbs) = &*SHARED;
        rt.block_on(async {
            for (name, db) in dbs.iter() {
                let c = client(db.clone());
                let items = Items::new(c.clone());
                let owner = format!("p19-{}", uuid::Uuid::new_v4().simple());
                let canary = items.create("p19-canary", &owner, "untouched").await.unwrap();
                let tables = schema_tables(&c).await;
                let mut stored = Vec::new();
                for (i, (item_name, body)) in entries.iter().enumerate() {
                    let unique = format!("{i}:{item_name}");
                    let item = items.create(&owner, &unique, body).await.unwrap();
                    prop_assert_eq!(&item.name, &unique, "{}", name);
                    prop_assert_eq!(&item.body, body, "{}", name);
                    let read = items.get(&owner, item.id).await.unwrap().unwrap();
                    prop_assert_eq!(&read, &item, "{}", name);
                    stored.push(item);
                }
                // Searching returns exactly the owner's items whose name contains the needle.
                let found = items.page(&owner, Some(&needle), 0, 100).await.unwrap();
                let got: BTreeSet<i64> = found.items.iter().map(|i| i.id).collect();
                let want: BTreeSet<i64> = stored
                    .iter()
                    .filter(|i| i.name.contains(needle.as_str()))
                    .map(|i| i.id)
                    .collect();
                prop_assert_eq!(got, want, "{}: needle {:?}", name, needle);
                // Nothing else changed: the canary row and the schema.
                prop_assert_eq!(items.get("p19-canary", canary.id).await.unwrap(), Some(canary));
                prop_assert_eq!(schema_tables(&c).await, tables);
                prop_assert_eq!(items.count(&owner).await.unwrap(), stored.len() as i64);
            }
            Ok(())
        })?;
    }
}

/// The runtime and databases Property 19's cases share: an in-memory SQLite database and
/// pooled connections live as long as the runtime that opened them.
static SHARED: std::sync::LazyLock<(tokio::runtime::Runtime, Vec<(&'static str, Database)>)> =
    std::sync::LazyLock::new(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let dbs = rt.block_on(common::backends(&PoolConfig::default()));
        (rt, dbs)
    });

#[tokio::test]
async fn nul_bytes_are_refused_alike_before_the_database() {
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let items = Items::new(client(db));
        for (n, b) in [("a\0b", "x"), ("x", "a\0b")] {
            let e = items.create("erin", n, b).await.unwrap_err();
            assert_eq!(e.kind(), QueryErrorKind::InvalidInput, "{name}");
            assert_eq!(DxError::from(e).code(), ErrorCode::ValidationFailed);
        }
        assert_eq!(
            items
                .page("erin", Some("\0"), 0, 10)
                .await
                .unwrap_err()
                .kind(),
            QueryErrorKind::InvalidInput
        );
        let item = items.create("erin", "ok", "").await.unwrap();
        assert_eq!(
            items
                .update("erin", item.id, "\0", "")
                .await
                .unwrap_err()
                .kind(),
            QueryErrorKind::InvalidInput
        );
        assert_eq!(
            items.count("erin").await.unwrap(),
            1,
            "{name}: nothing stored"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Property 20: connection pool reuse.

/// Holds its connection for a few milliseconds, so a burst overlaps.
const PROBE: Statement =
    Statement::select("probe", "SELECT 1 AS n FROM (SELECT pg_sleep($1)) AS slept")
        .with_sqlite("SELECT 1 AS n WHERE $1 >= 0");
const PG_CONNECTIONS: Statement = Statement::select(
    "pg_stat_activity",
    "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = $1",
);

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// Feature: production-readiness, Property 20: Connection Pool Reuse
    #[test]
    fn any_burst_opens_at_most_the_pool_size(
        max in 1u32..5,
        burst in 1usize..40,
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let config = PoolConfig { max_connections: max, ..PoolConfig::default() };
            let lite = Database::connect_lazy("sqlite::memory:", &config).unwrap();
            let mut dbs = vec![("sqlite", lite, 1u32)];
            if let Some(url) = PG_URL.get_or_init(common::postgres_url) {
                let url = format!("{url}{}application_name=dxq_p20_{max}_{burst}",
                    if url.contains('?') { '&' } else { '?' });
                dbs.push(("postgres", Database::connect_lazy(&url, &config).unwrap(), max));
            }
            for (name, db, bound) in dbs {
                let c = client(db.clone());
                let mut tasks = Vec::new();
                for _ in 0..burst {
                    let c = c.clone();
                    tasks.push(tokio::spawn(async move {
                        c.query::<TableCount>(&PROBE, &[Value::from(0.005)]).await.map(drop)
                    }));
                }
                for t in tasks {
                    t.await.unwrap().unwrap();
                }
                prop_assert!(db.opened() <= u64::from(bound), "{}: opened {} > {}", name, db.opened(), bound);
                prop_assert!(db.size() <= bound);
                prop_assert!(db.opened() >= 1);
                prop_assert_eq!(db.waiting(), 0);
                if db.backend() == Backend::Postgres {
                    // The server's own count agrees.
                    let app = format!("dxq_p20_{max}_{burst}");
                    let rows: Vec<TableCount> = c.query(&PG_CONNECTIONS, &[app.into()]).await.unwrap();
                    prop_assert!(rows[0].n <= i64::from(bound), "pg_stat_activity: {}", rows[0].n);
                }
                db.close().await;
            }
            Ok(())
        })?;
    }
}

static PG_URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

// ---------------------------------------------------------------------------------------------
// Property 21: query error structure.

const CANARY: &str = "Canary-Pa55word-7f3e";

fn assert_clean(e: &dx_query::QueryError, name: &str) {
    let dx = DxError::from(e.clone());
    let shown = format!("{e} {e:?} {} {:?}", dx.message(), dx.details());
    for secret in [CANARY, "postgres://", "sqlite:", "hunter2"] {
        assert!(!shown.contains(secret), "{name}: {secret} in {shown}");
    }
    let details = dx.details().expect("details");
    assert_eq!(details["table"], e.table(), "{name}");
    assert_eq!(details["operation"], e.operation().as_str(), "{name}");
    assert_eq!(details["error_type"], e.kind().as_str(), "{name}");
}

#[tokio::test]
async fn failures_carry_kind_context_and_no_secret() {
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let items = Items::new(client(db));
        items.create("frank", "hunter2", "").await.unwrap();
        // Duplicate key: 2003, naming the constraint, not the value.
        let dup = items.create("frank", "hunter2", "").await.unwrap_err();
        assert_eq!(
            dup.kind(),
            QueryErrorKind::ConstraintViolation,
            "{name}: {dup}"
        );
        assert_eq!(
            DxError::from(dup.clone()).code(),
            ErrorCode::DbConstraintViolation
        );
        assert_eq!(
            (dup.table(), dup.operation().as_str()),
            ("dx_items", "insert")
        );
        assert_clean(&dup, name);
        if name == "postgres" {
            // PostgreSQL names the constraint; SQLite's driver does not.
            assert_eq!(dup.constraint(), Some("dx_items_owner_name"), "{name}");
        }
        // A failure that is not a constraint names none.
        const BROKEN: Statement =
            Statement::select("dx_items", "SELECT no_such_column FROM dx_items");
        let other = items
            .client()
            .query::<TableCount>(&BROKEN, &[])
            .await
            .unwrap_err();
        assert_ne!(other.kind(), QueryErrorKind::ConstraintViolation, "{name}");
        assert_eq!(other.constraint(), None, "{name}");
    }
}

/// Every column type a row can carry reads as its JSON value: integers of each width,
/// floats, booleans, text of each kind, bytes as numbers, NULL.
#[tokio::test]
async fn rows_carry_every_column_type() {
    const PG: Statement = Statement::select(
        "types",
        "SELECT CAST(7 AS INT8) AS i8, CAST(-7 AS INT4) AS i4, CAST(300 AS INT2) AS i2, \
         CAST(1.5 AS FLOAT8) AS f8, CAST(0.25 AS FLOAT4) AS f4, TRUE AS b, 'x'::TEXT AS t, \
         'v'::VARCHAR AS v, 'c'::CHAR(1) AS c, 'n'::NAME AS nm, '\\x0102ff'::BYTEA AS y, \
         NULL::TEXT AS z",
    );
    const LITE: Statement = Statement::select(
        "types",
        "SELECT 7 AS i8, 1.5 AS f8, 'x' AS t, x'0102ff' AS y, NULL AS z, (1 = 1) AS b",
    );
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let c = client(db);
        let rows = match name {
            "postgres" => c.query::<serde_json::Value>(&PG, &[]).await.unwrap(),
            _ => c.query::<serde_json::Value>(&LITE, &[]).await.unwrap(),
        };
        let expected = match name {
            "postgres" => serde_json::json!({
                "i8": 7, "i4": -7, "i2": 300, "f8": 1.5, "f4": 0.25, "b": true, "t": "x",
                "v": "v", "c": "c", "nm": "n", "y": [1, 2, 255], "z": null
            }),
            _ => serde_json::json!({
                "i8": 7, "f8": 1.5, "t": "x", "y": [1, 2, 255], "z": null, "b": 1
            }),
        };
        assert_eq!(rows, [expected], "{name}");
    }
}

/// A column of a type rows cannot carry is a decode failure naming the column and type, not
/// a panic or a silent null.
#[tokio::test]
async fn an_unsupported_column_type_is_a_decode_error() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    const UUID: Statement = Statement::select("types", "SELECT gen_random_uuid() AS u");
    let db = Database::connect_lazy(&url, &PoolConfig::default()).unwrap();
    let e = client(db)
        .query::<serde_json::Value>(&UUID, &[])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), QueryErrorKind::Decode, "{e}");
    assert_eq!(
        e.detail(),
        "column u has type UUID, which rows cannot carry"
    );
    assert_eq!(DxError::from(e).code(), ErrorCode::Internal);
}

/// Times are the server's clock in Unix milliseconds: set at creation, moved on update.
#[tokio::test]
async fn items_carry_the_time_they_were_written() {
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let items = Items::new(client(db));
        let before = chrono::Utc::now().timestamp_millis();
        let item = items.create("hana", "clock", "").await.unwrap();
        let after = chrono::Utc::now().timestamp_millis();
        assert!(
            (before..=after).contains(&item.created_at),
            "{name}: {}",
            item.created_at
        );
        assert_eq!(item.updated_at, item.created_at, "{name}");
        tokio::time::sleep(Duration::from_millis(5)).await;
        let changed = items
            .update("hana", item.id, "clock", "tick")
            .await
            .unwrap()
            .unwrap();
        assert!(changed.updated_at > item.updated_at, "{name}");
        assert_eq!(changed.created_at, item.created_at, "{name}");
    }
}

/// A closed pool answers 2001 to queries and transactions alike (a transaction that could
/// not begin for want of a connection is a connection failure, not 2004), and an idle pool
/// reports its connections as idle.
#[tokio::test]
async fn a_closed_pool_is_a_connection_failure() {
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let c = client(db.clone());
        c.query::<TableCount>(&COUNT_ITEMS, &[]).await.unwrap();
        assert!(db.size() >= 1, "{name}");
        // A connection goes back to the pool in the background, after the query returns.
        for _ in 0..100 {
            if db.idle() == db.size() as usize {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(db.idle(), db.size() as usize, "{name}: nothing in use");
        db.close().await;
        let e = c.query::<TableCount>(&COUNT_ITEMS, &[]).await.unwrap_err();
        assert_eq!(e.kind(), QueryErrorKind::ConnectionFailed, "{name}: {e}");
        let steps = [(COUNT_ITEMS, Vec::new())];
        let e = c.transaction(&steps).await.unwrap_err();
        assert_eq!(e.kind(), QueryErrorKind::ConnectionFailed, "{name}: {e}");
    }
}

/// A database that cannot be reached, with retries that outlast the query timeout: the
/// answer names the outage (2001), not only the time (2002).
#[tokio::test]
async fn retries_cut_short_by_the_timeout_still_report_the_outage() {
    let config = PoolConfig {
        acquire_timeout: Duration::from_millis(100),
        query_timeout: Duration::from_millis(700),
        ..PoolConfig::default()
    };
    // Nothing listens on port 1.
    let db = Database::connect_lazy("postgres://dx@127.0.0.1:1/none", &config).unwrap();
    let c = ProductionQueryClient::new(
        db,
        &QueryConfig {
            pool: config,
            recovery: dx_error::RecoveryConfig {
                max_retries: 50,
                base_delay: Duration::from_millis(50),
                max_delay: Duration::from_millis(50),
                jitter: 0.0,
            },
            ..QueryConfig::default()
        },
    );
    let started = std::time::Instant::now();
    let e = c.query::<TableCount>(&COUNT_ITEMS, &[]).await.unwrap_err();
    assert_eq!(e.kind(), QueryErrorKind::ConnectionFailed, "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded by the query timeout"
    );
}

/// Every query is counted by operation and outcome, and timed, in the `metrics` registry
/// (what `/metrics` exports).
#[test]
fn queries_are_counted_and_timed() {
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let db = Database::connect_lazy("sqlite::memory:", &PoolConfig::default()).unwrap();
            db.migrate().await.unwrap();
            let items = Items::new(client(db));
            items.create("gina", "n", "").await.unwrap();
            items.create("gina", "n", "").await.unwrap_err();
        });
    });
    let mut seen = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        match value {
            DebugValue::Counter(n) => seen.push(format!("{} {} {n}", key.name(), labels.join(","))),
            DebugValue::Histogram(v) => {
                seen.push(format!("{} {} x{}", key.name(), labels.join(","), v.len()))
            }
            DebugValue::Gauge(_) => {}
        }
    }
    seen.sort();
    assert!(
        seen.contains(&"dx_query_total operation=insert,outcome=ok 1".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"dx_query_total operation=insert,outcome=constraint_violation 1".to_owned()),
        "{seen:?}"
    );
    assert!(
        seen.contains(&"dx_query_duration_seconds operation=insert x2".to_owned()),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_query_past_its_timeout_is_2002() {
    let config = PoolConfig {
        query_timeout: Duration::from_millis(200),
        ..PoolConfig::default()
    };
    // A recursive count that runs for seconds on either back end.
    const SPIN: Statement = Statement::select(
        "spin",
        "WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 30000000) \
         SELECT COUNT(*) AS n FROM r",
    );
    for (name, db) in common::backends(&config).await {
        let c = ProductionQueryClient::new(
            db,
            &QueryConfig {
                pool: config,
                ..QueryConfig::default()
            },
        );
        let started = std::time::Instant::now();
        let e = c.query::<TableCount>(&SPIN, &[]).await.unwrap_err();
        assert_eq!(e.kind(), QueryErrorKind::Timeout, "{name}: {e}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name}: answered promptly"
        );
        assert_eq!(DxError::from(e.clone()).code(), ErrorCode::DbQueryTimeout);
        assert_eq!((e.table(), e.operation().as_str()), ("spin", "select"));
        assert_clean(&e, name);
    }
}

#[tokio::test]
async fn a_delayed_query_times_out_without_holding_a_connection() {
    let config = PoolConfig {
        query_timeout: Duration::from_millis(300),
        ..PoolConfig::default()
    };
    for (name, db) in common::backends(&config).await {
        let c = ProductionQueryClient::new(
            db,
            &QueryConfig {
                pool: config,
                ..QueryConfig::default()
            },
        );
        assert_eq!(c.query_timeout(), Duration::from_millis(300), "{name}");
        let items = Items::new(c.clone());
        const COUNT: Statement =
            Statement::select("dx_items", "SELECT COUNT(*) AS n FROM dx_items");
        let slow = c.query_after::<TableCount>(&COUNT, &[], Duration::from_millis(600));
        // While it waits, the (single, on SQLite) connection serves others.
        let (slow, other) = tokio::join!(slow, items.count("nobody"));
        let e = slow.unwrap_err();
        assert_eq!(e.kind(), QueryErrorKind::Timeout, "{name}");
        assert_eq!(other.unwrap(), 0, "{name}");
        let quick = c
            .query_after::<TableCount>(&COUNT, &[], Duration::from_millis(1))
            .await
            .unwrap();
        assert_eq!(quick[0].n, 0, "{name}");
    }
}

#[tokio::test]
async fn an_unreachable_database_is_2001_without_its_url() {
    let config = PoolConfig {
        acquire_timeout: Duration::from_millis(500),
        ..PoolConfig::default()
    };
    let url = format!("postgres://app:{CANARY}@127.0.0.1:1/nowhere");
    let db = Database::connect_lazy(&url, &config).unwrap();
    let items = Items::new(client(db));
    let started = std::time::Instant::now();
    let e = items.count("x").await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    // sqlx reports "could not connect in time" as a pool timeout; with room in the pool,
    // that is an unreachable database, not an exhausted pool.
    assert_eq!(e.kind(), QueryErrorKind::ConnectionFailed, "{e}");
    assert_clean(&e, "unreachable");
}

#[tokio::test]
async fn an_exhausted_pool_answers_at_once_with_5003() {
    let config = PoolConfig {
        max_connections: 1,
        acquire_timeout: Duration::from_millis(100),
        ..PoolConfig::default()
    };
    for (name, db) in common::backends(&config).await {
        let c = client(db.clone());
        // Hold the only connection in an open transaction on another task.
        let held = match db.pool() {
            dx_query::Pool::Postgres(p) => Held::Pg(p.begin().await.unwrap()),
            dx_query::Pool::Sqlite(p) => Held::Lite(p.begin().await.unwrap()),
        };
        // A transaction that cannot begin for want of a connection is exhaustion too, not
        // a failed transaction.
        let steps = [(COUNT_ITEMS, Vec::new())];
        let e = c.transaction(&steps).await.unwrap_err();
        assert_eq!(e.kind(), QueryErrorKind::PoolExhausted, "{name}: {e}");
        // While a query waits for the connection, it is counted as waiting (/metrics).
        let waiter = tokio::spawn({
            let c = c.clone();
            async move { c.query::<TableCount>(&COUNT_ITEMS, &[]).await }
        });
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(db.waiting(), 1, "{name}: one query waiting");
        assert!(waiter.await.unwrap().is_err());
        assert_eq!(db.waiting(), 0, "{name}: none waiting after");
        let items = Items::new(c);
        let started = std::time::Instant::now();
        let e = items.count("y").await.unwrap_err();
        assert_eq!(e.kind(), QueryErrorKind::PoolExhausted, "{name}: {e}");
        assert!(started.elapsed() < Duration::from_secs(2), "{name}");
        assert_eq!(
            DxError::from(e.clone()).code(),
            ErrorCode::ResourceExhausted
        );
        assert_clean(&e, name);
        drop(held);
        assert_eq!(items.count("y").await.unwrap(), 0, "{name}: served again");
    }
}

#[allow(dead_code)]
enum Held {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

#[tokio::test]
async fn many_tasks_share_one_cached_search() {
    for (name, db) in common::backends(&PoolConfig::default()).await {
        let items = Arc::new(Items::new(client(db)));
        items.create("gina", "shared", "").await.unwrap();
        let before = items.client().stats().executed;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let items = items.clone();
            tasks.push(tokio::spawn(async move {
                items
                    .page("gina", Some("sha"), 0, 10)
                    .await
                    .unwrap()
                    .items
                    .len()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), 1);
        }
        let ran = items.client().stats().executed - before;
        assert_eq!(ran, 1, "{name}: single flight");
    }
}

/// Terminates the first backend of `application` running a statement that contains
/// `needle`, as an administrator or a failover would; returns once it has.
async fn terminate_when_running(url: &str, application: &str, needle: &str) {
    let admin = sqlx::PgPool::connect(url).await.unwrap();
    for _ in 0..500 {
        let (killed,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = $1 AND state = 'active' AND strpos(query, $2) > 0) t",
        )
        .bind(application)
        .bind(needle)
        .fetch_one(&admin)
        .await
        .unwrap();
        if killed > 0 {
            admin.close().await;
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the statement never ran");
}

/// A read whose connection is terminated mid-statement is run again on a new connection
/// (requirement: a lost connection is retried with `RecoveryConfig`); with no retries it
/// fails with 2001, and a write is never retried (it may have committed).
#[tokio::test]
async fn a_read_that_loses_its_connection_is_retried_and_a_write_is_not() {
    let Some(url) = common::postgres_url() else {
        return;
    };
    const SLOW_READ: Statement =
        Statement::select("dx_items", "SELECT 1::BIGINT AS n FROM pg_sleep(0.4)");
    const SLOW_WRITE: Statement = Statement::update(
        "dx_items",
        "UPDATE dx_items SET body = body FROM pg_sleep(0.4) WHERE dx_items.id < 0",
    );
    let application = format!(
        "dxq_retry_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let scratch = common::scratch_schema(&url, &application).await;
    let config = PoolConfig::default();
    let client = |retries: u32| {
        let db = Database::connect_lazy(&scratch, &config).unwrap();
        ProductionQueryClient::new(
            db,
            &QueryConfig {
                pool: config,
                recovery: dx_error::RecoveryConfig {
                    max_retries: retries,
                    base_delay: Duration::from_millis(20),
                    ..dx_error::RecoveryConfig::default()
                },
                ..QueryConfig::default()
            },
        )
    };
    let retrying = client(3);
    retrying.database().migrate().await.unwrap();

    let (read, ()) = tokio::join!(
        retrying.query::<TableCount>(&SLOW_READ, &[]),
        terminate_when_running(&url, &application, "pg_sleep(0.4)")
    );
    let read = read.expect("the read is retried on a new connection");
    assert_eq!(read.len(), 1);
    assert!(
        retrying.database().opened() >= 2,
        "a new connection was opened"
    );

    let once = client(0);
    let (read, ()) = tokio::join!(
        once.query::<TableCount>(&SLOW_READ, &[]),
        terminate_when_running(&url, &application, "pg_sleep(0.4)")
    );
    let e = read.unwrap_err();
    assert_eq!(e.kind(), QueryErrorKind::ConnectionFailed, "{e}");
    assert_eq!(
        DxError::from(e.clone()).code(),
        ErrorCode::DbConnectionFailed
    );
    assert_clean(&e, "postgres");

    let (write, ()) = tokio::join!(
        retrying.execute(&SLOW_WRITE, &[]),
        terminate_when_running(&url, &application, "pg_sleep(0.4)")
    );
    let e = write.unwrap_err();
    assert_eq!(e.kind(), QueryErrorKind::ConnectionFailed, "{e}");
    assert_eq!((e.table(), e.operation().as_str()), ("dx_items", "update"));
}
