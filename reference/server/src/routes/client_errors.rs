//! `POST /api/v1/client-errors`: the WASM client's error boundaries report what they caught,
//! so failures in browsers show up in the server's logs. Reports are logged, never echoed.

use axum::Json;
use axum::extract::Extension;
use dx_error::{DxError, ErrorCode};
use http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiJson};
use crate::middleware::request_id::RequestId;

/// Longest boundary name accepted, in characters.
pub const MAX_BOUNDARY_CHARS: usize = 128;
/// Longest message accepted, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2048;
/// Longest page URL accepted, in characters.
pub const MAX_URL_CHARS: usize = 2048;

/// One report from a client error boundary.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientErrorReport {
    /// The client boundary that caught the error.
    pub boundary: String,
    /// What the client saw.
    pub message: String,
    /// The client's error code, if any.
    pub code: Option<u16>,
    /// The page it happened on.
    pub url: Option<String>,
}

impl ClientErrorReport {
    /// Checks lengths; the error names the offending field.
    pub fn validate(&self) -> Result<(), DxError> {
        let check = |field: &str, value: &str, min: usize, max: usize| {
            let n = value.chars().count();
            if n < min || n > max {
                Err(DxError::request(
                    ErrorCode::ValidationFailed,
                    format!("{field} must be {min} to {max} characters"),
                )
                .with_details(json!({ "field": field })))
            } else {
                Ok(())
            }
        };
        check("boundary", &self.boundary, 1, MAX_BOUNDARY_CHARS)?;
        check("message", &self.message, 1, MAX_MESSAGE_CHARS)?;
        if let Some(url) = &self.url {
            check("url", url, 0, MAX_URL_CHARS)?;
        }
        Ok(())
    }
}

/// Accepts a report: 202 with the request id to quote when asking about it.
pub async fn report_client_error(
    Extension(RequestId(request_id)): Extension<RequestId>,
    ApiJson(report): ApiJson<ClientErrorReport>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    report.validate()?;
    tracing::warn!(
        boundary = %report.boundary,
        code = report.code,
        url = report.url.as_deref().unwrap_or(""),
        message = %report.message,
        "client error boundary report"
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "accepted": true, "request_id": request_id })),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(boundary: &str, message: &str, url: Option<&str>) -> ClientErrorReport {
        ClientErrorReport {
            boundary: boundary.into(),
            message: message.into(),
            code: None,
            url: url.map(Into::into),
        }
    }

    #[test]
    fn lengths_are_checked_per_field() {
        assert!(report("nav", "boom", None).validate().is_ok());
        let field = |r: ClientErrorReport| {
            r.validate().unwrap_err().details().cloned().unwrap()["field"].clone()
        };
        assert_eq!(field(report("", "boom", None)), "boundary");
        assert_eq!(field(report(&"b".repeat(129), "boom", None)), "boundary");
        assert_eq!(field(report("nav", "", None)), "message");
        assert!(
            report(" ", "   ", Some("")).validate().is_ok(),
            "whitespace counts"
        );
        assert_eq!(field(report("nav", "m", Some(&"u".repeat(2049)))), "url");
        assert!(report(&"é".repeat(128), "m", None).validate().is_ok());
    }
}
