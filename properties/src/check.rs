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
    /// The check cannot run against this target, and why.
    NotVerified(String),
    /// A set-up step failed before any case (counts as a failure).
    SetupFailed(CaseFailure),
}

impl CheckOutcome {
    /// The verdict and the number of cases run.
    pub fn into_verdict(self) -> (Verdict, u32) {
        match self {
            Self::Ran(CaseOutcome::Passed { cases }) => (Verdict::Pass, cases),
            Self::Ran(CaseOutcome::Failed {
                cases,
                failure,
                counterexample,
            }) => (
                Verdict::Fail(Failure {
                    expected: failure.expected,
                    actual: failure.actual,
                    counterexample: Some(counterexample).filter(|c| !c.is_empty()),
                    replay: failure.replay,
                }),
                cases,
            ),
            Self::NotVerified(reason) => (Verdict::NotVerified(reason), 0),
            Self::SetupFailed(failure) => (
                Verdict::Fail(Failure {
                    expected: failure.expected,
                    actual: failure.actual,
                    counterexample: None,
                    replay: failure.replay,
                }),
                0,
            ),
        }
    }
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
            (Verdict::Pass, 3)
        );
        let (v, n) = CheckOutcome::NotVerified("x".into()).into_verdict();
        assert_eq!((v, n), (Verdict::NotVerified("x".into()), 0));
        let (v, _) = CheckOutcome::SetupFailed(CaseFailure::plain("a", "b")).into_verdict();
        assert!(v.is_fail());
    }
}
