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
        "auth": auth_member(state),
        "security_headers": null,
        "rate_limits": null,
        "csrf": null,
        "client": null,
        "query": null,
        "sync": null,
    })
}

/// The `auth` member: keys, lifetimes, password rules and endpoints (spec/discovery.md).
fn auth_member(state: &SharedState) -> Value {
    use crate::routes::auth::{AUTH_BASE, MINT_PATH};
    let config = &state.config;
    let tokens = state.auth.service().tokens();
    let keys: Vec<Value> = tokens
        .keys()
        .verification_keys()
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "alg": "EdDSA",
                "crv": "Ed25519",
                "public_key": k.public_key_base64url(),
            })
        })
        .collect();
    let mut endpoints = json!({
        "login": format!("{AUTH_BASE}/login"),
        "refresh": format!("{AUTH_BASE}/refresh"),
        "revoke": format!("{AUTH_BASE}/revoke"),
        "me": format!("{AUTH_BASE}/me"),
    });
    if config.auth.registration {
        endpoints["register"] = json!(format!("{AUTH_BASE}/register"));
    }
    json!({
        "token_format": "paseto-v4-public",
        "keys": keys,
        "signing_kid": tokens.keys().signing_kid(),
        "access_ttl_seconds": tokens.access_ttl(),
        "refresh_ttl_seconds": tokens.refresh_ttl(),
        "password": {
            "max_bytes": dx_auth::MAX_PASSWORD_BYTES,
            "normalization": "NFC",
        },
        "email": { "max_chars": dx_auth::account::MAX_EMAIL_CHARS },
        "endpoints": endpoints,
        "test_hooks": if config.profile.fault_hooks() {
            json!({ "mint": MINT_PATH })
        } else {
            Value::Null
        },
    })
}

/// `GET /.well-known/dx-www`.
pub async fn discovery(State(state): State<SharedState>) -> Json<Value> {
    Json(document(&state))
}
