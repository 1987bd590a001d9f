//! Runs the selected property checks against a target and collects a [`Report`].

use std::time::{Duration, Instant};

use crate::cases::CaseConfig;
use crate::check::{selected, tags_of};
use crate::checks;
use crate::spec::{SpecError, properties};
use crate::target::Target;
use crate::verdict::{CheckResult, Summary, Verdict};

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Case count and seed.
    pub cases: CaseConfig,
    /// `--tags`: run checks with any of these tags; empty runs all.
    pub tags: Vec<String>,
    /// `--jobs`: how many lanes of checks run at once (at least 1; see [`lane_of`]).
    pub jobs: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            cases: CaseConfig::default(),
            tags: Vec::new(),
            jobs: default_jobs(),
        }
    }
}

/// The default of `--jobs`: the number of cores.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
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

/// The lane a property's check runs in: checks of one lane run one after another, lanes run
/// side by side. The checks of an area share state on the target (one rate limiter, one
/// connection pool, one key and store), so an area is one lane; the client and sync checks
/// isolate every case (a fresh client instance; fresh users on a fresh channel), so each of
/// them is a lane of its own.
pub fn lane_of(spec: &crate::spec::PropertySpec) -> String {
    match spec.area.as_str() {
        "client" | "sync" => format!("p{:02}", spec.number),
        area => area.to_owned(),
    }
}

/// Runs every selected property check, `options.jobs` lanes at once ([`lane_of`]), and
/// returns the results in property order. Properties without a check are listed as not
/// verified, so the report always accounts for all 26.
pub async fn run_properties(
    target: &Target,
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<CheckResult>, SpecError> {
    use futures_util::stream::{self, StreamExt};

    let mut lanes: Vec<(String, Vec<&crate::spec::PropertySpec>)> = Vec::new();
    for spec in properties()? {
        if !selected(&tags_of(spec), &options.tags) {
            continue;
        }
        let lane = lane_of(spec);
        match lanes.iter_mut().find(|(name, _)| *name == lane) {
            Some((_, specs)) => specs.push(spec),
            None => lanes.push((lane, vec![spec])),
        }
    }
    // Each check reports through the one callback; the lanes run on this task, so a borrow
    // never spans an await.
    let progress = std::cell::RefCell::new(progress);
    let progress = &progress;
    let mut results: Vec<CheckResult> = stream::iter(lanes)
        .map(|(_, specs)| async move {
            let mut done = Vec::new();
            for spec in specs {
                done.push(run_one(spec, target, options, progress).await);
            }
            done
        })
        .buffer_unordered(options.jobs.max(1))
        .flat_map(stream::iter)
        .collect()
        .await;
    results.sort_by_key(|r| r.property);
    Ok(results)
}

/// Runs one property's check (or says why it cannot run).
async fn run_one(
    spec: &crate::spec::PropertySpec,
    target: &Target,
    options: &RunOptions,
    progress: &std::cell::RefCell<&mut dyn FnMut(Progress<'_>)>,
) -> CheckResult {
    let id = format!("p{:02}", spec.number);
    (progress.borrow_mut())(Progress::Started {
        id: &id,
        title: &spec.title,
    });
    let started = Instant::now();
    let available = checks::all();
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
        tags: tags_of(spec),
        verdict,
        cases,
        duration: started.elapsed(),
    };
    (progress.borrow_mut())(Progress::Finished(&result));
    result
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
        jobs: 1,
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
    /// Every instance checked (`--target` given several times), the target first.
    pub instances: Vec<String>,
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
            instances: target
                .instances()
                .iter()
                .map(|t| t.base_url().as_str().trim_end_matches('/').to_owned())
                .collect(),
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

    #[test]
    fn client_and_sync_checks_run_in_lanes_of_their_own_other_areas_share_one() {
        let lanes: Vec<(u8, String)> = properties()
            .unwrap()
            .iter()
            .map(|p| (p.number, lane_of(p)))
            .collect();
        for (number, lane) in &lanes {
            let own = (9..=11).contains(number) || (22..=25).contains(number);
            assert_eq!(
                lane == &format!("p{number:02}"),
                own,
                "p{number:02}: {lane}"
            );
        }
        let of = |n: u8| lanes.iter().find(|(m, _)| *m == n).unwrap().1.clone();
        assert_eq!(of(13), of(15));
        assert_eq!(of(19), of(21));
        assert_eq!(of(1), of(5));
        assert_ne!(of(13), of(16));
    }

    #[test]
    fn the_default_job_count_is_at_least_one() {
        assert!(default_jobs() >= 1);
        assert!(RunOptions::default().jobs >= 1);
    }
}
