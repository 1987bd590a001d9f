//! Feature: production-readiness, Property 7: Error Isolation
//!
//! Black-box form: first a baseline of every other route (health, readiness, discovery, the
//! client-errors endpoint, an unknown path, a fresh scope's `add` and `state`) is recorded.
//! Then batches that mix failing components (a route that fails, a route that fails holding
//! a lock) with those ordinary requests are sent at once, and every ordinary route is asked
//! again right after each batch. Each failure must stay inside its route (a 500 envelope),
//! and every other route must answer exactly as in the baseline, during and after: same
//! status, same body apart from the request's own id and time.

use futures_util::future::join_all;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::support::{Observer, fault_hooks, unique_scope};
use crate::clause::{http_contract as hc, properties::ISOLATION};
use crate::discovery::DISCOVERY_PATH;
use crate::envelope::expect_code;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 7,
    run: run_check,
};

/// One request of a batch.
#[derive(Debug, Clone)]
enum Op {
    /// A component fails: its handler fails unhandled.
    Panic(String),
    /// A component fails while holding shared state.
    Poison(i64),
    /// An unrelated route is used normally.
    Healthy(Healthy),
}

/// The ordinary requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Healthy {
    Health,
    Ready,
    Discovery,
    ClientErrorReport,
    NotFound,
    Add(i64),
    FreshState,
}

const EVERY_HEALTHY: [Healthy; 7] = [
    Healthy::Health,
    Healthy::Ready,
    Healthy::Discovery,
    Healthy::ClientErrorReport,
    Healthy::NotFound,
    Healthy::Add(1),
    Healthy::FreshState,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => "[a-z ]{0,24}".prop_map(Op::Panic),
        2 => (-100i64..100).prop_map(Op::Poison),
        3 => prop_oneof![
            Just(Healthy::Health),
            Just(Healthy::Ready),
            Just(Healthy::Discovery),
            Just(Healthy::ClientErrorReport),
            Just(Healthy::NotFound),
            Just(Healthy::FreshState),
            (-100i64..100).prop_map(Healthy::Add),
        ]
        .prop_map(Op::Healthy),
    ]
}

/// The normal answers of the ordinary routes, taken before any failure.
#[derive(Debug, Clone)]
struct Baseline {
    answers: Vec<(Healthy, u16, Value)>,
}

impl Baseline {
    fn of(&self, healthy: Healthy) -> Option<&(Healthy, u16, Value)> {
        let key = match healthy {
            Healthy::Add(_) => Healthy::Add(1),
            other => other,
        };
        self.answers.iter().find(|(h, _, _)| *h == key)
    }
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let base = match fault_hooks(target) {
            Ok(b) => b,
            Err(outcome) => return outcome,
        };
        let observer = Observer::new(target);
        let mut answers = Vec::new();
        for healthy in EVERY_HEALTHY {
            match request_of(observer, &base, healthy).map(|r| observer.send(r, &[])) {
                Some(sent) => match sent.await {
                    Ok(ex) => answers.push((healthy, ex.status.as_u16(), normalized(&ex, healthy))),
                    Err(failure) => return CheckOutcome::SetupFailed(failure),
                },
                None => continue,
            }
        }
        let baseline = Baseline { answers };
        let strategy = proptest::collection::vec(op(), 2..=24);
        CheckOutcome::Ran(
            // A case's failures are its own (its own scopes): several cases run at once, and
            // each one's routes must still answer as in the baseline.
            for_all_concurrently(strategy, config, CASES_AT_ONCE, |ops| {
                run_case(observer, base.clone(), baseline.clone(), ops)
            })
            .await,
        )
    })
}

async fn run_case(
    observer: Observer<'_>,
    base: String,
    baseline: Baseline,
    ops: Vec<Op>,
) -> Result<(), CaseFailure> {
    let batch = ops.iter().map(|op| perform(observer, &base, &baseline, op));
    for result in join_all(batch).await {
        result?;
    }
    // Right after the failures, every ordinary route must still answer as before (asked at
    // once: one after another they cost a round trip each).
    let asked: Vec<Op> = EVERY_HEALTHY.iter().copied().map(Op::Healthy).collect();
    let after = asked
        .iter()
        .map(|op| perform(observer, &base, &baseline, op));
    for result in join_all(after).await {
        result?;
    }
    Ok(())
}

/// The request of an ordinary route; `None` when the target does not offer it.
fn request_of(observer: Observer<'_>, base: &str, healthy: Healthy) -> Option<RequestSpec> {
    let d = observer.target.discovery();
    Some(match healthy {
        Healthy::Health => RequestSpec::get(d.endpoints.health.clone()),
        Healthy::Ready => RequestSpec::get(d.endpoints.ready.clone()),
        Healthy::Discovery => RequestSpec::get(DISCOVERY_PATH),
        Healthy::ClientErrorReport => RequestSpec::post_json(
            d.endpoints.client_errors.clone()?,
            &json!({"boundary": "p07-probe", "message": "isolation probe"}),
        ),
        Healthy::NotFound => RequestSpec::get("/dx-conformance/p07-missing"),
        Healthy::Add(n) => RequestSpec::post_json(
            format!("{base}/add"),
            &json!({"scope": unique_scope("p07-healthy"), "add": n}),
        ),
        Healthy::FreshState => {
            RequestSpec::get(format!("{base}/state/{}", unique_scope("p07-untouched")))
        }
    })
}

/// The answer with what differs between identical requests taken out: ids, times, scope
/// names, and the amount an `add` was asked to add.
fn normalized(ex: &Exchange, healthy: Healthy) -> Value {
    let mut json = ex.json().unwrap_or_else(|| json!({ "text": ex.text() }));
    if let Some(object) = json.as_object_mut() {
        object.remove("request_id");
        object.remove("timestamp");
        object.remove("scope");
        if let Healthy::Add(n) = healthy
            && object.get("value") == Some(&json!(n))
        {
            object.insert("value".into(), json!("the amount added"));
        }
    }
    json
}

async fn perform(
    observer: Observer<'_>,
    base: &str,
    baseline: &Baseline,
    op: &Op,
) -> Result<(), CaseFailure> {
    match op {
        Op::Panic(message) => {
            let ex = observer
                .send(
                    RequestSpec::post_json(format!("{base}/panic"), &json!({"message": message})),
                    &[],
                )
                .await?;
            expect_code(&ex, "INTERNAL_ERROR", &hc::UNHANDLED).map(drop)
        }
        Op::Poison(add) => {
            let scope = unique_scope("p07-failing");
            let ex = observer
                .send(
                    RequestSpec::post_json(
                        format!("{base}/poison"),
                        &json!({"scope": scope, "add": add}),
                    ),
                    &[],
                )
                .await?;
            expect_code(&ex, "INTERNAL_ERROR", &hc::HOOK_POISON).map(drop)
        }
        Op::Healthy(healthy) => {
            let Some(request) = request_of(observer, base, *healthy) else {
                return Ok(());
            };
            let Some((_, status, body)) = baseline.of(*healthy) else {
                return Ok(());
            };
            let ex = observer.send(request, &[]).await?;
            let got = normalized(&ex, *healthy);
            if ex.status.as_u16() != *status || &got != body {
                return Err(CaseFailure::violates(
                    &ex,
                    &ISOLATION,
                    format!(
                        "HTTP {} {got} while other routes failed; before any failure the route answered HTTP {status} {body}",
                        ex.status
                    ),
                ));
            }
            Ok(())
        }
    }
}
