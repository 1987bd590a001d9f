//! The answer a layer gives when it refuses a request: the dx-www error envelope, rendered
//! sanitized, with the error itself left in the response for an outer renderer.

use std::sync::Arc;

use axum::body::Body;
use dx_error::{DxError, ErrorResponse, ErrorSlot, Exposure};
use http::{HeaderMap, HeaderValue, Response, header};

/// The header a request id arrives in; kept when the client's value is plain.
const REQUEST_ID: &str = "x-request-id";

/// The envelope response for `err`, answering a request with `request_headers`.
pub(crate) fn error_response(err: DxError, request_headers: &HeaderMap) -> Response<Body> {
    let request_id = request_headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| dx_error::is_valid_request_id(v))
        .map_or_else(random_request_id, str::to_owned);
    let envelope = ErrorResponse::from_error(&err, request_id, Exposure::Sanitized);
    let mut response = Response::new(Body::from(envelope.to_json()));
    *response.status_mut() = envelope.status();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.extensions_mut().insert(ErrorSlot(Arc::new(err)));
    response
}

fn random_request_id() -> String {
    let mut bytes = [0u8; 16];
    // A request id is not a secret: on the (unheard-of) failure of the system's random
    // source, zeros still make a well-formed id.
    let _ = getrandom::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use dx_error::ErrorCode;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn renders_the_envelope_and_keeps_the_error() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("abc-1"));
        let response = error_response(
            DxError::new(ErrorCode::RateLimited, "Too many requests"),
            &headers,
        );
        assert_eq!(response.status(), 429);
        assert!(response.extensions().get::<ErrorSlot>().is_some());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], "RATE_LIMITED");
        assert_eq!(v["request_id"], "abc-1");
    }

    #[test]
    fn an_unusable_request_id_is_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert(REQUEST_ID, HeaderValue::from_static("a b"));
        let response = error_response(DxError::new(ErrorCode::CsrfInvalid, "x"), &headers);
        assert_eq!(response.status(), 403);
    }
}
