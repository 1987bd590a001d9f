//! The black-box property checks against the target `cargo test` is given: the embedded
//! reference (conformance profile) unless `DX_TARGET` names a deployment. One test per
//! property, so a failure names it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_conformance::{CaseConfig, Target, Verdict, run_property};

async fn assert_property_holds(number: u8) {
    let target = Target::from_env().await.expect("target");
    let result = run_property(&target, number, CaseConfig::default())
        .await
        .expect("spec");
    match &result.verdict {
        Verdict::Pass => {
            assert!(
                result.cases >= min_cases(number),
                "only {} cases",
                result.cases
            );
            // Against the embedded reference every part of a check must conclude.
            assert!(
                result.unverified.is_none() || !target.is_embedded(),
                "Property {number} passed only in part: {:?}",
                result.unverified
            );
        }
        Verdict::Fail(f) => panic!(
            "Property {number} ({}) failed\nexpected: {}\nactual: {}\ncounterexample: {:?}\nreplay: {:?}",
            result.title, f.expected, f.actual, f.counterexample, f.replay
        ),
        Verdict::NotVerified(why) => {
            // Against the embedded reference everything must be verifiable; a deployment in
            // another profile may legitimately not offer the hooks.
            assert!(
                !target.is_embedded(),
                "Property {number} not verified: {why}"
            );
        }
    }
}

/// Cases a passing check must have run. 100 generated cases, except where each case costs
/// Argon2id hashes: Property 1 (three hashes a case) and Property 4 (a login a chain) run a
/// fraction of them beside their enumerated cases (see their module docs).
fn min_cases(number: u8) -> u32 {
    match number {
        1 => 16,
        4 => 10,
        // Each case spends real windows: one burst and one two-halves shape per category.
        15 => 6,
        _ => 100,
    }
}

/// Feature: production-readiness, Property 1: Password Hash Round-Trip
#[tokio::test]
async fn p01_password_hash_round_trip() {
    assert_property_holds(1).await;
}

/// Feature: production-readiness, Property 2: Token Signature Integrity
#[tokio::test]
async fn p02_token_signature_integrity() {
    assert_property_holds(2).await;
}

/// Feature: production-readiness, Property 3: Token Expiration Enforcement
#[tokio::test]
async fn p03_token_expiration_enforcement() {
    assert_property_holds(3).await;
}

/// Feature: production-readiness, Property 4: Token Refresh Validity
#[tokio::test]
async fn p04_token_refresh_validity() {
    assert_property_holds(4).await;
}

/// Feature: production-readiness, Property 5: Token Revocation Effectiveness
#[tokio::test]
async fn p05_token_revocation_effectiveness() {
    assert_property_holds(5).await;
}

/// Feature: production-readiness, Property 6: Mutex Poisoning Recovery
#[tokio::test]
async fn p06_mutex_poisoning_recovery() {
    assert_property_holds(6).await;
}

/// Feature: production-readiness, Property 7: Error Isolation
#[tokio::test]
async fn p07_error_isolation() {
    assert_property_holds(7).await;
}

/// Feature: production-readiness, Property 8: Structured Error Completeness
#[tokio::test]
async fn p08_structured_error_completeness() {
    assert_property_holds(8).await;
}

/// Feature: production-readiness, Property 9: Delta Patch Round-Trip
#[tokio::test]
async fn p09_delta_patch_round_trip() {
    assert_property_holds(9).await;
}

/// Feature: production-readiness, Property 10: Allocator Non-Overlap
#[tokio::test]
async fn p10_allocator_non_overlap() {
    assert_property_holds(10).await;
}

/// Feature: production-readiness, Property 11: Malformed Stream Resilience
#[tokio::test]
async fn p11_malformed_stream_resilience() {
    assert_property_holds(11).await;
}

/// Feature: production-readiness, Property 12: Security Headers Presence
#[tokio::test]
async fn p12_security_headers_presence() {
    assert_property_holds(12).await;
}

/// Feature: production-readiness, Property 13: Rate Limit Counting Accuracy
#[tokio::test]
async fn p13_rate_limit_counting_accuracy() {
    assert_property_holds(13).await;
}

/// Feature: production-readiness, Property 14: Rate Limit Enforcement
#[tokio::test]
async fn p14_rate_limit_enforcement() {
    assert_property_holds(14).await;
}

/// Feature: production-readiness, Property 15: Sliding Window Correctness
#[tokio::test]
async fn p15_sliding_window_correctness() {
    assert_property_holds(15).await;
}

/// Feature: production-readiness, Property 16: CSRF Token Uniqueness
#[tokio::test]
async fn p16_csrf_token_uniqueness() {
    assert_property_holds(16).await;
}

/// Feature: production-readiness, Property 17: CSRF Validation Strictness
#[tokio::test]
async fn p17_csrf_validation_strictness() {
    assert_property_holds(17).await;
}

/// Feature: production-readiness, Property 18: CSRF Token Location Flexibility
#[tokio::test]
async fn p18_csrf_token_location_flexibility() {
    assert_property_holds(18).await;
}

/// Feature: production-readiness, Property 19: SQL Injection Prevention
#[tokio::test]
async fn p19_sql_injection_prevention() {
    assert_property_holds(19).await;
}

/// Feature: production-readiness, Property 20: Connection Pool Reuse
#[tokio::test]
async fn p20_connection_pool_reuse() {
    assert_property_holds(20).await;
}

/// Feature: production-readiness, Property 21: Query Error Structure
#[tokio::test]
async fn p21_query_error_structure() {
    assert_property_holds(21).await;
}

/// Feature: production-readiness, Property 22: Pub/Sub Delivery
#[tokio::test]
async fn p22_pubsub_delivery() {
    assert_property_holds(22).await;
}

/// Feature: production-readiness, Property 23: Message Buffer Replay
#[tokio::test]
async fn p23_message_buffer_replay() {
    assert_property_holds(23).await;
}

/// Feature: production-readiness, Property 24: Presence Accuracy
#[tokio::test]
async fn p24_presence_accuracy() {
    assert_property_holds(24).await;
}

/// Feature: production-readiness, Property 25: Acknowledgment Guarantee
#[tokio::test]
async fn p25_acknowledgment_guarantee() {
    assert_property_holds(25).await;
}

/// Feature: production-readiness, Property 26: Error Response Sanitization
#[tokio::test]
async fn p26_error_response_sanitization() {
    assert_property_holds(26).await;
}

/// Lanes run side by side (`--jobs`), yet every selected check runs once and the results come
/// in property order, with the same verdicts as one lane at a time.
#[tokio::test]
async fn concurrent_lanes_run_each_check_once_in_property_order() {
    use dx_conformance::{RunOptions, run_properties};
    let target = Target::from_env().await.expect("target");
    let tags: Vec<String> = ["@p25", "@p12", "@p23", "@p16", "@p18", "@p10"]
        .map(String::from)
        .to_vec();
    let mut verdicts = Vec::new();
    for jobs in [1, 4] {
        let options = RunOptions {
            cases: CaseConfig {
                cases: 5,
                ..CaseConfig::default()
            },
            selection: dx_conformance::Selection::tags(tags.clone()),
            jobs,
            ..RunOptions::default()
        };
        let mut started = 0;
        let results = run_properties(&target, &options, &mut |event| {
            if matches!(event, dx_conformance::Progress::Started { .. }) {
                started += 1;
            }
        })
        .await
        .expect("spec");
        let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            ["p10", "p12", "p16", "p18", "p23", "p25"],
            "jobs {jobs}"
        );
        assert_eq!(started, 6, "jobs {jobs}");
        verdicts.push(
            results
                .iter()
                .map(|r| format!("{:?}", r.verdict))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(verdicts[0], verdicts[1]);
}
