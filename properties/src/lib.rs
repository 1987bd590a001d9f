//! The dx-www conformance suite as a library: reach a target (a URL or the embedded
//! reference), read its discovery document, run the black-box property checks, and report.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use dx_conformance::{RunOptions, Target, run_properties};
//! let target = Target::from_env().await?;
//! let results = run_properties(&target, &RunOptions::default(), &mut |_| {}).await?;
//! # Ok(()) }
//! ```

pub mod accounts;
pub mod budget;
pub mod cases;
pub mod check;
pub mod checks;
pub mod clause;
pub mod client;
pub mod contract;
pub mod discovery;
pub mod embedded;
pub mod envelope;
pub mod expected;
pub mod gate;
pub mod htip;
pub mod http;
pub mod leaks;
pub mod observer;
pub mod probes;
pub mod raw;
pub mod replay;
pub mod report;
pub mod request_id;
pub mod rules;
pub mod runner;
pub mod selection;
pub mod spec;
pub mod sync_frames;
pub mod target;
pub mod tls;
pub mod token;
pub mod verdict;
pub mod wire_text;
pub mod ws;

pub use cases::{CaseConfig, CaseFailure, CaseOutcome};
pub use discovery::Discovery;
pub use runner::{Progress, Report, RunOptions, run_properties, run_property, run_undescribed};
pub use selection::Selection;
pub use target::{Bare, Reached, Target, TargetError, TargetSpec};
pub use verdict::{CheckResult, Failure, Summary, Verdict};
