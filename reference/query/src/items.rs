//! The items the reference's resource API serves (spec/query.md, "Items"): each belongs to
//! an owner (the authenticated account), and every statement is scoped to it, so no request
//! reads or changes another owner's rows. Names are unique per owner (a duplicate is 2003);
//! searching matches a plain substring of the name (`strpos`/`instr`, not `LIKE`, so `%` and
//! `_` in a search are characters, not wildcards) and is cached until the next write.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::client::ProductionQueryClient;
use crate::error::QueryError;
use crate::statement::{Statement, Value};

/// The table.
pub const TABLE: &str = "dx_items";

/// The most items one page holds.
pub const MAX_PAGE: u32 = 100;

/// How long a search result is served from the cache (a write ends it sooner).
pub const SEARCH_TTL: Duration = Duration::from_secs(30);

/// Creates an item and returns it.
pub const INSERT: Statement = Statement::insert(
    TABLE,
    "INSERT INTO dx_items (owner, name, body, created_at, updated_at) \
     VALUES ($1, $2, $3, $4, $4) RETURNING id, owner, name, body, created_at, updated_at",
);
/// One item of an owner.
pub const GET: Statement = Statement::select(
    TABLE,
    "SELECT id, owner, name, body, created_at, updated_at FROM dx_items \
     WHERE owner = $1 AND id = $2",
);
/// A page of an owner's items.
pub const LIST: Statement = Statement::select(
    TABLE,
    "SELECT id, owner, name, body, created_at, updated_at FROM dx_items \
     WHERE owner = $1 AND id > $2 ORDER BY id LIMIT $3",
);
/// A page of an owner's items whose name contains a text.
pub const SEARCH: Statement = Statement::select(
    TABLE,
    "SELECT id, owner, name, body, created_at, updated_at FROM dx_items \
     WHERE owner = $1 AND strpos(name, $2) > 0 AND id > $3 ORDER BY id LIMIT $4",
)
.with_sqlite(
    "SELECT id, owner, name, body, created_at, updated_at FROM dx_items \
     WHERE owner = $1 AND instr(name, $2) > 0 AND id > $3 ORDER BY id LIMIT $4",
);
/// Replaces an item's name and body.
pub const UPDATE: Statement = Statement::update(
    TABLE,
    "UPDATE dx_items SET name = $3, body = $4, updated_at = $5 WHERE owner = $1 AND id = $2 \
     RETURNING id, owner, name, body, created_at, updated_at",
);
/// Deletes an item.
pub const DELETE: Statement =
    Statement::delete(TABLE, "DELETE FROM dx_items WHERE owner = $1 AND id = $2");
/// Counts an owner's items.
pub const COUNT: Statement =
    Statement::select(TABLE, "SELECT COUNT(*) AS n FROM dx_items WHERE owner = $1");

/// One item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    /// Its id, assigned by the database.
    pub id: i64,
    /// The owning account.
    pub owner: String,
    /// Its name, unique per owner.
    pub name: String,
    /// Free text.
    pub body: String,
    /// Unix milliseconds of creation.
    pub created_at: i64,
    /// Unix milliseconds of the last change.
    pub updated_at: i64,
}

/// One page of items, in id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page {
    /// The items.
    pub items: Vec<Item>,
    /// The cursor of the next page: the last id, when the page was full.
    pub next: Option<i64>,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// The items repository.
#[derive(Debug, Clone)]
pub struct Items {
    client: ProductionQueryClient,
}

fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl Items {
    /// Items stored through `client` (whose database has been migrated).
    pub fn new(client: ProductionQueryClient) -> Self {
        Self { client }
    }

    /// The client.
    pub fn client(&self) -> &ProductionQueryClient {
        &self.client
    }

    /// Creates an item of `owner`.
    pub async fn create(&self, owner: &str, name: &str, body: &str) -> Result<Item, QueryError> {
        refuse_nul(&INSERT, &[owner, name, body])?;
        let params = [owner.into(), name.into(), body.into(), now_millis().into()];
        let mut rows: Vec<Item> = self.client.query(&INSERT, &params).await?;
        rows.pop().ok_or_else(|| missing_row(&INSERT))
    }

    /// The item `id` of `owner`.
    pub async fn get(&self, owner: &str, id: i64) -> Result<Option<Item>, QueryError> {
        let mut rows: Vec<Item> = self.client.query(&GET, &[owner.into(), id.into()]).await?;
        Ok(rows.pop())
    }

    /// Up to `limit` (1 to [`MAX_PAGE`]) items of `owner` after the id `after`, whose name
    /// contains `needle` when one is given.
    pub async fn page(
        &self,
        owner: &str,
        needle: Option<&str>,
        after: i64,
        limit: u32,
    ) -> Result<Page, QueryError> {
        let limit = limit.clamp(1, MAX_PAGE);
        refuse_nul(&SEARCH, &[owner, needle.unwrap_or_default()])?;
        let items: Vec<Item> = match needle {
            Some(needle)
                if self
                    .client
                    .mutations()
                    .is(crate::mutants::QueryMutant::SplicedSearch) =>
            {
                crate::mutants::spliced_search(&self.client, owner, needle, after, limit).await?
            }
            Some(needle) => {
                let params: [Value; 4] = [owner.into(), needle.into(), after.into(), limit.into()];
                self.client
                    .query_cached(&SEARCH, &params, SEARCH_TTL)
                    .await?
            }
            None => {
                let params: [Value; 3] = [owner.into(), after.into(), limit.into()];
                self.client.query(&LIST, &params).await?
            }
        };
        let full = items.len() == limit as usize;
        let next = if full {
            items.last().map(|i| i.id)
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// Replaces the name and body of item `id` of `owner`; `None` when there is no such item.
    pub async fn update(
        &self,
        owner: &str,
        id: i64,
        name: &str,
        body: &str,
    ) -> Result<Option<Item>, QueryError> {
        refuse_nul(&UPDATE, &[owner, name, body])?;
        let params = [
            owner.into(),
            id.into(),
            name.into(),
            body.into(),
            now_millis().into(),
        ];
        let mut rows: Vec<Item> = self.client.query(&UPDATE, &params).await?;
        Ok(rows.pop())
    }

    /// Deletes item `id` of `owner`; whether there was one.
    pub async fn delete(&self, owner: &str, id: i64) -> Result<bool, QueryError> {
        let n = self
            .client
            .execute(&DELETE, &[owner.into(), id.into()])
            .await?;
        Ok(n > 0)
    }

    /// How many items `owner` has.
    pub async fn count(&self, owner: &str) -> Result<i64, QueryError> {
        let rows: Vec<Count> = self.client.query(&COUNT, &[owner.into()]).await?;
        Ok(rows.first().map_or(0, |c| c.n))
    }
}

/// PostgreSQL refuses U+0000 in text and SQLite's string functions stop at it, so both
/// back ends refuse it here alike, before the database is asked: a clear 4001.
fn refuse_nul(statement: &Statement, texts: &[&str]) -> Result<(), QueryError> {
    if texts.iter().any(|t| t.contains('\0')) {
        return Err(QueryError::new(
            crate::error::QueryErrorKind::InvalidInput,
            statement,
            "text may not contain U+0000",
        ));
    }
    Ok(())
}

fn missing_row(statement: &Statement) -> QueryError {
    QueryError::new(
        crate::error::QueryErrorKind::Decode,
        statement,
        "the statement returned no row",
    )
}
