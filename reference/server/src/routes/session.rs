//! The CSRF token endpoint and the end of a session (spec/security.md): thin wrappers over
//! [`dx_security::Csrf`], which owns the sessions and the cookies.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::HeaderMap;

use crate::state::SharedState;

/// `GET /api/v1/session/csrf`: a token for the caller's session, starting one if needed.
pub async fn csrf_token(State(state): State<SharedState>, headers: HeaderMap) -> Response<Body> {
    state.security.csrf.issue(&headers).await
}

/// `POST /api/v1/session/end`: ends the caller's session; its tokens stop working.
pub async fn end_session(State(state): State<SharedState>, headers: HeaderMap) -> Response<Body> {
    state.security.csrf.end_session(&headers).await
}
