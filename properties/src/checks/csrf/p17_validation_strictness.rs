//! Feature: production-readiness, Property 17: CSRF Validation Strictness
//!
//! Black-box form. First what the check must leave alone: every safe method (GET, HEAD,
//! OPTIONS, TRACE) with a session cookie and no token, and every unsafe method to each path
//! the target publishes as exempt; none may be refused as CSRF. Then every unsafe method
//! (POST, PUT, PATCH, DELETE) is enumerated against every
//! way a token can be wrong: absent, issued to another session, altered, replayed after its
//! session ended, expired (one real TTL, waited out side by side), under a session the server
//! never issued, and sent cross-site (`Sec-Fetch-Site`). Each must be 403 `CSRF_INVALID` with
//! the matching `details.reason`. proptest then generates hostile tokens (any visible ASCII
//! of any length, and real tokens with one character changed): all refused. Every unsafe
//! request goes to the token endpoint, which changes nothing, so the check runs on any
//! profile; a token is watched expiring only when it lives at most
//! [`LONGEST_WATCHED_TTL_SECONDS`] (the verdict says so otherwise).

use std::time::Duration;

use http::Method;
use proptest::prelude::*;

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::csrf::{CsrfApi, Place, UNSAFE, area};
use crate::clause::security as sc;
use crate::http::RequestSpec;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 17,
    run: run_check,
};

#[derive(Debug, Clone, Copy)]
enum Wrong {
    Missing,
    OtherSession,
    Altered,
    SessionEnded,
    Expired,
    UnknownSession,
    CrossSite,
}

const WRONGS: [Wrong; 7] = [
    Wrong::Missing,
    Wrong::OtherSession,
    Wrong::Altered,
    Wrong::SessionEnded,
    Wrong::Expired,
    Wrong::UnknownSession,
    Wrong::CrossSite,
];

/// One character of `token` replaced by another of the same alphabet position's class.
fn altered(token: &str, at: usize, with: char) -> String {
    token
        .chars()
        .enumerate()
        .map(|(i, c)| if i == at { with } else { c })
        .collect()
}

async fn case(api: CsrfApi<'_>, wrong: Wrong, method: Method) -> Result<(), CaseFailure> {
    let path = api.area.token_endpoint.clone();
    let what = format!("{method} with a token {wrong:?}");
    let s = api.session().await?;
    match wrong {
        Wrong::Missing => {
            api.refused(
                api.request(method, &path, Some(&s.cookie), "", Place::Nowhere),
                &["missing"],
                &what,
            )
            .await
        }
        Wrong::OtherSession => {
            let other = api.session().await?;
            api.refused(
                api.request(method, &path, Some(&s.cookie), &other.token, Place::Header),
                &["session-mismatch", "invalid"],
                &what,
            )
            .await
        }
        Wrong::Altered => {
            let last = s.token.chars().last().unwrap_or('A');
            let with = if last == 'A' { 'B' } else { 'A' };
            let token = altered(&s.token, s.token.chars().count().saturating_sub(1), with);
            api.refused(
                api.request(method, &path, Some(&s.cookie), &token, Place::Header),
                &["invalid", "malformed"],
                &what,
            )
            .await
        }
        Wrong::SessionEnded => {
            let end = api
                .observer
                .send(
                    api.request(
                        Method::POST,
                        &api.area.session_end,
                        Some(&s.cookie),
                        &s.token,
                        Place::Header,
                    ),
                    &[],
                )
                .await?;
            if end.status != 204 {
                return Err(CaseFailure::violates(
                    &end,
                    &sc::SESSION_END,
                    "ending a session with its valid token",
                ));
            }
            api.refused(
                api.request(method, &path, Some(&s.cookie), &s.token, Place::Header),
                &["no-session"],
                &what,
            )
            .await
            .map_err(|f| CaseFailure {
                expected: format!("{} ({})", f.expected, sc::ENDED.cite()),
                ..f
            })
        }
        Wrong::Expired => {
            tokio::time::sleep(Duration::from_millis(api.area.ttl_seconds * 1000 + 300)).await;
            api.refused(
                api.request(method, &path, Some(&s.cookie), &s.token, Place::Header),
                &["expired"],
                &what,
            )
            .await
        }
        Wrong::UnknownSession => {
            let cookie = format!("{}=dxconformanceNoSuchSession0", api.area.session_cookie);
            api.refused(
                api.request(method, &path, Some(&cookie), &s.token, Place::Header),
                &["no-session"],
                &what,
            )
            .await
        }
        Wrong::CrossSite => {
            let request = RequestSpec::new(method, &path).header("sec-fetch-site", "cross-site");
            let ex = api.observer.send(request, &[]).await?;
            crate::envelope::expect_code(&ex, "CSRF_INVALID", &sc::CROSS_SITE)
                .map(|_| ())
                .map_err(|f| f.about(&what))
        }
    }
}

/// A request the check must let through: a safe method with a session and no token, or an
/// unsafe one to an exempt path.
#[derive(Debug, Clone)]
enum Unchecked {
    Safe(Method),
    Exempt(Method, String),
}

async fn unchecked_case(api: CsrfApi<'_>, request: Unchecked) -> Result<(), CaseFailure> {
    let s = api.session().await?;
    let (method, path) = match &request {
        Unchecked::Safe(m) => (m.clone(), api.area.token_endpoint.clone()),
        Unchecked::Exempt(m, p) => (m.clone(), p.clone()),
    };
    let ex = api
        .observer
        .send(
            api.request(method.clone(), &path, Some(&s.cookie), "", Place::Nowhere),
            &[],
        )
        .await?;
    let code = ex.json().and_then(|b| {
        b.pointer("/error/code")
            .and_then(|c| c.as_str())
            .map(str::to_owned)
    });
    if ex.status == 403 && code.as_deref() == Some("CSRF_INVALID") {
        return Err(CaseFailure::violates(
            &ex,
            &sc::UNCHECKED,
            format!("{method} {path} with a session and no token was refused as CSRF"),
        ));
    }
    Ok(())
}

/// A hostile token: any visible ASCII, or a real token with one character changed.
#[derive(Debug, Clone)]
enum Hostile {
    Text(String),
    OneChanged(usize, char),
}

fn hostile() -> impl Strategy<Value = (Hostile, usize)> {
    let alphabet: Vec<char> = ('A'..='Z')
        .chain('a'..='z')
        .chain('0'..='9')
        .chain(['-', '_', '+', '/', '=', '.', '~'])
        .collect();
    (
        prop_oneof![
            "[!-~]{0,200}".prop_map(Hostile::Text),
            (0usize..512, proptest::sample::select(alphabet))
                .prop_map(|(i, c)| Hostile::OneChanged(i, c)),
        ],
        0usize..4,
    )
}

async fn hostile_case(api: CsrfApi<'_>, token: Hostile, method: usize) -> Result<(), CaseFailure> {
    let method = UNSAFE[method].clone();
    let s = api.session().await?;
    let token = match token {
        Hostile::Text(t) => t,
        Hostile::OneChanged(i, c) => {
            let at = i % s.token.chars().count().max(1);
            let t = altered(&s.token, at, c);
            if t == s.token {
                return Ok(());
            }
            t
        }
    };
    let reasons: &[&str] = if token.trim().is_empty() {
        &["missing", "malformed"]
    } else {
        &["malformed", "invalid"]
    };
    api.refused(
        api.request(
            method.clone(),
            &api.area.token_endpoint,
            Some(&s.cookie),
            &token,
            Place::Header,
        ),
        reasons,
        &format!("{method} with the hostile token {token:?}"),
    )
    .await
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = CsrfApi::new(target, &area);
        let mut unchecked: Vec<Unchecked> =
            [Method::GET, Method::HEAD, Method::OPTIONS, Method::TRACE]
                .into_iter()
                .map(Unchecked::Safe)
                .collect();
        for path in &area.exempt_paths {
            unchecked.extend(
                UNSAFE
                    .iter()
                    .map(|m| Unchecked::Exempt(m.clone(), path.clone())),
            );
        }
        let left_alone = for_each(&unchecked, |u| unchecked_case(api, u.clone())).await;
        if left_alone.is_failed() {
            return CheckOutcome::Ran(left_alone);
        }
        // A token that lives longer than the suite may wait is not watched expiring: the
        // rest of the check still runs, and the verdict says what it left out.
        let watch_expiry = api.area.ttl_seconds <= LONGEST_WATCHED_TTL_SECONDS;
        let cases: Vec<(Wrong, Method)> = WRONGS
            .iter()
            .filter(|w| watch_expiry || !matches!(w, Wrong::Expired))
            .flat_map(|w| UNSAFE.iter().map(move |m| (*w, m.clone())))
            .collect();
        let enumerated = for_each(&cases, |(w, m)| case(api, *w, m.clone())).await;
        if enumerated.is_failed() {
            return CheckOutcome::Ran(enumerated);
        }
        // Each case has a session of its own: several run at once.
        let generated =
            for_all_concurrently(hostile(), config, CASES_AT_ONCE, |(token, method)| {
                hostile_case(api, token, method)
            })
            .await;
        let outcome = left_alone.followed_by(enumerated).followed_by(generated);
        if watch_expiry || outcome.is_failed() {
            return CheckOutcome::Ran(outcome);
        }
        CheckOutcome::RanInPart {
            outcome: Box::new(outcome),
            unverified: unwatched_expiry(api.area.ttl_seconds),
        }
    })
}

/// The longest token lifetime (`csrf.ttl_seconds`) the check waits out to see a token
/// expire: a minute, half the default time a check may take (`--timeout`).
pub const LONGEST_WATCHED_TTL_SECONDS: u64 = 60;

/// What the check leaves out against a target whose tokens live longer than it waits.
fn unwatched_expiry(ttl_seconds: u64) -> String {
    format!(
        "an expired token's refusal was not watched: the target's CSRF tokens live {ttl_seconds} s (csrf.ttl_seconds), longer than the {LONGEST_WATCHED_TTL_SECONDS} s the suite waits for one to expire (the conformance profile's are short)"
    )
}
