//! Runs the `.feature` files against a target through cucumber's own parser and runner, and
//! reports one verdict per scenario in the suite's `CheckResult` form.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cucumber::World as _;
use dx_conformance::verdict::{CheckResult, Verdict};
use dx_conformance::{Selection, Target};
use futures_util::FutureExt as _;

use crate::collector::Collector;
use crate::scenario;
use crate::world::DxWorld;

/// cucumber swaps the process's panic hook for a silent one while it runs and restores it
/// afterwards; two overlapping runs would restore each other's silent hook for good. Runs
/// therefore take turns.
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
/// `@`) are selected by `tags` (any match, case-insensitive; empty selects all), one at a
/// time, and returns their results in run order.
///
/// Scenarios run one at a time so that one scenario's fault (a panic it provokes) cannot be
/// blamed on another, and durations are the scenario's own. The future is not `Send`
/// (cucumber's runner is not), so await it rather than spawn it.
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

/// How often the running scenario's time is looked at.
const WATCH_EVERY: Duration = Duration::from_millis(250);

/// [`run_selected_features`] with a time limit per scenario (`--timeout`): a scenario still
/// running after `limit` fails citing the limit (spec/conformance.md), and the run goes on
/// with the scenarios after it, so a target that stops answering in one scenario never hangs
/// the suite.
pub async fn run_selected_features_within(
    target: &Target,
    selection: &Selection,
    features_dir: &Path,
    limit: Duration,
) -> Result<Vec<CheckResult>, FeaturesError> {
    if !features_dir.is_dir() {
        return Err(FeaturesError::NoFeatures(features_dir.to_path_buf()));
    }
    let _turn = ONE_RUN_AT_A_TIME.lock().await;
    let mut results: Vec<CheckResult> = Vec::new();
    loop {
        let done: HashSet<String> = results.iter().map(|r| r.id.clone()).collect();
        let collector = Collector::default();
        // A clone shares the state: kept here while cucumber owns the writer.
        let watched = collector.clone();
        let target = target.clone();
        let wanted = selection.clone();
        let hook = PanicHook::save();
        let run = Box::pin(
            DxWorld::cucumber()
                .max_concurrent_scenarios(1)
                .before(move |feature, _, sc, world| {
                    // The rules' ledger names the scenario whose requests met a breach.
                    world.set_target(target.attributed_to(&scenario::id(feature, sc)));
                    async {}.boxed_local()
                })
                .with_writer(collector)
                .with_default_cli()
                .filter_run(features_dir.to_path_buf(), move |feature, rule, sc| {
                    let id = scenario::id(feature, sc);
                    !done.contains(&id) && wanted.selects(&id, &scenario::tags(feature, rule, sc))
                }),
        );
        let overdue = watch(run, &watched, limit).await;
        let (finished, parse_errors) = watched.take();
        if !parse_errors.is_empty() {
            return Err(FeaturesError::Parse(parse_errors));
        }
        results.extend(finished);
        match overdue {
            Some(stopped) => {
                // cucumber restores the process's panic hook only when a run ends.
                hook.restore();
                tracing::warn!(id = %stopped.id, limit_s = limit.as_secs(), "scenario stopped at its time limit");
                results.push(stopped);
            }
            None => return Ok(results),
        }
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
    use cucumber::feature::Ext as _;
    use cucumber::gherkin::{Feature, GherkinEnv};

    if !features_dir.is_dir() {
        return Err(FeaturesError::NoFeatures(features_dir.to_path_buf()));
    }
    let mut paths: Vec<PathBuf> = std::fs::read_dir(features_dir)
        .map_err(|e| FeaturesError::Parse(vec![e.to_string()]))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "feature"))
        .collect();
    paths.sort();
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        let feature = Feature::parse_path(&path, GherkinEnv::default())
            .map_err(|e| e.to_string())
            .and_then(|f| f.expand_examples().map_err(|e| e.to_string()));
        let feature = match feature {
            Ok(f) => f,
            Err(e) => {
                errors.push(format!("{}: {e}", path.display()));
                continue;
            }
        };
        let plain = feature.scenarios.iter().map(|sc| (None, sc));
        let ruled = feature
            .rules
            .iter()
            .flat_map(|r| r.scenarios.iter().map(move |sc| (Some(r), sc)));
        for (rule, sc) in plain.chain(ruled) {
            let tags = scenario::tags(&feature, rule, sc);
            let id = scenario::id(&feature, sc);
            if selection.selects(&id, &tags) {
                entries.push(ScenarioEntry {
                    id,
                    title: scenario::title(sc),
                    requirements: scenario::requirements(&tags),
                    tags,
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(entries)
    } else {
        Err(FeaturesError::Parse(errors))
    }
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
    fn embedded_features_can_be_written_elsewhere() {
        let dir = std::env::temp_dir().join(format!("dx-features-test-{}", std::process::id()));
        write_embedded(&dir).unwrap();
        for (name, text) in EMBEDDED_FEATURES {
            assert_eq!(std::fs::read_to_string(dir.join(name)).unwrap(), *text);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
