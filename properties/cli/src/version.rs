//! What `dx-conformance --version` says: the suite's version, the commit it was built from
//! (`build.rs`) and the version of `spec/` it checks, so a report can be traced to the exact
//! suite and contract that judged it.

use std::sync::OnceLock;

/// The commit the command was built from (short hash), or "unknown" outside a git checkout.
pub const COMMIT: &str = env!("DX_CONFORMANCE_COMMIT");

/// `0.1.0 (commit 665f213, spec 1.0)`: clap prints it after the command's name.
pub fn line() -> &'static str {
    static LINE: OnceLock<String> = OnceLock::new();
    LINE.get_or_init(|| {
        format!(
            "{} (commit {COMMIT}, spec {})",
            dx_conformance::runner::SUITE_VERSION,
            dx_conformance::discovery::SPEC_VERSION
        )
    })
}
