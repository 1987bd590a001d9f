//! Delta-capable assets (`spec/delta.md`, "Over HTTP"): each version named by its XXH64 as a
//! strong `ETag`; `If-None-Match` naming the current version answers 304; with `A-IM: dxdp`
//! and `If-None-Match` naming one older version the server holds, a DXDP patch answers
//! `226 IM Used` (or the whole target when a patch would not be smaller); anything else gets
//! the whole current version. Older versions stay fetchable at `?v=<hash>`, so a client (or
//! the suite) can hold a base.
//!
//! The reference has one such asset, the demo page's HTIP stream (`crate::demo`); every patch
//! between its versions is computed once, at first use.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use dx_htip::delta::{self, Delta};
use serde::Deserialize;
use serde_json::{Value, json};

/// Where the demo page's stream is served.
pub const DEMO_PATH: &str = "/_dx/demo.htip";
/// Its media type.
pub const HTIP_TYPE: &str = "application/vnd.dx.htip";

/// One asset: its versions, oldest first, and the answer to a client holding each older one.
#[derive(Debug)]
pub struct Asset {
    path: &'static str,
    content_type: &'static str,
    /// (hash, bytes), oldest first; the last is current.
    versions: Vec<(String, Vec<u8>)>,
    /// By the hash of an older version: a patch to the current one, or none when the whole
    /// target is smaller.
    deltas: HashMap<String, Option<Vec<u8>>>,
}

impl Asset {
    /// An asset with `versions` (oldest first; at least one).
    pub fn new(path: &'static str, content_type: &'static str, versions: Vec<Vec<u8>>) -> Self {
        let versions: Vec<(String, Vec<u8>)> = versions
            .into_iter()
            .map(|v| (delta::hash_hex(&v), v))
            .collect();
        let mut deltas = HashMap::new();
        if let Some((_, current)) = versions.last() {
            for (hash, old) in &versions[..versions.len() - 1] {
                let patch = match delta::delta(old, current) {
                    Ok(Delta::Patch(p)) => Some(p),
                    Ok(Delta::Full) | Err(_) => None,
                };
                deltas.insert(hash.clone(), patch);
            }
        }
        Self {
            path,
            content_type,
            versions,
            deltas,
        }
    }

    fn current(&self) -> Option<&(String, Vec<u8>)> {
        self.versions.last()
    }

    /// Its member of the discovery document's `client.assets`.
    pub fn describe(&self) -> Value {
        json!({
            "path": self.path,
            "content_type": self.content_type,
            "versions": self.versions.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>(),
        })
    }
}

/// The reference's delta-capable assets.
pub fn assets() -> &'static [Asset] {
    static ASSETS: OnceLock<Vec<Asset>> = OnceLock::new();
    ASSETS.get_or_init(|| match crate::demo::versions() {
        Ok(versions) => vec![Asset::new(DEMO_PATH, HTIP_TYPE, versions)],
        Err(e) => {
            tracing::error!(error = %e, "the demo page could not be encoded; no assets served");
            Vec::new()
        }
    })
}

/// The entity tags an `If-None-Match` header lists, without quotes (`*` as itself).
pub fn listed_tags(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| {
            t.trim()
                .trim_start_matches("W/")
                .trim_matches('"')
                .to_owned()
        })
        .filter(|t| !t.is_empty())
        .collect()
}

/// Whether `A-IM` lists `dxdp`.
fn accepts_dxdp(headers: &HeaderMap) -> bool {
    headers
        .get_all("a-im")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|im| {
            im.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("dxdp"))
        })
}

/// `?v=<hash>`: an older version.
#[derive(Debug, Default, Deserialize)]
pub struct VersionQuery {
    v: Option<String>,
}

fn with_common(mut response: Response, etag: &str) -> Response {
    let h = response.headers_mut();
    if let Ok(tag) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        h.insert(header::ETAG, tag);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("A-IM, If-None-Match"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

fn body(asset: &Asset, status: StatusCode, bytes: &[u8]) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        )],
        bytes.to_vec(),
    )
        .into_response()
}

/// Serves `asset` as `spec/delta.md` says (public so an application, or a benchmark, serves
/// its own assets as the reference serves the demo's).
pub fn serve(asset: &Asset, headers: &HeaderMap, query: &VersionQuery) -> Response {
    let Some((current_hash, current)) = asset.current() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(wanted) = &query.v {
        return match asset.versions.iter().find(|(h, _)| h == wanted) {
            Some((hash, bytes)) => with_common(body(asset, StatusCode::OK, bytes), hash),
            None => crate::api_error::ApiError(dx_error::DxError::request(
                dx_error::ErrorCode::NotFound,
                "No such version of this asset",
            ))
            .into_response(),
        };
    }
    let tags = listed_tags(headers);
    if tags.iter().any(|t| t == current_hash || t == "*") {
        return with_common(StatusCode::NOT_MODIFIED.into_response(), current_hash);
    }
    if accepts_dxdp(headers)
        && let [base] = tags.as_slice()
        && let Some(Some(patch)) = asset.deltas.get(base)
    {
        let mut response = body(asset, StatusCode::IM_USED, patch);
        let h = response.headers_mut();
        h.insert("im", HeaderValue::from_static("dxdp"));
        if let Ok(base) = HeaderValue::from_str(&format!("\"{base}\"")) {
            h.insert("delta-base", base);
        }
        return with_common(response, current_hash);
    }
    with_common(body(asset, StatusCode::OK, current), current_hash)
}

/// `GET /_dx/demo.htip`.
pub async fn demo(headers: HeaderMap, Query(query): Query<VersionQuery>) -> Response {
    match assets().iter().find(|a| a.path == DEMO_PATH) {
        Some(asset) => serve(asset, &headers, &query),
        None => super::not_found().await.into_response(),
    }
}

/// The demo page's current stream, if the demo could be built.
pub fn demo_stream() -> Option<&'static [u8]> {
    assets()
        .iter()
        .find(|a| a.path == DEMO_PATH)
        .and_then(Asset::current)
        .map(|(_, bytes)| bytes.as_slice())
}

/// The assets for the discovery document.
pub fn discovery_assets() -> Value {
    Value::Array(assets().iter().map(Asset::describe).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn negotiation_follows_rfc_3229() {
        let asset = Asset::new(
            "/a",
            "text/plain",
            vec![
                b"the quick brown fox jumps over the lazy dog, again and again and again".to_vec(),
                b"the quick brown fox leaps over the lazy dog, again and again and again".to_vec(),
            ],
        );
        let old = asset.versions[0].0.clone();
        let new = asset.versions[1].0.clone();
        let none = VersionQuery { v: None };
        let full = serve(&asset, &HeaderMap::new(), &none);
        assert_eq!(full.status(), StatusCode::OK);
        assert_eq!(full.headers()[header::ETAG], format!("\"{new}\"").as_str());
        assert_eq!(full.headers()[header::VARY], "A-IM, If-None-Match");
        let same = serve(
            &asset,
            &headers(&[("if-none-match", &format!("\"{new}\""))]),
            &none,
        );
        assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
        let patch = serve(
            &asset,
            &headers(&[("if-none-match", &format!("\"{old}\"")), ("a-im", "dxdp")]),
            &none,
        );
        assert_eq!(patch.status(), StatusCode::IM_USED);
        assert_eq!(patch.headers()["im"], "dxdp");
        assert_eq!(patch.headers()["delta-base"], format!("\"{old}\"").as_str());
        // Without A-IM, with an unknown base, or with two bases: the whole target.
        for h in [
            headers(&[("if-none-match", &format!("\"{old}\""))]),
            headers(&[("if-none-match", "\"0000000000000000\""), ("a-im", "dxdp")]),
            headers(&[
                ("if-none-match", &format!("\"{old}\", \"0000000000000000\"")),
                ("a-im", "dxdp"),
            ]),
        ] {
            assert_eq!(serve(&asset, &h, &none).status(), StatusCode::OK);
        }
        let older = serve(&asset, &HeaderMap::new(), &VersionQuery { v: Some(old) });
        assert_eq!(older.status(), StatusCode::OK);
        let missing = serve(
            &asset,
            &HeaderMap::new(),
            &VersionQuery {
                v: Some("nope".into()),
            },
        );
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_demo_page_is_served_with_patches_from_each_older_version() {
        let demo = &assets()[0];
        assert_eq!(demo.versions.len(), 3);
        for (hash, _) in &demo.versions[..2] {
            let patch = demo.deltas[hash]
                .as_ref()
                .expect("a patch is smaller than the page");
            let base = &demo.versions.iter().find(|(h, _)| h == hash).unwrap().1;
            let target = &demo.versions[2].1;
            assert!(
                patch.len() < target.len() / 4,
                "{} against {}",
                patch.len(),
                target.len()
            );
            assert_eq!(&delta::apply(base, patch, 1 << 20).unwrap(), target);
        }
    }
}
