//! Feature: production-readiness, Property 15: Sliding Window Correctness
//!
//! Black-box form, in every category (enumerated, side by side in partitions of their own):
//! a burst of `max_requests` is sent, then one request every 100 ms until one is admitted.
//! Time is read on the suite's side, so the bounds are conservative: the admission's answer
//! must arrive at least `window_seconds` after the burst's first request was sent (a fixed
//! window lets a request through at the next boundary, on average half a window early), and
//! a request sent a full window after the burst's last answer must be admitted. Then a
//! second shape: half the budget, a pause of half a window, the other half; once the first
//! half has left the window, exactly that half is free again. Each case spends real windows,
//! so the cases are the enumerated shapes, not generated ones.

use std::time::{Duration, Instant};

use crate::cases::{CaseConfig, CaseFailure, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::rate_limit::{Policy, RateArea, area, fresh_partition, hit, real_budget};
use crate::clause::security as sc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 15,
    run: run_check,
};

/// How often a refused client asks again.
const POLL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
enum Shape {
    Burst,
    TwoHalves,
}

async fn burst(target: &Target, area: &RateArea, policy: &Policy) -> Result<(), CaseFailure> {
    let partition = fresh_partition();
    let window = Duration::from_secs(policy.window_seconds);
    let first_sent = Instant::now();
    for i in 1..=policy.max_requests {
        let ex = hit(target, area, policy, &partition).await?;
        if ex.status == 429 {
            return Err(CaseFailure::violates(
                &ex,
                &sc::SLIDING,
                format!("request {i} of the burst refused"),
            ));
        }
    }
    let last_answered = Instant::now();
    loop {
        let ex = hit(target, area, policy, &partition).await?;
        let answered = Instant::now();
        if ex.status != 429 {
            if answered.duration_since(first_sent) < window {
                return Err(CaseFailure::violates(
                    &ex,
                    &sc::SLIDING,
                    format!(
                        "admitted {} ms after the burst began, inside its {} s window ({})",
                        answered.duration_since(first_sent).as_millis(),
                        policy.window_seconds,
                        policy.category
                    ),
                ));
            }
            return Ok(());
        }
        if answered.duration_since(last_answered) > window + Duration::from_secs(1) {
            return Err(CaseFailure::violates(
                &ex,
                &sc::SLIDING,
                format!(
                    "still refused a full window after the burst ({})",
                    policy.category
                ),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn two_halves(target: &Target, area: &RateArea, policy: &Policy) -> Result<(), CaseFailure> {
    let half = policy.max_requests / 2;
    if half == 0 {
        return Ok(());
    }
    let partition = fresh_partition();
    let window = Duration::from_secs(policy.window_seconds);
    let first_answered;
    {
        for _ in 0..half {
            hit(target, area, policy, &partition).await?;
        }
        first_answered = Instant::now();
    }
    tokio::time::sleep(window / 2).await;
    let second_sent = Instant::now();
    for _ in half..policy.max_requests {
        hit(target, area, policy, &partition).await?;
    }
    // Wait until the first half has surely left the window, the second surely not.
    let free_at = first_answered + window + Duration::from_millis(150);
    tokio::time::sleep(free_at.saturating_duration_since(Instant::now())).await;
    if Instant::now().duration_since(second_sent) >= window {
        // Too slow a target, or link, to tell the halves apart: nothing to conclude from
        // this case, and the verdict says so.
        crate::cases::unconcluded(format!(
            "the two halves in `{}`: the second half was not answered within half a window of the pause",
            policy.category
        ));
        return Ok(());
    }
    for i in 1..=half {
        let ex = hit(target, area, policy, &partition).await?;
        if ex.status == 429 {
            return Err(CaseFailure::violates(
                &ex,
                &sc::SLIDING,
                format!(
                    "request {i} refused after the first half left the window ({})",
                    policy.category
                ),
            ));
        }
    }
    let over = hit(target, area, policy, &partition).await?;
    if over.status != 429 && Instant::now().duration_since(second_sent) < window {
        return Err(CaseFailure::violates(
            &over,
            &sc::SLIDING,
            format!(
                "admitted while the second half still filled the window ({})",
                policy.category
            ),
        ));
    }
    Ok(())
}

fn run_check(target: &Target, _config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        if target.discovery().offers("rate_limits") && target.http().partition_header().is_none() {
            return CheckOutcome::NotVerified(real_budget::sliding_reason(target));
        }
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let area = &area;
        let cases: Vec<(Shape, usize)> = [Shape::Burst, Shape::TwoHalves]
            .iter()
            .flat_map(|s| (0..area.policies.len()).map(move |i| (*s, i)))
            .collect();
        let outcome = for_each(&cases, |(shape, i)| async move {
            let policy = &area.policies[*i];
            match shape {
                Shape::Burst => burst(target, area, policy).await,
                Shape::TwoHalves => two_halves(target, area, policy).await,
            }
        })
        .await;
        CheckOutcome::Ran(outcome)
    })
}
