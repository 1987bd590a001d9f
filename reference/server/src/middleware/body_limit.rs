//! Reads every request body up front, up to the configured limit. A declared or actual body
//! over the limit is answered 413 before any handler runs, and because every accepted body is
//! read in full, an early rejection (415, 400, …) never leaves unread bytes on a kept-alive
//! connection. An oversized body is drained (read and discarded, up to [`DRAIN_ALLOWANCE`]
//! bytes past the limit) before the 413 is sent: a client still writing its body would
//! otherwise hit a reset and never see the response. The 413 says `Connection: close`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dx_error::{DxError, ErrorCode};
use http::{HeaderValue, header};
use http_body_util::BodyExt;

use crate::api_error::ApiError;
use crate::state::SharedState;

/// How far past the limit an oversized body is drained before answering; a larger body gets
/// its 413 at once and the connection closed under it.
pub const DRAIN_ALLOWANCE: u64 = 8 * 1024 * 1024;

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
    // A client waiting for `100 Continue` has sent no body yet: refusing at once spares it
    // the upload (reading the body is what would make the server send the 100).
    let expects_continue = req
        .headers()
        .get(header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let (parts, body) = req.into_parts();
    if let Some(len) = declared.filter(|len| *len > limit as u64) {
        if !expects_continue && len <= limit as u64 + DRAIN_ALLOWANCE {
            drain(body, len).await;
        }
        return closing(too_large(limit));
    }
    match read_within(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(ReadError::TooLarge) => closing(too_large(limit)),
        Err(ReadError::Broken(reason)) => closing(
            ApiError(
                DxError::request(ErrorCode::BadRequest, "The request body could not be read")
                    .with_source(std::io::Error::other(reason)),
            )
            .into_response(),
        ),
    }
}

/// Why a body could not be buffered.
enum ReadError {
    /// More than the limit arrived (the excess was drained).
    TooLarge,
    /// The stream failed.
    Broken(String),
}

/// Buffers `body` if it fits in `limit` bytes; past the limit, drains up to
/// [`DRAIN_ALLOWANCE`] more so the client can finish sending and read the 413.
async fn read_within(mut body: Body, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut buffer = Vec::new();
    loop {
        match body.frame().await {
            None => return Ok(buffer),
            Some(Err(e)) => return Err(ReadError::Broken(e.to_string())),
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if buffer.len() + data.len() > limit {
                        break;
                    }
                    buffer.extend_from_slice(data);
                }
            }
        }
    }
    drain(body, DRAIN_ALLOWANCE).await;
    Err(ReadError::TooLarge)
}

/// Reads and discards at most `max` bytes of `body`, stopping at its end or on an error.
async fn drain(mut body: Body, max: u64) {
    let mut seen = 0u64;
    while seen < max {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    seen += data.len() as u64;
                }
            }
            Some(Err(_)) | None => break,
        }
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
