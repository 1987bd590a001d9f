//! dx-www's query module (spec/query.md; the seed's "Query Module Integration"): a sqlx
//! client for PostgreSQL (production) and SQLite (the embedded default) behind one API.
//!
//! - [`Statement`]: SQL text fixed when the program is compiled, with its table and
//!   operation; user input travels only as bound [`Value`]s (Property 19).
//! - [`Database`]: the bounded pool and its migrations (Property 20).
//! - [`QueryError`]: every failure classified (2001-2004, pool exhaustion, bad input) with
//!   its table and operation and without the driver's text (Property 21).
//! - [`ProductionQueryClient`]: queries under a timeout, a bounded single-flight cache
//!   invalidated on writes, metrics.
//! - [`Items`]: the repository behind the reference's items API.

pub mod cache;
pub mod client;
pub mod database;
pub mod error;
pub mod items;
pub mod mutants;
pub mod rows;
pub mod statement;

pub use cache::{CacheStats, QueryCache, QueryKey};
pub use client::{ProductionQueryClient, QueryConfig, QueryStats};
pub use database::{Database, Pool, PoolConfig};
pub use error::{QueryError, QueryErrorKind};
pub use items::{Item, Items, Page};
pub use mutants::{QueryMutant, QueryMutations};
pub use statement::{Backend, Operation, Statement, Value};
