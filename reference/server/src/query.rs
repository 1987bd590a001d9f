//! The server's query component: the query client on the server's pool, the items
//! repository, and the schema migrated at start-up or, if the database is down then, on
//! first use (a failed migration is retried by the next request).

use std::time::Duration;

use dx_query::{Items, ProductionQueryClient, QueryConfig, QueryError};
use tokio::sync::OnceCell;

use crate::config::Config;
use crate::services::Services;

/// Retries of a failed migration within one call.
const MIGRATE_RETRIES: u64 = 3;

/// The query module as the routes use it.
#[derive(Debug)]
pub struct Query {
    items: Items,
    migrated: OnceCell<()>,
}

impl Query {
    /// The client and repository on the server's pool.
    pub fn build(config: &Config, services: &Services) -> Self {
        let query_config = QueryConfig {
            pool: config.query.pool(config.mutations.query()),
            ..QueryConfig::default()
        };
        let client = ProductionQueryClient::new(services.database.clone(), &query_config);
        Self {
            items: Items::new(client),
            migrated: OnceCell::new(),
        }
    }

    /// The client.
    pub fn client(&self) -> &ProductionQueryClient {
        self.items.client()
    }

    /// The items, once the schema is in place.
    pub async fn items(&self) -> Result<&Items, QueryError> {
        self.migrated
            .get_or_try_init(|| async {
                // Instances starting together on a fresh database race to create the
                // migrations table; the loser's attempt fails once and succeeds on retry.
                let mut attempt = 0;
                loop {
                    match self.client().database().migrate().await {
                        Ok(()) => return Ok(()),
                        Err(e) if attempt < MIGRATE_RETRIES => {
                            attempt += 1;
                            tracing::warn!(error = %e, attempt, "query schema migration failed; retrying");
                            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            })
            .await?;
        Ok(&self.items)
    }
}
