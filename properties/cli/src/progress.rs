//! Live progress on standard error: on a terminal, a spinner line naming the checks running
//! and any wait for the target's rate limits, cut to the terminal's width so it never wraps
//! (a wrapped line is redrawn below itself at every tick); elsewhere one line per wait. A
//! row per finished check, as the report's table lays it out, either way.

use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dx_conformance::report::{Style, check_line, truncate};
use dx_conformance::{CheckResult, Progress, Target};
use indicatif::{ProgressBar, ProgressStyle};

use crate::term::{ColorWhen, Stream, style_for};

/// The spinner and the elapsed time before the message: `⠋  12s `.
const SPINNER_W: usize = 7;

/// The id column of the rows printed as checks finish: most ids fit, a longer one pushes
/// its row along.
const ID_W: usize = 10;

/// What the progress line says.
#[derive(Debug, Default)]
pub struct Line {
    /// The rate-limit budget the run waits for, and the wait so far.
    waiting: Option<String>,
    /// The checks running now, `id title`.
    running: Vec<String>,
}

impl Line {
    /// The line, at most `width` characters: the wait first (it explains a stall), then
    /// the checks running.
    pub fn render(&self, width: usize) -> String {
        let mut text = String::new();
        if let Some(waiting) = &self.waiting {
            text.push_str(waiting);
            text.push_str(" · ");
        }
        if !self.running.is_empty() {
            text.push_str("running: ");
            text.push_str(&self.running.join(" | "));
        }
        truncate(&text, width)
    }
}

/// Live progress of a run.
#[derive(Debug)]
pub struct Display {
    bar: Option<ProgressBar>,
    line: Arc<Mutex<Line>>,
    style: Style,
    /// The task that shows what the run waits for (`watch_budgets`).
    watcher: std::cell::RefCell<Option<tokio::task::JoinHandle<()>>>,
}

impl Display {
    /// A display on standard error, coloured as `color` says.
    pub fn new(color: ColorWhen) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
                bar.set_style(style);
            }
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Self {
            bar,
            line: Arc::new(Mutex::new(Line::default())),
            style: style_for(Stream::Stderr, color),
            watcher: std::cell::RefCell::new(None),
        }
    }

    /// Shows, while the run waits for one of the target's rate-limit budgets, which one and
    /// for how long (`--max-wait` bounds it): on the progress line of a terminal, as one line
    /// per wait elsewhere.
    pub fn watch_budgets(&self, budgets: Arc<dx_conformance::budget::Budgets>) {
        let bar = self.bar.clone();
        let line = Arc::clone(&self.line);
        let width = self.style.width;
        let task = tokio::spawn(async move {
            let mut shown: Option<String> = None;
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let waiting = budgets.waiting();
                let max = budgets.max_wait().as_secs();
                match &bar {
                    Some(bar) => {
                        if let Ok(mut line) = line.lock() {
                            line.waiting = waiting.as_ref().map(|(what, since)| {
                                format!(
                                    "waiting {} s for {what} (--max-wait {max} s)",
                                    since.as_secs()
                                )
                            });
                            bar.set_message(line.render(width.saturating_sub(SPINNER_W)));
                        }
                    }
                    None => {
                        if let Some((what, _)) = &waiting
                            && shown.as_ref() != Some(what)
                        {
                            eprintln!(
                                "{}",
                                truncate(
                                    &format!(
                                        "  waiting for {what} (at most --max-wait {max} s per check)"
                                    ),
                                    width
                                )
                            );
                        }
                    }
                }
                shown = waiting.map(|(what, _)| what);
            }
        });
        if let Some(old) = self.watcher.replace(Some(task)) {
            old.abort();
        }
    }

    /// The target's name and version, once it is reached.
    pub fn header(&self, target: &Target) {
        let d = target.discovery();
        self.line(&format!(
            "dx-conformance: testing {} ({} {}, profile {}){}",
            target.base_url().as_str().trim_end_matches('/'),
            d.implementation.name,
            d.implementation.version,
            d.profile,
            if target.is_embedded() {
                " [embedded reference]"
            } else {
                ""
            }
        ));
        for other in target.instances().iter().skip(1) {
            self.line(&format!(
                "  and its instance {}",
                other.base_url().as_str().trim_end_matches('/')
            ));
        }
    }

    /// A runner's event.
    pub fn event(&self, event: &Progress<'_>) {
        match event {
            Progress::Started { id, title } => self.started(id, title),
            Progress::Finished(result) => self.finished(result),
        }
    }

    /// `id` started.
    pub fn started(&self, id: &str, title: &str) {
        if let Ok(mut line) = self.line.lock() {
            line.running.push(format!("{id} {title}"));
        }
        self.show_running();
    }

    /// `id` stopped, without a result to show.
    pub fn stopped(&self, id: &str) {
        let prefix = format!("{id} ");
        if let Ok(mut line) = self.line.lock() {
            line.running.retain(|running| !running.starts_with(&prefix));
        }
        self.show_running();
    }

    fn show_running(&self) {
        if let (Some(bar), Ok(line)) = (&self.bar, self.line.lock()) {
            bar.set_message(line.render(self.style.width.saturating_sub(SPINNER_W)));
        }
    }

    /// `r` finished: its row.
    pub fn finished(&self, r: &CheckResult) {
        self.stopped(&r.id);
        self.line(&check_line(r, self.style, ID_W));
    }

    /// Results that come as one batch (the scenarios): rows with one id column for all.
    pub fn finished_batch(&self, results: &[CheckResult]) {
        let id_w = dx_conformance::report::id_width(results).max(ID_W);
        for r in results {
            self.stopped(&r.id);
            self.line(&check_line(r, self.style, id_w));
        }
    }

    /// A line above the progress line.
    pub fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.println(text),
            None => eprintln!("{text}"),
        }
    }

    /// Ends the display: the progress line goes.
    pub fn finish(&self) {
        if let Some(task) = self.watcher.take() {
            task.abort();
        }
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The closing lines on standard error: one per failure (id, cause, replay file) and the
/// report files once.
pub fn closing_lines(
    report: &dx_conformance::Report,
    files: &[&std::path::Path],
    width: usize,
) -> Vec<String> {
    use dx_conformance::report::{Standing, cause};
    let mut lines = Vec::new();
    let failures: Vec<&CheckResult> = dx_conformance::report::with_standing(report, Standing::Fail);
    let id_w = failures
        .iter()
        .map(|r| r.id.chars().count())
        .max()
        .unwrap_or(0);
    for r in failures {
        let dx_conformance::Verdict::Fail(f) = &r.verdict else {
            continue;
        };
        let replay = report
            .replay_of(&r.id)
            .map(|command| {
                command
                    .strip_prefix("dx-conformance replay ")
                    .unwrap_or(command)
            })
            .map(|file| format!("  {file}"))
            .unwrap_or_default();
        let room = width
            .saturating_sub(6 + id_w + 2 + replay.chars().count())
            .max(20);
        lines.push(format!(
            "FAIL  {:<id_w$}  {}{replay}",
            r.id,
            truncate(cause(f), room)
        ));
    }
    if !files.is_empty() {
        let names: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
        lines.push(format!("reports: {}", names.join(", ")));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The end of a run: a line per failure (id, cause, replay file) and the report files
    /// once; it was a "report written to" line per file and a "replay it with" line per
    /// failure.
    #[test]
    fn closing_lines_name_each_failure_once_and_the_reports_once() {
        let mut report = dx_conformance::Report::unreachable(
            "http://127.0.0.1:1",
            "target unreachable: connection refused",
            dx_conformance::CaseConfig::default(),
            Duration::ZERO,
        );
        report.replays = vec![(
            "target".into(),
            "dx-conformance replay dx-replays/target.json".into(),
        )];
        let files = [
            std::path::Path::new("r.html"),
            std::path::Path::new("r.json"),
        ];
        let lines = closing_lines(&report, &files, 100);
        assert_eq!(
            lines,
            [
                "FAIL  target  target unreachable: connection refused  dx-replays/target.json",
                "reports: r.html, r.json",
            ]
        );
        let narrow = closing_lines(&report, &[], 60);
        assert_eq!(narrow.len(), 1);
        assert!(narrow[0].contains('…'), "{narrow:?}");
        assert!(narrow[0].chars().count() <= 60, "{narrow:?}");
        assert!(narrow[0].ends_with("dx-replays/target.json"), "{narrow:?}");
    }

    #[test]
    fn the_progress_line_fits_its_width() {
        let line = Line {
            waiting: Some("waiting 12 s for the target's `auth` budget (--max-wait 300 s)".into()),
            running: (1..=8)
                .map(|i| format!("p{i:02} A check with a long title"))
                .collect(),
        };
        for width in [40, 80, 93] {
            let text = line.render(width);
            assert!(text.chars().count() <= width, "{text}");
            assert!(text.ends_with('…'), "{text}");
            assert!(text.starts_with("waiting 12 s"), "{text}");
        }
        let short = Line {
            waiting: None,
            running: vec!["p01 Hash".into()],
        };
        assert_eq!(short.render(80), "running: p01 Hash");
    }
}
