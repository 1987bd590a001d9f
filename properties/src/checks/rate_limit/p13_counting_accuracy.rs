//! Feature: production-readiness, Property 13: Rate Limit Counting Accuracy
//!
//! Black-box form. In a fresh partition, N requests (N from 1 to `max_requests`, generated)
//! are sent in one category well inside one window; the n-th answer's `RateLimit` field must
//! say `r = max_requests − n` under the published `RateLimit-Policy`: the count is exactly n.
//! Every category is covered once first (N = `max_requests`).

use crate::cases::{CaseConfig, CaseFailure, for_all, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::rate_limit::{Policy, RateArea, area, expect_admitted, fresh_partition, hit};
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
    let partition = fresh_partition();
    for i in 1..=n {
        let ex = hit(target, area, policy, &partition).await?;
        expect_admitted(
            &ex,
            policy,
            u64::from(policy.max_requests - i),
            &format!("request {i} of {n} in {}", policy.category),
        )?;
    }
    Ok(())
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let area = &area;
        let whole = for_each(&area.policies, |p| count(target, area, p, p.max_requests)).await;
        if whole.is_failed() {
            return CheckOutcome::Ran(whole);
        }
        let generated = for_all(
            (0..area.policies.len(), 1u32..=u32::MAX),
            config,
            |(i, n)| async move {
                let policy = &area.policies[i];
                count(target, area, policy, 1 + n % policy.max_requests).await
            },
        )
        .await;
        CheckOutcome::Ran(whole.followed_by(generated))
    })
}
