//! The six security headers on every response (requirement 4, Property 12), whatever produced
//! the response: a route, the router's 404 or 405, a timeout, a refused body, a rate limit, a
//! panic turned into a 500. The layer sets them after the inner service has answered, so no
//! handler can remove or loosen them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderName, HeaderValue, Request, Response, header};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use crate::mutants::{SecurityMutant, SecurityMutations};

/// One year, the least HSTS `max-age` production may send (requirement 4.2).
pub const ONE_YEAR_SECONDS: u64 = 31_536_000;

/// The header names the layer sets, in the order spec/security.md lists them.
pub const HEADER_NAMES: [&str; 6] = [
    "content-security-policy",
    "strict-transport-security",
    "x-frame-options",
    "x-content-type-options",
    "x-xss-protection",
    "referrer-policy",
];

/// Security headers configuration (the seed's `SecurityConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityConfig {
    /// Content Security Policy directives.
    pub csp: ContentSecurityPolicy,
    /// HSTS max-age in seconds.
    pub hsts_max_age: u64,
    /// Include subdomains in HSTS.
    pub hsts_include_subdomains: bool,
    /// X-Frame-Options value.
    pub frame_options: FrameOptions,
    /// Referrer policy.
    pub referrer_policy: ReferrerPolicy,
    /// Whether the relaxed development settings are in force.
    pub development_mode: bool,
}

/// Content Security Policy directives; an empty list leaves its directive out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentSecurityPolicy {
    /// `default-src`.
    pub default_src: Vec<String>,
    /// `script-src`.
    pub script_src: Vec<String>,
    /// `style-src`.
    pub style_src: Vec<String>,
    /// `img-src`.
    pub img_src: Vec<String>,
    /// `connect-src`.
    pub connect_src: Vec<String>,
    /// `frame-ancestors`.
    pub frame_ancestors: Vec<String>,
    /// `object-src` (not in the seed: plugins are never needed, so production says `'none'`).
    pub object_src: Vec<String>,
    /// `base-uri` (not in the seed: stops an injected `<base>` from redirecting scripts).
    pub base_uri: Vec<String>,
    /// `form-action` (not in the seed: forms post only to this origin).
    pub form_action: Vec<String>,
}

/// `X-Frame-Options` values (requirement 4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameOptions {
    /// No framing at all.
    Deny,
    /// Framing by the same origin only.
    SameOrigin,
}

impl FrameOptions {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deny => "DENY",
            Self::SameOrigin => "SAMEORIGIN",
        }
    }
}

/// `Referrer-Policy` values other than `unsafe-url`, which requirement 4.6 forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferrerPolicy {
    /// `no-referrer`.
    NoReferrer,
    /// `no-referrer-when-downgrade`.
    NoReferrerWhenDowngrade,
    /// `origin`.
    Origin,
    /// `origin-when-cross-origin`.
    OriginWhenCrossOrigin,
    /// `same-origin`.
    SameOrigin,
    /// `strict-origin`.
    StrictOrigin,
    /// `strict-origin-when-cross-origin` (the default).
    StrictOriginWhenCrossOrigin,
}

impl ReferrerPolicy {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoReferrer => "no-referrer",
            Self::NoReferrerWhenDowngrade => "no-referrer-when-downgrade",
            Self::Origin => "origin",
            Self::OriginWhenCrossOrigin => "origin-when-cross-origin",
            Self::SameOrigin => "same-origin",
            Self::StrictOrigin => "strict-origin",
            Self::StrictOriginWhenCrossOrigin => "strict-origin-when-cross-origin",
        }
    }
}

/// Why a configuration cannot be turned into headers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityConfigError {
    /// A CSP source contains a character that would end its directive or its header.
    #[error("CSP source {0:?} is not a single source expression")]
    BadSource(String),
    /// Production settings must forbid inline and eval'd scripts and keep a year of HSTS.
    #[error("a production policy cannot {0}")]
    NotStrict(&'static str),
}

fn sources(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl SecurityConfig {
    /// Production-safe defaults: `default-src 'self'`, scripts from this origin plus the
    /// `'wasm-unsafe-eval'` the WASM client needs to compile its module and nothing looser,
    /// no framing, a year of HSTS.
    pub fn production() -> Self {
        Self {
            csp: ContentSecurityPolicy {
                default_src: sources(&["'self'"]),
                script_src: sources(&["'self'", "'wasm-unsafe-eval'"]),
                style_src: sources(&["'self'"]),
                img_src: sources(&["'self'", "data:"]),
                connect_src: sources(&["'self'"]),
                frame_ancestors: sources(&["'none'"]),
                object_src: sources(&["'none'"]),
                base_uri: sources(&["'self'"]),
                form_action: sources(&["'self'"]),
            },
            hsts_max_age: ONE_YEAR_SECONDS,
            hsts_include_subdomains: true,
            frame_options: FrameOptions::Deny,
            referrer_policy: ReferrerPolicy::StrictOriginWhenCrossOrigin,
            development_mode: false,
        }
    }

    /// Development-friendly defaults: inline and eval'd scripts and styles for dev tooling,
    /// WebSocket connections to any host (hot reload), and no HSTS pinning (`max-age=0`), so a
    /// browser that visited a development server over HTTP is not locked to HTTPS.
    pub fn development() -> Self {
        let mut config = Self::production();
        config.csp.script_src = sources(&[
            "'self'",
            "'wasm-unsafe-eval'",
            "'unsafe-eval'",
            "'unsafe-inline'",
        ]);
        config.csp.style_src = sources(&["'self'", "'unsafe-inline'"]);
        config.csp.connect_src = sources(&["'self'", "ws:", "wss:"]);
        config.hsts_max_age = 0;
        config.hsts_include_subdomains = false;
        config.development_mode = true;
        config
    }

    /// Sets whether HSTS covers subdomains.
    pub fn with_hsts_include_subdomains(mut self, include: bool) -> Self {
        self.hsts_include_subdomains = include;
        self
    }

    /// Sets the HSTS max-age.
    pub fn with_hsts_max_age(mut self, seconds: u64) -> Self {
        self.hsts_max_age = seconds;
        self
    }

    /// Sets `X-Frame-Options`.
    pub fn with_frame_options(mut self, value: FrameOptions) -> Self {
        self.frame_options = value;
        self
    }

    /// Sets `Referrer-Policy`.
    pub fn with_referrer_policy(mut self, value: ReferrerPolicy) -> Self {
        self.referrer_policy = value;
        self
    }

    /// Builds the CSP header value: `directive source …` joined by `; `, in a fixed order.
    pub fn build_csp_header(&self) -> String {
        let csp = &self.csp;
        [
            ("default-src", &csp.default_src),
            ("script-src", &csp.script_src),
            ("style-src", &csp.style_src),
            ("img-src", &csp.img_src),
            ("connect-src", &csp.connect_src),
            ("object-src", &csp.object_src),
            ("base-uri", &csp.base_uri),
            ("form-action", &csp.form_action),
            ("frame-ancestors", &csp.frame_ancestors),
        ]
        .iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(name, list)| format!("{name} {}", list.join(" ")))
        .collect::<Vec<_>>()
        .join("; ")
    }

    /// The HSTS header value.
    pub fn build_hsts_header(&self) -> String {
        if self.hsts_include_subdomains {
            format!("max-age={}; includeSubDomains", self.hsts_max_age)
        } else {
            format!("max-age={}", self.hsts_max_age)
        }
    }

    /// Checks that every source is one expression and that a non-development policy is
    /// strict: no `'unsafe-inline'` or `'unsafe-eval'` scripts, `default-src` and
    /// `frame-ancestors` present, a year of HSTS (requirements 4.1, 4.2).
    pub fn validate(&self) -> Result<(), SecurityConfigError> {
        let csp = &self.csp;
        for list in [
            &csp.default_src,
            &csp.script_src,
            &csp.style_src,
            &csp.img_src,
            &csp.connect_src,
            &csp.frame_ancestors,
            &csp.object_src,
            &csp.base_uri,
            &csp.form_action,
        ] {
            for source in list {
                if source.is_empty()
                    || source
                        .chars()
                        .any(|c| c == ';' || c == ',' || c.is_whitespace() || c.is_control())
                {
                    return Err(SecurityConfigError::BadSource(source.clone()));
                }
            }
        }
        if self.development_mode {
            return Ok(());
        }
        let loose = |list: &Vec<String>| {
            list.iter()
                .any(|s| s == "'unsafe-inline'" || s == "'unsafe-eval'")
        };
        if loose(&csp.script_src) || (csp.script_src.is_empty() && loose(&csp.default_src)) {
            return Err(SecurityConfigError::NotStrict(
                "allow 'unsafe-inline' or 'unsafe-eval' scripts",
            ));
        }
        if csp.default_src.is_empty() || csp.frame_ancestors.is_empty() {
            return Err(SecurityConfigError::NotStrict(
                "leave out default-src or frame-ancestors",
            ));
        }
        if self.hsts_max_age < ONE_YEAR_SECONDS {
            return Err(SecurityConfigError::NotStrict(
                "send an HSTS max-age under one year",
            ));
        }
        Ok(())
    }
}

/// Adds the security headers to every response of the wrapped service.
#[derive(Debug, Clone)]
pub struct SecurityHeadersLayer {
    headers: std::sync::Arc<[(HeaderName, HeaderValue)]>,
    mutations: SecurityMutations,
}

impl SecurityHeadersLayer {
    /// A layer sending `config`'s headers; fails when the configuration is not valid.
    pub fn new(config: &SecurityConfig) -> Result<Self, SecurityConfigError> {
        config.validate()?;
        let value = |s: String| {
            HeaderValue::from_str(&s).map_err(|_| SecurityConfigError::BadSource(s.clone()))
        };
        let headers = vec![
            (
                header::CONTENT_SECURITY_POLICY,
                value(config.build_csp_header())?,
            ),
            (
                header::STRICT_TRANSPORT_SECURITY,
                value(config.build_hsts_header())?,
            ),
            (
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static(config.frame_options.as_str()),
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
            // `0` disables the legacy XSS auditors, whose `1; mode=block` could be abused to
            // leak data across origins; current guidance (OWASP, MDN) recommends `0` with a CSP.
            (header::X_XSS_PROTECTION, HeaderValue::from_static("0")),
            (
                header::REFERRER_POLICY,
                HeaderValue::from_static(config.referrer_policy.as_str()),
            ),
        ];
        Ok(Self {
            headers: headers.into(),
            mutations: SecurityMutations::none(),
        })
    }

    /// Runs with `mutations` (only meaningful in a `mutants` build).
    pub fn with_mutations(mut self, mutations: SecurityMutations) -> Self {
        self.mutations = mutations;
        self
    }
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeaders<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeaders {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`SecurityHeadersLayer`] makes.
#[derive(Debug, Clone)]
pub struct SecurityHeaders<S> {
    inner: S,
    layer: SecurityHeadersLayer,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityHeaders<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        ResponseFuture {
            inner: self.inner.call(req),
            layer: self.layer.clone(),
        }
    }
}

pin_project! {
    /// The response future of [`SecurityHeaders`].
    #[derive(Debug)]
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        layer: SecurityHeadersLayer,
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        let skip = this
            .layer
            .mutations
            .is(SecurityMutant::HeadersMissingOnErrors)
            && response.status().as_u16() >= 400;
        if !skip {
            let headers = response.headers_mut();
            headers.reserve(this.layer.headers.len());
            for (name, value) in this.layer.headers.iter() {
                headers.insert(name.clone(), value.clone());
            }
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use proptest::prelude::*;
    use rstest::rstest;
    use tower::{ServiceExt, service_fn};

    #[test]
    fn production_csp_is_strict_and_allows_wasm() {
        let csp = SecurityConfig::production().build_csp_header();
        assert_eq!(
            csp,
            "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
             form-action 'self'; frame-ancestors 'none'"
        );
        assert!(SecurityConfig::production().validate().is_ok());
        assert_eq!(
            SecurityConfig::production().build_hsts_header(),
            "max-age=31536000; includeSubDomains"
        );
        let without = SecurityConfig::production().with_hsts_include_subdomains(false);
        assert_eq!(without.build_hsts_header(), "max-age=31536000");
    }

    #[test]
    fn development_relaxes_but_still_validates() {
        let dev = SecurityConfig::development();
        assert!(dev.validate().is_ok());
        assert!(dev.build_csp_header().contains("'unsafe-eval'"));
        assert_eq!(dev.build_hsts_header(), "max-age=0");
    }

    #[rstest]
    #[case::inline_script(|c: &mut SecurityConfig| c.csp.script_src.push("'unsafe-inline'".into()))]
    #[case::eval_script(|c: &mut SecurityConfig| c.csp.script_src.push("'unsafe-eval'".into()))]
    #[case::eval_by_default(|c: &mut SecurityConfig| { c.csp.script_src.clear(); c.csp.default_src.push("'unsafe-eval'".into()); })]
    #[case::no_default(|c: &mut SecurityConfig| c.csp.default_src.clear())]
    #[case::no_frame_ancestors(|c: &mut SecurityConfig| c.csp.frame_ancestors.clear())]
    #[case::short_hsts(|c: &mut SecurityConfig| c.hsts_max_age = ONE_YEAR_SECONDS - 1)]
    #[case::header_injection(|c: &mut SecurityConfig| c.csp.img_src.push("a; script-src *".into()))]
    #[case::comma(|c: &mut SecurityConfig| c.csp.img_src.push("a,b".into()))]
    #[case::empty_source(|c: &mut SecurityConfig| c.csp.img_src.push(String::new()))]
    fn loose_or_broken_production_policies_are_refused(#[case] change: fn(&mut SecurityConfig)) {
        let mut config = SecurityConfig::production();
        change(&mut config);
        assert!(config.validate().is_err());
        assert!(SecurityHeadersLayer::new(&config).is_err());
    }

    #[test]
    fn builders_set_their_fields() {
        let c = SecurityConfig::production()
            .with_hsts_max_age(ONE_YEAR_SECONDS * 2)
            .with_frame_options(FrameOptions::SameOrigin)
            .with_referrer_policy(ReferrerPolicy::NoReferrer);
        assert_eq!(c.hsts_max_age, ONE_YEAR_SECONDS * 2);
        assert_eq!(c.frame_options.as_str(), "SAMEORIGIN");
        assert_eq!(c.referrer_policy.as_str(), "no-referrer");
        for (p, s) in [
            (
                ReferrerPolicy::NoReferrerWhenDowngrade,
                "no-referrer-when-downgrade",
            ),
            (ReferrerPolicy::Origin, "origin"),
            (
                ReferrerPolicy::OriginWhenCrossOrigin,
                "origin-when-cross-origin",
            ),
            (ReferrerPolicy::SameOrigin, "same-origin"),
            (ReferrerPolicy::StrictOrigin, "strict-origin"),
        ] {
            assert_eq!(p.as_str(), s);
        }
    }

    async fn answer(
        status: u16,
        handler_headers: &[(&'static str, &'static str)],
    ) -> Response<Body> {
        let layer = SecurityHeadersLayer::new(&SecurityConfig::production()).unwrap();
        let handler_headers = handler_headers.to_vec();
        let service = layer.layer(service_fn(move |_req: Request<Body>| {
            let handler_headers = handler_headers.clone();
            async move {
                let mut response = Response::new(Body::empty());
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                for (name, value) in handler_headers {
                    response
                        .headers_mut()
                        .insert(name, HeaderValue::from_static(value));
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        }));
        service.oneshot(Request::new(Body::empty())).await.unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// Feature: production-readiness, Property 12: Security Headers Presence
        #[test]
        fn every_response_carries_the_six_headers(status in 100u16..600) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let response = rt.block_on(answer(status, &[
                ("x-frame-options", "ALLOWALL"),
                ("content-security-policy", "default-src *"),
            ]));
            for name in HEADER_NAMES {
                prop_assert_eq!(response.headers().get_all(name).iter().count(), 1, "{}", name);
            }
            let h = response.headers();
            prop_assert_eq!(h["x-frame-options"].to_str().unwrap(), "DENY");
            prop_assert_eq!(h["x-content-type-options"].to_str().unwrap(), "nosniff");
            prop_assert_eq!(h["x-xss-protection"].to_str().unwrap(), "0");
            prop_assert!(h["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
        }
    }
}
