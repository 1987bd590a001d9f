//! Wraps every route in its own error boundary: a panic in one route's handler becomes that
//! route's 500 error response, and every other route keeps serving (Property 7).

use std::panic::AssertUnwindSafe;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;

use crate::api_error::ApiError;
use crate::mutants::Mutant;
use crate::state::SharedState;

/// Runs the route inside the boundary named after its route template.
pub async fn route_boundary(
    State(state): State<SharedState>,
    matched: Option<MatchedPath>,
    req: Request,
    next: Next,
) -> Response {
    let mutations = state.config.mutations;
    if mutations.is(Mutant::PanicEscapesBoundary) {
        return next.run(req).await;
    }
    let route = matched.as_ref().map_or("unmatched", MatchedPath::as_str);
    let boundary = state.boundaries.get(route);
    match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(response) => response,
        Err(payload) => {
            let err = boundary.caught_panic(payload.as_ref());
            state.cascade.failure_caught(mutations);
            ApiError(err).into_response()
        }
    }
}
