//! One self-contained HTML page (no external stylesheet, script, font or image), the report
//! people open, as Autobahn's is: the run's facts and a summary, a row per check, and for a
//! failure the statement, what was expected, what came back, the counterexample, the exchange
//! and the command that replays it. A failed check's evidence starts open.

use std::fmt::Write as _;

use super::{
    escape_markup as esc, header_facts, seconds, summary_line, verdict_note, verdict_word,
};
use crate::runner::Report;
use crate::verdict::{CheckResult, Verdict};

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}
.summary{font-size:1.1rem;margin:.5rem 0 1rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:0 0 1.5rem}
dl.facts dt{color:#57606a}dl.facts dd{margin:0;font-family:ui-monospace,monospace;word-break:break-all}
table{border-collapse:collapse;width:100%;table-layout:fixed}
td{overflow-wrap:anywhere}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
th{background:#f6f8fa}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.verdict{font-weight:600;white-space:nowrap}
tr.pass .verdict{color:#1a7f37}tr.fail .verdict{color:#cf222e}
tr.expected .verdict{color:#9a6700}tr.not-verified .verdict{color:#57606a}
tr.fail{background:#fff5f5}
.note{color:#57606a;font-size:.9rem}
details{margin:.4rem 0 .2rem}summary{cursor:pointer;color:#0969da}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;white-space:pre-wrap;word-break:break-word;margin:.25rem 0 .6rem}
.notices{border-left:4px solid #bf8700;padding:.25rem .75rem;background:#fff8c5;margin-bottom:1rem}
";

/// The report as one HTML page.
pub fn render_html(report: &Report) -> String {
    let mut out = String::new();
    let s = report.summary();
    let title = format!("dx-conformance report: {}", report.target);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(out, "<h1>dx-conformance report</h1>");
    let _ = writeln!(
        out,
        "<p class=\"summary\" id=\"summary\" data-pass=\"{}\" data-fail=\"{}\" data-expected-fail=\"{}\" data-not-verified=\"{}\"><strong>{}</strong> in {}.</p>",
        s.pass,
        s.fail,
        s.expected_fail,
        s.not_verified,
        esc(&summary_line(report)),
        esc(&seconds(report.duration))
    );
    out.push_str("<dl class=\"facts\">\n");
    for (label, value) in header_facts(report) {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", esc(label), esc(&value));
    }
    out.push_str("</dl>\n");
    if !report.notices.is_empty() {
        out.push_str("<div class=\"notices\"><p>Notices:</p><ul>\n");
        for notice in &report.notices {
            let _ = writeln!(out, "<li>{}</li>", esc(&notice.message()));
        }
        out.push_str("</ul></div>\n");
    }
    out.push_str("<table id=\"checks\">\n<colgroup><col style=\"width:7rem\"><col><col style=\"width:8rem\"><col style=\"width:9rem\"><col style=\"width:4rem\"><col style=\"width:5rem\"></colgroup>\n<thead><tr><th>check</th><th>title</th><th>requirements</th><th>verdict</th><th>cases</th><th>time</th></tr></thead>\n<tbody>\n");
    for r in &report.results {
        row(&mut out, report, r);
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}

fn row(out: &mut String, report: &Report, r: &CheckResult) {
    let class = match (&r.verdict, &r.expected) {
        (Verdict::Pass, _) => "pass",
        (Verdict::Fail(_), None) => "fail",
        (Verdict::Fail(_), Some(_)) => "expected",
        (Verdict::NotVerified(_), _) => "not-verified",
    };
    let _ = write!(
        out,
        "<tr class=\"{class}\" id=\"check-{}\"><td>{}</td><td>{}",
        esc(&r.id),
        esc(&r.id),
        esc(&r.title)
    );
    if let Some(note) = verdict_note(r) {
        let _ = write!(out, "<div class=\"note\">{}</div>", esc(&note));
    }
    if let Verdict::Fail(f) = &r.verdict {
        let open = if r.expected.is_none() { " open" } else { "" };
        let _ = write!(out, "<details{open}><summary>evidence</summary>");
        if let Some(st) = &r.statement {
            let _ = write!(out, "<p><strong>Statement:</strong> {}</p>", esc(st));
        }
        let _ = write!(
            out,
            "<p><strong>Expected:</strong> {}</p><p><strong>Actual:</strong></p><pre>{}</pre>",
            esc(&f.expected),
            esc(&f.actual)
        );
        if let Some(c) = &f.counterexample {
            let _ = write!(
                out,
                "<p><strong>Counterexample:</strong></p><pre>{}</pre>",
                esc(c)
            );
        }
        if let Some(exchange) = &f.replay {
            let _ = write!(
                out,
                "<p><strong>Exchange:</strong></p><pre>{}</pre>",
                esc(exchange)
            );
        }
        if let Some(command) = report.replay_of(&r.id) {
            let _ = write!(
                out,
                "<p><strong>Replay:</strong></p><pre class=\"replay\">{}</pre>",
                esc(command)
            );
        }
        out.push_str("</details>");
    }
    let _ = writeln!(
        out,
        "</td><td>{}</td><td class=\"verdict\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        esc(&r.requirements.join(", ")),
        esc(verdict_word(r)),
        r.cases,
        esc(&seconds(r.duration))
    );
}
