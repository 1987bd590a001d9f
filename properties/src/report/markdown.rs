//! The Markdown report, for pull requests and wikis.

use std::fmt::Write as _;

use super::seconds;
use crate::runner::Report;
use crate::verdict::Verdict;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The report as Markdown.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let s = report.summary();
    let _ = writeln!(out, "# dx-conformance report\n");
    let _ = writeln!(
        out,
        "Target `{}` ({} {}, profile `{}`{}), seed {}: **{} passed, {} failed, {} not verified** in {}.\n",
        report.target,
        report.implementation.0,
        report.implementation.1,
        report.profile,
        report
            .mutant
            .as_ref()
            .map(|m| format!(", mutant `{m}`"))
            .unwrap_or_default(),
        report.seed,
        s.pass,
        s.fail,
        s.not_verified,
        seconds(report.duration)
    );
    let _ = writeln!(
        out,
        "| check | title | requirements | verdict | cases | time |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in &report.results {
        let verdict = match &r.verdict {
            Verdict::Pass => "pass".to_owned(),
            Verdict::Fail(_) => "**fail**".to_owned(),
            Verdict::NotVerified(why) => format!("not verified: {}", cell(why)),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            cell(&r.id),
            cell(&r.title),
            r.requirements.join(", "),
            verdict,
            r.cases,
            seconds(r.duration)
        );
    }
    for r in &report.results {
        if let Verdict::Fail(f) = &r.verdict {
            let _ = writeln!(out, "\n## {} {}\n", r.id, r.title);
            if let Some(st) = &r.statement {
                let _ = writeln!(out, "> {st}\n");
            }
            let _ = writeln!(out, "- **Expected:** {}", cell(&f.expected));
            let _ = writeln!(out, "\n```text\n{}\n```", f.actual);
            if let Some(c) = &f.counterexample {
                let _ = writeln!(out, "\nCounterexample:\n\n```text\n{c}\n```");
            }
            if let Some(replay) = &f.replay {
                let _ = writeln!(out, "\nReplay:\n\n```sh\n{replay}\n```");
            }
        }
    }
    out
}
