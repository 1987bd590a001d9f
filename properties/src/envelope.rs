//! Judging error responses: the standard envelope (spec/error-format.md) and the absence of
//! internal details (spec/error-format.md, "Sanitization"). Shared by the property checks and
//! the Gherkin steps.

use chrono::DateTime;
use serde_json::Value;

use crate::cases::CaseFailure;
use crate::http::Exchange;
use crate::spec::{ErrorCodeSpec, error_code_by_wire};

/// A parsed, valid error envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The code's table entry.
    pub code: &'static ErrorCodeSpec,
    /// `error.message`.
    pub message: String,
    /// `error.suggestion`.
    pub suggestion: Option<String>,
    /// `error.details`.
    pub details: Option<Value>,
    /// `request_id`.
    pub request_id: String,
}

const ENVELOPE: &str = "an error envelope (spec/error-format.md): JSON with a non-empty error.code from spec/error-codes.toml, the matching error.number and HTTP status, a non-empty error.message, request_id equal to X-Request-Id, and an RFC 3339 timestamp";

/// Checks that `exchange` carries a complete, valid error envelope (Property 8).
pub fn check_envelope(exchange: &Exchange) -> Result<Envelope, CaseFailure> {
    let fail = |what: String| CaseFailure::at(exchange, ENVELOPE, what);
    let content_type = exchange.header("content-type").unwrap_or("");
    if !content_type.starts_with("application/json") {
        return Err(fail(format!("Content-Type is `{content_type}`")));
    }
    let json = exchange
        .json()
        .ok_or_else(|| fail("the body is not JSON".into()))?;
    let error = json
        .get("error")
        .and_then(Value::as_object)
        .ok_or_else(|| fail("the body has no `error` object".into()))?;
    let wire = error.get("code").and_then(Value::as_str).unwrap_or("");
    if wire.is_empty() {
        return Err(fail("error.code is missing or empty".into()));
    }
    let code = error_code_by_wire(wire).ok_or_else(|| {
        fail(format!(
            "error.code `{wire}` is not in spec/error-codes.toml"
        ))
    })?;
    let number = error.get("number").and_then(Value::as_u64);
    if number != Some(u64::from(code.number)) {
        return Err(fail(format!(
            "error.number is {number:?}, but {wire} is {}",
            code.number
        )));
    }
    if exchange.status.as_u16() != code.http_status {
        return Err(fail(format!(
            "HTTP status {} but {wire} requires {}",
            exchange.status.as_u16(),
            code.http_status
        )));
    }
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    if message.trim().is_empty() {
        return Err(fail("error.message is missing or empty".into()));
    }
    let suggestion = match error.get("suggestion") {
        None => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(other) => {
            return Err(fail(format!(
                "error.suggestion is present but not a non-empty string: {other}"
            )));
        }
    };
    let request_id = json.get("request_id").and_then(Value::as_str).unwrap_or("");
    if request_id.is_empty() {
        return Err(fail("request_id is missing or empty".into()));
    }
    let header_id = exchange.header("x-request-id").unwrap_or("");
    if header_id != request_id {
        return Err(fail(format!(
            "request_id `{request_id}` differs from the X-Request-Id header `{header_id}`"
        )));
    }
    let timestamp = json.get("timestamp").and_then(Value::as_str).unwrap_or("");
    if DateTime::parse_from_rfc3339(timestamp).is_err() {
        return Err(fail(format!("timestamp `{timestamp}` is not RFC 3339")));
    }
    Ok(Envelope {
        code,
        message: message.to_owned(),
        suggestion,
        details: error.get("details").cloned(),
        request_id: request_id.to_owned(),
    })
}

/// Checks that `exchange` is an envelope with the wire code `wire`.
pub fn expect_code(exchange: &Exchange, wire: &str) -> Result<Envelope, CaseFailure> {
    let envelope = check_envelope(exchange)?;
    if envelope.code.wire != wire {
        return Err(CaseFailure::at(
            exchange,
            format!("an error envelope with code {wire}"),
            format!("code {}", envelope.code.wire),
        ));
    }
    Ok(envelope)
}

/// Checks that no header or body of `exchange` reveals internal details: none of `markers`
/// (strings the suite planted in internal causes), and nothing matching the leak patterns
/// (panic text, paths, source locations, SQL, connection strings, credentials, environment
/// assignments) (Property 26).
pub fn check_no_leak(exchange: &Exchange, markers: &[String]) -> Result<(), CaseFailure> {
    const EXPECTED: &str = "no stack trace, panic text, internal path, source location, SQL, connection string, credential or environment value in any header or the body";
    let body = exchange.text();
    for marker in markers.iter().filter(|m| !m.is_empty()) {
        if body.contains(marker.as_str()) {
            return Err(CaseFailure::at(
                exchange,
                EXPECTED,
                format!("the body contains the internal marker `{marker}`"),
            ));
        }
    }
    if let Some(leak) = dx_error::sanitize::find_leak(&body) {
        return Err(CaseFailure::at(
            exchange,
            EXPECTED,
            format!("the body reveals {}", leak.category.describe()),
        ));
    }
    for (name, value) in &exchange.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        let planted = markers
            .iter()
            .find(|m| !m.is_empty() && value.contains(m.as_str()));
        if let Some(marker) = planted {
            return Err(CaseFailure::at(
                exchange,
                EXPECTED,
                format!("header {name} contains the internal marker `{marker}`"),
            ));
        }
        if let Some(leak) = dx_error::sanitize::find_leak(&value) {
            return Err(CaseFailure::at(
                exchange,
                EXPECTED,
                format!("header {name} reveals {}", leak.category.describe()),
            ));
        }
    }
    Ok(())
}
