//! Per-group line-coverage gate over `cargo llvm-cov --json` exports.
//!
//! `cargo llvm-cov` has a single global `--fail-under-lines`; the design asks
//! for different minimums per module (auth, error, client, rate limiter,
//! CSRF, whole workspace), so this crate checks each group of gates.toml.

pub mod cli;
pub mod config;
pub mod export;
pub mod gate;
pub mod pattern;
pub mod percent;
pub mod report;
pub mod root;
pub mod uncovered;

use std::ffi::OsString;
use std::io::{self, Write};

use cli::Command;
use root::Root;

/// Everything that stops the gate from giving a verdict (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Usage(#[from] cli::UsageError),
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Export(#[from] export::ExportError),
    #[error(transparent)]
    Root(#[from] root::RootError),
    #[error("cannot write the report: {0}")]
    Output(#[from] io::Error),
}

impl Error {
    /// Whether the usage text would help.
    pub fn is_usage(&self) -> bool {
        matches!(self, Self::Usage(_))
    }
}

/// Runs the command line `args` (without the program name), writing to `out`;
/// returns the exit status of a completed run (0 pass, 1 fail).
pub fn run(args: impl IntoIterator<Item = OsString>, out: &mut dyn Write) -> Result<u8, Error> {
    match cli::parse(args)? {
        Command::Help => {
            writeln!(out, "{}", cli::USAGE)?;
            Ok(0)
        }
        Command::ListGroups { gates } => {
            let gates = config::load(&gates)?;
            for group in gates.groups.iter().filter(|g| g.pending.is_none()) {
                for pattern in &group.patterns {
                    writeln!(out, "{}\t{}", group.name, pattern.as_str())?;
                }
            }
            Ok(0)
        }
        Command::Gate(options) => {
            let gates = config::load(&options.gates)?;
            let root = Root::new(&options.root)?;
            let export = export::load(&options.export, &root)?;
            let evaluation = gate::evaluate(&gates, &export.files);
            let root_text = root.display().to_string();
            let context = report::Context {
                gates: &gates,
                root: &root_text,
                files_under_root: export.files.len(),
                outside_root: export.outside_root,
                worst: options.worst,
            };
            report::write(out, &evaluation, &context)?;
            Ok(evaluation.exit_code())
        }
    }
}
