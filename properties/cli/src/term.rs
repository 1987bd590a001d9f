//! What the terminal allows: colour (on a terminal only, never with `NO_COLOR`, as
//! `--color` says) and width (the terminal's, else `COLUMNS`, else 100 columns).

use std::io::IsTerminal;

use dx_conformance::report::Style;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ColorWhen {
    /// Colour on a terminal, unless `NO_COLOR` is set to anything but the empty string.
    #[default]
    Auto,
    /// Colour everywhere, a pipe or a file included.
    Always,
    /// No colour.
    Never,
}

/// Whether to colour a stream, given `--color`, the value of `NO_COLOR` and of `TERM`, and
/// whether the stream is a terminal (<https://no-color.org>: any non-empty value disables).
pub fn wants_color(
    when: ColorWhen,
    no_color: Option<&str>,
    term: Option<&str>,
    is_terminal: bool,
) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        ColorWhen::Auto => {
            is_terminal && no_color.is_none_or(str::is_empty) && term != Some("dumb")
        }
    }
}

/// The width to lay a table out in: a terminal's own width, else `COLUMNS`, else 100.
pub fn width_of(terminal: Option<usize>, columns: Option<&str>) -> usize {
    terminal
        .or_else(|| columns.and_then(|c| c.trim().parse().ok()))
        .filter(|w| *w > 0)
        .unwrap_or(Style::PLAIN.width)
}

/// Which standard stream a style is for.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Standard output: the report.
    Stdout,
    /// Standard error: progress and the closing lines.
    Stderr,
}

/// The style for `stream` in this process's environment.
pub fn style_for(stream: Stream, when: ColorWhen) -> Style {
    let (is_terminal, size) = match stream {
        Stream::Stdout => (
            std::io::stdout().is_terminal(),
            terminal_size::terminal_size_of(std::io::stdout()),
        ),
        Stream::Stderr => (
            std::io::stderr().is_terminal(),
            terminal_size::terminal_size_of(std::io::stderr()),
        ),
    };
    let no_color = std::env::var("NO_COLOR").ok();
    let term = std::env::var("TERM").ok();
    let columns = std::env::var("COLUMNS").ok();
    Style {
        width: width_of(size.map(|(w, _)| usize::from(w.0)), columns.as_deref()),
        color: wants_color(when, no_color.as_deref(), term.as_deref(), is_terminal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_that_wants_it() {
        use ColorWhen::*;
        for (when, no_color, term, tty, expected) in [
            (Auto, None, Some("xterm"), true, true),
            (Auto, None, Some("xterm"), false, false),
            (Auto, Some("1"), Some("xterm"), true, false),
            (Auto, Some(""), Some("xterm"), true, true),
            (Auto, None, Some("dumb"), true, false),
            (Always, Some("1"), None, false, true),
            (Never, None, Some("xterm"), true, false),
        ] {
            assert_eq!(
                wants_color(when, no_color, term, tty),
                expected,
                "{when:?} NO_COLOR={no_color:?} TERM={term:?} tty={tty}"
            );
        }
    }

    #[test]
    fn width_from_the_terminal_then_columns_then_100() {
        assert_eq!(width_of(Some(132), Some("80")), 132);
        assert_eq!(width_of(None, Some("80")), 80);
        assert_eq!(width_of(None, Some("wide")), 100);
        assert_eq!(width_of(None, None), 100);
    }
}
