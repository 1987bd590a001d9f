//! Request ids: a client's `X-Request-Id` is kept when it is well-formed, otherwise one is
//! generated; every response carries it, and every log line of the request names it.

use std::time::Instant;

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use http::HeaderValue;
use tracing::Instrument;

/// The header that carries the request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// The longest request id kept from a client.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The request's id, available to handlers and middleware as an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

pub use dx_error::is_valid_request_id;

/// The client's id, kept only when the request has exactly one valid `X-Request-Id`.
fn client_id(headers: &http::HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
    match (values.next(), values.next()) {
        (Some(one), None) => one.to_str().ok().filter(|v| is_valid_request_id(v)),
        _ => None,
    }
}

/// A new request id: a random (version 4) UUID from the thread's generator, which, unlike
/// `Uuid::new_v4`, makes no system call per request.
fn new_id() -> String {
    uuid::Builder::from_random_bytes(rand::random())
        .into_uuid()
        .to_string()
}

/// Assigns the request id, logs the request, and echoes the id on the response.
pub async fn assign_request_id(mut req: Request, next: Next) -> Response {
    let id = client_id(req.headers()).map_or_else(new_id, str::to_owned);
    req.extensions_mut().insert(RequestId(id.clone()));
    let span =
        tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "request finished"
        );
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any id the validator accepts is a valid header value and within the length limit.
        #[test]
        fn accepted_ids_are_safe_header_values(id in "\\PC{0,200}") {
            if is_valid_request_id(&id) {
                prop_assert!(HeaderValue::from_str(&id).is_ok());
                prop_assert!(id.len() <= MAX_REQUEST_ID_LEN);
            }
        }
    }

    #[test]
    fn new_ids_are_version_4_uuids_and_differ() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        let uuid = uuid::Uuid::parse_str(&a).unwrap();
        assert_eq!(uuid.get_version_num(), 4);
        assert!(is_valid_request_id(&a));
    }

    #[test]
    fn only_a_single_valid_header_is_kept() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(client_id(&headers), None);
        headers.append(REQUEST_ID_HEADER, HeaderValue::from_static("abc"));
        assert_eq!(client_id(&headers), Some("abc"));
        headers.append(REQUEST_ID_HEADER, HeaderValue::from_static("def"));
        assert_eq!(client_id(&headers), None);
    }

    #[test]
    fn validation_examples() {
        assert!(is_valid_request_id("abc-123_x.y:z"));
        assert!(!is_valid_request_id(""));
        assert!(!is_valid_request_id("has space"));
        assert!(!is_valid_request_id("new\nline"));
        assert!(!is_valid_request_id(&"a".repeat(129)));
        assert!(is_valid_request_id(&"a".repeat(128)));
    }
}
