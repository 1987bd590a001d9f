//! Feature: production-readiness, Property 6: Mutex Poisoning Recovery
//!
//! Black-box form: long histories on one scope's shared lock. Each history is a series of
//! rounds; a round is one request, or a batch of `add` and `poison` requests (a request that
//! fails while holding the lock) sent at once on the same scope. After every round the
//! scope's state must account for every add, those of the poisoning requests included, and
//! for every poisoning exactly once; every add, also right after a poisoning, answers 200 with
//! the state, exact whenever it ran alone. The extreme values of `add` are covered whole.

use futures_util::future::join_all;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::cases::{
    CASES_AT_ONCE, CaseConfig, CaseFailure, CaseOutcome, for_all_concurrently, for_each,
};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::support::{Observer, fault_hooks, unique_scope};
use crate::clause::http_contract as hc;
use crate::envelope::expect_code;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 6,
    run: run_check,
};

/// The largest magnitude of one `add` (spec/http-contract.md).
const MAX_ADD: i64 = 1_000_000_000;

/// One request on the scope.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Add to the counter normally.
    Add(i64),
    /// Add to the counter, then fail while holding its lock.
    Poison(i64),
}

fn amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -1000i64..1000,
        1 => Just(MAX_ADD),
        1 => Just(-MAX_ADD),
        1 => -MAX_ADD..=MAX_ADD,
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        amount().prop_map(Step::Add),
        amount().prop_map(Step::Poison)
    ]
}

/// A history: up to 12 rounds of 1 to 8 requests each.
fn history() -> impl Strategy<Value = Vec<Vec<Step>>> {
    proptest::collection::vec(proptest::collection::vec(step(), 1..=8), 1..=12)
}

/// The extreme values, each after a poisoning, on one scope.
const EXTREMES: [&[Step]; 3] = [
    &[
        Step::Add(MAX_ADD),
        Step::Poison(MAX_ADD),
        Step::Add(MAX_ADD),
    ],
    &[
        Step::Add(-MAX_ADD),
        Step::Poison(-MAX_ADD),
        Step::Add(-MAX_ADD),
    ],
    &[Step::Poison(0), Step::Poison(0), Step::Add(0)],
];

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let base = match fault_hooks(target) {
            Ok(b) => b,
            Err(outcome) => return outcome,
        };
        let observer = Observer::new(target);
        let extremes = for_each(&EXTREMES, |steps| {
            let rounds: Vec<Vec<Step>> = steps.iter().map(|s| vec![*s]).collect();
            run_history(observer, base.clone(), rounds)
        })
        .await;
        if extremes.is_failed() {
            return CheckOutcome::Ran(extremes);
        }
        let eviction = match evicts_the_oldest(observer, &base).await {
            Ok(()) => CaseOutcome::Passed { cases: 1 },
            Err(failure) => CaseOutcome::Failed {
                cases: 1,
                failure,
                counterexample: format!("one scope, then {MAX_SCOPES} newer ones"),
            },
        };
        let extremes = extremes.followed_by(eviction);
        if extremes.is_failed() {
            return CheckOutcome::Ran(extremes);
        }
        // Each history has a scope of its own: several run at once.
        let generated = for_all_concurrently(history(), config, CASES_AT_ONCE, |rounds| {
            run_history(observer, base.clone(), rounds)
        })
        .await;
        CheckOutcome::Ran(extremes.followed_by(generated))
    })
}

/// How many scopes a target keeps (spec/http-contract.md).
const MAX_SCOPES: usize = 1024;

/// After `MAX_SCOPES` newer scopes were created, the oldest reads as zeros. (Only this
/// direction is checked: other clients of the target may create scopes at the same time,
/// which can only evict it sooner.)
async fn evicts_the_oldest(observer: Observer<'_>, base: &str) -> Result<(), CaseFailure> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    let oldest = unique_scope("p06-oldest");
    send_step(observer, base, &oldest, Step::Add(7)).await?;
    stream::iter(0..MAX_SCOPES)
        .map(|_| {
            let scope = unique_scope("p06-newer");
            async move {
                send_step(observer, base, &scope, Step::Add(1))
                    .await
                    .map(drop)
            }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let ex = observer
        .send(RequestSpec::get(format!("{base}/state/{oldest}")), &[])
        .await?;
    check_state(&ex, Some(&Model::default()), &hc::HOOK_EVICTION)
}

/// What the scope must show: the model of spec/http-contract.md's counters.
#[derive(Debug, Clone, Copy, Default)]
struct Model {
    value: i64,
    updates: u64,
    recoveries: u64,
}

impl Model {
    fn apply(&mut self, step: Step) {
        let (Step::Add(n) | Step::Poison(n)) = step;
        self.value = self.value.saturating_add(n);
        self.updates += 1;
    }
}

async fn run_history(
    observer: Observer<'_>,
    base: String,
    rounds: Vec<Vec<Step>>,
) -> Result<(), CaseFailure> {
    let scope = unique_scope("p06");
    let mut model = Model::default();
    for round in rounds {
        let alone = round.len() == 1;
        let sent = round
            .iter()
            .map(|step| send_step(observer, &base, &scope, *step));
        let answers = join_all(sent).await;
        for (step, answer) in round.iter().zip(answers) {
            let ex = answer?;
            model.apply(*step);
            match step {
                Step::Add(_) => {
                    // Alone, the add's own answer is exact: its lock() recovered any poisoning.
                    let expected = alone.then_some(Model {
                        recoveries: model.recoveries,
                        ..model
                    });
                    check_state(&ex, expected.as_ref(), &hc::HOOK_ADD)?;
                }
                Step::Poison(_) => {
                    expect_code(&ex, "INTERNAL_ERROR", &hc::HOOK_POISON)?;
                    model.recoveries += 1;
                }
            }
        }
        let ex = observer
            .send(RequestSpec::get(format!("{base}/state/{scope}")), &[])
            .await?;
        check_state(&ex, Some(&model), &hc::HOOK_STATE)?;
    }
    Ok(())
}

async fn send_step(
    observer: Observer<'_>,
    base: &str,
    scope: &str,
    step: Step,
) -> Result<Exchange, CaseFailure> {
    let (hook, n) = match step {
        Step::Add(n) => ("add", n),
        Step::Poison(n) => ("poison", n),
    };
    observer
        .send(
            RequestSpec::post_json(format!("{base}/{hook}"), &json!({"scope": scope, "add": n})),
            &[],
        )
        .await
}

/// 200 with the scope's state; with `expected`, exactly that state.
fn check_state(
    ex: &Exchange,
    expected: Option<&Model>,
    clause: &crate::clause::Clause,
) -> Result<(), CaseFailure> {
    if ex.status != 200 {
        return Err(CaseFailure::violates(
            ex,
            clause,
            format!("HTTP {}", ex.status),
        ));
    }
    let json = ex.json().unwrap_or(Value::Null);
    let got = (
        json["value"].as_i64(),
        json["updates"].as_u64(),
        json["recoveries"].as_u64(),
    );
    let Some(want) = expected else {
        return match got {
            (Some(_), Some(_), Some(_)) => Ok(()),
            _ => Err(CaseFailure::violates(
                ex,
                clause,
                format!("the body is not a scope state: {json}"),
            )),
        };
    };
    if got != (Some(want.value), Some(want.updates), Some(want.recoveries)) {
        return Err(CaseFailure::violates(
            ex,
            clause,
            format!(
                "value {:?}, updates {:?}, recoveries {:?}; the history requires value {}, updates {}, recoveries {}",
                got.0, got.1, got.2, want.value, want.updates, want.recoveries
            ),
        ));
    }
    Ok(())
}
