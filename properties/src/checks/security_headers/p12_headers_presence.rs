//! Feature: production-readiness, Property 12: Security Headers Presence
//!
//! Black-box form, against any target. Every status the suite can provoke is enumerated:
//! 200 (liveness, readiness, discovery, HEAD), 404 (unknown path), 405 (wrong method), 400
//! (malformed JSON), 415 (wrong media type), 413 (a body over `limits.max_body_bytes`), 403
//! (a cross-site unsafe request, where the target does CSRF); in the conformance profile also
//! 500 (the panic hook) and 429 (one partition's auth budget spent). proptest then generates
//! arbitrary paths and methods. Each answer must carry the six headers, each once and valid.

use http::Method;

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::security_headers::{HeaderRules, judge};
use crate::checks::support::{Observer, unique_scope};
use crate::http::RequestSpec;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 12,
    run: run_check,
};

/// One provoked answer.
#[derive(Debug, Clone)]
struct Probe {
    what: String,
    request: RequestSpec,
}

fn probe(what: &str, request: RequestSpec) -> Probe {
    Probe {
        what: what.to_owned(),
        request,
    }
}

fn probes(target: &Target) -> Vec<Probe> {
    let d = target.discovery();
    let errors = d
        .endpoints
        .client_errors
        .clone()
        .unwrap_or_else(|| "/api/v1/client-errors".into());
    let mut list = vec![
        probe("200 from liveness", RequestSpec::get(&d.endpoints.health)),
        probe("a readiness answer", RequestSpec::get(&d.endpoints.ready)),
        probe(
            "200 from discovery",
            RequestSpec::get("/.well-known/dx-www"),
        ),
        probe(
            "HEAD of liveness",
            RequestSpec::new(Method::HEAD, &d.endpoints.health),
        ),
        probe(
            "404 from an unknown path",
            RequestSpec::get("/dx-conformance/no-such-path"),
        ),
        probe(
            "405 from a wrong method",
            RequestSpec::new(Method::DELETE, &d.endpoints.health),
        ),
        probe(
            "400 from malformed JSON",
            RequestSpec::new(Method::POST, &errors)
                .header("content-type", "application/json")
                .body(b"{\"x\":".to_vec()),
        ),
        probe(
            "415 from a wrong media type",
            RequestSpec::new(Method::POST, &errors)
                .header("content-type", "text/plain")
                .body(b"x".to_vec()),
        ),
        probe(
            "413 from a body over the limit",
            RequestSpec::new(Method::POST, &errors)
                .header("content-type", "application/json")
                .body(vec![b' '; d.limits.max_body_bytes as usize + 1]),
        ),
        probe(
            "the answer to a cross-site unsafe request",
            RequestSpec::new(Method::POST, &errors)
                .header("sec-fetch-site", "cross-site")
                .header("content-type", "application/json")
                .body(b"{}".to_vec()),
        ),
    ];
    for (what, request) in crate::probes::requests_of(target.probes()) {
        list.push(probe(&what, request));
    }
    if let Some(hooks) = d.fault_hooks.as_ref() {
        list.push(probe(
            "500 from a panic",
            RequestSpec::new(Method::POST, format!("{}/panic", hooks.base)),
        ));
    }
    list
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        // The headers are judged below with each probe's own name, so the observer only
        // records the rules.
        let observer = Observer::new(target);
        let rules = HeaderRules::of(target);
        let list = probes(target);
        let enumerated = for_each(&list, |p| async move {
            let ex = observer.target.http().send(p.request.clone()).await?;
            judge(&ex, rules, &p.what)
        })
        .await;
        if enumerated.is_failed() {
            return CheckOutcome::Ran(enumerated);
        }
        let limited = for_each(&["a 429 from a spent rate-limit budget"], |_| {
            rate_limited(target, rules)
        })
        .await;
        if limited.is_failed() {
            return CheckOutcome::Ran(enumerated.followed_by(limited));
        }
        // Each case is one request: several run at once.
        let generated = for_all_concurrently(
            (
                "/[a-zA-Z0-9._~-]{0,24}(/[a-zA-Z0-9._~-]{0,12}){0,3}",
                crate::checks::undescribed::methods(),
            ),
            config,
            CASES_AT_ONCE,
            |(path, method)| async move {
                let ex = observer
                    .send(RequestSpec::new(method.clone(), &path), &[])
                    .await?;
                judge(&ex, rules, &format!("{method} {path}"))
            },
        )
        .await;
        let outcome = enumerated.followed_by(limited).followed_by(generated);
        match unprovoked(target) {
            None => CheckOutcome::Ran(outcome),
            Some(unverified) => CheckOutcome::RanInPart {
                outcome: Box::new(outcome),
                unverified,
            },
        }
    })
}

/// The statuses spec/security.md names that this target gives the suite no way to provoke,
/// and why: a pass without them is a pass in part.
fn unprovoked(target: &Target) -> Option<String> {
    let d = target.discovery();
    let mut missing = Vec::new();
    if d.fault_hooks.is_none() {
        missing.push("the 500 of a panic turned into an error (the target has no fault hooks)");
    }
    if target.http().partition_header().is_none() {
        missing.push("the 429 of a spent rate-limit budget (no partition header: spending the target's own budget would lock this machine out)");
    }
    (!missing.is_empty()).then(|| format!("not provoked, so not judged: {}", missing.join("; ")))
}

/// In the conformance profile: spend one partition's auth budget and judge every answer,
/// the 429 included. Elsewhere nothing is spent (a check must not lock a client out).
async fn rate_limited(target: &Target, rules: HeaderRules) -> Result<(), CaseFailure> {
    let d = target.discovery();
    let (Some(partition), Some(policy)) = (
        target.http().partition_header(),
        d.raw.pointer("/rate_limits/policies/auth"),
    ) else {
        return Ok(());
    };
    let max = policy
        .get("max_requests")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0);
    let Some(prefix) = policy
        .pointer("/path_prefixes/0")
        .and_then(serde_json::Value::as_str)
    else {
        return Ok(());
    };
    let key = unique_scope("p12");
    let path = format!("{prefix}dx-conformance-p12");
    for _ in 0..=max.min(1_000) {
        let ex = target
            .http()
            .send(RequestSpec::get(&path).header(partition, &key))
            .await?;
        judge(
            &ex,
            rules,
            &format!("answer {} in a rate-limited category", ex.status),
        )?;
    }
    Ok(())
}
