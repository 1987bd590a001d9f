//! Markdown, fit for a pull-request comment: the summary and the run's facts, then every
//! failure with its evidence and the command that replays it, then the rest folded in
//! `<details>` (expected failures, not verified by reason, passes in part, passes). A comment
//! holds at most [`COMMENT_LIMIT`] characters, so when the failures' evidence would not fit,
//! each is cut to a fair share with a pointer to the HTML and JSON reports, which hold it
//! whole.

use std::fmt::Write as _;

use super::{
    Standing, cause, header_facts, not_verified_by_reason, seconds, summary_line, truncate,
    verdict_word,
};
use crate::runner::Report;
use crate::verdict::{CheckResult, Verdict};

/// GitHub refuses a comment (an issue's or a pull request's) longer than this.
pub const COMMENT_LIMIT: usize = 65_536;

/// Kept free under [`COMMENT_LIMIT`] for what a CI job adds around the report (a heading, a
/// link to the run).
const RESERVE: usize = 2_048;

/// Below this share of the budget a failure's evidence is not worth quoting: the failure
/// keeps its row in the table of failures and a pointer to the full reports.
const MIN_EVIDENCE: usize = 700;

/// The longest cause quoted in the table of failures.
const CAUSE_W: usize = 100;

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

/// `text` cut to about `limit` bytes, on a character boundary, saying so.
fn cut(text: &str, limit: Option<usize>) -> String {
    match limit {
        Some(limit) if text.len() > limit => {
            let mut end = limit;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!(
                "{}… [{} more bytes: see the HTML or JSON report]",
                &text[..end],
                text.len() - end
            )
        }
        _ => text.to_owned(),
    }
}

/// One failure's section; with `limit`, each block of evidence cut to about that many bytes.
fn failure_section(report: &Report, r: &CheckResult, limit: Option<usize>) -> String {
    let mut out = String::new();
    let Verdict::Fail(f) = &r.verdict else {
        return out;
    };
    let _ = writeln!(
        out,
        "\n### <a id=\"{}\"></a>{} {} ({})\n",
        anchor(&r.id),
        r.id,
        r.title,
        verdict_word(r)
    );
    if let Some(known) = &r.expected {
        let _ = writeln!(
            out,
            "Expected until {}: {}\n",
            known.expires,
            cell(&known.reason)
        );
    }
    if !r.requirements.is_empty() {
        let _ = writeln!(out, "Requirements: {}\n", r.requirements.join(", "));
    }
    if let Some(st) = &r.statement {
        let _ = writeln!(out, "> {}\n", cell(&cut(st, limit)));
    }
    let _ = writeln!(out, "- **Expected:** {}", cell(&cut(&f.expected, limit)));
    let _ = writeln!(out, "\n{}", fenced("text", &cut(&f.actual, limit)));
    if let Some(c) = &f.counterexample {
        let _ = writeln!(
            out,
            "\nCounterexample:\n\n{}",
            fenced("text", &cut(c, limit))
        );
    }
    if let Some(exchange) = &f.replay {
        let _ = writeln!(
            out,
            "\nExchange:\n\n{}",
            fenced("sh", &cut(exchange, limit))
        );
    }
    if let Some(command) = report.replay_of(&r.id) {
        let _ = writeln!(out, "\nReplay:\n\n{}", fenced("sh", command));
    }
    out
}

/// An anchor name for a check id (GitHub keeps `id`s in comments prefixed `user-content-`,
/// and links to `#id` still work).
fn anchor(id: &str) -> String {
    id.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// A folded section: `summary` shown, `body` behind a click.
fn folded(summary: &str, body: &str) -> String {
    format!("\n<details><summary>{summary}</summary>\n\n{body}\n</details>\n")
}

/// The report as Markdown, under [`COMMENT_LIMIT`] characters.
pub fn render_markdown(report: &Report) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "# dx-conformance report\n");
    let _ = writeln!(
        head,
        "**{}** in {}.\n",
        summary_line(report),
        seconds(report.duration)
    );
    let facts: Vec<String> = header_facts(report)
        .into_iter()
        .map(|(label, value)| format!("{label} `{}`", value.replace('`', "'")))
        .collect();
    let _ = writeln!(head, "{}\n", facts.join(" · "));
    for notice in &report.notices {
        let _ = writeln!(head, "- {}", cell(&notice.message()));
    }
    if !report.notices.is_empty() {
        head.push('\n');
    }

    let failing: Vec<&CheckResult> = super::with_standing(report, Standing::Fail);
    let tail = folded_rest(report);

    let mut failures = String::new();
    if !failing.is_empty() {
        let _ = writeln!(failures, "## Failures ({})\n", failing.len());
        let _ = writeln!(failures, "| check | title | cause |\n|---|---|---|");
        for r in &failing {
            if let Verdict::Fail(f) = &r.verdict {
                let _ = writeln!(
                    failures,
                    "| [{}](#{}) | {} | {} |",
                    cell(&r.id),
                    anchor(&r.id),
                    cell(&r.title),
                    cell(&truncate(cause(f), CAUSE_W))
                );
            }
        }
    }
    let mut budget = COMMENT_LIMIT
        .saturating_sub(RESERVE)
        .saturating_sub(head.len() + failures.len() + tail.len());
    let mut left_out = 0;
    for (at, r) in failing.iter().enumerate() {
        let share = budget / (failing.len() - at);
        let whole = failure_section(report, r, None);
        let section = if whole.len() <= share {
            whole
        } else if share >= MIN_EVIDENCE {
            // Six blocks at most (statement, expected, actual, counterexample, exchange and
            // the fixed lines around them).
            let mut limit = share / 6;
            let mut section = failure_section(report, r, Some(limit));
            while section.len() > share && limit > 40 {
                limit = limit * 3 / 4;
                section = failure_section(report, r, Some(limit));
            }
            section
        } else {
            String::new()
        };
        if section.is_empty() || section.len() > share {
            left_out += 1;
            continue;
        }
        budget = budget.saturating_sub(section.len());
        failures.push_str(&section);
    }
    if left_out > 0 {
        let _ = writeln!(
            failures,
            "\n_The evidence of {left_out} more failures does not fit in a comment: see the HTML or JSON report (`--out report.html --out report.json`)._"
        );
    }
    format!("{head}{failures}{tail}")
}

/// Everything but the failures, each kind folded.
fn folded_rest(report: &Report) -> String {
    let mut out = String::new();
    let expected: Vec<&CheckResult> = super::with_standing(report, Standing::ExpectedFail);
    if !expected.is_empty() {
        let body: String = expected
            .iter()
            .map(|r| failure_section(report, r, Some(600)))
            .collect();
        out.push_str(&folded(
            &format!("Expected failures ({})", expected.len()),
            &body,
        ));
    }
    let groups = not_verified_by_reason(report);
    if !groups.is_empty() {
        let count: usize = groups.iter().map(|(_, g)| g.len()).sum();
        let mut body = String::new();
        for (reason, group) in groups {
            let ids: Vec<String> = group.iter().map(|r| format!("`{}`", r.id)).collect();
            let _ = writeln!(
                body,
                "- **{}** ({}): {}",
                cell(reason),
                group.len(),
                ids.join(", ")
            );
        }
        out.push_str(&folded(&format!("Not verified ({count})"), &body));
    }
    let table = |standing: Standing, note: bool| {
        let rows: Vec<&CheckResult> = super::with_standing(report, standing);
        if rows.is_empty() {
            return String::new();
        }
        let mut body = String::from(if note {
            "| check | title | requirements | not verified | cases | time |\n|---|---|---|---|---|---|\n"
        } else {
            "| check | title | requirements | cases | time |\n|---|---|---|---|---|\n"
        });
        for r in &rows {
            let extra = if note {
                format!(" {} |", cell(r.unverified.as_deref().unwrap_or_default()))
            } else {
                String::new()
            };
            let _ = writeln!(
                body,
                "| {} | {} | {} |{extra} {} | {} |",
                cell(&r.id),
                cell(&r.title),
                r.requirements.join(", "),
                r.cases,
                seconds(r.duration)
            );
        }
        let title = match standing {
            Standing::PassInPart => "Passed in part",
            _ => "Passed",
        };
        folded(&format!("{title} ({})", rows.len()), &body)
    };
    out.push_str(&table(Standing::PassInPart, true));
    out.push_str(&table(Standing::Pass, false));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::report;
    use crate::verdict::Failure;

    /// Every check failing with long evidence (the whole catalogue against a target that
    /// answers nothing right) still makes one comment, each failure named.
    #[test]
    fn every_check_failing_stays_under_the_comment_limit() {
        let mut r = report();
        let template = r.results[0].clone();
        r.results = (1..=144)
            .map(|i| {
                let mut c = template.clone();
                c.id = format!("p{i:03}");
                c.verdict = Verdict::Fail(Failure {
                    expected: "spec/error-format.md, \"The envelope\": x ".repeat(20),
                    actual: format!("HTTP 500\n{}", "body of the response ".repeat(400)),
                    counterexample: Some("[Poison(1)] ".repeat(300)),
                    replay: Some(format!("curl -i 'http://127.0.0.1:9/{}'", "x".repeat(3000))),
                });
                c
            })
            .collect();
        let md = render_markdown(&r);
        assert!(md.chars().count() < COMMENT_LIMIT, "{}", md.len());
        assert!(md.len() < COMMENT_LIMIT, "{}", md.len());
        for i in 1..=144 {
            assert!(md.contains(&format!("[p{i:03}](#p{i:03})")), "p{i:03}");
        }
        assert!(md.contains("see the HTML or JSON report"));
        // The old rendering: one table row and the whole evidence per failure.
        assert!(
            md.matches("```text").count() > 10,
            "some evidence is quoted"
        );
    }

    #[test]
    fn failures_first_and_the_rest_folded() {
        let md = render_markdown(&report());
        let failures = md.find("## Failures (1)").unwrap();
        let not_verified = md.find("<details><summary>Not verified (1)").unwrap();
        let passes = md.find("<details><summary>Passed (1)").unwrap();
        assert!(failures < not_verified && not_verified < passes, "{md}");
        assert!(md.contains("<details><summary>Expected failures (1)"));
        assert!(md.contains("<details><summary>Passed in part (1)"));
    }
}
