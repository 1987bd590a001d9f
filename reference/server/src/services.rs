//! Connections to the services a deployment depends on (the database and, when configured,
//! Redis), with the readiness probe that reports whether they answer.

use std::time::Duration;

use dx_error::{DxError, ErrorCode, RecoveryConfig};
use dx_query::Pool;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::Config;

/// How long one readiness probe of one service may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The database pool: the query module's, shared with the credential store.
pub use dx_query::Database;

/// Opens the (lazy) pool the configuration names: nothing connects until first use, so a
/// database that is down at start-up makes the server not ready instead of not running.
pub fn connect_database(config: &Config) -> Result<Database, DxError> {
    let pool = config.query.pool(config.mutations.query());
    Database::connect_lazy(config.database.expose(), &pool).map_err(|e| {
        DxError::config("database_url", "the database URL is not valid").with_source(e)
    })
}

/// The credential store on `db`.
pub fn credential_store(db: &Database) -> std::sync::Arc<dyn dx_auth::CredentialStore> {
    match db.pool() {
        Pool::Postgres(pool) => std::sync::Arc::new(dx_auth::PostgresStore::new(pool.clone())),
        Pool::Sqlite(pool) => std::sync::Arc::new(dx_auth::SqliteStore::new(pool.clone())),
    }
}

/// Runs `SELECT 1` on `db`.
pub async fn ping(db: &Database) -> Result<(), DxError> {
    let result = match db.pool() {
        Pool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        Pool::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
    };
    result.map_err(|e| {
        DxError::database(
            ErrorCode::DbConnectionFailed,
            "Database unavailable",
            "ping: select",
        )
        .with_source(e)
    })
}

/// The Redis connection, opened on first use and reopened after a failure.
#[derive(Debug)]
pub struct Redis {
    client: redis::Client,
    connection: Mutex<Option<redis::aio::MultiplexedConnection>>,
}

impl Redis {
    /// Validates the URL; connects lazily.
    pub fn new(url: &str) -> Result<Self, DxError> {
        let client = redis::Client::open(url).map_err(|e| {
            DxError::config("redis_url", "the Redis URL is not valid").with_source(e)
        })?;
        Ok(Self {
            client,
            connection: Mutex::new(None),
        })
    }

    /// Sends `PING`.
    pub async fn ping(&self) -> Result<(), DxError> {
        let unavailable = |e: redis::RedisError| {
            DxError::new(ErrorCode::ServiceUnavailable, "Redis unavailable").with_source(e)
        };
        let mut slot = self.connection.lock().await;
        let mut conn = match slot.as_ref() {
            Some(c) => c.clone(),
            None => {
                let c = self
                    .client
                    .get_multiplexed_async_connection()
                    .await
                    .map_err(unavailable)?;
                *slot = Some(c.clone());
                c
            }
        };
        drop(slot);
        let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
        match pong {
            Ok(_) => Ok(()),
            Err(e) => {
                *self.connection.lock().await = None;
                Err(unavailable(e))
            }
        }
    }
}

/// The state of one dependency, as `/ready` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckState {
    /// It answered.
    Ok,
    /// It did not answer in time or refused.
    Unavailable,
    /// The deployment does not use it.
    NotConfigured,
}

/// The result of a readiness probe.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    /// The database.
    pub database: CheckState,
    /// Redis.
    pub redis: CheckState,
}

impl Readiness {
    /// Whether every configured dependency answered.
    pub fn is_ready(&self) -> bool {
        self.database != CheckState::Unavailable && self.redis != CheckState::Unavailable
    }
}

/// Every service connection the server holds.
#[derive(Debug)]
pub struct Services {
    /// The database pool.
    pub database: Database,
    /// Redis, if configured.
    pub redis: Option<Redis>,
}

impl Services {
    /// Opens the (lazy) connections; fails only on unusable URLs.
    pub fn open(config: &Config) -> Result<Self, DxError> {
        Ok(Self {
            database: connect_database(config)?,
            redis: config.redis_url.as_deref().map(Redis::new).transpose()?,
        })
    }

    /// Waits for the services at start-up with retries, logging each failure. Run alongside
    /// serving: `/ready` tells the truth until they answer.
    pub async fn warm_up(&self, recovery: &RecoveryConfig) -> Readiness {
        let db = recovery
            .retry("database", |_| true, || ping(&self.database))
            .await;
        if let Err(e) = &db {
            tracing::error!(error = %e, cause = ?e.source_chain(), "database is not reachable; serving as not ready");
        }
        let redis = match &self.redis {
            Some(r) => {
                let result = recovery.retry("redis", |_| true, || r.ping()).await;
                if let Err(e) = &result {
                    tracing::error!(error = %e, cause = ?e.source_chain(), "redis is not reachable; serving as not ready");
                }
                Some(result.is_ok())
            }
            None => None,
        };
        Readiness {
            database: if db.is_ok() {
                CheckState::Ok
            } else {
                CheckState::Unavailable
            },
            redis: match redis {
                Some(true) => CheckState::Ok,
                Some(false) => CheckState::Unavailable,
                None => CheckState::NotConfigured,
            },
        }
    }

    /// Probes every configured service once, each under a timeout.
    pub async fn readiness(&self) -> Readiness {
        let probe = |ok: Result<Result<(), DxError>, tokio::time::error::Elapsed>| match ok {
            Ok(Ok(())) => CheckState::Ok,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, cause = ?e.source_chain(), "readiness probe failed");
                CheckState::Unavailable
            }
            Err(_) => CheckState::Unavailable,
        };
        let database = probe(tokio::time::timeout(PROBE_TIMEOUT, ping(&self.database)).await);
        let redis = match &self.redis {
            Some(r) => probe(tokio::time::timeout(PROBE_TIMEOUT, r.ping()).await),
            None => CheckState::NotConfigured,
        };
        Readiness { database, redis }
    }
}
