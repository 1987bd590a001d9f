//! `--client-runtime chromium`: Properties 9-11 run the target's client in Chromium's own
//! WebAssembly engine, through the same host imports, and their verdicts agree with wasmi's
//! on the reference and on every client mutant.
//!
//! Without Chromium the tests say so and pass, except under `CI=true`, where they fail: CI
//! installs it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};

use dx_conformance::client::{Call, Chromium, ClientModule, ClientRuntime};
use dx_conformance::embedded::EmbeddedReference;
use dx_conformance::{CaseConfig, Target, run_property};
use dx_server::{Mutant, Mutations};

/// One Chromium for the whole test binary (its watchdog ends it when the binary exits).
fn chromium() -> Option<Arc<Chromium>> {
    static CHROMIUM: OnceLock<Option<Arc<Chromium>>> = OnceLock::new();
    CHROMIUM
        .get_or_init(|| match Chromium::launch(None) {
            Ok(chromium) => Some(chromium),
            Err(e) => {
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "CI=true but Chromium cannot serve as the client runtime: {e}"
                );
                eprintln!("note: {e}; the Chromium runtime is not tested");
                None
            }
        })
        .clone()
}

fn reference_client() -> Option<&'static [u8]> {
    let wasm = dx_server::routes::client::client_wasm();
    if wasm.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but dx-server was built without its WASM client"
        );
        eprintln!("note: dx-server was built without its WASM client; not tested");
    }
    wasm
}

/// Each client property's verdict (`pass`, `pass in part`, `fail`, `not_verified`) against
/// the reference with `mutant`, its client run in `runtime`.
async fn verdicts(mutant: Option<Mutant>, runtime: ClientRuntime) -> Vec<(u8, String)> {
    let mut config = EmbeddedReference::default_config();
    config.mutations = Mutations::with(mutant);
    let target = Target::embedded(config)
        .await
        .expect("target")
        .with_client_runtime(runtime);
    let mut verdicts = Vec::new();
    for property in [9, 10, 11] {
        let result = run_property(&target, property, CaseConfig::default())
            .await
            .expect("spec");
        let label = match (&result.verdict, &result.unverified) {
            (dx_conformance::Verdict::Pass, Some(_)) => "pass in part".to_owned(),
            (verdict, _) => verdict.label().to_owned(),
        };
        let detail = match &result.verdict {
            dx_conformance::Verdict::Fail(f) => format!(": {}", f.actual),
            dx_conformance::Verdict::NotVerified(why) => format!(": {why}"),
            dx_conformance::Verdict::Pass => String::new(),
        };
        eprintln!(
            "{} p{property:02} {label} in {:.1} s{detail}",
            target.client_runtime().describe(),
            result.duration.as_secs_f64()
        );
        verdicts.push((property, label));
    }
    verdicts
}

async fn agree(mutant: Option<Mutant>) {
    let (Some(chromium), Some(_)) = (chromium(), reference_client()) else {
        return;
    };
    let wasmi = verdicts(mutant, ClientRuntime::Wasmi).await;
    let browser = verdicts(mutant, ClientRuntime::Chromium(chromium)).await;
    assert_eq!(
        browser,
        wasmi,
        "Chromium's verdicts (left) differ from wasmi's (right) under {}",
        mutant.map_or("no mutant", |m| m.name())
    );
    if let Some(mutant) = mutant {
        let broken = mutant.breaks_property();
        assert!(
            browser
                .iter()
                .any(|(p, label)| *p == broken && label == "fail"),
            "{} is caught in Chromium too: {browser:?}",
            mutant.name()
        );
    } else {
        assert!(
            browser.iter().all(|(_, label)| label == "pass"),
            "the reference's client passes in Chromium: {browser:?}"
        );
    }
}

#[tokio::test]
async fn the_reference_client_passes_in_both() {
    agree(None).await;
}

#[tokio::test]
async fn client_any_base_fails_in_both() {
    agree(Some(Mutant::ClientAnyBase)).await;
}

#[tokio::test]
async fn client_overlapping_alloc_fails_in_both() {
    agree(Some(Mutant::ClientOverlappingAlloc)).await;
}

#[tokio::test]
async fn client_trusts_length_fails_in_both() {
    agree(Some(Mutant::ClientTrustsLength)).await;
}

#[tokio::test]
async fn client_truncated_ok_fails_in_both() {
    agree(Some(Mutant::ClientTruncatedOk)).await;
}

/// A client that never returns ends as "did not return" in Chromium (the worker is ended
/// after the time limit), as it ends out of fuel in wasmi (not repeated here: 500 million
/// units of fuel take a minute in a debug build); the instance refuses further calls; and
/// Chromium goes on serving other instances.
#[test]
fn a_call_that_never_returns_ends_its_instance_not_the_browser() {
    let Some(chromium) = chromium() else {
        return;
    };
    let module = ClientModule::load(&endless_client()).expect("a valid module");
    let runtime = ClientRuntime::Chromium(chromium);
    let mut client = runtime.instantiate(&module).expect("instantiates");
    assert_eq!(client.alloc(8, 8), Call::Returned(1024));
    assert!(matches!(client.render_stream(0, 0), Call::OutOfTime(_)));
    assert!(matches!(client.alloc(8, 8), Call::Trapped(_)));
    let mut other = runtime.instantiate(&module).expect("a second instance");
    assert_eq!(other.alloc(8, 8), Call::Returned(1024));
}

/// The memory cap holds in Chromium: a client growing its memory past 64 MiB is refused
/// there as in wasmi.
#[test]
fn memory_grows_to_the_cap_and_no_further_in_both() {
    let Some(chromium) = chromium() else {
        return;
    };
    let module = ClientModule::load(&endless_client()).expect("a valid module");
    for runtime in [ClientRuntime::Wasmi, ClientRuntime::Chromium(chromium)] {
        let mut client = runtime.instantiate(&module).unwrap();
        // on_event(pages) grows the memory by that many pages and returns the old size or -1.
        assert_eq!(
            client.on_event(1022),
            Call::Returned(1),
            "{}",
            runtime.describe()
        );
        assert_eq!(client.memory_len(), 1023 << 16);
        assert_eq!(
            client.on_event(2),
            Call::Returned(-1),
            "{}",
            runtime.describe()
        );
        assert_eq!(
            client.on_event(1),
            Call::Returned(1023),
            "{}",
            runtime.describe()
        );
        assert_eq!(client.memory_len(), 64 << 20);
    }
}

/// Import calls read from the client's memory reach the host the same way in both: text,
/// a range outside the memory, text that is not UTF-8, node ids handed out in order.
#[test]
fn both_runtimes_record_the_same_host_calls() {
    let Some(chromium) = chromium() else {
        return;
    };
    let module = ClientModule::load(&endless_client()).expect("a valid module");
    let mut seen = Vec::new();
    for runtime in [ClientRuntime::Wasmi, ClientRuntime::Chromium(chromium)] {
        let mut client = runtime.instantiate(&module).unwrap();
        client.write(2048, "héllo\u{0}<b>".as_bytes()).unwrap();
        client.write(4096, &[0xff, 0xfe]).unwrap();
        // get_node_count runs the import script: clones, texts and attributes.
        assert_eq!(client.node_count(), Call::Returned(7));
        assert!(client.read(-1, 4).is_err());
        assert!(client.read((1 << 16) - 2, 4).is_err());
        assert_eq!(client.read(2048, 6).unwrap(), "héllo".as_bytes());
        let host = client.host();
        seen.push((
            host.dom_ops.clone(),
            host.violations.clone(),
            host.logs.clone(),
        ));
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0].1.len(), 4, "{:?}", seen[0].1);
}

/// A small client (WAT) with the ABI's exports: `alloc` returns 1024 when asked for 8,
/// `render_stream` loops forever, `on_event(n)` grows the memory by `n` pages, and
/// `get_node_count` calls the imports with good and bad ranges.
fn endless_client() -> Vec<u8> {
    wat::parse_str(
        r#"(module
          (import "env" "host_clone_template" (func $clone (param i32) (result i32)))
          (import "env" "host_set_text" (func $text (param i32 i32 i32)))
          (import "env" "host_set_attr" (func $attr (param i32 i32 i32 i32 i32)))
          (import "env" "host_toggle_class" (func $class (param i32 i32 i32 i32)))
          (import "env" "host_log" (func $log (param i32)))
          (memory (export "memory") 1)
          (func (export "init") (result i32) i32.const 0)
          (func (export "alloc") (param i32 i32) (result i32) i32.const 1024)
          (func (export "reset_heap"))
          (func (export "render_stream") (param i32 i32) (result i32) (loop $l (br $l)) i32.const 0)
          (func (export "on_event") (param i32) (result i32) local.get 0 memory.grow)
          (func (export "apply_patch") (param i32 i32 i32 i32 i32 i32) (result i32) i32.const 0)
          (func (export "get_node_count") (result i32)
            (drop (call $clone (i32.const 3)))
            (drop (call $clone (i32.const -1)))
            (drop (call $clone (i32.const 4)))
            (call $text (i32.const 1) (i32.const 2048) (i32.const 10))
            (call $text (i32.const 2) (i32.const 4096) (i32.const 2))
            (call $text (i32.const 2) (i32.const 65530) (i32.const 10))
            (call $attr (i32.const 1) (i32.const -4) (i32.const 1) (i32.const 2048) (i32.const 6))
            (call $attr (i32.const -1) (i32.const 2048) (i32.const 1) (i32.const 2048) (i32.const 6))
            (call $class (i32.const 2) (i32.const 2048) (i32.const 1) (i32.const 1))
            (call $log (i32.const 77))
            i32.const 7)
          (func (export "get_template_count") (result i32) i32.const 0)
          (func (export "reset"))
        )"#,
    )
    .expect("the test client assembles")
}

/// What instantiating checks before any code runs is the same in both: a missing or
/// mistyped export, and an import no host of spec/client-abi.md provides.
#[test]
fn both_runtimes_refuse_the_same_modules() {
    let Some(chromium) = chromium() else {
        return;
    };
    let full = String::from_utf8(ABI_EXPORTS.to_vec()).unwrap();
    let cases = [
        (
            full.replace(r#"(func (export "reset"))"#, ""),
            "MissingExport(\"reset\")",
        ),
        (
            full.replace(
                r#"(func (export "reset"))"#,
                r#"(func (export "reset") (param i32))"#,
            ),
            "MissingExport(\"reset\")",
        ),
        (
            full.replace(r#"(memory (export "memory") 1)"#, "(memory 1)"),
            "MissingExport(\"memory\")",
        ),
        (
            full.replace(
                "(module",
                r#"(module (import "env" "host_eval" (func (param i32))) "#,
            ),
            "Instantiate",
        ),
        (
            full.replace(
                "(module",
                r#"(module (import "env" "host_log" (func (param i64))) "#,
            ),
            "Instantiate",
        ),
    ];
    for (wat, expected) in cases {
        let module = ClientModule::load(&wat::parse_str(&wat).unwrap()).unwrap();
        for runtime in [
            ClientRuntime::Wasmi,
            ClientRuntime::Chromium(chromium.clone()),
        ] {
            let refused = format!("{:?}", runtime.instantiate(&module).err());
            assert!(
                refused.contains(expected),
                "{}: {refused} for {wat}",
                runtime.describe()
            );
        }
    }
}

/// A module with every export of the ABI and nothing else.
const ABI_EXPORTS: &[u8] = br#"(module
  (memory (export "memory") 1)
  (func (export "init") (result i32) i32.const 0)
  (func (export "alloc") (param i32 i32) (result i32) i32.const 1024)
  (func (export "reset_heap"))
  (func (export "render_stream") (param i32 i32) (result i32) i32.const 0)
  (func (export "on_event") (param i32) (result i32) i32.const 0)
  (func (export "apply_patch") (param i32 i32 i32 i32 i32 i32) (result i32) i32.const 0)
  (func (export "get_node_count") (result i32) i32.const 0)
  (func (export "get_template_count") (result i32) i32.const 0)
  (func (export "reset"))
)"#;

/// When Chromium itself goes away, nothing is blamed on the client: calls report the runtime
/// lost, new instances fail as the runtime's failure, and a client check says *not
/// verified* with the reason, never a failure.
#[tokio::test]
async fn a_browser_that_goes_away_leaves_the_checks_not_verified() {
    let (Some(_), Some(wasm)) = (chromium(), reference_client()) else {
        return;
    };
    // A browser of its own, closed under the test's feet.
    let chromium = Chromium::launch(None).expect("a second Chromium");
    let module = ClientModule::load(wasm).unwrap();
    let runtime = ClientRuntime::Chromium(chromium.clone());
    let mut client = runtime.instantiate(&module).unwrap();
    chromium.close();
    let mut lost = false;
    for _ in 0..200 {
        if let Call::Lost(why) = client.alloc(16, 8) {
            assert!(why.contains("Chromium went away"), "{why}");
            lost = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(lost, "the call reports the runtime lost");
    assert!(matches!(
        runtime.instantiate(&module),
        Err(dx_conformance::client::ClientError::Runtime(_))
    ));
    let target = Target::embedded(EmbeddedReference::default_config())
        .await
        .unwrap()
        .with_client_runtime(runtime);
    let result = run_property(&target, 10, CaseConfig::default())
        .await
        .unwrap();
    assert!(
        matches!(result.verdict, dx_conformance::Verdict::NotVerified(_)),
        "{:?}",
        result.verdict
    );
}
