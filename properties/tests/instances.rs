//! The checks of state instances share speak to every instance given: two instances that keep
//! that state apart (each its own credential store, rate-limit counts and CSRF sessions) are
//! not one deployment, and the auth, rate-limit and CSRF checks say so, naming the instance
//! that answered (spec/conformance.md, "Several instances"). That two instances sharing
//! PostgreSQL and Redis pass the whole suite is `.ci/run`'s step of that name.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_conformance::{CaseConfig, Target, Verdict, run_property};

/// Two embedded instances with one signing key, and nothing else shared: each has its own
/// in-memory stores, whatever `DATABASE_URL` and `REDIS_URL` say.
async fn instances_apart(key_file: &std::path::Path) -> Target {
    let mut targets = Vec::new();
    for _ in 0..2 {
        let mut config = dx_server::Config::conformance();
        config.key_file = Some(key_file.to_owned());
        targets.push(Target::embedded(config).await.expect("instance"));
    }
    let second = targets.pop().expect("two");
    let first = targets.pop().expect("two");
    first.with_instances(vec![second])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_that_share_no_state_fail_the_shared_state_checks() {
    let dir = std::env::temp_dir().join(format!("dx-instances-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("signing.key");
    std::fs::write(&key_file, format!("{}\n", "5a".repeat(32))).unwrap();
    let target = instances_apart(&key_file).await;
    let urls: Vec<String> = target
        .instances()
        .iter()
        .map(|t| t.base_url().as_str().trim_end_matches('/').to_owned())
        .collect();
    let config = CaseConfig {
        cases: 20,
        ..CaseConfig::default()
    };
    // An account registered on one instance and logged in on the other; a token revoked
    // through one and used at the other; one partition counted on both; a CSRF session
    // begun on one and used at the other.
    let mut answered_by = Vec::new();
    for property in [1, 5, 13, 14, 17, 18] {
        let result = run_property(&target, property, config).await.expect("spec");
        let Verdict::Fail(failure) = &result.verdict else {
            panic!(
                "Property {property} passed against two instances sharing nothing: {:?}",
                result.verdict
            );
        };
        let replay = failure.replay.as_deref().unwrap_or_default();
        let instance = urls.iter().position(|u| replay.contains(&format!("'{u}/")));
        assert!(
            instance.is_some(),
            "Property {property}'s failure names the instance that answered: {failure:?}"
        );
        answered_by.extend(instance);
    }
    assert!(
        answered_by.contains(&1),
        "some failure was answered by the second instance: {answered_by:?}"
    );
    // The checks of no shared state still pass: the two are sound servers, only not one.
    for property in [8, 12, 26] {
        let result = run_property(&target, property, config).await.expect("spec");
        assert_eq!(result.verdict, Verdict::Pass, "Property {property}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
