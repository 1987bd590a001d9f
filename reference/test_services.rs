//! Where the reference crates' tests find the real services they run against, shared by path
//! (`#[path = "../../test_services.rs"] mod test_services;`) so every crate skips and fails the
//! same way: a test that needs Redis runs when `REDIS_URL` is set and skips (saying so)
//! otherwise, unless `DX_REQUIRE_REDIS` is set, as CI sets it, where a missing Redis fails.

#![allow(dead_code)]

/// `REDIS_URL`, or `None` (skip) where it is unset and not required; `what` names the tests
/// that skip.
pub fn redis_url(what: &str) -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("DX_REQUIRE_REDIS").is_err(),
                "DX_REQUIRE_REDIS is set but REDIS_URL is not"
            );
            eprintln!("skipped: set REDIS_URL=redis://… to run {what}");
            None
        }
    }
}
