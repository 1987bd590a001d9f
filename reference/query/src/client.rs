//! The seed's `ProductionQueryClient`: statements with bound parameters on a bounded pool,
//! each under the query timeout, failures classified without the driver's text, results
//! optionally cached, and every query counted in the `metrics` registry.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dx_error::RecoveryConfig;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::cache::{CacheStats, DEFAULT_CACHE_BYTES, QueryCache};
use crate::database::{Database, Pool, PoolConfig};
use crate::error::{QueryError, QueryErrorKind};
use crate::mutants::{self, QueryMutant, QueryMutations};
use crate::rows::{self, UnsupportedColumn};
use crate::statement::{Backend, Statement, Value};

/// The metric counting queries, by `operation` and `outcome` (`ok` or an error kind).
pub const QUERIES_METRIC: &str = "dx_query_total";
/// The metric of query latency in seconds, by `operation`.
pub const LATENCY_METRIC: &str = "dx_query_duration_seconds";

/// Binds every parameter to a sqlx query, in order.
macro_rules! bind_all {
    ($query:expr, $params:expr) => {{
        let mut query = $query;
        for param in $params {
            query = match param {
                Value::Null => query.bind(None::<String>),
                Value::Bool(b) => query.bind(*b),
                Value::Int(i) => query.bind(*i),
                Value::Float(x) => query.bind(*x),
                Value::Text(s) => query.bind(s.clone()),
                Value::Bytes(b) => query.bind(b.clone()),
            };
        }
        query
    }};
}

/// A connection from `$pool`, counted as waiting while it is awaited.
macro_rules! acquire {
    ($self:ident, $pool:expr, $statement:expr) => {{
        let waiting = $self.inner.db.wait();
        let conn = $pool.acquire().await;
        drop(waiting);
        conn.map_err(|e| $self.classify(&e, $statement))?
    }};
}

/// What a client was asked to run, counted since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Statements sent to the database.
    pub executed: u64,
    /// The cache's hits and misses.
    pub cache: CacheStats,
}

/// The client's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryConfig {
    /// The pool and the query timeout.
    pub pool: PoolConfig,
    /// Bytes the result cache may hold.
    pub cache_bytes: u64,
    /// How a read that lost its connection is retried (within the query timeout). Writes
    /// are never retried: a write whose connection died may have committed.
    pub recovery: RecoveryConfig,
}

impl Default for QueryConfig {
    fn default() -> Self {
        Self {
            pool: PoolConfig::default(),
            cache_bytes: DEFAULT_CACHE_BYTES,
            recovery: RecoveryConfig::default(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    db: Database,
    cache: QueryCache,
    query_timeout: Duration,
    recovery: RecoveryConfig,
    executed: AtomicU64,
    mutations: QueryMutations,
}

/// The query client (cheap to clone; clones share the pool and the cache).
#[derive(Debug, Clone)]
pub struct ProductionQueryClient {
    inner: Arc<Inner>,
}

fn decode_error(statement: &Statement, column: &UnsupportedColumn) -> QueryError {
    QueryError::new(
        QueryErrorKind::Decode,
        statement,
        format!(
            "column {} has type {}, which rows cannot carry",
            column.column, column.type_name
        ),
    )
}

impl ProductionQueryClient {
    /// A client on `db` with `config`'s timeout and cache size.
    pub fn new(db: Database, config: &QueryConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                cache: QueryCache::new(config.cache_bytes),
                query_timeout: config.pool.query_timeout,
                recovery: config.recovery.clone(),
                executed: AtomicU64::new(0),
                mutations: config.pool.mutations,
            }),
        }
    }

    /// The pool.
    pub fn database(&self) -> &Database {
        &self.inner.db
    }

    /// The query timeout.
    pub fn query_timeout(&self) -> Duration {
        self.inner.query_timeout
    }

    /// The mutations in force (only ever active in a `mutants` build).
    pub fn mutations(&self) -> QueryMutations {
        self.inner.mutations
    }

    /// Classifies a driver error of `statement` as [`Database::classify`] does.
    fn classify(&self, error: &sqlx::Error, statement: &Statement) -> QueryError {
        let classified = self.inner.db.classify(error, statement);
        if self
            .inner
            .mutations
            .is(QueryMutant::DriverMessagePassthrough)
        {
            return classified.exposing(mutants::driver_text(error));
        }
        classified
    }

    /// Makes `table`'s cached results unreachable (after a committed write).
    fn invalidate(&self, table: &'static str) {
        if !self.inner.mutations.is(QueryMutant::CacheNotInvalidated) {
            self.inner.cache.invalidate(table);
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> QueryStats {
        QueryStats {
            executed: self.inner.executed.load(Ordering::Relaxed),
            cache: self.inner.cache.stats(),
        }
    }

    /// Runs `statement` with `params` and reads every row it returns as a `T`. A statement
    /// that writes invalidates its table's cached results once it has succeeded.
    pub async fn query<T: DeserializeOwned>(
        &self,
        statement: &Statement,
        params: &[Value],
    ) -> Result<Vec<T>, QueryError> {
        decode_rows(statement, self.fetch(statement, params).await?)
    }

    /// Like [`Self::query`], after first waiting `delay` inside the query's time budget:
    /// what a query stuck behind a lock or a slow link looks like to its caller. The
    /// conformance profile's slow-query hook uses it where the database cannot sleep inside a
    /// statement (SQLite), so the timeout is observed without blocking anyone else's queries.
    pub async fn query_after<T: DeserializeOwned>(
        &self,
        statement: &Statement,
        params: &[Value],
        delay: Duration,
    ) -> Result<Vec<T>, QueryError> {
        let started = Instant::now();
        let last_lost = std::sync::Mutex::new(None);
        let run = async {
            tokio::time::sleep(delay).await;
            self.fetch_retrying(statement, params, &last_lost).await
        };
        let rows = self.timed_reporting(statement, run, &last_lost).await;
        self.finish(statement, started, &rows);
        decode_rows(statement, rows?)
    }

    /// Runs `statement` with `params`; returns how many rows it changed.
    pub async fn execute(
        &self,
        statement: &Statement,
        params: &[Value],
    ) -> Result<u64, QueryError> {
        let started = Instant::now();
        let run = async {
            match self.inner.db.pool() {
                Pool::Postgres(pool) => {
                    let mut conn = acquire!(self, pool, statement);
                    bind_all!(sqlx::query(statement.sql(Backend::Postgres)), params)
                        .execute(&mut *conn)
                        .await
                        .map(|done| done.rows_affected())
                }
                Pool::Sqlite(pool) => {
                    let mut conn = acquire!(self, pool, statement);
                    bind_all!(sqlx::query(statement.sql(Backend::Sqlite)), params)
                        .execute(&mut *conn)
                        .await
                        .map(|done| done.rows_affected())
                }
            }
            .map_err(|e| self.classify(&e, statement))
        };
        let result = self.timed(statement, run).await;
        self.finish(statement, started, &result);
        result
    }

    /// Like [`Self::query`] for a statement that reads, with its result cached for `ttl`
    /// under the statement and every parameter; concurrent misses run it once. The seed
    /// passed a `QueryKey` beside the statement: here the key is derived from them, so it
    /// can never leave out a parameter and hand one caller's rows to another
    /// (spec/CHANGES.md). A statement that writes is run, never cached.
    pub async fn query_cached<T: DeserializeOwned>(
        &self,
        statement: &Statement,
        params: &[Value],
        ttl: Duration,
    ) -> Result<Vec<T>, QueryError> {
        if statement.operation().writes() {
            return self.query(statement, params).await;
        }
        let key = self
            .inner
            .cache
            .key(statement, self.inner.db.backend(), params);
        let cached = self
            .inner
            .cache
            .get_or_load(key, ttl, async {
                let rows = self.fetch(statement, params).await?;
                let rows: Vec<Json> = rows.into_iter().map(Json::Object).collect();
                serde_json::to_vec(&rows).map_err(|_| {
                    QueryError::new(
                        QueryErrorKind::Decode,
                        statement,
                        "rows could not be cached",
                    )
                })
            })
            .await?;
        serde_json::from_slice(&cached.json).map_err(|_| {
            QueryError::new(
                QueryErrorKind::Decode,
                statement,
                "a row did not have the expected shape",
            )
        })
    }

    /// Runs every statement in one transaction: all of them or none. Begin and commit
    /// failures are 2004; a statement's own failure keeps its kind (a duplicate is still
    /// 2003) and rolls everything back.
    pub async fn transaction(
        &self,
        steps: &[(Statement, Vec<Value>)],
    ) -> Result<Vec<u64>, QueryError> {
        /// The context of begin and commit.
        const TRANSACTION: Statement = Statement::update("_transaction", "BEGIN");
        let Some((first, _)) = steps.first() else {
            return Ok(Vec::new());
        };
        let started = Instant::now();
        let failed = |e: sqlx::Error| {
            let mut error = self.classify(&e, &TRANSACTION);
            if error.kind() != QueryErrorKind::ConnectionFailed
                && error.kind() != QueryErrorKind::PoolExhausted
            {
                error = QueryError::new(
                    QueryErrorKind::TransactionFailed,
                    &TRANSACTION,
                    error.detail().to_owned(),
                );
            }
            error
        };
        macro_rules! run_steps {
            ($pool:expr, $backend:expr) => {{
                let waiting = self.inner.db.wait();
                let tx = $pool.begin().await;
                drop(waiting);
                let mut tx = tx.map_err(failed)?;
                let mut counts = Vec::with_capacity(steps.len());
                for (statement, params) in steps {
                    let done = bind_all!(sqlx::query(statement.sql($backend)), params)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| self.classify(&e, statement))?;
                    self.inner.executed.fetch_add(1, Ordering::Relaxed);
                    counts.push(done.rows_affected());
                }
                tx.commit().await.map_err(failed)?;
                Ok(counts)
            }};
        }
        let run = async {
            match self.inner.db.pool() {
                Pool::Postgres(pool) => run_steps!(pool, Backend::Postgres),
                Pool::Sqlite(pool) => run_steps!(pool, Backend::Sqlite),
            }
        };
        let result = self.timed(first, run).await;
        if result.is_ok() {
            for (statement, _) in steps {
                if statement.operation().writes() {
                    self.invalidate(statement.table());
                }
            }
        }
        record(first, started, result.as_ref().err());
        result
    }

    /// Runs `statement` and reads its rows as JSON objects, under the timeout.
    async fn fetch(
        &self,
        statement: &Statement,
        params: &[Value],
    ) -> Result<Vec<Map<String, Json>>, QueryError> {
        let started = Instant::now();
        let last_lost = std::sync::Mutex::new(None);
        let run = self.fetch_retrying(statement, params, &last_lost);
        let result = self.timed_reporting(statement, run, &last_lost).await;
        self.finish(statement, started, &result);
        result
    }

    /// Runs `statement` and reads its rows; a read whose connection was lost or could not
    /// be opened (2001) is tried again as the recovery policy says, each lost attempt kept
    /// in `last_lost` so that a retry cut short by the query timeout reports what went
    /// wrong (2001) rather than only that time ran out. A statement that writes runs once.
    async fn fetch_retrying(
        &self,
        statement: &Statement,
        params: &[Value],
        last_lost: &std::sync::Mutex<Option<QueryError>>,
    ) -> Result<Vec<Map<String, Json>>, QueryError> {
        if statement.operation().writes() {
            return self.run_fetch(statement, params).await;
        }
        self.inner
            .recovery
            .retry(
                statement.context().as_str(),
                |e: &QueryError| {
                    let lost = e.kind() == QueryErrorKind::ConnectionFailed;
                    if lost && let Ok(mut slot) = last_lost.lock() {
                        *slot = Some(e.clone());
                    }
                    lost
                },
                || self.run_fetch(statement, params),
            )
            .await
    }

    /// Like [`Self::timed`], but a timeout that cut short a retry after a lost connection
    /// reports the lost connection.
    async fn timed_reporting<T>(
        &self,
        statement: &Statement,
        run: impl Future<Output = Result<T, QueryError>>,
        last_lost: &std::sync::Mutex<Option<QueryError>>,
    ) -> Result<T, QueryError> {
        let result = self.timed(statement, run).await;
        match result {
            Err(e) if e.kind() == QueryErrorKind::Timeout => {
                let lost = last_lost.lock().ok().and_then(|mut slot| slot.take());
                Err(lost.unwrap_or(e))
            }
            other => other,
        }
    }

    /// Runs `statement` and reads its rows as JSON objects.
    async fn run_fetch(
        &self,
        statement: &Statement,
        params: &[Value],
    ) -> Result<Vec<Map<String, Json>>, QueryError> {
        match self.inner.db.pool() {
            Pool::Postgres(pool) => {
                let mut conn = acquire!(self, pool, statement);
                let found = bind_all!(sqlx::query(statement.sql(Backend::Postgres)), params)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| self.classify(&e, statement))?;
                found
                    .iter()
                    .map(|row| rows::postgres_row(row).map_err(|c| decode_error(statement, &c)))
                    .collect()
            }
            Pool::Sqlite(pool) => {
                let mut conn = acquire!(self, pool, statement);
                let found = bind_all!(sqlx::query(statement.sql(Backend::Sqlite)), params)
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(|e| self.classify(&e, statement))?;
                found
                    .iter()
                    .map(|row| rows::sqlite_row(row).map_err(|c| decode_error(statement, &c)))
                    .collect()
            }
        }
    }

    /// Runs `run` under the query timeout.
    async fn timed<T>(
        &self,
        statement: &Statement,
        run: impl Future<Output = Result<T, QueryError>>,
    ) -> Result<T, QueryError> {
        self.inner.executed.fetch_add(1, Ordering::Relaxed);
        let limit = self.inner.query_timeout;
        tokio::time::timeout(limit, run)
            .await
            .unwrap_or_else(|_| Err(QueryError::timeout(statement, limit)))
    }

    /// Invalidates after a successful write and records the query.
    fn finish<T>(&self, statement: &Statement, started: Instant, result: &Result<T, QueryError>) {
        if result.is_ok() && statement.operation().writes() {
            self.invalidate(statement.table());
        }
        record(statement, started, result.as_ref().err());
    }
}

/// Reads each row as a `T`.
fn decode_rows<T: DeserializeOwned>(
    statement: &Statement,
    rows: Vec<Map<String, Json>>,
) -> Result<Vec<T>, QueryError> {
    rows.into_iter()
        .map(|row| {
            serde_json::from_value(Json::Object(row)).map_err(|_| {
                QueryError::new(
                    QueryErrorKind::Decode,
                    statement,
                    "a row did not have the expected shape",
                )
            })
        })
        .collect()
}

/// Counts one query and its latency in the `metrics` registry.
fn record(statement: &Statement, started: Instant, error: Option<&QueryError>) {
    let operation = statement.operation().as_str();
    let outcome = error.map_or("ok", |e| e.kind().as_str());
    metrics::counter!(QUERIES_METRIC, "operation" => operation, "outcome" => outcome).increment(1);
    metrics::histogram!(LATENCY_METRIC, "operation" => operation)
        .record(started.elapsed().as_secs_f64());
    if let Some(e) = error {
        tracing::warn!(error = %e, "query failed");
    }
}
