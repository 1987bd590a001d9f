//! JUnit XML in the form of Maven Surefire's `surefire-test-report-3.0.xsd`, which CI
//! dashboards (Jenkins, GitLab, GitHub's test reporters) read: one `testsuite` whose
//! properties record the run, a `testcase` per check (its name and classname), a failure as
//! `<failure>` with the expectation as its message and the evidence and replay command as its
//! text, a transport problem (refused, reset, no answer in time, unreachable target) as
//! `<error>` of the same form, since dashboards tell an infrastructure problem from a broken
//! rule by it, and a not-verified check or an expected failure as `<skipped>` with the reason.

use std::fmt::Write as _;

use super::{escape_markup as xml, header_facts, is_transport, millis};
use crate::runner::Report;
use crate::verdict::Verdict;

/// Seconds with three decimals, as Surefire's `SUREFIRE_TIME` allows.
fn time(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// One `testsuite` document.
pub fn render_junit(report: &Report) -> String {
    let s = report.summary();
    let failing_notices = report.notices.iter().filter(|n| n.fails_run()).count();
    let errors = report
        .results
        .iter()
        .filter(|r| match (&r.verdict, &r.expected) {
            (Verdict::Fail(f), None) => is_transport(f),
            _ => false,
        })
        .count();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{errors}\" skipped=\"{}\" time=\"{}\">",
        xml(&format!("dx-conformance {}", report.target)),
        report.results.len() + failing_notices,
        s.fail - errors + failing_notices,
        s.not_verified + s.expected_fail,
        time(millis(report.duration))
    );
    out.push_str("  <properties>\n");
    for (label, value) in header_facts(report) {
        let _ = writeln!(
            out,
            "    <property name=\"{}\" value=\"{}\"/>",
            xml(label),
            xml(&value)
        );
    }
    out.push_str("  </properties>\n");
    for r in &report.results {
        let area = r
            .tags
            .iter()
            // The first tag that is not a check id (`pNN`, `sNN`) names the area.
            .find(|t| {
                let b = t.as_bytes();
                !(b.len() == 3
                    && matches!(b[0], b'p' | b's')
                    && b[1..].iter().all(u8::is_ascii_digit))
                    && t.as_str() != "should"
            })
            .map_or("target", String::as_str);
        let name = format!("{} {} [{}]", r.id, r.title, r.requirements.join(", "));
        let _ = write!(
            out,
            "  <testcase classname=\"dx-conformance.{}\" name=\"{}\" time=\"{}\"",
            xml(area),
            xml(&name),
            time(millis(r.duration))
        );
        let evidence = |f: &crate::verdict::Failure| {
            let mut text = String::new();
            if let Some(st) = &r.statement {
                let _ = writeln!(text, "Statement: {st}");
            }
            let _ = writeln!(text, "Expected: {}\nActual: {}", f.expected, f.actual);
            if let Some(c) = &f.counterexample {
                let _ = writeln!(text, "Counterexample: {c}");
            }
            if let Some(exchange) = &f.replay {
                let _ = writeln!(text, "Exchange: {exchange}");
            }
            if let Some(command) = report.replay_of(&r.id) {
                let _ = writeln!(text, "Replay: {command}");
            }
            text
        };
        match (&r.verdict, &r.expected) {
            (Verdict::Pass, _) => match &r.unverified {
                // A pass with a part that could not conclude: still a pass, with the part
                // named where a dashboard shows a test's output.
                Some(why) => {
                    let _ = writeln!(
                        out,
                        ">\n    <system-out>{}</system-out>\n  </testcase>",
                        xml(&format!("passed in part; not verified: {why}"))
                    );
                }
                None => out.push_str("/>\n"),
            },
            (Verdict::NotVerified(why), _) => {
                let _ = writeln!(
                    out,
                    ">\n    <skipped message=\"{}\"/>\n  </testcase>",
                    xml(&format!("not verified: {why}"))
                );
            }
            (Verdict::Fail(f), Some(known)) => {
                let _ = writeln!(
                    out,
                    ">\n    <skipped message=\"{}\"/>\n    <system-out>{}</system-out>\n  </testcase>",
                    xml(&format!(
                        "expected failure until {}: {}",
                        known.expires, known.reason
                    )),
                    xml(&evidence(f))
                );
            }
            (Verdict::Fail(f), None) => {
                let (element, kind) = if is_transport(f) {
                    ("error", "transport")
                } else {
                    ("failure", "violation")
                };
                let _ = writeln!(
                    out,
                    ">\n    <{element} message=\"{}\" type=\"dx-conformance.{kind}\">{}</{element}>\n  </testcase>",
                    xml(&f.expected),
                    xml(&evidence(f))
                );
            }
        }
    }
    for notice in report.notices.iter().filter(|n| n.fails_run()) {
        let _ = writeln!(
            out,
            "  <testcase classname=\"dx-conformance.expected-failures\" name=\"{}\" time=\"0.000\">\n    <failure message=\"{}\" type=\"dx-conformance.expected-failures\"/>\n  </testcase>",
            xml(&notice.message()),
            xml(&notice.message())
        );
    }
    out.push_str("</testsuite>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        use super::xml;
        assert_eq!(
            xml("<script>alert('x')</script>"),
            "&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt;"
        );
        assert_eq!(
            xml("<a href=\"x\">&'\u{1}\u{ffff}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }

    #[test]
    fn times_have_three_decimals() {
        assert_eq!(time(0), "0.000");
        assert_eq!(time(1500), "1.500");
        assert_eq!(time(61_005), "61.005");
    }
}
