//! dx-www security middleware, as tower layers any axum application can add on its own:
//!
//! - [`headers`]: the six security headers on every response ([`SecurityHeadersLayer`]),
//!   with the Content-Security-Policy built from [`SecurityConfig`];
//! - [`rate_limit`]: an exact sliding-window [`RateLimiter`] per endpoint category, with a
//!   sharded memory store and a Redis store shared by every instance ([`RateLimitLayer`]);
//! - [`csrf`]: HMAC-SHA256 tokens bound to a server-side session ([`CsrfManager`]), checked on
//!   every state-changing request ([`CsrfLayer`]), with Fetch Metadata as a second layer.
//!
//! Layers that refuse a request answer with the dx-www error envelope themselves and leave the
//! [`dx_error::ErrorSlot`] in the response, so an application's own error renderer (the
//! reference server's) can render it again with its request id and profile.

pub mod clock;
pub mod csrf;
pub mod headers;
pub mod mutants;
pub mod rate_limit;
mod rejection;

pub use clock::{Clock, ManualClock, SystemClock};
pub use csrf::{Csrf, CsrfConfig, CsrfError, CsrfLayer, CsrfManager};
pub use headers::{
    ContentSecurityPolicy, FrameOptions, ReferrerPolicy, SecurityConfig, SecurityHeadersLayer,
};
pub use mutants::{SecurityMutant, SecurityMutations};
pub use rate_limit::{
    EndpointCategory, RateLimit, RateLimitError, RateLimitLayer, RateLimitResult, RateLimitStore,
    RateLimiter,
};
