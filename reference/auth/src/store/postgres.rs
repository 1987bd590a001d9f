//! The production store: PostgreSQL through sqlx. Every instance behind one URL shares it, so
//! a revocation answered by one instance holds on all of them.

use sqlx::PgPool;

/// A credential store in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// A store on `pool`; call [`super::CredentialStore::migrate`] before use.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

super::sql::sql_store!(
    PostgresStore,
    "GREATEST",
    "../../migrations/postgres/0001_auth.sql"
);
