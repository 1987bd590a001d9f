//! The terminal report: a header naming the target, a table of checks that fits the
//! terminal's width (ids and verdicts first, the title cut to fit), the not-verified checks
//! by reason, the passes in part, then the evidence of every failure. Requirement ids and
//! other detail live in the file reports.

use std::fmt::Write as _;

use super::{
    Standing, header_facts, not_verified_by_reason, seconds, summary_line, verdict_note,
    verdict_word,
};
use crate::runner::Report;
use crate::verdict::{CheckResult, Verdict};

/// How a terminal report is laid out: its width in columns and whether verdicts are
/// coloured (only on a terminal that wants colour: the caller decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Columns every table line fits in.
    pub width: usize,
    /// Whether to write ANSI colours.
    pub color: bool,
}

impl Style {
    /// What a file or a pipe gets: 100 columns, no colour.
    pub const PLAIN: Self = Self {
        width: DEFAULT_WIDTH,
        color: false,
    };

    /// The width when the terminal's is unknown.
    pub const fn plain_width() -> usize {
        DEFAULT_WIDTH
    }

    /// `self` with the width kept within what a table can use.
    fn fitted(self) -> Self {
        Self {
            width: self.width.max(MIN_WIDTH),
            ..self
        }
    }

    fn paint(self, standing: Standing, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        use anstyle::{AnsiColor, Style as Ansi};
        let style = match standing {
            Standing::Pass => Ansi::new().fg_color(Some(AnsiColor::Green.into())),
            Standing::Fail => Ansi::new().fg_color(Some(AnsiColor::Red.into())).bold(),
            Standing::ExpectedFail => Ansi::new().fg_color(Some(AnsiColor::Magenta.into())),
            Standing::PassInPart => Ansi::new().fg_color(Some(AnsiColor::Yellow.into())),
            Standing::NotVerified => Ansi::new().dimmed(),
        };
        format!("{style}{text}{style:#}")
    }
}

impl Default for Style {
    fn default() -> Self {
        Self::PLAIN
    }
}

/// The width of a report written to a file or a pipe, and of a terminal whose width is
/// unknown.
const DEFAULT_WIDTH: usize = 100;

/// Narrower than this, a table has no room for a title: lines are laid out for it anyway.
const MIN_WIDTH: usize = 60;

/// The verdict column: as wide as its longest word, `EXPECTED FAILURE`.
const VERDICT_W: usize = 16;
const CASES_W: usize = 5;
const TIME_W: usize = 8;

/// Ids are what `--only`, `--skip` and expected-failures files take, so they are shown whole;
/// the column is as wide as the longest up to this, and a longer id pushes its title along.
const MAX_ID_W: usize = 28;

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

/// One table row for `r`: id, verdict, cases, time, and the title cut to fit `style.width`.
/// The live progress of a run prints the same rows as checks finish.
pub fn check_line(r: &CheckResult, style: Style, id_w: usize) -> String {
    let style = style.fitted();
    let id = format!("{:<id_w$}", r.id);
    let standing = Standing::of(r);
    let verdict = style.paint(
        standing,
        &format!("{:<VERDICT_W$}", verdict_word(r).to_uppercase()),
    );
    let used = id.chars().count() + 2 + VERDICT_W + 2 + CASES_W + 2 + TIME_W + 2;
    let title = truncate(&r.title, style.width.saturating_sub(used).max(1));
    format!(
        "{id}  {verdict}  {:>CASES_W$}  {:>TIME_W$}  {title}",
        r.cases,
        seconds(r.duration)
    )
}

/// The width of the id column for `results`.
pub fn id_width<'a>(results: impl IntoIterator<Item = &'a CheckResult>) -> usize {
    results
        .into_iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(5)
        .clamp(5, MAX_ID_W)
}

/// `text` broken into lines of at most `width` characters at spaces, each after `indent`.
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let room = width.saturating_sub(indent.chars().count()).max(20);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let needed = line.chars().count() + usize::from(!line.is_empty()) + word.chars().count();
        if !line.is_empty() && needed > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
        .iter()
        .map(|l| format!("{indent}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The report as plain text for a terminal 100 columns wide, without colour (a file's).
pub fn render_terminal(report: &Report) -> String {
    render_terminal_with(report, Style::PLAIN)
}

/// The report as text for a terminal laid out as `style` says.
pub fn render_terminal_with(report: &Report, style: Style) -> String {
    let style = style.fitted();
    let width = style.width;
    let mut out = String::new();
    let _ = writeln!(out, "dx-conformance report");
    for (label, value) in header_facts(report) {
        let _ = writeln!(out, "  {:<16}{value}", format!("{label}:"));
    }
    out.push('\n');

    let id_w = id_width(&report.results);
    let header = format!(
        "{:<id_w$}  {:<VERDICT_W$}  {:>CASES_W$}  {:>TIME_W$}  TITLE",
        "CHECK", "VERDICT", "CASES", "TIME"
    );
    let _ = writeln!(out, "{}", truncate(&header, width));
    let _ = writeln!(out, "{}", "-".repeat(width));
    for r in &report.results {
        let _ = writeln!(out, "{}", check_line(r, style, id_w));
    }

    let groups = not_verified_by_reason(report);
    if !groups.is_empty() {
        let count: usize = groups.iter().map(|(_, g)| g.len()).sum();
        let _ = writeln!(
            out,
            "\n{}",
            style.paint(
                Standing::NotVerified,
                &format!("Not verified ({count}), by reason:")
            )
        );
        for (reason, group) in groups {
            let _ = writeln!(
                out,
                "{}",
                wrap(&format!("{} × {reason}", group.len()), width, "  ")
            );
            let ids: Vec<&str> = group.iter().map(|r| r.id.as_str()).collect();
            let _ = writeln!(out, "{}", wrap(&ids.join(" "), width, "      "));
        }
    }
    let in_part: Vec<&CheckResult> = super::with_standing(report, Standing::PassInPart);
    if !in_part.is_empty() {
        let _ = writeln!(
            out,
            "\n{}",
            style.paint(
                Standing::PassInPart,
                &format!("Passed in part ({}):", in_part.len())
            )
        );
        for r in in_part {
            let note = r.unverified.as_deref().unwrap_or_default();
            let _ = writeln!(
                out,
                "{}",
                wrap(&format!("{}: not verified: {note}", r.id), width, "  ")
            );
        }
    }

    for r in report.results.iter().filter(|r| r.verdict.is_fail()) {
        let Verdict::Fail(f) = &r.verdict else {
            continue;
        };
        let standing = Standing::of(r);
        let _ = writeln!(
            out,
            "\n=== {} {} {} [{}]",
            style.paint(standing, &verdict_word(r).to_uppercase()),
            r.id,
            r.title,
            r.requirements.join(", ")
        );
        if let Some(known) = &r.expected {
            let _ = writeln!(out, "Expected until: {} ({})", known.expires, known.reason);
        }
        if let Some(st) = &r.statement {
            let _ = writeln!(out, "Statement:      {st}");
        }
        let _ = writeln!(out, "Expected:       {}", indent(&f.expected));
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
    for notice in &report.notices {
        let _ = writeln!(
            out,
            "\n{}",
            wrap(&format!("Notice: {}", notice.message()), width, "")
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::tests::report;

    /// Every line of the table and of the blocks after it fits the width; the evidence of a
    /// failure (exchanges, commands to copy) is left whole.
    #[test]
    fn the_table_fits_the_width() {
        let mut r = report();
        r.results[1].title = "A very long title that would never fit beside the id, verdict, cases and time columns of a narrow terminal".into();
        for width in [60, 80, 100, 140] {
            let text = render_terminal_with(
                &r,
                Style {
                    width,
                    color: false,
                },
            );
            // From the table's head to the first failure's evidence.
            let start = text.find("CHECK ").unwrap_or_default();
            let end = text.find("\n=== ").unwrap_or(text.len());
            for line in text[start..end].lines() {
                assert!(line.chars().count() <= width, "{width}: {line:?}");
            }
        }
        // The old table was 150 columns wide whatever the terminal.
        let plain = render_terminal(&r);
        let row = plain
            .lines()
            .find(|l| l.starts_with("p07"))
            .unwrap_or_default();
        assert!(row.ends_with('…') && row.chars().count() == 100, "{row:?}");
    }

    #[test]
    fn colour_only_when_asked() {
        let r = report();
        let plain = render_terminal(&r);
        assert!(!plain.contains('\u{1b}'), "{plain}");
        let coloured = render_terminal_with(
            &r,
            Style {
                width: 100,
                color: true,
            },
        );
        // FAIL in red, PASS in green.
        assert!(coloured.contains("\u{1b}[1m\u{1b}[31mFAIL"), "{coloured}");
        assert!(coloured.contains("\u{1b}[32mPASS"), "{coloured}");
    }
}
