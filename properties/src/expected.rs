//! The expected-failures file (spec/conformance.md, "Expected failures"): the checks a team
//! knows fail against its deployment, each with a reason and an expiry date. A listed failure
//! is reported but does not fail the run; an entry past its date, or whose check now passes,
//! is reported and fails the run, so the list cannot rot.
//!
//! ```toml
//! [[failure]]
//! id = "p12"
//! reason = "HSTS is added by the CDN in front of staging, not by the app (OPS-142)"
//! expires = "2027-03-01"
//! ```

use std::collections::HashSet;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::verdict::{CheckResult, Verdict};

/// Why the file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedError {
    /// It cannot be read.
    #[error("cannot read the expected-failures file {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// It is not of the documented form.
    #[error("the expected-failures file {path} is invalid: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong, and where.
        reason: String,
    },
}

/// One entry: a check known to fail, why, and until when.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The check's id (`pNN`, or a scenario's `<feature>:<line>`).
    pub id: String,
    /// Why it fails and who is on it.
    pub reason: String,
    /// The last day the failure is expected (`YYYY-MM-DD`); after it, it fails the run again.
    pub expires: NaiveDate,
}

/// The entry a failed check matched, kept with its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The entry's reason.
    pub reason: String,
    /// The entry's expiry date.
    pub expires: NaiveDate,
}

/// What an entry led to beyond a verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The check still fails and the entry is past its date: the failure counts again.
    Expired {
        /// The check.
        id: String,
        /// The entry's date.
        expires: NaiveDate,
    },
    /// The check passes: the entry should go.
    NowPasses {
        /// The check.
        id: String,
    },
    /// The check was not verified or not selected in this run: the entry was not tested.
    NotRun {
        /// The check.
        id: String,
    },
    /// A `--require` gate was not met: what it asked, and what was short of it.
    Unmet {
        /// The requirement as given.
        requirement: String,
        /// What fell short.
        short: String,
    },
}

impl Notice {
    /// Whether this notice fails the run (an expired entry, or one whose check passes).
    pub fn fails_run(&self) -> bool {
        matches!(
            self,
            Self::Expired { .. } | Self::NowPasses { .. } | Self::Unmet { .. }
        )
    }

    /// One sentence for reports.
    pub fn message(&self) -> String {
        match self {
            Self::Expired { id, expires } => format!(
                "{id}: the expected-failures entry expired on {expires}; the failure counts again (fix it, or renew the entry with a reason)"
            ),
            Self::NowPasses { id } => {
                format!("{id}: listed as an expected failure but passes now; remove its entry")
            }
            Self::NotRun { id } => format!(
                "{id}: listed as an expected failure but was not verified in this run; the entry was not tested"
            ),
            Self::Unmet { requirement, short } => {
                format!("--require {requirement} is not met: {short}")
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    failure: Vec<Entry>,
}

/// A parsed expected-failures file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExpectedFailures {
    entries: Vec<Entry>,
}

impl ExpectedFailures {
    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<Self, ExpectedError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ExpectedError::Read {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, &shown)
    }

    /// Parses the text of a file named `path` (for messages).
    pub fn parse(text: &str, path: &str) -> Result<Self, ExpectedError> {
        let invalid = |reason: String| ExpectedError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut seen = HashSet::new();
        for entry in &file.failure {
            if entry.id.trim().is_empty() {
                return Err(invalid("an entry has an empty `id`".into()));
            }
            if entry.reason.trim().is_empty() {
                return Err(invalid(format!(
                    "the entry for {} has no `reason`: say why it fails and who is on it",
                    entry.id
                )));
            }
            if !seen.insert(entry.id.to_ascii_lowercase()) {
                return Err(invalid(format!("{} is listed twice", entry.id)));
            }
        }
        Ok(Self {
            entries: file.failure,
        })
    }

    /// The entries.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// [`Self::apply`] on today's date (UTC).
    pub fn apply_today(&self, results: &mut [CheckResult]) -> Vec<Notice> {
        self.apply(results, chrono::Utc::now().date_naive())
    }

    /// Marks the listed failures in `results` as expected (unless expired on `today`) and
    /// returns what else the entries led to.
    pub fn apply(&self, results: &mut [CheckResult], today: NaiveDate) -> Vec<Notice> {
        let mut notices = Vec::new();
        for entry in &self.entries {
            let Some(result) = results
                .iter_mut()
                .find(|r| r.id.eq_ignore_ascii_case(&entry.id))
            else {
                notices.push(Notice::NotRun {
                    id: entry.id.clone(),
                });
                continue;
            };
            match &result.verdict {
                Verdict::Fail(_) if today > entry.expires => notices.push(Notice::Expired {
                    id: result.id.clone(),
                    expires: entry.expires,
                }),
                Verdict::Fail(_) => {
                    result.expected = Some(Known {
                        reason: entry.reason.clone(),
                        expires: entry.expires,
                    });
                }
                Verdict::Pass => notices.push(Notice::NowPasses {
                    id: result.id.clone(),
                }),
                Verdict::NotVerified(_) => notices.push(Notice::NotRun {
                    id: result.id.clone(),
                }),
            }
        }
        notices
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Failure;
    use std::time::Duration;

    fn result(id: &str, verdict: Verdict) -> CheckResult {
        CheckResult {
            id: id.into(),
            property: None,
            title: id.into(),
            statement: None,
            requirements: Vec::new(),
            tags: Vec::new(),
            verdict,
            unverified: None,
            cases: 1,
            duration: Duration::ZERO,
            position: None,
            expected: None,
        }
    }

    fn fail() -> Verdict {
        Verdict::Fail(Failure {
            expected: "e".into(),
            actual: "a".into(),
            counterexample: None,
            replay: None,
        })
    }

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    const FILE: &str = r#"
[[failure]]
id = "p12"
reason = "HSTS comes from the CDN (OPS-142)"
expires = "2027-03-01"

[[failure]]
id = "P13"
reason = "shared limiter not deployed yet"
expires = "2026-01-01"

[[failure]]
id = "p14"
reason = "fixed in 2.4"
expires = "2027-03-01"

[[failure]]
id = "p01"
reason = "no auth on staging"
expires = "2027-03-01"

[[failure]]
id = "errors:12"
reason = "not selected"
expires = "2027-03-01"
"#;

    #[test]
    fn listed_failures_are_expected_until_they_expire_and_passing_entries_are_reported() {
        let file = ExpectedFailures::parse(FILE, "x.toml").unwrap();
        let mut results = vec![
            result("p12", fail()),
            result("p13", fail()),
            result("p14", Verdict::Pass),
            result("p01", Verdict::NotVerified("no auth".into())),
            result("p15", fail()),
        ];
        let notices = file.apply(&mut results, day("2026-11-26"));
        assert_eq!(
            results[0].expected.as_ref().map(|k| k.reason.as_str()),
            Some("HSTS comes from the CDN (OPS-142)")
        );
        assert!(!results[0].fails_run());
        assert!(results[1].fails_run(), "expired: counts again");
        assert!(results[4].fails_run(), "not listed");
        assert_eq!(
            notices,
            vec![
                Notice::Expired {
                    id: "p13".into(),
                    expires: day("2026-01-01")
                },
                Notice::NowPasses { id: "p14".into() },
                Notice::NotRun { id: "p01".into() },
                Notice::NotRun {
                    id: "errors:12".into()
                },
            ]
        );
        let failing: Vec<bool> = notices.iter().map(Notice::fails_run).collect();
        assert_eq!(failing, [true, true, false, false]);
        assert!(notices[0].message().contains("expired on 2026-01-01"));
    }

    #[test]
    fn an_entry_is_expected_through_its_last_day() {
        let file = ExpectedFailures::parse(FILE, "x.toml").unwrap();
        let mut results = vec![result("p12", fail())];
        assert!(file.apply(&mut results, day("2027-03-01")).len() == 4);
        assert!(results[0].expected.is_some());
        let mut results = vec![result("p12", fail())];
        file.apply(&mut results, day("2027-03-02"));
        assert!(results[0].expected.is_none());
    }

    #[test]
    fn invalid_files_are_refused_with_the_reason() {
        for (text, wanted) in [
            ("[[failure]]\nid = \"p1\"\nreason = \"x\"\n", "expires"),
            (
                "[[failure]]\nid = \"p1\"\nreason = \"\"\nexpires = \"2027-01-01\"\n",
                "no `reason`",
            ),
            (
                "[[failure]]\nid = \"p1\"\nreason = \"x\"\nexpires = \"tomorrow\"\n",
                "expires",
            ),
            (
                "[[failure]]\nid = \"p1\"\nreason = \"x\"\nexpires = \"2027-01-01\"\nowner = \"y\"\n",
                "owner",
            ),
            (
                "[[failure]]\nid = \"p1\"\nreason = \"x\"\nexpires = \"2027-01-01\"\n[[failure]]\nid = \"P1\"\nreason = \"y\"\nexpires = \"2027-01-01\"\n",
                "twice",
            ),
            ("not toml =", "invalid"),
        ] {
            let err = ExpectedFailures::parse(text, "x.toml")
                .unwrap_err()
                .to_string();
            assert!(err.contains(wanted), "{text:?}: {err}");
        }
        assert!(
            ExpectedFailures::parse("", "x.toml")
                .unwrap()
                .entries()
                .is_empty()
        );
        let missing = ExpectedFailures::load(Path::new("/nonexistent/x.toml")).unwrap_err();
        assert!(matches!(missing, ExpectedError::Read { .. }));
    }
}
