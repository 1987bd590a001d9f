//! The suite has teeth: for every mutant (a deliberately broken reference, compiled only with
//! `dx-server`'s `mutants` feature), the check of the property it breaks must fail, and the
//! report must name that property.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_conformance::embedded::EmbeddedReference;
use dx_conformance::report::{Format, render};
use dx_conformance::{
    CaseConfig, Report, RunOptions, Selection, Target, Verdict, run_properties, run_property,
};
use dx_server::{Mutant, Mutations};

/// Whether this build serves a client (dx-server's build.rs needs the wasm32 target); the
/// client mutants cannot be proven without one. Under `CI=true` its absence fails.
fn has_client(mutant: Mutant) -> bool {
    let client_mutant = mutant.name().starts_with("client-");
    if !client_mutant || dx_server::routes::client::client_wasm().is_some() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but dx-server was built without its WASM client (rustup target add wasm32-unknown-unknown)"
    );
    eprintln!(
        "note: dx-server was built without its WASM client; {} is not tested",
        mutant.name()
    );
    false
}

async fn assert_caught(mutant: Mutant) {
    if !has_client(mutant) {
        return;
    }
    let mut config = EmbeddedReference::default_config();
    config.mutations = Mutations::with(Some(mutant));
    let target = Target::embedded(config).await.expect("target");
    assert_eq!(
        target.discovery().implementation.mutant.as_deref(),
        Some(mutant.name())
    );
    let property = mutant.breaks_property();
    let result = run_property(&target, property, CaseConfig::default())
        .await
        .expect("spec");
    let Verdict::Fail(failure) = &result.verdict else {
        panic!(
            "mutant {} was not caught: Property {property} gave {:?}",
            mutant.name(),
            result.verdict
        );
    };
    assert!(!failure.expected.is_empty() && !failure.actual.is_empty());
    let report = Report::new(
        &target,
        CaseConfig::default(),
        vec![result],
        std::time::Duration::ZERO,
    );
    let text = render(&report, Format::Terminal);
    assert!(text.contains(&format!("FAIL p{property:02}")), "{text}");
    assert!(
        text.contains(mutant.name()),
        "the report names the mutant: {text}"
    );
    assert_eq!(report.exit_code(), 1);
}

#[tokio::test]
async fn mutex_not_recovered_breaks_property_6() {
    assert_caught(Mutant::MutexNotRecovered).await;
}

#[tokio::test]
async fn panic_escapes_boundary_breaks_property_7() {
    assert_caught(Mutant::PanicEscapesBoundary).await;
}

#[tokio::test]
async fn failure_cascades_breaks_property_7() {
    assert_caught(Mutant::FailureCascades).await;
}

#[tokio::test]
async fn error_code_missing_breaks_property_8() {
    assert_caught(Mutant::ErrorCodeMissing).await;
}

#[tokio::test]
async fn leaks_internals_breaks_property_26() {
    assert_caught(Mutant::LeaksInternals).await;
}

#[tokio::test]
async fn password_truncated_breaks_property_1() {
    assert_caught(Mutant::PasswordTruncated).await;
}

#[tokio::test]
async fn email_ascii_lowercase_breaks_property_1() {
    assert_caught(Mutant::EmailAsciiLowercase).await;
}

#[tokio::test]
async fn signature_not_checked_breaks_property_2() {
    assert_caught(Mutant::SignatureNotChecked).await;
}

#[tokio::test]
async fn refresh_accepted_as_access_breaks_property_2() {
    assert_caught(Mutant::RefreshAcceptedAsAccess).await;
}

#[tokio::test]
async fn expiry_off_by_one_breaks_property_3() {
    assert_caught(Mutant::ExpiryOffByOne).await;
}

#[tokio::test]
async fn expiry_checked_first_breaks_property_3() {
    assert_caught(Mutant::ExpiryCheckedFirst).await;
}

#[tokio::test]
async fn refresh_reuse_undetected_breaks_property_4() {
    assert_caught(Mutant::RefreshReuseUndetected).await;
}

#[tokio::test]
async fn refresh_expiry_stale_breaks_property_4() {
    assert_caught(Mutant::RefreshExpiryStale).await;
}

#[tokio::test]
async fn revocation_ignored_breaks_property_5() {
    assert_caught(Mutant::RevocationIgnored).await;
}

#[tokio::test]
async fn headers_missing_on_errors_breaks_property_12() {
    assert_caught(Mutant::HeadersMissingOnErrors).await;
}

#[tokio::test]
async fn limit_off_by_one_breaks_property_13() {
    assert_caught(Mutant::LimitOffByOne).await;
}

#[tokio::test]
async fn retry_after_wrong_breaks_property_14() {
    assert_caught(Mutant::RetryAfterWrong).await;
}

#[tokio::test]
async fn fixed_window_breaks_property_15() {
    assert_caught(Mutant::FixedWindow).await;
}

#[tokio::test]
async fn csrf_token_repeats_breaks_property_16() {
    assert_caught(Mutant::CsrfTokenRepeats).await;
}

#[tokio::test]
async fn csrf_any_session_breaks_property_17() {
    assert_caught(Mutant::CsrfAnySession).await;
}

#[tokio::test]
async fn csrf_delete_unchecked_breaks_property_17() {
    assert_caught(Mutant::CsrfDeleteUnchecked).await;
}

#[tokio::test]
async fn csrf_form_field_ignored_breaks_property_18() {
    assert_caught(Mutant::CsrfFormFieldIgnored).await;
}

#[tokio::test]
async fn string_spliced_search_breaks_property_19() {
    assert_caught(Mutant::StringSplicedSearch).await;
}

#[tokio::test]
async fn cache_not_invalidated_breaks_property_19() {
    assert_caught(Mutant::CacheNotInvalidated).await;
}

#[tokio::test]
async fn unbounded_pool_breaks_property_20() {
    assert_caught(Mutant::UnboundedPool).await;
}

#[tokio::test]
async fn driver_message_passthrough_breaks_property_21() {
    assert_caught(Mutant::DriverMessagePassthrough).await;
}

#[tokio::test]
async fn client_any_base_breaks_property_9() {
    assert_caught(Mutant::ClientAnyBase).await;
}

#[tokio::test]
async fn client_overlapping_alloc_breaks_property_10() {
    assert_caught(Mutant::ClientOverlappingAlloc).await;
}

#[tokio::test]
async fn client_trusts_length_breaks_property_11() {
    assert_caught(Mutant::ClientTrustsLength).await;
}

#[tokio::test]
async fn client_truncated_ok_breaks_property_11() {
    assert_caught(Mutant::ClientTruncatedOk).await;
}

#[test]
fn every_mutant_has_a_test() {
    // Adding a mutant without a test above makes this fail. The SSR mutants break scenarios,
    // not properties: their tests are in features/tests/mutants.rs.
    let ssr = Mutant::ALL
        .iter()
        .filter(|m| m.breaks_scenario().is_some())
        .count();
    assert_eq!(ssr, 4);
    assert_eq!(Mutant::ALL.len() - ssr, 38);
}

#[tokio::test]
async fn sync_delivered_twice_breaks_property_22() {
    assert_caught(Mutant::SyncDeliveredTwice).await;
}

#[tokio::test]
async fn sync_duplicate_on_resume_breaks_property_23() {
    assert_caught(Mutant::SyncDuplicateOnResume).await;
}

#[tokio::test]
async fn sync_replay_out_of_order_breaks_property_23() {
    assert_caught(Mutant::SyncReplayOutOfOrder).await;
}

#[tokio::test]
async fn sync_silent_gap_breaks_property_23() {
    assert_caught(Mutant::SyncSilentGap).await;
}

#[tokio::test]
async fn sync_presence_kept_breaks_property_24() {
    assert_caught(Mutant::SyncPresenceKept).await;
}

#[tokio::test]
async fn sync_ack_without_subscriber_breaks_property_25() {
    assert_caught(Mutant::SyncAckWithoutSubscriber).await;
}

/// The embedded reference in its production profile (no hooks, no partition header, its
/// real limits), with `mutant` active.
fn production(mutant: Option<Mutant>) -> dx_server::Config {
    let mut config = EmbeddedReference::default_config();
    config.profile = dx_server::Profile::Production;
    config.auth = dx_server::config::AuthSettings::for_profile(config.profile);
    config.security = dx_server::config::SecuritySettings::for_profile(config.profile);
    config.mutations = Mutations::with(mutant);
    config
}

/// Production with its `static` category at `max_requests` per `window_seconds`, on a
/// rate-limit store of its own: the real-budget forms spend it from this address, and tests
/// running beside them on a shared Redis would spend (and slide) the same one.
fn production_spending_static(
    mutant: Option<Mutant>,
    max_requests: u32,
    window_seconds: u64,
) -> dx_server::Config {
    let mut config = production(mutant);
    config.security.limits[2] = dx_server::config::LimitSpec {
        max_requests,
        window_seconds,
    };
    config.redis_url = None;
    config
}

/// A production deployment without hooks or open registration, with `mutant` active and two
/// test accounts (registered here by the test itself, over HTTP, with registration opened for
/// it; the suite never calls the register endpoint outside the conformance profile): the
/// check's account form must catch it as the conformance form does.
async fn assert_caught_with_accounts(mutant: Mutant) {
    let mut config = production(Some(mutant));
    config.auth.registration = true;
    config.security.limits = [dx_server::config::LimitSpec {
        max_requests: 1_000_000,
        window_seconds: 1,
    }; 3];
    let target = Target::embedded(config).await.expect("target");
    assert!(!target.discovery().is_conformance());
    let http = reqwest::Client::new();
    let mut accounts = Vec::new();
    for n in 0..2 {
        // Unique in a database the tests and earlier runs share (CI's PostgreSQL).
        let email = format!(
            "teeth{n}-{}-{}@example.com",
            mutant.name(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let password = format!("Teeth-Pw-{n}");
        let status = http
            .post(
                target
                    .base_url()
                    .join("/api/v1/auth/register")
                    .expect("url"),
            )
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("register")
            .status();
        assert_eq!(status, 201);
        accounts.push(
            dx_conformance::accounts::Account::parse(&format!("{email}:{password}"), "test")
                .expect("account"),
        );
    }
    let target = target.with_accounts(accounts);
    let property = mutant.breaks_property();
    let result = run_property(&target, property, CaseConfig::default())
        .await
        .expect("spec");
    assert!(
        matches!(result.verdict, Verdict::Fail(_)),
        "mutant {} was not caught with test accounts: Property {property} gave {:?}",
        mutant.name(),
        result.verdict
    );
}

/// A rule broken on every response (here `details.debug` in every error envelope, which only
/// the development profile may add) fails the properties that own it, Property 8 (the
/// envelope) and 26 (sanitization), and not the properties that merely read a code from an
/// envelope: it is reported once, by cause, as `rules:envelope`.
#[tokio::test]
async fn a_rule_broken_everywhere_fails_only_its_owners() {
    let mut config = EmbeddedReference::default_config();
    config.mutations = Mutations::with(Some(Mutant::LeaksInternals));
    let target = Target::embedded(config).await.expect("target");
    for (property, fails) in [(8, true), (26, true), (2, false), (14, false), (17, false)] {
        let result = run_property(&target, property, CaseConfig::default())
            .await
            .expect("spec");
        assert_eq!(
            matches!(result.verdict, Verdict::Fail(_)),
            fails,
            "p{property}: {:?}",
            result.verdict
        );
    }
}

/// Properties 13 and 14 against a correct production reference (no partition header) spend
/// its real `static` budget and pass in part, saying so; Property 15 says why it does not.
#[tokio::test]
async fn real_budget_forms_pass_a_correct_server_in_part() {
    let config = production_spending_static(None, 20, 2);
    let target = Target::embedded(config).await.expect("target");
    for property in [13, 14] {
        let result = run_property(&target, property, CaseConfig::default())
            .await
            .expect("spec");
        assert_eq!(result.verdict, Verdict::Pass, "p{property}: {result:?}");
        let unverified = result.unverified.clone().unwrap_or_default();
        assert!(
            unverified.contains("real `static` budget (20 per 2 s)"),
            "p{property}: {unverified}"
        );
    }
    let p15 = run_property(&target, 15, CaseConfig::default())
        .await
        .expect("spec");
    assert!(
        matches!(&p15.verdict, Verdict::NotVerified(why) if why.contains("window boundaries")),
        "{:?}",
        p15.verdict
    );
}

/// Property 14's form against a target's real budgets (production: no partition header)
/// catches a `Retry-After` that promises room too soon; a correct server passes it in part.
#[tokio::test]
async fn real_budget_form_catches_retry_after_wrong() {
    // A window long enough that a Retry-After of 1 s promises room that is not there.
    let config = production_spending_static(Some(Mutant::RetryAfterWrong), 20, 30);
    let target = Target::embedded(config).await.expect("target");
    assert!(target.http().partition_header().is_none());
    let result = run_property(&target, 14, CaseConfig::default())
        .await
        .expect("spec");
    let Verdict::Fail(failure) = &result.verdict else {
        panic!(
            "Retry-After 1 s against the real budget: {:?}",
            result.verdict
        );
    };
    assert!(
        failure.actual.contains("refused 3 times running"),
        "{}",
        failure.actual
    );
}

/// The forms of Properties 17-25 that run with test accounts instead of the conformance
/// profile have teeth of their own.
#[tokio::test]
async fn account_forms_catch_their_mutants() {
    for mutant in [
        Mutant::CsrfAnySession,
        Mutant::CsrfFormFieldIgnored,
        Mutant::StringSplicedSearch,
        Mutant::CacheNotInvalidated,
        Mutant::UnboundedPool,
        Mutant::DriverMessagePassthrough,
        Mutant::SyncDeliveredTwice,
        Mutant::SyncDuplicateOnResume,
        Mutant::SyncPresenceKept,
        Mutant::SyncAckWithoutSubscriber,
    ] {
        assert_caught_with_accounts(mutant).await;
    }
}

/// A mutant that breaks a SHOULD-level check: `--strict` catches it, the default run does not
/// run that check at all.
async fn assert_should_caught(mutant: Mutant) {
    let id = mutant.breaks_should().expect("a SHOULD-level mutant");
    let mut config = EmbeddedReference::default_config();
    config.mutations = Mutations::with(Some(mutant));
    let target = Target::embedded(config).await.expect("target");
    let mut options = RunOptions {
        selection: Selection::tags([id.to_owned()]),
        jobs: 1,
        ..RunOptions::default()
    };
    let results = run_properties(&target, &options, &mut |_| {})
        .await
        .expect("spec");
    assert!(results.is_empty(), "{id} ran without --strict: {results:?}");
    options.strict = true;
    let results = run_properties(&target, &options, &mut |_| {})
        .await
        .expect("spec");
    let [result] = results.as_slice() else {
        panic!("one result for {id}: {results:?}");
    };
    assert_eq!(result.id, id);
    assert!(
        result.verdict.is_fail(),
        "mutant {} was not caught by {id}: {:?}",
        mutant.name(),
        result.verdict
    );
}

#[tokio::test]
async fn login_without_decoy_breaks_s02() {
    assert_should_caught(Mutant::LoginWithoutDecoy).await;
}

#[tokio::test]
async fn server_version_shown_breaks_s04() {
    assert_should_caught(Mutant::ServerVersionShown).await;
}
