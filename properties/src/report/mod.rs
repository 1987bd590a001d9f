//! Report formats: terminal (the default), JSON, JUnit XML and Markdown. Each shows, per
//! check, id, title, requirement ids, verdict, cases and time, and for a failure the statement,
//! what was expected, what came back, the counterexample and the replay line.

mod json;
mod junit;
mod markdown;
mod terminal;

pub use json::render_json;
pub use junit::render_junit;
pub use markdown::render_markdown;
pub use terminal::{render_terminal, verdict_cell};

use std::time::Duration;

/// The available formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Table for a terminal.
    Terminal,
    /// One JSON object (spec/conformance.md).
    Json,
    /// JUnit XML for CI dashboards.
    Junit,
    /// Markdown for pull requests and wikis.
    Markdown,
}

impl Format {
    /// Parses a `--format` value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "terminal" => Some(Self::Terminal),
            "json" => Some(Self::Json),
            "junit" => Some(Self::Junit),
            "markdown" | "md" => Some(Self::Markdown),
            _ => None,
        }
    }
}

/// Renders `report` in `format`.
pub fn render(report: &crate::runner::Report, format: Format) -> String {
    match format {
        Format::Terminal => render_terminal(report),
        Format::Json => render_json(report),
        Format::Junit => render_junit(report),
        Format::Markdown => render_markdown(report),
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn seconds(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}
