//! Command-line parsing, by hand to keep the gate free of heavy crates.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Shown on `--help` and after any usage error.
pub const USAGE: &str = "\
usage: coverage-gate --export FILE.json [--gates FILE] [--root DIR] [--worst N]
       coverage-gate --list-groups [--gates FILE] [--root DIR]

  --export FILE.json  output of `cargo llvm-cov --json --output-path FILE.json`
  --gates FILE        the groups and thresholds (default: ROOT/coverage/gates.toml)
  --root DIR          directory the gate paths are relative to (default: .)
  --worst N           least-covered files listed per failing group (default: 5)
  --list-groups       print `name<TAB>pattern` for each pattern of each
                      non-pending group, then exit

exit status: 0 every non-pending group passes, 1 a group fails, 2 usage or input error";

/// Files listed per failing group when `--worst` is not given.
pub const DEFAULT_WORST: usize = 5;

/// A command line that cannot be acted on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    #[error("unknown flag {0:?}")]
    UnknownFlag(String),
    #[error("unexpected argument {0:?}")]
    Unexpected(String),
    #[error("argument {0:?} is not valid UTF-8")]
    NotUtf8(String),
    #[error("{0} needs a value")]
    MissingValue(&'static str),
    #[error("{0} takes no value")]
    UnexpectedValue(&'static str),
    #[error("{0} is given more than once")]
    Repeated(&'static str),
    #[error("--worst expects a whole number, got {0:?}")]
    BadWorst(String),
    #[error("--export FILE.json is required")]
    NoExport,
    #[error("--list-groups does not take {0}")]
    ListGroupsConflict(&'static str),
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Gate(GateOptions),
    /// Print the live groups' patterns (used by mutation-score.sh).
    ListGroups {
        gates: PathBuf,
    },
    Help,
}

/// Options of a gate run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateOptions {
    pub export: PathBuf,
    pub gates: PathBuf,
    pub root: PathBuf,
    pub worst: usize,
}

/// Flags that take a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Valued {
    Export,
    Gates,
    Root,
    Worst,
}

impl Valued {
    fn from_flag(flag: &str) -> Option<Self> {
        match flag {
            "--export" => Some(Self::Export),
            "--gates" => Some(Self::Gates),
            "--root" => Some(Self::Root),
            "--worst" => Some(Self::Worst),
            _ => None,
        }
    }

    fn flag(self) -> &'static str {
        match self {
            Self::Export => "--export",
            Self::Gates => "--gates",
            Self::Root => "--root",
            Self::Worst => "--worst",
        }
    }
}

#[derive(Debug, Default)]
struct Seen {
    export: Option<PathBuf>,
    gates: Option<PathBuf>,
    root: Option<PathBuf>,
    worst: Option<usize>,
    list_groups: bool,
}

/// Parses the arguments after the program name. Values may follow their flag
/// as the next argument or after `=` (`--worst=3`).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command, UsageError> {
    let mut args = args.into_iter();
    let mut seen = Seen::default();
    while let Some(arg) = args.next() {
        let text = arg
            .to_str()
            .ok_or_else(|| UsageError::NotUtf8(arg.to_string_lossy().into_owned()))?;
        if text == "--help" || text == "-h" {
            return Ok(Command::Help);
        }
        if !text.starts_with('-') {
            return Err(UsageError::Unexpected(text.to_owned()));
        }
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) => (flag, Some(OsString::from(value))),
            None => (text, None),
        };
        if flag == "--list-groups" {
            if inline.is_some() {
                return Err(UsageError::UnexpectedValue("--list-groups"));
            }
            seen.list_groups = true;
            continue;
        }
        let valued =
            Valued::from_flag(flag).ok_or_else(|| UsageError::UnknownFlag(flag.to_owned()))?;
        let value = match inline {
            Some(value) => value,
            None => match args.next() {
                Some(next) if !next.to_string_lossy().starts_with("--") => next,
                _ => return Err(UsageError::MissingValue(valued.flag())),
            },
        };
        if value.is_empty() {
            return Err(UsageError::MissingValue(valued.flag()));
        }
        store(&mut seen, valued, value)?;
    }
    finish(seen)
}

fn store(seen: &mut Seen, valued: Valued, value: OsString) -> Result<(), UsageError> {
    let repeated = match valued {
        Valued::Export => seen.export.replace(value.into()).is_some(),
        Valued::Gates => seen.gates.replace(value.into()).is_some(),
        Valued::Root => seen.root.replace(value.into()).is_some(),
        Valued::Worst => {
            let text = value.to_string_lossy();
            let n = text
                .parse()
                .map_err(|_| UsageError::BadWorst(text.clone().into_owned()))?;
            seen.worst.replace(n).is_some()
        }
    };
    if repeated {
        return Err(UsageError::Repeated(valued.flag()));
    }
    Ok(())
}

fn finish(seen: Seen) -> Result<Command, UsageError> {
    let root = seen.root.unwrap_or_else(|| PathBuf::from("."));
    let gates = seen.gates.unwrap_or_else(|| default_gates(&root));
    if seen.list_groups {
        if seen.export.is_some() {
            return Err(UsageError::ListGroupsConflict("--export"));
        }
        if seen.worst.is_some() {
            return Err(UsageError::ListGroupsConflict("--worst"));
        }
        return Ok(Command::ListGroups { gates });
    }
    let export = seen.export.ok_or(UsageError::NoExport)?;
    Ok(Command::Gate(GateOptions {
        export,
        gates,
        root,
        worst: seen.worst.unwrap_or(DEFAULT_WORST),
    }))
}

/// gates.toml lives in this crate's folder, relative to the repository root.
fn default_gates(root: &Path) -> PathBuf {
    root.join("coverage").join("gates.toml")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<Command, UsageError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn defaults() {
        let cmd = parse_strs(&["--export", "cov.json"]).unwrap();
        assert_eq!(
            cmd,
            Command::Gate(GateOptions {
                export: "cov.json".into(),
                gates: PathBuf::from(".").join("coverage").join("gates.toml"),
                root: ".".into(),
                worst: DEFAULT_WORST,
            })
        );
    }

    #[test]
    fn all_flags_both_spellings() {
        let cmd = parse_strs(&[
            "--export=c.json",
            "--gates",
            "g.toml",
            "--root=/r",
            "--worst",
            "2",
        ])
        .unwrap();
        assert_eq!(
            cmd,
            Command::Gate(GateOptions {
                export: "c.json".into(),
                gates: "g.toml".into(),
                root: "/r".into(),
                worst: 2,
            })
        );
    }

    #[test]
    fn gates_default_follows_root() {
        let Command::ListGroups { gates } = parse_strs(&["--list-groups", "--root", "/r"]).unwrap()
        else {
            panic!("expected --list-groups");
        };
        assert_eq!(gates, Path::new("/r/coverage/gates.toml"));
    }

    #[test]
    fn errors() {
        assert_eq!(parse_strs(&[]), Err(UsageError::NoExport));
        assert_eq!(
            parse_strs(&["--bogus"]),
            Err(UsageError::UnknownFlag("--bogus".into()))
        );
        assert_eq!(
            parse_strs(&["stray"]),
            Err(UsageError::Unexpected("stray".into()))
        );
        assert_eq!(
            parse_strs(&["--export"]),
            Err(UsageError::MissingValue("--export"))
        );
        assert_eq!(
            parse_strs(&["--export", "--root", "x"]),
            Err(UsageError::MissingValue("--export"))
        );
        assert_eq!(
            parse_strs(&["--export", "a", "--export", "b"]),
            Err(UsageError::Repeated("--export"))
        );
        assert_eq!(
            parse_strs(&["--export", "a", "--worst", "-1"]),
            Err(UsageError::BadWorst("-1".into()))
        );
        assert_eq!(
            parse_strs(&["--list-groups", "--export", "a"]),
            Err(UsageError::ListGroupsConflict("--export"))
        );
        assert_eq!(parse_strs(&["--export", "a", "-h"]), Ok(Command::Help));
    }
}
