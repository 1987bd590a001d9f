//! The generic store suite (`dx_auth::store::suite`) against every back end: memory, SQLite
//! (in memory) and PostgreSQL. Postgres runs when `DATABASE_URL` names one (CI sets it, and
//! sets `DX_REQUIRE_POSTGRES=1` so a missing database fails instead of skipping); each test
//! gets a schema of its own, dropped afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;

use dx_auth::store::{MemoryStore, PostgresStore, SqliteStore, suite};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::SqlitePoolOptions;

async fn memory(name: &str) {
    suite::run(name, &MemoryStore::new()).await;
}

async fn sqlite(name: &str) {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect("sqlite::memory:")
        .await
        .expect("in-memory SQLite");
    suite::run(name, &SqliteStore::new(pool)).await;
}

async fn postgres(name: &str) {
    let url = match std::env::var("DATABASE_URL") {
        Ok(u) if u.starts_with("postgres") => u,
        _ => {
            assert!(
                std::env::var("DX_REQUIRE_POSTGRES").is_err(),
                "DX_REQUIRE_POSTGRES is set but DATABASE_URL names no Postgres database"
            );
            eprintln!("skipped: set DATABASE_URL=postgres://… to run the store suite on Postgres");
            return;
        }
    };
    let schema = format!("dx_auth_test_{}", uuid::Uuid::new_v4().simple());
    let admin = PgPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .expect("connect");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    let options = PgConnectOptions::from_str(&url)
        .expect("url")
        .options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await
        .expect("connect");
    let outcome = tokio::spawn({
        let name = name.to_owned();
        async move { suite::run(&name, &PostgresStore::new(pool)).await }
    })
    .await;
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&admin)
        .await
        .expect("drop schema");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// A database failure is not an email conflict: without its tables, creating a user fails
/// with the database's error.
#[tokio::test]
async fn a_database_error_is_not_a_conflict() {
    use dx_auth::store::{CredentialStore, StoreError};
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect("sqlite::memory:")
        .await
        .expect("in-memory SQLite");
    let store = SqliteStore::new(pool.clone());
    let err = store.create_user("a@example.test", "h").await.unwrap_err();
    assert!(matches!(err, StoreError::Database(_)), "{err:?}");
    // Once migrated, accounts record when they were created (for operators; never read).
    store.migrate().await.unwrap();
    let before = chrono::Utc::now().timestamp();
    store.create_user("a@example.test", "h").await.unwrap();
    let created: i64 = sqlx::query_scalar("SELECT created_at FROM dx_auth_users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!((before..=before + 5).contains(&created), "{created}");
}

macro_rules! for_every_backend {
    ($($check:ident),*) => {
        $(
            mod $check {
                #[tokio::test]
                async fn memory() { super::memory(stringify!($check)).await }
                #[tokio::test]
                async fn sqlite() { super::sqlite(stringify!($check)).await }
                #[tokio::test]
                async fn postgres() { super::postgres(stringify!($check)).await }
            }
        )*
        #[test]
        fn every_suite_check_is_instantiated() {
            assert_eq!(suite::CHECKS, &[$(stringify!($check)),*]);
        }
    };
}

for_every_backend!(users, revocation, refresh_rotation, concurrent_spend, purge);
