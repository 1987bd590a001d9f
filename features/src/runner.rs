//! Runs the `.feature` files against a target through cucumber's own parser and runner, and
//! reports one verdict per scenario in the suite's `CheckResult` form.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cucumber::World as _;
use cucumber::gherkin::{Feature, Rule, Scenario};
use dx_conformance::verdict::{CheckResult, Verdict};
use dx_conformance::{Selection, Target};
use futures_util::FutureExt as _;

use crate::collector::Collector;
use crate::scenario;
use crate::world::DxWorld;

/// cucumber swaps the process's panic hook for a silent one while it runs and restores it
/// afterwards; the scenarios of one call run as overlapping cucumber runs, whose hooks the
/// call puts back in order, but two calls would restore each other's silent hook for good.
/// Calls therefore take turns.
static ONE_RUN_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Why the features could not be run at all (as opposed to a scenario failing).
#[derive(Debug, thiserror::Error)]
pub enum FeaturesError {
    /// The directory does not exist.
    #[error("no features directory at {}", .0.display())]
    NoFeatures(PathBuf),
    /// A feature file could not be read or parsed; the suite itself is broken.
    #[error("cannot read the features: {}", .0.join("; "))]
    Parse(Vec<String>),
}

/// The `.feature` files compiled into the suite, so an installed `dx-conformance` binary
/// runs them on a machine without this repository.
const EMBEDDED_FEATURES: &[(&str, &str)] = &[
    ("auth.feature", include_str!("../auth.feature")),
    ("client.feature", include_str!("../client.feature")),
    ("errors.feature", include_str!("../errors.feature")),
    ("security.feature", include_str!("../security.feature")),
    ("query.feature", include_str!("../query.feature")),
    ("sync.feature", include_str!("../sync.feature")),
    ("ssr.feature", include_str!("../ssr.feature")),
];

/// Where the suite's `.feature` files are: next to this crate's Cargo.toml in a checkout;
/// elsewhere, the compiled-in copies written to a folder under the temporary directory.
pub fn default_features_dir() -> PathBuf {
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if EMBEDDED_FEATURES
        .iter()
        .all(|(name, _)| checkout.join(name).is_file())
    {
        return checkout;
    }
    let dir = std::env::temp_dir().join(format!("dx-features-{}", env!("CARGO_PKG_VERSION")));
    if write_embedded(&dir).is_ok() {
        dir
    } else {
        checkout
    }
}

/// Writes the compiled-in `.feature` files into `dir`.
fn write_embedded(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, text) in EMBEDDED_FEATURES {
        std::fs::write(dir.join(name), text)?;
    }
    Ok(())
}

/// Runs every scenario under `features_dir` whose feature, rule or scenario tags (without
/// `@`) are selected by `tags` (any match, case-insensitive; empty selects all), up to
/// [`SCENARIOS_AT_ONCE`] at a time, and returns their results in file order.
///
/// The future is not `Send` (cucumber's runner is not), so await it rather than spawn it,
/// on a thread with a main thread's stack: a client scenario runs the client's interpreter
/// inside cucumber's executor, which in a debug build needs about 2 MiB.
pub async fn run_features(
    target: &Target,
    tags: &[String],
    features_dir: &Path,
) -> Result<Vec<CheckResult>, FeaturesError> {
    // Boxed: cucumber's runner is a large future, and a test thread's stack is small.
    Box::pin(run_selected_features(
        target,
        &Selection::tags(tags.iter().cloned()),
        features_dir,
    ))
    .await
}

/// [`run_features`] for the scenarios `selection` selects by id, tag or area (`--tags`,
/// `--only`, `--skip`), each within the default time limit of a check.
pub async fn run_selected_features(
    target: &Target,
    selection: &Selection,
    features_dir: &Path,
) -> Result<Vec<CheckResult>, FeaturesError> {
    run_selected_features_within(
        target,
        selection,
        features_dir,
        dx_conformance::runner::DEFAULT_CHECK_TIMEOUT,
    )
    .await
}

/// Lanes of scenarios run at once ([`run_selected_features_within`]). A scenario is a few
/// round trips and waits (a token lapsing, a flood's window), so one after another through a
/// link with a 25 ms delay each way they took 36 s, ten on loopback.
pub const SCENARIOS_AT_ONCE: usize = 8;

/// The feature tag saying its scenarios share no state on the target (each has its own
/// users and channel, its own client instance, its own account and items), so each runs in a
/// lane of its own.
pub const CONCURRENT_TAG: &str = "concurrent";

/// The scenario tag that makes a scenario run alone, with no other scenario beside it: for
/// one that judges state every scenario shares on the target (the database pool) or that
/// times the target against a window.
pub const SERIAL_TAG: &str = "serial";

/// How often a running scenario's time is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// [`run_selected_features`] with a time limit per scenario (`--timeout`): a scenario still
/// running after `limit` fails citing the limit (spec/conformance.md) and is stopped, while
/// the scenarios beside it and after it run on, so a target that stops answering in one
/// scenario never hangs the suite.
///
/// Scenarios run in lanes, as the property checks do, [`SCENARIOS_AT_ONCE`] lanes at once:
/// the scenarios of a feature share the state of its area on the target (the hashing pool
/// and credential store of `auth`), so a feature is one lane, run one scenario after
/// another, unless it is tagged [`CONCURRENT_TAG`], when each of its scenarios is a lane of
/// its own. Longer lanes start first. Scenarios tagged [`SERIAL_TAG`] run last, one at a
/// time, alone. Each scenario is a cucumber run of its own over the features parsed once:
/// stopping one is dropping its run, its time is its own, and every request it sends is
/// recorded in the rules' ledger under its id (its world's target is
/// [`Target::attributed_to`] it). The results come in file order.
pub async fn run_selected_features_within(
    target: &Target,
    selection: &Selection,
    features_dir: &Path,
    limit: Duration,
) -> Result<Vec<CheckResult>, FeaturesError> {
    use futures_util::stream::{self, StreamExt};

    let features = parse_features(features_dir)?;
    let (lanes, serial) = plan(&features, selection);
    let _turn = ONE_RUN_AT_A_TIME.lock().await;
    // cucumber swaps the panic hook at each run's start and end; runs that overlap restore
    // each other's silent hooks, so the process's own hook is put back once all have ended.
    let hook = PanicHook::save();
    // Each scenario's run is a task of this set, polled from the set's own loop rather than
    // from inside the lanes' futures: a step (the client's interpreter, cucumber's executor)
    // needs a deep stack, and a test thread has 2 MiB.
    let runs = tokio::task::LocalSet::new();
    let mut results = runs
        .run_until(async {
            let mut results: Vec<(usize, Vec<CheckResult>)> = stream::iter(lanes)
                .map(|lane| async move {
                    let mut done = Vec::new();
                    for (at, planned) in lane {
                        done.push((at, run_scenario(target, planned, limit).await));
                    }
                    done
                })
                .buffer_unordered(SCENARIOS_AT_ONCE)
                .flat_map(stream::iter)
                .collect()
                .await;
            for (at, planned) in serial {
                results.push((at, run_scenario(target, planned, limit).await));
            }
            results
        })
        .await;
    // Runs stopped at their time limit end here, before the panic hook is put back.
    drop(runs);
    hook.restore();
    results.sort_by_key(|(at, _)| *at);
    Ok(results.into_iter().flat_map(|(_, r)| r).collect())
}

/// A scenario numbered by its place in file order.
type Placed = (usize, Planned);

/// The lanes of the scenarios `selection` selects, longest first, and the serial ones.
fn plan(features: &[Feature], selection: &Selection) -> (Vec<Vec<Placed>>, Vec<Placed>) {
    let mut lanes: Vec<(String, Vec<Placed>)> = Vec::new();
    let mut serial = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (feature, rule, sc) in scenarios_of(features) {
        let tags = scenario::tags(feature, rule, sc);
        let id = scenario::id(feature, sc);
        // A second scenario with the same id runs in the first one's run.
        if !selection.selects(&id, &tags) || !seen.insert(id.clone()) {
            continue;
        }
        let has = |tag: &str| tags.iter().any(|t| t.eq_ignore_ascii_case(tag));
        let placed = (
            seen.len(),
            Planned {
                id: id.clone(),
                feature: feature.clone(),
            },
        );
        if has(SERIAL_TAG) {
            serial.push(placed);
            continue;
        }
        let lane = if has(CONCURRENT_TAG) {
            id
        } else {
            format!("feature {:?}", feature.path)
        };
        match lanes.iter_mut().find(|(name, _)| *name == lane) {
            Some((_, members)) => members.push(placed),
            None => lanes.push((lane, vec![placed])),
        }
    }
    let mut lanes: Vec<Vec<Placed>> = lanes.into_iter().map(|(_, members)| members).collect();
    lanes.sort_by_key(|members| std::cmp::Reverse(members.len()));
    (lanes, serial)
}

/// A scenario to run: its id, and the feature it is in.
struct Planned {
    id: String,
    feature: Feature,
}

/// Runs the scenario `planned` names (every scenario with its id) as a cucumber run of its
/// own, a task of the current `LocalSet`, stopped when it runs past `limit`.
async fn run_scenario(target: &Target, planned: Planned, limit: Duration) -> Vec<CheckResult> {
    let Planned { id, feature } = planned;
    let collector = Collector::default();
    // A clone shares the state: kept here while cucumber owns the writer.
    let watched = collector.clone();
    let run = cucumber_run(target.attributed_to(&id), feature, id.clone(), collector);
    let named = id.clone();
    // The task-local name covers what a step sends through another handle than its world's.
    let task = tokio::task::spawn_local(async move {
        dx_conformance::rules::running(&named, run).await;
    });
    let stop = task.abort_handle();
    let overdue = watch(task, &watched, limit).await;
    let (mut finished, _) = watched.take();
    if let Some(stopped) = overdue {
        stop.abort();
        tracing::warn!(id = %stopped.id, limit_s = limit.as_secs(), "scenario stopped at its time limit");
        finished.push(stopped);
    }
    finished
}

/// The cucumber run of the scenarios of `feature` with id `id`, on `target`, reporting to
/// `collector`. Built in a function of its own and boxed: cucumber's runner is a large future,
/// and built inside the runs' own futures it would make every poll's stack frame large.
fn cucumber_run(
    target: Target,
    feature: Feature,
    id: String,
    collector: Collector,
) -> futures_util::future::LocalBoxFuture<'static, Collector> {
    DxWorld::cucumber::<PathBuf>()
        .with_parser(Parsed(vec![feature]))
        .max_concurrent_scenarios(1)
        .before(move |_, _, _, world| {
            world.set_target(target.clone());
            async {}.boxed_local()
        })
        .with_writer(collector)
        .with_default_cli()
        .filter_run((), move |feature, _, sc| scenario::id(feature, sc) == id)
        .boxed_local()
}

/// Features already parsed, handed to cucumber as its parser's output.
struct Parsed(Vec<Feature>);

impl cucumber::Parser<()> for Parsed {
    type Cli = cucumber::cli::Empty;
    type Output = futures_util::stream::Iter<std::vec::IntoIter<cucumber::parser::Result<Feature>>>;

    fn parse(self, (): (), _: Self::Cli) -> Self::Output {
        futures_util::stream::iter(self.0.into_iter().map(Ok).collect::<Vec<_>>())
    }
}

/// Drives `run` to its end, or stops it when a scenario runs past `limit`, returning that
/// scenario's result.
async fn watch<T>(
    run: impl std::future::Future<Output = T>,
    collector: &Collector,
    limit: Duration,
) -> Option<CheckResult> {
    let mut run = std::pin::pin!(run);
    loop {
        tokio::select! {
            _ = &mut run => return None,
            () = tokio::time::sleep(WATCH_EVERY.min(limit)) => {
                if let Some(stopped) = collector.overdue(limit) {
                    return Some(stopped);
                }
            }
        }
    }
}

/// A panic hook, as `std::panic::take_hook` gives it, shared.
type SharedHook = std::sync::Arc<Box<dyn Fn(&std::panic::PanicHookInfo<'_>) + Sync + Send>>;

/// The process's panic hook as it was before a cucumber run, to put back when the run is
/// stopped before it could restore it.
struct PanicHook(SharedHook);

impl PanicHook {
    fn save() -> Self {
        let hook: SharedHook = std::sync::Arc::new(std::panic::take_hook());
        let forward = std::sync::Arc::clone(&hook);
        std::panic::set_hook(Box::new(move |info| forward(info)));
        Self(hook)
    }

    fn restore(self) {
        let hook = self.0;
        std::panic::set_hook(Box::new(move |info| hook(info)));
    }
}

/// A scenario as a listing shows it, without running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioEntry {
    /// `<feature file stem>:<line>`.
    pub id: String,
    /// The scenario's title.
    pub title: String,
    /// Requirement ids from its `req-` tags.
    pub requirements: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
}

/// Every scenario under `features_dir` that `selection` selects (outline rows expanded), in
/// file order, without running any.
pub fn list_scenarios(
    features_dir: &Path,
    selection: &Selection,
) -> Result<Vec<ScenarioEntry>, FeaturesError> {
    let features = parse_features(features_dir)?;
    Ok(scenarios_of(&features)
        .filter_map(|(feature, rule, sc)| {
            let tags = scenario::tags(feature, rule, sc);
            let id = scenario::id(feature, sc);
            selection.selects(&id, &tags).then(|| ScenarioEntry {
                id,
                title: scenario::title(sc),
                requirements: scenario::requirements(&tags),
                tags,
            })
        })
        .collect())
}

/// The `.feature` files directly under `features_dir`, in name order, each parsed with its
/// outlines expanded into one scenario per row (as cucumber's own parser does).
fn parse_features(features_dir: &Path) -> Result<Vec<Feature>, FeaturesError> {
    use cucumber::feature::Ext as _;
    use cucumber::gherkin::GherkinEnv;

    if !features_dir.is_dir() {
        return Err(FeaturesError::NoFeatures(features_dir.to_path_buf()));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(features_dir)
        .map_err(|e| FeaturesError::Parse(vec![e.to_string()]))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    paths.sort();
    let mut features = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        match Feature::parse_path(&path, GherkinEnv::default())
            .map_err(|e| e.to_string())
            .and_then(|f| f.expand_examples().map_err(|e| e.to_string()))
        {
            Ok(feature) => features.push(feature),
            Err(e) => errors.push(format!("{}: {e}", path.display())),
        }
    }
    if errors.is_empty() {
        Ok(features)
    } else {
        Err(FeaturesError::Parse(errors))
    }
}

/// Every scenario of `features` with its feature and rule, in file order.
fn scenarios_of(
    features: &[Feature],
) -> impl Iterator<Item = (&Feature, Option<&Rule>, &Scenario)> {
    features.iter().flat_map(|feature| {
        let plain = feature.scenarios.iter().map(move |sc| (feature, None, sc));
        let ruled = feature
            .rules
            .iter()
            .flat_map(move |r| r.scenarios.iter().map(move |sc| (feature, Some(r), sc)));
        plain.chain(ruled)
    })
}

/// Every scenario [`list_scenarios`] selects, each reported as not verified with `reason`:
/// for a target the scenarios cannot run against (no discovery document), so the report
/// still accounts for each of them.
pub fn scenarios_not_verified(
    features_dir: &Path,
    selection: &Selection,
    reason: &str,
) -> Result<Vec<CheckResult>, FeaturesError> {
    Ok(list_scenarios(features_dir, selection)?
        .into_iter()
        .map(|s| CheckResult {
            id: s.id,
            property: None,
            title: s.title,
            statement: None,
            requirements: s.requirements,
            tags: s.tags,
            verdict: Verdict::NotVerified(reason.to_owned()),
            unverified: None,
            cases: 0,
            duration: std::time::Duration::ZERO,
            position: None,
            expected: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_feature_file_is_embedded_and_identical() {
        let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk: Vec<String> = std::fs::read_dir(&checkout)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".feature"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = EMBEDDED_FEATURES
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "add new .feature files to EMBEDDED_FEATURES"
        );
        for (name, text) in EMBEDDED_FEATURES {
            assert_eq!(
                std::fs::read_to_string(checkout.join(name)).unwrap(),
                *text,
                "{name}"
            );
        }
        assert_eq!(default_features_dir(), checkout);
    }

    #[test]
    fn the_suites_scenarios_run_in_lanes_by_what_they_share() {
        let features = parse_features(&default_features_dir()).unwrap();
        let (lanes, serial) = plan(&features, &Selection::default());
        let ids =
            |lane: &[Placed]| -> Vec<String> { lane.iter().map(|(_, p)| p.id.clone()).collect() };
        assert_eq!(ids(&serial), ["query:pool-burst", "security:retry-after"]);
        for stem in ["auth", "errors", "security"] {
            // One lane holds every scenario of the feature, one after another.
            let lane: Vec<&Vec<Placed>> = lanes
                .iter()
                .filter(|l| l.iter().any(|(_, p)| p.id.starts_with(&format!("{stem}:"))))
                .collect();
            assert_eq!(lane.len(), 1, "{stem}");
            assert!(lane[0].len() > 1, "{stem}");
        }
        for lane in &lanes {
            let id = &lane[0].1.id;
            if ["client:", "query:", "sync:"]
                .iter()
                .any(|s| id.starts_with(s))
            {
                assert_eq!(
                    lane.len(),
                    1,
                    "{id} shares nothing, so it has a lane of its own"
                );
            }
        }
        assert!(
            lanes.windows(2).all(|w| w[0].len() >= w[1].len()),
            "longest first"
        );
        let mut places: Vec<usize> = lanes
            .iter()
            .flatten()
            .chain(&serial)
            .map(|(at, _)| *at)
            .collect();
        places.sort_unstable();
        let all = list_scenarios(&default_features_dir(), &Selection::default()).unwrap();
        assert_eq!(
            places,
            (1..=all.len()).collect::<Vec<_>>(),
            "each scenario once"
        );
    }

    #[test]
    fn embedded_features_can_be_written_elsewhere() {
        let dir = std::env::temp_dir().join(format!("dx-features-test-{}", std::process::id()));
        write_embedded(&dir).unwrap();
        for (name, text) in EMBEDDED_FEATURES {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), *text);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
