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
        "security_headers": security_headers_member(state),
        "rate_limits": rate_limits_member(state),
        "csrf": csrf_member(state),
        "client": crate::routes::client::discovery_member(&config.mutations),
        "query": query_member(state),
        "sync": crate::routes::sync::discovery_member(state),
        "ssr": ssr_member(state),
    })
}

/// The `ssr` member: the pages, their streams, the crawler rule (spec/ssr.md).
fn ssr_member(state: &SharedState) -> Value {
    let mut pages = Vec::new();
    if crate::routes::assets::demo_stream().is_some() {
        pages.push(json!({
            "path": "/",
            "stream": crate::routes::assets::DEMO_PATH,
            "title": crate::demo::TITLE,
        }));
    }
    if pages.is_empty() {
        return Value::Null;
    }
    json!({
        "pages": pages,
        "crawlers": state.ssr.crawler_rule(),
        "planting": state.config.profile.fault_hooks(),
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

/// The `security_headers` member: the headers every response carries (spec/security.md).
fn security_headers_member(state: &SharedState) -> Value {
    let headers = &state.security.headers;
    json!({
        "headers": dx_security::headers::HEADER_NAMES,
        "csp": headers.build_csp_header(),
        "csp_relaxed": headers.development_mode,
        "hsts_max_age": headers.hsts_max_age,
        "hsts_include_subdomains": headers.hsts_include_subdomains,
    })
}

/// The `rate_limits` member: one policy per category, with the paths that count against it.
fn rate_limits_member(state: &SharedState) -> Value {
    use dx_security::EndpointCategory;
    let layer = &state.security.rate_limit;
    let routes = &layer.config().routes;
    let mut policies = serde_json::Map::new();
    for category in EndpointCategory::ALL {
        if let Some(limit) = layer.limiter().limit(category) {
            policies.insert(
                category.as_str().to_owned(),
                json!({
                    "max_requests": limit.max_requests,
                    "window_seconds": limit.window_seconds,
                    "path_prefixes": routes.prefixes(category),
                }),
            );
        }
    }
    json!({
        "policies": policies,
        "algorithm": "sliding-log",
        "key": "client-ip",
        "fields": "draft-ietf-httpapi-ratelimit-headers-09",
        "partition_header": layer.config().partition_header.as_ref().map(|h| h.as_str()),
        "store": if state.security.shared { "redis" } else { "memory" },
        "on_store_failure": layer.config().on_store_failure.as_str(),
        "trusted_proxies": layer.config().client_ip.trusted_proxies().len(),
    })
}

/// The `csrf` member: every name the checks need, the TTL and the exemptions.
fn csrf_member(state: &SharedState) -> Value {
    use crate::security::{CSRF_TOKEN_PATH, SESSION_END_PATH};
    let csrf = &state.security.csrf;
    let config = csrf.config();
    json!({
        "token_endpoint": CSRF_TOKEN_PATH,
        "session_end_endpoint": SESSION_END_PATH,
        "session_cookie": config.session_cookie,
        "token_cookie": config.token_cookie,
        "header": config.header.as_str(),
        "form_field": config.form_field,
        "ttl_seconds": csrf.manager().ttl().as_secs(),
        "session_ttl_seconds": config.session_ttl.as_secs(),
        "methods": ["POST", "PUT", "PATCH", "DELETE"],
        "exempt": {
            "paths": config.exempt_paths,
            "without_cookies": true,
        },
        "fetch_metadata": config.fetch_metadata,
    })
}

/// The `query` member: the pool, the timeouts and the endpoints the query checks drive.
fn query_member(state: &SharedState) -> Value {
    let settings = &state.config.query;
    let db = state.query.client().database();
    json!({
        "backend": db.backend().as_str(),
        // The bound the server keeps: the setting, or less where the back end holds fewer
        // (SQLite's pool has one connection).
        "pool_size": settings.pool_size.min(db.max_connections()),
        "acquire_timeout_ms": settings.acquire_timeout.as_millis() as u64,
        "query_timeout_ms": settings.query_timeout.as_millis() as u64,
        "items": crate::routes::items::ITEMS_PATH,
        "max_page": dx_query::items::MAX_PAGE,
        "metrics": settings.metrics.then_some(crate::prometheus::METRICS_PATH),
    })
}

/// `GET /.well-known/dx-www`.
pub async fn discovery(State(state): State<SharedState>) -> Json<Value> {
    Json(document(&state))
}
