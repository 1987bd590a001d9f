//! Rate limiting per client and endpoint category with an exact sliding window (requirement 5,
//! Properties 13-15).
//!
//! - [`window`]: the sliding log, the algorithm itself, shared by the memory store and
//!   mirrored by the Redis store's script;
//! - [`store`]: the [`RateLimitStore`] trait and its sharded, bounded [`MemoryStore`];
//! - [`redis`]: [`RedisStore`], one atomic script per check, shared by every instance;
//! - [`limiter`]: [`RateLimiter`], categories and their limits;
//! - [`client_ip`]: whose request it is: the peer, or what a trusted proxy reports;
//! - [`fields`]: the `RateLimit-Policy` and `RateLimit` response fields;
//! - [`layer`]: [`RateLimitLayer`], the tower layer;
//! - [`suite`]: one test suite every store must pass.

pub mod client_ip;
pub mod fields;
pub mod layer;
pub mod limiter;
pub mod redis;
pub mod store;
pub mod suite;
pub mod window;

pub use client_ip::ClientIp;
pub use layer::{RateLimitConfig, RateLimitLayer, StoreFailure};
pub use limiter::{EndpointCategory, RateLimit, RateLimitResult, RateLimiter, RouteCategories};
pub use redis::{RedisStore, RedisTime};
pub use store::{MemoryStore, RateLimitError, RateLimitStore};
pub use window::{Decision, SlidingLog};
