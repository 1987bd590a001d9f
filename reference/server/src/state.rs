//! The state shared by every request.

use std::collections::HashMap;
use std::sync::Arc;

use dx_error::{ErrorBoundary, SafeMutex};

use crate::config::Config;
use crate::keys::ServerKey;
use crate::routes::faults::FaultState;
use crate::services::Services;

/// Shared, read-mostly server state.
#[derive(Debug)]
pub struct AppState {
    /// The validated configuration.
    pub config: Config,
    /// Service connections.
    pub services: Services,
    /// The Ed25519 signing key.
    pub key: ServerKey,
    /// Authentication: tokens, passwords, the credential store.
    pub auth: Arc<crate::auth::Auth>,
    /// Security headers, rate limits, CSRF.
    pub security: Arc<crate::security::Security>,
    /// The query module: the query client and the items.
    pub query: Arc<crate::query::Query>,
    /// The sync module: this instance's WebSocket connections over the broker.
    pub sync: Arc<dx_sync::manager::WebSocketManager>,
    /// State used by the conformance fault hooks.
    pub faults: FaultState,
    /// One error boundary per route.
    pub boundaries: Boundaries,
    /// Server-side rendering: the crawler rule and planted pages.
    pub ssr: crate::ssr::Ssr,
    /// The `failure-cascades` mutant's state (inert without it).
    pub cascade: crate::mutants::Cascade,
}

/// Shared handle to [`AppState`].
pub type SharedState = Arc<AppState>;

/// The error boundaries, one per route, created on first use and named after the route.
#[derive(Debug, Default)]
pub struct Boundaries {
    by_route: SafeMutex<HashMap<String, Arc<ErrorBoundary>>>,
}

impl Boundaries {
    /// The boundary of `route` (a route template such as `/api/v1/client-errors`).
    pub fn get(&self, route: &str) -> Arc<ErrorBoundary> {
        match self.by_route.lock() {
            Ok(mut map) => Arc::clone(
                map.entry(route.to_owned())
                    .or_insert_with(|| Arc::new(ErrorBoundary::new(route))),
            ),
            // Unreachable with a blocking SafeMutex; a fresh boundary still isolates the route.
            Err(_) => Arc::new(ErrorBoundary::new(route)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_per_route_and_reused() {
        let b = Boundaries::default();
        let one = b.get("/a");
        let _ = one.caught_panic(&"x");
        assert!(Arc::ptr_eq(&one, &b.get("/a")));
        assert_eq!(b.get("/b").failures(), 0);
        assert_eq!(b.get("/a").failures(), 1);
    }
}
