//! The embedded default: SQLite through sqlx, so a fresh machine runs the reference with no
//! set-up. One process only: instances do not share an SQLite file safely.

use sqlx::SqlitePool;

/// A credential store in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// A store on `pool`; call [`super::CredentialStore::migrate`] before use.
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

super::sql::sql_store!(SqliteStore, "MAX", "../../migrations/sqlite/0001_auth.sql");
