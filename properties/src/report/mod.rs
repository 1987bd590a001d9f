//! Report formats: terminal (the default), JSON, JUnit XML and Markdown. Each shows, per
//! check, id, title, requirement ids, verdict, cases and time, and for a failure the statement,
//! what was expected, what came back, the counterexample and the replay line.

mod json;
mod junit;
mod markdown;
mod terminal;

pub use json::render_json;
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use terminal::{render_terminal, verdict_cell};

use std::time::Duration;

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
}

impl Format {
    /// Parses a `--format` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "terminal" => Some(Self::Terminal),
            "json" => Some(Self::Json),
            "junit" => Some(Self::Junit),
            "markdown" | "md" => Some(Self::Markdown),
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
    }
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
    use crate::runner::Report;
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
            cases: 12,
            duration: Duration::from_millis(1500),
        }
    }

    fn report() -> Report {
        Report {
            target: "http://127.0.0.1:9".into(),
            instances: vec!["http://127.0.0.1:9".into(), "http://127.0.0.1:10".into()],
            implementation: ("dx-reference".into(), "0.1.0".into()),
            mutant: Some("mutex-not-recovered".into()),
            profile: "conformance".into(),
            seed: 42,
            results: vec![
                result(
                    "p06",
                    Verdict::Fail(Failure {
                        expected: "HTTP 200 | recovered".into(),
                        actual: "HTTP 500\nbody".into(),
                        counterexample: Some("[Poison(1)]".into()),
                        replay: Some("curl -i 'http://127.0.0.1:9/x'".into()),
                    }),
                ),
                result("p07", Verdict::Pass),
                result(
                    "p01",
                    Verdict::NotVerified("target does not offer `auth`".into()),
                ),
            ],
            duration: Duration::from_secs(2),
        }
    }

    #[test]
    fn every_format_shows_verdicts_and_failure_evidence() {
        let r = report();
        assert_eq!(r.exit_code(), 1);
        for format in ["terminal", "json", "junit", "markdown", "md"] {
            let text = render(&r, Format::parse(format).unwrap());
            assert!(text.contains("curl -i"), "{format}: replay line");
            assert!(text.contains("Poison(1)"), "{format}: counterexample");
            assert!(
                text.contains("does not offer"),
                "{format}: not-verified reason"
            );
        }
        assert_eq!(Format::parse("yaml"), None);
    }

    #[test]
    fn json_follows_the_spec_shape() {
        let json: serde_json::Value = serde_json::from_str(&render_json(&report())).unwrap();
        assert_eq!(json["implementation"]["mutant"], "mutex-not-recovered");
        assert_eq!(
            json["summary"],
            serde_json::json!({"pass": 1, "fail": 1, "not_verified": 1})
        );
        let checks = json["checks"].as_array().unwrap();
        assert_eq!(checks[0]["verdict"], "fail");
        assert_eq!(checks[0]["failure"]["counterexample"], "[Poison(1)]");
        assert!(checks[0]["reason"].is_null());
        assert_eq!(checks[2]["verdict"], "not_verified");
        assert!(checks[2]["failure"].is_null());
        assert_eq!(checks[1]["duration_ms"], 1500);
    }

    #[test]
    fn junit_maps_fail_and_not_verified() {
        let xml = render_junit(&report());
        assert!(xml.contains("tests=\"3\" failures=\"1\" skipped=\"1\""));
        assert!(xml.contains("<failure message=\"HTTP 200 | recovered\">"));
        assert!(xml.contains("<skipped message=\"target does not offer `auth`\"/>"));
        assert!(xml.contains("&lt;always&gt; &amp; &quot;forever&quot;"));
    }

    #[test]
    fn markdown_escapes_table_cells() {
        let md = render_markdown(&report());
        assert!(md.contains("| p06 | Mutex Poisoning Recovery | 2.1 | **fail** |"));
        assert!(md.contains("HTTP 200 \\| recovered"));
        assert!(md.contains("mutant `mutex-not-recovered`"));
    }
}
