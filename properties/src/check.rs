//! A conformance check: the property it verifies (statement and requirement ids come from
//! `spec/properties.toml`) plus one async function that runs it against a target.

use std::future::Future;
use std::pin::Pin;

use crate::cases::{CaseConfig, CaseFailure, CaseOutcome};
use crate::spec::PropertySpec;
use crate::target::Target;
use crate::verdict::{Failure, Verdict};

/// What a check's run function returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckOutcome {
    /// The cases ran (and passed or failed).
    Ran(CaseOutcome),
    /// The cases ran, but a part of the check could not conclude against this target (a
    /// case whose premise the target's own timing undid): if every case that concluded
    /// passed, the verdict is a pass that names the part left unverified, never a plain one.
    RanInPart {
        /// The cases that concluded (boxed: the variant stays small).
        outcome: Box<CaseOutcome>,
        /// What was not verified, and why.
        unverified: String,
    },
    /// The check cannot run against this target, and why.
    NotVerified(String),
    /// A set-up step failed before any case (counts as a failure).
    SetupFailed(CaseFailure),
}

/// A check's verdict, the cases it ran, and what of it could not conclude.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judged {
    /// The verdict.
    pub verdict: Verdict,
    /// Cases run.
    pub cases: u32,
    /// For a pass: the part of the check that could not conclude, and why.
    pub unverified: Option<String>,
}

impl Judged {
    /// A verdict with nothing left unverified.
    pub fn whole(verdict: Verdict, cases: u32) -> Self {
        Self {
            verdict,
            cases,
            unverified: None,
        }
    }
}

impl CheckOutcome {
    /// The verdict, the number of cases run and what was left unverified.
    pub fn into_verdict(self) -> Judged {
        let (outcome, unverified) = match self {
            Self::Ran(outcome) => (outcome, None),
            Self::RanInPart {
                outcome,
                unverified,
            } => (*outcome, Some(unverified)),
            Self::NotVerified(reason) => return Judged::whole(Verdict::NotVerified(reason), 0),
            Self::SetupFailed(failure) if failure.not_verified_reason().is_some() => {
                return Judged::whole(Verdict::NotVerified(rate_limited_reason(&failure)), 0);
            }
            Self::SetupFailed(failure) => {
                return Judged::whole(
                    Verdict::Fail(Failure {
                        expected: failure.expected,
                        actual: failure.actual,
                        counterexample: None,
                        replay: failure.replay,
                    }),
                    0,
                );
            }
        };
        match outcome {
            CaseOutcome::Passed { cases } => Judged {
                verdict: Verdict::Pass,
                cases,
                unverified,
            },
            // A case the target's budget kept from being sent broke nothing: the cases before
            // it passed, and the rest could not be sent within --max-wait (spec/conformance.md,
            // "Rate limits of the target"). With none before it, nothing was verified.
            CaseOutcome::Failed { cases, failure, .. }
                if failure.not_verified_reason().is_some() =>
            {
                let concluded = cases.saturating_sub(1);
                if concluded == 0 {
                    Judged::whole(Verdict::NotVerified(rate_limited_reason(&failure)), 0)
                } else {
                    Judged {
                        verdict: Verdict::Pass,
                        cases: concluded,
                        unverified: Some(format!(
                            "{concluded} cases held; the rest were not sent: {}",
                            rate_limited_reason(&failure)
                        )),
                    }
                }
            }
            // A failure stands on its own evidence.
            CaseOutcome::Failed {
                cases,
                failure,
                counterexample,
            } => Judged::whole(
                Verdict::Fail(Failure {
                    expected: failure.expected,
                    actual: failure.actual,
                    counterexample: Some(counterexample).filter(|c| !c.is_empty()),
                    replay: failure.replay,
                }),
                cases,
            ),
        }
    }
}

/// The reason a check the target's rate limit stopped gives.
fn rate_limited_reason(failure: &CaseFailure) -> String {
    failure.not_verified_reason().unwrap_or_default()
}

/// The future a check's run function returns.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = CheckOutcome> + 'a>>;

/// A black-box property check.
#[derive(Debug, Clone, Copy)]
pub struct PropertyCheck {
    /// The property number in `spec/properties.toml`.
    pub property: u8,
    /// Runs the check.
    pub run: for<'a> fn(&'a Target, CaseConfig) -> CheckFuture<'a>,
}

/// The reason every check gives against a target outside the conformance profile.
pub const NOT_CONFORMANCE: &str = "target is not in the conformance profile";

/// The selection tags of a property: `pNN`, its area, and `conformance` when it needs it.
pub fn tags_of(spec: &PropertySpec) -> Vec<String> {
    let mut tags = vec![format!("p{:02}", spec.number), spec.area.clone()];
    if spec.needs_conformance_profile {
        tags.push("conformance".into());
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_verdicts() {
        assert_eq!(
            CheckOutcome::Ran(CaseOutcome::Passed { cases: 3 }).into_verdict(),
            Judged::whole(Verdict::Pass, 3)
        );
        assert_eq!(
            CheckOutcome::NotVerified("x".into()).into_verdict(),
            Judged::whole(Verdict::NotVerified("x".into()), 0)
        );
        let judged = CheckOutcome::SetupFailed(CaseFailure::plain("a", "b")).into_verdict();
        assert!(judged.verdict.is_fail());
    }

    /// A case the target's budget kept from being sent leaves the check not verified,
    /// naming the category, never failed.
    #[test]
    fn a_rate_limited_case_is_not_verified() {
        let limited = crate::budget::RateLimited {
            category: Some("api".into()),
            needed: std::time::Duration::from_secs(50),
            allowed: std::time::Duration::from_secs(10),
        };
        let failure = CaseFailure {
            not_verified: Some(Box::new(crate::cases::Unverified::RateLimited(limited))),
            ..CaseFailure::plain("415", "no response")
        };
        let judged = CheckOutcome::Ran(CaseOutcome::Failed {
            cases: 1,
            failure: failure.clone(),
            counterexample: String::new(),
        })
        .into_verdict();
        // Cases that held before it make a pass in part, which names the rest.
        let part = CheckOutcome::Ran(CaseOutcome::Failed {
            cases: 7,
            failure: failure.clone(),
            counterexample: String::new(),
        })
        .into_verdict();
        assert_eq!((part.verdict, part.cases), (Verdict::Pass, 6));
        assert!(
            part.unverified.as_deref().is_some_and(|p| p.starts_with(
                "6 cases held; the rest were not sent: rate limited: the target's `api` budget"
            )),
            "{:?}",
            part.unverified
        );
        let Verdict::NotVerified(reason) = &judged.verdict else {
            panic!("{judged:?}");
        };
        assert!(
            reason.starts_with("rate limited: the target's `api` budget"),
            "{reason}"
        );
        assert!(matches!(
            CheckOutcome::SetupFailed(failure).into_verdict().verdict,
            Verdict::NotVerified(_)
        ));
    }

    /// A part that could not conclude is named beside a pass, and never beside a failure
    /// (which stands on its own evidence).
    #[test]
    fn a_part_left_unverified_is_named_beside_a_pass_only() {
        let passed = CheckOutcome::RanInPart {
            outcome: Box::new(CaseOutcome::Passed { cases: 4 }),
            unverified: "the slow case".into(),
        };
        assert_eq!(
            passed.into_verdict(),
            Judged {
                verdict: Verdict::Pass,
                cases: 4,
                unverified: Some("the slow case".into()),
            }
        );
        let failed = CheckOutcome::RanInPart {
            outcome: Box::new(CaseOutcome::Failed {
                cases: 2,
                failure: CaseFailure::plain("a", "b"),
                counterexample: String::new(),
            }),
            unverified: "the slow case".into(),
        }
        .into_verdict();
        assert!(failed.verdict.is_fail());
        assert_eq!(failed.unverified, None);
    }
}
