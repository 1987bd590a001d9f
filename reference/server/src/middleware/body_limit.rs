//! Rejects a request whose declared `Content-Length` exceeds the limit before its body is read.
//! Bodies without a length (chunked) are capped by the extractors' limit instead.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use dx_error::{DxError, ErrorCode};

use crate::api_error::ApiError;
use crate::state::SharedState;

/// Answers 413 when the declared body length is over `max_body_bytes`.
pub async fn enforce_content_length(
    State(state): State<SharedState>,
    req: Request,
    next: Next,
) -> Response {
    let limit = state.config.max_body_bytes;
    let declared = req
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > limit as u64 => ApiError(
            DxError::request(ErrorCode::PayloadTooLarge, "Request body is larger than allowed")
                .with_details(serde_json::json!({ "max_body_bytes": limit })),
        )
        .into_response(),
        _ => next.run(req).await,
    }
}
