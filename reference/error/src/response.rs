//! The standard error response (the seed's `ErrorResponse`), and the rule that decides how much
//! of a [`DxError`] a client may see.

use chrono::{DateTime, SecondsFormat, Utc};
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::code::ErrorCode;
use crate::error::DxError;
use crate::sanitize::is_sensitive;

/// Whether a client-supplied request id is kept: 1 to 128 characters of `[A-Za-z0-9._:-]`
/// (spec/error-format.md). Every layer that answers with an envelope uses this one rule.
pub fn is_valid_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// A [`DxError`] travelling in a response's extensions, so that the outermost error renderer
/// renders it once, knowing the request id and the profile's exposure. Middleware that answers
/// by itself (rate limits, CSRF) puts it beside a body it already rendered sanitized, so the
/// middleware also works in an application without such a renderer.
#[derive(Debug, Clone)]
pub struct ErrorSlot(pub std::sync::Arc<DxError>);

/// How much of an error a response may reveal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// Production and conformance profiles: public message only, 5xx messages replaced by the
    /// code's default, never a cause, path, SQL text, credential or panic text (Property 26).
    Sanitized,
    /// Development profile: everything `Sanitized` shows, plus the error's own message, context
    /// and cause chain under `details.debug`.
    Detailed,
}

/// The error envelope every error response carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorDetail,
    /// The request's id, also sent as the `X-Request-Id` header.
    pub request_id: String,
    /// When the error was answered (RFC 3339, UTC).
    pub timestamp: DateTime<Utc>,
}

/// The `error` member of the envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The wire string of the code, e.g. `TOKEN_EXPIRED`.
    pub code: String,
    /// The numeric code, e.g. 1002.
    pub number: u16,
    /// A non-empty, client-safe message.
    pub message: String,
    /// Client-safe structured details.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
    /// What the client can do about it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
}

impl ErrorResponse {
    /// Builds the envelope for `err`, revealing what `exposure` allows.
    pub fn from_error(err: &DxError, request_id: impl Into<String>, exposure: Exposure) -> Self {
        Self::from_error_at(err, request_id, exposure, Utc::now())
    }

    /// As [`ErrorResponse::from_error`], at a given time (for tests).
    pub fn from_error_at(
        err: &DxError,
        request_id: impl Into<String>,
        exposure: Exposure,
        timestamp: DateTime<Utc>,
    ) -> Self {
        let code = err.code();
        let mut error = ErrorDetail {
            code: code.wire().to_owned(),
            number: code.number(),
            message: public_message(code, err.message()),
            details: err.details().and_then(sanitize_value),
            suggestion: err
                .suggestion()
                .filter(|s| !is_sensitive(s))
                .map(str::to_owned),
        };
        if exposure == Exposure::Detailed {
            let mut details = match error.details.take() {
                Some(Value::Object(map)) => map,
                Some(other) => {
                    let mut map = serde_json::Map::new();
                    map.insert("value".into(), other);
                    map
                }
                None => serde_json::Map::new(),
            };
            details.insert("debug".into(), debug_details(err));
            error.details = Some(Value::Object(details));
        }
        Self {
            error,
            request_id: request_id.into(),
            timestamp,
        }
    }

    /// The HTTP status for this envelope's code (500 for an unknown number).
    pub fn status(&self) -> StatusCode {
        ErrorCode::from_number(self.error.number)
            .map_or(StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::http_status)
    }

    /// The JSON body. Serialising these plain fields cannot fail; should it ever, a fixed,
    /// valid envelope is returned instead of nothing.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&WireResponse::from(self)).unwrap_or_else(|_| {
            br#"{"error":{"code":"INTERNAL_ERROR","number":5000,"message":"Internal server error"},"request_id":"unknown","timestamp":"1970-01-01T00:00:00Z"}"#.to_vec()
        })
    }
}

/// The serialised form, with the timestamp at millisecond precision.
#[derive(Serialize)]
struct WireResponse<'a> {
    error: &'a ErrorDetail,
    request_id: &'a str,
    timestamp: String,
}

impl<'a> From<&'a ErrorResponse> for WireResponse<'a> {
    fn from(r: &'a ErrorResponse) -> Self {
        Self {
            error: &r.error,
            request_id: &r.request_id,
            timestamp: r.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
        }
    }
}

/// The message a sanitized response carries: 5xx errors get the code's generic message, and
/// any message that reveals internals is replaced by it too.
fn public_message(code: ErrorCode, message: &str) -> String {
    if code.is_server_error() || is_sensitive(message) {
        code.default_message().to_owned()
    } else {
        message.to_owned()
    }
}

/// Drops every string in `details` that reveals internals; `None` when nothing is left.
fn sanitize_value(value: &Value) -> Option<Value> {
    match value {
        Value::String(s) if is_sensitive(s) => None,
        Value::Array(items) => Some(Value::Array(
            items.iter().filter_map(sanitize_value).collect(),
        )),
        Value::Object(map) => Some(Value::Object(
            map.iter()
                .filter(|(k, _)| !is_sensitive(k))
                .filter_map(|(k, v)| sanitize_value(v).map(|v| (k.clone(), v)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// `details.debug` in the development profile: the error's own message, its context and its
/// cause chain (a caught panic's text is in the chain).
fn debug_details(err: &DxError) -> Value {
    let mut debug = serde_json::Map::new();
    debug.insert("message".into(), Value::String(err.message().to_owned()));
    if let Some(context) = err.context() {
        debug.insert("context".into(), Value::String(context.to_string()));
    }
    let sources = err.source_chain();
    if !sources.is_empty() {
        debug.insert(
            "sources".into(),
            Value::Array(sources.into_iter().map(Value::String).collect()),
        );
    }
    Value::Object(debug)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sanitize::find_leak;
    use proptest::prelude::*;

    fn any_code() -> impl Strategy<Value = ErrorCode> {
        proptest::sample::select(ErrorCode::ALL)
    }

    /// Internal details of the kinds production must hide, each with a random secret part.
    fn internal_detail() -> impl Strategy<Value = String> {
        let secret = "[a-z0-9]{6,12}";
        prop_oneof![
            secret.prop_map(|s| format!("/srv/app/{s}/src/main.rs:42:7")),
            secret.prop_map(|s| format!("postgres://app:{s}@10.0.0.5:5432/prod")),
            secret.prop_map(|s| format!("redis://:{s}@cache:6379/0")),
            secret.prop_map(|s| format!("SELECT * FROM users WHERE token = '{s}'")),
            secret.prop_map(|s| format!("DATABASE_PASSWORD={s}")),
            secret.prop_map(|s| format!("thread 'tokio-runtime-worker' panicked at {s}.rs:1:1")),
            secret.prop_map(|s| format!("password={s}")),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Feature: production-readiness, Property 26: Error Response Sanitization
        ///
        /// For any error of any code whose message, cause, context, details and suggestion
        /// carry internal details, the sanitized response reveals none of them: no secret,
        /// path, SQL, connection string, environment value or panic text appears anywhere in
        /// the serialised body, and the envelope stays complete.
        #[test]
        fn error_response_sanitization(
            code in any_code(),
            detail in internal_detail(),
            in_message in any::<bool>(),
            public in "[A-Za-z][A-Za-z ]{0,23}",
        ) {
            let message = if in_message { format!("{public} {detail}") } else { public.clone() };
            let err = DxError::new(code, message)
                .with_source(std::io::Error::other(detail.clone()))
                .with_context(crate::Context::Query(detail.clone()))
                .with_details(serde_json::json!({ "field": "boundary", "cause": detail.clone(), "list": [detail.clone(), 1] }))
                .with_suggestion(detail.clone());
            let response = ErrorResponse::from_error(&err, "req-1", Exposure::Sanitized);
            let body = String::from_utf8(response.to_json()).unwrap();
            prop_assert!(!body.contains(&detail), "body leaks {}: {}", detail, body);
            prop_assert_eq!(find_leak(&body), None, "body: {}", body);
            prop_assert_eq!(&response.error.code, code.wire());
            prop_assert!(!response.error.message.is_empty());
            prop_assert_eq!(response.status(), code.http_status());
            if code.is_server_error() {
                prop_assert_eq!(response.error.message.as_str(), code.default_message());
            } else if !in_message {
                prop_assert_eq!(&response.error.message, &public);
            }
        }

        /// Feature: production-readiness, Property 8: Structured Error Completeness
        ///
        /// For any error, both exposures produce an envelope with a non-empty code and message,
        /// the code's number, a request id and an RFC 3339 timestamp.
        #[test]
        fn envelope_is_complete(code in any_code(), message in ".{0,40}", detailed in any::<bool>()) {
            let exposure = if detailed { Exposure::Detailed } else { Exposure::Sanitized };
            let response = ErrorResponse::from_error(&DxError::new(code, message), "abc", exposure);
            let json: Value = serde_json::from_slice(&response.to_json()).unwrap();
            prop_assert_eq!(json["error"]["code"].as_str(), Some(code.wire()));
            prop_assert_eq!(json["error"]["number"].as_u64(), Some(u64::from(code.number())));
            prop_assert!(!json["error"]["message"].as_str().unwrap_or_default().is_empty());
            prop_assert_eq!(json["request_id"].as_str(), Some("abc"));
            let ts = json["timestamp"].as_str().unwrap_or_default();
            prop_assert!(DateTime::parse_from_rfc3339(ts).is_ok(), "{}", ts);
        }
    }

    #[test]
    fn detailed_exposure_shows_the_cause() {
        let err = DxError::database(ErrorCode::DbQueryTimeout, "slow query", "users: select")
            .with_source(std::io::Error::other("socket timeout"))
            .with_details(serde_json::json!({"attempts": 3}));
        let r = ErrorResponse::from_error(&err, "id", Exposure::Detailed);
        assert_eq!(
            r.error.message, "Database query timed out",
            "outside debug, as in production"
        );
        let details = r.error.details.unwrap();
        assert_eq!(details["attempts"], 3);
        assert_eq!(details["debug"]["message"], "slow query");
        assert_eq!(details["debug"]["sources"][0], "socket timeout");
        assert_eq!(details["debug"]["context"], "query users: select");
        let bare = ErrorResponse::from_error(&DxError::internal("x"), "id", Exposure::Detailed);
        assert!(
            bare.error.details.unwrap()["debug"]
                .get("sources")
                .is_none()
        );

        let scalar = DxError::internal("x").with_details(serde_json::json!(7));
        let r = ErrorResponse::from_error(&scalar, "id", Exposure::Detailed);
        assert_eq!(r.error.details.unwrap()["value"], 7);
    }

    #[test]
    fn sanitized_exposure_keeps_safe_client_errors() {
        let err = DxError::request(ErrorCode::ValidationFailed, "boundary is too long")
            .with_details(serde_json::json!({"field": "boundary"}))
            .with_suggestion("Send at most 128 characters");
        let r = ErrorResponse::from_error(&err, "id", Exposure::Sanitized);
        assert_eq!(r.error.message, "boundary is too long");
        assert_eq!(
            r.error.details,
            Some(serde_json::json!({"field": "boundary"}))
        );
        assert_eq!(
            r.error.suggestion.as_deref(),
            Some("Send at most 128 characters")
        );
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }

    #[test]
    fn wire_form_round_trips_and_omits_absent_fields() {
        let r = ErrorResponse::from_error(&DxError::internal("x"), "rid", Exposure::Sanitized);
        let body = String::from_utf8(r.to_json()).unwrap();
        assert!(!body.contains("details"));
        assert!(!body.contains("suggestion"));
        let back: ErrorResponse = serde_json::from_str(&body).unwrap();
        assert_eq!(back.error, r.error);
        assert_eq!(back.request_id, "rid");
    }

    #[test]
    fn unknown_number_maps_to_500() {
        let mut r = ErrorResponse::from_error(&DxError::internal("x"), "rid", Exposure::Sanitized);
        r.error.number = 1;
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
