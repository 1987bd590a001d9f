//! The SHOULD-level checks, run only with `--strict` (spec/conformance.md, "SHOULD-level
//! checks"). Each SHOULD sentence of `spec/` has an id here; the ones nothing outside the
//! server can observe are reported not verified, with the reason, so the list stays whole.

pub mod s02_login_work;
pub mod s04_no_version;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use crate::cases::CaseConfig;
use crate::check::{CheckFuture, CheckOutcome};
use crate::clause::{Clause, should};
use crate::target::{Bare, Target};
use crate::verdict::CheckResult;

/// How a SHOULD sentence is checked.
#[derive(Debug, Clone, Copy)]
pub enum Form {
    /// Over HTTP against a target with a discovery document, and maybe without one.
    Checked {
        /// Against a described target.
        run: for<'a> fn(&'a Target, CaseConfig) -> CheckFuture<'a>,
        /// Against a server without a discovery document, when the check needs none.
        undescribed: Option<for<'a> fn(&'a Bare, CaseConfig) -> CheckFuture<'a>>,
    },
    /// Nothing outside the server can observe it: why.
    Unobservable(&'static str),
}

/// One SHOULD sentence of `spec/` and its check.
#[derive(Debug, Clone, Copy)]
pub struct Recommendation {
    /// `sNN`, as the table in spec/conformance.md numbers it.
    pub id: &'static str,
    /// A short title.
    pub title: &'static str,
    /// The area, as `spec/properties.toml` names areas.
    pub area: &'static str,
    /// The sentence.
    pub clause: Clause,
    /// How it is checked.
    pub form: Form,
}

impl Recommendation {
    /// Its selection tags: its id, `should` and its area.
    pub fn tags(&self) -> Vec<String> {
        vec![
            self.id.to_owned(),
            "should".to_owned(),
            self.area.to_owned(),
        ]
    }

    /// Whether it runs against a server without a discovery document.
    pub fn needs_discovery(&self) -> bool {
        !matches!(
            self.form,
            Form::Checked {
                undescribed: Some(_),
                ..
            }
        )
    }
}

/// Every SHOULD sentence of `spec/`, in id order.
pub fn all() -> Vec<Recommendation> {
    vec![
        Recommendation {
            id: "s01",
            title: "Weaker password hashes are replaced at login",
            area: "auth",
            clause: should::REHASH,
            form: Form::Unobservable("a stored password hash never leaves the server"),
        },
        Recommendation {
            id: "s02",
            title: "Failed logins take the same hashing work",
            area: "auth",
            clause: should::SAME_WORK,
            form: Form::Checked {
                run: s02_login_work::run,
                undescribed: None,
            },
        },
        Recommendation {
            id: "s03",
            title: "Log lines carry the request id",
            area: "error",
            clause: should::LOGGED_ID,
            form: Form::Unobservable("a server's logs are its own"),
        },
        Recommendation {
            id: "s04",
            title: "Responses do not reveal the server software's version",
            area: "security-headers",
            clause: should::NO_VERSION,
            form: Form::Checked {
                run: s04_no_version::run,
                undescribed: Some(s04_no_version::run_undescribed),
            },
        },
    ]
}

/// Runs the selected SHOULD-level checks against `target`, one after another (after the
/// properties, so no other check's load skews a timing), in id order.
pub async fn run(
    target: &Target,
    config: CaseConfig,
    selects: &dyn Fn(&str, &[String]) -> bool,
    progress: &mut dyn FnMut(crate::runner::Progress<'_>),
) -> Vec<CheckResult> {
    run_selected(selects, progress, |form| match form {
        Form::Checked { run, .. } => run(target, config),
        Form::Unobservable(why) => Box::pin(unobservable(why)),
    })
    .await
}

/// Runs the selected SHOULD-level checks against a server without a discovery document: the
/// ones that need none run, the others are not verified, with `reason`.
pub async fn run_undescribed(
    bare: &Bare,
    config: CaseConfig,
    selects: &dyn Fn(&str, &[String]) -> bool,
    reason: &str,
    progress: &mut dyn FnMut(crate::runner::Progress<'_>),
) -> Vec<CheckResult> {
    run_selected(selects, progress, |form| match form {
        Form::Checked {
            undescribed: Some(run),
            ..
        } => run(bare, config),
        Form::Checked { .. } => Box::pin(not_verified(reason.to_owned())),
        Form::Unobservable(why) => Box::pin(unobservable(why)),
    })
    .await
}

/// Runs each selected check, in id order, with the future `check_of` gives for its form.
async fn run_selected<'a>(
    selects: &dyn Fn(&str, &[String]) -> bool,
    progress: &mut dyn FnMut(crate::runner::Progress<'_>),
    check_of: impl Fn(Form) -> Pin<Box<dyn Future<Output = CheckOutcome> + 'a>>,
) -> Vec<CheckResult> {
    let mut results = Vec::new();
    for r in all() {
        if selects(r.id, &r.tags()) {
            results.push(run_one(&r, check_of(r.form), progress).await);
        }
    }
    results
}

async fn unobservable(why: &'static str) -> CheckOutcome {
    CheckOutcome::NotVerified(format!("not observable from outside the server: {why}"))
}

async fn not_verified(reason: String) -> CheckOutcome {
    CheckOutcome::NotVerified(reason)
}

async fn run_one(
    r: &Recommendation,
    check: impl Future<Output = CheckOutcome>,
    progress: &mut dyn FnMut(crate::runner::Progress<'_>),
) -> CheckResult {
    progress(crate::runner::Progress::Started {
        id: r.id,
        title: r.title,
    });
    let started = Instant::now();
    let crate::check::Judged {
        verdict,
        cases,
        unverified,
    } = check.await.into_verdict();
    let result = CheckResult {
        id: r.id.to_owned(),
        property: None,
        title: r.title.to_owned(),
        statement: Some(r.clause.cite()),
        requirements: Vec::new(),
        tags: r.tags(),
        position: None,
        verdict,
        unverified,
        cases,
        duration: started.elapsed(),
        expected: None,
    };
    progress(crate::runner::Progress::Finished(&result));
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every sentence of `spec/` with SHOULD (or SHOULD NOT) in it, outside the README's
    /// definitions, the change log and the page of the suite itself (which speaks of SHOULD
    /// sentences, and states none).
    fn should_sentences() -> Vec<(String, String)> {
        let mut found = Vec::new();
        for file in [
            "spec/auth.md",
            "spec/tokens.md",
            "spec/error-format.md",
            "spec/error-codes.md",
            "spec/http-contract.md",
            "spec/security.md",
            "spec/query.md",
            "spec/client-abi.md",
            "spec/htip.md",
            "spec/delta.md",
            "spec/sync.md",
            "spec/requirements.md",
        ] {
            let text = crate::clause::spec_text(file).unwrap();
            for line in text.lines() {
                // The table of SHOULD-level checks quotes the sentences it numbers.
                if line.starts_with("| `s") {
                    continue;
                }
                for sentence in line.split(". ") {
                    if sentence.contains("SHOULD") {
                        found.push((file.to_owned(), sentence.to_owned()));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn every_should_sentence_of_the_spec_has_a_check() {
        let all = all();
        let missing: Vec<_> = should_sentences()
            .into_iter()
            .filter(|(file, sentence)| {
                !all.iter().any(|r| {
                    r.clause.file == file && r.clause.text.contains(sentence.trim_end_matches('.'))
                })
            })
            .collect();
        assert!(
            missing.is_empty(),
            "SHOULD sentences without an id: {missing:#?}"
        );
        assert_eq!(all.len(), should_sentences().len());
    }

    #[test]
    fn ids_are_numbered_in_order_and_listed_in_the_conformance_page() {
        let page = crate::clause::spec_text("spec/conformance.md").unwrap();
        for (i, r) in all().iter().enumerate() {
            assert_eq!(r.id, format!("s{:02}", i + 1));
            let row = page
                .lines()
                .find(|l| l.starts_with(&format!("| `{}` |", r.id)))
                .unwrap_or_else(|| panic!("{} has no row in spec/conformance.md", r.id));
            assert!(row.contains(r.clause.file), "{row}");
            assert!(row.contains("not observable") != ran_form(r), "{row}");
        }
    }

    fn ran_form(r: &Recommendation) -> bool {
        matches!(r.form, Form::Checked { .. })
    }

    #[test]
    fn tags_name_the_level_and_the_area() {
        let s04 = all().into_iter().find(|r| r.id == "s04").unwrap();
        assert_eq!(s04.tags(), ["s04", "should", "security-headers"]);
        assert!(!s04.needs_discovery());
        assert!(all()[1].needs_discovery());
    }
}
