//! Feature: production-readiness, Property 8: Structured Error Completeness
//!
//! Black-box form. The finite spaces are covered whole: every method on every route and on
//! unknown paths; an oversized body, declared and chunked, to every route whatever its
//! method; every media type, every kind of malformed JSON and every invalid member of every
//! JSON route; every request-id form; every code of spec/error-codes.toml through the `error`
//! hook; the protocol-level rejections sent as raw bytes. proptest then generates the
//! unbounded inputs (paths, bytes, Unicode strings, sizes). Every response must be exactly the
//! envelope spec/error-format.md words, with the code the contract names.

use http::Method;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::cases::{CaseConfig, CaseFailure, for_all, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::support::{Observer, marker, unique_scope};
use crate::clause::{Clause, error_format as ef, http_contract as hc};
use crate::contract::{self, Body, METHODS, Route};
use crate::envelope::{allowed_methods, check_envelope, expect_code_strict, is_check_state};
use crate::http::{Exchange, RequestSpec};
use crate::raw::{RawAnswer, RawRequest};
use crate::rules::Rule;
use crate::spec::{error_code_by_number, error_codes};
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 8,
    run: run_check,
};

/// The longest request timeout for which the 408 case is run (longer ones would stall the
/// suite; the conformance profile of the reference uses a short one).
const TIMEOUT_CASE_MAX_MS: u64 = 5_000;

/// One member of the enumerated space.
#[derive(Debug, Clone)]
enum Case {
    /// Any method to a path no route serves: 404.
    UnknownPath { path: String, method: Method },
    /// A method the route does not support: 405 with `Allow`.
    WrongMethod { route: Route, method: Method },
    /// A body one byte over the limit to the route with one of its methods: 413.
    Oversized {
        path: String,
        method: Method,
        chunked: bool,
    },
    /// A report padded to exactly the limit, declared or chunked: accepted (202).
    AtLimit { path: String, chunked: bool },
    /// A declared oversized body sent to its end, slowly: 413, never a reset.
    Drain { request: RawRequest },
    /// A JSON route's valid body under another media type: 415, or accepted.
    MediaType {
        route: Route,
        content_type: Option<&'static str>,
    },
    /// A body that is not well-formed JSON: 400.
    Malformed {
        route: Route,
        what: &'static str,
        body: Vec<u8>,
    },
    /// Well-formed JSON breaking one rule of the route: 422 naming `field`.
    Shape {
        route: Route,
        body: Value,
        field: &'static str,
    },
    /// A report at the edges of the rules: 202.
    Accepted { path: String, body: Value },
    /// A valid report under another spelling of the JSON media type: 202.
    MediaAccepted {
        path: String,
        content_type: &'static str,
    },
    /// A hook body at the edges of its rules: accepted, so the hook does what it is for.
    HookEdge {
        path: String,
        body: Value,
        status: u16,
        clause: &'static Clause,
    },
    /// A request with these `X-Request-Id` headers.
    RequestId { path: String, ids: Vec<String> },
    /// The `error` hook with this code.
    HookError {
        path: String,
        number: u16,
        suggestion: bool,
    },
    /// The `error` hook with a number that is not a code: 422 naming `number`.
    HookUnknownCode { path: String, number: u64 },
    /// `state/{scope}` with a scope segment that is invalid once decoded: 422.
    BadScopeSegment { path: String },
    /// `state/{scope}` with a percent-encoded valid scope: 200 for the decoded scope.
    EncodedScope { path: String, scope: String },
    /// The readiness endpoint: 200, or 503 with `details.checks`.
    Ready { path: String },
    /// Bytes no HTTP/1.1 parser accepts: an error status or a close, and no harm.
    Unparseable { request: RawRequest },
    /// Both `Content-Length` and `Transfer-Encoding`: refused, or served and closed.
    LengthAndChunked { request: RawRequest },
    /// A declared oversized body with `Expect: 100-continue`: 413 without 100.
    ExpectContinue { request: RawRequest },
    /// A body that stops arriving: 408.
    Stalled {
        request: RawRequest,
        timeout_ms: u64,
    },
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let observer = Observer::new(target).owning(&[Rule::RequestId, Rule::Envelope]);
        let space = enumerate(target);
        let outcome = for_each(&space, |case| run_case(observer, case)).await;
        if outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        // The deployment's own routes (`--probe`): every error answer a complete envelope,
        // which the observer judges (it owns the envelope rule).
        let user = crate::probes::requests_of(target.probes());
        let probed = for_each(&user, |(what, request)| async move {
            observer
                .send(request.clone(), &[])
                .await
                .map(drop)
                .map_err(|f| f.about(what))
        })
        .await;
        if probed.is_failed() {
            return CheckOutcome::Ran(outcome.followed_by(probed));
        }
        let routes = contract::routes(target.discovery(), &unique_scope("p08"));
        let generated = for_all(generated(routes.len()), config, |g| {
            run_generated(observer, routes.clone(), g)
        })
        .await;
        CheckOutcome::Ran(outcome.followed_by(probed).followed_by(generated))
    })
}

/// Every member of the finite space, built from the discovery document.
fn enumerate(target: &Target) -> Vec<Case> {
    let discovery = target.discovery();
    let routes = contract::routes(discovery, &unique_scope("p08"));
    let mut cases = Vec::new();
    for path in contract::unknown_paths(discovery) {
        for method in METHODS {
            cases.push(Case::UnknownPath {
                path: path.clone(),
                method,
            });
        }
    }
    for route in &routes {
        for method in METHODS.iter().filter(|m| !route.supports(m)) {
            cases.push(Case::WrongMethod {
                route: route.clone(),
                method: method.clone(),
            });
        }
        for chunked in [false, true] {
            cases.push(Case::Oversized {
                path: route.path.clone(),
                method: route.methods[0].clone(),
                chunked,
            });
        }
        if route.body.is_some() {
            json_route_cases(route, &mut cases);
        }
    }
    for chunked in [false, true] {
        cases.push(Case::Oversized {
            path: "/dx-conformance/no-such-page".into(),
            method: Method::POST,
            chunked,
        });
    }
    if let Some(path) = &discovery.endpoints.client_errors {
        for chunked in [false, true] {
            cases.push(Case::AtLimit {
                path: path.clone(),
                chunked,
            });
        }
    }
    let health = discovery.endpoints.health.clone();
    for path in [health.clone(), "/dx-conformance/no-such-page".to_owned()] {
        for ids in request_id_forms() {
            cases.push(Case::RequestId {
                path: path.clone(),
                ids,
            });
        }
    }
    cases.push(Case::Ready {
        path: discovery.endpoints.ready.clone(),
    });
    if let Some(base) = contract::hooks_base(discovery) {
        let error = format!("{base}/error");
        for code in error_codes().unwrap_or_default() {
            for suggestion in [false, true] {
                cases.push(Case::HookError {
                    path: error.clone(),
                    number: code.number,
                    suggestion,
                });
            }
        }
        for number in [
            0,
            1,
            999,
            1007,
            2000,
            4002,
            4999,
            9999,
            65_535,
            65_536,
            1 << 40,
        ] {
            cases.push(Case::HookUnknownCode {
                path: error.clone(),
                number,
            });
        }
        for segment in ["a%2Fb", "%FF", "a%20b", "%C3%A9", &"s".repeat(65)] {
            cases.push(Case::BadScopeSegment {
                path: format!("{base}/state/{segment}"),
            });
        }
        let scope = unique_scope("p08-enc");
        cases.push(Case::EncodedScope {
            path: format!("{base}/state/{}", scope.replace('-', "%2D")),
            scope,
        });
    }
    // Raw probes speak TLS to an https:// target (crate::raw), so they run on both.
    raw_cases(target, &mut cases);
    cases
}

/// The media-type, malformed-JSON, shape and acceptance cases of a JSON route.
fn json_route_cases(route: &Route, cases: &mut Vec<Case>) {
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("application/xml"),
        Some("text/json"),
        Some("application/jsonx"),
        Some("application/json-seq"),
    ] {
        cases.push(Case::MediaType {
            route: route.clone(),
            content_type,
        });
    }
    for (what, body) in malformed_bodies() {
        cases.push(Case::Malformed {
            route: route.clone(),
            what,
            body,
        });
    }
    let Some(body) = route.body else { return };
    for (body, field) in shape_errors(body) {
        cases.push(Case::Shape {
            route: route.clone(),
            body,
            field,
        });
    }
    match body {
        Body::ClientReport => {
            for body in accepted_reports() {
                cases.push(Case::Accepted {
                    path: route.path.clone(),
                    body,
                });
            }
            for content_type in [
                "application/json; charset=utf-8",
                "Application/JSON",
                "application/problem+json",
                "application/vnd.dx+json ; v=1",
            ] {
                cases.push(Case::MediaAccepted {
                    path: route.path.clone(),
                    content_type,
                });
            }
        }
        Body::HookPanic => {
            for message in [String::new(), "é".repeat(4096)] {
                cases.push(Case::HookEdge {
                    path: route.path.clone(),
                    body: json!({ "message": message }),
                    status: 500,
                    clause: &hc::HOOK_PANIC_MESSAGE,
                });
            }
        }
        Body::HookError => {
            let long = "é".repeat(512);
            for body in [
                json!({"number": 4000, "message": long}),
                json!({"number": 4000, "message": "m", "suggestion": long}),
                json!({"number": 4000, "message": "m", "source": "s".repeat(4096)}),
                json!({"number": 4000, "message": "m", "source": "", "suggestion": null}),
            ] {
                cases.push(Case::HookEdge {
                    path: route.path.clone(),
                    body,
                    status: 400,
                    clause: &hc::HOOK_MEMBERS,
                });
            }
        }
        Body::HookAdd | Body::Credentials | Body::RefreshToken | Body::RevokeToken | Body::Mint => {
        }
    }
}

/// Bodies that are not well-formed JSON (spec/http-contract.md, "JSON request bodies").
fn malformed_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let nest = |depth: usize| {
        let mut s = String::from(r#"{"message": "m", "boundary": "#);
        s.push_str(&"[".repeat(depth));
        s.push_str(&"]".repeat(depth));
        s.push('}');
        s.into_bytes()
    };
    vec![
        ("an empty body", Vec::new()),
        ("whitespace only", b"  \n ".to_vec()),
        (
            "a truncated object",
            br#"{"boundary": "b", "message": "#.to_vec(),
        ),
        (
            "trailing bytes",
            br#"{"boundary": "b", "message": "m"} x"#.to_vec(),
        ),
        (
            "two values",
            br#"{"boundary": "b", "message": "m"} {}"#.to_vec(),
        ),
        ("single quotes", b"{'boundary': 'b'}".to_vec()),
        (
            "a comment",
            br#"{"boundary": "b" /* c */, "message": "m"}"#.to_vec(),
        ),
        (
            "a trailing comma",
            br#"{"boundary": "b", "message": "m",}"#.to_vec(),
        ),
        (
            "an unquoted name",
            br#"{boundary: "b", "message": "m"}"#.to_vec(),
        ),
        (
            "invalid UTF-8 in a string",
            b"{\"boundary\": \"\xff\xfe\", \"message\": \"m\"}".to_vec(),
        ),
        (
            "a byte order mark",
            b"\xef\xbb\xbf{\"boundary\": \"b\", \"message\": \"m\"}".to_vec(),
        ),
        (
            "a raw control character in a string",
            b"{\"boundary\": \"a\x01b\", \"message\": \"m\"}".to_vec(),
        ),
        (
            "an escaped lone high surrogate",
            br#"{"boundary": "\ud800", "message": "m"}"#.to_vec(),
        ),
        (
            "an escaped lone low surrogate",
            br#"{"boundary": "x\udc00y", "message": "m"}"#.to_vec(),
        ),
        (
            "a duplicate member",
            br#"{"boundary": "b", "message": "m", "boundary": "c"}"#.to_vec(),
        ),
        (
            "a duplicate member in a nested object",
            br#"{"boundary": "b", "message": {"a": 1, "a": 2}}"#.to_vec(),
        ),
        ("nesting 65 deep", nest(64)),
        ("nesting 1000 deep", nest(999)),
        (
            "NaN",
            br#"{"boundary": "b", "message": "m", "code": NaN}"#.to_vec(),
        ),
        (
            "a leading zero",
            br#"{"boundary": "b", "message": "m", "code": 01}"#.to_vec(),
        ),
    ]
}

/// One invalid member at a time, and the member a 422 must name.
fn shape_errors(body: Body) -> Vec<(Value, &'static str)> {
    let long = |n: usize| "é".repeat(n);
    let nested = |depth: usize| {
        let mut v = json!([]);
        for _ in 1..depth {
            v = json!([v]);
        }
        v
    };
    let non_objects = [json!([]), json!(1), json!("s"), json!(null), json!(true)];
    let mut cases: Vec<(Value, &'static str)> = non_objects.into_iter().map(|v| (v, "$")).collect();
    match body {
        Body::ClientReport => cases.extend([
            (json!({"message": "m"}), "boundary"),
            (json!({"boundary": null, "message": "m"}), "boundary"),
            (json!({"boundary": "", "message": "m"}), "boundary"),
            (json!({"boundary": long(129), "message": "m"}), "boundary"),
            (json!({"boundary": 5, "message": "m"}), "boundary"),
            (json!({"boundary": ["b"], "message": "m"}), "boundary"),
            // 63 arrays inside the top-level object: 64 deep, well-formed, wrong shape.
            (json!({"boundary": nested(63), "message": "m"}), "boundary"),
            (json!({"boundary": "b"}), "message"),
            (json!({"boundary": "b", "message": ""}), "message"),
            (json!({"boundary": "b", "message": long(2049)}), "message"),
            (json!({"boundary": "b", "message": false}), "message"),
            (json!({"boundary": "b", "message": "m", "code": -1}), "code"),
            (
                json!({"boundary": "b", "message": "m", "code": 65_536}),
                "code",
            ),
            (
                json!({"boundary": "b", "message": "m", "code": 1.5}),
                "code",
            ),
            (
                json!({"boundary": "b", "message": "m", "code": 100.0}),
                "code",
            ),
            (
                json!({"boundary": "b", "message": "m", "code": "3"}),
                "code",
            ),
            (
                json!({"boundary": "b", "message": "m", "url": long(2049)}),
                "url",
            ),
            (json!({"boundary": "b", "message": "m", "url": 7}), "url"),
            (
                json!({"boundary": "b", "message": "m", "url": false}),
                "url",
            ),
            (
                json!({"boundary": "b", "message": "m", "url": ["u"]}),
                "url",
            ),
            (
                json!({"boundary": "b", "message": "m", "code": true}),
                "code",
            ),
            (json!({"boundary": "b", "message": "m", "code": {}}), "code"),
            (
                json!({"boundary": "b", "message": "m", "url": false}),
                "url",
            ),
            (
                json!({"boundary": "b", "message": "m", "url": ["u"]}),
                "url",
            ),
            (
                json!({"boundary": "b", "message": "m", "extra": 1}),
                "extra",
            ),
        ]),
        Body::HookAdd => cases.extend([
            (json!({"add": 1}), "scope"),
            (json!({"scope": "", "add": 1}), "scope"),
            (json!({"scope": "a/b", "add": 1}), "scope"),
            (json!({"scope": "é", "add": 1}), "scope"),
            (json!({"scope": "s".repeat(65), "add": 1}), "scope"),
            (json!({"scope": 5, "add": 1}), "scope"),
            (json!({"scope": "p08"}), "add"),
            (json!({"scope": "p08", "add": 1_000_000_001}), "add"),
            (json!({"scope": "p08", "add": -1_000_000_001}), "add"),
            (json!({"scope": "p08", "add": 1.5}), "add"),
            (json!({"scope": "p08", "add": "1"}), "add"),
            (json!({"scope": "p08", "add": 1, "extra": true}), "extra"),
        ]),
        Body::HookPanic => cases.extend([
            (json!({}), "message"),
            (json!({"message": 5}), "message"),
            (json!({"message": long(4097)}), "message"),
            (json!({"message": "m", "extra": 1}), "extra"),
        ]),
        Body::HookError => cases.extend([
            (json!({"message": "m"}), "number"),
            (json!({"number": "4000", "message": "m"}), "number"),
            (json!({"number": 4000.5, "message": "m"}), "number"),
            (json!({"number": 4000}), "message"),
            (json!({"number": 4000, "message": ""}), "message"),
            (json!({"number": 4000, "message": long(513)}), "message"),
            (
                json!({"number": 4000, "message": "m", "source": long(4097)}),
                "source",
            ),
            (
                json!({"number": 4000, "message": "m", "suggestion": ""}),
                "suggestion",
            ),
            (
                json!({"number": 4000, "message": "m", "suggestion": long(513)}),
                "suggestion",
            ),
            (json!({"number": 4000, "message": "m", "extra": 1}), "extra"),
        ]),
        Body::Credentials => cases.extend([
            (json!({"password": "p"}), "email"),
            (json!({"email": null, "password": "p"}), "email"),
            (json!({"email": 5, "password": "p"}), "email"),
            (json!({"email": "", "password": "p"}), "email"),
            (json!({"email": "no-at-sign", "password": "p"}), "email"),
            (json!({"email": "@dx-conformance.test", "password": "p"}), "email"),
            (json!({"email": "p08@", "password": "p"}), "email"),
            (json!({"email": "p08@x@dx-conformance.test", "password": "p"}), "email"),
            (
                json!({"email": format!("{}@dx-conformance.test", "e".repeat(235)), "password": "p"}),
                "email",
            ),
            (json!({"email": "p08@dx-conformance.test"}), "password"),
            (
                json!({"email": "p08@dx-conformance.test", "password": 5}),
                "password",
            ),
            (
                json!({"email": "p08@dx-conformance.test", "password": ""}),
                "password",
            ),
            (
                json!({"email": "p08@dx-conformance.test", "password": "a".repeat(1025)}),
                "password",
            ),
            (
                json!({"email": "p08@dx-conformance.test", "password": "p", "extra": 1}),
                "extra",
            ),
        ]),
        Body::RefreshToken => cases.extend([
            (json!({}), "refresh_token"),
            (json!({"refresh_token": 5}), "refresh_token"),
            (json!({"refresh_token": "t", "extra": 1}), "extra"),
        ]),
        Body::RevokeToken => cases.extend([
            (json!({}), "token"),
            (json!({"token": ["t"]}), "token"),
            (
                json!({"token": "t", "token_type_hint": "id_token"}),
                "token_type_hint",
            ),
            (json!({"token": "t", "extra": 1}), "extra"),
        ]),
        Body::Mint => cases.extend([
            (json!({"typ": "access", "exp_offset_seconds": 1}), "sub"),
            (
                json!({"sub": "", "typ": "access", "exp_offset_seconds": 1}),
                "sub",
            ),
            (
                json!({"sub": "s".repeat(129), "typ": "access", "exp_offset_seconds": 1}),
                "sub",
            ),
            (
                json!({"sub": "s", "typ": "id", "exp_offset_seconds": 1}),
                "typ",
            ),
            (json!({"sub": "s", "typ": "access"}), "exp_offset_seconds"),
            (
                json!({"sub": "s", "typ": "access", "exp_offset_seconds": 1_000_000_001}),
                "exp_offset_seconds",
            ),
            (
                json!({"sub": "s", "typ": "access", "exp_offset_seconds": 1.5}),
                "exp_offset_seconds",
            ),
            (
                json!({"sub": "s", "typ": "access", "exp_offset_seconds": 1, "x": 1}),
                "x",
            ),
        ]),
    }
    cases
}

/// Reports at the edges of the rules, all of which are accepted.
fn accepted_reports() -> Vec<Value> {
    vec![
        json!({"boundary": "é".repeat(128), "message": "m"}),
        json!({"boundary": "b", "message": "🙂".repeat(2048)}),
        json!({"boundary": "b", "message": "   "}),
        json!({"boundary": " ", "message": "\n"}),
        json!({"boundary": "b", "message": "m", "code": 0}),
        json!({"boundary": "b", "message": "m", "code": 65_535}),
        json!({"boundary": "b", "message": "m", "code": null, "url": null}),
        json!({"boundary": "b", "message": "m", "url": ""}),
        json!({"boundary": "b", "message": "m", "url": "u".repeat(2048)}),
    ]
}

/// A valid report padded with trailing white space (still one JSON value) to `size` bytes.
fn padded_report(size: usize) -> Vec<u8> {
    let mut body = json!({"boundary": "p08", "message": "at the limit"})
        .to_string()
        .into_bytes();
    body.resize(size.max(body.len()), b' ');
    body
}

/// Request-id header sets: kept ones first, then ones that must be replaced.
fn request_id_forms() -> Vec<Vec<String>> {
    let one = |s: &str| vec![s.to_owned()];
    vec![
        one("a"),
        one(&"Z".repeat(128)),
        one("dx-conformance.req:42_A-b"),
        vec![],
        one(""),
        one(&"a".repeat(129)),
        one("has space"),
        one("a+b"),
        one("a/b"),
        vec!["first-id".into(), "second-id".into()],
        vec!["same-id".into(), "same-id".into()],
    ]
}

/// The raw-byte cases (inside TLS for an `https` target).
fn raw_cases(target: &Target, cases: &mut Vec<Case>) {
    let discovery = target.discovery();
    let host = target
        .base_url()
        .host_str()
        .unwrap_or("localhost")
        .to_owned();
    let health = discovery.endpoints.health.clone();
    let post_path = discovery
        .endpoints
        .client_errors
        .clone()
        .unwrap_or_else(|| health.clone());
    let head = |extra: &str, path: &str, method: &str| {
        format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}")
    };
    let padding: String = (0..200)
        .map(|i| format!("X-Pad-{i}: {}\r\n", "p".repeat(1000)))
        .collect();
    for (what, bytes) in [
        (
            "a malformed request line",
            "NOT AN HTTP REQUEST\r\n\r\n".to_owned(),
        ),
        (
            "an unknown HTTP version",
            head("\r\n", &health, "GET").replace("HTTP/1.1", "HTTP/9.9"),
        ),
        (
            "a header without a colon",
            head("Broken header\r\n\r\n", &health, "GET"),
        ),
        (
            "200 KB of headers",
            head(&format!("{padding}\r\n"), &health, "GET"),
        ),
        (
            "Transfer-Encoding: gzip",
            head(
                "Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n{}",
                &post_path,
                "POST",
            ),
        ),
        (
            "two different Content-Length headers",
            head(
                "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                &health,
                "GET",
            ),
        ),
    ] {
        cases.push(Case::Unparseable {
            request: RawRequest::whole(what, bytes.into_bytes()),
        });
    }
    cases.push(Case::LengthAndChunked {
        request: RawRequest::whole(
            "Content-Length and Transfer-Encoding together",
            head(
                "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                &health,
                "GET",
            )
            .into_bytes(),
        ),
    });
    let over = discovery.limits.max_body_bytes + 1;
    cases.push(Case::ExpectContinue {
        request: RawRequest::whole(
            "a declared oversized body with Expect: 100-continue",
            head(
                &format!(
                    "Content-Type: application/json\r\nContent-Length: {over}\r\nExpect: 100-continue\r\n\r\n"
                ),
                &post_path,
                "POST",
            )
            .into_bytes(),
        ),
    });
    // 1 MiB past the limit, the least the server must drain, in 64 KiB parts a little apart,
    // so a server that answers without draining has closed before the client is done.
    let excess = 1024 * 1024;
    let declared = discovery.limits.max_body_bytes + excess;
    let mut parts = vec![(
        head(
            &format!("Content-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"),
            &post_path,
            "POST",
        )
        .into_bytes(),
        std::time::Duration::ZERO,
    )];
    let total = usize::try_from(declared).unwrap_or(usize::MAX);
    let mut sent = 0;
    while sent < total {
        let n = (total - sent).min(64 * 1024);
        parts.push((vec![b' '; n], std::time::Duration::from_millis(2)));
        sent += n;
    }
    cases.push(Case::Drain {
        request: RawRequest {
            description: format!(
                "a declared body 1 MiB over the limit ({declared} bytes), sent to its end"
            ),
            parts,
        },
    });
    let timeout_ms = discovery.limits.request_timeout_ms;
    if timeout_ms <= TIMEOUT_CASE_MAX_MS {
        cases.push(Case::Stalled {
            request: RawRequest::whole(
                "a body that stops after 1 of 100 declared bytes",
                head(
                    "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
                    &post_path,
                    "POST",
                )
                .into_bytes(),
            ),
            timeout_ms,
        });
    }
}

/// A valid body for a JSON route (failing routes still fail on purpose with it).
fn valid_body(body: Body) -> Value {
    match body {
        Body::ClientReport => json!({"boundary": "p08", "message": "probe"}),
        Body::HookAdd => json!({"scope": unique_scope("p08-mt"), "add": 1}),
        Body::HookPanic => json!({"message": "p08 media type probe"}),
        Body::HookError => json!({"number": 4000, "message": "p08 probe"}),
        Body::Credentials => json!({"email": "p08@dx-conformance.test", "password": "p08"}),
        Body::RefreshToken => json!({"refresh_token": "v4.public.p08"}),
        Body::RevokeToken => json!({"token": "v4.public.p08"}),
        Body::Mint => json!({"sub": "p08", "typ": "access", "exp_offset_seconds": 60}),
    }
}

async fn run_case(observer: Observer<'_>, case: &Case) -> Result<(), CaseFailure> {
    let rules = &observer.rules;
    let started = std::time::Instant::now();
    match case {
        Case::UnknownPath { path, method } => {
            let ex = observer
                .send(RequestSpec::new(method.clone(), path.clone()), &[])
                .await?;
            expect_error(&ex, rules, method, "NOT_FOUND", &hc::NOT_FOUND).map(drop)
        }
        Case::WrongMethod { route, method } => {
            let ex = observer
                .send(RequestSpec::new(method.clone(), route.path.clone()), &[])
                .await?;
            expect_error(&ex, rules, method, "METHOD_NOT_ALLOWED", &hc::METHOD)?;
            let allow = ex.header("allow").map(allowed_methods).unwrap_or_default();
            if allow != route.allow() {
                return Err(CaseFailure::violates(
                    &ex,
                    &ef::ALLOW,
                    format!(
                        "Allow lists {allow:?}; {} supports {:?}",
                        route.name,
                        route.allow()
                    ),
                ));
            }
            Ok(())
        }
        Case::Oversized {
            path,
            method,
            chunked,
        } => {
            let size = usize::try_from(observer.target.discovery().limits.max_body_bytes + 1)
                .unwrap_or(usize::MAX);
            let mut request = RequestSpec::new(method.clone(), path.clone())
                .header("content-type", "application/json")
                .body(vec![b' '; size]);
            if *chunked {
                request = request.chunked();
            }
            let ex = observer.send(request, &[]).await?;
            expect_too_large(&ex, rules, method)
        }
        Case::MediaType {
            route,
            content_type,
        } => {
            let Some(body) = route.body else {
                return Ok(());
            };
            let mut request = RequestSpec::new(Method::POST, route.path.clone())
                .body(valid_body(body).to_string().into_bytes());
            if let Some(ct) = content_type {
                request = request.header("content-type", *ct);
            }
            let ex = observer.send(request, &[]).await?;
            expect_code_strict(&ex, rules, "UNSUPPORTED_MEDIA_TYPE", &hc::MEDIA_TYPE).map(drop)
        }
        Case::Malformed { route, body, what } => {
            let mark = marker();
            let body = plant_in(body, &mark);
            let request = RequestSpec::new(Method::POST, route.path.clone())
                .header("content-type", "application/json")
                .body(body);
            let ex = observer.send(request, &[]).await?;
            let envelope = expect_code_strict(&ex, rules, "BAD_REQUEST", &hc::MALFORMED)
                .map_err(|f| f.about(what))?;
            not_echoed(&ex, &envelope.message, &mark, &hc::OWN_WORDS)
        }
        Case::Shape { route, body, field } => {
            let mark = marker();
            let body = plant_json(body, &mark);
            let ex = observer
                .send(RequestSpec::post_json(route.path.clone(), &body), &[])
                .await?;
            let envelope = expect_code_strict(&ex, rules, "VALIDATION_FAILED", &hc::SHAPE)?;
            expect_field(&ex, envelope.details.as_ref(), field)?;
            not_echoed(&ex, &ex.text(), &mark, &hc::REPORT_NOT_ECHOED)
        }
        Case::Accepted { path, body } => {
            let ex = observer
                .send(RequestSpec::post_json(path.clone(), body), &[])
                .await?;
            expect_accepted(&ex)
        }
        Case::AtLimit { path, chunked } => {
            let limit = usize::try_from(observer.target.discovery().limits.max_body_bytes)
                .unwrap_or(usize::MAX);
            let mut request = RequestSpec::new(Method::POST, path.clone())
                .header("content-type", "application/json")
                .body(padded_report(limit));
            if *chunked {
                request = request.chunked();
            }
            let ex = observer.send(request, &[]).await?;
            expect_accepted(&ex).map_err(|_| {
                CaseFailure::violates(
                    &ex,
                    &hc::BODY_LIMIT,
                    format!("HTTP {} for a body of exactly the limit", ex.status),
                )
            })
        }
        Case::Drain { request } => match raw(observer, request, 30_000).await? {
            RawAnswer::Response(ex) => {
                expect_code_strict(&ex, rules, "PAYLOAD_TOO_LARGE", &hc::DRAIN).map(drop)
            }
            // The upload outlasted the target's published request timeout (a loaded machine,
            // a slow link): a 408 and a close are then the timeout's, which may end any
            // request, and say nothing of draining. The case cannot conclude.
            RawAnswer::WriteFailed { answer, .. }
                if answer.as_ref().is_some_and(|a| a.status == 408)
                    || started.elapsed()
                        >= std::time::Duration::from_millis(
                            observer.target.discovery().limits.request_timeout_ms,
                        ) =>
            {
                crate::cases::unconcluded(
                    "the oversized upload outlasted the target's request timeout before it was drained",
                );
                Ok(())
            }
            RawAnswer::WriteFailed { error, written, .. } => Err(CaseFailure::plain(
                hc::DRAIN.cite(),
                format!(
                    "the connection failed after {written} of the body's bytes were sent ({error}): the server stopped reading before draining 1 MiB of the excess"
                ),
            )),
            other => Err(CaseFailure::plain(hc::DRAIN.cite(), format!("{other:?}"))),
        },
        Case::MediaAccepted { path, content_type } => {
            let request = RequestSpec::new(Method::POST, path.clone())
                .header("content-type", *content_type)
                .body(valid_body(Body::ClientReport).to_string().into_bytes());
            let ex = observer.send(request, &[]).await?;
            expect_accepted(&ex).map_err(|_| {
                CaseFailure::violates(
                    &ex,
                    &hc::MEDIA_TYPE,
                    format!("HTTP {} for a JSON media type", ex.status),
                )
            })
        }
        Case::HookEdge {
            path,
            body,
            status,
            clause,
        } => {
            let ex = observer
                .send(RequestSpec::post_json(path.clone(), body), &[])
                .await?;
            if ex.status.as_u16() != *status {
                return Err(CaseFailure::violates(
                    &ex,
                    clause,
                    format!(
                        "HTTP {} for a body within the rules (the hook answers {status})",
                        ex.status
                    ),
                ));
            }
            check_envelope(&ex, rules).map(drop)
        }
        Case::RequestId { path, ids } => {
            let mut request = RequestSpec::get(path.clone());
            for id in ids {
                request = request.header("x-request-id", id.clone());
            }
            let ex = observer.send(request, &[]).await?;
            if ex.status.as_u16() >= 400 {
                check_envelope(&ex, rules)?;
            }
            Ok(())
        }
        Case::HookError {
            path,
            number,
            suggestion,
        } => hook_error(observer, path, *number, "Public p08 message", *suggestion).await,
        Case::HookUnknownCode { path, number } => {
            let ex = observer
                .send(
                    RequestSpec::post_json(
                        path.clone(),
                        &json!({"number": number, "message": "m"}),
                    ),
                    &[],
                )
                .await?;
            let envelope =
                expect_code_strict(&ex, rules, "VALIDATION_FAILED", &hc::HOOK_ERROR_UNKNOWN)?;
            expect_field(&ex, envelope.details.as_ref(), "number")
        }
        Case::BadScopeSegment { path } => {
            let ex = observer.send(RequestSpec::get(path.clone()), &[]).await?;
            let envelope = expect_code_strict(&ex, rules, "VALIDATION_FAILED", &hc::HOOK_SCOPE)?;
            expect_field(&ex, envelope.details.as_ref(), "scope")
        }
        Case::EncodedScope { path, scope } => {
            let ex = observer.send(RequestSpec::get(path.clone()), &[]).await?;
            let json = ex.json().unwrap_or(Value::Null);
            if ex.status != 200 || json["scope"] != json!(scope) || json["updates"] != json!(0) {
                return Err(CaseFailure::violates(
                    &ex,
                    &hc::HOOK_SCOPE,
                    format!("HTTP {} for the percent-encoded scope `{scope}`", ex.status),
                ));
            }
            Ok(())
        }
        Case::Ready { path } => {
            let ex = observer.send(RequestSpec::get(path.clone()), &[]).await?;
            let ready = ex.status == 200;
            let checks = if ready {
                ex.json().map(|j| j["checks"].clone())
            } else {
                expect_code_strict(&ex, rules, "SERVICE_UNAVAILABLE", &hc::READINESS)?
                    .details
                    .map(|d| d["checks"].clone())
            };
            let states: Vec<&Value> = checks
                .as_ref()
                .and_then(Value::as_object)
                .map(|c| c.values().collect())
                .unwrap_or_default();
            if states.is_empty() || !states.iter().all(|v| is_check_state(v)) {
                return Err(CaseFailure::violates(
                    &ex,
                    &ef::CHECKS,
                    format!("readiness checks {checks:?}"),
                ));
            }
            let any_unavailable = states.iter().any(|v| *v == "unavailable");
            if ready == any_unavailable {
                return Err(CaseFailure::violates(
                    &ex,
                    &hc::READINESS,
                    format!("HTTP {} with checks {checks:?}", ex.status),
                ));
            }
            Ok(())
        }
        Case::Unparseable { request } => {
            let answer = match raw(observer, request, 10_000).await? {
                // Closing while the client still sends is one of the allowed answers.
                RawAnswer::WriteFailed { answer, .. } => answer.map_or_else(
                    || RawAnswer::Closed("closed while sending".into()),
                    RawAnswer::Response,
                ),
                other => other,
            };
            if let RawAnswer::Response(ex) = &answer
                && ex.status.as_u16() < 400
            {
                return Err(CaseFailure::violates(
                    ex,
                    &hc::UNPARSEABLE,
                    format!("HTTP {} to unparseable bytes", ex.status),
                ));
            }
            if let RawAnswer::Silent = answer {
                return Err(CaseFailure::plain(
                    hc::UNPARSEABLE.cite(),
                    format!(
                        "no answer and no close within 10 s to {}",
                        request.description
                    ),
                ));
            }
            still_serving(observer).await
        }
        Case::LengthAndChunked { request } => {
            if let RawAnswer::Response(ex) = raw(observer, request, 10_000).await?
                && ex.status.as_u16() < 400
                && !closes(&ex)
            {
                return Err(CaseFailure::violates(
                    &ex,
                    &hc::LENGTH_AND_CHUNKED,
                    format!("HTTP {} without `Connection: close`", ex.status),
                ));
            }
            still_serving(observer).await
        }
        Case::ExpectContinue { request } => match raw(observer, request, 10_000).await? {
            RawAnswer::Response(ex) => {
                expect_code_strict(&ex, rules, "PAYLOAD_TOO_LARGE", &hc::EXPECT_CONTINUE).map(drop)
            }
            other => Err(CaseFailure::plain(
                hc::EXPECT_CONTINUE.cite(),
                format!("{other:?}"),
            )),
        },
        Case::Stalled {
            request,
            timeout_ms,
        } => match raw(observer, request, timeout_ms + 5_000).await? {
            RawAnswer::Response(ex) => {
                expect_code_strict(&ex, rules, "REQUEST_TIMEOUT", &hc::TIMEOUT).map(drop)
            }
            other => Err(CaseFailure::plain(
                hc::TIMEOUT.cite(),
                format!("{other:?} within {} ms", timeout_ms + 5_000),
            )),
        },
    }
}

async fn raw(
    observer: Observer<'_>,
    request: &RawRequest,
    limit_ms: u64,
) -> Result<RawAnswer, CaseFailure> {
    let answer = observer
        .target
        .send_raw(request, std::time::Duration::from_millis(limit_ms))
        .await?;
    if let RawAnswer::Response(ex) = &answer {
        observer.judge_sanitization(ex)?;
    }
    Ok(answer)
}

/// After a protocol-level rejection, other connections are served as before.
async fn still_serving(observer: Observer<'_>) -> Result<(), CaseFailure> {
    let health = observer.target.discovery().endpoints.health.clone();
    let ex = observer.send(RequestSpec::get(health), &[]).await?;
    if ex.status == 200 {
        Ok(())
    } else {
        Err(CaseFailure::violates(
            &ex,
            &hc::UNPARSEABLE,
            format!("the health endpoint answered HTTP {} afterwards", ex.status),
        ))
    }
}

/// An error with `wire`; for `HEAD` the status alone (its answer has no body).
fn expect_error(
    ex: &Exchange,
    rules: &crate::envelope::Rules,
    method: &Method,
    wire: &str,
    clause: &Clause,
) -> Result<(), CaseFailure> {
    if *method != Method::HEAD {
        return expect_code_strict(ex, rules, wire, clause).map(drop);
    }
    let status = crate::spec::error_code_by_wire(wire).map_or(0, |c| c.http_status);
    if ex.status.as_u16() != status || !ex.body.is_empty() {
        return Err(CaseFailure::violates(
            ex,
            clause,
            format!(
                "HTTP {} with {} body bytes to HEAD (expected {status}, no body)",
                ex.status,
                ex.body.len()
            ),
        ));
    }
    if status == 405 && ex.header("allow").is_none() {
        return Err(CaseFailure::violates(
            ex,
            &ef::ALLOW,
            "no Allow header".to_owned(),
        ));
    }
    Ok(())
}

fn expect_too_large(
    ex: &Exchange,
    rules: &crate::envelope::Rules,
    method: &Method,
) -> Result<(), CaseFailure> {
    expect_error(ex, rules, method, "PAYLOAD_TOO_LARGE", &hc::BODY_LIMIT)?;
    if closes(ex) {
        Ok(())
    } else {
        Err(CaseFailure::violates(
            ex,
            &hc::BODY_LIMIT,
            "no `Connection: close` on the 413".to_owned(),
        ))
    }
}

/// Whether the response says `Connection: close`.
fn closes(ex: &Exchange) -> bool {
    ex.header("connection")
        .is_some_and(|c| c.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
}

fn expect_field(ex: &Exchange, details: Option<&Value>, field: &str) -> Result<(), CaseFailure> {
    let got = details.and_then(|d| d.get("field")).and_then(Value::as_str);
    if got == Some(field) {
        Ok(())
    } else {
        Err(CaseFailure::violates(
            ex,
            &hc::SHAPE,
            format!("details.field is {got:?}; the only offending member is `{field}`"),
        ))
    }
}

fn expect_accepted(ex: &Exchange) -> Result<(), CaseFailure> {
    let json = ex.json().unwrap_or(Value::Null);
    let id = ex.header("x-request-id").unwrap_or("");
    let expected = json!({"accepted": true, "request_id": id});
    if ex.status == 202 && json == expected {
        Ok(())
    } else {
        Err(CaseFailure::violates(
            ex,
            &hc::REPORT_ACCEPTED,
            format!("HTTP {} for a report within the rules", ex.status),
        ))
    }
}

fn not_echoed(ex: &Exchange, text: &str, mark: &str, clause: &Clause) -> Result<(), CaseFailure> {
    if text.contains(mark) {
        Err(CaseFailure::violates(
            ex,
            clause,
            format!("the response repeats `{mark}` from the request body"),
        ))
    } else {
        Ok(())
    }
}

/// `body` with its string `"b"` or `"m"` values replaced by `mark` where it has them.
fn plant_in(body: &[u8], mark: &str) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    if !body.is_ascii() || !text.contains("\"b\"") {
        return body.to_vec();
    }
    text.replacen("\"b\"", &format!("\"{mark}\""), 1)
        .into_bytes()
}

/// `body` with a `"message"` of `"m"` replaced by `mark`.
fn plant_json(body: &Value, mark: &str) -> Value {
    let mut body = body.clone();
    if let Some(m) = body.get_mut("message")
        && m == "m"
    {
        *m = json!(mark);
    }
    body
}

/// The `error` hook with `number`: its envelope, message, suggestion and bound members.
async fn hook_error(
    observer: Observer<'_>,
    path: &str,
    number: u16,
    message: &str,
    suggestion: bool,
) -> Result<(), CaseFailure> {
    let mark = marker();
    let source = format!("internal cause {mark}");
    let suggestion_text = format!("Public p08 suggestion for {number}");
    let mut body = json!({"number": number, "message": message, "source": source});
    if suggestion {
        body["suggestion"] = json!(suggestion_text);
    }
    let ex = observer
        .send(
            RequestSpec::post_json(path.to_owned(), &body),
            &[mark, source],
        )
        .await?;
    let Some(code) = error_code_by_number(number) else {
        return Err(CaseFailure::plain(
            "a code of spec/error-codes.toml",
            format!("the suite raised {number}, which is not in the table"),
        ));
    };
    let envelope = expect_code_strict(&ex, &observer.rules, &code.wire, &hc::HOOK_ERROR)?;
    if code.http_status < 500 && envelope.message != message {
        return Err(CaseFailure::violates(
            &ex,
            &hc::HOOK_ERROR,
            format!(
                "error.message `{}` instead of `{message}`",
                envelope.message
            ),
        ));
    }
    let want = suggestion.then_some(suggestion_text.as_str());
    if envelope.suggestion.as_deref() != want {
        return Err(CaseFailure::violates(
            &ex,
            &hc::HOOK_ERROR,
            format!("error.suggestion {:?}, sent {want:?}", envelope.suggestion),
        ));
    }
    Ok(())
}

/// One generated input.
#[derive(Debug, Clone)]
enum Generated {
    /// A path under an unknown prefix, with a method.
    UnknownPath(String, usize),
    /// Bytes that are not JSON, to a JSON route.
    Malformed(Vec<u8>, usize),
    /// A body `extra` bytes over the limit, to a route.
    Oversized {
        extra: usize,
        chunked: bool,
        route: usize,
    },
    /// A report with generated members.
    Report {
        boundary: String,
        message: String,
        code: Option<i64>,
        url: Option<String>,
    },
    /// The `error` hook with a generated public message and suggestion.
    HookError {
        number: u16,
        message: String,
        suggestion: bool,
    },
}

/// Public text: letters, digits, spaces and non-ASCII letters, so it can never look like an
/// internal detail to any judge.
const PUBLIC_TEXT: &str = "[A-Za-z0-9 ,!?éßø日本語🙂-]";

fn generated(routes: usize) -> impl Strategy<Value = Generated> {
    let codes: Vec<u16> = error_codes()
        .map(|c| c.iter().map(|c| c.number).collect())
        .unwrap_or_else(|_| vec![4000]);
    let text = |max: usize| regex_strategy(&format!("(?s).{{0,{max}}}"));
    prop_oneof![
        ("[a-z0-9]{1,12}(/[a-z0-9._~-]{1,12}){0,3}", 0..METHODS.len())
            .prop_map(|(p, m)| Generated::UnknownPath(p, m)),
        (
            proptest::collection::vec(any::<u8>(), 1..256).prop_filter("not JSON", |b| {
                serde_json::from_slice::<Value>(b).is_err()
            }),
            0..routes.max(1)
        )
            .prop_map(|(b, r)| Generated::Malformed(b, r)),
        (1usize..65_536, any::<bool>(), 0..routes.max(1)).prop_map(|(extra, chunked, route)| {
            Generated::Oversized {
                extra,
                chunked,
                route,
            }
        }),
        (
            text(140),
            text(2100),
            proptest::option::of(-10i64..70_000),
            proptest::option::of(text(2100)),
        )
            .prop_map(|(boundary, message, code, url)| Generated::Report {
                boundary,
                message,
                code,
                url,
            }),
        (
            prop::sample::select(codes),
            regex_strategy(&format!("{PUBLIC_TEXT}{{1,512}}")),
            any::<bool>()
        )
            .prop_map(|(number, message, suggestion)| Generated::HookError {
                number,
                message,
                suggestion
            }),
    ]
}

/// Strings matching `pattern`; a constant pattern always compiles, but should one not, the
/// strategy yields empty strings, which the checks reject as invalid input, never pass.
fn regex_strategy(pattern: &str) -> BoxedStrategy<String> {
    match proptest::string::string_regex(pattern) {
        Ok(strategy) => strategy.boxed(),
        Err(_) => Just(String::new()).boxed(),
    }
}

async fn run_generated(
    observer: Observer<'_>,
    routes: Vec<Route>,
    input: Generated,
) -> Result<(), CaseFailure> {
    let rules = &observer.rules;
    match input {
        Generated::UnknownPath(path, m) => {
            let method = METHODS[m % METHODS.len()].clone();
            let ex = observer
                .send(
                    RequestSpec::new(method.clone(), format!("/dx-conformance-missing/{path}")),
                    &[],
                )
                .await?;
            expect_error(&ex, rules, &method, "NOT_FOUND", &hc::NOT_FOUND)
        }
        Generated::Malformed(body, r) => {
            let json_routes: Vec<&Route> = routes.iter().filter(|r| r.body.is_some()).collect();
            let Some(route) = json_routes.get(r % json_routes.len().max(1)) else {
                return Ok(());
            };
            let request = RequestSpec::new(Method::POST, route.path.clone())
                .header("content-type", "application/json")
                .body(body);
            let ex = observer.send(request, &[]).await?;
            expect_code_strict(&ex, rules, "BAD_REQUEST", &hc::MALFORMED).map(drop)
        }
        Generated::Oversized {
            extra,
            chunked,
            route,
        } => {
            let Some(route) = routes.get(route % routes.len().max(1)) else {
                return Ok(());
            };
            let size = usize::try_from(observer.target.discovery().limits.max_body_bytes)
                .unwrap_or(usize::MAX / 2)
                + extra;
            let method = route.methods[0].clone();
            let mut request = RequestSpec::new(method.clone(), route.path.clone())
                .header("content-type", "application/json")
                .body(vec![b'x'; size]);
            if chunked {
                request = request.chunked();
            }
            let ex = observer.send(request, &[]).await?;
            expect_too_large(&ex, rules, &method)
        }
        Generated::Report {
            boundary,
            message,
            code,
            url,
        } => {
            let Some(path) = observer.target.discovery().endpoints.client_errors.clone() else {
                return Ok(());
            };
            let chars = |s: &str| s.chars().count();
            let mut wrong = Vec::new();
            if !(1..=128).contains(&chars(&boundary)) {
                wrong.push("boundary");
            }
            if !(1..=2048).contains(&chars(&message)) {
                wrong.push("message");
            }
            if code.is_some_and(|c| !(0..=65_535).contains(&c)) {
                wrong.push("code");
            }
            if url.as_deref().is_some_and(|u| chars(u) > 2048) {
                wrong.push("url");
            }
            let body = json!({"boundary": boundary, "message": message, "code": code, "url": url});
            let ex = observer
                .send(RequestSpec::post_json(path, &body), &[])
                .await?;
            if wrong.is_empty() {
                return expect_accepted(&ex);
            }
            let envelope =
                expect_code_strict(&ex, rules, "VALIDATION_FAILED", &hc::REPORT_MEMBERS)?;
            let field = envelope
                .details
                .as_ref()
                .and_then(|d| d.get("field"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if wrong.contains(&field) {
                Ok(())
            } else {
                Err(CaseFailure::violates(
                    &ex,
                    &hc::SHAPE,
                    format!("details.field `{field}`; the offending members are {wrong:?}"),
                ))
            }
        }
        Generated::HookError {
            number,
            message,
            suggestion,
        } => {
            let Some(base) = contract::hooks_base(observer.target.discovery()) else {
                return Ok(());
            };
            hook_error(
                observer,
                &format!("{base}/error"),
                number,
                &message,
                suggestion,
            )
            .await
        }
    }
}
