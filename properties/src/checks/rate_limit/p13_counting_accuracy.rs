//! Feature: production-readiness, Property 13: Rate Limit Counting Accuracy
//!
//! Black-box form. In a fresh partition, N requests (N from 1 to `max_requests`, generated)
//! are sent in one category well inside one window; the n-th answer's `RateLimit` field must
//! say `r = max_requests − n` under the published `RateLimit-Policy`: the count is exactly n.
//! Every category is covered once first (N = `max_requests`). A burst that outlasts the
//! window (through a slow link) may rightly count fewer: it is sent again, and a case whose
//! every try outlasted it is left unconcluded, a pass in part ([`Burst`]).

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::rate_limit::{
    BURST_TRIES, Burst, Policy, RateArea, area, expect_admitted, real_budget,
};
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 13,
    run: run_check,
};

async fn count(
    target: &Target,
    area: &RateArea,
    policy: &Policy,
    n: u32,
) -> Result<(), CaseFailure> {
    for _ in 0..BURST_TRIES {
        if count_once(target, area, policy, n).await? {
            return Ok(());
        }
    }
    crate::cases::unconcluded(Burst::unconcluded(policy, "the count of a burst"));
    Ok(())
}

/// One burst of `n`: `false` when it outlasted the window and a count came out low, which
/// then shows nothing ([`Burst`]).
async fn count_once(
    target: &Target,
    area: &RateArea,
    policy: &Policy,
    n: u32,
) -> Result<bool, CaseFailure> {
    let burst = Burst::start();
    let plain = vec![None; n as usize];
    let answers = burst.send(target, area, policy, &plain, &[]).await?;
    for (i, (ex, after)) in (1..=n).zip(answers) {
        let owed = u64::from(policy.max_requests - i);
        if let Err(failure) = expect_admitted(
            &ex,
            policy,
            owed,
            &format!("request {i} of {n} in {}", policy.category),
        ) {
            if burst.slid_by(&ex, policy, Some(owed), after) {
                return Ok(false);
            }
            return Err(failure);
        }
    }
    Ok(true)
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        // Without partitions (a production deployment), the target's real budgets.
        if target.discovery().offers("rate_limits") && target.http().partition_header().is_none() {
            return real_budget::counting(target).await;
        }
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let area = &area;
        let whole = for_each(&area.policies, |p| count(target, area, p, p.max_requests)).await;
        if whole.is_failed() {
            return CheckOutcome::Ran(whole);
        }
        // Each case counts in a partition of its own: several run at once.
        let generated = for_all_concurrently(
            (0..area.policies.len(), 1u32..=u32::MAX),
            config,
            CASES_AT_ONCE,
            |(i, n)| async move {
                let policy = &area.policies[i];
                count(target, area, policy, 1 + n % policy.max_requests).await
            },
        )
        .await;
        CheckOutcome::Ran(whole.followed_by(generated))
    })
}
