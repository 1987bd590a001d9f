//! `--client-runtime chromium` for the scenarios: `client.feature` and `ssr.feature` run the
//! target's client in Chromium's own WebAssembly engine, and every scenario's verdict agrees
//! with the one it gets in wasmi, on the reference and on every client mutant.
//!
//! Without Chromium the tests say so and pass, except under `CI=true`, where they fail: CI
//! installs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, OnceLock};

use dx_conformance::Target;
use dx_conformance::client::{Chromium, ClientRuntime};
use dx_conformance::embedded::EmbeddedReference;
use dx_features::{default_features_dir, run_features};
use dx_server::{Mutant, Mutations};

/// One Chromium for the whole test binary (its watchdog ends it when the binary exits).
fn chromium() -> Option<Arc<Chromium>> {
    static CHROMIUM: OnceLock<Option<Arc<Chromium>>> = OnceLock::new();
    CHROMIUM
        .get_or_init(|| {
            let ready = dx_server::routes::client::client_wasm().is_some();
            match Chromium::launch(None) {
                Ok(chromium) if ready => Some(chromium),
                outcome => {
                    let why = match outcome {
                        Err(e) => e.to_string(),
                        Ok(_) => "dx-server was built without its WASM client".to_owned(),
                    };
                    assert!(
                        std::env::var("CI").as_deref() != Ok("true"),
                        "CI=true but the client scenarios cannot run in Chromium: {why}"
                    );
                    eprintln!("note: {why}; the scenarios are not run in Chromium");
                    None
                }
            }
        })
        .clone()
}

/// Each client and SSR scenario's id and verdict against the reference with `mutant`, the
/// client run in `runtime`.
async fn verdicts(mutant: Option<Mutant>, runtime: ClientRuntime) -> Vec<(String, String)> {
    let mut config = EmbeddedReference::default_config();
    config.mutations = Mutations::with(mutant);
    let target = Target::embedded(config)
        .await
        .expect("target")
        .with_client_runtime(runtime);
    let results = run_features(
        &target,
        &["client".into(), "ssr".into()],
        &default_features_dir(),
    )
    .await
    .unwrap();
    assert!(results.len() >= 15, "{results:#?}");
    results
        .into_iter()
        .map(|r| {
            let label = match (&r.verdict, &r.unverified) {
                (dx_conformance::Verdict::Pass, Some(_)) => "pass in part",
                (verdict, _) => verdict.label(),
            };
            (r.id, label.to_owned())
        })
        .collect()
}

/// Runs on a thread with a main thread's stack, as the CLI runs the scenarios.
fn agree(mutant: Option<Mutant>) {
    let Some(chromium) = chromium() else {
        return;
    };
    common::on_a_deep_stack(move || async move {
        let mut wasmi = verdicts(mutant, ClientRuntime::Wasmi).await;
        let mut browser = verdicts(mutant, ClientRuntime::Chromium(chromium)).await;
        wasmi.sort();
        browser.sort();
        assert_eq!(
            browser,
            wasmi,
            "Chromium's verdicts (left) differ from wasmi's (right) under {}",
            mutant.map_or("no mutant", |m| m.name())
        );
        let failed = browser.iter().filter(|(_, l)| l == "fail").count();
        match mutant {
            Some(m) => assert!(failed > 0, "{} is caught: {browser:?}", m.name()),
            None => assert_eq!(failed, 0, "the reference passes: {browser:?}"),
        }
    });
}

#[test]
fn the_reference_passes_in_both() {
    agree(None);
}

#[test]
fn client_any_base_fails_alike_in_both() {
    agree(Some(Mutant::ClientAnyBase));
}

#[test]
fn client_overlapping_alloc_fails_alike_in_both() {
    agree(Some(Mutant::ClientOverlappingAlloc));
}

#[test]
fn client_trusts_length_fails_alike_in_both() {
    agree(Some(Mutant::ClientTrustsLength));
}

#[test]
fn client_truncated_ok_fails_alike_in_both() {
    agree(Some(Mutant::ClientTruncatedOk));
}
