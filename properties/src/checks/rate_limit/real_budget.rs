//! Properties 13 and 14 against a target's real budgets, where it has no partition header
//! (a deployment in its production configuration). The suite then spends one category
//! whole, as any client may: the one that limits none of the routes the other checks use
//! (so it locks none of them out), whose window the suite can wait out within `--max-wait`
//! and whose budget it can spend in a few seconds ([`spendable`]). Another client behind the
//! same address spends the same budget, so what these forms judge is what another client
//! cannot explain: a count that goes up within a window the suite saw fresh, an admission
//! past the limit of such a window, a refusal that is not the envelope with a `Retry-After`
//! in range, and room that a `Retry-After` promised and never came. Each is a pass in part:
//! the partition header would let every category and count be tried apart from others.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::budget::Refusal;
use crate::cases::{CaseFailure, CaseOutcome};
use crate::check::CheckOutcome;
use crate::checks::rate_limit::{Policy, current, expect_refused, policies_of};
use crate::clause::security as sc;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

/// The largest budget the suite spends whole: a few seconds of requests over loopback.
pub const LARGEST_SPENT: u32 = 2_000;

/// How many times room a `Retry-After` promised is looked for before the promise counts as
/// broken (another client may take the room once).
const PROMISE_TRIES: u32 = 3;

/// What these forms leave to the conformance profile.
const PARTITIONS_WOULD_ADD: &str = "the conformance profile's partition header would let every category and count be tried apart from other clients behind this address";

/// The category the suite may spend whole, or why none.
pub fn spendable(target: &Target) -> Result<Policy, String> {
    let d = target.discovery();
    if !d.offers("rate_limits") {
        return Err("the target publishes no rate_limits member".into());
    }
    let budgets = target.http().budgets();
    let mut used = Vec::new();
    routes(&d.raw, &mut used);
    used.extend(target.probes().iter().map(|r| r.path.clone()));
    let max_wait = budgets.max_wait();
    let candidates: Vec<Policy> = policies_of(d)
        .into_iter()
        .filter(|p| {
            !used.iter().any(|route| {
                budgets
                    .category_of(route)
                    .is_some_and(|c| c.name == p.category)
            })
        })
        .collect();
    let fits = |p: &Policy| {
        Duration::from_secs(p.window_seconds) <= max_wait && p.max_requests <= LARGEST_SPENT
    };
    candidates
        .iter()
        .filter(|p| fits(p))
        .min_by_key(|p| p.max_requests)
        .cloned()
        .ok_or_else(|| {
            if candidates.is_empty() {
                format!(
                    "without the conformance profile's partition header the suite would spend a real budget whole, and every published category limits a route the other checks use (spending it would lock them out for its window); {PARTITIONS_WOULD_ADD}"
                )
            } else {
                format!(
                    "without the conformance profile's partition header the suite would spend a real budget whole, and no category it may spend has a window within --max-wait ({} s) and at most {LARGEST_SPENT} requests",
                    max_wait.as_secs()
                )
            }
        })
}

/// Every path the discovery document names (a string starting with `/`), outside
/// `rate_limits`: the routes the other checks use.
fn routes(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::String(s) if s.starts_with('/') => into.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| routes(v, into)),
        Value::Object(map) => map
            .iter()
            .filter(|(k, _)| k.as_str() != "rate_limits")
            .for_each(|(_, v)| routes(v, into)),
        _ => {}
    }
}

/// One request of `policy`, outside the suite's pacing: its 429 is the answer.
async fn hit(target: &Target, policy: &Policy) -> Result<Exchange, CaseFailure> {
    Ok(target
        .http()
        .send_unpaced(RequestSpec::get(&policy.path))
        .await?)
}

/// What spending a category showed.
struct Spent {
    /// The `r` of the first answer.
    first: u64,
    /// Whether the window was fresh when the suite began (`r` = `max_requests` − 1 after
    /// its first request), so that no request of it can leave the window while the suite
    /// spends less than a window.
    fresh: bool,
    /// Requests admitted.
    admitted: u64,
    /// Whether another client's requests showed (`r` fell by more than one).
    others: bool,
    /// When the first request left.
    started: Instant,
    /// The last answer: the first refusal, or the last admission.
    last: Exchange,
}

/// Sends requests of `policy` until one is refused or `limit` were admitted, judging every
/// `RateLimit` field: within a fresh window spent in less than a window, `r` never grows.
async fn spend(target: &Target, policy: &Policy, limit: u64) -> Result<Spent, CaseFailure> {
    let started = Instant::now();
    let window = Duration::from_secs(policy.window_seconds);
    let mut previous: Option<u64> = None;
    let mut spent = Spent {
        first: 0,
        fresh: false,
        admitted: 0,
        others: false,
        started,
        last: hit(target, policy).await?,
    };
    loop {
        let ex = &spent.last;
        if ex.status == 429 {
            return Ok(spent);
        }
        let Some((r, _)) = current(ex, &policy.category) else {
            return Err(CaseFailure::violates(
                ex,
                &sc::FIELDS,
                format!(
                    "an admitted request in `{}` without its RateLimit field",
                    policy.category
                ),
            ));
        };
        match previous {
            None => {
                spent.first = r;
                spent.fresh = r + 1 == u64::from(policy.max_requests);
            }
            Some(before) if r >= before && spent.fresh && started.elapsed() < window => {
                return Err(CaseFailure::violates(
                    ex,
                    &sc::REMAINING,
                    format!(
                        "request {} in `{}`, whose window was fresh {} ms before: r={r} after r={before}, as if a request had not been counted",
                        spent.admitted + 1,
                        policy.category,
                        started.elapsed().as_millis()
                    ),
                ));
            }
            Some(before) if r + 1 < before => spent.others = true,
            Some(_) => {}
        }
        previous = Some(r);
        spent.admitted += 1;
        if spent.admitted >= limit {
            return Ok(spent);
        }
        spent.last = hit(target, policy).await?;
    }
}

/// The one case of a form, failed.
fn failed(failure: CaseFailure, policy: &Policy) -> CheckOutcome {
    CheckOutcome::Ran(CaseOutcome::Failed {
        cases: 1,
        failure,
        counterexample: format!(
            "the real `{}` budget ({} per {} s), spent from this address",
            policy.category, policy.max_requests, policy.window_seconds
        ),
    })
}

/// What a pass in part of `policy` says, with what another client may have hidden.
fn in_part(policy: &Policy, what: String, spent: &Spent) -> String {
    let window = if !spent.fresh {
        format!(
            "; the window was not fresh (r={} after the suite's first request, not {}), so requests leaving it could not be told from uncounted ones",
            spent.first,
            policy.max_requests.saturating_sub(1)
        )
    } else if spent.others {
        "; another client spent the same budget meanwhile".to_owned()
    } else {
        String::new()
    };
    format!(
        "{what} in the target's real `{}` budget ({} per {} s){window}; {PARTITIONS_WOULD_ADD}",
        policy.category, policy.max_requests, policy.window_seconds
    )
}

/// Property 13 without partitions: one burst of up to a tenth of the category (at least
/// one request, at most 100), each answer's `r` judged.
pub async fn counting(target: &Target) -> CheckOutcome {
    let policy = match spendable(target) {
        Ok(p) => p,
        Err(why) => return CheckOutcome::NotVerified(why),
    };
    let n = u64::from((policy.max_requests / 10).clamp(1, 100));
    match spend(target, &policy, n).await {
        Err(failure) => failed(failure, &policy),
        Ok(spent) => CheckOutcome::RanInPart {
            outcome: Box::new(CaseOutcome::Passed { cases: 1 }),
            unverified: in_part(
                &policy,
                format!(
                    "not verified: every count: one burst of {} requests was counted",
                    spent.admitted
                ),
                &spent,
            ),
        },
    }
}

/// Property 14 without partitions: the category spent until a request is refused; the
/// refusal must be the envelope with `Retry-After` in range, must not come later than the
/// limit of a fresh window, and the room it promises must come.
pub async fn enforcement(target: &Target) -> CheckOutcome {
    let policy = match spendable(target) {
        Ok(p) => p,
        Err(why) => return CheckOutcome::NotVerified(why),
    };
    match enforce(target, &policy).await {
        Err(failure) => failed(failure, &policy),
        Ok(Err(unverified)) => CheckOutcome::NotVerified(unverified),
        Ok(Ok(unverified)) => CheckOutcome::RanInPart {
            outcome: Box::new(CaseOutcome::Passed { cases: 1 }),
            unverified,
        },
    }
}

async fn enforce(target: &Target, policy: &Policy) -> Result<Result<String, String>, CaseFailure> {
    let max = u64::from(policy.max_requests);
    // Room may come back while the suite spends (requests of others leaving the window):
    // at most twice the budget is sent before the limit counts as never reached.
    let spent = spend(target, policy, 2 * max + 1).await?;
    let within_window = spent.started.elapsed() < Duration::from_secs(policy.window_seconds);
    if spent.last.status != 429 {
        if spent.fresh && within_window {
            return Err(CaseFailure::violates(
                &spent.last,
                &sc::REFUSED,
                format!(
                    "{} requests in `{}` admitted within one fresh window of {} s, past its limit of {max}",
                    spent.admitted, policy.category, policy.window_seconds
                ),
            ));
        }
        return Ok(Err(format!(
            "the limit of `{}` was not reached in {} requests: requests leaving the window made room as fast as the suite spent it",
            policy.category, spent.admitted
        )));
    }
    let mut refusal = spent.last.clone();
    for _ in 0..PROMISE_TRIES {
        let wait = expect_refused(&refusal, policy, "the request past the limit")?;
        let budgets = target.http().budgets();
        let refused = Refusal::Refused {
            category: Some(policy.category.clone()),
            wait: Duration::from_secs(wait),
        };
        if let Err(limited) = budgets.wait_out(&refused).await {
            return Ok(Err(format!(
                "the refusal was judged, but its Retry-After was not waited out: {}",
                limited.describe()
            )));
        }
        let again = hit(target, policy).await?;
        if again.status != 429 {
            return Ok(Ok(in_part(
                policy,
                format!(
                    "not verified: every category and the requests past the limit that claim other addresses: {} requests were admitted, the next refused, and the room its Retry-After ({wait} s) promised came",
                    spent.admitted
                ),
                &spent,
            )));
        }
        refusal = again;
    }
    Err(CaseFailure::violates(
        &refusal,
        &sc::RETRY_AFTER,
        format!(
            "in `{}`, a request sent each time its refusal's Retry-After had passed was refused {PROMISE_TRIES} times running",
            policy.category
        ),
    ))
}

/// Why Property 15 is not verified against a target without partitions.
pub fn sliding_reason(target: &Target) -> String {
    let spendable = match spendable(target) {
        Ok(policy) => format!(
            "against the real `{}` budget ({} per {} s) that would lock this address out of it for a window and a half, and another client's requests could not be told from the window's edge",
            policy.category, policy.max_requests, policy.window_seconds
        ),
        Err(why) => why,
    };
    format!(
        "Property 15 straddles window boundaries with bursts timed within a window, in partitions of their own; {spendable}"
    )
}
