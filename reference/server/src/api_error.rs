//! How handlers report errors: they return [`ApiError`], which carries the [`DxError`] in the
//! response's extensions; the envelope middleware renders it once, knowing the request id and
//! the profile. [`ApiJson`] maps every JSON body rejection onto the error codes.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::response::{IntoResponse, Response};
use dx_error::{DxError, ErrorCode};
use serde::de::DeserializeOwned;

/// A [`DxError`] waiting in a response's extensions to be rendered as the error envelope.
#[derive(Debug, Clone)]
pub struct ErrorSlot(pub Arc<DxError>);

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
        response.extensions_mut().insert(ErrorSlot(Arc::new(self.0)));
        response
    }
}

/// A JSON body whose rejections become error envelopes: a missing or wrong content type is
/// 415, a body over the limit 413, malformed JSON 400, well-formed JSON of the wrong shape 422.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError(json_rejection(&rejection))),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> DxError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => DxError::request(
            ErrorCode::UnsupportedMediaType,
            "Expected a body with Content-Type: application/json",
        )
        .with_suggestion("Send the body as JSON with Content-Type: application/json"),
        JsonRejection::JsonSyntaxError(e) => {
            DxError::request(ErrorCode::BadRequest, format!("Malformed JSON: {}", inner_text(e)))
        }
        JsonRejection::JsonDataError(e) => DxError::request(
            ErrorCode::ValidationFailed,
            format!("Invalid request body: {}", inner_text(e)),
        ),
        JsonRejection::BytesRejection(e) if e.status() == http::StatusCode::PAYLOAD_TOO_LARGE => {
            DxError::request(ErrorCode::PayloadTooLarge, "Request body is larger than allowed")
        }
        other => DxError::request(ErrorCode::BadRequest, "The request body could not be read")
            .with_source(std::io::Error::other(other.body_text())),
    }
}

/// The innermost cause of a JSON rejection: serde's own message (e.g. "expected value at line
/// 1 column 1"), without axum's prefix.
fn inner_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
