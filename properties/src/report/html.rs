//! One self-contained HTML page (no external stylesheet, script, font or image), the report
//! people open to triage a run: the summary and the run's facts, links to every failure,
//! then the checks in triage order (failures, expected failures, not verified by reason,
//! passes in part, passes), with a filter by text and verdict. A failed check's evidence
//! (statement, expected, actual, counterexample, exchange, replay command) starts open.
//! Ids never wrap; only payloads (bodies, exchanges, hashes) break anywhere.

use std::fmt::Write as _;

use super::{
    Standing, cause, escape_markup as esc, header_facts, not_verified_by_reason, seconds,
    summary_line, verdict_note, verdict_word,
};
use crate::runner::Report;
use crate::verdict::{CheckResult, Verdict};

const STYLE: &str = "
body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1b1f24;background:#fff}
h1{font-size:1.5rem;margin:0 0 .25rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
h3{font-size:1rem;margin:1rem 0 .4rem;font-weight:600}
.summary{font-size:1.1rem;margin:.5rem 0 1rem}
dl.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:.15rem 1rem;margin:0 0 1.5rem}
dl.facts dt{color:#57606a}dl.facts dd{margin:0;font-family:ui-monospace,monospace;overflow-wrap:anywhere}
nav.failures{border-left:4px solid #cf222e;background:#fff5f5;padding:.25rem .75rem;margin-bottom:1rem}
nav.failures ul{margin:.25rem 0;padding-left:1.25rem}
nav.failures .cause{color:#57606a}
.filter{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;margin:1rem 0;padding:.5rem;background:#f6f8fa;border:1px solid #d0d7de}
.filter input[type=search]{flex:1 1 14rem;min-width:0;font:inherit;padding:.2rem .4rem}
.filter label{white-space:nowrap}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
th{background:#f6f8fa}
td.id,a.id{font-family:ui-monospace,monospace}
.seg{white-space:nowrap}
td.title{width:100%}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{font-weight:600;white-space:nowrap}
tr.pass .verdict{color:#1a7f37}tr.fail .verdict{color:#cf222e}
tr.expected .verdict{color:#8250df}tr.in-part .verdict{color:#9a6700}tr.not-verified .verdict{color:#57606a}
tr.fail,tr.evidence.of-fail{background:#fff5f5}
tr.check.with-evidence td{border-bottom:none}
tr.evidence td{padding-top:0}
tr:target{outline:2px solid #0969da}
.note{color:#57606a;font-size:.9rem}
.expected{white-space:pre-line}
details{margin:.4rem 0 .2rem}summary{cursor:pointer;color:#0969da}
pre{background:#f6f8fa;padding:.6rem;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;margin:.25rem 0 .6rem}
.notices{border-left:4px solid #bf8700;padding:.25rem .75rem;background:#fff8c5;margin-bottom:1rem}
[hidden]{display:none}
";

/// Hides the rows the filter leaves out, and the groups left empty. Inline, since the page
/// must open from a CI artefact with nothing else beside it.
const SCRIPT: &str = "
(function(){
var q=document.getElementById('q');
var boxes=[].slice.call(document.querySelectorAll('.filter input[type=checkbox]'));
function apply(){
var text=q.value.trim().toLowerCase();
var shown={};boxes.forEach(function(b){shown[b.value]=b.checked;});
[].slice.call(document.querySelectorAll('tr.check')).forEach(function(tr){
tr.hidden=!(shown[tr.dataset.standing]&&(!text||tr.dataset.text.indexOf(text)>=0));
var next=tr.nextElementSibling;if(next&&next.classList.contains('evidence')){next.hidden=tr.hidden;}});
[].slice.call(document.querySelectorAll('.group')).forEach(function(g){
g.hidden=!g.querySelector('tr.check:not([hidden])');});
}
q.addEventListener('input',apply);boxes.forEach(function(b){b.addEventListener('change',apply);});
})();
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
    failure_links(&mut out, report);
    filter(&mut out, report);

    for standing in Standing::ALL {
        if standing == Standing::NotVerified {
            let groups = not_verified_by_reason(report);
            if groups.is_empty() {
                continue;
            }
            let count: usize = groups.iter().map(|(_, g)| g.len()).sum();
            let _ = writeln!(
                out,
                "<section class=\"group\" id=\"not-verified\"><h2>Not verified ({count})</h2>"
            );
            for (reason, group) in groups {
                let _ = writeln!(
                    out,
                    "<div class=\"group\"><h3>{} ({})</h3>",
                    esc(reason),
                    group.len()
                );
                table(&mut out, report, &group);
                out.push_str("</div>\n");
            }
            out.push_str("</section>\n");
            continue;
        }
        let rows: Vec<&CheckResult> = super::with_standing(report, standing);
        if rows.is_empty() {
            continue;
        }
        let heading = match standing {
            Standing::Fail => "Failures",
            Standing::ExpectedFail => "Expected failures",
            Standing::PassInPart => "Passed in part",
            Standing::NotVerified | Standing::Pass => "Passed",
        };
        let _ = writeln!(
            out,
            "<section class=\"group\" id=\"{}\"><h2>{heading} ({})</h2>",
            standing.key(),
            rows.len()
        );
        table(&mut out, report, &rows);
        out.push_str("</section>\n");
    }
    let _ = write!(out, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    out
}

/// The list of links to every failure, at the top, with each one's cause.
fn failure_links(out: &mut String, report: &Report) {
    let failures: Vec<&CheckResult> = super::with_standing(report, Standing::Fail);
    if failures.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<nav class=\"failures\" aria-label=\"failures\"><strong>{} failed:</strong><ul>",
        failures.len()
    );
    for r in failures {
        if let Verdict::Fail(f) = &r.verdict {
            let _ = writeln!(
                out,
                "<li><a class=\"id\" href=\"#{}\">{}</a> {} <span class=\"cause\">· {}</span></li>",
                esc(&r.id),
                id_html(&r.id),
                esc(&r.title),
                esc(&super::truncate(cause(f), 160))
            );
        }
    }
    out.push_str("</ul></nav>\n");
}

/// The text box and a box per verdict present.
fn filter(out: &mut String, report: &Report) {
    out.push_str("<div class=\"filter\" role=\"search\"><input type=\"search\" id=\"q\" placeholder=\"filter: id, title, tag, requirement, reason\" aria-label=\"filter\">");
    for standing in Standing::ALL {
        let count = super::with_standing(report, standing).len();
        if count > 0 {
            let _ = write!(
                out,
                "<label><input type=\"checkbox\" value=\"{}\" checked> {} ({count})</label>",
                standing.key(),
                standing.word()
            );
        }
    }
    out.push_str("</div>\n");
}

fn table(out: &mut String, report: &Report, rows: &[&CheckResult]) {
    out.push_str("<table>\n<thead><tr><th>check</th><th>title</th><th>verdict</th><th class=\"num\">cases</th><th class=\"num\">time</th></tr></thead>\n<tbody>\n");
    for r in rows {
        row(out, report, r);
    }
    out.push_str("</tbody>\n</table>\n");
}

/// An id, breakable only after its `:` and `/` (a scenario's id runs to 43 characters, too
/// wide for a narrow window), never inside a word or at a hyphen.
fn id_html(id: &str) -> String {
    let mut out = String::new();
    let mut segment = String::new();
    for c in id.chars() {
        segment.push(c);
        if matches!(c, ':' | '/') {
            let _ = write!(out, "<span class=\"seg\">{}</span><wbr>", esc(&segment));
            segment.clear();
        }
    }
    if !segment.is_empty() {
        let _ = write!(out, "<span class=\"seg\">{}</span>", esc(&segment));
    }
    out
}

fn row(out: &mut String, report: &Report, r: &CheckResult) {
    let standing = Standing::of(r);
    let searchable = format!(
        "{} {} {} {} {} {}",
        r.id,
        r.title,
        r.tags.join(" "),
        r.requirements.join(" "),
        verdict_note(r).unwrap_or_default(),
        match &r.verdict {
            Verdict::Fail(f) => cause(f),
            _ => "",
        }
    )
    .to_lowercase();
    let _ = write!(
        out,
        "<tr class=\"{} check{}\" id=\"{}\" data-standing=\"{}\" data-text=\"{}\"><td class=\"id\">{}</td><td class=\"title\">{}",
        standing.key(),
        if r.verdict.is_fail() {
            " with-evidence"
        } else {
            ""
        },
        esc(&r.id),
        standing.key(),
        esc(&searchable),
        id_html(&r.id),
        esc(&r.title)
    );
    if !r.requirements.is_empty() {
        let _ = write!(
            out,
            "<div class=\"note\">requirements {}</div>",
            esc(&r.requirements.join(", "))
        );
    }
    // A not-verified check's reason heads its group.
    if standing != Standing::NotVerified
        && let Some(note) = verdict_note(r)
    {
        let _ = write!(out, "<div class=\"note\">{}</div>", esc(&note));
    }
    let _ = writeln!(
        out,
        "</td><td class=\"verdict\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
        esc(verdict_word(r)),
        r.cases,
        esc(&seconds(r.duration))
    );
    if let Verdict::Fail(f) = &r.verdict {
        let open = if r.expected.is_none() { " open" } else { "" };
        let _ = write!(
            out,
            "<tr class=\"evidence of-{}\"><td colspan=\"5\"><details{open}><summary>evidence</summary>",
            standing.key()
        );
        if let Some(st) = &r.statement {
            let _ = write!(out, "<p><strong>Statement:</strong> {}</p>", esc(st));
        }
        let _ = write!(
            out,
            "<p class=\"expected\"><strong>Expected:</strong> {}</p><p><strong>Actual:</strong></p><pre>{}</pre>",
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
        out.push_str("</details></td></tr>\n");
    }
}
