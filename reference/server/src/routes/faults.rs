//! Fault hooks, served only in the conformance profile: routes that fail on purpose so the
//! black-box suite can observe mutex recovery (Property 6), error isolation (7), error
//! completeness (8) and sanitization (26) from outside (spec/http-contract.md).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use dx_error::{DxError, ErrorCode, LockError, SafeMutex};
use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, ApiJson};
use crate::mutants::Mutant;
use crate::state::SharedState;

/// Most scopes kept at once; the oldest is evicted past this.
pub const MAX_SCOPES: usize = 1024;
/// Largest magnitude of one `add`.
pub const MAX_ADD: i64 = 1_000_000_000;
/// Longest panic message accepted, in characters.
pub const MAX_PANIC_MESSAGE: usize = 4096;
/// Longest `error` hook message and suggestion, in characters.
pub const MAX_HOOK_TEXT: usize = 512;
/// Longest `error` hook source, in characters.
pub const MAX_HOOK_SOURCE: usize = 4096;

/// One scope's shared counter.
#[derive(Debug, Default)]
struct Counter {
    value: i64,
    updates: u64,
}

/// The counters, one per scope, each behind its own [`SafeMutex`].
#[derive(Debug, Default)]
pub struct FaultState {
    scopes: SafeMutex<ScopeTable>,
}

#[derive(Debug, Default)]
struct ScopeTable {
    by_name: HashMap<String, Arc<SafeMutex<Counter>>>,
    order: VecDeque<String>,
}

impl FaultState {
    fn scope(&self, name: &str) -> Result<Arc<SafeMutex<Counter>>, LockError> {
        let mut table = self.scopes.lock()?;
        if let Some(c) = table.by_name.get(name) {
            return Ok(Arc::clone(c));
        }
        if table.order.len() >= MAX_SCOPES
            && let Some(oldest) = table.order.pop_front()
        {
            table.by_name.remove(&oldest);
        }
        let counter = Arc::new(SafeMutex::new(Counter::default()));
        table.by_name.insert(name.to_owned(), Arc::clone(&counter));
        table.order.push_back(name.to_owned());
        Ok(counter)
    }

    fn existing(&self, name: &str) -> Result<Option<Arc<SafeMutex<Counter>>>, LockError> {
        Ok(self.scopes.lock()?.by_name.get(name).cloned())
    }
}

/// The fault-hook routes, to be nested under `/_dx/faults`.
pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/add", post(add))
        .route("/poison", post(poison))
        .route("/state/{scope}", get(state_of))
        .route("/panic", post(panic_route))
        .route("/error", post(error_route))
        .route("/slow-query", post(slow_query))
}

/// Body of `/slow-query`: no members.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowQueryRequest {}

/// A count of the items that sleeps past any query timeout (PostgreSQL).
const SLOW_COUNT: dx_query::Statement = dx_query::Statement::select(
    dx_query::items::TABLE,
    "SELECT COUNT(*) AS n FROM dx_items, (SELECT pg_sleep($1)) AS slow",
);

/// A plain count of the items.
const COUNT: dx_query::Statement =
    dx_query::Statement::select(dx_query::items::TABLE, "SELECT COUNT(*) AS n FROM dx_items");

/// `POST {base}/slow-query`: runs a count of the items that takes longer than the query
/// timeout, through the query client, and answers what it answers (504 when the timeout
/// holds). PostgreSQL sleeps inside the statement; on SQLite, which cannot, the count waits
/// past its timeout before it asks for a connection (`query_after`), so the embedded
/// database's one connection stays free for everyone else.
pub async fn slow_query(
    State(state): State<SharedState>,
    ApiJson(_): ApiJson<SlowQueryRequest>,
) -> Result<Response, crate::routes::items::ItemsFailure> {
    let query = &state.query;
    query.items().await?;
    let client = query.client();
    let timeout = client.query_timeout();
    let result = match client.database().pool() {
        dx_query::Pool::Postgres(_) => {
            let seconds = timeout.as_secs_f64() + 1.0;
            client
                .query::<serde_json::Value>(&SLOW_COUNT, &[seconds.into()])
                .await
        }
        dx_query::Pool::Sqlite(_) => {
            let delay = timeout + std::time::Duration::from_millis(300);
            client
                .query_after::<serde_json::Value>(&COUNT, &[], delay)
                .await
        }
    };
    result?;
    Ok(Json(serde_json::json!({})).into_response())
}

/// Body of `/add` and `/poison`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddRequest {
    scope: String,
    add: i64,
}

/// A scope's state as reported.
#[derive(Debug, Serialize)]
pub struct ScopeState {
    scope: String,
    value: i64,
    updates: u64,
    recoveries: u64,
}

fn validate_scope(scope: &str) -> Result<(), DxError> {
    let ok = (1..=64).contains(&scope.len())
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(DxError::request(
            ErrorCode::ValidationFailed,
            "scope must be 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
        )
        .with_details(serde_json::json!({ "field": "scope" })))
    }
}

fn validate_add(req: &AddRequest) -> Result<(), DxError> {
    validate_scope(&req.scope)?;
    if req.add.abs() > MAX_ADD {
        return Err(DxError::request(
            ErrorCode::ValidationFailed,
            format!("add must be between -{MAX_ADD} and {MAX_ADD}"),
        )
        .with_details(serde_json::json!({ "field": "add" })));
    }
    Ok(())
}

/// Refuses to use a poisoned lock when the `mutex-not-recovered` mutant is active.
fn check_mutant(state: &SharedState, counter: &SafeMutex<Counter>) -> Result<(), DxError> {
    if state.config.mutations.is(Mutant::MutexNotRecovered) && counter.is_poisoned() {
        return Err(LockError::AcquisitionFailed("mutex is poisoned".into()).into());
    }
    Ok(())
}

fn snapshot(scope: &str, counter: &SafeMutex<Counter>) -> Result<ScopeState, DxError> {
    // Lock first: taking a poisoned lock is what recovers it and counts the recovery.
    let guard = counter.lock()?;
    let recoveries = counter.recoveries();
    Ok(ScopeState {
        scope: scope.to_owned(),
        value: guard.value,
        updates: guard.updates,
        recoveries,
    })
}

/// The validated scope's counter, refusing a poisoned one under the `mutex-not-recovered`
/// mutant.
fn counter_for(state: &SharedState, req: &AddRequest) -> Result<Arc<SafeMutex<Counter>>, DxError> {
    validate_add(req)?;
    let counter = state.faults.scope(&req.scope)?;
    check_mutant(state, &counter)?;
    Ok(counter)
}

impl Counter {
    fn apply(&mut self, add: i64) {
        self.value = self.value.saturating_add(add);
        self.updates += 1;
    }
}

async fn add(
    State(state): State<SharedState>,
    ApiJson(req): ApiJson<AddRequest>,
) -> Result<Json<ScopeState>, ApiError> {
    let counter = counter_for(&state, &req)?;
    counter.lock().map_err(DxError::from)?.apply(req.add);
    Ok(Json(snapshot(&req.scope, &counter)?))
}

async fn poison(
    State(state): State<SharedState>,
    ApiJson(req): ApiJson<AddRequest>,
) -> Result<Json<ScopeState>, ApiError> {
    let counter = counter_for(&state, &req)?;
    let mut guard = counter.lock().map_err(DxError::from)?;
    guard.apply(req.add);
    // Deliberate: fail while holding the lock, poisoning it.
    panic!(
        "fault hook: panicking while holding the lock of scope {}",
        req.scope
    );
}

async fn state_of(
    State(state): State<SharedState>,
    scope: Result<Path<String>, PathRejection>,
) -> Result<Json<ScopeState>, ApiError> {
    // A segment that does not percent-decode to UTF-8 is an invalid scope like any other.
    let scope = scope.map_or_else(|_| String::new(), |Path(s)| s);
    validate_scope(&scope)?;
    match state.faults.existing(&scope).map_err(DxError::from)? {
        Some(counter) => {
            check_mutant(&state, &counter)?;
            Ok(Json(snapshot(&scope, &counter)?))
        }
        None => Ok(Json(ScopeState {
            scope,
            value: 0,
            updates: 0,
            recoveries: 0,
        })),
    }
}

/// Body of `/panic`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanicRequest {
    message: String,
}

async fn panic_route(
    State(state): State<SharedState>,
    ApiJson(req): ApiJson<PanicRequest>,
) -> Result<Json<()>, ApiError> {
    if req.message.chars().count() > MAX_PANIC_MESSAGE {
        return Err(ApiError(
            DxError::request(
                ErrorCode::ValidationFailed,
                format!("message must be at most {MAX_PANIC_MESSAGE} characters"),
            )
            .with_details(serde_json::json!({ "field": "message" })),
        ));
    }
    // Deliberate: a panic carrying internal details that must never reach a client.
    panic!(
        "fault hook panic: {} (at {}:{} while using {})",
        req.message,
        file!(),
        line!(),
        state.config.database.expose()
    );
}

/// Body of `/error`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorRequest {
    number: u16,
    message: String,
    source: Option<String>,
    suggestion: Option<String>,
}

async fn error_route(
    State(state): State<SharedState>,
    ApiJson(req): ApiJson<ErrorRequest>,
) -> Result<Json<()>, Response> {
    let invalid = |field: &str, text: String| {
        ApiError(
            DxError::request(ErrorCode::ValidationFailed, text)
                .with_details(serde_json::json!({ "field": field })),
        )
        .into_response()
    };
    let chars = |s: &str| s.chars().count();
    let Some(code) = ErrorCode::from_number(req.number) else {
        return Err(invalid("number", "number is not a known error code".into()));
    };
    if !(1..=MAX_HOOK_TEXT).contains(&chars(&req.message)) {
        return Err(invalid(
            "message",
            format!("message must be 1 to {MAX_HOOK_TEXT} characters"),
        ));
    }
    if req
        .source
        .as_deref()
        .is_some_and(|s| chars(s) > MAX_HOOK_SOURCE)
    {
        return Err(invalid(
            "source",
            format!("source must be at most {MAX_HOOK_SOURCE} characters"),
        ));
    }
    if req
        .suggestion
        .as_deref()
        .is_some_and(|s| !(1..=MAX_HOOK_TEXT).contains(&chars(s)))
    {
        return Err(invalid(
            "suggestion",
            format!("suggestion must be 1 to {MAX_HOOK_TEXT} characters"),
        ));
    }
    let mut err = DxError::new(code, req.message);
    if let Some(source) = req.source {
        err = err.with_source(std::io::Error::other(source));
    }
    if let Some(suggestion) = req.suggestion {
        err = err.with_suggestion(suggestion);
    }
    // The members spec/error-format.md binds to these codes.
    let details = match code {
        ErrorCode::RateLimited => Some(serde_json::json!({ "retry_after_seconds": 1 })),
        ErrorCode::ValidationFailed => Some(serde_json::json!({ "field": "message" })),
        ErrorCode::PayloadTooLarge => {
            Some(serde_json::json!({ "max_body_bytes": state.config.max_body_bytes }))
        }
        _ => None,
    };
    if let Some(details) = details {
        err = err.with_details(details);
    }
    let header = match code {
        ErrorCode::MethodNotAllowed => Some((http::header::ALLOW, "POST")),
        ErrorCode::RateLimited => Some((http::header::RETRY_AFTER, "1")),
        _ => None,
    };
    let mut response = ApiError(err).into_response();
    if let Some((name, value)) = header {
        response
            .headers_mut()
            .insert(name, http::HeaderValue::from_static(value));
    }
    Err(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_capped_and_oldest_evicted() {
        let faults = FaultState::default();
        for i in 0..=MAX_SCOPES {
            faults.scope(&format!("s{i}")).unwrap();
        }
        assert!(faults.existing("s0").unwrap().is_none());
        assert!(
            faults
                .existing(&format!("s{MAX_SCOPES}"))
                .unwrap()
                .is_some()
        );
        let again = faults.scope("s1").unwrap();
        assert!(Arc::ptr_eq(&again, &faults.scope("s1").unwrap()));
    }

    #[test]
    fn scope_and_add_are_validated() {
        assert!(validate_scope("abc_DEF-1").is_ok());
        assert!(validate_scope("").is_err());
        assert!(validate_scope("a/b").is_err());
        assert!(validate_scope(&"a".repeat(65)).is_err());
        let too_big = AddRequest {
            scope: "s".into(),
            add: MAX_ADD + 1,
        };
        assert!(validate_add(&too_big).is_err());
    }
}
