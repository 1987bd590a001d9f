//! Report formats: terminal (the default), JSON, JUnit XML, Markdown and HTML. Each records
//! the target, its discovery document's hash, the suite version, the seed and the duration,
//! and shows, per check, id, title, requirement ids, verdict, cases and time, and for a
//! failure the statement, what was expected, what came back, the counterexample, the
//! exchange and the command that replays it.

mod html;
mod json;
mod junit;
mod markdown;
mod terminal;

pub use html::render_html;
pub use json::render_json;
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use terminal::{
    Style, check_line, id_width, render_terminal, render_terminal_with, truncate, verdict_cell,
};

use std::time::Duration;

use crate::runner::Report;
use crate::verdict::{CheckResult, Failure, Verdict};

/// The available formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Table for a terminal.
    Terminal,
    /// One JSON object (spec/conformance.md).
    Json,
    /// JUnit XML for CI dashboards.
    Junit,
    /// Markdown for pull requests and wikis.
    Markdown,
    /// One self-contained HTML page.
    Html,
}

impl Format {
    /// Parses a `--format` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "terminal" => Some(Self::Terminal),
            "json" => Some(Self::Json),
            "junit" => Some(Self::Junit),
            "markdown" | "md" => Some(Self::Markdown),
            "html" => Some(Self::Html),
            _ => None,
        }
    }

    /// The format a report file's extension names: `.json`, `.xml` (JUnit), `.md`, `.txt`.
    pub fn from_extension(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "json" => Some(Self::Json),
            "xml" => Some(Self::Junit),
            "md" => Some(Self::Markdown),
            "txt" => Some(Self::Terminal),
            "html" | "htm" => Some(Self::Html),
            _ => None,
        }
    }
}

/// Renders `report` in `format`.
pub fn render(report: &crate::runner::Report, format: Format) -> String {
    match format {
        Format::Terminal => render_terminal(report),
        Format::Json => render_json(report),
        Format::Junit => render_junit(report),
        Format::Markdown => render_markdown(report),
        Format::Html => render_html(report),
    }
}

/// A verdict as triage orders it: what needs a look first comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Standing {
    /// A failure nobody listed as expected.
    Fail,
    /// A failure the expected-failures file lists.
    ExpectedFail,
    /// Not verified, with a reason.
    NotVerified,
    /// A pass with a part that could not conclude.
    PassInPart,
    /// A whole pass.
    Pass,
}

impl Standing {
    /// Every standing, in triage order.
    pub const ALL: [Self; 5] = [
        Self::Fail,
        Self::ExpectedFail,
        Self::NotVerified,
        Self::PassInPart,
        Self::Pass,
    ];

    /// Where `result` stands.
    pub fn of(result: &CheckResult) -> Self {
        match (&result.verdict, &result.expected) {
            (Verdict::Pass, _) if result.unverified.is_some() => Self::PassInPart,
            (Verdict::Pass, _) => Self::Pass,
            (Verdict::Fail(_), None) => Self::Fail,
            (Verdict::Fail(_), Some(_)) => Self::ExpectedFail,
            (Verdict::NotVerified(_), _) => Self::NotVerified,
        }
    }

    /// The verdict in words.
    pub fn word(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::ExpectedFail => "expected failure",
            Self::NotVerified => "not verified",
            Self::PassInPart => "pass in part",
            Self::Pass => "pass",
        }
    }

    /// A name without spaces, for HTML classes and filters.
    pub fn key(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::ExpectedFail => "expected",
            Self::NotVerified => "not-verified",
            Self::PassInPart => "in-part",
            Self::Pass => "pass",
        }
    }
}

/// The verdict as reports word it: an expected failure is told apart from a failure.
pub fn verdict_word(result: &CheckResult) -> &'static str {
    Standing::of(result).word()
}

/// The results of one standing, in run order.
pub fn with_standing(report: &Report, standing: Standing) -> Vec<&CheckResult> {
    report
        .results
        .iter()
        .filter(|r| Standing::of(r) == standing)
        .collect()
}

/// The results in triage order (failures, expected failures, not verified, passes in part,
/// passes), each group in run order; not-verified results sit together by reason.
pub fn triage(report: &Report) -> Vec<&CheckResult> {
    let mut ordered = Vec::with_capacity(report.results.len());
    for standing in Standing::ALL {
        if standing == Standing::NotVerified {
            for (_, group) in not_verified_by_reason(report) {
                ordered.extend(group);
            }
        } else {
            ordered.extend(with_standing(report, standing));
        }
    }
    ordered
}

/// The not-verified results grouped by their reason, the largest group first (a set-up that
/// leaves many checks unverified is the first thing to fix).
pub fn not_verified_by_reason(report: &Report) -> Vec<(&str, Vec<&CheckResult>)> {
    let mut groups: Vec<(&str, Vec<&CheckResult>)> = Vec::new();
    for r in &report.results {
        if let Verdict::NotVerified(why) = &r.verdict {
            match groups
                .iter_mut()
                .find(|(reason, _)| *reason == why.as_str())
            {
                Some((_, group)) => group.push(r),
                None => groups.push((why.as_str(), vec![r])),
            }
        }
    }
    groups.sort_by_key(|(_, group)| std::cmp::Reverse(group.len()));
    groups
}

/// Whether a failure is the transport's (refused, reset, no answer in time, unreachable
/// target) rather than a wrong answer: CI dashboards show those as errors, not failures.
pub fn is_transport(failure: &Failure) -> bool {
    [
        crate::clause::conformance::TRANSPORT,
        crate::clause::conformance::CHECK_TIME_LIMIT,
    ]
    .iter()
    .any(|c| failure.expected.contains(&c.cite()))
}

/// A failure's cause in one line: the first line of what came back.
pub fn cause(failure: &Failure) -> &str {
    failure
        .actual
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// What a failure expected, as the JSON report gives it: the spec sentence it cites (file,
/// section and sentence) when it cites one, and the whole text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Expectation {
    /// The spec file, relative to the repository root.
    pub file: Option<String>,
    /// The section heading the sentence stands under.
    pub section: Option<String>,
    /// The normative sentence.
    pub sentence: Option<String>,
    /// The expectation as the check worded it.
    pub text: String,
}

impl Expectation {
    /// The expectation `text` states.
    pub fn of(text: &str) -> Self {
        let cited = crate::clause::cited_in(text);
        Self {
            file: cited.map(|c| c.file.to_owned()),
            section: cited.map(|c| c.section.to_owned()),
            sentence: cited.map(|c| c.text.to_owned()),
            text: text.to_owned(),
        }
    }
}

/// The one-line explanation beside a verdict: why not verified, what of a pass could not
/// conclude, or why a failure is expected.
pub fn verdict_note(result: &CheckResult) -> Option<String> {
    match (&result.verdict, &result.expected) {
        (Verdict::NotVerified(why), _) => Some(why.clone()),
        (Verdict::Pass, _) => result
            .unverified
            .as_ref()
            .map(|why| format!("not verified: {why}")),
        (Verdict::Fail(_), Some(known)) => Some(format!(
            "{} (expected until {})",
            known.reason, known.expires
        )),
        _ => None,
    }
}

/// The header facts every format records, as label and value.
pub fn header_facts(report: &Report) -> Vec<(&'static str, String)> {
    let mut facts = vec![("target", report.target.clone())];
    if report.instances.len() > 1 {
        facts.push(("instances", report.instances.join(", ")));
    }
    facts.push(("implementation", report.implementation()));
    if let Some(d) = &report.described {
        if let Some(m) = &d.mutant {
            facts.push(("mutant", format!("{m} (deliberately broken build)")));
        }
        facts.push(("profile", d.profile.clone()));
        facts.push(("discovery", d.discovery_hash.clone()));
    }
    if let Some(problem) = &report.problem {
        facts.push(("problem", problem.clone()));
    }
    facts.push(("suite", format!("dx-conformance {}", report.suite_version)));
    facts.push(("seed", report.seed.to_string()));
    facts.push(("cases", format!("{} per property", report.cases)));
    if report.client_runtime != "wasmi" {
        // wasmi is the default and goes unsaid, as in every report before the option.
        facts.push(("client runtime", report.client_runtime.clone()));
    }
    facts.push(("duration", seconds(report.duration)));
    facts
}

/// The summary sentence: counts per verdict.
pub fn summary_line(report: &Report) -> String {
    let s = report.summary();
    let mut line = format!(
        "{} checks: {} passed, {} failed",
        report.results.len(),
        s.pass,
        s.fail
    );
    if s.expected_fail > 0 {
        line.push_str(&format!(", {} failed as expected", s.expected_fail));
    }
    line.push_str(&format!(", {} not verified", s.not_verified));
    line
}

/// `s` escaped for XML and HTML text and quoted attribute values, without the characters
/// XML 1.0 cannot carry (control characters other than tab and line ends, U+FFFE, U+FFFF).
pub(crate) fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            '\u{fffe}' | '\u{ffff}' => {}
            c => out.push(c),
        }
    }
    out
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expected::{Known, Notice};
    use crate::runner::{Described, Report};
    use crate::verdict::{CheckResult, Failure, Verdict};

    fn result(id: &str, verdict: Verdict) -> CheckResult {
        CheckResult {
            id: id.into(),
            property: Some(6),
            title: "Mutex Poisoning Recovery".into(),
            statement: Some("Locks recover <always> & \"forever\".".into()),
            requirements: vec!["2.1".into()],
            tags: vec!["p06".into(), "error".into()],
            verdict,
            unverified: None,
            cases: 12,
            duration: Duration::from_millis(1500),
            position: None,
            expected: None,
        }
    }

    fn failure(expected: &str) -> Verdict {
        Verdict::Fail(Failure {
            expected: expected.into(),
            actual: "HTTP 500\n```\nbody\n```".into(),
            counterexample: Some("[Poison(1)]".into()),
            replay: Some("curl -i 'http://127.0.0.1:9/x'".into()),
        })
    }

    /// A report with every kind of entry: a failure with a saved replay, a pass, a
    /// not-verified check, an expected failure, a pass in part, and an expected-failures
    /// notice.
    pub(crate) fn report() -> Report {
        let mut expected = result("p12", failure("spec/security.md: six headers"));
        expected.title = "Security Headers Presence".into();
        expected.tags = vec!["p12".into(), "security-headers".into()];
        expected.expected = Some(Known {
            reason: "HSTS comes from the CDN (OPS-142)".into(),
            expires: "2027-03-01".parse().unwrap(),
        });
        let mut in_part = result("p25", Verdict::Pass);
        in_part.title = "Acknowledgment Guarantee".into();
        in_part.tags = vec!["p25".into(), "sync".into()];
        in_part.unverified = Some("the slow subscriber: found dead before it overflowed".into());
        Report {
            target: "http://127.0.0.1:9".into(),
            instances: vec!["http://127.0.0.1:9".into(), "http://127.0.0.1:10".into()],
            described: Some(Described {
                name: "dx-reference".into(),
                version: "0.1.0".into(),
                mutant: Some("mutex-not-recovered".into()),
                profile: "conformance".into(),
                discovery_hash: format!("sha256:5e1f{}", "0".repeat(60)),
            }),
            problem: None,
            suite_version: "0.1.0".into(),
            seed: 42,
            cases: 100,
            client_runtime: "wasmi".into(),
            results: vec![
                result("p06", failure("HTTP 200 | recovered")),
                result("p07", Verdict::Pass),
                result(
                    "p01",
                    Verdict::NotVerified("target does not offer `auth`".into()),
                ),
                expected,
                in_part,
            ],
            notices: vec![Notice::NowPasses { id: "p14".into() }],
            replays: vec![(
                "p06".into(),
                "dx-conformance replay dx-replays/p06.json".into(),
            )],
            duration: Duration::from_secs(2),
        }
    }

    #[test]
    fn every_format_shows_verdicts_and_failure_evidence() {
        let r = report();
        assert_eq!(r.exit_code(), 1);
        for format in ["terminal", "json", "junit", "markdown", "md", "html"] {
            let text = render(&r, Format::parse(format).unwrap());
            assert!(text.contains("curl -i"), "{format}: exchange");
            assert!(
                text.contains("dx-conformance replay dx-replays/p06.json"),
                "{format}: replay command"
            );
            assert!(text.contains("Poison(1)"), "{format}: counterexample");
            assert!(
                text.contains("found dead before it overflowed"),
                "{format}: the part of a pass left unverified"
            );
            assert!(
                text.contains("does not offer"),
                "{format}: not-verified reason"
            );
            assert!(text.contains("OPS-142"), "{format}: expected failure");
            assert!(text.contains("sha256:5e1f"), "{format}: discovery hash");
            assert!(text.contains("p14"), "{format}: notice");
        }
        assert_eq!(Format::parse("yaml"), None);
    }

    #[test]
    fn formats_follow_extensions() {
        for (name, format) in [
            ("r.json", Some(Format::Json)),
            ("r.xml", Some(Format::Junit)),
            ("r.md", Some(Format::Markdown)),
            ("r.txt", Some(Format::Terminal)),
            ("r.html", Some(Format::Html)),
            ("r.htm", Some(Format::Html)),
            ("r.yaml", None),
            ("r", None),
        ] {
            assert_eq!(
                Format::from_extension(std::path::Path::new(name)),
                format,
                "{name}"
            );
        }
    }

    #[test]
    fn json_follows_the_spec_shape() {
        let json: serde_json::Value = serde_json::from_str(&render_json(&report())).unwrap();
        assert_eq!(json["implementation"]["mutant"], "mutex-not-recovered");
        assert_eq!(
            json["summary"],
            serde_json::json!({"pass": 2, "fail": 1, "expected_fail": 1, "not_verified": 1})
        );
        let checks = json["checks"].as_array().unwrap();
        assert_eq!(checks[0]["verdict"], "fail");
        assert_eq!(checks[0]["failure"]["counterexample"], "[Poison(1)]");
        assert_eq!(
            checks[0]["failure"]["expected"]["text"],
            "HTTP 200 | recovered"
        );
        assert!(checks[0]["reason"].is_null());
        assert_eq!(checks[2]["verdict"], "not_verified");
        assert!(checks[2]["failure"].is_null());
        assert_eq!(checks[1]["duration_ms"], 1500);
        assert_eq!(checks[3]["expected_failure"]["expires"], "2027-03-01");
        assert!(checks[1]["reason"].is_null(), "a whole pass has no reason");
        assert_eq!(checks[4]["verdict"], "pass");
        assert_eq!(
            checks[4]["reason"],
            "the slow subscriber: found dead before it overflowed"
        );
        assert_eq!(json["exit_code"], 1);
    }

    #[test]
    fn junit_maps_fail_and_not_verified() {
        let xml = render_junit(&report());
        assert!(xml.contains("tests=\"6\" failures=\"2\" errors=\"0\" skipped=\"2\""));
        assert!(xml.contains(
            "<system-out>passed in part; not verified: the slow subscriber: found dead before it overflowed</system-out>"
        ));
        assert!(xml.contains("<failure message=\"HTTP 200 | recovered\""));
        assert!(xml.contains("<skipped message=\"not verified: target does not offer `auth`\"/>"));
        assert!(xml.contains("&lt;always&gt; &amp; &quot;forever&quot;"));
    }

    #[test]
    fn markdown_escapes_table_cells_and_fences() {
        let md = render_markdown(&report());
        assert!(
            md.contains("| [p06](#p06) | Mutex Poisoning Recovery | HTTP 500 |"),
            "{md}"
        );
        assert!(md.contains("HTTP 200 \\| recovered"));
        assert!(md.contains("mutex-not-recovered"));
        assert!(
            md.contains("````text\nHTTP 500"),
            "a fence longer than any inside"
        );
    }

    /// A transport problem is an `<error>` (infrastructure), a wrong answer a `<failure>`:
    /// both were `<failure>`, so a dashboard blamed the target's rules for a dead network.
    #[test]
    fn junit_tells_transport_errors_from_failures() {
        let mut r = report();
        r.results.push(CheckResult {
            id: "p08".into(),
            verdict: Verdict::Fail(Failure {
                expected: crate::clause::conformance::TRANSPORT.cite(),
                actual: "no response: connection reset by peer".into(),
                counterexample: None,
                replay: None,
            }),
            ..result("p08", Verdict::Pass)
        });
        r.results.push(CheckResult {
            id: "p09".into(),
            verdict: crate::runner::timed_out(Duration::from_secs(120)),
            ..result("p09", Verdict::Pass)
        });
        let xml = render_junit(&r);
        assert!(
            xml.contains("tests=\"8\" failures=\"2\" errors=\"2\" skipped=\"2\""),
            "{xml}"
        );
        assert_eq!(xml.matches("<error message=").count(), 2, "{xml}");
        assert!(xml.contains("type=\"dx-conformance.transport\">"), "{xml}");
        assert!(xml.contains(
            "<failure message=\"HTTP 200 | recovered\" type=\"dx-conformance.violation\">"
        ));
        let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
        assert_eq!(json["checks"][5]["failure"]["kind"], "transport");
        assert_eq!(json["checks"][0]["failure"]["kind"], "violation");
        validate_report(&json).unwrap();
    }

    /// A failure's expectation names the spec sentence as file, section and sentence: it
    /// was one string, which a dashboard had to parse.
    #[test]
    fn json_names_the_spec_sentence_a_failure_expected() {
        let mut r = report();
        let clause = crate::clause::error_format::ENVELOPE;
        r.results[0].verdict = Verdict::Fail(Failure {
            expected: clause.cite(),
            actual: "HTTP 500".into(),
            counterexample: None,
            replay: None,
        });
        let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
        assert_eq!(
            json["checks"][0]["failure"]["expected"],
            serde_json::json!({
                "file": "spec/error-format.md",
                "section": "The envelope",
                "sentence": clause.text,
                "text": clause.cite(),
            })
        );
        // An expectation that cites no sentence keeps its words, with null members.
        assert_eq!(
            json["checks"][3]["failure"]["expected"]["text"],
            "spec/security.md: six headers"
        );
        assert!(json["checks"][3]["failure"]["expected"]["file"].is_null());
        validate_report(&json).unwrap();
        assert_eq!(json["report_format"], 2);
    }

    /// Triage order: failures, expected failures, not verified, passes in part, passes.
    #[test]
    fn triage_puts_failures_first() {
        let r = report();
        let order: Vec<&str> = triage(&r).iter().map(|c| c.id.as_str()).collect();
        assert_eq!(order, ["p06", "p12", "p01", "p25", "p07"]);
    }

    /// Validates `json` against `spec/report.schema.json`.
    pub(crate) fn validate_report(json: &serde_json::Value) -> Result<(), String> {
        crate::spec::CompiledSchema::compile(crate::spec::REPORT_SCHEMA_JSON, "report.schema.json")?
            .validate(json)
    }

    #[test]
    fn json_reports_match_their_schema_and_the_schema_refuses_what_they_never_are() {
        let reports = [
            report(),
            Report::unreachable(
                "http://127.0.0.1:1",
                "refused",
                crate::CaseConfig::default(),
                Duration::ZERO,
            ),
        ];
        for r in &reports {
            let json: serde_json::Value = serde_json::from_str(&render_json(r)).unwrap();
            validate_report(&json).unwrap();
        }
        let good: serde_json::Value = serde_json::from_str(&render_json(&report())).unwrap();
        let broken = [
            ("/checks/0/verdict", serde_json::json!("passed")),
            ("/checks/1/failure", serde_json::json!({"expected": "x"})),
            ("/checks/0/failure/expected", serde_json::json!("x")),
            ("/checks/0/failure/kind", serde_json::json!("flaky")),
            ("/checks/2/reason", serde_json::Value::Null),
            ("/summary/fail", serde_json::json!(-1)),
            ("/discovery/hash", serde_json::json!("md5:00")),
            (
                "/checks/3/expected_failure/expires",
                serde_json::json!("soon"),
            ),
        ];
        for (pointer, value) in broken {
            let mut bad = good.clone();
            *bad.pointer_mut(pointer).unwrap() = value;
            assert!(validate_report(&bad).is_err(), "{pointer}");
        }
    }

    #[test]
    fn snapshots_of_every_format() {
        let r = report();
        insta::assert_snapshot!("terminal", render_terminal(&r));
        insta::assert_snapshot!(
            "terminal_color_80",
            render_terminal_with(
                &r,
                Style {
                    width: 80,
                    color: true
                }
            )
        );
        insta::assert_snapshot!("json", render_json(&r));
        insta::assert_snapshot!("junit", render_junit(&r));
        insta::assert_snapshot!("markdown", render_markdown(&r));
        insta::assert_snapshot!("html", render_html(&r));
    }

    #[test]
    fn snapshots_of_a_target_without_a_discovery_document_and_an_unreachable_one() {
        let unreachable = Report::unreachable(
            "http://127.0.0.1:1/",
            "target unreachable: connection refused",
            crate::CaseConfig {
                cases: 100,
                seed: 42,
            },
            Duration::from_millis(3),
        );
        assert_eq!(unreachable.exit_code(), 1);
        insta::assert_snapshot!("unreachable_terminal", render_terminal(&unreachable));
        insta::assert_snapshot!("unreachable_junit", render_junit(&unreachable));
    }
}
