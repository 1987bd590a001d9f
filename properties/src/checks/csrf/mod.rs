//! Properties 16-18: CSRF, checked over HTTP with the names the target publishes in `csrf`.
//! [`CsrfApi`] obtains sessions from the token endpoint (reading the session cookie from
//! `Set-Cookie`, as a browser would) and judges every refusal: 403 `CSRF_INVALID` in the
//! envelope, with `details.reason`.

pub mod p16_token_uniqueness;
pub mod p17_validation_strictness;
pub mod p18_token_location;

use std::time::Duration;

use http::Method;
use serde_json::Value;

use crate::cases::CaseFailure;
use crate::check::CheckOutcome;
use crate::checks::support::Observer;
use crate::clause::security as sc;
use crate::envelope::expect_code;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

/// The unsafe methods the checks send.
pub const UNSAFE: [Method; 4] = [Method::POST, Method::PUT, Method::PATCH, Method::DELETE];

/// Every reason spec/security.md allows.
pub const REASONS: [&str; 7] = [
    "missing",
    "malformed",
    "invalid",
    "expired",
    "session-mismatch",
    "no-session",
    "cross-site",
];

/// What the target publishes in `csrf`.
#[derive(Debug, Clone)]
pub struct CsrfArea {
    /// The token endpoint.
    pub token_endpoint: String,
    /// The session end endpoint.
    pub session_end: String,
    /// The session cookie's name.
    pub session_cookie: String,
    /// The token cookie's name.
    pub token_cookie: String,
    /// The token header.
    pub header: String,
    /// The token form field.
    pub form_field: String,
    /// Token lifetime.
    pub ttl_seconds: u64,
    /// Path prefixes the check exempts (`csrf.exempt.paths`).
    pub exempt_paths: Vec<String>,
}

/// The `csrf` area of `target`, on any profile: the checks' unsafe requests go to the token
/// endpoint, which changes nothing, and the sessions they end are their own.
pub fn area(target: &Target) -> Result<CsrfArea, CheckOutcome> {
    let d = target.discovery();
    if !d.offers("csrf") {
        return Err(CheckOutcome::NotVerified(
            "the target publishes no csrf member".into(),
        ));
    }
    let raw = d.raw.get("csrf").cloned().unwrap_or(Value::Null);
    let text = |name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
    let (
        Some(token_endpoint),
        Some(session_end),
        Some(session_cookie),
        Some(token_cookie),
        Some(header),
        Some(form_field),
        Some(ttl_seconds),
    ) = (
        text("token_endpoint"),
        text("session_end_endpoint"),
        text("session_cookie"),
        text("token_cookie"),
        text("header"),
        text("form_field"),
        raw.get("ttl_seconds").and_then(Value::as_u64),
    )
    else {
        return Err(CheckOutcome::SetupFailed(CaseFailure::plain(
            "a `csrf` member as spec/discovery.md fixes it",
            format!("csrf = {raw}"),
        )));
    };
    Ok(CsrfArea {
        token_endpoint,
        session_end,
        session_cookie,
        token_cookie,
        header,
        form_field,
        ttl_seconds,
        exempt_paths: raw
            .pointer("/exempt/paths")
            .and_then(Value::as_array)
            .map(|paths| {
                paths
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// A session: its cookie (`name=value`) and a token issued to it.
#[derive(Debug, Clone)]
pub struct Session {
    /// `Cookie` header value naming the session.
    pub cookie: String,
    /// A token of the session.
    pub token: String,
    /// When the request that issued the token was sent: its lifetime starts no earlier.
    pub asked: tokio::time::Instant,
}

/// How a token travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Nowhere.
    Nowhere,
    /// The header.
    Header,
    /// An urlencoded form field.
    UrlEncoded,
    /// A multipart form field.
    Multipart,
}

/// The CSRF routes of one target.
#[derive(Debug, Clone, Copy)]
pub struct CsrfApi<'t> {
    /// Every answer passes through it.
    pub observer: Observer<'t>,
    /// What the target publishes.
    pub area: &'t CsrfArea,
}

/// The value of cookie `name` set by `ex`.
pub fn set_cookie<'e>(ex: &'e Exchange, name: &str) -> Option<&'e str> {
    ex.headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| v.trim())
}

/// A multipart body with `fields`, in order.
pub fn multipart(boundary: &str, fields: &[(String, String)]) -> Vec<u8> {
    let mut body = String::new();
    for (name, value) in fields {
        body.push_str(&format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
        ));
    }
    body.push_str(&format!("--{boundary}--\r\n"));
    body.into_bytes()
}

/// An urlencoded body with `fields`, in order.
pub fn urlencoded(fields: &[(String, String)]) -> Vec<u8> {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in fields {
        s.append_pair(name, value);
    }
    s.finish().into_bytes()
}

impl<'t> CsrfApi<'t> {
    /// The API of `target`.
    pub fn new(target: &'t Target, area: &'t CsrfArea) -> Self {
        Self {
            observer: Observer::spread(target),
            area,
        }
    }

    /// A fresh session from the token endpoint, with the token it answered.
    pub async fn session(&self) -> Result<Session, CaseFailure> {
        let asked = tokio::time::Instant::now();
        let ex = self
            .observer
            .send(RequestSpec::get(&self.area.token_endpoint), &[])
            .await?;
        let token = ex
            .json()
            .and_then(|b| b.get("token").and_then(Value::as_str).map(str::to_owned))
            .filter(|t| !t.is_empty() && ex.status == 200);
        let Some(token) = token else {
            return Err(CaseFailure::violates(
                &ex,
                &sc::TOKEN_ENDPOINT,
                "a token for a new session",
            ));
        };
        let Some(session) = set_cookie(&ex, &self.area.session_cookie) else {
            return Err(CaseFailure::violates(
                &ex,
                &sc::TOKEN_ENDPOINT,
                format!(
                    "the session cookie {} for a new session",
                    self.area.session_cookie
                ),
            ));
        };
        if set_cookie(&ex, &self.area.token_cookie) != Some(token.as_str()) {
            return Err(CaseFailure::violates(
                &ex,
                &sc::TOKEN_COOKIE,
                "the token cookie",
            ));
        }
        Ok(Session {
            cookie: format!("{}={session}", self.area.session_cookie),
            token,
            asked,
        })
    }

    /// An unsafe request to `path` with `cookie`, and `token` in `place`.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        cookie: Option<&str>,
        token: &str,
        place: Place,
    ) -> RequestSpec {
        let mut r = RequestSpec::new(method, path);
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        let fields = vec![
            ("note".to_owned(), "dx-conformance".to_owned()),
            (self.area.form_field.clone(), token.to_owned()),
        ];
        match place {
            Place::Nowhere => r,
            Place::Header => r.header(&self.area.header, token),
            Place::UrlEncoded => r
                .header("content-type", "application/x-www-form-urlencoded")
                .body(urlencoded(&fields)),
            Place::Multipart => r
                .header(
                    "content-type",
                    "multipart/form-data; boundary=dxconformance",
                )
                .body(multipart("dxconformance", &fields)),
        }
    }

    /// Sends `request` and judges that it is refused for one of `reasons`.
    pub async fn refused(
        &self,
        request: RequestSpec,
        reasons: &[&str],
        what: &str,
    ) -> Result<(), CaseFailure> {
        let ex = self.observer.send(request, &[]).await?;
        expect_code(&ex, "CSRF_INVALID", &sc::REQUIRED).map_err(|f| f.about(what))?;
        let reason = ex.json().and_then(|b| {
            b.pointer("/error/details/reason")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        match reason {
            Some(r) if REASONS.contains(&r.as_str()) => {
                if reasons.contains(&r.as_str()) {
                    Ok(())
                } else {
                    Err(CaseFailure::violates(
                        &ex,
                        &sc::REQUIRED,
                        format!("{what}: refused, but as {r:?}, not {reasons:?}"),
                    ))
                }
            }
            _ => Err(CaseFailure::violates(&ex, &sc::REASON, what.to_owned())),
        }
    }

    /// Sends `request`, carrying `session`'s token, and judges that the CSRF check let it
    /// through (any answer but a 403 `CSRF_INVALID`; the route may still refuse it for its
    /// own reasons, e.g. 405). A refusal as expired, once `csrf.ttl_seconds` have passed
    /// since the token was asked for, shows nothing (the token may rightly have expired on
    /// the way, through a slow link): the case is left unconcluded.
    pub async fn accepted(
        &self,
        session: &Session,
        request: RequestSpec,
        what: &str,
    ) -> Result<Exchange, CaseFailure> {
        let ex = self.observer.send(request, &[]).await?;
        let body = ex.json();
        let at = |pointer: &str| {
            body.as_ref()
                .and_then(|b| b.pointer(pointer).and_then(Value::as_str))
        };
        if ex.status == 403 && at("/error/code") == Some("CSRF_INVALID") {
            let lived = session.asked.elapsed() >= Duration::from_secs(self.area.ttl_seconds);
            if lived && at("/error/details/reason") == Some("expired") {
                crate::cases::unconcluded(format!(
                    "{what}: the answer came more than csrf.ttl_seconds ({} s) after the token was asked for, and the token was refused as expired",
                    self.area.ttl_seconds
                ));
                return Ok(ex);
            }
            return Err(CaseFailure::violates(
                &ex,
                &sc::EITHER_PLACE,
                format!("{what}: a valid token refused"),
            ));
        }
        Ok(ex)
    }
}
