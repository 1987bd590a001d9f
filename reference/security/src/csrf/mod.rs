//! CSRF protection (requirement 6, Properties 16-18): tokens bound to a server-side session,
//! checked on every state-changing request that carries cookies, with Fetch Metadata as a
//! second layer.
//!
//! - [`manager`]: [`CsrfManager`], the HMAC-SHA256 tokens;
//! - [`session`]: the sessions tokens are bound to ([`SessionStore`]: memory or Redis);
//! - [`cookies`]: reading `Cookie` and writing `Set-Cookie`;
//! - [`extract`]: the token from the header or a form field (urlencoded or multipart);
//! - [`layer`]: [`Csrf`] (configuration, the token endpoint) and [`CsrfLayer`].

pub mod cookies;
pub mod extract;
pub mod layer;
pub mod manager;
pub mod session;

pub use layer::{Csrf, CsrfConfig, CsrfLayer};
pub use manager::{CsrfError, CsrfManager};
pub use session::{MemorySessions, RedisSessions, SessionError, SessionStore};
