//! Renders every error response as the standard envelope, in one place: errors handlers
//! returned (an [`ErrorSlot`] in the response), bare error statuses from the framework and
//! middleware (404, 405, 408, 413, …), and, as the last resort, panics that escaped a route's
//! boundary. The profile decides how much is revealed (Property 26).

use std::panic::AssertUnwindSafe;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use dx_error::{DxError, ErrorCode, ErrorKind, ErrorResponse, Exposure};
use futures_util::FutureExt;
use http::{HeaderValue, StatusCode, header};

use crate::api_error::ErrorSlot;
use crate::middleware::request_id::RequestId;
use crate::mutants::Mutant;
use crate::state::SharedState;

/// Turns any error outcome of the inner service into the error envelope.
pub async fn render_errors(State(state): State<SharedState>, req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), |r| r.0.clone());
    let mutations = state.config.mutations;
    let exposure = if mutations.is(Mutant::LeaksInternals) {
        Exposure::Detailed
    } else {
        state.config.profile.exposure()
    };
    let render = |parts: Option<http::response::Parts>, err: &DxError| {
        let mut envelope = ErrorResponse::from_error(err, request_id.clone(), exposure);
        if mutations.is(Mutant::ErrorCodeMissing) {
            envelope.error.code.clear();
        }
        envelope_response(parts, &envelope)
    };

    if state.cascade.degraded(mutations) {
        return render(
            None,
            &DxError::new(ErrorCode::ServiceUnavailable, "Service unavailable"),
        );
    }

    let response = if mutations.is(Mutant::PanicEscapesBoundary) {
        next.run(req).await
    } else {
        match AssertUnwindSafe(next.run(req)).catch_unwind().await {
            Ok(response) => response,
            Err(payload) => {
                let err = state
                    .boundaries
                    .get("server")
                    .caught_panic(payload.as_ref());
                return render(None, &err);
            }
        }
    };

    if let Some(ErrorSlot(err)) = response.extensions().get::<ErrorSlot>().cloned() {
        let (parts, _) = response.into_parts();
        log_error(&err);
        return render(Some(parts), &err);
    }
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let (parts, _) = response.into_parts();
        let code = code_for_status(status);
        return render(Some(parts), &DxError::new(code, code.default_message()));
    }
    response
}

/// The code for an error status produced outside our handlers (the router's 405, the
/// timeout's 408, …): the request-range code with that status. A bare status no such code
/// describes means a layer misbehaved, which is an internal error.
pub fn code_for_status(status: StatusCode) -> ErrorCode {
    ErrorCode::ALL
        .iter()
        .copied()
        .find(|c| c.kind() == ErrorKind::Request && c.http_status() == status)
        .unwrap_or(ErrorCode::Internal)
}

fn log_error(err: &DxError) {
    if err.code().is_server_error() {
        tracing::error!(code = %err.code(), error = %err, context = ?err.context().map(ToString::to_string), cause = ?err.source_chain(), "request failed");
    } else {
        tracing::debug!(code = %err.code(), error = %err, "request rejected");
    }
}

/// Builds the envelope response, keeping the original headers (e.g. `Allow`, `Retry-After`)
/// but never its body.
fn envelope_response(parts: Option<http::response::Parts>, envelope: &ErrorResponse) -> Response {
    let body = envelope.to_json();
    let mut response = Response::new(Body::from(body));
    if let Some(parts) = parts {
        *response.headers_mut() = parts.headers;
    }
    *response.status_mut() = envelope.status();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_their_codes() {
        for (status, code) in [
            (400, ErrorCode::BadRequest),
            (404, ErrorCode::NotFound),
            (405, ErrorCode::MethodNotAllowed),
            (408, ErrorCode::RequestTimeout),
            (413, ErrorCode::PayloadTooLarge),
            (415, ErrorCode::UnsupportedMediaType),
            (422, ErrorCode::ValidationFailed),
            (429, ErrorCode::Internal),
            (503, ErrorCode::Internal),
            (502, ErrorCode::Internal),
            (418, ErrorCode::Internal),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(code_for_status(status), code, "{status}");
        }
    }
}
