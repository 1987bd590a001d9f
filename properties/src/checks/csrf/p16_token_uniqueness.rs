//! Feature: production-readiness, Property 16: CSRF Token Uniqueness
//!
//! Black-box form, against any target that offers CSRF. proptest decides how many sessions a
//! case opens at once (1 to 4, side by side); across the whole check every session's cookie
//! and every token must be new, and no token may be too short to carry 128 random bits (at
//! most 6.6 bits per visible ASCII character: at least 20 characters).

use std::collections::HashSet;
use std::sync::Mutex;

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::csrf::{CsrfApi, area};
use crate::clause::security as sc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 16,
    run: run_check,
};

/// The fewest characters that can carry 128 bits of visible ASCII.
const MIN_TOKEN_CHARS: usize = 20;

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = CsrfApi::new(target, &area);
        let seen = &Mutex::new((HashSet::new(), HashSet::new()));
        let outcome = for_all_concurrently(1usize..=4, config, CASES_AT_ONCE, |n| async move {
            let sessions =
                futures_util::future::try_join_all((0..n).map(|_| api.session())).await?;
            let Ok(mut seen) = seen.lock() else {
                return Err(CaseFailure::plain("an unpoisoned lock", "poisoned"));
            };
            for s in sessions {
                if s.token.len() < MIN_TOKEN_CHARS {
                    return Err(CaseFailure::plain(
                        sc::RANDOM_BITS.cite(),
                        format!("a token of {} characters: {:?}", s.token.len(), s.token),
                    ));
                }
                if !seen.0.insert(s.cookie.clone()) {
                    return Err(CaseFailure::plain(
                        sc::DISTINCT.cite(),
                        format!("session {} issued twice", s.cookie),
                    ));
                }
                if !seen.1.insert(s.token.clone()) {
                    return Err(CaseFailure::plain(
                        sc::DISTINCT.cite(),
                        format!("token {} issued to two sessions", s.token),
                    ));
                }
            }
            Ok(())
        })
        .await;
        CheckOutcome::Ran(outcome)
    })
}
