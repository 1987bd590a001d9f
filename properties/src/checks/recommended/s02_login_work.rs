//! `s02`, SHOULD-level: a failed login takes the same hashing work whether or not the email
//! has an account (spec/auth.md, "Passwords"), so its time does not tell an attacker which
//! emails have accounts. Nine failed logins of each kind are sent interleaved (a registered
//! email with a wrong password; an email with no account), after one of each to warm up;
//! the check fails when the median time of the second kind is under half that of the first.
//! A server that skips hashing for unknown emails answers them many times faster; noise on
//! a loaded machine moves both medians alike.

use std::time::{Duration, Instant};

use crate::cases::{CaseConfig, CaseFailure, CaseOutcome};
use crate::check::{CheckFuture, CheckOutcome};
use crate::checks::auth::{AuthApi, area, fresh_email};
use crate::checks::unique_scope;
use crate::clause::{auth as ac, should};
use crate::http::Exchange;
use crate::target::Target;

/// Failed logins of each kind measured.
pub const SAMPLES: usize = 9;

/// The check.
pub fn run(target: &Target, _config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = AuthApi::new(target, &area);
        match measure(api).await {
            Ok(outcome) => CheckOutcome::Ran(outcome),
            Err(failure) => CheckOutcome::SetupFailed(failure),
        }
    })
}

/// One failed login and how long its answer took.
async fn timed_failure(
    api: AuthApi<'_>,
    email: &str,
    password: &str,
) -> Result<(Duration, Exchange), CaseFailure> {
    let started = Instant::now();
    let ex = api.login(email, password).await?;
    let took = started.elapsed();
    api.expect(&ex, "INVALID_CREDENTIALS", &ac::SAME_FAILURE)?;
    Ok((took, ex))
}

/// The median of `times` (not empty).
pub fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

/// Whether an unknown email's median answer time gives it away: under half the time a wrong
/// password takes.
pub fn tells_apart(unknown: Duration, wrong_password: Duration) -> bool {
    unknown.saturating_mul(2) < wrong_password
}

async fn measure(api: AuthApi<'_>) -> Result<CaseOutcome, CaseFailure> {
    let password = format!("pw-{}", unique_scope("s02"));
    let (email, _) = api.account("s02", &password).await?;
    let nobody = fresh_email("s02-nobody");
    let wrong = "not-the-password";
    timed_failure(api, &nobody, wrong).await?;
    timed_failure(api, &email, wrong).await?;
    let mut unknown = Vec::with_capacity(SAMPLES);
    let mut known = Vec::with_capacity(SAMPLES);
    let mut last = None;
    for i in 0..SAMPLES {
        // Alternate which kind goes first, so a drift in the machine's load favours neither.
        let order = if i % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        for no_account in order {
            if no_account {
                let (took, ex) = timed_failure(api, &nobody, wrong).await?;
                unknown.push(took);
                last = Some(ex);
            } else {
                known.push(timed_failure(api, &email, wrong).await?.0);
            }
        }
    }
    let cases = u32::try_from(SAMPLES * 2).unwrap_or(u32::MAX);
    let (unknown_median, known_median) = (median(&mut unknown), median(&mut known));
    match last {
        Some(ex) if tells_apart(unknown_median, known_median) => Ok(CaseOutcome::Failed {
            cases,
            failure: CaseFailure::violates(
                &ex,
                &should::SAME_WORK,
                format!(
                    "a failed login for an email with no account took {:.1} ms (median of {SAMPLES}), one with a wrong password {:.1} ms: the time tells them apart",
                    unknown_median.as_secs_f64() * 1000.0,
                    known_median.as_secs_f64() * 1000.0
                ),
            ),
            counterexample: format!("login as {nobody} (no account) against {email}"),
        }),
        _ => Ok(CaseOutcome::Passed { cases }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_the_threshold() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(5), ms(1), ms(3)]), ms(3));
        assert_eq!(median(&mut [ms(9)]), ms(9));
        assert!(tells_apart(ms(4), ms(9)));
        assert!(!tells_apart(ms(5), ms(10)));
        assert!(!tells_apart(ms(40), ms(30)));
    }
}
