//! Databases for the tests: SQLite in memory always; PostgreSQL at `DATABASE_URL` in a
//! schema of its own per call (so tests running side by side share nothing), required when
//! `DX_REQUIRE_POSTGRES=1` (CI), skipped with a note otherwise.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use dx_query::{Database, PoolConfig};

/// The PostgreSQL URL, if the tests should use one.
pub fn postgres_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => Some(url),
        _ => {
            assert!(
                std::env::var("DX_REQUIRE_POSTGRES").as_deref() != Ok("1"),
                "DX_REQUIRE_POSTGRES=1 but DATABASE_URL does not name a PostgreSQL database"
            );
            eprintln!("note: DATABASE_URL not set; the PostgreSQL half of this test is skipped");
            None
        }
    }
}

/// Drops the scratch schemas earlier test processes left, once per process (test binaries
/// run one after another, so none of them is in use).
static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();

async fn drop_leftover_schemas(admin: &sqlx::PgPool) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'dxq\\_%'")
            .fetch_all(admin)
            .await
            .expect("list schemas");
    for (name,) in names {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE"
        )))
        .execute(admin)
        .await
        .expect("drop schema");
    }
}

/// A fresh schema on `url`, and the URL whose connections use it.
pub async fn scratch_schema(url: &str, application: &str) -> String {
    let schema = format!("dxq_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(url)
        .await
        .expect("connect to DATABASE_URL");
    CLEANED.get_or_init(|| drop_leftover_schemas(&admin)).await;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .execute(&admin)
        .await
        .expect("create schema");
    admin.close().await;
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}&application_name={application}")
}

/// Every back end under test, migrated, with `config`.
pub async fn backends(config: &PoolConfig) -> Vec<(&'static str, Database)> {
    let mut out = Vec::new();
    let lite = Database::connect_lazy("sqlite::memory:", config).unwrap();
    lite.migrate().await.unwrap();
    out.push(("sqlite", lite));
    if let Some(url) = postgres_url() {
        let url = scratch_schema(&url, "dx_query_tests").await;
        let pg = Database::connect_lazy(&url, config).unwrap();
        pg.migrate().await.unwrap();
        out.push(("postgres", pg));
    }
    out
}
