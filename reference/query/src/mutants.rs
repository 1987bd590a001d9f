//! Deliberately broken behaviours, at least one per query property, for proving that the
//! conformance suite catches them (`spec/conformance.md`). Only a build with the `mutants`
//! feature can switch one on; otherwise [`QueryMutations::is`] is always false and the
//! compiler drops the broken branches.

use crate::client::ProductionQueryClient;
use crate::error::QueryError;
use crate::items::Item;
use crate::statement::Statement;

/// A broken behaviour and the property that must catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryMutant {
    /// Searches splice the search text into the SQL between quotes (Property 19).
    SplicedSearch,
    /// Writes leave cached searches in place (Property 19: a search after a write misses
    /// the new row).
    CacheNotInvalidated,
    /// The pool opens up to 64 connections whatever its configured size (Property 20).
    UnboundedPool,
    /// Failures carry the driver's own message, bound values included (Property 21).
    DriverMessagePassthrough,
}

impl QueryMutant {
    /// Every query mutant.
    pub const ALL: &'static [QueryMutant] = &[
        Self::SplicedSearch,
        Self::CacheNotInvalidated,
        Self::UnboundedPool,
        Self::DriverMessagePassthrough,
    ];

    /// The property whose check must fail against this mutant.
    pub fn breaks_property(self) -> u8 {
        match self {
            Self::SplicedSearch | Self::CacheNotInvalidated => 19,
            Self::UnboundedPool => 20,
            Self::DriverMessagePassthrough => 21,
        }
    }
}

/// The query mutant in force, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryMutations {
    #[cfg(feature = "mutants")]
    active: Option<QueryMutant>,
}

impl QueryMutations {
    /// Correct behaviour.
    pub const fn none() -> Self {
        Self {
            #[cfg(feature = "mutants")]
            active: None,
        }
    }

    /// Runs with `mutant` active.
    #[cfg(feature = "mutants")]
    pub fn with(mutant: Option<QueryMutant>) -> Self {
        Self { active: mutant }
    }

    /// Whether `mutant` is active.
    #[cfg(feature = "mutants")]
    pub fn is(self, mutant: QueryMutant) -> bool {
        self.active == Some(mutant)
    }

    /// Whether `mutant` is active: never, without the `mutants` feature.
    #[cfg(not(feature = "mutants"))]
    pub fn is(self, _mutant: QueryMutant) -> bool {
        false
    }
}

/// The most connections the `unbounded-pool` mutant opens.
pub const UNBOUNDED: u32 = 64;

/// The `spliced-search` mutant's search: the text between quotes in the SQL, the bug bind
/// parameters exist to prevent. The statement type only takes text fixed at compile time, so
/// the mutant has to leak a string to get one: splicing takes effort against this API.
pub async fn spliced_search(
    client: &ProductionQueryClient,
    owner: &str,
    needle: &str,
    after: i64,
    limit: u32,
) -> Result<Vec<Item>, QueryError> {
    let function = match client.database().backend() {
        crate::statement::Backend::Postgres => "strpos(name, '{needle}')",
        crate::statement::Backend::Sqlite => "instr(name, '{needle}')",
    };
    let sql = format!(
        "SELECT id, owner, name, body, created_at, updated_at FROM dx_items \
         WHERE owner = $1 AND {} > 0 AND id > $2 ORDER BY id LIMIT $3",
        function.replace("{needle}", needle)
    );
    let sql: &'static str = Box::leak(sql.into_boxed_str());
    let statement = Statement::select(crate::items::TABLE, sql);
    client
        .query(&statement, &[owner.into(), after.into(), limit.into()])
        .await
}

/// The `driver-message-passthrough` mutant's detail: the driver's whole text.
pub fn driver_text(error: &sqlx::Error) -> String {
    match error {
        sqlx::Error::Database(db) => {
            let detail = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .and_then(|pg| pg.detail())
                .unwrap_or_default();
            format!("{error} {detail}")
        }
        other => other.to_string(),
    }
}
