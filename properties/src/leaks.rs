//! The suite's own judge of internal detail in responses (spec/error-format.md,
//! "Sanitization"). It shares no code with the reference it judges, and it knows the traces,
//! paths and parser messages of several languages, since targets need not be written in Rust.

use std::sync::LazyLock;

use regex::RegexSet;

use crate::clause::{Clause, error_format};

/// What kind of internal detail a text reveals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakKind {
    /// A URL with a user name or password, or a connection string.
    Credential,
    /// A file system path.
    Path,
    /// A source location such as `handler.go:42`.
    SourceLocation,
    /// Panic, exception or backtrace text.
    Trace,
    /// A `NAME=value` environment assignment.
    Environment,
    /// SQL statement text.
    Sql,
    /// A `password=` style pair or a PEM block.
    Secret,
    /// A parser's or library's own error message.
    LibraryText,
}

impl LeakKind {
    /// A short name for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Credential => "a connection string or credentials",
            Self::Path => "a file system path",
            Self::SourceLocation => "a source code location",
            Self::Trace => "stack trace or unhandled-failure text",
            Self::Environment => "an environment variable assignment",
            Self::Sql => "SQL text",
            Self::Secret => "a secret",
            Self::LibraryText => "a library's or parser's own error message",
        }
    }

    /// The sentence of the spec this kind of leak breaks.
    pub fn clause(self) -> &'static Clause {
        match self {
            Self::Credential | Self::Secret => &error_format::NO_CREDENTIAL,
            Self::Path | Self::SourceLocation => &error_format::NO_PATH,
            Self::Trace => &error_format::NO_TRACE,
            Self::Environment => &error_format::NO_ENVIRONMENT,
            Self::Sql => &error_format::NO_SQL,
            Self::LibraryText => &error_format::NO_SOURCE_TEXT,
        }
    }
}

const SOURCE_EXTENSIONS: &str =
    "rs|go|py|rb|java|kt|scala|js|mjs|cjs|ts|cs|php|c|cc|cpp|h|hpp|swift|ex|exs|erl|clj";

static PATTERNS: LazyLock<Vec<(LeakKind, String)>> = LazyLock::new(|| {
    vec![
        (
            LeakKind::Credential,
            r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@]*:[^\s/@]*@".into(),
        ),
        (
            LeakKind::Credential,
            r"(?i)\b(postgres|postgresql|mysql|mariadb|redis|rediss|mongodb(\+srv)?|amqps?|nats|sqlserver|jdbc:[a-z]+)://".into(),
        ),
        (LeakKind::Credential, r"(?i)\bsqlite:".into()),
        (
            LeakKind::Path,
            r#"(^|[\s"'(=:,\[])/(home|usr|var|etc|srv|opt|tmp|root|app|proc|mnt|run|nix|builds|workspace|Users|private)/\S"#.into(),
        ),
        (LeakKind::Path, r"\b[A-Za-z]:\\\S".into()),
        (
            LeakKind::Path,
            r"(?i)[\w./-]+\.(pem|key|crt|p12|env|toml|ya?ml|ini|conf|cfg|sqlite3?|db)\b".into(),
        ),
        (
            LeakKind::SourceLocation,
            format!(r#"\.({SOURCE_EXTENSIONS})(:\d+|", line \d+)"#),
        ),
        (
            LeakKind::Trace,
            r"(?i)(panicked at|stack backtrace|rust_backtrace|thread '[^']*' panicked|core::panicking|traceback \(most recent call last\)|goroutine \d+ \[|exception in thread|java\.lang\.|node:internal|panic: runtime error|\n\s+at [\w$.<>]+ ?\()".into(),
        ),
        (LeakKind::Environment, r"\b[A-Z][A-Z0-9_]{2,}=\S".into()),
        (
            LeakKind::Sql,
            r"(?i)\b(select\s.+\sfrom\b|insert\s+into\b|update\s+\S+\s+set\b|delete\s+from\b|drop\s+(table|database)\b)".into(),
        ),
        (
            LeakKind::Secret,
            r"(?i)\b(password|passwd|secret|api[_-]?key)\s*[=:]|-----BEGIN [A-Z ]*PRIVATE KEY".into(),
        ),
        (
            LeakKind::LibraryText,
            r"(?i)(EOF while parsing|trailing characters at line|expected value at line|invalid type: |unknown field `|missing field `|lone leading surrogate|recursion limit exceeded|key must be a string|expecting value: line|unexpected token .* in JSON|unexpected end of JSON input|invalid character '.' looking for|cannot unmarshal)".into(),
        ),
    ]
});

static COMPILED: LazyLock<Result<RegexSet, String>> = LazyLock::new(|| {
    RegexSet::new(PATTERNS.iter().map(|(_, p)| p.as_str())).map_err(|e| e.to_string())
});

/// Every kind of internal detail `text` reveals, each once, in the order of the patterns. If
/// the patterns cannot be compiled every text counts as leaking, so the suite fails closed.
pub fn find_leaks(text: &str) -> Vec<LeakKind> {
    match COMPILED.as_ref() {
        Ok(set) => {
            let mut kinds: Vec<LeakKind> = Vec::new();
            for i in set.matches(text).iter() {
                let kind = PATTERNS[i].0;
                if !kinds.contains(&kind) {
                    kinds.push(kind);
                }
            }
            kinds
        }
        Err(_) => vec![LeakKind::Trace],
    }
}

/// The first kind of internal detail `text` reveals. If the patterns cannot be compiled (a
/// defect of this build) every text counts as leaking, so the suite fails closed.
pub fn find_leak(text: &str) -> Option<LeakKind> {
    match COMPILED.as_ref() {
        Ok(set) => set.matches(text).iter().next().map(|i| PATTERNS[i].0),
        Err(_) => Some(LeakKind::Trace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(COMPILED.is_ok(), "{:?}", COMPILED.as_ref().err());
    }

    #[test]
    fn detects_internals_of_several_languages() {
        for (text, kind) in [
            (
                "https://admin:hunter2@db.example.com/x",
                LeakKind::Credential,
            ),
            (
                "could not reach postgres://db:5432/test",
                LeakKind::Credential,
            ),
            ("opened sqlite::memory:", LeakKind::Credential),
            ("failed reading /etc/dx/keys", LeakKind::Path),
            ("at C:\\Users\\dx\\key", LeakKind::Path),
            ("could not open signing-key.pem", LeakKind::Path),
            ("in server.rs:42", LeakKind::SourceLocation),
            ("at handler.go:17 +0x1d", LeakKind::SourceLocation),
            ("File \"app.py\", line 3", LeakKind::SourceLocation),
            ("thread 'main' panicked", LeakKind::Trace),
            ("goroutine 7 [running]:", LeakKind::Trace),
            ("Traceback (most recent call last):", LeakKind::Trace),
            ("boom\n    at Object.handler (", LeakKind::Trace),
            ("DATABASE_URL=x", LeakKind::Environment),
            ("SELECT id FROM users WHERE 1", LeakKind::Sql),
            ("password: hunter2", LeakKind::Secret),
            ("-----BEGIN PRIVATE KEY-----", LeakKind::Secret),
            (
                "EOF while parsing a value at line 1 column 12",
                LeakKind::LibraryText,
            ),
            (
                "invalid character 'x' looking for beginning of value",
                LeakKind::LibraryText,
            ),
            (
                "Unexpected token } in JSON at position 3",
                LeakKind::LibraryText,
            ),
        ] {
            assert_eq!(find_leak(text), Some(kind), "{text}");
            assert!(!kind.describe().is_empty());
            assert!(
                kind.clause()
                    .text
                    .starts_with("No response body or header SHALL carry")
            );
        }
    }

    #[test]
    fn public_texts_are_not_leaks() {
        for text in [
            "Token expired",
            "Internal server error",
            "boundary must be 1 to 128 characters",
            "The request body is not well-formed JSON (line 1, column 12)",
            "Send the body as JSON with Content-Type: application/json",
            r#"{"endpoints":{"health":"/health","client_errors":"/api/v1/client-errors"},"fault_hooks":{"base":"/_dx/faults"}}"#,
            "Use one of: GET, HEAD",
            "2026-11-25T18:00:00.123Z",
        ] {
            assert_eq!(find_leak(text), None, "{text}");
        }
    }
}
