//! `GET /_dx/client.wasm`: the WASM client this server was built with (`reference/client`,
//! built by `build.rs`), named by its XXH64 hash as a strong `ETag`, so a page revalidates it
//! cheaply and the conformance suite can fetch and run it (spec/client-abi.md,
//! spec/discovery.md's `client` member).

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::mutants::{Mutant, Mutations};
use crate::state::SharedState;

/// Where the client is served.
pub const CLIENT_PATH: &str = "/_dx/client.wasm";
/// The version of `spec/client-abi.md` the client implements.
pub const CLIENT_ABI: u32 = 1;

/// The module built with this server (empty when the build had no `wasm32` target).
static CLIENT_WASM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/dx_client.wasm"));

/// The deliberately broken clients (empty unless built with the `mutants` feature).
static MUTANT_WASM: [(Mutant, &[u8]); 4] = [
    (
        Mutant::ClientTrustsLength,
        include_bytes!(concat!(env!("OUT_DIR"), "/dx_client_trusts-length.wasm")),
    ),
    (
        Mutant::ClientTruncatedOk,
        include_bytes!(concat!(env!("OUT_DIR"), "/dx_client_truncated-ok.wasm")),
    ),
    (
        Mutant::ClientOverlappingAlloc,
        include_bytes!(concat!(
            env!("OUT_DIR"),
            "/dx_client_overlapping-alloc.wasm"
        )),
    ),
    (
        Mutant::ClientAnyBase,
        include_bytes!(concat!(env!("OUT_DIR"), "/dx_client_any-base.wasm")),
    ),
];

/// The client module, if this build has one.
pub fn client_wasm() -> Option<&'static [u8]> {
    (!CLIENT_WASM.is_empty()).then_some(CLIENT_WASM)
}

/// The client a server with `mutations` serves: a broken one under a client mutant.
pub fn served_wasm(mutations: &Mutations) -> Option<&'static [u8]> {
    MUTANT_WASM
        .iter()
        .find(|(mutant, bytes)| mutations.is(*mutant) && !bytes.is_empty())
        .map(|(_, bytes)| *bytes)
        .or_else(client_wasm)
}

/// The discovery document's `client` member, or null without a client.
pub fn discovery_member(mutations: &Mutations) -> Value {
    match served_wasm(mutations) {
        Some(bytes) => json!({
            "wasm_url": CLIENT_PATH,
            "abi": CLIENT_ABI,
            "size": bytes.len(),
            "hash": dx_htip::delta::hash_hex(bytes),
            "assets": crate::routes::assets::discovery_assets(),
        }),
        None => Value::Null,
    }
}

/// Serves the client, or 304 when the caller holds this version.
pub async fn client(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    let Some(bytes) = served_wasm(&state.config.mutations) else {
        return super::not_found().await.into_response();
    };
    let hash = dx_htip::delta::hash_hex(bytes);
    let tag = format!("\"{hash}\"");
    let matches = super::assets::listed_tags(&headers)
        .iter()
        .any(|t| *t == hash || t == "*");
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/wasm"),
            )],
            bytes,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&tag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_member_describes_the_built_client() {
        match client_wasm() {
            Some(bytes) => {
                assert_eq!(&bytes[..4], b"\0asm", "a WebAssembly module");
                let member = discovery_member(&Mutations::none());
                assert_eq!(member["wasm_url"], CLIENT_PATH);
                assert_eq!(member["size"], bytes.len());
                assert_eq!(
                    dx_htip::delta::hash_hex(bytes),
                    member["hash"].as_str().unwrap_or("")
                );
            }
            None => assert!(discovery_member(&Mutations::none()).is_null()),
        }
    }
}
