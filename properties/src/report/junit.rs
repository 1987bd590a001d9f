//! JUnit XML: one test suite, one test case per check; a failure is `<failure>`, not verified
//! is `<skipped>` with the reason.

use std::fmt::Write as _;

use super::millis;
use crate::runner::Report;
use crate::verdict::Verdict;

/// Escapes text for XML attributes and content.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// The report as JUnit XML.
pub fn render_junit(report: &Report) -> String {
    let s = report.summary();
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"dx-conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        report.results.len(),
        s.fail,
        s.not_verified,
        report.duration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{:.3}\">",
        xml(&format!(
            "dx-conformance {} ({})",
            report.target, report.profile
        )),
        report.results.len(),
        s.fail,
        s.not_verified,
        report.duration.as_secs_f64()
    );
    for r in &report.results {
        let name = format!("{} {} [{}]", r.id, r.title, r.requirements.join(", "));
        let _ = write!(
            out,
            "    <testcase classname=\"dx-conformance\" name=\"{}\" time=\"{:.3}\"",
            xml(&name),
            millis(r.duration) as f64 / 1000.0
        );
        match &r.verdict {
            Verdict::Pass => out.push_str("/>\n"),
            Verdict::NotVerified(why) => {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    xml(why)
                );
            }
            Verdict::Fail(f) => {
                let mut text = String::new();
                if let Some(st) = &r.statement {
                    let _ = writeln!(text, "Statement: {st}");
                }
                let _ = writeln!(text, "Expected: {}\nActual: {}", f.expected, f.actual);
                if let Some(c) = &f.counterexample {
                    let _ = writeln!(text, "Counterexample: {c}");
                }
                if let Some(r) = &f.replay {
                    let _ = writeln!(text, "Replay: {r}");
                }
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    xml(&f.expected),
                    xml(&text)
                );
            }
        }
    }
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_control_characters() {
        assert_eq!(
            xml("<a href=\"x\">&'\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }
}
