//! `GET /.well-known/dx-www`: the target describes itself so the conformance suite reads its
//! limits instead of guessing (spec/discovery.md). Built from the live configuration.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::SharedState;

/// The contract version this server implements.
pub const SPEC_VERSION: &str = "1.0";
/// Where the fault hooks live, in the conformance profile.
pub const FAULT_HOOKS_BASE: &str = "/_dx/faults";
/// The path of the client error report endpoint.
pub const CLIENT_ERRORS_PATH: &str = "/api/v1/client-errors";
/// The path of the discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/dx-www";

/// The discovery document for `state`'s configuration.
pub fn document(state: &SharedState) -> Value {
    let config = &state.config;
    let mut implementation =
        json!({ "name": "dx-reference", "version": env!("CARGO_PKG_VERSION") });
    if let Some(mutant) = config.mutations.active_name() {
        implementation["mutant"] = json!(mutant);
    }
    json!({
        "dx_www": SPEC_VERSION,
        "implementation": implementation,
        "profile": config.profile.as_str(),
        "endpoints": {
            "health": "/health",
            "ready": "/ready",
            "client_errors": CLIENT_ERRORS_PATH,
        },
        "errors": { "request_id_header": "X-Request-Id" },
        "limits": {
            "max_body_bytes": config.max_body_bytes,
            "request_timeout_ms": config.request_timeout.as_millis() as u64,
        },
        "fault_hooks": if config.profile.fault_hooks() {
            json!({ "base": FAULT_HOOKS_BASE })
        } else {
            Value::Null
        },
        "auth": null,
        "security_headers": null,
        "rate_limits": null,
        "csrf": null,
        "client": null,
        "query": null,
        "sync": null,
    })
}

/// `GET /.well-known/dx-www`.
pub async fn discovery(State(state): State<SharedState>) -> Json<Value> {
    Json(document(&state))
}
