//! The bad requests the scenarios provoke (spec/http-contract.md), built from the discovery
//! document so that another target's paths and limits are used, never guessed.

use dx_conformance::Discovery;
use dx_conformance::http::RequestSpec;
use http::Method;
use serde_json::json;

use crate::step_error::StepError;

/// A path no dx-www target serves.
pub const UNKNOWN_PATH: &str = "/dx-conformance/no-such-page";

/// One kind of bad request and the code it must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadRequest {
    /// GET a path that does not exist: 404.
    UnknownPath,
    /// GET a path whose percent-decoding is not UTF-8: 404.
    InvalidUtf8Path,
    /// DELETE the health endpoint: 405.
    WrongMethod,
    /// A client error report that is not JSON: 400.
    MalformedJson,
    /// A valid report sent as `text/plain`: 415.
    WrongMediaType,
    /// A body one byte over `limits.max_body_bytes`: 413.
    OverLimit,
    /// Valid JSON with an empty `boundary`: 422.
    EmptyBoundary,
}

impl BadRequest {
    /// Every kind, in the order of spec/http-contract.md.
    pub const ALL: [Self; 7] = [
        Self::UnknownPath,
        Self::InvalidUtf8Path,
        Self::WrongMethod,
        Self::MalformedJson,
        Self::WrongMediaType,
        Self::OverLimit,
        Self::EmptyBoundary,
    ];

    /// The request, or `None` when it needs the client-errors endpoint and the target has none.
    pub fn request(self, discovery: &Discovery) -> Option<RequestSpec> {
        let reports = discovery.endpoints.client_errors.as_deref();
        match self {
            Self::UnknownPath => Some(RequestSpec::get(UNKNOWN_PATH)),
            Self::InvalidUtf8Path => Some(RequestSpec::get("/%FF%FE")),
            Self::WrongMethod => Some(RequestSpec::new(
                Method::DELETE,
                discovery.endpoints.health.clone(),
            )),
            Self::MalformedJson => reports.map(malformed_json),
            Self::WrongMediaType => reports.map(|p| valid_report_as(p, "text/plain")),
            Self::OverLimit => reports.map(|p| over_limit(p, discovery.limits.max_body_bytes)),
            Self::EmptyBoundary => reports
                .map(|p| RequestSpec::post_json(p, &json!({"boundary": "", "message": "probe"}))),
        }
    }
}

/// A valid client error report.
pub fn valid_report() -> serde_json::Value {
    json!({"boundary": "dx-conformance", "message": "probe"})
}

/// A JSON media type with a body cut off in the middle.
pub fn malformed_json(path: &str) -> RequestSpec {
    RequestSpec::new(Method::POST, path)
        .header("content-type", "application/json")
        .body(br#"{"boundary": "cart", "message": "#.to_vec())
}

/// A valid report under another media type.
pub fn valid_report_as(path: &str, content_type: &str) -> RequestSpec {
    RequestSpec::new(Method::POST, path)
        .header("content-type", content_type)
        .body(valid_report().to_string().into_bytes())
}

/// A JSON report padded to exactly `limit + 1` bytes, so a target that ignores the limit
/// answers something other than 413.
pub fn over_limit(path: &str, limit: u64) -> RequestSpec {
    let size = usize::try_from(limit)
        .unwrap_or(usize::MAX - 1)
        .saturating_add(1);
    let skeleton = r#"{"boundary":"dx-conformance","message":""}"#;
    let body = if size >= skeleton.len() {
        let padding = "x".repeat(size - skeleton.len());
        format!(r#"{{"boundary":"dx-conformance","message":"{padding}"}}"#).into_bytes()
    } else {
        vec![b' '; size]
    };
    RequestSpec::new(Method::POST, path)
        .header("content-type", "application/json")
        .body(body)
}

/// Parses a method name as written in a step.
pub fn method(name: &str) -> Result<Method, StepError> {
    Method::from_bytes(name.as_bytes())
        .map_err(|e| StepError::plain("an HTTP method name", format!("`{name}`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_bodies_are_one_byte_over() {
        for limit in [0, 10, 41, 42, 4096] {
            let body = over_limit("/r", limit).body.unwrap();
            assert_eq!(body.len() as u64, limit + 1, "limit {limit}");
        }
        let big = over_limit("/r", 4096).body.unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&big).is_ok());
    }

    #[test]
    fn malformed_json_is_not_json() {
        let body = malformed_json("/r").body.unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&body).is_err());
    }

    #[test]
    fn methods_are_parsed() {
        assert_eq!(method("DELETE").unwrap(), Method::DELETE);
        assert!(method("NOT A METHOD").is_err());
    }
}
