//! gates.toml: the groups to gate and the files that count towards none.
//! Validation is strict because a typo here would quietly weaken the gate.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::pattern::{Pattern, PatternError};
use crate::percent::{Threshold, ThresholdError};

/// A gates file that cannot be read, parsed or trusted.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read gates file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("malformed gates file {}: {source}", path.display())]
    Parse {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("invalid gates file {}: {problem}", path.display())]
    Invalid { path: PathBuf, problem: Problem },
}

/// What makes a well-formed gates file unusable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Problem {
    #[error("no [[group]] is defined")]
    NoGroups,
    #[error("a group has an empty name")]
    EmptyName,
    #[error("group name {0:?} contains a tab or a line break")]
    BadName(String),
    #[error("group {0:?} is defined more than once")]
    DuplicateName(String),
    #[error("group {0:?} has no paths")]
    NoPaths(String),
    #[error("group {group:?}: min_lines {source}")]
    Threshold {
        group: String,
        source: ThresholdError,
    },
    #[error("group {group:?}: min_file_lines {source}")]
    FileThreshold {
        group: String,
        source: ThresholdError,
    },
    #[error("group {group:?}: {source}")]
    GroupPattern { group: String, source: PatternError },
    #[error("group {0:?}: the pending reason is empty: say which issue adds the code")]
    EmptyPending(String),
    #[error("exclude: {0}")]
    ExcludePattern(PatternError),
    #[error("exclude {0:?} has an empty reason: every exclusion must say why")]
    EmptyReason(String),
}

/// A named set of paths with its minimum line coverage.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub patterns: Vec<Pattern>,
    /// Minimum for the group's total.
    pub min_lines: Threshold,
    /// Minimum for each of its files that has executable lines (the file
    /// floor); `None` when only the total is gated.
    pub min_file_lines: Option<Threshold>,
    /// Why the group cannot be measured yet; `None` for a live gate.
    pub pending: Option<String>,
}

impl Group {
    /// Whether a repository-relative path belongs to this group.
    pub fn contains(&self, path: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(path))
    }
}

/// Files kept out of every group, with the reason shown in the report.
#[derive(Debug, Clone)]
pub struct Exclude {
    pub pattern: Pattern,
    pub reason: String,
}

/// The validated gates file.
#[derive(Debug, Clone)]
pub struct Gates {
    pub groups: Vec<Group>,
    pub excludes: Vec<Exclude>,
}

impl Gates {
    /// The first exclusion a path falls under, if any.
    pub fn exclusion_of(&self, path: &str) -> Option<usize> {
        self.excludes.iter().position(|e| e.pattern.matches(path))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGates {
    #[serde(default)]
    exclude: Vec<RawExclude>,
    #[serde(default, rename = "group")]
    groups: Vec<RawGroup>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    paths: Vec<String>,
    min_lines: f64,
    min_file_lines: Option<f64>,
    pending: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExclude {
    pattern: String,
    reason: String,
}

/// Reads and validates a gates file.
pub fn load(path: &Path) -> Result<Gates, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&text, path)
}

/// Parses and validates gates.toml text; `path` is only used in messages.
pub fn parse(text: &str, path: &Path) -> Result<Gates, ConfigError> {
    let raw: RawGates = toml::from_str(text).map_err(|source| ConfigError::Parse {
        path: path.to_owned(),
        source,
    })?;
    validate(raw).map_err(|problem| ConfigError::Invalid {
        path: path.to_owned(),
        problem,
    })
}

fn validate(raw: RawGates) -> Result<Gates, Problem> {
    if raw.groups.is_empty() {
        return Err(Problem::NoGroups);
    }
    let mut seen = HashSet::new();
    let mut groups = Vec::with_capacity(raw.groups.len());
    for group in raw.groups {
        let name = group.name.trim().to_owned();
        if name.is_empty() {
            return Err(Problem::EmptyName);
        }
        // Names are printed as `name<TAB>pattern` by --list-groups.
        if name.contains(['\t', '\n', '\r']) {
            return Err(Problem::BadName(name));
        }
        if !seen.insert(name.clone()) {
            return Err(Problem::DuplicateName(name));
        }
        if group.paths.is_empty() {
            return Err(Problem::NoPaths(name));
        }
        let min_lines =
            Threshold::from_percent(group.min_lines).map_err(|source| Problem::Threshold {
                group: name.clone(),
                source,
            })?;
        let min_file_lines = group
            .min_file_lines
            .map(Threshold::from_percent)
            .transpose()
            .map_err(|source| Problem::FileThreshold {
                group: name.clone(),
                source,
            })?;
        let patterns = group
            .paths
            .iter()
            .map(|p| Pattern::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| Problem::GroupPattern {
                group: name.clone(),
                source,
            })?;
        let pending = match group.pending {
            Some(reason) if reason.trim().is_empty() => return Err(Problem::EmptyPending(name)),
            other => other,
        };
        groups.push(Group {
            name,
            patterns,
            min_lines,
            min_file_lines,
            pending,
        });
    }
    let excludes = raw
        .exclude
        .into_iter()
        .map(|e| {
            let pattern = Pattern::parse(&e.pattern).map_err(Problem::ExcludePattern)?;
            if e.reason.trim().is_empty() {
                return Err(Problem::EmptyReason(e.pattern));
            }
            Ok(Exclude {
                pattern,
                reason: e.reason,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Gates { groups, excludes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(text: &str) -> Problem {
        match parse(text, Path::new("gates.toml")) {
            Err(ConfigError::Invalid { problem, .. }) => problem,
            other => panic!("expected a validation problem, got {other:?}"),
        }
    }

    const SHIPPED: &str = include_str!("../gates.toml");

    #[test]
    fn shipped_gates_file_is_valid() {
        let gates = parse(SHIPPED, Path::new("coverage/gates.toml")).unwrap();
        let names: Vec<&str> = gates.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "error",
                "auth",
                "client",
                "rate limiter",
                "csrf",
                "query",
                "sync",
                "ssr",
                "suite",
                "workspace"
            ]
        );
        assert!(gates.exclusion_of("reference/server/src/main.rs").is_some());
        assert!(gates.exclusion_of("properties/cli/src/main.rs").is_some());
        assert!(
            gates
                .exclusion_of("reference/server/tests/http.rs")
                .is_some()
        );
        assert!(gates.exclusion_of("properties/benches/b.rs").is_some());
        assert!(
            gates
                .exclusion_of("reference/server/src/mutants.rs")
                .is_some()
        );
        assert!(gates.exclusion_of("reference/server/src/lib.rs").is_none());
    }

    /// The design's numbers may only go up: this fails if one is lowered.
    /// A file floor may sit below its group's total, but it must gate
    /// something: 0% would pass every file.
    #[test]
    fn shipped_thresholds_never_fall_below_the_design() {
        let gates = parse(SHIPPED, Path::new("coverage/gates.toml")).unwrap();
        let design = [
            ("error", 80.0),
            ("auth", 80.0),
            ("client", 80.0),
            ("rate limiter", 90.0),
            ("csrf", 90.0),
            ("workspace", 70.0),
        ];
        for (name, min) in design {
            let group = gates.groups.iter().find(|g| g.name == name).unwrap();
            assert!(
                group.min_lines >= Threshold::from_percent(min).unwrap(),
                "group {name:?} is below the design's {min}%"
            );
        }
        for group in &gates.groups {
            if let Some(floor) = group.min_file_lines {
                assert!(
                    floor > Threshold::from_percent(0.0).unwrap()
                        && floor <= Threshold::from_percent(100.0).unwrap(),
                    "group {:?}: min_file_lines {floor} must be above 0% and at most 100%",
                    group.name
                );
            }
        }
    }

    #[test]
    fn file_floor_is_optional_and_parsed_like_min_lines() {
        let gates = parse(
            r#"
            [[group]]
            name = "floored"
            paths = ["a/**"]
            min_lines = 95
            min_file_lines = 87.5
            [[group]]
            name = "plain"
            paths = ["b/**"]
            min_lines = 80
            "#,
            Path::new("g.toml"),
        )
        .unwrap();
        let floor = gates.groups[0].min_file_lines.unwrap();
        assert_eq!(floor.hundredths(), 8750);
        assert!(gates.groups[1].min_file_lines.is_none());
        // A floor may be above or below the group's total.
        let above =
            "[[group]]\nname = \"a\"\npaths = [\"a/**\"]\nmin_lines = 70\nmin_file_lines = 90\n";
        assert!(parse(above, Path::new("g")).is_ok());
    }

    #[test]
    fn rejects_bad_file_floors() {
        let group = |floor: &str| {
            format!(
                "[[group]]\nname = \"a\"\npaths = [\"a/**\"]\nmin_lines = 80\nmin_file_lines = {floor}\n"
            )
        };
        for (floor, expected) in [
            ("101", ThresholdError::OutOfRange(101.0)),
            ("-1", ThresholdError::OutOfRange(-1.0)),
            ("80.125", ThresholdError::TooPrecise(80.125)),
        ] {
            assert_eq!(
                problem(&group(floor)),
                Problem::FileThreshold {
                    group: "a".into(),
                    source: expected
                },
                "min_file_lines = {floor}"
            );
        }
        let message = problem(&group("101")).to_string();
        assert!(message.contains("min_file_lines"), "{message}");
        assert!(matches!(
            parse(&group("\"90\""), Path::new("g")),
            Err(ConfigError::Parse { .. })
        ));
    }

    #[test]
    fn parses_groups_and_excludes() {
        let gates = parse(
            r#"
            exclude = [{ pattern = "**/tests/**", reason = "test code" }]
            [[group]]
            name = "a"
            paths = ["a/**", "b/*.rs"]
            min_lines = 82.5
            [[group]]
            name = "later"
            paths = ["c/**"]
            min_lines = 90
            pending = "issue 12"
            "#,
            Path::new("g.toml"),
        )
        .unwrap();
        assert_eq!(gates.groups.len(), 2);
        assert!(gates.groups[0].contains("b/x.rs"));
        assert!(!gates.groups[0].contains("b/c/x.rs"));
        assert_eq!(gates.groups[0].min_lines.hundredths(), 8250);
        assert_eq!(gates.groups[1].pending.as_deref(), Some("issue 12"));
        assert_eq!(gates.exclusion_of("x/tests/t.rs"), Some(0));
    }

    #[test]
    fn rejects_duplicate_names() {
        let text = r#"
            [[group]]
            name = "a"
            paths = ["a/**"]
            min_lines = 80
            [[group]]
            name = "a"
            paths = ["b/**"]
            min_lines = 80
        "#;
        assert_eq!(problem(text), Problem::DuplicateName("a".into()));
    }

    #[test]
    fn rejects_empty_paths_and_bad_thresholds() {
        let empty = "[[group]]\nname = \"a\"\npaths = []\nmin_lines = 80\n";
        assert_eq!(problem(empty), Problem::NoPaths("a".into()));
        let high = "[[group]]\nname = \"a\"\npaths = [\"a/**\"]\nmin_lines = 101\n";
        assert!(matches!(problem(high), Problem::Threshold { .. }));
        let low = "[[group]]\nname = \"a\"\npaths = [\"a/**\"]\nmin_lines = -1\n";
        assert!(matches!(problem(low), Problem::Threshold { .. }));
    }

    #[test]
    fn rejects_bad_patterns_names_and_reasons() {
        let abs = "[[group]]\nname = \"a\"\npaths = [\"/a/**\"]\nmin_lines = 80\n";
        assert!(matches!(problem(abs), Problem::GroupPattern { .. }));
        let blank = "[[group]]\nname = \" \"\npaths = [\"a/**\"]\nmin_lines = 80\n";
        assert_eq!(problem(blank), Problem::EmptyName);
        let tab = "[[group]]\nname = \"a\\tb\"\npaths = [\"a/**\"]\nmin_lines = 80\n";
        assert!(matches!(problem(tab), Problem::BadName(_)));
        let pending =
            "[[group]]\nname = \"a\"\npaths = [\"a/**\"]\nmin_lines = 80\npending = \"\"\n";
        assert_eq!(problem(pending), Problem::EmptyPending("a".into()));
        let reason = "exclude = [{ pattern = \"x\", reason = \"\" }]\n[[group]]\nname = \"a\"\npaths = [\"a/**\"]\nmin_lines = 80\n";
        assert_eq!(problem(reason), Problem::EmptyReason("x".into()));
        assert_eq!(problem(""), Problem::NoGroups);
    }

    #[test]
    fn rejects_unknown_keys_and_bad_toml() {
        let typo = "[[group]]\nname = \"a\"\npaths = [\"a/**\"]\nmin_line = 80\n";
        assert!(matches!(
            parse(typo, Path::new("g")),
            Err(ConfigError::Parse { .. })
        ));
        assert!(matches!(
            parse("[[group]\n", Path::new("g")),
            Err(ConfigError::Parse { .. })
        ));
    }
}
