//! Reads every request body up front, up to the configured limit. A declared or actual body
//! over the limit is answered 413 before any handler runs, and because every accepted body is
//! read in full, an early rejection (415, 400, …) never leaves unread bytes on a kept-alive
//! connection. When a body is not read to its end, the response says `Connection: close`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dx_error::{DxError, ErrorCode};
use http::{HeaderValue, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::api_error::ApiError;
use crate::state::SharedState;

/// Buffers the body within `max_body_bytes`, or answers 413.
pub async fn enforce_body_limit(
    State(state): State<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    let limit = state.config.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return closing(too_large(limit));
    }
    let (parts, body) = req.into_parts();
    match Limited::new(body, limit).collect().await {
        Ok(collected) => {
            next.run(Request::from_parts(parts, Body::from(collected.to_bytes())))
                .await
        }
        Err(e) if e.is::<LengthLimitError>() => closing(too_large(limit)),
        Err(e) => closing(
            ApiError(
                DxError::request(ErrorCode::BadRequest, "The request body could not be read")
                    .with_source(std::io::Error::other(e.to_string())),
            )
            .into_response(),
        ),
    }
}

fn too_large(limit: usize) -> Response {
    ApiError(
        DxError::request(
            ErrorCode::PayloadTooLarge,
            "Request body is larger than allowed",
        )
        .with_details(serde_json::json!({ "max_body_bytes": limit }))
        .with_suggestion("Send a smaller body"),
    )
    .into_response()
}

/// Marks a response whose request body was not read to its end: the connection cannot be
/// reused.
fn closing(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
