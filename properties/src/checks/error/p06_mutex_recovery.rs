//! Feature: production-readiness, Property 6: Mutex Poisoning Recovery
//!
//! Black-box form: random sequences of `add` and `poison` (a request that panics while
//! holding a scope's shared lock) on a scope of its own; after every step the scope's state
//! must still be readable and hold every add, including those of the poisoning requests.

use proptest::prelude::*;
use serde_json::{Value, json};

use crate::cases::{CaseConfig, CaseFailure, for_all};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::support::{fault_hooks, unique_scope};
use crate::envelope::expect_code;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 6,
    run: run_check,
};

/// One step of a case.
#[derive(Debug, Clone)]
enum Step {
    /// Add to the counter normally.
    Add(i64),
    /// Add to the counter, then panic while holding its lock.
    Poison(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (-1000i64..1000).prop_map(Step::Add),
        (-1000i64..1000).prop_map(Step::Poison),
    ]
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let base = match fault_hooks(target) {
            Ok(b) => b,
            Err(outcome) => return outcome,
        };
        let strategy = proptest::collection::vec(step(), 1..8);
        CheckOutcome::Ran(
            for_all(strategy, config, |steps| {
                run_case(target, base.clone(), steps)
            })
            .await,
        )
    })
}

async fn run_case(target: &Target, base: String, steps: Vec<Step>) -> Result<(), CaseFailure> {
    let http = target.http();
    let scope = unique_scope("p06");
    let (mut value, mut updates, mut poisons) = (0i64, 0u64, 0u64);
    for step in &steps {
        match step {
            Step::Add(n) => {
                let ex = http
                    .send(RequestSpec::post_json(
                        format!("{base}/add"),
                        &json!({"scope": scope, "add": n}),
                    ))
                    .await?;
                if ex.status != 200 {
                    return Err(CaseFailure::at(
                        &ex,
                        "200: a lock poisoned by an earlier panic is recovered, so later updates succeed",
                        format!("HTTP {}", ex.status),
                    ));
                }
                value += n;
            }
            Step::Poison(n) => {
                let ex = http
                    .send(RequestSpec::post_json(
                        format!("{base}/poison"),
                        &json!({"scope": scope, "add": n}),
                    ))
                    .await?;
                expect_code(&ex, "INTERNAL_ERROR")?;
                value += n;
                poisons += 1;
            }
        }
        updates += 1;
        let ex = http
            .send(RequestSpec::get(format!("{base}/state/{scope}")))
            .await?;
        check_state(&ex, value, updates, poisons)?;
    }
    Ok(())
}

fn check_state(ex: &Exchange, value: i64, updates: u64, poisons: u64) -> Result<(), CaseFailure> {
    let expected = format!(
        "HTTP 200 with the recovered state: value {value}, updates {updates}, recoveries {poisons}"
    );
    if ex.status != 200 {
        return Err(CaseFailure::at(ex, expected, format!("HTTP {}", ex.status)));
    }
    let json = ex.json().unwrap_or(Value::Null);
    let got = (
        json["value"].as_i64(),
        json["updates"].as_u64(),
        json["recoveries"].as_u64(),
    );
    if got != (Some(value), Some(updates), Some(poisons)) {
        return Err(CaseFailure::at(
            ex,
            expected,
            format!(
                "value {:?}, updates {:?}, recoveries {:?}",
                got.0, got.1, got.2
            ),
        ));
    }
    Ok(())
}
