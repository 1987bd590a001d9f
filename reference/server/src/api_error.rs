//! How handlers report errors: they return [`ApiError`], which carries the [`DxError`] in the
//! response's extensions; the envelope middleware renders it once, knowing the request id and
//! the profile. [`ApiJson`] maps every JSON body rejection onto the error codes.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use dx_error::{DxError, ErrorCode};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::strict_json;

pub use dx_error::ErrorSlot;

/// A handler's error.
#[derive(Debug)]
pub struct ApiError(pub DxError);

impl From<DxError> for ApiError {
    fn from(err: DxError) -> Self {
        Self(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.0.code().http_status();
        let mut response = status.into_response();
        response
            .extensions_mut()
            .insert(ErrorSlot(Arc::new(self.0)));
        response
    }
}

/// A JSON body whose rejections become error envelopes: a missing or wrong content type is
/// 415, a body over the limit 413, bytes that are not JSON 400, JSON of the wrong shape 422.
/// (Syntax is checked on its own first, so malformed input is never reported as a shape error.)
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError(
                DxError::request(
                    ErrorCode::UnsupportedMediaType,
                    "Expected a body with Content-Type: application/json",
                )
                .with_suggestion("Send the body as JSON with Content-Type: application/json"),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError(DxError::request(
                    ErrorCode::PayloadTooLarge,
                    "Request body is larger than allowed",
                ))
            } else {
                ApiError(
                    DxError::request(ErrorCode::BadRequest, "The request body could not be read")
                        .with_source(std::io::Error::other(rejection.body_text())),
                )
            }
        })?;
        let value: Value = strict_json::parse(&bytes).map_err(|e| {
            ApiError(
                DxError::request(ErrorCode::BadRequest, format!("Malformed JSON: {e}"))
                    .with_suggestion("Send one well-formed JSON object"),
            )
        })?;
        let is_object = value.is_object();
        serde_path_to_error::deserialize(value)
            .map(Self)
            .map_err(|e| {
                let field = offending_field(is_object, &e);
                ApiError(
                    DxError::request(
                        ErrorCode::ValidationFailed,
                        "The request body does not meet the route's rules; details.field names the offending member (\"$\": the body as a whole)",
                    )
                        .with_source(std::io::Error::other(e.to_string()))
                        .with_details(serde_json::json!({ "field": field })),
                )
            })
    }
}

/// The body member a shape error is about: the path serde reached, the member a "missing
/// field" error names, or `$` for the body as a whole.
fn offending_field(is_object: bool, err: &serde_path_to_error::Error<serde_json::Error>) -> String {
    if !is_object {
        return "$".to_owned();
    }
    let path = err.path().to_string();
    if path != "." && !path.is_empty() {
        return path;
    }
    let text = err.inner().to_string();
    text.split('`')
        .nth(1)
        .filter(|_| text.starts_with("missing field") || text.starts_with("unknown field"))
        .map_or_else(|| "$".to_owned(), str::to_owned)
}

/// `application/json` or any `application/*+json`, with or without parameters.
pub fn is_json_content_type(headers: &http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Shape {
        name: String,
        count: Option<u8>,
    }

    fn field_of(json: &str) -> String {
        let value: Value = serde_json::from_str(json).unwrap();
        let is_object = value.is_object();
        let err = serde_path_to_error::deserialize::<_, Shape>(value).unwrap_err();
        offending_field(is_object, &err)
    }

    #[test]
    fn shape_errors_name_the_member() {
        assert_eq!(field_of(r#"{"name": 5}"#), "name");
        assert_eq!(field_of(r#"{"name": "x", "count": 300}"#), "count");
        assert_eq!(field_of(r#"{"name": "x", "extra": 1}"#), "extra");
        assert_eq!(field_of(r#"{"count": 1}"#), "name");
        assert_eq!(field_of("[1, 2]"), "$");
        assert_eq!(field_of("7"), "$");
    }

    #[test]
    fn json_content_types() {
        let mut h = http::HeaderMap::new();
        assert!(!is_json_content_type(&h));
        for (value, ok) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            ("application/problem+json", true),
            ("text/json", false),
            ("text/plain", false),
        ] {
            h.insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(value),
            );
            assert_eq!(is_json_content_type(&h), ok, "{value}");
        }
    }
}
