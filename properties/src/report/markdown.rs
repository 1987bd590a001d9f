//! Markdown, fit for a pull-request comment: a summary line, the run's facts, a table of
//! checks, then each failure with its evidence and the command that replays it.

use std::fmt::Write as _;

use super::{header_facts, seconds, summary_line, verdict_note, verdict_word};
use crate::runner::Report;
use crate::verdict::Verdict;

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// A fenced block that no line of `text` can close.
fn fenced(info: &str, text: &str) -> String {
    let longest = text
        .lines()
        .map(|l| l.chars().take_while(|c| *c == '`').count())
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{info}\n{text}\n{fence}")
}

/// The report as Markdown.
pub fn render_markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# dx-conformance report\n");
    let _ = writeln!(
        out,
        "**{}** in {}.\n",
        summary_line(report),
        seconds(report.duration)
    );
    let facts: Vec<String> = header_facts(report)
        .into_iter()
        .map(|(label, value)| format!("{label} `{}`", value.replace('`', "'")))
        .collect();
    let _ = writeln!(out, "{}\n", facts.join(" · "));
    for notice in &report.notices {
        let _ = writeln!(out, "- {}", cell(&notice.message()));
    }
    if !report.notices.is_empty() {
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "| check | title | requirements | verdict | cases | time |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for r in &report.results {
        let word = verdict_word(r);
        let verdict = match (verdict_note(r), r.verdict.is_fail() && r.expected.is_none()) {
            (_, true) => format!("**{word}**"),
            (Some(note), false) => format!("{word}: {}", cell(&note)),
            (None, false) => word.to_owned(),
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
            let _ = writeln!(out, "\n## {} {} ({})\n", r.id, r.title, verdict_word(r));
            if let Some(st) = &r.statement {
                let _ = writeln!(out, "> {}\n", cell(st));
            }
            let _ = writeln!(out, "- **Expected:** {}", cell(&f.expected));
            let _ = writeln!(out, "\n{}", fenced("text", &f.actual));
            if let Some(c) = &f.counterexample {
                let _ = writeln!(out, "\nCounterexample:\n\n{}", fenced("text", c));
            }
            if let Some(exchange) = &f.replay {
                let _ = writeln!(out, "\nExchange:\n\n{}", fenced("sh", exchange));
            }
            if let Some(command) = report.replay_of(&r.id) {
                let _ = writeln!(out, "\nReplay:\n\n{}", fenced("sh", command));
            }
        }
    }
    out
}
