//! Feature: production-readiness, Property 8: Structured Error Completeness
//!
//! Black-box form: provokes errors of every kind a client can cause (unknown paths, invalid
//! UTF-8 in a path, a wrong method, malformed JSON, a wrong content type, an oversized body,
//! invalid fields) and, with fault hooks, an error of every code in spec/error-codes.toml.
//! Every response must be a complete envelope with the expected code.

use http::Method;
use proptest::prelude::*;
use serde_json::json;

use crate::cases::{CaseConfig, CaseFailure, for_all};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::envelope::expect_code;
use crate::http::RequestSpec;
use crate::spec::error_codes;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 8,
    run: run_check,
};

/// One way to provoke an error.
#[derive(Debug, Clone)]
enum Provocation {
    /// GET a path that does not exist.
    UnknownPath(String),
    /// GET a path with percent-encoded bytes that are not UTF-8.
    InvalidUtf8Path(Vec<u8>),
    /// A method the health endpoint does not allow.
    WrongMethod(&'static str),
    /// A body that is not JSON.
    MalformedJson(Vec<u8>),
    /// A JSON body sent with another content type.
    WrongContentType(&'static str),
    /// A body `n` bytes over the limit.
    Oversized(usize),
    /// Well-formed JSON with an invalid field.
    InvalidField(&'static str),
    /// The `error` fault hook with a code, a message and maybe a suggestion.
    Hook(u16, String, Option<String>),
}

fn provocation(hook_codes: Vec<u16>) -> BoxedStrategy<Provocation> {
    let natural = prop_oneof![
        "[a-z0-9]{1,12}(/[a-z0-9._~-]{1,12}){0,3}".prop_map(Provocation::UnknownPath),
        proptest::collection::vec(0x80u8..=0xff, 1..6).prop_map(Provocation::InvalidUtf8Path),
        prop::sample::select(vec!["DELETE", "PUT", "PATCH", "POST"])
            .prop_map(Provocation::WrongMethod),
        proptest::collection::vec(any::<u8>(), 1..64)
            .prop_filter("not JSON", |b| serde_json::from_slice::<serde_json::Value>(
                b
            )
            .is_err())
            .prop_map(Provocation::MalformedJson),
        prop::sample::select(vec![
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml"
        ])
        .prop_map(Provocation::WrongContentType),
        (1usize..4096).prop_map(Provocation::Oversized),
        prop::sample::select(vec![
            "empty-boundary",
            "long-boundary",
            "blank-message",
            "unknown-field",
            "wrong-type"
        ])
        .prop_map(Provocation::InvalidField),
    ];
    if hook_codes.is_empty() {
        natural.boxed()
    } else {
        let hook = (
            prop::sample::select(hook_codes),
            "[A-Za-z][A-Za-z ]{0,40}",
            proptest::option::of("[A-Za-z][A-Za-z ]{0,40}"),
        )
            .prop_map(|(n, m, s)| Provocation::Hook(n, m, s));
        prop_oneof![2 => natural, 1 => hook].boxed()
    }
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let hooks = target
            .discovery()
            .fault_hooks
            .as_ref()
            .map(|h| h.base.trim_end_matches('/').to_owned());
        let codes = match error_codes() {
            Ok(c) => c,
            Err(e) => {
                return CheckOutcome::SetupFailed(CaseFailure::plain(
                    "a valid spec",
                    e.to_string(),
                ));
            }
        };
        let hook_codes = if hooks.is_some() {
            codes.iter().map(|c| c.number).collect()
        } else {
            Vec::new()
        };
        CheckOutcome::Ran(
            for_all(provocation(hook_codes), config, |p| {
                run_case(target, hooks.clone(), p)
            })
            .await,
        )
    })
}

async fn run_case(
    target: &Target,
    hooks: Option<String>,
    p: Provocation,
) -> Result<(), CaseFailure> {
    let discovery = target.discovery();
    let reports = discovery.endpoints.client_errors.clone();
    let health = discovery.endpoints.health.clone();
    let limit = usize::try_from(discovery.limits.max_body_bytes).unwrap_or(usize::MAX / 2);
    let valid_report = json!({"boundary": "p08", "message": "probe"});
    let (request, wire) = match &p {
        Provocation::UnknownPath(path) => (
            RequestSpec::get(format!("/dx-conformance-missing/{path}")),
            "NOT_FOUND",
        ),
        Provocation::InvalidUtf8Path(bytes) => {
            let encoded: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            (RequestSpec::get(format!("/{encoded}")), "NOT_FOUND")
        }
        Provocation::WrongMethod(method) => (
            RequestSpec::new(
                Method::from_bytes(method.as_bytes()).unwrap_or(Method::DELETE),
                health,
            ),
            "METHOD_NOT_ALLOWED",
        ),
        Provocation::MalformedJson(body) => match &reports {
            Some(path) => (
                RequestSpec::new(Method::POST, path.clone())
                    .header("content-type", "application/json")
                    .body(body.clone()),
                "BAD_REQUEST",
            ),
            None => return Ok(()),
        },
        Provocation::WrongContentType(ct) => match &reports {
            Some(path) => (
                RequestSpec::new(Method::POST, path.clone())
                    .header("content-type", *ct)
                    .body(valid_report.to_string().into_bytes()),
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            None => return Ok(()),
        },
        Provocation::Oversized(extra) => match &reports {
            Some(path) => (
                RequestSpec::new(Method::POST, path.clone())
                    .header("content-type", "application/json")
                    .body(vec![b' '; limit + extra]),
                "PAYLOAD_TOO_LARGE",
            ),
            None => return Ok(()),
        },
        Provocation::InvalidField(which) => match &reports {
            Some(path) => {
                let body = match *which {
                    "empty-boundary" => json!({"boundary": "", "message": "m"}),
                    "long-boundary" => json!({"boundary": "b".repeat(129), "message": "m"}),
                    "blank-message" => json!({"boundary": "b", "message": "   "}),
                    "unknown-field" => json!({"boundary": "b", "message": "m", "extra": 1}),
                    _ => json!({"boundary": 5, "message": "m"}),
                };
                (
                    RequestSpec::post_json(path.clone(), &body),
                    "VALIDATION_FAILED",
                )
            }
            None => return Ok(()),
        },
        Provocation::Hook(number, message, suggestion) => {
            let Some(base) = &hooks else { return Ok(()) };
            let Some(code) = error_codes()
                .ok()
                .and_then(|c| c.iter().find(|c| c.number == *number))
            else {
                return Ok(());
            };
            let mut body = json!({"number": number, "message": message});
            if let Some(s) = suggestion {
                body["suggestion"] = json!(s);
            }
            (
                RequestSpec::post_json(format!("{base}/error"), &body),
                code.wire.as_str(),
            )
        }
    };
    let ex = target.http().send(request).await?;
    let envelope = expect_code(&ex, wire)?;
    if matches!(p, Provocation::WrongMethod(_)) && ex.header("allow").is_none_or(str::is_empty) {
        return Err(CaseFailure::at(
            &ex,
            "a 405 response names the allowed methods in Allow",
            "no Allow header",
        ));
    }
    if let Provocation::Hook(_, _, Some(s)) = &p
        && envelope.code.http_status < 500
        && envelope.suggestion.as_deref() != Some(s.as_str())
    {
        return Err(CaseFailure::at(
            &ex,
            format!("error.suggestion `{s}` as given (a client error's suggestion is public)"),
            format!("error.suggestion {:?}", envelope.suggestion),
        ));
    }
    Ok(())
}
