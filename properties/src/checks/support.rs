//! Helpers shared by the checks.

pub use crate::observer::Observer;

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::check::{CheckOutcome, NOT_CONFORMANCE};
use crate::target::Target;

/// The fault hooks' base path, or why the check cannot use them.
pub fn fault_hooks(target: &Target) -> Result<String, CheckOutcome> {
    let discovery = target.discovery();
    if !discovery.is_conformance() {
        return Err(CheckOutcome::NotVerified(format!(
            "{NOT_CONFORMANCE} (profile: {})",
            discovery.profile
        )));
    }
    crate::contract::hooks_base(discovery).ok_or_else(|| {
        CheckOutcome::NotVerified(
            "target is in the conformance profile but publishes no fault_hooks".into(),
        )
    })
}

/// A scope name no other run or case uses: `<prefix>-<run>-<n>`.
pub fn unique_scope(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static RUN: LazyLock<String> =
        LazyLock::new(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!("{prefix}-{}-{}", *RUN, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A random marker string planted in internal causes, to be looked for in responses.
pub fn marker() -> String {
    format!("dxmark{}", &uuid::Uuid::new_v4().simple().to_string()[..16])
}
