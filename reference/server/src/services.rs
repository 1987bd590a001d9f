//! Connections to the services a deployment depends on (the database and, when configured,
//! Redis), with the readiness probe that reports whether they answer.

use std::str::FromStr;
use std::time::Duration;

use dx_error::{DxError, ErrorCode, RecoveryConfig};
use dx_query::Pool;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::config::{Config, DatabaseUrl};

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

/// How long [`check_database`] waits for the database to answer.
pub const CONNECT_CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the database could not be reached, in the operator's words: the URL with its password
/// masked, and the cause the driver saw.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot connect to the database {url}: {cause}")]
pub struct ConnectError {
    /// The URL, password replaced by `***`.
    pub url: String,
    /// What went wrong, e.g. `connection refused (127.0.0.1:5432)`,
    /// `database "x" does not exist`.
    pub cause: String,
}

/// Opens one connection outside the pool and closes it, so a failure says why. The pool
/// retries a refused connection until its acquire timeout and then reports only "pool timed
/// out"; an operator needs "connection refused", "authentication failed" or "database does
/// not exist" at once.
pub async fn check_database(url: &DatabaseUrl, timeout: Duration) -> Result<(), ConnectError> {
    use sqlx::{ConnectOptions, Connection};
    let fail = |cause: String| ConnectError {
        url: url.redacted(),
        cause: scrub(url, cause),
    };
    let attempt = async {
        match url {
            DatabaseUrl::Postgres(raw) => {
                let options = sqlx::postgres::PgConnectOptions::from_str(raw)
                    .map_err(|e| fail(format!("the URL is not valid: {e}")))?;
                let endpoint = match options.get_socket() {
                    Some(socket) => socket.display().to_string(),
                    None => format!("{}:{}", options.get_host(), options.get_port()),
                };
                let connection = options
                    .connect()
                    .await
                    .map_err(|e| fail(describe(&e, &endpoint)))?;
                connection.close().await.ok();
                Ok(())
            }
            DatabaseUrl::Sqlite(raw) => {
                let options = sqlx::sqlite::SqliteConnectOptions::from_str(raw)
                    .map_err(|e| fail(format!("the URL is not valid: {e}")))?
                    .create_if_missing(true);
                let endpoint = options.get_filename().display().to_string();
                let connection = options
                    .connect()
                    .await
                    .map_err(|e| fail(describe(&e, &endpoint)))?;
                connection.close().await.ok();
                Ok(())
            }
        }
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(result) => result,
        Err(_) => Err(fail(format!(
            "no answer within {} s",
            timeout.as_secs_f32()
        ))),
    }
}

/// The cause of a failed connection to `endpoint` (host:port, socket or file).
fn describe(error: &sqlx::Error, endpoint: &str) -> String {
    match error {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => format!("connection refused ({endpoint})"),
            std::io::ErrorKind::TimedOut => format!("connection timed out ({endpoint})"),
            _ => format!("{io} ({endpoint})"),
        },
        sqlx::Error::Database(db) => {
            let message = db.message();
            // 28P01 invalid_password, 28000 invalid_authorization_specification (unknown
            // role, no pg_hba.conf entry).
            match db.code().as_deref() {
                Some("28P01" | "28000") if !message.contains("authentication failed") => {
                    format!("authentication failed: {message} ({endpoint})")
                }
                _ => format!("{message} ({endpoint})"),
            }
        }
        sqlx::Error::Tls(e) => format!("TLS failed: {e} ({endpoint})"),
        other => format!("{other} ({endpoint})"),
    }
}

/// `text` without the URL's password, should a driver ever repeat it.
fn scrub(url: &DatabaseUrl, text: String) -> String {
    let raw = url.expose();
    let password = raw
        .split_once("://")
        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
        .and_then(|authority| authority.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':'))
        .map(|(_, password)| password)
        .filter(|p| !p.is_empty());
    match password {
        Some(p) => text.replace(p, "***"),
        None => text,
    }
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
    /// The database's URL, for connection checks that name their cause.
    url: DatabaseUrl,
}

impl Services {
    /// Opens the (lazy) connections; fails only on unusable URLs.
    pub fn open(config: &Config) -> Result<Self, DxError> {
        Ok(Self {
            database: connect_database(config)?,
            redis: config.redis_url.as_deref().map(Redis::new).transpose()?,
            url: config.database.clone(),
        })
    }

    /// Waits for the services at start-up with retries, logging each failure. Run alongside
    /// serving: `/ready` tells the truth until they answer.
    pub async fn warm_up(&self, recovery: &RecoveryConfig) -> Readiness {
        // A direct connection first, so the log says why the database does not answer.
        let db = recovery
            .retry(
                "database",
                |_| true,
                || async {
                    check_database(&self.url, CONNECT_CHECK_TIMEOUT)
                        .await
                        .map_err(|e| e.to_string())?;
                    ping(&self.database).await.map_err(|e| {
                        std::iter::once(e.to_string())
                            .chain(e.source_chain())
                            .collect::<Vec<_>>()
                            .join(": ")
                    })
                },
            )
            .await;
        if let Err(e) = &db {
            tracing::error!(error = %e, "database is not reachable; serving as not ready");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_connection_names_its_cause_without_the_password() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url =
            DatabaseUrl::parse(&format!("postgres://app:s3cret@127.0.0.1:{port}/app")).unwrap();
        let e = check_database(&url, CONNECT_CHECK_TIMEOUT)
            .await
            .unwrap_err();
        assert_eq!(e.cause, format!("connection refused (127.0.0.1:{port})"));
        assert_eq!(e.url, format!("postgres://app:***@127.0.0.1:{port}/app"));
        let missing = DatabaseUrl::parse("sqlite:/nonexistent/dir/dx.sqlite").unwrap();
        let e = check_database(&missing, CONNECT_CHECK_TIMEOUT)
            .await
            .unwrap_err();
        assert!(
            e.to_string().contains("(/nonexistent/dir/dx.sqlite)"),
            "{e}"
        );
        let memory = DatabaseUrl::embedded();
        check_database(&memory, CONNECT_CHECK_TIMEOUT)
            .await
            .unwrap();
    }

    #[test]
    fn causes_never_repeat_the_password() {
        let url = DatabaseUrl::parse("postgres://app:s3cret@db/app").unwrap();
        assert_eq!(
            scrub(&url, "role app with s3cret refused".to_owned()),
            "role app with *** refused"
        );
    }
}
