//! [`RateLimitLayer`]: decides every request whose path falls in a limited category before
//! it reaches the application. Admitted responses carry `RateLimit-Policy` and `RateLimit`;
//! refused ones are 429 `RATE_LIMITED` with `Retry-After` and the same fields
//! (requirements 5.2, 5.3). When the store fails the configured [`StoreFailure`] decides,
//! with the error logged; a store that hangs is cut off by its own time limit.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use dx_error::{DxError, ErrorCode};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, header};
use serde_json::json;
use tower::{Layer, Service};

use crate::mutants::{SecurityMutant, SecurityMutations};
use crate::rate_limit::client_ip::ClientIp;
use crate::rate_limit::fields;
use crate::rate_limit::limiter::{EndpointCategory, RateLimitResult, RateLimiter, RouteCategories};
use crate::rejection::error_response;

/// What to do when the store cannot decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreFailure {
    /// Let requests through unlimited (availability first).
    #[default]
    Open,
    /// Refuse them with 503 (protection first).
    Closed,
}

impl StoreFailure {
    /// The name in configuration and the discovery document.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// The longest partition value honoured.
pub const MAX_PARTITION_LEN: usize = 64;

/// How the layer finds a request's category and client.
#[derive(Debug, Clone, Default)]
pub struct RateLimitConfig {
    /// Which paths fall in which category.
    pub routes: RouteCategories,
    /// How the client address is found.
    pub client_ip: ClientIp,
    /// A request header whose value (1 to 64 of `[A-Za-z0-9_-]`) splits a client's counts
    /// into independent partitions; only the conformance profile sets it, so that checks
    /// running side by side do not share a budget (spec/security.md).
    pub partition_header: Option<HeaderName>,
    /// What to do when the store fails.
    pub on_store_failure: StoreFailure,
}

/// The rate-limiting layer.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: Arc<RateLimiter>,
    config: Arc<RateLimitConfig>,
    /// Each category's `RateLimit-Policy` value (it never changes: made once, not per request),
    /// in the order of [`EndpointCategory::ALL`].
    policies: Arc<[Option<HeaderValue>; 3]>,
    mutations: SecurityMutations,
}

impl RateLimitLayer {
    /// Limits requests with `limiter` as `config` says.
    pub fn new(limiter: RateLimiter, config: RateLimitConfig) -> Self {
        let policies = EndpointCategory::ALL.map(|category| {
            limiter
                .limit(category)
                .and_then(|l| fields::policy(category, l))
        });
        Self {
            limiter: Arc::new(limiter),
            config: Arc::new(config),
            policies: Arc::new(policies),
            mutations: SecurityMutations::none(),
        }
    }

    /// The `RateLimit-Policy` value of `category`.
    fn policy(&self, category: EndpointCategory) -> Option<HeaderValue> {
        let index = EndpointCategory::ALL.iter().position(|c| *c == category)?;
        self.policies[index].clone()
    }

    /// Runs with `mutations` (only meaningful in a `mutants` build).
    pub fn with_mutations(mut self, mutations: SecurityMutations) -> Self {
        self.mutations = mutations;
        self
    }

    /// The limiter.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// The configuration.
    pub fn config(&self) -> &RateLimitConfig {
        &self.config
    }

    /// The store key of a request from `peer` (None when the server did not record peers)
    /// with `headers`.
    pub fn client_key(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> String {
        let client = peer.map_or_else(
            || "unknown".to_owned(),
            |peer| ClientIp::key(self.config.client_ip.client(peer, headers)),
        );
        let partition = self
            .config
            .partition_header
            .as_ref()
            .and_then(|name| headers.get(name))
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= MAX_PARTITION_LEN
                    && v.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
        match partition {
            Some(p) => format!("{client}#{p}"),
            None => client,
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] makes.
#[derive(Debug, Clone)]
pub struct RateLimitService<S> {
    inner: S,
    layer: RateLimitLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for RateLimitService<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        let category = layer.config.routes.category(req.uri().path());
        let Some(category) = category.filter(|c| layer.limiter.limit(*c).is_some()) else {
            return Box::pin(inner.call(req));
        };
        Box::pin(async move {
            let peer = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip());
            let key = layer.client_key(peer, req.headers());
            let policy = layer.policy(category);
            match layer.limiter.check(&key, category).await {
                Ok(RateLimitResult::Allowed {
                    remaining,
                    reset_seconds,
                }) => {
                    let mut response = inner.call(req).await?;
                    let headers = response.headers_mut();
                    let current = fields::current(category, remaining, reset_seconds);
                    for (name, value) in [(fields::POLICY, policy), (fields::RATELIMIT, current)] {
                        if let Some(value) = value {
                            headers.insert(name, value);
                        }
                    }
                    Ok(response)
                }
                Ok(RateLimitResult::Limited { retry_after }) => {
                    let retry_after = if layer.mutations.is(SecurityMutant::RetryAfterWrong) {
                        1
                    } else {
                        retry_after
                    };
                    Ok(limited(req.headers(), category, policy, retry_after))
                }
                Err(e) => match layer.config.on_store_failure {
                    StoreFailure::Open => {
                        tracing::error!(error = %e, %category, "rate-limit store failed; letting the request through (fail open)");
                        inner.call(req).await
                    }
                    StoreFailure::Closed => {
                        tracing::error!(error = %e, %category, "rate-limit store failed; refusing the request (fail closed)");
                        let mut response = error_response(
                            DxError::new(
                                ErrorCode::ServiceUnavailable,
                                "Rate limiting is unavailable",
                            ),
                            req.headers(),
                        );
                        response
                            .headers_mut()
                            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                        Ok(response)
                    }
                },
            }
        })
    }
}

/// The 429 answer.
fn limited(
    request_headers: &HeaderMap,
    category: EndpointCategory,
    policy: Option<HeaderValue>,
    retry_after: u64,
) -> Response<Body> {
    let err = DxError::auth(ErrorCode::RateLimited, "Too many requests")
        .with_details(json!({ "category": category.as_str(), "retry_after_seconds": retry_after }))
        .with_suggestion(format!("Retry after {retry_after} seconds"));
    let mut response = error_response(err, request_headers);
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    let current = fields::current(category, 0, retry_after);
    for (name, value) in [(fields::POLICY, policy), (fields::RATELIMIT, current)] {
        if let Some(value) = value {
            headers.insert(name, value);
        }
    }
    response
}
