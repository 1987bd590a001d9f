//! Feature: production-readiness, Property 14: Rate Limit Enforcement
//!
//! Black-box form. In each category (enumerated), a fresh partition spends `max_requests`,
//! then the next request must be 429 `RATE_LIMITED` in the envelope with `Retry-After` from
//! 1 to `window_seconds`, and the same request sent that many seconds later must be admitted
//! (spec/security.md: Retry-After is honoured). proptest then generates how many requests
//! past the limit are sent, at once (1 to 5), and whether they claim other client addresses through
//! `X-Forwarded-For` and `Forwarded`: each one is refused the same way, since a target that
//! publishes `rate_limits.trusted_proxies` = 0 counts no forwarding header. A burst that
//! outlasts its window (through a slow link) may rightly be admitted past the limit: it is
//! sent again, and a case whose every try outlasted it is left unconcluded ([`Burst`]).

use std::net::IpAddr;
use std::time::Duration;

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::rate_limit::{
    BURST_TRIES, Burst, Policy, RateArea, area, expect_admitted, expect_refused, hit, real_budget,
};
use crate::clause::security as sc;
use crate::http::Exchange;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 14,
    run: run_check,
};

/// Spends a fresh partition's whole budget, then sends one request past it for each of
/// `past` (`Some`: claiming that address), those at once, all from one task ([`Burst::send`]): the burst
/// and the answers past the limit with when each arrived, or `None` when the burst outlasted
/// its window and a count came out low, which then shows nothing ([`Burst`]).
async fn spend(
    target: &Target,
    area: &RateArea,
    policy: &Policy,
    past: &[Option<IpAddr>],
) -> Result<Option<(Burst, Vec<(Exchange, Duration)>)>, CaseFailure> {
    let burst = Burst::start();
    let within = policy.max_requests as usize;
    // The requests past the limit go at once once the budget is spent: each must be
    // refused, and one after another they made a burst outlast its window.
    let mut answers = burst
        .send(target, area, policy, &vec![None; within], past)
        .await?;
    let after = answers.split_off(within.min(answers.len()));
    for (i, (ex, at)) in (1..=policy.max_requests).zip(answers) {
        let owed = u64::from(policy.max_requests - i);
        if let Err(failure) = expect_admitted(
            &ex,
            policy,
            owed,
            &format!("request {i} in {}", policy.category),
        ) {
            if burst.slid_by(&ex, policy, Some(owed), at) {
                return Ok(None);
            }
            return Err(failure);
        }
    }
    Ok(Some((burst, after)))
}

async fn honoured(target: &Target, area: &RateArea, policy: &Policy) -> Result<(), CaseFailure> {
    for _ in 0..BURST_TRIES {
        let Some((burst, after)) = spend(target, area, policy, &[None]).await? else {
            continue;
        };
        let Some((ex, at)) = after.first() else {
            continue;
        };
        if burst.slid_by(ex, policy, None, *at) {
            continue;
        }
        let wait = expect_refused(ex, policy, "the request after the limit")?;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let again = hit(target, area, policy, &burst.partition).await?;
        if again.status == 429 {
            return Err(CaseFailure::violates(
                &again,
                &sc::RETRY_AFTER,
                format!(
                    "sent Retry-After ({wait} s) after the 429 in {}, still refused",
                    policy.category
                ),
            ));
        }
        return Ok(());
    }
    crate::cases::unconcluded(Burst::unconcluded(policy, "the refusal after the limit"));
    Ok(())
}

async fn past_limit(
    target: &Target,
    area: &RateArea,
    policy: &Policy,
    extra: u32,
    forged: Option<Vec<IpAddr>>,
) -> Result<(), CaseFailure> {
    // Where the target trusts no proxy, a client claiming other addresses through the
    // forwarding headers is still the same client (spec/security.md).
    let claims: Vec<Option<IpAddr>> = (1..=extra)
        .map(|k| {
            forged
                .as_ref()
                .filter(|_| area.trusts_no_proxy)
                .and_then(|ips| ips.get(k as usize % ips.len().max(1)).copied())
        })
        .collect();
    'tries: for _ in 0..BURST_TRIES {
        let Some((burst, after)) = spend(target, area, policy, &claims).await? else {
            continue;
        };
        for ((k, claimed), (ex, at)) in (1..=extra).zip(&claims).zip(after) {
            if burst.slid_by(&ex, policy, None, at) {
                continue 'tries;
            }
            let what = match claimed {
                Some(ip) => format!(
                    "request {k} past the limit in {}, claiming to come from {ip} ({})",
                    policy.category,
                    sc::FORWARDED.cite()
                ),
                None => format!("request {k} past the limit in {}", policy.category),
            };
            expect_refused(&ex, policy, &what)?;
        }
        return Ok(());
    }
    crate::cases::unconcluded(Burst::unconcluded(policy, "the refusals past the limit"));
    Ok(())
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        // Without partitions (a production deployment), the target's real budgets.
        if target.discovery().offers("rate_limits") && target.http().partition_header().is_none() {
            return real_budget::enforcement(target).await;
        }
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let area = &area;
        let enumerated = for_each(&area.policies, |p| honoured(target, area, p)).await;
        if enumerated.is_failed() {
            return CheckOutcome::Ran(enumerated);
        }
        let forged = proptest::option::of(proptest::collection::vec(
            proptest::prelude::any::<IpAddr>(),
            1..=3,
        ));
        // Each case spends a partition of its own: several run at once.
        let generated = for_all_concurrently(
            (0..area.policies.len(), 1u32..=5, forged),
            config,
            CASES_AT_ONCE,
            |(i, extra, forged)| async move {
                past_limit(target, area, &area.policies[i], extra, forged).await
            },
        )
        .await;
        CheckOutcome::Ran(enumerated.followed_by(generated))
    })
}
