//! Replay files (spec/conformance.md, "Replaying a failure"): every failure of a run is saved
//! as a small JSON file with what it takes to run exactly that case again: the check, the
//! seed and case count, the failing case's position in the check, the shrunk input and the
//! exchange that showed it. `dx-conformance replay FILE [--target URL]` runs that case
//! again, against the same target or another, and says whether it fails the same way.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cases::{CaseConfig, CasePosition};
use crate::runner::{Report, RunOptions};
use crate::selection::Selection;
use crate::verdict::{CheckResult, Failure, Verdict};

/// The format version this suite writes and reads.
pub const REPLAY_FORMAT: u32 = 1;

/// Why a replay file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// It cannot be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// It is not a replay file of this format.
    #[error("{path} is not a dx-conformance replay file: {reason}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

/// The failure as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFailure {
    /// What the spec requires there.
    pub expected: String,
    /// What the target did, with the response received.
    pub actual: String,
    /// The shrunk input.
    pub counterexample: Option<String>,
    /// The request or frames sent, as a command that sends them again.
    pub exchange: Option<String>,
}

/// One saved failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplayFile {
    /// [`REPLAY_FORMAT`].
    pub dx_conformance_replay: u32,
    /// The suite version that recorded it.
    pub suite_version: String,
    /// The check's id (`pNN`, or a scenario's `<feature>:<line>`).
    pub check: String,
    /// The check's title.
    pub title: String,
    /// The target it failed against.
    pub target: String,
    /// Every instance of that run.
    pub instances: Vec<String>,
    /// Whether that target was the embedded reference (its URL is gone; a replay without
    /// `--target` starts it again).
    pub embedded: bool,
    /// The hash of the target's discovery document, when it had one.
    pub discovery_hash: Option<String>,
    /// The generator seed.
    pub seed: u64,
    /// Generated cases per property.
    pub cases: u32,
    /// Where the failing case stands in a property check.
    pub position: Option<CasePosition>,
    /// The failure.
    pub failure: RecordedFailure,
    /// The engine the client checks ran the client in, when not wasmi (`--client-runtime`):
    /// a replay runs it there again. Absent in files of earlier suites.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_runtime: Option<String>,
}

/// How a replayed case ended, compared with the recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// It failed again with the same expectation and the same shrunk input.
    Same(Failure),
    /// It failed again, differently.
    Different(Failure),
    /// It passed.
    Passed,
    /// It could not be verified, with the reason.
    NotVerified(String),
}

impl Replayed {
    /// Compares a replayed verdict with the recorded failure.
    pub fn judge(recorded: &RecordedFailure, verdict: &Verdict) -> Self {
        match verdict {
            Verdict::Pass => Self::Passed,
            Verdict::NotVerified(why) => Self::NotVerified(why.clone()),
            Verdict::Fail(f)
                if f.expected == recorded.expected
                    && f.counterexample == recorded.counterexample =>
            {
                Self::Same(f.clone())
            }
            Verdict::Fail(f) => Self::Different(f.clone()),
        }
    }

    /// Whether the case failed again (either way).
    pub fn failed(&self) -> bool {
        matches!(self, Self::Same(_) | Self::Different(_))
    }
}

impl ReplayFile {
    /// The replay file of `result` in `report`, when it is a check that failed (the entry
    /// of an unreachable target is no check: nothing can run again).
    pub fn of(report: &Report, result: &CheckResult, embedded: bool) -> Option<Self> {
        let Verdict::Fail(f) = &result.verdict else {
            return None;
        };
        // A rule's entry gathers what many checks met; its evidence is the exchange shown,
        // not one case of one check.
        if result.id == crate::runner::UNREACHABLE || crate::rules::is_rule(&result.id) {
            return None;
        }
        Some(Self {
            dx_conformance_replay: REPLAY_FORMAT,
            suite_version: report.suite_version.clone(),
            check: result.id.clone(),
            title: result.title.clone(),
            target: report.target.clone(),
            instances: report.instances.clone(),
            embedded,
            discovery_hash: report.described.as_ref().map(|d| d.discovery_hash.clone()),
            seed: report.seed,
            cases: report.cases,
            position: result.position,
            failure: RecordedFailure {
                expected: f.expected.clone(),
                actual: f.actual.clone(),
                counterexample: f.counterexample.clone(),
                exchange: f.replay.clone(),
            },
            client_runtime: (report.client_runtime != "wasmi")
                .then(|| report.client_runtime.clone()),
        })
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, ReplayError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ReplayError::Io {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let file: Self = serde_json::from_str(&text).map_err(|e| ReplayError::Invalid {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        if file.dx_conformance_replay != REPLAY_FORMAT {
            return Err(ReplayError::Invalid {
                path: shown,
                reason: format!(
                    "format {} (this suite reads {REPLAY_FORMAT})",
                    file.dx_conformance_replay
                ),
            });
        }
        Ok(file)
    }

    /// Whether the check is a property check (`pNN`), as opposed to a scenario
    /// (`<feature>:<line>`).
    pub fn is_property(&self) -> bool {
        !self.check.contains(':')
    }

    /// The options that run exactly the recorded case: the same check, seed and case count,
    /// focused on the failing case's position.
    pub fn run_options(&self, timeout: std::time::Duration) -> RunOptions {
        RunOptions {
            cases: CaseConfig {
                cases: self.cases,
                seed: self.seed,
            },
            selection: Selection {
                only: vec![self.check.clone()],
                ..Selection::default()
            },
            jobs: 1,
            timeout,
            focus: self.position,
            // Selects the one recorded check; a SHOULD-level one runs only under `--strict`.
            strict: true,
            ..RunOptions::default()
        }
    }

    /// The file name within a replay folder: the id with characters a file system may refuse
    /// replaced.
    pub fn file_name(&self) -> String {
        let safe: String = self
            .check
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        format!("{safe}.json")
    }

    /// Writes the file into `dir` (created if needed) and returns its path.
    pub fn write_into(&self, dir: &Path) -> Result<PathBuf, ReplayError> {
        let io = |e: std::io::Error, path: &Path| ReplayError::Io {
            path: path.display().to_string(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(e, dir))?;
        let path = dir.join(self.file_name());
        let text = serde_json::to_string_pretty(self).map_err(|e| ReplayError::Invalid {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|e| io(e, &path))?;
        Ok(path)
    }
}

/// The command that replays the file at `path`.
pub fn replay_command(path: &Path) -> String {
    format!("dx-conformance replay {}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn failure(expected: &str, counterexample: &str) -> Failure {
        Failure {
            expected: expected.into(),
            actual: "HTTP 500".into(),
            counterexample: Some(counterexample.into()),
            replay: Some("curl -i 'http://x/y'".into()),
        }
    }

    fn file() -> ReplayFile {
        ReplayFile {
            dx_conformance_replay: REPLAY_FORMAT,
            suite_version: "0.1.0".into(),
            check: "p06".into(),
            title: "Mutex Poisoning Recovery".into(),
            target: "http://127.0.0.1:9".into(),
            instances: vec!["http://127.0.0.1:9".into()],
            embedded: true,
            discovery_hash: Some("sha256:00".into()),
            seed: 7,
            cases: 30,
            position: Some(CasePosition { driver: 2, case: 5 }),
            failure: RecordedFailure {
                expected: "e".into(),
                actual: "HTTP 500".into(),
                counterexample: Some("[Poison(1)]".into()),
                exchange: Some("curl -i 'http://x/y'".into()),
            },
            client_runtime: None,
        }
    }

    #[test]
    fn files_round_trip_and_run_only_their_case() {
        let dir = std::env::temp_dir().join(format!("dx-replay-test-{}", std::process::id()));
        let path = file().write_into(&dir).unwrap();
        assert_eq!(path.file_name().unwrap(), "p06.json");
        let read = ReplayFile::load(&path).unwrap();
        assert_eq!(read, file());
        let options = read.run_options(Duration::from_secs(9));
        assert_eq!(options.cases, CaseConfig { cases: 30, seed: 7 });
        assert_eq!(options.focus, Some(CasePosition { driver: 2, case: 5 }));
        assert!(options.selection.selects("p06", &[]));
        assert!(
            !options
                .selection
                .selects("p07", &["p07".into(), "error".into()])
        );
        assert!(read.is_property());
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn scenario_ids_make_safe_file_names() {
        let mut scenario = file();
        scenario.check = "errors:12".into();
        assert_eq!(scenario.file_name(), "errors-12.json");
        assert!(!scenario.is_property());
    }

    #[test]
    fn foreign_and_future_files_are_refused() {
        let dir = std::env::temp_dir().join(format!("dx-replay-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let other = dir.join("other.json");
        std::fs::write(&other, "{\"a\": 1}").unwrap();
        assert!(matches!(
            ReplayFile::load(&other),
            Err(ReplayError::Invalid { .. })
        ));
        let mut future = file();
        future.dx_conformance_replay = 2;
        let path = future.write_into(&dir).unwrap();
        let err = ReplayFile::load(&path).unwrap_err().to_string();
        assert!(err.contains("format 2"), "{err}");
        assert!(matches!(
            ReplayFile::load(&dir.join("missing.json")),
            Err(ReplayError::Io { .. })
        ));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn replays_are_judged_against_the_recording() {
        let recorded = file().failure;
        let same = Verdict::Fail(failure("e", "[Poison(1)]"));
        assert!(matches!(
            Replayed::judge(&recorded, &same),
            Replayed::Same(_)
        ));
        let other = Verdict::Fail(failure("e", "[Poison(2)]"));
        assert!(matches!(
            Replayed::judge(&recorded, &other),
            Replayed::Different(_)
        ));
        assert_eq!(Replayed::judge(&recorded, &Verdict::Pass), Replayed::Passed);
        assert!(!Replayed::Passed.failed());
        assert!(Replayed::judge(&recorded, &same).failed());
    }
}
