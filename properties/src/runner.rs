//! Runs the selected property checks against a target and collects a [`Report`].

use std::future::Future;
use std::time::{Duration, Instant};

use crate::cases::{CaseConfig, CasePosition, Traced, traced};
use crate::check::{Judged, tags_of};
use crate::checks;
use crate::clause::conformance as cc;
use crate::expected::Notice;
use crate::selection::Selection;
use crate::spec::{PropertySpec, SpecError, properties};
use crate::target::{Bare, Target};
use crate::verdict::{CheckResult, Failure, Summary, Verdict};

/// The default of `--timeout`: the most one check may take.
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(120);

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Case count and seed.
    pub cases: CaseConfig,
    /// `--tags`, `--only` and `--skip`.
    pub selection: Selection,
    /// `--jobs`: how many lanes of checks run at once (at least 1; see [`lane_of`]).
    pub jobs: usize,
    /// `--timeout`: the most one check may take; past it the check fails.
    pub timeout: Duration,
    /// When replaying a failure: the one case each selected check runs.
    pub focus: Option<CasePosition>,
    /// `--strict`: the SHOULD-level checks run too, after the properties
    /// (`checks::recommended`).
    pub strict: bool,
    /// `--max-wait`: the most one check waits, in all, for the target's rate-limit budgets;
    /// past it the check is not verified (`crate::budget`). Its waits do not count against
    /// `timeout`.
    pub max_wait: Duration,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            cases: CaseConfig::default(),
            selection: Selection::default(),
            jobs: default_jobs(),
            timeout: DEFAULT_CHECK_TIMEOUT,
            focus: None,
            strict: false,
            max_wait: crate::budget::DEFAULT_MAX_WAIT,
        }
    }
}

/// Lanes run at once against the embedded reference unless `--jobs` says otherwise: the
/// number of cores, and at least [`MIN_DEFAULT_JOBS`].
pub fn default_jobs() -> usize {
    cores().max(MIN_DEFAULT_JOBS)
}

/// Lanes run at once against `target` unless `--jobs` says otherwise: [`default_jobs`] for
/// the embedded reference, which shares the suite's cores, so more lanes only crowd them
/// (sixteen lanes on two cores starved its SQLite store into 503s); for a target given by
/// URL the number of cores and at least [`MIN_REMOTE_JOBS`], since there the lanes wait on
/// the network.
pub fn default_jobs_for(target: &crate::target::TargetSpec) -> usize {
    match target {
        crate::target::TargetSpec::Embedded(_) => default_jobs(),
        crate::target::TargetSpec::Url(_) => cores().max(MIN_REMOTE_JOBS),
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// A check spends most of its time waiting on the target (its answers, rate-limit windows,
/// token expiry, sync time limits), not computing, so more lanes than cores overlap those
/// waits: against the embedded reference on two cores, 63.5 s with two lanes, 49.0 s with
/// four, 48.8 s with six, where the error area's lane becomes the whole run (docs/measurements.md).
pub const MIN_DEFAULT_JOBS: usize = 4;

/// Lanes at least, by default, against a target given by URL: through a link with 25 ms each
/// way the checks wait on round trips, not on the cores, so the long lanes all run from the
/// start (eight lanes took 114.7 s where four took 148.5 s, with the same verdicts;
/// docs/measurements.md).
pub const MIN_REMOTE_JOBS: usize = 12;

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
fn precondition(spec: &PropertySpec, target: &Target, has_check: bool) -> Option<String> {
    if let Some(member) = area_member(&spec.area)
        && !target.discovery().offers(member)
        // The client checks themselves fail an embedded reference built without its client.
        && !(member == "client" && checks::client::embedded_without_client(target))
    {
        return Some(format!("target does not offer `{member}`"));
    }
    (!has_check).then(|| NOT_YET_CHECKED.to_owned())
}

/// The lane a property's check runs in: checks of one lane run one after another, lanes run
/// side by side. A check keeps its cases apart on the target (a fresh account, scope,
/// partition, session, channel or client instance each), so most checks are a lane of their
/// own; checks that lean on one resource of the target share a lane, so that they never
/// crowd it together: Properties 20 and 21 judge the connection pool (20 counts its
/// connections, 21 holds one past the query timeout), and Properties 1 and 4 hash a
/// password at nearly every case, where the target's hashing refuses (503, `Retry-After`)
/// past its capacity. The rest of an area, short checks, share a lane as before.
pub fn lane_of(spec: &PropertySpec) -> String {
    match (spec.area.as_str(), spec.number) {
        ("auth", 1 | 4) => "auth-hashing".to_owned(),
        ("query" | "error" | "rate-limit" | "csrf", _) if !splits_off(spec.number) => {
            spec.area.clone()
        }
        _ => format!("p{:02}", spec.number),
    }
}

/// The long checks of the areas that share a lane, which run in a lane of their own instead:
/// Property 6 (its scopes are its own), 14 (its partitions), 17 (its sessions) and 19 (its
/// accounts; it only waits for the pool like any client while 20 and 21 use it).
fn splits_off(number: u8) -> bool {
    matches!(number, 6 | 14 | 17 | 19)
}

/// About how long a property's check takes through a link with 25 ms each way, in seconds
/// (BENCHMARKS.md, "The suite through a slow link"): lanes start longest first, so the
/// longest chain is never the one left to start last.
fn expected_seconds(number: u8) -> u32 {
    match number {
        6 | 24 => 40,
        19 => 30,
        14 | 22 | 25 => 25,
        8 | 20 => 20,
        1 | 2 | 4 | 13 | 23 => 15,
        5 | 9 | 10 | 11 | 17 | 21 | 26 => 12,
        3 | 7 | 12 | 16 | 18 => 8,
        _ => 4,
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
    let available = checks::all();
    checks::auth::log_in_test_accounts(target).await;
    let mut results = run_lanes(options, progress, |spec| {
        let check = available
            .iter()
            .find(|c| c.property == spec.number)
            .copied();
        async move {
            match (precondition(spec, target, check.is_some()), check) {
                (None, Some(check)) => {
                    let target = target.attributed_to(&format!("p{:02}", spec.number));
                    (check.run)(&target, options.cases).await.into_verdict()
                }
                (reason, _) => Judged::whole(
                    Verdict::NotVerified(reason.unwrap_or_else(|| NOT_YET_CHECKED.to_owned())),
                    0,
                ),
            }
        }
    })
    .await?;
    if options.strict {
        let selects = |id: &str, tags: &[String]| options.selection.selects(id, tags);
        results.extend(checks::recommended::run(target, options.cases, &selects, progress).await);
    }
    Ok(results)
}

/// Runs, against a server without a valid discovery document, the properties that have a
/// form needing none (8, 12 and 26: `checks::undescribed`); every other selected property is
/// not verified, with the reason (spec/conformance.md, "Targets without a discovery
/// document").
pub async fn run_undescribed(
    bare: &Bare,
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
) -> Result<Vec<CheckResult>, SpecError> {
    let available = checks::undescribed::all();
    let mut results = run_lanes(options, progress, |spec| {
        let check = available
            .iter()
            .find(|c| c.property == spec.number)
            .copied();
        async move {
            match check {
                Some(check) => (check.run)(bare, options.cases).await.into_verdict(),
                None => Judged::whole(Verdict::NotVerified(undescribed_reason(spec, bare)), 0),
            }
        }
    })
    .await?;
    if options.strict {
        let selects = |id: &str, tags: &[String]| options.selection.selects(id, tags);
        let reason = format!("no discovery document: routes unknown ({})", bare.problem());
        results.extend(
            checks::recommended::run_undescribed(bare, options.cases, &selects, &reason, progress)
                .await,
        );
    }
    Ok(results)
}

/// Why a property without a no-discovery form is not verified against `bare`.
pub fn undescribed_reason(spec: &PropertySpec, bare: &Bare) -> String {
    let unknown = match area_member(&spec.area) {
        Some(member) => format!("`{member}` unknown"),
        None if spec.needs_conformance_profile => "profile and fault hooks unknown".to_owned(),
        None => "limits and routes unknown".to_owned(),
    };
    format!("no discovery document: {unknown} ({})", bare.problem())
}

/// Runs the selected properties in lanes, each by `run`, and returns them in property order.
async fn run_lanes<'s, F, Fut>(
    options: &RunOptions,
    progress: &mut dyn FnMut(Progress<'_>),
    run: F,
) -> Result<Vec<CheckResult>, SpecError>
where
    F: Fn(&'s PropertySpec) -> Fut,
    Fut: Future<Output = Judged>,
{
    use futures_util::stream::{self, StreamExt};

    let mut lanes: Vec<(String, Vec<&'s PropertySpec>)> = Vec::new();
    for spec in properties()? {
        let id = format!("p{:02}", spec.number);
        if !options.selection.selects(&id, &tags_of(spec)) {
            continue;
        }
        let lane = lane_of(spec);
        match lanes.iter_mut().find(|(name, _)| *name == lane) {
            Some((_, specs)) => specs.push(spec),
            None => lanes.push((lane, vec![spec])),
        }
    }
    // Longest first: with more lanes than jobs, a long lane started last would end last.
    let length =
        |specs: &[&PropertySpec]| -> u32 { specs.iter().map(|s| expected_seconds(s.number)).sum() };
    lanes.sort_by_key(|(_, specs)| std::cmp::Reverse(length(specs)));
    // Each check reports through the one callback; the lanes run on this task, so a borrow
    // never spans an await.
    let progress = std::cell::RefCell::new(progress);
    let progress = &progress;
    let run = &run;
    let mut results: Vec<CheckResult> = stream::iter(lanes)
        .map(|(_, specs)| async move {
            let mut done = Vec::new();
            for spec in specs {
                done.push(run_one(spec, options, progress, run(spec)).await);
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

/// Runs one property's check within the time limit and reports it.
async fn run_one(
    spec: &PropertySpec,
    options: &RunOptions,
    progress: &std::cell::RefCell<&mut dyn FnMut(Progress<'_>)>,
    check: impl Future<Output = Judged>,
) -> CheckResult {
    let id = format!("p{:02}", spec.number);
    (progress.borrow_mut())(Progress::Started {
        id: &id,
        title: &spec.title,
    });
    let started = Instant::now();
    let (judged, trace) = within_time_limit(
        options,
        crate::rules::running(&id, traced(options.focus, check)),
    )
    .await
    .unwrap_or_else(|| {
        (
            Judged::whole(timed_out(options.timeout), 0),
            Traced::default(),
        )
    });
    let Judged {
        verdict,
        cases,
        unverified,
    } = judged;
    let position = trace.failed_at;
    // Cases that could not conclude make a pass a pass in part; a failure stands on its own.
    let unverified = match (&verdict, unverified, trace.unconcluded) {
        (Verdict::Pass, Some(part), Some(cases)) => Some(format!("{part}; {cases}")),
        (Verdict::Pass, part, cases) => part.or(cases),
        (_, part, _) => part,
    };
    let result = CheckResult {
        id,
        property: Some(spec.number),
        title: spec.title.clone(),
        statement: Some(spec.statement.clone()),
        requirements: spec.requirements.clone(),
        tags: tags_of(spec),
        position: position.filter(|_| verdict.is_fail()),
        verdict,
        unverified,
        cases,
        duration: started.elapsed(),
        expected: None,
    };
    (progress.borrow_mut())(Progress::Finished(&result));
    result
}

/// Runs `check` under a wait account of `options.max_wait` (`crate::budget::WaitAccount`),
/// stopping it when it runs past `options.timeout` plus the time it spent waiting for the
/// target's rate-limit budgets: a target that limits the suite is not slow.
pub async fn within_time_limit<F: Future>(options: &RunOptions, check: F) -> Option<F::Output> {
    let account = crate::budget::WaitAccount::new(options.max_wait);
    let started = tokio::time::Instant::now();
    let run = account.scope(check);
    let mut run = std::pin::pin!(run);
    loop {
        let deadline = started + options.timeout + account.used();
        match tokio::time::timeout_at(deadline, &mut run).await {
            Ok(done) => return Some(done),
            Err(_) if started.elapsed() >= options.timeout + account.used() => return None,
            Err(_) => {}
        }
    }
}

/// The entries of the rules every response obeys (`crate::rules`), as recorded over the
/// run in `ledger`, the ones `selection` selects.
pub fn rule_results(ledger: &crate::rules::RuleLedger, selection: &Selection) -> Vec<CheckResult> {
    ledger
        .results()
        .into_iter()
        .filter(|r| selection.selects(&r.id, &r.tags))
        .collect()
}

/// The verdict of a check stopped at its time limit.
pub fn timed_out(limit: Duration) -> Verdict {
    Verdict::Fail(Failure {
        expected: cc::CHECK_TIME_LIMIT.cite(),
        actual: format!(
            "the check was still running after {} s (--timeout): the target stopped answering, or answers too slowly to be checked",
            limit.as_secs()
        ),
        counterexample: None,
        replay: None,
    })
}

/// Runs one property's check (for `cargo test` wrappers).
pub async fn run_property(
    target: &Target,
    number: u8,
    cases: CaseConfig,
) -> Result<CheckResult, SpecError> {
    let options = RunOptions {
        cases,
        selection: Selection::tags([format!("p{number:02}")]),
        jobs: 1,
        ..RunOptions::default()
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
    /// What the discovery document says of the target; `None` without a valid document.
    pub described: Option<Described>,
    /// Why the target has no valid discovery document, or could not be reached.
    pub problem: Option<String>,
    /// This suite's version.
    pub suite_version: String,
    /// The generator seed.
    pub seed: u64,
    /// Generated cases per property.
    pub cases: u32,
    /// The engine the client checks ran the client in: `wasmi`, or Chromium's version.
    pub client_runtime: String,
    /// The results, properties first, then scenarios.
    pub results: Vec<CheckResult>,
    /// What the expected-failures file led to beyond the verdicts (expired entries, entries
    /// whose check passes).
    pub notices: Vec<Notice>,
    /// For each failed check saved as a replay file: its id and the command that replays it.
    pub replays: Vec<(String, String)>,
    /// Total wall time.
    pub duration: Duration,
}

/// What the discovery document says of a target, for the report's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Described {
    /// `implementation.name`.
    pub name: String,
    /// `implementation.version`.
    pub version: String,
    /// The active mutant, for deliberately broken reference builds.
    pub mutant: Option<String>,
    /// The profile.
    pub profile: String,
    /// `sha256:` and the hex digest of the document as served.
    pub discovery_hash: String,
}

impl Report {
    /// A report for `target` with `results`, generated with `cases`.
    pub fn new(
        target: &Target,
        cases: CaseConfig,
        results: Vec<CheckResult>,
        duration: Duration,
    ) -> Self {
        let d = target.discovery();
        let mut report = Self::of(base_of(target.base_url()), cases, results, duration);
        report.instances = target
            .instances()
            .iter()
            .map(|t| base_of(t.base_url()))
            .collect();
        report.client_runtime = target.client_runtime().describe();
        report.described = Some(Described {
            name: d.implementation.name.clone(),
            version: d.implementation.version.clone(),
            mutant: d.implementation.mutant.clone(),
            profile: d.profile.clone(),
            discovery_hash: d.hash.clone(),
        });
        report
    }

    /// A report for a server without a valid discovery document.
    pub fn undescribed(
        bare: &Bare,
        cases: CaseConfig,
        results: Vec<CheckResult>,
        duration: Duration,
    ) -> Self {
        let mut report = Self::of(base_of(bare.base_url()), cases, results, duration);
        report.problem = Some(bare.problem().to_string());
        report
    }

    /// A report for a target that could not be reached at all: one failing entry saying so
    /// ([`UNREACHABLE`]), so a dashboard reading the report file shows the run failed, and
    /// why.
    pub fn unreachable(url: &str, error: &str, cases: CaseConfig, duration: Duration) -> Self {
        let url = url.trim_end_matches('/');
        let entry = CheckResult {
            id: UNREACHABLE.into(),
            property: None,
            title: "The target answers".into(),
            statement: None,
            requirements: Vec::new(),
            tags: Vec::new(),
            verdict: Verdict::Fail(Failure {
                expected: cc::TRANSPORT.cite(),
                actual: error.to_owned(),
                counterexample: None,
                replay: Some(format!("curl -i '{url}/.well-known/dx-www'")),
            }),
            unverified: None,
            cases: 0,
            duration,
            position: None,
            expected: None,
        };
        let mut report = Self::of(url.to_owned(), cases, vec![entry], duration);
        report.problem = Some(error.to_owned());
        report
    }

    /// What every report starts from: one instance, nothing described.
    fn of(
        target: String,
        cases: CaseConfig,
        results: Vec<CheckResult>,
        duration: Duration,
    ) -> Self {
        Self {
            instances: vec![target.clone()],
            target,
            described: None,
            problem: None,
            suite_version: SUITE_VERSION.to_owned(),
            seed: cases.seed,
            cases: cases.cases,
            client_runtime: "wasmi".to_owned(),
            results,
            notices: Vec::new(),
            replays: Vec::new(),
            duration,
        }
    }

    /// Counts per verdict.
    pub fn summary(&self) -> Summary {
        Summary::of(&self.results)
    }

    /// 1 when anything failed (an expected failure does not count) or the expected-failures
    /// file needs attention, else 0.
    pub fn exit_code(&self) -> i32 {
        i32::from(self.summary().fail > 0 || self.notices.iter().any(Notice::fails_run))
    }

    /// `name version` of the implementation, or what stands in for it.
    pub fn implementation(&self) -> String {
        match &self.described {
            Some(d) => format!("{} {}", d.name, d.version),
            None => "unknown (no discovery document)".to_owned(),
        }
    }

    /// The command replaying check `id`'s failure, when it was saved.
    pub fn replay_of(&self, id: &str) -> Option<&str> {
        self.replays
            .iter()
            .find(|(check, _)| check == id)
            .map(|(_, command)| command.as_str())
    }
}

/// The id of the one entry of a report on a target that could not be reached: no check ran.
pub const UNREACHABLE: &str = "target";

/// This suite's version, as reports record it.
pub const SUITE_VERSION: &str = env!("CARGO_PKG_VERSION");

fn base_of(url: &url::Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
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
    fn checks_that_crowd_one_resource_share_a_lane_long_ones_run_alone() {
        let lanes: Vec<(u8, String)> = properties()
            .unwrap()
            .iter()
            .map(|p| (p.number, lane_of(p)))
            .collect();
        let of = |n: u8| lanes.iter().find(|(m, _)| *m == n).unwrap().1.clone();
        for shared in [[20, 21], [1, 4], [7, 8], [13, 15], [16, 18]] {
            assert_eq!(of(shared[0]), of(shared[1]), "{shared:?}");
        }
        for own in [2, 3, 5, 6, 9, 10, 11, 12, 14, 17, 19, 22, 23, 24, 25, 26] {
            assert_eq!(of(own), format!("p{own:02}"));
        }
        assert_ne!(of(1), of(5));
        assert_ne!(of(13), of(14));
    }

    #[test]
    fn the_longest_checks_are_expected_longest() {
        let longest = properties()
            .unwrap()
            .iter()
            .max_by_key(|p| expected_seconds(p.number))
            .unwrap()
            .number;
        assert_eq!(longest, 24);
        assert!(expected_seconds(6) > expected_seconds(7));
    }

    #[test]
    fn the_default_job_count_is_at_least_one() {
        assert!(default_jobs() >= MIN_DEFAULT_JOBS);
        assert!(RunOptions::default().jobs >= 1);
    }

    #[test]
    fn a_target_given_by_url_gets_more_lanes_than_the_embedded_reference() {
        use crate::target::TargetSpec;
        let remote = default_jobs_for(&TargetSpec::Url("http://127.0.0.1:1".into()));
        assert!(remote >= MIN_REMOTE_JOBS);
        let embedded = TargetSpec::Embedded(Box::new(
            crate::embedded::EmbeddedReference::default_config(),
        ));
        assert_eq!(default_jobs_for(&embedded), default_jobs());
    }
}
