//! Properties 9-11: the target's WASM client, fetched from the discovery document's `client`
//! member and run in the suite's [`MockHost`](crate::client::MockHost) under wasmi
//! (`spec/client-abi.md`). These checks speak only the client's ABI: they place bytes in its
//! memory, call its exports and read what it asked of the host.

pub mod p09_delta_round_trip;
pub mod p10_allocator_non_overlap;
pub mod p11_malformed_stream;

use serde_json::Value;

use crate::cases::CaseFailure;
use crate::check::CheckOutcome;
use crate::clause::client as cc;
use crate::client::{Call, ClientError, ClientInstance, ClientModule, ClientRuntime};
use crate::http::RequestSpec;
use crate::target::Target;

/// The target's client, compiled.
#[derive(Debug, Clone)]
pub struct ClientArea {
    /// Where it came from.
    pub source: String,
    /// The module.
    pub module: ClientModule,
    /// The engine it runs in.
    pub runtime: ClientRuntime,
}

impl ClientArea {
    /// A fresh instance, or a set-up failure naming why the client cannot run.
    pub fn instance(&self) -> Result<ClientInstance, CaseFailure> {
        self.runtime.instantiate(&self.module).map_err(|e| {
            if let ClientError::Runtime(why) = &e {
                // The suite's runtime failed, not the target's client: nothing is judged.
                return CaseFailure::blocked(format!("{}: {why}", self.runtime.describe()));
            }
            CaseFailure::plain(
                "a client that instantiates with the imports of spec/client-abi.md and whose init returns 0",
                format!("{}: {e}", self.source),
            )
        })
    }
}

/// The target's client, or why the checks cannot run.
pub async fn area(target: &Target) -> Result<ClientArea, CheckOutcome> {
    if let Some((source, wasm)) = target.client_override() {
        let module = ClientModule::load(wasm).map_err(|e| {
            CheckOutcome::SetupFailed(CaseFailure::plain(
                "a WebAssembly module with the exports of spec/client-abi.md",
                format!("{source}: {e}"),
            ))
        })?;
        return Ok(ClientArea {
            source: source.to_owned(),
            module,
            runtime: target.client_runtime().clone(),
        });
    }
    let d = target.discovery();
    if !d.offers("client") {
        return Err(without_client(embedded_without_client(target)));
    }
    let Some(url) = d
        .raw
        .pointer("/client/wasm_url")
        .and_then(Value::as_str)
        .map(str::to_owned)
    else {
        return Err(CheckOutcome::SetupFailed(CaseFailure::plain(
            "a client member with wasm_url (spec/discovery.md)",
            format!("{}", d.raw.get("client").cloned().unwrap_or(Value::Null)),
        )));
    };
    let path = match url::Url::parse(&url) {
        Ok(absolute) if absolute.origin() == target.base_url().origin() => {
            absolute.path().to_owned()
        }
        Ok(_) => {
            return Err(CheckOutcome::NotVerified(format!(
                "the client is served from another origin ({url}); give it with --client"
            )));
        }
        Err(_) => url.clone(),
    };
    let exchange = target
        .http()
        .send(RequestSpec::get(&path))
        .await
        .map_err(|e| {
            CheckOutcome::SetupFailed(CaseFailure::plain("the client module", e.to_string()))
        })?;
    if exchange.status != 200 {
        return Err(CheckOutcome::SetupFailed(CaseFailure::at(
            &exchange,
            "200 with the client module",
            format!("HTTP {}", exchange.status),
        )));
    }
    let module = ClientModule::load(&exchange.body).map_err(|e| {
        CheckOutcome::SetupFailed(CaseFailure::plain(
            "a WebAssembly module with the exports of spec/client-abi.md",
            format!("{path}: {e}"),
        ))
    })?;
    Ok(ClientArea {
        source: path,
        module,
        runtime: target.client_runtime().clone(),
    })
}

/// The client checks' outcome against a target that publishes no client. A deployment may
/// serve none (spec/discovery.md): not verified. The embedded reference always serves the
/// client it is built with, so when it has none the build lacked the wasm32 target: that is a
/// broken set-up with a known fix, and a run that hid it as "not verified" would pass without
/// ever checking a client.
fn without_client(embedded_built_without_client: bool) -> CheckOutcome {
    if embedded_built_without_client {
        return CheckOutcome::SetupFailed(CaseFailure::plain(
            "the embedded reference serving the WASM client it is built with (spec/client-abi.md)",
            EMBEDDED_WITHOUT_CLIENT,
        ));
    }
    CheckOutcome::NotVerified(
        "the target publishes no client member: it serves no WASM client (spec/discovery.md)"
            .into(),
    )
}

/// Whether `target` is the embedded reference and this build of it has no client (the
/// wasm32 target was missing when dx-server was built: `reference/server/build.rs`).
pub fn embedded_without_client(target: &Target) -> bool {
    target.is_embedded() && dx_server::routes::client::client_wasm().is_none()
}

/// What the client checks say against an embedded reference built without its client.
pub const EMBEDDED_WITHOUT_CLIENT: &str = "the embedded reference was built without its WASM client \
     (the wasm32-unknown-unknown target was missing when dx-server was built). Fix: \
     `rustup target add wasm32-unknown-unknown`, then run again: cargo rebuilds the server \
     with its client";

/// One delta-capable asset the target lists in `client.assets` (`spec/discovery.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedAsset {
    /// Where it is served.
    pub path: String,
    /// Its media type, when given.
    pub content_type: Option<String>,
    /// Its versions' hashes, oldest first (never empty).
    pub versions: Vec<String>,
}

/// The assets the target lists in `client.assets`; entries without a path or versions are
/// left out.
pub fn published_assets(target: &Target) -> Vec<PublishedAsset> {
    let raw = &target.discovery().raw;
    let Some(assets) = raw.pointer("/client/assets").and_then(Value::as_array) else {
        return Vec::new();
    };
    assets
        .iter()
        .filter_map(|a| {
            let path = a.get("path")?.as_str()?.to_owned();
            let versions: Vec<String> = a
                .get("versions")?
                .as_array()?
                .iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect();
            let content_type = a
                .get("content_type")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (!versions.is_empty()).then_some(PublishedAsset {
                path,
                content_type,
                versions,
            })
        })
        .collect()
}

/// A call that must return: its value, or a failure citing the input guarantee.
pub fn returned<T: std::fmt::Debug>(call: Call<T>, what: &str) -> Result<T, CaseFailure> {
    match call {
        Call::Returned(v) => Ok(v),
        Call::Lost(why) => Err(CaseFailure::blocked(format!("{what}: {why}"))),
        other => Err(CaseFailure::plain(
            cc::INPUT.cite(),
            format!("{what} {}", other.describe()),
        )),
    }
}

/// `bytes` placed in the client (a set-up step: the allocator's own check is Property 10).
pub fn place(client: &mut ClientInstance, bytes: &[u8], what: &str) -> Result<i32, CaseFailure> {
    client.place(bytes, 1).map_err(|call| {
        if let Call::Lost(why) = call {
            return CaseFailure::blocked(format!("placing the {what}: {why}"));
        }
        CaseFailure::plain(
            cc::ALLOC_FLOOR.cite(),
            format!(
                "alloc({}, 1) for the {what}: {}",
                bytes.len(),
                call.describe()
            ),
        )
    })
}

/// A read or write of the client's memory that failed, citing `clause`; when the suite's
/// runtime failed, a case that could not be judged instead.
pub fn memory_failure(clause: impl Into<String>, error: ClientError) -> CaseFailure {
    match error {
        ClientError::Runtime(why) => CaseFailure::blocked(why),
        other => CaseFailure::plain(clause, other.to_string()),
    }
}

/// The length of `bytes` as the ABI's `i32`.
pub fn len(bytes: &[u8]) -> i32 {
    i32::try_from(bytes.len()).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod without_client_tests {
    use super::*;

    #[test]
    fn an_embedded_reference_built_without_its_client_fails_with_the_fix() {
        match without_client(true) {
            CheckOutcome::SetupFailed(failure) => {
                assert!(
                    failure
                        .actual
                        .contains("rustup target add wasm32-unknown-unknown"),
                    "{}",
                    failure.actual
                );
                assert!(failure.actual.contains("run again"), "{}", failure.actual);
            }
            other => panic!("expected a failure naming the fix, got {other:?}"),
        }
    }

    #[test]
    fn a_deployment_without_a_client_is_not_verified() {
        match without_client(false) {
            CheckOutcome::NotVerified(reason) => {
                assert!(reason.contains("no client member"), "{reason}");
            }
            other => panic!("expected not verified, got {other:?}"),
        }
    }
}
