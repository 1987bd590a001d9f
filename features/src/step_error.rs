//! Why a step did not hold: a failure with the evidence a report needs (expected, actual, the
//! replay line), or a reason the scenario cannot be checked against this target.

use dx_conformance::CaseFailure;
use dx_conformance::check::CheckOutcome;
use dx_conformance::http::TransportError;

/// What a step returns when it does not hold. The runner reads it back from the world to
/// fill the scenario's verdict, so a failure keeps its structure instead of becoming text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepError {
    /// The target broke the expectation.
    #[error("expected: {expected}\nactual: {actual}{}", replay_line(.replay))]
    Failed {
        /// What the step requires.
        expected: String,
        /// What the target did.
        actual: String,
        /// A command replaying the exchange that shows it.
        replay: Option<String>,
    },
    /// The scenario cannot run against this target (e.g. not in the conformance profile).
    #[error("not verified: {0}")]
    NotVerified(String),
}

fn replay_line(replay: &Option<String>) -> String {
    replay
        .as_ref()
        .map(|r| format!("\nreplay: {r}"))
        .unwrap_or_default()
}

impl StepError {
    /// A failure shown by `exchange`: its response is the actual, its request the replay.
    pub fn at(exchange: &dx_conformance::http::Exchange, expected: impl Into<String>) -> Self {
        Self::Failed {
            expected: expected.into(),
            actual: exchange.describe_response(),
            replay: Some(exchange.replay()),
        }
    }

    /// The same failure stating `expected` instead: for a helper's failure that a step can
    /// say more precisely. "Not verified" stays as it is.
    pub fn with_expected(self, expected: impl Into<String>) -> Self {
        match self {
            Self::Failed { actual, replay, .. } => Self::Failed {
                expected: expected.into(),
                actual,
                replay,
            },
            other => other,
        }
    }

    /// Why an area's set-up (`checks::<area>::area`) stopped a scenario: the reason the area
    /// cannot be verified, or the set-up's failure. `area` names what was looked for.
    pub fn from_area(outcome: CheckOutcome, area: &str) -> Self {
        match outcome {
            CheckOutcome::NotVerified(reason) => Self::NotVerified(reason),
            CheckOutcome::SetupFailed(failure) => Self::from(failure),
            CheckOutcome::Ran(_) | CheckOutcome::RanInPart { .. } => Self::plain(area, "none"),
        }
    }

    /// A failure without an exchange to show.
    pub fn plain(expected: impl Into<String>, actual: impl Into<String>) -> Self {
        Self::Failed {
            expected: expected.into(),
            actual: actual.into(),
            replay: None,
        }
    }
}

/// A case that could not be sent within `--max-wait` of the target's rate-limit budgets
/// leaves its scenario not verified: the target kept its limit, it broke nothing.
impl From<CaseFailure> for StepError {
    fn from(f: CaseFailure) -> Self {
        if let Some(reason) = f.not_verified_reason() {
            return Self::NotVerified(reason);
        }
        Self::Failed {
            expected: f.expected,
            actual: f.actual,
            replay: f.replay,
        }
    }
}

/// A target that stops answering has failed (spec/conformance.md), so a transport error is a
/// failure, never "not verified".
impl From<TransportError> for StepError {
    fn from(e: TransportError) -> Self {
        CaseFailure::from(e).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limited_case_leaves_its_scenario_not_verified() {
        let limited = dx_conformance::budget::RateLimited {
            category: Some("auth".into()),
            needed: std::time::Duration::from_secs(40),
            allowed: std::time::Duration::from_secs(5),
        };
        let e = StepError::from(CaseFailure {
            expected: "415".into(),
            actual: "no response".into(),
            replay: None,
            not_verified: Some(Box::new(dx_conformance::cases::Unverified::RateLimited(
                limited.clone(),
            ))),
        });
        assert_eq!(e, StepError::NotVerified(limited.describe()));
    }

    #[test]
    fn failures_display_their_evidence() {
        let e = StepError::from(CaseFailure {
            expected: "404".into(),
            actual: "200".into(),
            replay: Some("curl x".into()),
            not_verified: None,
        });
        assert_eq!(e.to_string(), "expected: 404\nactual: 200\nreplay: curl x");
        assert_eq!(
            StepError::plain("a", "b").to_string(),
            "expected: a\nactual: b"
        );
        assert_eq!(
            StepError::NotVerified("why".into()).to_string(),
            "not verified: why"
        );
    }
}
