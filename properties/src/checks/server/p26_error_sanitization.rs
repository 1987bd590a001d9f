//! Feature: production-readiness, Property 26: Error Response Sanitization
//!
//! Black-box form: makes the target fail internally with causes that carry planted markers,
//! file paths, source locations, SQL and connection strings (a panicking route, a route that
//! panics holding a lock, errors of every 5xx code with an internal source, client errors
//! with an internal source). No response may reveal any of it, and every 5xx message must be
//! the code's default message.

use proptest::prelude::*;
use serde_json::json;

use crate::cases::{CaseConfig, CaseFailure, for_all};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::support::{fault_hooks, marker, unique_scope};
use crate::envelope::{check_envelope, check_no_leak};
use crate::http::RequestSpec;
use crate::spec::error_codes;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 26,
    run: run_check,
};

/// The kinds of internal detail planted in a cause.
#[derive(Debug, Clone, Copy)]
enum Planted {
    Path,
    SourceLocation,
    Sql,
    ConnectionString,
    Environment,
    Plain,
}

/// One internal failure.
#[derive(Debug, Clone)]
enum Failure {
    /// The panicking route, with this kind of detail in the panic message.
    Panic(Planted),
    /// The route that panics holding a lock.
    Poison,
    /// An error of this code with an internal source carrying the detail.
    Error(u16, Planted),
}

fn planted() -> impl Strategy<Value = Planted> {
    prop::sample::select(vec![
        Planted::Path,
        Planted::SourceLocation,
        Planted::Sql,
        Planted::ConnectionString,
        Planted::Environment,
        Planted::Plain,
    ])
}

fn internal_text(kind: Planted, mark: &str) -> String {
    match kind {
        Planted::Path => format!("cannot open /var/lib/dx/{mark}/keys.pem"),
        Planted::SourceLocation => format!("{mark} at src/handlers/{mark}.rs:42:13"),
        Planted::Sql => format!("SELECT password_hash FROM users WHERE email = '{mark}'"),
        Planted::ConnectionString => format!("postgres://admin:{mark}@10.1.2.3:5432/prod"),
        Planted::Environment => format!("DX_SECRET_KEY={mark}"),
        Planted::Plain => mark.to_owned(),
    }
}

fn failure(codes: Vec<u16>) -> impl Strategy<Value = Failure> {
    prop_oneof![
        planted().prop_map(Failure::Panic),
        Just(Failure::Poison),
        (prop::sample::select(codes), planted()).prop_map(|(c, p)| Failure::Error(c, p)),
    ]
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let base = match fault_hooks(target) {
            Ok(b) => b,
            Err(outcome) => return outcome,
        };
        let codes: Vec<u16> = match error_codes() {
            Ok(c) => c.iter().map(|c| c.number).collect(),
            Err(e) => {
                return CheckOutcome::SetupFailed(CaseFailure::plain(
                    "a valid spec",
                    e.to_string(),
                ));
            }
        };
        CheckOutcome::Ran(
            for_all(failure(codes), config, |f| {
                run_case(target, base.clone(), f)
            })
            .await,
        )
    })
}

async fn run_case(target: &Target, base: String, failure: Failure) -> Result<(), CaseFailure> {
    let mark = marker();
    let (request, internal) = match failure {
        Failure::Panic(kind) => {
            let text = internal_text(kind, &mark);
            (
                RequestSpec::post_json(format!("{base}/panic"), &json!({"message": text})),
                text,
            )
        }
        Failure::Poison => (
            RequestSpec::post_json(
                format!("{base}/poison"),
                &json!({"scope": unique_scope(&format!("p26{mark}")), "add": 1}),
            ),
            mark.clone(),
        ),
        Failure::Error(number, kind) => {
            let text = internal_text(kind, &mark);
            (
                RequestSpec::post_json(
                    format!("{base}/error"),
                    &json!({"number": number, "message": "public message", "source": text}),
                ),
                text,
            )
        }
    };
    let ex = target.http().send(request).await?;
    let envelope = check_envelope(&ex)?;
    check_no_leak(&ex, &[mark, internal])?;
    if envelope.code.http_status >= 500 && envelope.message != envelope.code.message {
        return Err(CaseFailure::at(
            &ex,
            format!(
                "a {} error's message is the code's default, `{}`",
                envelope.code.http_status, envelope.code.message
            ),
            format!("error.message `{}`", envelope.message),
        ));
    }
    Ok(())
}
