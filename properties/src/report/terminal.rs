//! The terminal report: a header naming the target, a table of checks, then the evidence of
//! every failure.

use std::fmt::Write as _;

use super::seconds;
use crate::runner::Report;
use crate::verdict::{CheckResult, Verdict};

/// The verdict column's text.
pub fn verdict_cell(v: &Verdict) -> String {
    match v {
        Verdict::Pass => "PASS".into(),
        Verdict::Fail(_) => "FAIL".into(),
        Verdict::NotVerified(why) => format!("NOT VERIFIED: {why}"),
    }
}

fn truncate(s: &str, width: usize) -> String {
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
    let (name, version) = &report.implementation;
    let _ = writeln!(out, "dx-conformance report");
    let _ = writeln!(out, "  target:         {}", report.target);
    let _ = writeln!(out, "  implementation: {name} {version}");
    if let Some(m) = &report.mutant {
        let _ = writeln!(out, "  mutant:         {m} (deliberately broken build)");
    }
    let _ = writeln!(out, "  profile:        {}", report.profile);
    let _ = writeln!(out, "  seed:           {}", report.seed);
    out.push('\n');

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
        "{:<10} {:<title_w$} {:<req_w$} {:>6} {:>8}  VERDICT",
        "CHECK", "TITLE", "REQS", "CASES", "TIME"
    );
    let _ = writeln!(
        out,
        "{}",
        "-".repeat(10 + title_w + req_w + 6 + 8 + 14 + 30)
    );
    for r in &report.results {
        let _ = writeln!(
            out,
            "{:<10} {:<title_w$} {:<req_w$} {:>6} {:>8}  {}",
            truncate(&r.id, 10),
            truncate(&r.title, title_w),
            truncate(&r.requirements.join(","), req_w),
            r.cases,
            seconds(r.duration),
            verdict_cell(&r.verdict)
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
                "\n=== FAIL {} {} [{}]",
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
            if let Some(replay) = &f.replay {
                let _ = writeln!(out, "Replay:         {replay}");
            }
        }
    }
    let s = report.summary();
    let _ = writeln!(
        out,
        "\n{} checks in {}: {} passed, {} failed, {} not verified",
        report.results.len(),
        seconds(report.duration),
        s.pass,
        s.fail,
        s.not_verified
    );
    out
}

fn indent(text: &str) -> String {
    text.lines().collect::<Vec<_>>().join("\n                ")
}
