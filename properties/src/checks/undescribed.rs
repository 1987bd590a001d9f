//! The checks that need no discovery document (spec/conformance.md, "Targets without a
//! discovery document"): against a server that publishes none, the suite knows no limit,
//! route, profile or hook, so it asks only what any HTTP client can ask any server, and
//! judges the answers by the rules that hold for every response of every dx-www target:
//!
//! - Property 8, the error envelope: an unknown path SHALL get 404 `NOT_FOUND`, and every
//!   answer with a status of 400 or more SHALL be a complete envelope;
//! - Property 12, the security headers on every answer, judged strictly (only a published
//!   development profile relaxes them);
//! - Property 26, sanitization: no answer reveals a trace, a path, SQL, a connection string,
//!   credentials or an environment assignment, whatever hostile path or body it was sent.
//!
//! Every answer also carries exactly one `X-Request-Id`, as the checks' observer requires of
//! every response. The probes are enumerated (the same list for all three); proptest then
//! generates paths and methods.

use http::Method;
use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure, for_all, for_each};
use crate::check::{CheckFuture, CheckOutcome};
use crate::checks::security_headers::{HeaderRules, judge};
use crate::clause::http_contract as hc;
use crate::envelope::{Rules, check_envelope, check_no_leak, expect_code_strict};
use crate::http::{Exchange, HttpClient, RequestSpec};
use crate::observer::record_every_rule;
use crate::probes::UserRoute;
use crate::target::Bare;

/// A check of a property's no-discovery form.
#[derive(Debug, Clone, Copy)]
pub struct UndescribedCheck {
    /// The property number in `spec/properties.toml`.
    pub property: u8,
    /// Runs the check.
    pub run: for<'a> fn(&'a Bare, CaseConfig) -> CheckFuture<'a>,
}

/// Every property with a no-discovery form.
pub fn all() -> Vec<UndescribedCheck> {
    vec![
        UndescribedCheck {
            property: 8,
            run: error_envelope,
        },
        UndescribedCheck {
            property: 12,
            run: security_headers,
        },
        UndescribedCheck {
            property: 26,
            run: sanitization,
        },
    ]
}

/// The prefix of paths no dx-www route serves (spec/http-contract.md reserves nothing under
/// it), so their answer SHALL be 404.
const UNKNOWN: &str = "/dx-conformance/no-such-path";

/// What a probe's answer must be, beyond the rules of every answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 404 `NOT_FOUND`: the path is one no route serves.
    NotFound,
    /// Any status; an error status with a complete envelope.
    Anything,
}

/// One request any client can send any server.
#[derive(Debug, Clone)]
struct Probe {
    what: String,
    request: RequestSpec,
    expect: Expect,
}

fn probe(what: &str, request: RequestSpec, expect: Expect) -> Probe {
    Probe {
        what: what.to_owned(),
        request,
        expect,
    }
}

fn json_post(path: &str, body: &[u8]) -> RequestSpec {
    RequestSpec::new(Method::POST, path)
        .header("content-type", "application/json")
        .body(body.to_vec())
}

/// The enumerated probes: the root, the discovery path, every method on an unknown path,
/// malformed and mistyped bodies, hostile paths, and what `user` routes (`--probe`) are
/// sent (`crate::probes`).
fn probes(user: &[UserRoute]) -> Vec<Probe> {
    let mut list = vec![
        probe("GET /", RequestSpec::get("/"), Expect::Anything),
        probe(
            "HEAD /",
            RequestSpec::new(Method::HEAD, "/"),
            Expect::Anything,
        ),
        probe(
            "GET of the discovery path",
            RequestSpec::get("/.well-known/dx-www"),
            Expect::Anything,
        ),
        probe(
            "DELETE of the discovery path",
            RequestSpec::new(Method::DELETE, "/.well-known/dx-www"),
            Expect::Anything,
        ),
    ];
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ] {
        list.push(probe(
            &format!("{method} of an unknown path"),
            RequestSpec::new(method, UNKNOWN),
            Expect::NotFound,
        ));
    }
    list.extend([
        probe(
            "malformed JSON to an unknown path",
            json_post(UNKNOWN, b"{\"x\":"),
            Expect::NotFound,
        ),
        probe(
            "malformed JSON to the client-errors path",
            json_post("/api/v1/client-errors", b"{\"x\":"),
            Expect::Anything,
        ),
        probe(
            "a text body to the client-errors path",
            RequestSpec::new(Method::POST, "/api/v1/client-errors")
                .header("content-type", "text/plain")
                .body(b"x".to_vec()),
            Expect::Anything,
        ),
    ]);
    for (what, path) in [
        (
            "a path climbing out of the root",
            "/..%2f..%2f..%2fetc%2fpasswd",
        ),
        ("a path with a NUL byte", "/dx-conformance/%00"),
        ("a path with SQL", "/dx-conformance/'%20OR%201=1--"),
        ("an overlong UTF-8 path", "/%C0%AE%C0%AE/%C0%AE%C0%AE/"),
        (
            "a path with markup",
            "/dx-conformance/%3Cscript%3Ealert(1)%3C/script%3E",
        ),
        (
            "a query with a format string",
            "/dx-conformance?x=%25s%25n%25x",
        ),
    ] {
        list.push(probe(what, RequestSpec::get(path), Expect::Anything));
    }
    list.push(probe(
        "a 4 KiB path",
        RequestSpec::get(format!("{UNKNOWN}/{}", "a".repeat(4096))),
        Expect::Anything,
    ));
    for (what, request) in crate::probes::requests_of(user) {
        list.push(probe(&what, request, Expect::Anything));
    }
    list
}

/// Sends `request`; `own` judges the answer by the property's own rule, and the rules every
/// answer obeys are recorded apart (spec/conformance.md, "Rules every response obeys"), so a
/// server without request ids still has its leaks judged.
async fn send(
    http: &HttpClient,
    request: RequestSpec,
    own: impl FnOnce(&Exchange) -> Result<(), CaseFailure>,
) -> Result<(), CaseFailure> {
    let exchange = http.send(request).await?;
    let result = own(&exchange);
    record_rules(http, &exchange);
    result
}

/// Records the rules every answer obeys in the run's ledger (`crate::rules`), each on its
/// own: a check fails only on its own rule, judged by `own`.
fn record_rules(http: &HttpClient, ex: &Exchange) {
    // Recorded only: a check fails on its own rule, which `own` judged.
    let _recorded = record_every_rule(
        http,
        ex,
        &[],
        check_no_leak(ex, &[], &Rules::UNDESCRIBED),
        (&Rules::UNDESCRIBED, HeaderRules::STRICT),
    );
}

/// Property 8's judgement of one answer.
fn judge_envelope(ex: &Exchange, expect: Expect, head: bool) -> Result<(), CaseFailure> {
    match expect {
        Expect::NotFound if head => {
            if ex.status.as_u16() == 404 {
                Ok(())
            } else {
                Err(CaseFailure::violates(
                    ex,
                    &hc::NOT_FOUND,
                    format!("HTTP {}", ex.status),
                ))
            }
        }
        Expect::NotFound => {
            expect_code_strict(ex, &Rules::UNDESCRIBED, "NOT_FOUND", &hc::NOT_FOUND).map(drop)
        }
        Expect::Anything if ex.status.as_u16() >= 400 && !head => {
            check_envelope(ex, &Rules::UNDESCRIBED).map(drop)
        }
        Expect::Anything => Ok(()),
    }
}

/// Unbounded paths under the unknown prefix, with any method.
fn unknown_requests() -> impl Strategy<Value = (String, Method)> {
    (
        "[a-zA-Z0-9._~-]{1,24}(/[a-zA-Z0-9._~-]{0,12}){0,3}",
        methods(),
    )
        .prop_map(|(path, method)| (format!("{UNKNOWN}/{path}"), method))
}

/// Arbitrary paths (hostile characters percent-encoded) with any method.
fn any_requests() -> impl Strategy<Value = (String, Method)> {
    (proptest::collection::vec(any::<u8>(), 0..48), methods()).prop_map(|(bytes, method)| {
        let path: String = bytes
            .iter()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                    char::from(*b).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        (format!("/{path}"), method)
    })
}

/// Any of the methods a generated request may use.
pub(crate) fn methods() -> impl Strategy<Value = Method> {
    proptest::sample::select(vec![
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
        Method::HEAD,
    ])
}

fn error_envelope(bare: &Bare, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let list = probes(bare.probes());
        let enumerated = for_each(&list, |p| async move {
            let head = p.request.method == Method::HEAD;
            send(bare.http(), p.request.clone(), |ex| {
                judge_envelope(ex, p.expect, head)
            })
            .await
            .map_err(|f| f.about(&p.what))
        })
        .await;
        if enumerated.is_failed() {
            return CheckOutcome::Ran(enumerated);
        }
        let generated = for_all(unknown_requests(), config, |(path, method)| async move {
            let head = method == Method::HEAD;
            send(bare.http(), RequestSpec::new(method, &path), |ex| {
                judge_envelope(ex, Expect::NotFound, head)
            })
            .await
        })
        .await;
        CheckOutcome::Ran(enumerated.followed_by(generated))
    })
}

fn security_headers(bare: &Bare, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let rules = HeaderRules::STRICT;
        let list = probes(bare.probes());
        let enumerated = for_each(&list, |p| async move {
            send(bare.http(), p.request.clone(), |ex| {
                judge(ex, rules, &p.what)
            })
            .await
        })
        .await;
        if enumerated.is_failed() {
            return CheckOutcome::Ran(enumerated);
        }
        let generated = for_all(any_requests(), config, |(path, method)| async move {
            let what = format!("{method} {path}");
            send(bare.http(), RequestSpec::new(method, &path), |ex| {
                judge(ex, rules, &what)
            })
            .await
        })
        .await;
        CheckOutcome::Ran(enumerated.followed_by(generated))
    })
}

fn sanitization(bare: &Bare, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(probe_sanitization(
        bare.http(),
        bare.probes(),
        Rules::UNDESCRIBED,
        config,
    ))
}

/// What Property 26 cannot verify when nothing it sent made the target fail.
pub const NO_FAILURE_PROVOKED: &str = "no request provoked an unhandled failure (no answer was a 5xx): without the conformance profile's fault hooks the suite cannot make the target fail on purpose, so what its unhandled failures reveal is not verified; only the answers it could provoke were judged";

/// Property 26 without fault hooks: the enumerated probes, then generated paths and
/// methods, each answer judged for anything internal. The property is about unhandled
/// failures; when none of the answers was a 5xx the premise was never reached, and the pass
/// is a pass in part that says so (spec/conformance.md, "Checks and verdicts").
pub async fn probe_sanitization(
    http: &HttpClient,
    user: &[UserRoute],
    rules: Rules,
    config: CaseConfig,
) -> CheckOutcome {
    let failed = std::sync::atomic::AtomicBool::new(false);
    let judge_leaks = |ex: &Exchange| {
        if ex.status.is_server_error() {
            failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        check_no_leak(ex, &[], &rules)
    };
    let list = probes(user);
    let enumerated = for_each(&list, |p| async move {
        send(http, p.request.clone(), judge_leaks)
            .await
            .map_err(|f| f.about(&p.what))
    })
    .await;
    if enumerated.is_failed() {
        return CheckOutcome::Ran(enumerated);
    }
    let generated = for_all(any_requests(), config, |(path, method)| async move {
        send(http, RequestSpec::new(method, &path), judge_leaks).await
    })
    .await;
    let outcome = enumerated.followed_by(generated);
    if failed.load(std::sync::atomic::Ordering::Relaxed) {
        CheckOutcome::Ran(outcome)
    } else {
        CheckOutcome::RanInPart {
            outcome: Box::new(outcome),
            unverified: NO_FAILURE_PROVOKED.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_no_discovery_form_is_of_a_property_that_needs_no_profile() {
        let specs = crate::spec::properties().unwrap();
        for check in all() {
            let spec = specs.iter().find(|p| p.number == check.property).unwrap();
            assert!(
                !spec.needs_conformance_profile || check.property == 8 || check.property == 26,
                "p{:02}",
                check.property
            );
        }
        assert_eq!(
            all().iter().map(|c| c.property).collect::<Vec<_>>(),
            [8, 12, 26]
        );
    }

    #[test]
    fn unknown_paths_are_probed_with_every_method_that_carries_a_body_or_not() {
        let unknown: Vec<String> = probes(&[])
            .iter()
            .filter(|p| p.expect == Expect::NotFound)
            .map(|p| p.request.method.to_string())
            .collect();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(unknown.iter().any(|m| m == method), "{method}");
        }
    }
}
