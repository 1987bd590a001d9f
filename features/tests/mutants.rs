//! The scenarios have teeth: against each deliberately broken reference whose defect they
//! cover, at least one scenario of that property fails (spec/conformance.md, "Mutants").

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use dx_conformance::Target;
use dx_conformance::embedded::EmbeddedReference;
use dx_features::{default_features_dir, run_features};
use dx_server::{Mutant, Mutations};

/// Runs [`caught`] on a thread of its own with a main thread's stack (8 MiB), as the CLI runs
/// the scenarios: a client scenario runs the client's interpreter inside cucumber's
/// executor, which in a debug build needs about 2 MiB, a test thread's whole stack.
async fn assert_caught(mutant: Mutant) {
    common::on_a_deep_stack(move || caught(mutant));
}

async fn caught(mutant: Mutant) {
    let mut config = EmbeddedReference::default_config();
    config.mutations = Mutations::with(Some(mutant));
    let target = Target::embedded(config).await.expect("target");
    let tag = format!("p{:02}", mutant.breaks_property());
    let results = run_features(&target, std::slice::from_ref(&tag), &default_features_dir())
        .await
        .unwrap();
    assert!(!results.is_empty(), "no scenario is tagged {tag}");
    assert!(
        results.iter().any(|r| r.verdict.is_fail()),
        "mutant {} passed every {tag} scenario: {results:#?}",
        mutant.name()
    );
}

#[tokio::test]
async fn error_code_missing_is_caught() {
    assert_caught(Mutant::ErrorCodeMissing).await;
}

#[tokio::test]
async fn leaks_internals_is_caught() {
    assert_caught(Mutant::LeaksInternals).await;
}

#[tokio::test]
async fn panic_escapes_boundary_is_caught() {
    assert_caught(Mutant::PanicEscapesBoundary).await;
}

#[tokio::test]
async fn failure_cascades_is_caught() {
    assert_caught(Mutant::FailureCascades).await;
}

#[tokio::test]
async fn signature_not_checked_is_caught() {
    assert_caught(Mutant::SignatureNotChecked).await;
}

#[tokio::test]
async fn refresh_accepted_as_access_is_caught() {
    assert_caught(Mutant::RefreshAcceptedAsAccess).await;
}

#[tokio::test]
async fn refresh_reuse_undetected_is_caught() {
    assert_caught(Mutant::RefreshReuseUndetected).await;
}

#[tokio::test]
async fn revocation_ignored_is_caught() {
    assert_caught(Mutant::RevocationIgnored).await;
}

/// Revocation is Property 5's, but a sync connection lives on the token it was opened with:
/// a server that ignores revocation upgrades a revoked token and keeps a connection open
/// after its token was revoked, which the sync scenarios must catch as well.
#[tokio::test]
async fn revocation_ignored_is_caught_by_the_sync_scenarios() {
    let mut config = EmbeddedReference::default_config();
    config.mutations = Mutations::with(Some(Mutant::RevocationIgnored));
    let target = Target::embedded(config).await.expect("target");
    let results = run_features(&target, &["sync".into()], &default_features_dir())
        .await
        .unwrap();
    let failed: Vec<&str> = results
        .iter()
        .filter(|r| r.verdict.is_fail())
        .map(|r| r.title.as_str())
        .collect();
    for caught in [
        "An upgrade whose token does not hold is refused with its token code: revoked",
        "A token that stops holding gets ERROR and close 4001 within token_check_seconds: revoked",
    ] {
        assert!(
            failed.contains(&caught),
            "{caught:?} passed; failed: {failed:#?}"
        );
    }
}

#[tokio::test]
async fn headers_missing_on_errors_is_caught() {
    assert_caught(Mutant::HeadersMissingOnErrors).await;
}

#[tokio::test]
async fn limit_off_by_one_is_caught() {
    assert_caught(Mutant::LimitOffByOne).await;
}

#[tokio::test]
async fn retry_after_wrong_is_caught() {
    assert_caught(Mutant::RetryAfterWrong).await;
}

#[tokio::test]
async fn csrf_token_repeats_is_caught() {
    assert_caught(Mutant::CsrfTokenRepeats).await;
}

#[tokio::test]
async fn csrf_any_session_is_caught() {
    assert_caught(Mutant::CsrfAnySession).await;
}

#[tokio::test]
async fn csrf_delete_unchecked_is_caught() {
    assert_caught(Mutant::CsrfDeleteUnchecked).await;
}

#[tokio::test]
async fn csrf_form_field_ignored_is_caught() {
    assert_caught(Mutant::CsrfFormFieldIgnored).await;
}

#[tokio::test]
async fn string_spliced_search_is_caught() {
    assert_caught(Mutant::StringSplicedSearch).await;
}

#[tokio::test]
async fn cache_not_invalidated_is_caught() {
    assert_caught(Mutant::CacheNotInvalidated).await;
}

#[tokio::test]
async fn unbounded_pool_is_caught() {
    assert_caught(Mutant::UnboundedPool).await;
}

#[tokio::test]
async fn driver_message_passthrough_is_caught() {
    assert_caught(Mutant::DriverMessagePassthrough).await;
}

/// The client mutants need the client this build serves (the wasm32 target).
fn has_client() -> bool {
    if dx_server::routes::client::client_wasm().is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but dx-server was built without its WASM client"
    );
    eprintln!("note: dx-server was built without its WASM client; not tested");
    false
}

#[tokio::test]
async fn client_any_base_is_caught() {
    if has_client() {
        assert_caught(Mutant::ClientAnyBase).await;
    }
}

#[tokio::test]
async fn client_overlapping_alloc_is_caught() {
    if has_client() {
        assert_caught(Mutant::ClientOverlappingAlloc).await;
    }
}

#[tokio::test]
async fn client_trusts_length_is_caught() {
    if has_client() {
        assert_caught(Mutant::ClientTrustsLength).await;
    }
}

#[tokio::test]
async fn client_truncated_ok_is_caught() {
    if has_client() {
        assert_caught(Mutant::ClientTruncatedOk).await;
    }
}

/// Runs `ssr.feature` against the reference with `mutant` (or none) and returns the ids of
/// the scenarios that failed.
async fn ssr_failures(mutant: Option<Mutant>) -> Vec<String> {
    let mut config = EmbeddedReference::default_config();
    config.mutations = Mutations::with(mutant);
    let target = Target::embedded(config).await.expect("target");
    let results = run_features(&target, &["ssr".into()], &default_features_dir())
        .await
        .unwrap();
    assert!(results.len() >= 8, "{results:#?}");
    results
        .iter()
        .filter(|r| r.verdict != dx_conformance::Verdict::Pass)
        .map(|r| r.id.clone())
        .collect()
}

/// Each SSR mutant fails the scenario made for it (every row of it).
async fn assert_ssr_caught(mutant: Mutant) {
    let scenario = mutant.breaks_scenario().expect("an SSR mutant");
    let failed = ssr_failures(Some(mutant)).await;
    assert!(
        failed
            .iter()
            .any(|id| id == scenario || id.starts_with(&format!("{scenario}/"))),
        "{} passed {scenario}; failed: {failed:?}",
        mutant.name()
    );
}

#[tokio::test]
async fn the_ssr_scenarios_pass_the_reference() {
    assert_eq!(ssr_failures(None).await, Vec::<String>::new());
}

#[tokio::test]
async fn ssr_unescaped_is_caught() {
    assert_ssr_caught(Mutant::SsrUnescaped).await;
}

#[tokio::test]
async fn ssr_component_takes_page_down_is_caught() {
    assert_ssr_caught(Mutant::SsrComponentTakesPageDown).await;
}

#[tokio::test]
async fn ssr_ten_crawlers_is_caught() {
    assert_ssr_caught(Mutant::SsrTenCrawlers).await;
}

#[tokio::test]
async fn ssr_no_vary_is_caught() {
    assert_ssr_caught(Mutant::SsrNoVary).await;
}
