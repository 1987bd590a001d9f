//! The executable Gherkin features of dx-www: the cucumber world, the step library, and a
//! runner that reports one verdict per scenario in the same form as the property checks.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dx_conformance::Target;
//! use dx_features::{default_features_dir, run_features};
//! let target = Target::from_env().await?;
//! let results = run_features(&target, &["@p08".into()], &default_features_dir()).await?;
//! # Ok(()) }
//! ```

mod collector;
mod requests;
mod runner;
pub mod scenario;
mod step_error;
mod steps;
mod world;

pub use runner::{
    FeaturesError, ScenarioEntry, default_features_dir, list_scenarios, run_features,
    run_selected_features, run_selected_features_within, scenarios_not_verified,
};
pub use step_error::StepError;
pub use world::DxWorld;
