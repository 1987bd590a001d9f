//! Runs the `.feature` files against a target through cucumber's own parser and runner, and
//! reports one verdict per scenario in the suite's `CheckResult` form.

use std::path::{Path, PathBuf};

use cucumber::World as _;
use dx_conformance::Target;
use dx_conformance::check::selected;
use dx_conformance::verdict::CheckResult;
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
    if !features_dir.is_dir() {
        return Err(FeaturesError::NoFeatures(features_dir.to_path_buf()));
    }
    let _turn = ONE_RUN_AT_A_TIME.lock().await;
    let target = target.clone();
    let wanted = tags.to_vec();
    let collector = DxWorld::cucumber()
        .max_concurrent_scenarios(1)
        .before(move |_, _, _, world| {
            world.set_target(target.clone());
            async {}.boxed_local()
        })
        .with_writer(Collector::default())
        .with_default_cli()
        .filter_run(features_dir.to_path_buf(), move |feature, rule, sc| {
            selected(&scenario::tags(feature, rule, sc), &wanted)
        })
        .await;
    let (results, parse_errors) = collector.finish();
    if parse_errors.is_empty() {
        Ok(results)
    } else {
        Err(FeaturesError::Parse(parse_errors))
    }
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
