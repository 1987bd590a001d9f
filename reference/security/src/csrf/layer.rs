//! [`Csrf`] holds the manager, the sessions and the names; it answers the token endpoint and
//! ends sessions. [`CsrfLayer`] checks state-changing requests (POST, PUT, PATCH, DELETE, and
//! any method not known to be safe):
//!
//! 1. `Sec-Fetch-Site: cross-site` is refused at once (Fetch Metadata, a second layer that
//!    needs no token);
//! 2. exempt paths, and requests carrying no `Cookie` header at all, pass: without cookies a
//!    request carries no ambient credential a forger could ride on (bearer-token API calls);
//! 3. otherwise the session cookie must name a live session, and the token (header, form
//!    field, or both, each then valid) must be valid for it.
//!
//! Refusals are 403 `CSRF_INVALID` with `details.reason` (spec/security.md).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use dx_error::{DxError, ErrorCode};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::json;
use tower::{Layer, Service};

use crate::csrf::cookies::{self, CookieAttributes};
use crate::csrf::extract::{self, Presented};
use crate::csrf::manager::{CsrfError, CsrfManager};
use crate::csrf::session::{SessionStore, is_session_id};
use crate::mutants::{SecurityMutant, SecurityMutations};
use crate::rejection::error_response;

/// Names, lifetimes and exemptions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsrfConfig {
    /// The `HttpOnly` cookie holding the session id.
    pub session_cookie: String,
    /// The script-readable cookie holding the current token.
    pub token_cookie: String,
    /// The request header a token may come in.
    pub header: HeaderName,
    /// The form field a token may come in.
    pub form_field: String,
    /// Whether cookies are `Secure` (production: over HTTPS, with the `__Host-` prefix).
    pub secure_cookies: bool,
    /// How long a session lives.
    pub session_ttl: Duration,
    /// Path prefixes never checked (listed in the discovery document).
    pub exempt_paths: Vec<String>,
    /// Whether `Sec-Fetch-Site: cross-site` refuses unsafe requests.
    pub fetch_metadata: bool,
    /// The largest form body read for a token (bigger forms are 413).
    pub max_form_bytes: usize,
}

impl CsrfConfig {
    /// Production: `__Host-` cookies, `Secure`, sessions of 12 hours.
    pub fn production() -> Self {
        Self {
            session_cookie: "__Host-dx_session".into(),
            token_cookie: "__Host-dx_csrf".into(),
            header: HeaderName::from_static("x-csrf-token"),
            form_field: "_csrf".into(),
            secure_cookies: true,
            session_ttl: Duration::from_secs(12 * 3600),
            exempt_paths: Vec::new(),
            fetch_metadata: true,
            max_form_bytes: 1024 * 1024,
        }
    }

    /// Plain HTTP (development, conformance on a test network): no prefix, not `Secure`.
    pub fn plain_http() -> Self {
        Self {
            session_cookie: "dx_session".into(),
            token_cookie: "dx_csrf".into(),
            secure_cookies: false,
            ..Self::production()
        }
    }

    /// Sets the session lifetime.
    pub fn with_session_ttl(mut self, ttl: Duration) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Exempts paths starting with `prefix`.
    pub fn exempt(mut self, prefix: impl Into<String>) -> Self {
        self.exempt_paths.push(prefix.into());
        self
    }
}

/// CSRF protection: the manager, the sessions, the configuration.
#[derive(Debug)]
pub struct Csrf {
    manager: CsrfManager,
    sessions: Arc<dyn SessionStore>,
    config: CsrfConfig,
    mutations: SecurityMutations,
}

impl Csrf {
    /// Protection with `manager`, sessions in `sessions`, named by `config`.
    pub fn new(manager: CsrfManager, sessions: Arc<dyn SessionStore>, config: CsrfConfig) -> Self {
        Self {
            manager,
            sessions,
            config,
            mutations: SecurityMutations::none(),
        }
    }

    /// Runs with `mutations` (only meaningful in a `mutants` build).
    pub fn with_mutations(mut self, mutations: SecurityMutations) -> Self {
        self.manager = self.manager.with_mutations(mutations);
        self.mutations = mutations;
        self
    }

    /// The manager.
    pub fn manager(&self) -> &CsrfManager {
        &self.manager
    }

    /// The configuration.
    pub fn config(&self) -> &CsrfConfig {
        &self.config
    }

    fn attributes(&self, http_only: bool, max_age: u64) -> CookieAttributes {
        CookieAttributes {
            http_only,
            secure: self.config.secure_cookies,
            max_age,
        }
    }

    /// The live session a request names, if any.
    async fn live_session(&self, headers: &HeaderMap) -> Result<Option<String>, DxError> {
        let Some(id) = cookies::cookie(headers, &self.config.session_cookie) else {
            return Ok(None);
        };
        if !is_session_id(id) {
            return Ok(None);
        }
        match self.sessions.is_live(id).await {
            Ok(true) => Ok(Some(id.to_owned())),
            Ok(false) => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// The token endpoint: a token for the request's live session, starting a session (and
    /// setting its cookie) when there is none. The token comes in the JSON body and in the
    /// script-readable token cookie.
    pub async fn issue(&self, request_headers: &HeaderMap) -> Response<Body> {
        match self.issue_inner(request_headers).await {
            Ok(response) => response,
            Err(err) => error_response(err, request_headers),
        }
    }

    async fn issue_inner(&self, request_headers: &HeaderMap) -> Result<Response<Body>, DxError> {
        let mut set_cookies = Vec::new();
        let session = match self.live_session(request_headers).await? {
            Some(id) => id,
            None => {
                let id = self
                    .sessions
                    .create(self.config.session_ttl)
                    .await
                    .map_err(|e| unavailable(&e))?;
                set_cookies.push(cookies::set_cookie(
                    &self.config.session_cookie,
                    &id,
                    self.attributes(true, self.config.session_ttl.as_secs()),
                ));
                id
            }
        };
        let token = self.manager.generate(&session).map_err(|e| {
            DxError::internal("no randomness for a CSRF token")
                .with_source(std::io::Error::other(e.to_string()))
        })?;
        let ttl = self.manager.ttl().as_secs();
        set_cookies.push(cookies::set_cookie(
            &self.config.token_cookie,
            &token,
            self.attributes(false, ttl),
        ));
        let body = json!({
            "token": token,
            "header": self.config.header.as_str(),
            "form_field": self.config.form_field,
            "expires_in": ttl,
        });
        let mut response = Response::new(Body::from(body.to_string()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for cookie in set_cookies {
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        Ok(response)
    }

    /// Ends the request's session (its tokens stop working) and clears both cookies: 204.
    pub async fn end_session(&self, request_headers: &HeaderMap) -> Response<Body> {
        if let Some(id) = cookies::cookie(request_headers, &self.config.session_cookie)
            .filter(|id| is_session_id(id))
            && let Err(e) = self.sessions.end(id).await
        {
            return error_response(unavailable(&e), request_headers);
        }
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        for (name, http_only) in [
            (&self.config.session_cookie, true),
            (&self.config.token_cookie, false),
        ] {
            if let Ok(v) = HeaderValue::from_str(&cookies::set_cookie(
                name,
                "",
                self.attributes(http_only, 0),
            )) {
                headers.append(header::SET_COOKIE, v);
            }
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    /// Checks an unsafe request whose body has been read; `Ok` lets it through.
    pub async fn check(&self, headers: &HeaderMap, body: &bytes::Bytes) -> Result<(), DxError> {
        let session = self
            .live_session(headers)
            .await?
            .ok_or_else(|| refused(CsrfError::NoSession))?;
        let mut presented = Presented {
            header: extract::from_header(headers, &self.config.header).map_err(refused)?,
            form: None,
        };
        if !self.mutations.is(SecurityMutant::CsrfFormFieldIgnored)
            && let Some(kind) = extract::form_kind(headers)
        {
            presented.form = extract::from_form(&kind, body.clone(), &self.config.form_field)
                .await
                .map_err(refused)?;
        }
        if presented.header.is_none() && presented.form.is_none() {
            return Err(refused(CsrfError::Missing));
        }
        for token in [&presented.header, &presented.form].into_iter().flatten() {
            self.manager.validate(token, &session).map_err(refused)?;
        }
        Ok(())
    }

    /// Whether `path` is exempt.
    pub fn is_exempt(&self, path: &str) -> bool {
        self.config
            .exempt_paths
            .iter()
            .any(|p| path.starts_with(p.as_str()))
    }
}

/// The 403 for `reason`.
fn refused(reason: CsrfError) -> DxError {
    DxError::auth(ErrorCode::CsrfInvalid, reason.to_string())
        .with_details(json!({ "reason": reason.reason() }))
        .with_suggestion("Fetch a token from the CSRF token endpoint and send it in the CSRF header or form field, with the session cookie")
}

/// The 503 when the session store is down: a security check never fails open.
fn unavailable(e: &dyn std::fmt::Display) -> DxError {
    tracing::error!(error = %e, "session store failed; refusing (CSRF fails closed)");
    DxError::new(ErrorCode::ServiceUnavailable, "Sessions are unavailable")
}

/// Methods that change nothing and need no token.
fn is_safe(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// The CSRF layer.
#[derive(Debug, Clone)]
pub struct CsrfLayer {
    csrf: Arc<Csrf>,
}

impl CsrfLayer {
    /// Checks requests with `csrf`.
    pub fn new(csrf: Arc<Csrf>) -> Self {
        Self { csrf }
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CsrfService {
            inner,
            csrf: Arc::clone(&self.csrf),
        }
    }
}

/// The service [`CsrfLayer`] makes.
#[derive(Debug, Clone)]
pub struct CsrfService<S> {
    inner: S,
    csrf: Arc<Csrf>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<Request<Body>> for CsrfService<S>
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
        let csrf = Arc::clone(&self.csrf);
        let method = req.method().clone();
        if is_safe(&method) || crate::mutants::delete_unchecked(&method, csrf.mutations) {
            return Box::pin(inner.call(req));
        }
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
        if csrf.config.fetch_metadata && cross_site {
            let response = error_response(refused(CsrfError::CrossSite), req.headers());
            return Box::pin(async move { Ok(response) });
        }
        if csrf.is_exempt(req.uri().path()) || !cookies::has_cookies(req.headers()) {
            return Box::pin(inner.call(req));
        }
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let limited = http_body_util::Limited::new(body, csrf.config.max_form_bytes);
            let bytes = match limited.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(e) => {
                    let too_large = e
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_some();
                    let err = if too_large {
                        DxError::request(
                            ErrorCode::PayloadTooLarge,
                            "Request body is larger than allowed",
                        )
                    } else {
                        DxError::request(
                            ErrorCode::BadRequest,
                            "The request body could not be read",
                        )
                    };
                    return Ok(error_response(err, &parts.headers));
                }
            };
            if let Err(err) = csrf.check(&parts.headers, &bytes).await {
                return Ok(error_response(err, &parts.headers));
            }
            inner
                .call(Request::from_parts(parts, Body::from(bytes)))
                .await
        })
    }
}
