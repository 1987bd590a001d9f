//! Recognises text that must never reach a client in production: stack traces and panic text,
//! file system paths and source locations, SQL, connection strings and credentials,
//! environment assignments. The server uses it as a last line of defence on public messages;
//! the conformance suite uses it to judge responses.

use std::sync::LazyLock;

use regex::RegexSet;

/// What kind of internal detail a text reveals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeakCategory {
    /// A URL carrying a user name or password.
    Credentials,
    /// A database or broker connection string.
    ConnectionString,
    /// An absolute file system path.
    FilePath,
    /// A Rust source location such as `src/main.rs:12`.
    SourceLocation,
    /// Panic or backtrace text.
    StackTrace,
    /// An environment-style `NAME=value` assignment.
    EnvironmentValue,
    /// SQL statement text.
    Sql,
    /// A `password=`/`secret=` style key-value pair.
    Secret,
}

impl LeakCategory {
    /// A short human name for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Credentials => "credentials in a URL",
            Self::ConnectionString => "a connection string",
            Self::FilePath => "a file system path",
            Self::SourceLocation => "a source code location",
            Self::StackTrace => "panic or stack trace text",
            Self::EnvironmentValue => "an environment variable assignment",
            Self::Sql => "SQL text",
            Self::Secret => "a secret key-value pair",
        }
    }
}

/// A detected leak: its category and the pattern's index, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leak {
    /// What was revealed.
    pub category: LeakCategory,
}

const PATTERNS: &[(LeakCategory, &str)] = &[
    (
        LeakCategory::Credentials,
        r"[A-Za-z][A-Za-z0-9+.-]*://[^\s/@]*:[^\s/@]*@",
    ),
    (
        LeakCategory::ConnectionString,
        r"(?i)\b(postgres|postgresql|mysql|mariadb|redis|rediss|mongodb|amqp|amqps|nats)://",
    ),
    (LeakCategory::ConnectionString, r"(?i)\bsqlite:"),
    (
        LeakCategory::FilePath,
        r#"(^|[\s"'(=:,\[])(/[A-Za-z0-9._@+~-]+){2,}"#,
    ),
    (LeakCategory::FilePath, r"\b[A-Za-z]:\\[^\s]+"),
    (LeakCategory::SourceLocation, r"\.rs:\d+"),
    (
        LeakCategory::StackTrace,
        r"(?i)(panicked at|stack backtrace|rust_backtrace|\bat src/|thread '[^']*' panicked|core::panicking)",
    ),
    (LeakCategory::EnvironmentValue, r"\b[A-Z][A-Z0-9_]{2,}=\S"),
    (
        LeakCategory::Sql,
        r"(?i)\b(select\s.+\sfrom\b|insert\s+into\b|update\s+\S+\s+set\b|delete\s+from\b|drop\s+(table|database)\b)",
    ),
    (
        LeakCategory::Secret,
        r"(?i)\b(password|passwd|secret|api[_-]?key)\s*[=:]",
    ),
];

/// The compiled patterns; `None` only if a constant pattern failed to compile, in which case
/// every text is treated as leaking (fail closed).
static COMPILED: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(PATTERNS.iter().map(|(_, p)| *p)).ok());

/// The first kind of internal detail `text` reveals, if any.
pub fn find_leak(text: &str) -> Option<Leak> {
    first_match(COMPILED.as_ref(), text)
}

fn first_match(set: Option<&RegexSet>, text: &str) -> Option<Leak> {
    match set {
        Some(set) => set.matches(text).iter().next().map(|i| Leak {
            category: PATTERNS[i].0,
        }),
        None => Some(Leak {
            category: LeakCategory::StackTrace,
        }),
    }
}

/// Whether `text` reveals internal details.
pub fn is_sensitive(text: &str) -> bool {
    find_leak(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(COMPILED.is_some());
    }

    #[test]
    fn without_patterns_everything_counts_as_leaking() {
        assert!(first_match(None, "Token expired").is_some());
        assert!(is_sensitive("postgres://x"));
        assert!(!is_sensitive("Token expired"));
    }

    #[test]
    fn detects_each_category() {
        let cases = [
            (
                "https://admin:hunter2@db.example.com/x",
                LeakCategory::Credentials,
            ),
            (
                "could not reach postgres://db:5432/test",
                LeakCategory::ConnectionString,
            ),
            ("opened sqlite::memory:", LeakCategory::ConnectionString),
            ("failed reading /etc/dx/keys.pem", LeakCategory::FilePath),
            ("at C:\\Users\\dx\\key.pem", LeakCategory::FilePath),
            ("in server.rs:42", LeakCategory::SourceLocation),
            ("thread 'main' panicked", LeakCategory::StackTrace),
            ("stack backtrace:", LeakCategory::StackTrace),
            ("DATABASE_URL=x", LeakCategory::EnvironmentValue),
            ("SELECT id FROM users WHERE 1", LeakCategory::Sql),
            ("insert into t values (1)", LeakCategory::Sql),
            ("password: hunter2", LeakCategory::Secret),
        ];
        for (text, category) in cases {
            assert_eq!(
                find_leak(text).map(|l| l.category),
                Some(category),
                "{text}"
            );
            assert!(!category.describe().is_empty());
        }
    }

    #[test]
    fn descriptions_name_the_category() {
        assert_eq!(LeakCategory::FilePath.describe(), "a file system path");
        assert_eq!(LeakCategory::Sql.describe(), "SQL text");
        let all = [
            LeakCategory::Credentials,
            LeakCategory::ConnectionString,
            LeakCategory::FilePath,
            LeakCategory::SourceLocation,
            LeakCategory::StackTrace,
            LeakCategory::EnvironmentValue,
            LeakCategory::Sql,
            LeakCategory::Secret,
        ];
        let unique: std::collections::HashSet<_> = all.iter().map(|c| c.describe()).collect();
        assert_eq!(unique.len(), all.len());
    }

    #[test]
    fn ordinary_messages_are_not_leaks() {
        for text in [
            "Token expired",
            "Internal server error",
            "Request validation failed",
            "boundary must be 1 to 128 characters",
            "expected value at line 1 column 1",
            "Refresh the token and retry",
            "Use one of: GET, HEAD",
        ] {
            assert_eq!(find_leak(text), None, "{text}");
        }
    }
}
