//! The rules every response obeys (spec/conformance.md, "Rules every response obeys"): one
//! request id, no internal detail, the six security headers, and for a status of 400 or
//! more the complete error envelope. Each is judged on every response the suite receives,
//! whichever check sent the request, and each has its own entry in the report
//! (`rules:request-id`, …): a broken rule is reported once, by cause, with every check that
//! saw it listed under it, instead of as the failure of every unrelated property whose
//! requests happened to meet it. The one property a rule belongs to (Property 8 for the
//! request id and the envelope, Property 12 for the headers, Property 26 for sanitization)
//! still fails on it: that is what it checks.

use std::collections::BTreeSet;
use std::sync::{LazyLock, Mutex, PoisonError};
use std::time::Duration;

use regex::Regex;

use crate::cases::CaseFailure;
use crate::verdict::{CheckResult, Failure, Verdict};

/// A rule every response obeys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// Exactly one `X-Request-Id`, the one sent when valid (spec/error-format.md, "Request
    /// ids").
    RequestId,
    /// Nothing internal in any response (spec/error-format.md, "Sanitization").
    Sanitization,
    /// The six security headers (spec/security.md, "Security headers").
    SecurityHeaders,
    /// A status of 400 or more carries the complete envelope (spec/error-format.md).
    Envelope,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Self; 4] = [
        Self::RequestId,
        Self::Envelope,
        Self::SecurityHeaders,
        Self::Sanitization,
    ];

    /// The rule's id in reports and selections.
    pub fn id(self) -> &'static str {
        match self {
            Self::RequestId => "rules:request-id",
            Self::Sanitization => "rules:sanitization",
            Self::SecurityHeaders => "rules:security-headers",
            Self::Envelope => "rules:envelope",
        }
    }

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            Self::RequestId => "Every response carries one request id",
            Self::Sanitization => "No response reveals anything internal",
            Self::SecurityHeaders => "Every response carries the six security headers",
            Self::Envelope => "Every error response is a complete envelope",
        }
    }

    /// The requirement ids of the property the rule comes from.
    pub fn requirements(self) -> Vec<String> {
        match self {
            Self::RequestId | Self::Envelope => vec!["2.5".into()],
            Self::Sanitization => vec!["7.5".into()],
            Self::SecurityHeaders => (1..=6).map(|n| format!("4.{n}")).collect(),
        }
    }

    /// Its selection tags: `rules`, and the area of the property it comes from.
    pub fn tags(self) -> Vec<String> {
        let area = match self {
            Self::RequestId | Self::Envelope => "error",
            Self::Sanitization => "server",
            Self::SecurityHeaders => "security-headers",
        };
        vec!["rules".into(), area.into()]
    }
}

/// Whether `id` is a rule's entry.
pub fn is_rule(id: &str) -> bool {
    Rule::ALL.iter().any(|r| r.id() == id)
}

/// One cause of a broken rule: the first response that showed it, and every check that met
/// it.
#[derive(Debug, Clone)]
struct Broken {
    rule: Rule,
    /// What was wrong, without what differs from one response to the next (ids, times).
    cause: String,
    first: CaseFailure,
    checks: BTreeSet<String>,
    responses: u64,
}

#[derive(Debug, Default)]
struct Ledger {
    judged: [u64; 4],
    broken: Vec<Broken>,
}

/// Every rule's observations in one run, shared by all the checks and instances.
#[derive(Debug, Default)]
pub struct RuleLedger {
    inner: Mutex<Ledger>,
}

/// The most causes a rule's entry lists; more are counted.
const MOST_CAUSES: usize = 12;

tokio::task_local! {
    static RUNNING: String;
}

/// Runs `check` as the check with id `id`: the rules' entries name it as the one that met
/// what its requests met, unless the target it sends through names its check itself
/// ([`crate::Target::attributed_to`]).
pub async fn running<F: std::future::Future>(id: &str, check: F) -> F::Output {
    RUNNING.scope(id.to_owned(), check).await
}

/// Who met a response: the check the sending target was handed to (`by`), else the check
/// whose task sent it, else the suite's own set-up (discovery, logins).
fn running_check(by: Option<&str>) -> String {
    by.map(str::to_owned).unwrap_or_else(|| {
        RUNNING
            .try_with(Clone::clone)
            .unwrap_or_else(|_| "the suite's set-up".to_owned())
    })
}

fn slot(rule: Rule) -> usize {
    match rule {
        Rule::RequestId => 0,
        Rule::Sanitization => 1,
        Rule::SecurityHeaders => 2,
        Rule::Envelope => 3,
    }
}

impl RuleLedger {
    /// Records one judgement of `rule` on a response, by the running check.
    pub fn record(&self, rule: Rule, judged: &Result<(), CaseFailure>) {
        self.record_by(rule, judged, None);
    }

    /// Records one judgement of `rule` on a response met by the check `by` (a target's
    /// attribution, [`crate::http::HttpClient::attribution`]), or, when `None`, by the
    /// running check.
    pub fn record_by(&self, rule: Rule, judged: &Result<(), CaseFailure>, by: Option<&str>) {
        let mut ledger = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        ledger.judged[slot(rule)] += 1;
        let Err(failure) = judged else {
            return;
        };
        let cause = cause_of(failure);
        let check = running_check(by);
        match ledger
            .broken
            .iter_mut()
            .find(|b| b.rule == rule && b.cause == cause)
        {
            Some(known) => {
                known.responses += 1;
                known.checks.insert(check);
            }
            None => ledger.broken.push(Broken {
                rule,
                cause,
                first: failure.clone(),
                checks: BTreeSet::from([check]),
                responses: 1,
            }),
        }
    }

    /// One result per rule: a failure listing every cause with the checks that met it, a
    /// pass over every response judged, or not verified when no response was.
    pub fn results(&self) -> Vec<CheckResult> {
        let ledger = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        Rule::ALL
            .iter()
            .map(|&rule| {
                let judged = ledger.judged[slot(rule)];
                let broken: Vec<&Broken> =
                    ledger.broken.iter().filter(|b| b.rule == rule).collect();
                let verdict = match broken.first() {
                    None if judged == 0 => Verdict::NotVerified(
                        "no response was received to judge it on (no check that sends requests ran)"
                            .into(),
                    ),
                    None => Verdict::Pass,
                    Some(first) => Verdict::Fail(Failure {
                        expected: first.first.expected.clone(),
                        actual: describe(&broken, judged),
                        counterexample: None,
                        replay: first.first.replay.clone(),
                    }),
                };
                CheckResult {
                    id: rule.id().into(),
                    property: None,
                    title: rule.title().into(),
                    statement: None,
                    requirements: rule.requirements(),
                    tags: rule.tags(),
                    verdict,
                    unverified: None,
                    cases: u32::try_from(judged).unwrap_or(u32::MAX),
                    duration: Duration::ZERO,
                    position: None,
                    expected: None,
                }
            })
            .collect()
    }
}

/// What a failure says was wrong, without the response it quotes and with the values that
/// differ from one request to the next (quoted ids, lists) cut, so one cause is one entry
/// wherever it met.
fn cause_of(failure: &CaseFailure) -> String {
    static VALUES: LazyLock<Result<Regex, regex::Error>> =
        LazyLock::new(|| Regex::new(r"`[^`]*`|\[[^\]]*\]"));
    let first = failure.actual.split("\n\n").next().unwrap_or_default();
    match VALUES.as_ref() {
        Ok(values) => values.replace_all(first, "…").into_owned(),
        Err(_) => first.to_owned(),
    }
}

fn describe(broken: &[&Broken], judged: u64) -> String {
    let mut text = format!(
        "{} cause(s) over {judged} responses judged:\n",
        broken.len()
    );
    for b in broken.iter().take(MOST_CAUSES) {
        let checks: Vec<&str> = b.checks.iter().map(String::as_str).collect();
        text.push_str(&format!(
            "- {} ({} response(s); met by {})\n",
            b.cause,
            b.responses,
            checks.join(", ")
        ));
    }
    if broken.len() > MOST_CAUSES {
        text.push_str(&format!("- and {} more\n", broken.len() - MOST_CAUSES));
    }
    if let Some(first) = broken.first() {
        text.push_str("\nThe first response that showed it:\n");
        text.push_str(&first.first.actual);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broken(actual: &str) -> Result<(), CaseFailure> {
        Err(CaseFailure::plain(
            "one X-Request-Id",
            format!("{actual}\n\nHTTP 200"),
        ))
    }

    #[tokio::test]
    async fn a_broken_rule_is_one_entry_by_cause_naming_every_check_that_met_it() {
        let ledger = RuleLedger::default();
        for check in ["p01", "p05", "p19"] {
            running(check, async {
                ledger.record(Rule::RequestId, &broken("0 X-Request-Id headers: []"));
                ledger.record(Rule::Sanitization, &Ok(()));
            })
            .await;
        }
        let results = ledger.results();
        let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "rules:request-id",
                "rules:envelope",
                "rules:security-headers",
                "rules:sanitization"
            ]
        );
        let Verdict::Fail(failure) = &results[0].verdict else {
            panic!("{:?}", results[0].verdict);
        };
        assert!(
            failure
                .actual
                .starts_with("1 cause(s) over 3 responses judged")
        );
        assert!(
            failure
                .actual
                .contains("0 X-Request-Id headers: … (3 response(s); met by p01, p05, p19)"),
            "{}",
            failure.actual
        );
        assert_eq!(results[0].cases, 3);
        assert!(matches!(results[1].verdict, Verdict::NotVerified(_)));
        assert_eq!(results[3].verdict, Verdict::Pass);
    }

    #[tokio::test]
    async fn a_response_is_met_by_the_check_its_target_names_whichever_task_sends_it() {
        let ledger = RuleLedger::default();
        let missing = broken("0 X-Request-Id headers: []");
        // Two scenarios interleaved on one task (as cucumber polls them), under a property's
        // task-local name: each target's attribution wins.
        running("p08", async {
            ledger.record_by(Rule::RequestId, &missing, Some("errors:request-id-kept"));
            ledger.record_by(Rule::RequestId, &missing, Some("auth:lifecycle"));
            ledger.record(Rule::RequestId, &missing);
        })
        .await;
        ledger.record(Rule::RequestId, &missing);
        let results = ledger.results();
        let Verdict::Fail(failure) = &results[0].verdict else {
            panic!("{:?}", results[0].verdict);
        };
        assert!(
            failure.actual.contains(
                "(4 response(s); met by auth:lifecycle, errors:request-id-kept, p08, the suite's set-up)"
            ),
            "{}",
            failure.actual
        );
    }

    #[tokio::test]
    async fn different_causes_are_listed_apart() {
        let ledger = RuleLedger::default();
        running("p26", async {
            ledger.record(
                Rule::Sanitization,
                &broken("the body reveals a file system path"),
            );
            ledger.record(Rule::Sanitization, &broken("the body reveals SQL text"));
            ledger.record(Rule::Sanitization, &broken("the body reveals SQL text"));
        })
        .await;
        let results = ledger.results();
        let Verdict::Fail(failure) = &results[3].verdict else {
            panic!();
        };
        assert!(failure.actual.contains("2 cause(s)"));
        assert!(
            failure
                .actual
                .contains("SQL text (2 response(s); met by p26)")
        );
    }
}
