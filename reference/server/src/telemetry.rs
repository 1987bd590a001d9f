//! Logging set-up for the binary: `tracing` with text or JSON lines, filtered by `RUST_LOG`,
//! and a panic hook that logs panics as structured events instead of raw stderr text.

use std::ffi::OsStr;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber and the panic hook. Call once at start-up.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let no_color = std::env::var_os("NO_COLOR");
    let ansi = use_colour(std::io::stderr().is_terminal(), no_color.as_deref());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let installed = match format {
        // Every line names its request through `spans` (from the root, so the request's span
        // is always there); the innermost span again as `span` cost a second parse of its
        // fields on every line (tracing-subscriber keeps span fields as JSON text).
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if installed.is_err() {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        let message = dx_error::panic_message(info.payload());
        tracing::error!(panic = %message, location = location.as_deref().unwrap_or("unknown"), "panic");
    }));
}

/// Whether text logs carry ANSI colours: only for a person at a terminal, and never when
/// `NO_COLOR` is set to anything but the empty string (<https://no-color.org>). Log files and
/// collectors reading a pipe get plain text.
pub fn use_colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some(OsStr::new("1"))));
    }
}
