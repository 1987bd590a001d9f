//! The terminal report: a header naming the target, a table of checks, then the evidence of
//! every failure.

use std::fmt::Write as _;

use super::{header_facts, seconds, summary_line, verdict_note, verdict_word};
use crate::runner::Report;
use crate::verdict::{CheckResult, Verdict};

/// A result's verdict cell: the verdict as reports word it (an expected failure told
/// apart), and its note.
pub fn verdict_cell(r: &CheckResult) -> String {
    let word = verdict_word(r).to_uppercase();
    match verdict_note(r) {
        Some(note) => format!("{word}: {note}"),
        None => word,
    }
}

/// `s` cut to `width` characters, with an ellipsis when cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        s.to_owned()
    } else {
        let cut: String = s.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// The report as plain text for a terminal.
pub fn render_terminal(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "dx-conformance report");
    for (label, value) in header_facts(report) {
        let _ = writeln!(out, "  {:<16}{value}", format!("{label}:"));
    }
    out.push('\n');

    // Ids are what `--only`, `--skip` and expected-failures files take: shown whole.
    let id_w = report
        .results
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let title_w = report
        .results
        .iter()
        .map(|r| r.title.chars().count().min(44))
        .max()
        .unwrap_or(5)
        .max(5);
    let req_w = report
        .results
        .iter()
        .map(|r| r.requirements.join(",").len().min(18))
        .max()
        .unwrap_or(4)
        .max(4);
    let _ = writeln!(
        out,
        "{:<id_w$} {:<title_w$} {:<req_w$} {:>6} {:>8}  VERDICT",
        "CHECK", "TITLE", "REQS", "CASES", "TIME"
    );
    let _ = writeln!(
        out,
        "{}",
        "-".repeat(id_w + title_w + req_w + 6 + 8 + 14 + 30)
    );
    for r in &report.results {
        let _ = writeln!(
            out,
            "{:<id_w$} {:<title_w$} {:<req_w$} {:>6} {:>8}  {}",
            r.id,
            truncate(&r.title, title_w),
            truncate(&r.requirements.join(","), req_w),
            r.cases,
            seconds(r.duration),
            verdict_cell(r)
        );
    }
    let failures: Vec<&CheckResult> = report
        .results
        .iter()
        .filter(|r| r.verdict.is_fail())
        .collect();
    for r in &failures {
        if let Verdict::Fail(f) = &r.verdict {
            let _ = writeln!(
                out,
                "\n=== {} {} {} [{}]",
                if r.expected.is_some() {
                    "EXPECTED FAILURE"
                } else {
                    "FAIL"
                },
                r.id,
                r.title,
                r.requirements.join(", ")
            );
            if let Some(st) = &r.statement {
                let _ = writeln!(out, "Statement:      {st}");
            }
            let _ = writeln!(out, "Expected:       {}", f.expected);
            let _ = writeln!(out, "Actual:         {}", indent(&f.actual));
            if let Some(c) = &f.counterexample {
                let _ = writeln!(out, "Counterexample: {}", indent(c));
            }
            if let Some(exchange) = &f.replay {
                let _ = writeln!(out, "Exchange:       {exchange}");
            }
            if let Some(command) = report.replay_of(&r.id) {
                let _ = writeln!(out, "Replay:         {command}");
            }
        }
    }
    for notice in &report.notices {
        let _ = writeln!(out, "\nNotice: {}", notice.message());
    }
    let _ = writeln!(
        out,
        "\n{} in {}",
        summary_line(report),
        seconds(report.duration)
    );
    out
}

fn indent(text: &str) -> String {
    text.lines().collect::<Vec<_>>().join("\n                ")
}
