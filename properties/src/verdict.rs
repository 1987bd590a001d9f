//! Verdicts: every check ends as pass, fail (with the evidence) or not verified (with why).

use std::time::Duration;

use serde::Serialize;

/// The evidence of a failure, phrased so a reader needs no source code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// What the property requires here.
    pub expected: String,
    /// What the target did.
    pub actual: String,
    /// The generated input, shrunk to its smallest failing form.
    pub counterexample: Option<String>,
    /// A command that replays the failing exchange.
    pub replay: Option<String>,
}

/// A check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every case held.
    Pass,
    /// A case broke the property.
    Fail(Failure),
    /// The check could not run against this target; never counts as a pass.
    NotVerified(String),
}

impl Verdict {
    /// `pass`, `fail` or `not_verified`.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail(_) => "fail",
            Self::NotVerified(_) => "not_verified",
        }
    }

    /// Whether this is a failure.
    pub fn is_fail(&self) -> bool {
        matches!(self, Self::Fail(_))
    }
}

/// The result of one check (a property or a scenario) against one target.
#[derive(Debug, Clone)]
pub struct CheckResult {
    /// `pNN` for a property, `<feature>:<line>` for a scenario.
    pub id: String,
    /// The property number, for property checks.
    pub property: Option<u8>,
    /// The title.
    pub title: String,
    /// The normative statement, when there is one.
    pub statement: Option<String>,
    /// Requirement ids.
    pub requirements: Vec<String>,
    /// Selection tags.
    pub tags: Vec<String>,
    /// The verdict.
    pub verdict: Verdict,
    /// For a pass: the part of the check that could not conclude against this target, and
    /// why (`CheckOutcome::RanInPart`). Reports show it beside the pass.
    pub unverified: Option<String>,
    /// Cases (or steps) run.
    pub cases: u32,
    /// How long it took.
    pub duration: Duration,
    /// For a failed property check: where the failing case stands in the check, so a
    /// replay runs only that case.
    pub position: Option<crate::cases::CasePosition>,
    /// For a failure listed in the expected-failures file: its entry. Such a failure is
    /// reported but does not fail the run.
    pub expected: Option<crate::expected::Known>,
}

impl CheckResult {
    /// Whether this result fails the run: a failure nobody listed as expected.
    pub fn fails_run(&self) -> bool {
        self.verdict.is_fail() && self.expected.is_none()
    }
}

/// Counts per verdict.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passed.
    pub pass: usize,
    /// Failed (expected failures not counted).
    pub fail: usize,
    /// Failed as the expected-failures file says they do.
    pub expected_fail: usize,
    /// Not verified.
    pub not_verified: usize,
}

impl Summary {
    /// Counts `results`.
    pub fn of(results: &[CheckResult]) -> Self {
        let mut s = Self::default();
        for r in results {
            match (&r.verdict, &r.expected) {
                (Verdict::Pass, _) => s.pass += 1,
                (Verdict::Fail(_), None) => s.fail += 1,
                (Verdict::Fail(_), Some(_)) => s.expected_fail += 1,
                (Verdict::NotVerified(_), _) => s.not_verified += 1,
            }
        }
        s
    }
}
