//! Where accounts, revoked token ids and refresh-token families live. [`CredentialStore`] is
//! the seed's trait grown by what refresh rotation and revocation need; its back ends are
//! Postgres (production), SQLite (the embedded default) and memory (tests), and one generic
//! test suite ([`suite`]) holds every back end to the same behaviour.

pub mod memory;
pub mod postgres;
mod sql;
pub mod sqlite;
pub mod suite;

use std::fmt::Debug;

use async_trait::async_trait;

pub use memory::MemoryStore;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An account with this email exists already.
    #[error("an account with this email exists")]
    Conflict,
    /// The database failed or could not be reached.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The schema migrations failed.
    #[error("migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// Stable user id: the tokens' `sub`.
    pub id: String,
    /// The normalised email.
    pub email: String,
    /// The PHC string of the password's Argon2id hash.
    pub password_hash: String,
}

/// One issued refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// The token's `jti`.
    pub jti: String,
    /// The family: every refresh token descended from one login.
    pub family: String,
    /// The user it was issued to.
    pub user_id: String,
    /// The token's `exp`.
    pub expires_at: i64,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpendOutcome {
    /// It was unspent and is now spent: issue the next pair in its family.
    Spent(RefreshRecord),
    /// It had been spent before: a replay, so its family must be revoked.
    AlreadySpent {
        /// The family to revoke.
        family: String,
    },
    /// Its family was revoked.
    FamilyRevoked,
    /// The store never recorded it (or purged it after its expiry).
    Unknown,
}

/// The credential store.
#[async_trait]
pub trait CredentialStore: Send + Sync + Debug {
    /// Creates the schema or brings it up to date (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Adds an account; [`StoreError::Conflict`] when the email is taken.
    async fn create_user(&self, email: &str, password_hash: &str)
    -> Result<UserRecord, StoreError>;

    /// The account with this (normalised) email.
    async fn find_user(&self, email: &str) -> Result<Option<UserRecord>, StoreError>;

    /// The seed's lookup: the password hash of the account with this email.
    async fn get_password_hash(&self, email: &str) -> Result<Option<String>, StoreError> {
        Ok(self.find_user(email).await?.map(|u| u.password_hash))
    }

    /// Replaces a user's password hash (re-hashing with current parameters).
    async fn update_password_hash(
        &self,
        user_id: &str,
        password_hash: &str,
    ) -> Result<(), StoreError>;

    /// Whether the token id was revoked (and not yet purged).
    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError>;

    /// Revokes a token id, kept until `expires_at` (the token's own `exp`).
    async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError>;

    /// Records an issued refresh token in its family (creating the family on first use).
    async fn record_refresh(&self, record: &RefreshRecord) -> Result<(), StoreError>;

    /// Atomically marks a refresh token spent at `now`, if it is unspent and its family
    /// unrevoked; of two concurrent spends of one token exactly one gets [`SpendOutcome::Spent`].
    async fn spend_refresh(&self, jti: &str, now: i64) -> Result<SpendOutcome, StoreError>;

    /// The family of a recorded refresh token.
    async fn family_of(&self, jti: &str) -> Result<Option<String>, StoreError>;

    /// Revokes a whole refresh family at `now`.
    async fn revoke_family(&self, family: &str, now: i64) -> Result<(), StoreError>;

    /// Deletes revoked ids, refresh tokens and families whose expiry is at or before `now`;
    /// returns how many rows went.
    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError>;
}

/// A new random id (UUID v4 text).
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The wall clock in Unix seconds, for `created_at`.
pub(crate) fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

/// The embedded migrations of one dialect, tracked in their own table so the auth schema
/// can live beside other components' schemas.
pub(crate) fn migrator(sql: &'static str) -> sqlx::migrate::Migrator {
    use sqlx::SqlSafeStr;
    use std::borrow::Cow;
    let mut m = sqlx::migrate::Migrator::with_migrations(vec![sqlx::migrate::Migration::new(
        1,
        Cow::Borrowed("auth"),
        sqlx::migrate::MigrationType::Simple,
        sql.into_sql_str(),
        false,
    )]);
    m.dangerous_set_table_name("_dx_auth_migrations");
    m
}
