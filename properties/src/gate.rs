//! `--require`: what a run must have verified for its exit code to say something
//! (spec/conformance.md, "Gating CI"). A run in which every check was *not verified* exits 0
//! like one in which every check passed; a CI job that gates on the suite names what it needs
//! verified, and a run that did not verify it fails.

use crate::expected::Notice;
use crate::verdict::{CheckResult, Verdict};

/// One `--require` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `all`: every selected check was verified (passed, in part or whole, or failed).
    All,
    /// `N`: at least N of the 26 properties were verified.
    Properties(usize),
    /// An id: that check was verified.
    Check(String),
}

impl Requirement {
    /// Parses the comma-separated terms of `--require`; `known` tells a check id apart
    /// from a typo.
    pub fn parse(terms: &[String], known: impl Fn(&str) -> bool) -> Result<Vec<Self>, String> {
        terms
            .iter()
            .map(|t| t.trim().trim_start_matches('@'))
            .filter(|t| !t.is_empty())
            .map(|term| {
                if term.eq_ignore_ascii_case("all") {
                    Ok(Self::All)
                } else if let Ok(n) = term.parse::<usize>() {
                    if (1..=26).contains(&n) {
                        Ok(Self::Properties(n))
                    } else {
                        Err(format!(
                            "--require {term}: a count of properties is 1 to 26"
                        ))
                    }
                } else if known(term) {
                    Ok(Self::Check(term.to_ascii_lowercase()))
                } else {
                    Err(format!(
                        "--require {term}: no such check (`dx-conformance list` shows every id)"
                    ))
                }
            })
            .collect()
    }

    /// A notice failing the run when `results` fall short of this requirement.
    pub fn judge(&self, results: &[CheckResult]) -> Option<Notice> {
        let verified = |r: &CheckResult| !matches!(r.verdict, Verdict::NotVerified(_));
        let (requirement, short) = match self {
            Self::All => {
                let missing: Vec<&str> = results
                    .iter()
                    .filter(|r| !verified(r))
                    .map(|r| r.id.as_str())
                    .collect();
                if missing.is_empty() {
                    return None;
                }
                (
                    "all".to_owned(),
                    format!("{} not verified: {}", missing.len(), shorten(&missing)),
                )
            }
            Self::Properties(n) => {
                let count = results
                    .iter()
                    .filter(|r| r.property.is_some() && verified(r))
                    .count();
                if count >= *n {
                    return None;
                }
                (
                    n.to_string(),
                    format!("{count} of the 26 properties were verified, {n} required"),
                )
            }
            Self::Check(id) => match results.iter().find(|r| r.id.eq_ignore_ascii_case(id)) {
                Some(r) if verified(r) => return None,
                Some(r) => (
                    id.clone(),
                    format!("{id} was not verified ({})", reason(&r.verdict)),
                ),
                None => (id.clone(), format!("{id} was not selected in this run")),
            },
        };
        Some(Notice::Unmet { requirement, short })
    }
}

fn reason(verdict: &Verdict) -> &str {
    match verdict {
        Verdict::NotVerified(why) => why,
        _ => "",
    }
}

fn shorten(ids: &[&str]) -> String {
    const SHOWN: usize = 12;
    let mut text = ids
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > SHOWN {
        text.push_str(&format!(" and {} more", ids.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use std::time::Duration;

    fn result(id: &str, property: Option<u8>, verified: bool) -> CheckResult {
        CheckResult {
            id: id.into(),
            property,
            title: String::new(),
            statement: None,
            requirements: Vec::new(),
            tags: Vec::new(),
            verdict: if verified {
                Verdict::Pass
            } else {
                Verdict::NotVerified("target is not in the conformance profile".into())
            },
            unverified: None,
            cases: 0,
            duration: Duration::ZERO,
            position: None,
            expected: None,
        }
    }

    fn run() -> Vec<CheckResult> {
        vec![
            result("p01", Some(1), false),
            result("p08", Some(8), true),
            result("p12", Some(12), true),
            result("errors:envelope/unknown-path", None, true),
        ]
    }

    fn terms(list: &str) -> Vec<String> {
        list.split(',').map(str::to_owned).collect()
    }

    #[rstest]
    #[case::all_not_met("all", Some("--require all is not met: 1 not verified: p01"))]
    #[case::count_met("2", None)]
    #[case::count_not_met(
        "3",
        Some("--require 3 is not met: 2 of the 26 properties were verified, 3 required")
    )]
    #[case::verified_id("p08", None)]
    #[case::unverified_id(
        "p01",
        Some(
            "--require p01 is not met: p01 was not verified (target is not in the conformance profile)"
        )
    )]
    #[case::scenario_id("errors:envelope/unknown-path", None)]
    #[case::unselected_id(
        "p26",
        Some("--require p26 is not met: p26 was not selected in this run")
    )]
    fn requirements_are_judged(#[case] term: &str, #[case] notice: Option<&str>) {
        let parsed = Requirement::parse(&terms(term), |_| true).unwrap();
        let got = parsed[0].judge(&run()).map(|n| n.message());
        assert_eq!(got.as_deref(), notice);
        if let Some(n) = parsed[0].judge(&run()) {
            assert!(n.fails_run());
        }
    }

    #[rstest]
    #[case::typo("nosuch", "no such check")]
    #[case::count_too_high("27", "1 to 26")]
    #[case::zero("0", "1 to 26")]
    fn bad_terms_are_usage_errors(#[case] term: &str, #[case] says: &str) {
        let err = Requirement::parse(&terms(term), |id| id == "p01").unwrap_err();
        assert!(err.contains(says), "{err}");
    }
}
