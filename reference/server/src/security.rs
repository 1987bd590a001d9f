//! The security middleware of dx-security, configured for this server: headers from the
//! profile, the rate limiter on Redis when one is configured (shared by every instance) or
//! in memory, CSRF sessions likewise, the CSRF secret derived from the signing key so that
//! instances sharing a key accept each other's tokens.

use std::sync::Arc;
use std::time::Duration;

use dx_error::DxError;
use dx_security::csrf::{
    Csrf, CsrfConfig, CsrfManager, MemorySessions, RedisSessions, SessionStore,
};
use dx_security::rate_limit::{
    ClientIp, EndpointCategory, MemoryStore, RateLimit, RateLimitConfig, RateLimitLayer,
    RateLimitStore, RateLimiter, RedisStore, RouteCategories, StoreFailure,
};
use dx_security::{SecurityConfig, SecurityHeadersLayer, SecurityMutations};
use http::HeaderName;

use crate::config::{Config, FailMode};
use crate::keys::ServerKey;
use crate::profile::Profile;
use crate::routes::auth::AUTH_BASE;
use crate::routes::discovery::CLIENT_ERRORS_PATH;

/// The header that partitions rate-limit counts, honoured in the conformance profile only.
pub const PARTITION_HEADER: &str = "x-dx-ratelimit-partition";
/// The CSRF token endpoint.
pub const CSRF_TOKEN_PATH: &str = "/api/v1/session/csrf";
/// The endpoint that ends a session.
pub const SESSION_END_PATH: &str = "/api/v1/session/end";
/// Paths of the static category.
pub const STATIC_PREFIX: &str = "/static/";
/// Paths of the api category.
pub const API_PREFIX: &str = "/api/";

/// The configured security middleware.
#[derive(Debug)]
pub struct Security {
    /// The header settings.
    pub headers: SecurityConfig,
    /// The headers layer.
    pub headers_layer: SecurityHeadersLayer,
    /// The rate-limit layer.
    pub rate_limit: RateLimitLayer,
    /// The memory store, when limits are kept in memory (purged periodically).
    pub memory_store: Option<Arc<MemoryStore>>,
    /// CSRF protection.
    pub csrf: Arc<Csrf>,
    /// Whether counters and sessions live in Redis.
    pub shared: bool,
}

impl Security {
    /// Builds the middleware for `config`, signing with `key`.
    pub fn build(
        config: &Config,
        key: &ServerKey,
        mutations: SecurityMutations,
    ) -> Result<Self, DxError> {
        let settings = &config.security;
        let headers = match config.profile {
            Profile::Development => SecurityConfig::development(),
            Profile::Production | Profile::Conformance => SecurityConfig::production()
                .with_hsts_include_subdomains(settings.hsts_include_subdomains),
        };
        let headers_layer = SecurityHeadersLayer::new(&headers)
            .map_err(|e| DxError::config("security_headers", e.to_string()))?
            .with_mutations(mutations);
        let redis = config
            .redis_url
            .as_deref()
            .map(redis::Client::open)
            .transpose()
            .map_err(|e| {
                DxError::config("redis_url", "the Redis URL is not valid").with_source(e)
            })?;
        let (store, memory_store): (Arc<dyn RateLimitStore>, _) = match &redis {
            Some(client) => (
                Arc::new(
                    RedisStore::new(client.clone(), "dx:rl:")
                        .map_err(|e| DxError::config("redis_url", e.to_string()))?
                        .with_mutations(mutations),
                ),
                None,
            ),
            None => {
                let store = Arc::new(MemoryStore::default().with_mutations(mutations));
                (Arc::clone(&store) as Arc<dyn RateLimitStore>, Some(store))
            }
        };
        let mut limiter = RateLimiter::new(store);
        for (category, spec) in EndpointCategory::ALL.iter().zip(settings.limits) {
            limiter = limiter.with_limit(
                *category,
                RateLimit {
                    max_requests: spec.max_requests,
                    window_seconds: spec.window_seconds,
                },
            );
        }
        let rate_config = RateLimitConfig {
            routes: routes(),
            client_ip: ClientIp::trusting(settings.trusted_proxies.iter().copied()),
            partition_header: (config.profile == Profile::Conformance)
                .then(|| HeaderName::from_static(PARTITION_HEADER)),
            on_store_failure: match settings.store_failure {
                FailMode::Open => StoreFailure::Open,
                FailMode::Closed => StoreFailure::Closed,
            },
        };
        let rate_limit = RateLimitLayer::new(limiter, rate_config).with_mutations(mutations);
        let sessions: Arc<dyn SessionStore> = match &redis {
            Some(client) => Arc::new(
                RedisSessions::new(client.clone(), "dx:session:")
                    .map_err(|e| DxError::config("redis_url", e.to_string()))?,
            ),
            None => Arc::new(MemorySessions::default()),
        };
        let secret = CsrfManager::derive_secret(&key.signing_key().to_bytes());
        let manager = CsrfManager::new(
            secret,
            Duration::from_secs(u64::from(settings.csrf_ttl_seconds)),
        );
        let csrf_config = if settings.secure_cookies {
            CsrfConfig::production()
        } else {
            CsrfConfig::plain_http()
        }
        .exempt(CLIENT_ERRORS_PATH);
        let csrf = Arc::new(Csrf::new(manager, sessions, csrf_config).with_mutations(mutations));
        Ok(Self {
            headers,
            headers_layer,
            rate_limit,
            memory_store,
            csrf,
            shared: redis.is_some(),
        })
    }

    /// Gives the memory store's expired keys back now and then (nothing to do on Redis,
    /// whose keys expire by themselves).
    pub async fn purge_periodically(self: Arc<Self>) {
        let Some(store) = self.memory_store.clone() else {
            return;
        };
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            let purged = store.purge_expired();
            if purged > 0 {
                tracing::debug!(purged, "rate-limit keys expired");
            }
        }
    }
}

/// Which paths fall in which category.
pub fn routes() -> RouteCategories {
    RouteCategories::new()
        .with(format!("{AUTH_BASE}/"), EndpointCategory::Auth)
        .with(API_PREFIX, EndpointCategory::Api)
        .with(STATIC_PREFIX, EndpointCategory::Static)
}
