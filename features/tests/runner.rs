//! The runner's contract: verdicts per scenario, tag selection, "not verified" outside the
//! conformance profile, and failures that carry expected, actual and a replay line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::on_a_deep_stack;

use std::path::PathBuf;

use dx_conformance::Target;
use dx_conformance::embedded::EmbeddedReference;
use dx_conformance::verdict::Verdict;
use dx_features::{FeaturesError, default_features_dir, run_features};
use dx_server::Profile;

async fn reference(profile: Profile) -> Target {
    let mut config = EmbeddedReference::default_config();
    config.profile = profile;
    if profile != Profile::Conformance {
        // Other profiles honour no rate-limit partition, so the scenarios' requests would
        // meet the api limit; these tests are about profiles, so the limits are out of reach.
        config.security.limits = [dx_server::config::LimitSpec {
            max_requests: 1_000_000,
            window_seconds: 1,
        }; 3];
    }
    Target::embedded(config).await.expect("embedded reference")
}

/// A features directory of its own holding one file with `text`.
fn features_dir(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dx-features-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.feature")), text).unwrap();
    dir
}

#[tokio::test]
async fn a_wrong_expectation_fails_with_expected_actual_and_replay() {
    let dir = features_dir(
        "wrong",
        "Feature: Wrong\n\n  Scenario: Unknown paths are gone\n    Given the target\n    When I send \"GET\" to \"/nope\"\n    Then the response status is 410\n    And the response is an error envelope with code \"NOT_FOUND\"\n",
    );
    let target = reference(Profile::Conformance).await;
    let results = run_features(&target, &[], &dir).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(results.len(), 1);
    let result = &results[0];
    assert_eq!(result.id, "wrong:3");
    assert_eq!(
        result.cases, 3,
        "the failing step counts, the one after it does not run"
    );
    let Verdict::Fail(failure) = &result.verdict else {
        panic!("{:?}", result.verdict)
    };
    assert_eq!(failure.expected, "HTTP status 410");
    assert!(failure.actual.starts_with("HTTP 404"), "{}", failure.actual);
    assert!(
        failure
            .replay
            .as_deref()
            .unwrap()
            .starts_with("curl -i -X GET")
    );
}

#[tokio::test]
async fn undefined_steps_leave_the_scenario_not_verified() {
    let dir = features_dir(
        "undefined",
        "Feature: Undefined\n\n  Scenario: A step nobody wrote\n    Given the target\n    When I do something nobody defined\n",
    );
    let target = reference(Profile::Conformance).await;
    let results = run_features(&target, &[], &dir).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let Verdict::NotVerified(reason) = &results[0].verdict else {
        panic!("{:?}", results[0].verdict)
    };
    assert!(
        reason.contains("When I do something nobody defined"),
        "{reason}"
    );
}

#[test]
fn tags_select_scenarios_by_feature_and_scenario_tags() {
    on_a_deep_stack(|| async {
        let target = reference(Profile::Conformance).await;
        let all = run_features(&target, &[], &default_features_dir())
            .await
            .unwrap();
        let p26 = run_features(&target, &["@P26".into()], &default_features_dir())
            .await
            .unwrap();
        assert!(
            p26.len() >= 2 && p26.len() < all.len(),
            "{} of {}",
            p26.len(),
            all.len()
        );
        assert!(p26.iter().all(|r| r.tags.iter().any(|t| t == "p26")));
        assert!(
            p26.iter()
                .all(|r| r.requirements.contains(&"7.5".to_owned()))
        );
        let errors = run_features(&target, &["error".into()], &default_features_dir())
            .await
            .unwrap();
        let auth = run_features(&target, &["auth".into()], &default_features_dir())
            .await
            .unwrap();
        let security = run_features(&target, &["security".into()], &default_features_dir())
            .await
            .unwrap();
        let query = run_features(&target, &["query".into()], &default_features_dir())
            .await
            .unwrap();
        let client = run_features(&target, &["client".into()], &default_features_dir())
            .await
            .unwrap();
        let sync = run_features(&target, &["sync".into()], &default_features_dir())
            .await
            .unwrap();
        let ssr = run_features(&target, &["ssr".into()], &default_features_dir())
            .await
            .unwrap();
        assert!(
            !errors.is_empty()
                && !auth.is_empty()
                && !security.is_empty()
                && !query.is_empty()
                && !client.is_empty()
                && !sync.is_empty()
                && !ssr.is_empty()
        );
        assert_eq!(
            errors.len()
                + auth.len()
                + security.len()
                + query.len()
                + client.len()
                + sync.len()
                + ssr.len(),
            all.len(),
            "every scenario is in one feature"
        );
        assert!(auth.iter().all(|r| r.tags.iter().any(|t| t == "auth")));
        let none = run_features(&target, &["@no-such-tag".into()], &default_features_dir())
            .await
            .unwrap();
        assert!(none.is_empty());
    });
}

#[test]
fn outside_the_conformance_profile_fault_scenarios_are_not_verified() {
    on_a_deep_stack(|| async {
        let target = reference(Profile::Production).await;
        let results = run_features(&target, &[], &default_features_dir())
            .await
            .unwrap();
        for result in &results {
            let needs_hooks = result.tags.iter().any(|t| t == "conformance");
            match &result.verdict {
                Verdict::NotVerified(reason) if needs_hooks => {
                    assert!(
                        reason.starts_with("target is not in the conformance profile"),
                        "{reason}"
                    );
                }
                Verdict::Pass if !needs_hooks => {}
                other => panic!("{} ({}): {other:?}", result.id, result.title),
            }
        }
        assert!(
            results
                .iter()
                .any(|r| matches!(r.verdict, Verdict::NotVerified(_)))
        );
    });
}

#[tokio::test]
async fn a_missing_directory_is_an_error() {
    let target = reference(Profile::Conformance).await;
    let missing = std::env::temp_dir().join("dx-features-no-such-dir");
    let err = run_features(&target, &[], &missing).await.unwrap_err();
    assert!(matches!(err, FeaturesError::NoFeatures(_)), "{err}");
}

#[tokio::test]
async fn a_broken_feature_file_is_an_error() {
    let dir = features_dir(
        "broken",
        "Feature: Broken\n  Scenario Outline: <missing>\n    Given the target\n    Examples:\n      | other |\n      | x     |\n",
    );
    let target = reference(Profile::Conformance).await;
    let err = run_features(&target, &[], &dir).await.unwrap_err();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(err, FeaturesError::Parse(_)), "{err}");
}

#[test]
fn every_scenario_of_the_suite_has_a_stable_id_of_its_own() {
    let scenarios = dx_features::list_scenarios(
        &default_features_dir(),
        &dx_conformance::Selection::default(),
    )
    .unwrap();
    assert!(scenarios.len() > 40);
    let mut seen = std::collections::BTreeSet::new();
    for s in &scenarios {
        let (stem, name) = s.id.split_once(':').unwrap();
        assert!(!stem.is_empty(), "{}", s.id);
        // Named by an `@id-` tag, not by a line that moves with every edit.
        assert!(
            !name.bytes().all(|b| b.is_ascii_digit()),
            "{} ({}) has no @id- tag",
            s.id,
            s.title
        );
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'/'),
            "{}",
            s.id
        );
        // A row is named by a short `case` column, not by a payload.
        assert!(
            !name.ends_with('/') && name.len() <= 48,
            "{}: name the row with a short first column",
            s.id
        );
        assert!(seen.insert(s.id.clone()), "{} twice", s.id);
    }
}

/// A server that serves `discovery` at the discovery path and never answers anything else.
fn hanging_but_described(discovery: Vec<u8>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            if buf[..n].starts_with(b"GET /.well-known/dx-www ") {
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    discovery.len()
                );
                let _ = stream.write_all(&discovery);
            } else {
                held.push(stream);
            }
        }
    });
    url
}

#[tokio::test]
async fn a_scenario_past_the_time_limit_fails_and_the_run_goes_on() {
    let reference = reference(Profile::Conformance).await;
    let discovery = serde_json::to_vec(&reference.discovery().raw).unwrap();
    let url = hanging_but_described(discovery);
    let target = Target::connect(dx_conformance::TargetSpec::Url(url))
        .await
        .unwrap();
    let dir = features_dir(
        "hang",
        "Feature: Hang\n\n  @id-hangs\n  Scenario: The target never answers\n    Given the target\n    When I send \"GET\" to \"/hang\"\n\n  @id-after\n  Scenario: The next one still runs\n    Given the target\n",
    );
    let started = std::time::Instant::now();
    let results = dx_features::run_selected_features_within(
        &target,
        &dx_conformance::Selection::default(),
        &dir,
        std::time::Duration::from_secs(1),
    )
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    let verdicts: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r.id.as_str(), r.verdict.is_fail()))
        .collect();
    assert_eq!(verdicts, [("hang:hangs", true), ("hang:after", false)]);
    let Verdict::Fail(failure) = &results[0].verdict else {
        unreachable!()
    };
    assert!(failure.actual.contains("after 1 s"), "{}", failure.actual);
    assert_eq!(results[0].cases, 1, "the step before the hang passed");
    // The process's panic hook is back: a panic is reported as usual.
    assert!(std::panic::catch_unwind(|| panic!("still reported")).is_err());
}

/// A server that serves `discovery` at the discovery path, answers `GET /a` only once
/// `GET /b` has arrived too (and `/b` only once `/a` has), and never answers anything else.
/// `/a` gets two `X-Request-Id` headers, `/b` none: two causes of one broken rule.
fn meeting_point(discovery: Vec<u8>) -> String {
    use std::io::{Read, Write};
    use std::sync::{Arc, Barrier};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let both = Arc::new(Barrier::new(2));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let discovery = discovery.clone();
            let both = Arc::clone(&both);
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let n = stream.read(&mut buf).unwrap_or(0);
                let head = &buf[..n];
                let (ids, body): (&str, &[u8]) = if head.starts_with(b"GET /.well-known/dx-www ") {
                    ("X-Request-Id: d\r\n", &discovery)
                } else if head.starts_with(b"GET /a ") {
                    both.wait();
                    ("X-Request-Id: a1\r\nX-Request-Id: a2\r\n", b"{}")
                } else if head.starts_with(b"GET /b ") {
                    both.wait();
                    ("", b"{}")
                } else {
                    std::thread::park();
                    return;
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{ids}Content-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(body);
            });
        }
    });
    url
}

#[tokio::test]
async fn scenarios_run_at_once_and_each_is_named_for_what_its_requests_met() {
    let reference = reference(Profile::Conformance).await;
    let discovery = serde_json::to_vec(&reference.discovery().raw).unwrap();
    let target = Target::connect(dx_conformance::TargetSpec::Url(meeting_point(discovery)))
        .await
        .unwrap();
    // Neither scenario's request is answered until the other's has arrived: one after the
    // other, both would be stopped at the time limit.
    let dir = features_dir(
        "meet",
        "@concurrent\nFeature: Meet\n\n  @id-a\n  Scenario: A\n    When I send \"GET\" to \"/a\"\n    Then the response status is 200\n\n  @id-b\n  Scenario: B\n    When I send \"GET\" to \"/b\"\n    Then the response status is 200\n",
    );
    let results = dx_features::run_selected_features_within(
        &target,
        &dx_conformance::Selection::default(),
        &dir,
        std::time::Duration::from_secs(30),
    )
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let verdicts: Vec<(&str, &Verdict)> = results
        .iter()
        .map(|r| (r.id.as_str(), &r.verdict))
        .collect();
    assert_eq!(
        verdicts,
        [("meet:a", &Verdict::Pass), ("meet:b", &Verdict::Pass)]
    );
    let rules = target.http().ledger().results();
    let request_id = rules.iter().find(|r| r.id == "rules:request-id").unwrap();
    let Verdict::Fail(failure) = &request_id.verdict else {
        panic!("{:?}", request_id.verdict)
    };
    // Each cause names the one scenario whose response showed it.
    assert!(
        failure
            .actual
            .contains("2 X-Request-Id headers: … (1 response(s); met by meet:a)"),
        "{}",
        failure.actual
    );
    assert!(
        failure
            .actual
            .contains("0 X-Request-Id headers: … (1 response(s); met by meet:b)"),
        "{}",
        failure.actual
    );
}

#[tokio::test]
async fn a_scenario_stopped_at_its_time_limit_leaves_the_ones_beside_it_running() {
    let reference = reference(Profile::Conformance).await;
    let discovery = serde_json::to_vec(&reference.discovery().raw).unwrap();
    let target = Target::connect(dx_conformance::TargetSpec::Url(meeting_point(discovery)))
        .await
        .unwrap();
    // `hang` never gets an answer; `a` and `b` need each other and run beside it.
    let dir = features_dir(
        "beside",
        "@concurrent\nFeature: Beside\n\n  @id-hang\n  Scenario: Never answered\n    When I send \"GET\" to \"/hang\"\n\n  @id-a\n  Scenario: A\n    When I send \"GET\" to \"/a\"\n    Then the response status is 200\n\n  @id-b\n  Scenario: B\n    When I send \"GET\" to \"/b\"\n    Then the response status is 200\n",
    );
    let results = dx_features::run_selected_features_within(
        &target,
        &dx_conformance::Selection::default(),
        &dir,
        std::time::Duration::from_secs(3),
    )
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let verdicts: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r.id.as_str(), r.verdict.is_fail()))
        .collect();
    assert_eq!(
        verdicts,
        [
            ("beside:hang", true),
            ("beside:a", false),
            ("beside:b", false)
        ],
        "{results:?}"
    );
    let Verdict::Fail(failure) = &results[0].verdict else {
        unreachable!()
    };
    assert!(failure.actual.contains("after 3 s"), "{}", failure.actual);
    assert!(std::panic::catch_unwind(|| panic!("still reported")).is_err());
}
