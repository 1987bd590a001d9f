//! Feature: production-readiness, Property 7: Error Isolation
//!
//! Black-box form: batches that mix failing components (a route that panics, a route that
//! panics while holding a lock) with ordinary requests to other routes, sent concurrently.
//! Each failure must stay inside its route's boundary (a 500 envelope), and every other route
//! must answer as it normally does, during the failures and right after them.

use futures_util::future::join_all;
use proptest::prelude::*;
use serde_json::json;

use crate::cases::{CaseConfig, CaseFailure, for_all};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::support::{fault_hooks, unique_scope};
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
    /// A component fails: its handler panics.
    Panic(String),
    /// A component fails while holding shared state.
    Poison(i64),
    /// An unrelated route is used normally.
    Healthy(Healthy),
}

/// The ordinary requests.
#[derive(Debug, Clone, Copy)]
enum Healthy {
    Health,
    Discovery,
    ClientErrorReport,
    Add(i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => "[a-z ]{0,24}".prop_map(Op::Panic),
        1 => (-100i64..100).prop_map(Op::Poison),
        3 => prop_oneof![
            Just(Healthy::Health),
            Just(Healthy::Discovery),
            Just(Healthy::ClientErrorReport),
            (-100i64..100).prop_map(Healthy::Add),
        ]
        .prop_map(Op::Healthy),
    ]
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let base = match fault_hooks(target) {
            Ok(b) => b,
            Err(outcome) => return outcome,
        };
        let strategy = proptest::collection::vec(op(), 2..10);
        CheckOutcome::Ran(
            for_all(strategy, config, |ops| run_case(target, base.clone(), ops)).await,
        )
    })
}

async fn run_case(target: &Target, base: String, ops: Vec<Op>) -> Result<(), CaseFailure> {
    let batch = ops.iter().map(|op| perform(target, &base, op));
    for result in join_all(batch).await {
        result?;
    }
    // Right after the failures, every ordinary route must still answer normally.
    for healthy in [
        Healthy::Health,
        Healthy::Discovery,
        Healthy::ClientErrorReport,
        Healthy::Add(1),
    ] {
        perform(target, &base, &Op::Healthy(healthy)).await?;
    }
    Ok(())
}

async fn perform(target: &Target, base: &str, op: &Op) -> Result<(), CaseFailure> {
    let http = target.http();
    match op {
        Op::Panic(message) => {
            let ex = http
                .send(RequestSpec::post_json(
                    format!("{base}/panic"),
                    &json!({"message": message}),
                ))
                .await?;
            expect_code(&ex, "INTERNAL_ERROR").map(drop)
        }
        Op::Poison(add) => {
            let scope = unique_scope("p07-failing");
            let ex = http
                .send(RequestSpec::post_json(
                    format!("{base}/poison"),
                    &json!({"scope": scope, "add": add}),
                ))
                .await?;
            expect_code(&ex, "INTERNAL_ERROR").map(drop)
        }
        Op::Healthy(h) => {
            let (request, status) = match h {
                Healthy::Health => (
                    RequestSpec::get(target.discovery().endpoints.health.clone()),
                    200,
                ),
                Healthy::Discovery => (RequestSpec::get(DISCOVERY_PATH), 200),
                Healthy::ClientErrorReport => match &target.discovery().endpoints.client_errors {
                    Some(path) => (
                        RequestSpec::post_json(
                            path.clone(),
                            &json!({"boundary": "p07-probe", "message": "isolation probe"}),
                        ),
                        202,
                    ),
                    None => (
                        RequestSpec::get(target.discovery().endpoints.health.clone()),
                        200,
                    ),
                },
                Healthy::Add(n) => {
                    let scope = unique_scope("p07-healthy");
                    let ex = http
                        .send(RequestSpec::post_json(
                            format!("{base}/add"),
                            &json!({"scope": scope, "add": n}),
                        ))
                        .await?;
                    return expect_healthy(&ex, 200).and_then(|()| {
                        let value = ex.json().and_then(|j| j["value"].as_i64());
                        if value == Some(*n) {
                            Ok(())
                        } else {
                            Err(CaseFailure::at(
                                &ex,
                                format!("the new scope's value to be {n}"),
                                format!("value {value:?}"),
                            ))
                        }
                    });
                }
            };
            let ex = http.send(request).await?;
            expect_healthy(&ex, status)
        }
    }
}

fn expect_healthy(ex: &Exchange, status: u16) -> Result<(), CaseFailure> {
    if ex.status.as_u16() == status {
        Ok(())
    } else {
        Err(CaseFailure::at(
            ex,
            format!("HTTP {status}: a route outside the failing boundary keeps working normally"),
            format!("HTTP {}", ex.status),
        ))
    }
}
