//! Feature: production-readiness, Property 21: Query Error Structure
//!
//! Black-box form. proptest picks a failure to provoke and a random marker to put in it: a
//! duplicate name on create or on update (409 `DB_CONSTRAINT_VIOLATION`), or, where the
//! conformance fault hooks exist, a query past its timeout (504 `DB_QUERY_TIMEOUT`). Every
//! answer must be the envelope with the code, `details.error_type`, `details.table` and
//! `details.operation` (`spec/query.md`, "Errors"), and must not carry the marker, which was
//! a bound value, nor any credential, connection string or SQL text (the observer judges
//! every response for those). After a timeout the target must serve the next request.

use serde_json::{Value, json};

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::query::{ItemsApi, Owner, area};
use crate::checks::support::{marker, unique_scope};
use crate::clause::query as qc;
use crate::contract::hooks_base;
use crate::envelope::expect_code;
use crate::http::{Exchange, RequestSpec};
use crate::rules::Rule;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 21,
    run: run_check,
};

/// A failure to provoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Provocation {
    /// Create an item with a name the account already uses.
    DuplicateOnCreate,
    /// Rename an item to a name the account already uses.
    DuplicateOnUpdate,
    /// The slow-query hook.
    Timeout,
}

const OPERATIONS: [&str; 4] = ["select", "insert", "update", "delete"];

/// The envelope carries `code`, and `details` name the failure's type, table and operation.
fn expect_structure(
    ex: &Exchange,
    wire: &str,
    error_type: &str,
    operation: Option<&str>,
) -> Result<(), CaseFailure> {
    let envelope = expect_code(ex, wire, &qc::DETAILS)?;
    if envelope.message != envelope.code.message {
        return Err(CaseFailure::violates(
            ex,
            &qc::DEFAULT_MESSAGE,
            format!(
                "message {:?}, not the default {:?}",
                envelope.message, envelope.code.message
            ),
        ));
    }
    let details = envelope.details.unwrap_or(Value::Null);
    let got_type = details.get("error_type").and_then(Value::as_str);
    let table = details.get("table").and_then(Value::as_str);
    let op = details.get("operation").and_then(Value::as_str);
    let op_ok =
        op.is_some_and(|o| OPERATIONS.contains(&o) && operation.is_none_or(|want| want == o));
    if got_type != Some(error_type) || table.is_none_or(str::is_empty) || !op_ok {
        return Err(CaseFailure::violates(
            ex,
            &qc::DETAILS,
            format!(
                "details {details} for a {error_type}{}",
                operation.map(|o| format!(" on {o}")).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

async fn duplicate(
    api: &ItemsApi<'_>,
    owner: &Owner,
    on_update: bool,
    mark: &str,
) -> Result<(), CaseFailure> {
    let mut created = Vec::new();
    let outcome = provoke_duplicate(api, owner, on_update, mark, &mut created).await;
    if api.shared {
        // A test account keeps what it held before the check.
        api.remove(owner, &created).await;
    }
    outcome
}

/// [`duplicate`]'s requests; each item stored is also in `created`.
async fn provoke_duplicate(
    api: &ItemsApi<'_>,
    owner: &Owner,
    on_update: bool,
    mark: &str,
    created: &mut Vec<i64>,
) -> Result<(), CaseFailure> {
    let taken = format!("taken {mark}");
    created.push(api.create(owner, &taken, "").await?.id);
    let ex = if on_update {
        let other = api
            .create(owner, &format!("other {}", unique_scope("p21")), "")
            .await?;
        created.push(other.id);
        api.send(
            owner,
            RequestSpec::new(
                http::Method::PUT,
                format!("{}/{}", api.area.items, other.id),
            )
            .header("Content-Type", "application/json")
            .body(
                json!({ "name": taken, "body": mark })
                    .to_string()
                    .into_bytes(),
            ),
            &[mark.to_owned()],
        )
        .await?
    } else {
        api.send(owner, api.create_request(&taken, mark), &[mark.to_owned()])
            .await?
    };
    if ex.status != 409 {
        return Err(CaseFailure::violates(
            &ex,
            &qc::DUPLICATE,
            format!("HTTP {} for a name already in use", ex.status),
        ));
    }
    let operation = if on_update { "update" } else { "insert" };
    expect_structure(
        &ex,
        "DB_CONSTRAINT_VIOLATION",
        "constraint_violation",
        Some(operation),
    )?;
    // PostgreSQL names the unique constraint it enforced, so a target that says it runs on
    // PostgreSQL must pass the name on; SQLite does not name it, and other back ends may not.
    let constraint = ex
        .json()
        .and_then(|b| b.pointer("/error/details/constraint").cloned());
    if api.area.backend.as_deref() == Some("postgres")
        && constraint
            .as_ref()
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
    {
        return Err(CaseFailure::violates(
            &ex,
            &qc::DETAILS,
            format!("details.constraint {constraint:?} for a unique violation on PostgreSQL"),
        ));
    }
    Ok(())
}

async fn timeout(api: &ItemsApi<'_>, base: &str, owner: &Owner) -> Result<(), CaseFailure> {
    let ex = api
        .observer
        .send(
            RequestSpec::post_json(format!("{base}/slow-query"), &json!({})),
            &[],
        )
        .await?;
    if ex.status != 504 {
        return Err(CaseFailure::violates(
            &ex,
            &qc::SLOW_QUERY,
            format!("HTTP {} from the slow-query hook", ex.status),
        ));
    }
    expect_structure(&ex, "DB_QUERY_TIMEOUT", "timeout", None)?;
    // Serving as before: a listing succeeds (allowing for a connection still held a moment).
    for attempt in 0..20 {
        let ex = api
            .send(
                owner,
                RequestSpec::get(format!("{}?limit=1", api.area.items)),
                &[],
            )
            .await?;
        if ex.status == 200 {
            return Ok(());
        }
        if attempt == 19 {
            return Err(CaseFailure::violates(
                &ex,
                &qc::SLOW_QUERY,
                format!("HTTP {} to a listing after a timed-out query", ex.status),
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Ok(())
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let mut api = match ItemsApi::new(target, area) {
            Ok(api) => api,
            Err(outcome) => return outcome,
        };
        // "A sanitized message with no credentials" is this property's own: a leak in any
        // of its answers fails it, besides the rule's entry.
        api.observer = api.observer.owning(&[Rule::Sanitization]);
        let hooks = hooks_base(target.discovery());
        let mut kinds = vec![
            Provocation::DuplicateOnCreate,
            Provocation::DuplicateOnUpdate,
        ];
        if hooks.is_some() {
            kinds.push(Provocation::Timeout);
        }
        let owner = match api.owner("p21").await {
            Ok(o) => o,
            Err(failure) => return CheckOutcome::SetupFailed(failure),
        };
        // A timeout holds a connection of the pool past the query timeout, and its case then
        // needs the target serving again: it runs alone. Duplicates, each on names of its
        // own, run several at once (a shared test account's, one at a time).
        let alone = tokio::sync::RwLock::new(());
        let (api, owner, hooks, alone) = (&api, &owner, &hooks, &alone);
        let at_once = if api.shared { 1 } else { CASES_AT_ONCE };
        // Timeouts take the query timeout each: at most one case in ten provokes one.
        let strategy = (proptest::sample::select(kinds), 0u8..10);
        let outcome = for_all_concurrently(strategy, config, at_once, |(kind, roll)| async move {
            let mark = marker();
            match (kind, hooks) {
                (Provocation::Timeout, Some(base)) if roll == 0 => {
                    let _alone = alone.write().await;
                    timeout(api, base, owner).await
                }
                (kind, _) => {
                    let _beside = alone.read().await;
                    let on_update = kind == Provocation::DuplicateOnUpdate;
                    duplicate(api, owner, on_update, &mark).await
                }
            }
        })
        .await;
        if hooks.is_some() || outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        CheckOutcome::RanInPart {
            outcome: Box::new(outcome),
            unverified: "the structure of a query timeout (504 DB_QUERY_TIMEOUT) was not verified: without the conformance profile's fault hooks the suite cannot hold a query past its timeout".into(),
        }
    })
}
