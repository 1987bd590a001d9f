//! Runs the selected property checks against a target and collects a [`Report`].

use std::time::{Duration, Instant};

use crate::cases::CaseConfig;
use crate::check::{selected, tags_of};
use crate::checks;
use crate::spec::{SpecError, properties};
use crate::target::Target;
use crate::verdict::{CheckResult, Summary, Verdict};

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Case count and seed.
    pub cases: CaseConfig,
    /// `--tags`: run checks with any of these tags; empty runs all.
    pub tags: Vec<String>,
}

/// Progress events, for a live display.
#[derive(Debug)]
pub enum Progress<'a> {
    /// A check is starting.
    Started {
        /// Its id.
        id: &'a str,
        /// Its title.
        title: &'a str,
    },
    /// A check finished.
    Finished(&'a CheckResult),
}

/// The reason given for a property this version of the suite has no check for yet.
pub const NOT_YET_CHECKED: &str = "this version of the suite has no black-box check for it yet";

/// The discovery member that offers a property's area (spec/discovery.md, "Areas"); `None`
/// for the areas every target has (`error`, `server`).
pub fn area_member(area: &str) -> Option<&'static str> {
    match area {
        "auth" => Some("auth"),
        "client" => Some("client"),
        "security-headers" => Some("security_headers"),
        "rate-limit" => Some("rate_limits"),
        "csrf" => Some("csrf"),
        "query" => Some("query"),
        "sync" => Some("sync"),
        _ => None,
    }
}

/// Why a property cannot be verified before its check runs: the target does not offer its
/// area (the reason spec/discovery.md words), or this suite has no check for it.
fn precondition(
    spec: &crate::spec::PropertySpec,
    target: &Target,
    has_check: bool,
) -> Option<String> {
    if let Some(member) = area_member(&spec.area)
        && !target.discovery().offers(member)
    {
        return Some(format!("target does not offer `{member}`"));
    }
    (!has_check).then(|| NOT_YET_CHECKED.to_owned())
}

/// Runs every selected property check, in property order. Properties without a check are
/// listed as not verified, so the report always accounts for all 26.
pub async fn run_properties(
    target: &Target,
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<CheckResult>, SpecError> {
    let available = checks::all();
    let mut results = Vec::new();
    for spec in properties()? {
        let tags = tags_of(spec);
        if !selected(&tags, &options.tags) {
            continue;
        }
        let id = format!("p{:02}", spec.number);
        progress(Progress::Started {
            id: &id,
            title: &spec.title,
        });
        let started = Instant::now();
        let check = available.iter().find(|c| c.property == spec.number);
        let (verdict, cases) = match (precondition(spec, target, check.is_some()), check) {
            (None, Some(check)) => (check.run)(target, options.cases).await.into_verdict(),
            (reason, _) => (
                Verdict::NotVerified(reason.unwrap_or_else(|| NOT_YET_CHECKED.to_owned())),
                0,
            ),
        };
        let result = CheckResult {
            id,
            property: Some(spec.number),
            title: spec.title.clone(),
            statement: Some(spec.statement.clone()),
            requirements: spec.requirements.clone(),
            tags,
            verdict,
            cases,
            duration: started.elapsed(),
        };
        progress(Progress::Finished(&result));
        results.push(result);
    }
    Ok(results)
}

/// Runs one property's check (for `cargo test` wrappers).
pub async fn run_property(
    target: &Target,
    number: u8,
    cases: CaseConfig,
) -> Result<CheckResult, SpecError> {
    let options = RunOptions {
        cases,
        tags: vec![format!("p{number:02}")],
    };
    let mut results = run_properties(target, &options, &mut |_| {}).await?;
    results.pop().ok_or_else(|| SpecError {
        file: "properties.toml",
        reason: format!("no property {number}"),
    })
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Report {
    /// The target's base URL.
    pub target: String,
    /// `name version` of the implementation (and its mutant, if any).
    pub implementation: (String, String),
    /// The active mutant, for deliberately broken reference builds.
    pub mutant: Option<String>,
    /// The target's profile.
    pub profile: String,
    /// The generator seed.
    pub seed: u64,
    /// The results, properties first, then scenarios.
    pub results: Vec<CheckResult>,
    /// Total wall time.
    pub duration: Duration,
}

impl Report {
    /// A report for `target` with `results`.
    pub fn new(target: &Target, seed: u64, results: Vec<CheckResult>, duration: Duration) -> Self {
        let d = target.discovery();
        Self {
            target: target.base_url().as_str().trim_end_matches('/').to_owned(),
            implementation: (
                d.implementation.name.clone(),
                d.implementation.version.clone(),
            ),
            mutant: d.implementation.mutant.clone(),
            profile: d.profile.clone(),
            seed,
            results,
            duration,
        }
    }

    /// Counts per verdict.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.results)
    }

    /// 1 when anything failed, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.summary().fail > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_area_of_the_spec_maps_to_its_discovery_member() {
        let expected = [
            ("auth", Some("auth")),
            ("error", None),
            ("client", Some("client")),
            ("security-headers", Some("security_headers")),
            ("rate-limit", Some("rate_limits")),
            ("csrf", Some("csrf")),
            ("query", Some("query")),
            ("sync", Some("sync")),
            ("server", None),
        ];
        for spec in properties().unwrap() {
            let want = expected.iter().find(|(a, _)| *a == spec.area);
            assert_eq!(
                want.map(|(_, m)| *m),
                Some(area_member(&spec.area)),
                "{}",
                spec.area
            );
        }
    }
}
