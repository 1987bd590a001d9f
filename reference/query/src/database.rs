//! The pool: PostgreSQL in production, SQLite as the embedded default, one type for both.
//! Its size is bounded (requirement 8.3), acquiring a connection waits at most the acquire
//! timeout (then the pool is exhausted: 5003 with `Retry-After`, never a queue without end),
//! and connections are opened lazily and reopened by sqlx after a failure, so a server whose
//! database went away serves again by itself when it comes back.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

use crate::error::{QueryError, QueryErrorKind};
use crate::mutants::{QueryMutant, QueryMutations, UNBOUNDED};
use crate::statement::{Backend, Statement};

/// The pool's limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Most connections open at once (PostgreSQL; the SQLite pool always has one).
    pub max_connections: u32,
    /// How long a query waits for a free connection before the pool counts as exhausted.
    pub acquire_timeout: Duration,
    /// How long one query may run, waiting for its connection included; PostgreSQL also
    /// gets it as `statement_timeout`, so the server stops work nobody waits for. (SQLite
    /// has no such setting: a statement past its timeout is answered 2002 at once but runs
    /// on until it finishes, keeping the embedded database's one connection busy.)
    pub query_timeout: Duration,
    /// Deliberately broken behaviour (only in a `mutants` build).
    pub mutations: QueryMutations,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_secs(5),
            mutations: QueryMutations::none(),
        }
    }
}

/// The pool of one back end.
#[derive(Debug, Clone)]
pub enum Pool {
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
}

/// A database pool with the counts `/metrics` reports: connections opened since start and
/// queries waiting for a connection now.
#[derive(Debug, Clone)]
pub struct Database {
    pool: Pool,
    opened: Arc<AtomicU64>,
    waiting: Arc<AtomicU64>,
}

/// One query waiting for a connection, counted while it lives.
#[derive(Debug)]
pub struct Waiting(Arc<AtomicU64>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The statement migrations report their failures under.
const MIGRATE: Statement = Statement::update("_dx_query_migrations", "migrate");

/// The context of connecting.
const CONNECT: Statement = Statement::select("_pool", "connect");

impl Database {
    /// A lazy pool on `url` (`postgres://…` or `sqlite:…`): nothing connects until first
    /// use, so a database that is down at start-up makes the server not ready, not dead.
    /// The error never repeats the URL, which may hold a password.
    pub fn connect_lazy(url: &str, config: &PoolConfig) -> Result<Self, QueryError> {
        let refused = || {
            QueryError::new(
                QueryErrorKind::ConnectionFailed,
                &CONNECT,
                "the database URL was refused",
            )
        };
        let unbounded = config.mutations.is(QueryMutant::UnboundedPool);
        let opened = Arc::new(AtomicU64::new(0));
        let count = opened.clone();
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let timeout_ms = config.query_timeout.as_millis().to_string();
            let options = PgConnectOptions::from_str(url)
                .map_err(|_| refused())?
                .options([("statement_timeout", timeout_ms.as_str())]);
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(if unbounded {
                        UNBOUNDED
                    } else {
                        config.max_connections.max(1)
                    })
                    .acquire_timeout(config.acquire_timeout)
                    .after_connect(move |_, _| {
                        count.fetch_add(1, Ordering::Relaxed);
                        Box::pin(async { Ok(()) })
                    })
                    .connect_lazy_with(options),
            )
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|_| refused())?
                .create_if_missing(true);
            // One connection that never closes: an in-memory database lives and dies with
            // it, and SQLite serializes writers anyway.
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(if unbounded { UNBOUNDED } else { 1 })
                    .idle_timeout(None)
                    .max_lifetime(None)
                    .acquire_timeout(config.acquire_timeout)
                    .after_connect(move |_, _| {
                        count.fetch_add(1, Ordering::Relaxed);
                        Box::pin(async { Ok(()) })
                    })
                    .connect_lazy_with(options),
            )
        } else {
            return Err(refused());
        };
        Ok(Self {
            pool,
            opened,
            waiting: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Connections opened since the pool was made (reopened ones included).
    pub fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// Queries waiting for a connection now.
    pub fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Counts one query as waiting until the returned guard drops.
    pub fn wait(&self) -> Waiting {
        self.waiting.fetch_add(1, Ordering::Relaxed);
        Waiting(self.waiting.clone())
    }

    /// The dialect.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Postgres(_) => Backend::Postgres,
            Pool::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// Connections open now (idle or in use).
    pub fn size(&self) -> u32 {
        match &self.pool {
            Pool::Postgres(pool) => pool.size(),
            Pool::Sqlite(pool) => pool.size(),
        }
    }

    /// Connections open and idle now, never more than [`Database::size`].
    pub fn idle(&self) -> usize {
        let raw = match &self.pool {
            Pool::Postgres(pool) => pool.num_idle(),
            Pool::Sqlite(pool) => pool.num_idle(),
        };
        idle_reading(raw, self.size())
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        match &self.pool {
            Pool::Postgres(pool) => pool.options().get_max_connections(),
            Pool::Sqlite(pool) => pool.options().get_max_connections(),
        }
    }

    /// Applies the migrations in `reference/query/migrations/<dialect>` that have not run,
    /// tracked in `_dx_query_migrations` so this schema lives beside other components'.
    pub async fn migrate(&self) -> Result<(), QueryError> {
        let result = match &self.pool {
            Pool::Postgres(pool) => migrator(Backend::Postgres).run(pool).await,
            Pool::Sqlite(pool) => migrator(Backend::Sqlite).run(pool).await,
        };
        result.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner)
            | sqlx::migrate::MigrateError::ExecuteMigration(inner, _) => {
                self.classify(&inner, &MIGRATE)
            }
            other => QueryError::new(
                QueryErrorKind::TransactionFailed,
                &MIGRATE,
                format!("migration refused: {}", migrate_reason(&other)),
            ),
        })
    }

    /// Classifies a driver error of `statement`. A wait for a connection that timed out
    /// while the pool had room to open one means the database could not be reached (2001),
    /// not that every connection was busy (5003): sqlx reports both as one error, so only
    /// the pool can tell them apart.
    pub fn classify(&self, error: &sqlx::Error, statement: &Statement) -> QueryError {
        let unreachable =
            matches!(error, sqlx::Error::PoolTimedOut) && self.size() < self.max_connections();
        if unreachable {
            QueryError::new(
                QueryErrorKind::ConnectionFailed,
                statement,
                "no connection could be opened within the acquire timeout",
            )
        } else {
            QueryError::from_sqlx(error, statement)
        }
    }

    /// Closes every connection; queries after this fail with 2001.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }
}

/// Why the migrator refused, without its text (which may quote SQL).
fn migrate_reason(e: &sqlx::migrate::MigrateError) -> &'static str {
    use sqlx::migrate::MigrateError as M;
    match e {
        M::VersionMismatch(_) => "an applied migration was changed",
        M::VersionMissing(_) => "the database has a migration this build does not know",
        M::Dirty(_) => "a migration failed part-way earlier",
        _ => "see the server log",
    }
}

/// One migration of the embedded set.
struct Migration {
    version: i64,
    name: &'static str,
    postgres: &'static str,
    sqlite: &'static str,
}

/// Every migration, oldest first. Files live in `migrations/<dialect>/NNNN_name.sql`, the
/// layout `sqlx migrate` reads.
const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "items",
    postgres: include_str!("../migrations/postgres/0001_items.sql"),
    sqlite: include_str!("../migrations/sqlite/0001_items.sql"),
}];

fn migrator(backend: Backend) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use std::borrow::Cow;
    let migrations = MIGRATIONS
        .iter()
        .map(|m| {
            let sql = match backend {
                Backend::Postgres => m.postgres,
                Backend::Sqlite => m.sqlite,
            };
            sqlx::migrate::Migration::new(
                m.version,
                Cow::Borrowed(m.name),
                sqlx::migrate::MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect();
    let mut migrator = sqlx::migrate::Migrator::with_migrations(migrations);
    migrator.dangerous_set_table_name("_dx_query_migrations");
    migrator
}

/// sqlx counts idle connections in an atomic of its own, decremented and incremented as a
/// connection changes hands, so a reading taken in between can be one below zero, wrapped
/// to nearly `usize::MAX` (Property 20's check saw `/metrics` report 18,446,744,073,709,551,615
/// idle connections under concurrent load). A reading in the upper half of the range is such a
/// wrapped negative and means none idle; any other is capped at the connections open.
fn idle_reading(raw: usize, size: u32) -> usize {
    if raw > usize::MAX / 2 {
        0
    } else {
        raw.min(usize::try_from(size).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_count_read_mid_hand_over_is_never_above_the_pool() {
        assert_eq!(idle_reading(usize::MAX, 1), 0, "one below zero, wrapped");
        assert_eq!(idle_reading(usize::MAX / 2 + 1, 4), 0);
        assert_eq!(idle_reading(usize::MAX / 2, 4), 4);
        assert_eq!(idle_reading(3, 4), 3);
        assert_eq!(idle_reading(4, 4), 4);
        assert_eq!(idle_reading(5, 4), 4);
        assert_eq!(idle_reading(0, 0), 0);
    }

    #[test]
    fn urls_pick_the_back_end_and_never_echo() {
        let config = PoolConfig::default();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _guard = rt.enter();
        let pg = Database::connect_lazy("postgres://app:hunter2@127.0.0.1:1/x", &config).unwrap();
        assert_eq!(pg.backend(), Backend::Postgres);
        assert_eq!(pg.max_connections(), 10);
        assert_eq!((pg.size(), pg.idle()), (0, 0), "lazy: nothing opened yet");
        let lite = Database::connect_lazy("sqlite::memory:", &config).unwrap();
        assert_eq!(lite.backend(), Backend::Sqlite);
        assert_eq!(lite.max_connections(), 1);
        for bad in [
            "mysql://app:hunter2@db/x",
            "hunter2",
            "postgres://app:hunter2@db:notaport/x",
        ] {
            let e = Database::connect_lazy(bad, &config).unwrap_err();
            assert_eq!(e.kind(), QueryErrorKind::ConnectionFailed);
            assert!(!e.to_string().contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn migration_refusals_are_named_without_their_text() {
        use sqlx::migrate::MigrateError as M;
        assert_eq!(
            migrate_reason(&M::VersionMismatch(1)),
            "an applied migration was changed"
        );
        assert_eq!(
            migrate_reason(&M::VersionMissing(1)),
            "the database has a migration this build does not know"
        );
        assert_eq!(
            migrate_reason(&M::Dirty(1)),
            "a migration failed part-way earlier"
        );
        assert_eq!(
            migrate_reason(&M::VersionTooOld(1, 2)),
            "see the server log"
        );
    }
}
