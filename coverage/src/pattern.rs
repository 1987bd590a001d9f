//! A small glob matcher for repository-relative paths, so gates.toml can name
//! folders without pulling a glob crate: `**` matches any number of path
//! segments (including none), `*` any run of characters within one segment,
//! `?` one character. Paths always use `/`.

use std::fmt;

/// Why a pattern was refused: each case would silently match nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("empty pattern")]
    Empty,
    #[error("pattern {0:?} is absolute: patterns are relative to the repository root")]
    Absolute(String),
    #[error("pattern {0:?} uses `\\`: separate path segments with `/`")]
    Backslash(String),
    #[error("pattern {0:?} has an empty, `.` or `..` segment")]
    BadSegment(String),
    #[error("pattern {0:?}: `**` must be a whole path segment")]
    DoubleStarInSegment(String),
}

/// One `/`-separated piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: zero or more whole segments.
    AnyDepth,
    /// A segment that may contain `*` and `?`.
    Glob(Vec<char>),
}

/// A parsed path pattern; keeps its source text for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    source: String,
    segments: Vec<Segment>,
}

impl Pattern {
    /// Parses and checks a pattern such as `reference/error/src/**`.
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        if source.is_empty() {
            return Err(PatternError::Empty);
        }
        if source.starts_with('/') {
            return Err(PatternError::Absolute(source.to_owned()));
        }
        if source.contains('\\') {
            return Err(PatternError::Backslash(source.to_owned()));
        }
        let mut segments = Vec::new();
        for part in source.split('/') {
            if part.is_empty() || part == "." || part == ".." {
                return Err(PatternError::BadSegment(source.to_owned()));
            }
            if part == "**" {
                // Consecutive `**` mean the same as one; keeping one bounds backtracking.
                if segments.last() != Some(&Segment::AnyDepth) {
                    segments.push(Segment::AnyDepth);
                }
            } else if part.contains("**") {
                return Err(PatternError::DoubleStarInSegment(source.to_owned()));
            } else {
                segments.push(Segment::Glob(part.chars().collect()));
            }
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
        })
    }

    /// The pattern as written in gates.toml.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether a `/`-separated relative path matches the whole pattern.
    pub fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        match_segments(&self.segments, &parts)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn match_segments(pattern: &[Segment], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((Segment::AnyDepth, rest)) => {
            (0..=path.len()).any(|skip| match_segments(rest, path.get(skip..).unwrap_or(&[])))
        }
        Some((Segment::Glob(glob), rest)) => match path.split_first() {
            Some((first, tail)) => match_glob(glob, first) && match_segments(rest, tail),
            None => false,
        },
    }
}

/// Wildcard match of one segment, with the classic single-backtrack-point
/// algorithm (linear enough for path segments).
fn match_glob(glob: &[char], text: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some('*') => {
                star = Some((g, t));
                g += 1;
            }
            Some(&c) if c == '?' || Some(&c) == text.get(t) => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((star_g, star_t)) => {
                    g = star_g + 1;
                    t = star_t + 1;
                    star = Some((star_g, star_t + 1));
                }
                None => return false,
            },
        }
    }
    glob.get(g..).unwrap_or(&[]).iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, path: &str) -> bool {
        Pattern::parse(pattern).unwrap().matches(path)
    }

    #[test]
    fn double_star_spans_any_depth() {
        assert!(m("reference/error/src/**", "reference/error/src/lib.rs"));
        assert!(m("reference/error/src/**", "reference/error/src/a/b/c.rs"));
        assert!(!m("reference/error/src/**", "reference/error/tests/a.rs"));
        assert!(!m("reference/error/src/**", "reference/errors/src/a.rs"));
        assert!(m("**", "a.rs"));
        assert!(m("**", "a/b/c.rs"));
    }

    #[test]
    fn double_star_may_match_no_segment() {
        assert!(m("**/tests/**", "tests/a.rs"));
        assert!(m("**/tests/**", "reference/server/tests/a/b.rs"));
        assert!(!m("**/tests/**", "reference/server/src/tests.rs"));
        assert!(m("a/**/b.rs", "a/b.rs"));
        assert!(m("a/**/b.rs", "a/x/y/b.rs"));
        assert!(m("a/**/**/b.rs", "a/b.rs"));
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(m("src/*.rs", "src/lib.rs"));
        assert!(!m("src/*.rs", "src/a/lib.rs"));
        assert!(m("src/*", "src/lib.rs"));
        assert!(m("src/l*b*.rs", "src/lib.rs"));
        assert!(!m("src/l*x*.rs", "src/lib.rs"));
        assert!(m("src/li?.rs", "src/lib.rs"));
        assert!(!m("src/li?.rs", "src/li.rs"));
        assert!(m("*/src/**", "cli/src/main.rs"));
    }

    #[test]
    fn literal_paths_match_exactly() {
        assert!(m(
            "reference/server/src/main.rs",
            "reference/server/src/main.rs"
        ));
        assert!(!m(
            "reference/server/src/main.rs",
            "reference/server/src/main.rss"
        ));
        assert!(!m(
            "reference/server/src/main.rs",
            "x/reference/server/src/main.rs"
        ));
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert_eq!(Pattern::parse(""), Err(PatternError::Empty));
        assert!(matches!(
            Pattern::parse("/abs/**"),
            Err(PatternError::Absolute(_))
        ));
        assert!(matches!(
            Pattern::parse("a\\b"),
            Err(PatternError::Backslash(_))
        ));
        assert!(matches!(
            Pattern::parse("a//b"),
            Err(PatternError::BadSegment(_))
        ));
        assert!(matches!(
            Pattern::parse("a/../b"),
            Err(PatternError::BadSegment(_))
        ));
        assert!(matches!(
            Pattern::parse("a/"),
            Err(PatternError::BadSegment(_))
        ));
        assert!(matches!(
            Pattern::parse("a/b**"),
            Err(PatternError::DoubleStarInSegment(_))
        ));
    }
}
