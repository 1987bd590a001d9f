//! Liveness (`/health`: the process answers) and readiness (`/ready`: its dependencies do).

use axum::Json;
use axum::extract::State;
use dx_error::{DxError, ErrorCode};
use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::state::SharedState;

/// `GET /health`: always 200 while the process serves.
pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /ready`: 200 when every configured dependency answers, else 503 naming the failing
/// check (never its URL).
pub async fn ready(State(state): State<SharedState>) -> Result<Json<Value>, ApiError> {
    let readiness = state.services.readiness().await;
    if readiness.is_ready() {
        Ok(Json(json!({ "status": "ready", "checks": readiness })))
    } else {
        Err(ApiError(
            DxError::new(ErrorCode::ServiceUnavailable, "A dependency is unavailable")
                .with_details(json!({ "checks": readiness }))
                .with_suggestion(
                    "Retry later; the server reports ready once its dependencies answer",
                ),
        ))
    }
}
