//! Feature: production-readiness, Property 26: Error Response Sanitization
//!
//! Black-box form. Every code of spec/error-codes.toml is raised through the `error` hook
//! with an internal source carrying each kind of internal detail (a marker, a path, a source
//! location, SQL, a connection string, credentials, an environment assignment, a trace); the
//! panicking route fails with each kind in its panic text, and the poisoning route with a
//! marker in its scope. Then every ordinary route is read again, with every marker planted so
//! far. No response may reveal any of it, every 5xx message must be the code's default, and
//! every response the check receives, not only the provoked ones, is scanned. proptest then
//! generates the unbounded part: the surrounding text and the codes.
//!
//! Without the fault hooks (any other profile) it sends what any client can send (the probes
//! of `checks::undescribed`), and unless one of them made the target fail (a 5xx) the pass
//! is a pass in part that says the premise, an unhandled failure, was never reached.

use proptest::prelude::*;
use serde_json::json;

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::support::{Observer, fault_hooks, marker, unique_scope};
use crate::clause::http_contract as hc;
use crate::envelope::expect_code;
use crate::http::RequestSpec;
use crate::rules::Rule;
use crate::spec::{error_code_by_number, error_codes};
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 26,
    run: run_check,
};

/// The kinds of internal detail planted in a cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Planted {
    Plain,
    Path,
    SourceLocation,
    Sql,
    ConnectionString,
    Credentials,
    Environment,
    Trace,
}

const ALL_PLANTED: [Planted; 8] = [
    Planted::Plain,
    Planted::Path,
    Planted::SourceLocation,
    Planted::Sql,
    Planted::ConnectionString,
    Planted::Credentials,
    Planted::Environment,
    Planted::Trace,
];

fn internal_text(kind: Planted, mark: &str) -> String {
    match kind {
        Planted::Plain => mark.to_owned(),
        Planted::Path => format!("cannot open /var/lib/dx/{mark}/keys.pem"),
        Planted::SourceLocation => format!("{mark} at src/handlers/{mark}.rs:42:13"),
        Planted::Sql => format!("SELECT password_hash FROM users WHERE email = '{mark}'"),
        Planted::ConnectionString => format!("postgres://10.1.2.3:5432/{mark}"),
        Planted::Credentials => format!("redis://admin:{mark}@cache.internal:6379/0"),
        Planted::Environment => format!("DX_SECRET_KEY={mark}"),
        Planted::Trace => format!("thread 'worker' panicked at src/{mark}.rs:7:1"),
    }
}

/// One internal failure of the enumerated space.
#[derive(Debug, Clone)]
enum Failure {
    /// The panicking route, with this kind of detail in its panic text.
    Panic(Planted),
    /// The route that fails holding a lock, with a marker in the scope.
    Poison,
    /// An error of this code with an internal source carrying this kind of detail.
    Error(u16, Planted),
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let base = match fault_hooks(target) {
            Ok(b) => b,
            Err(_) if target.discovery().profile == "development" => {
                return CheckOutcome::NotVerified(
                    "the development profile adds each error's internal detail (details.debug) by design; Property 26 holds for production and conformance (spec/profiles.md)".into(),
                );
            }
            // Without the hooks, the failures any client can provoke: a pass in part unless
            // one of them was an unhandled failure (spec/profiles.md, "Checks that need the
            // conformance profile").
            Err(_) => {
                return crate::checks::undescribed::probe_sanitization(
                    target.http(),
                    target.probes(),
                    crate::envelope::Rules::of(target.discovery()),
                    config,
                )
                .await;
            }
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
        let observer = Observer::new(target).owning(&[Rule::Sanitization]);
        let mut space: Vec<Failure> = ALL_PLANTED.iter().map(|p| Failure::Panic(*p)).collect();
        space.push(Failure::Poison);
        for code in &codes {
            space.extend(ALL_PLANTED.iter().map(|p| Failure::Error(*code, *p)));
        }
        let planted = std::sync::Mutex::new(Vec::new());
        let outcome = for_each(&space, |failure| {
            provoke(observer, &base, failure.clone(), &planted)
        })
        .await;
        if outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        let markers = planted.lock().map(|m| m.clone()).unwrap_or_default();
        let ordinary = ordinary_requests(target);
        let after = for_each(&ordinary, |request| {
            let markers = markers.clone();
            async move { observer.send(request.clone(), &markers).await.map(drop) }
        })
        .await;
        if after.is_failed() {
            return CheckOutcome::Ran(outcome.followed_by(after));
        }
        // Each case is its own request to the hook: several run at once.
        let generated = for_all_concurrently(
            (
                prop::sample::select(codes),
                "(?s).{0,200}",
                "(?s).{0,200}",
                any::<bool>(),
            ),
            config,
            CASES_AT_ONCE,
            |(code, before, after, panic)| {
                generated_case(observer, base.clone(), code, before, after, panic)
            },
        )
        .await;
        CheckOutcome::Ran(outcome.followed_by(after).followed_by(generated))
    })
}

/// The requests of every ordinary route: none may carry a marker planted earlier.
fn ordinary_requests(target: &Target) -> Vec<RequestSpec> {
    let d = target.discovery();
    let mut requests = vec![
        RequestSpec::get(d.endpoints.health.clone()),
        RequestSpec::get(d.endpoints.ready.clone()),
        RequestSpec::get(crate::discovery::DISCOVERY_PATH),
        RequestSpec::get("/dx-conformance/no-such-page"),
    ];
    if let Some(path) = &d.endpoints.client_errors {
        requests.push(RequestSpec::post_json(
            path.clone(),
            &json!({"boundary": "p26", "message": "after the failures"}),
        ));
        requests.push(RequestSpec::post_json(
            path.clone(),
            &json!({"boundary": ""}),
        ));
    }
    requests
}

async fn provoke(
    observer: Observer<'_>,
    base: &str,
    failure: Failure,
    planted: &std::sync::Mutex<Vec<String>>,
) -> Result<(), CaseFailure> {
    let mark = marker();
    if let Ok(mut all) = planted.lock() {
        all.push(mark.clone());
    }
    let (request, internal, number) = match failure {
        Failure::Panic(kind) => {
            let text = internal_text(kind, &mark);
            (
                RequestSpec::post_json(format!("{base}/panic"), &json!({"message": text})),
                text,
                5000,
            )
        }
        Failure::Poison => (
            RequestSpec::post_json(
                format!("{base}/poison"),
                &json!({"scope": unique_scope(&format!("p26{mark}")), "add": 1}),
            ),
            mark.clone(),
            5000,
        ),
        Failure::Error(number, kind) => {
            let text = internal_text(kind, &mark);
            (
                RequestSpec::post_json(
                    format!("{base}/error"),
                    &json!({"number": number, "message": "Public p26 message", "source": text}),
                ),
                text,
                number,
            )
        }
    };
    let ex = observer.send(request, &[mark, internal]).await?;
    let wire = error_code_by_number(number).map_or("INTERNAL_ERROR", |c| c.wire.as_str());
    let clause = if number == 5000 {
        &hc::UNHANDLED
    } else {
        &hc::HOOK_ERROR
    };
    expect_code(&ex, wire, clause).map(drop)
}

async fn generated_case(
    observer: Observer<'_>,
    base: String,
    code: u16,
    before: String,
    after: String,
    panic: bool,
) -> Result<(), CaseFailure> {
    let mark = marker();
    let internal = format!("{before}{mark}{after}");
    let (request, wire) = if panic {
        (
            RequestSpec::post_json(format!("{base}/panic"), &json!({"message": internal})),
            "INTERNAL_ERROR".to_owned(),
        )
    } else {
        let wire = error_code_by_number(code)
            .map_or_else(|| "INTERNAL_ERROR".to_owned(), |c| c.wire.clone());
        (
            RequestSpec::post_json(
                format!("{base}/error"),
                &json!({"number": code, "message": "Public p26 message", "source": internal}),
            ),
            wire,
        )
    };
    let ex = observer.send(request, &[mark]).await?;
    expect_code(&ex, &wire, &hc::HOOK_ERROR).map(drop)
}
