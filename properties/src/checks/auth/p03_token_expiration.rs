//! Feature: production-readiness, Property 3: Token Expiration Enforcement
//!
//! Black-box form. The conformance mint hook issues access tokens whose `exp` is a chosen
//! offset from the server's own clock (`iat`). A token with `exp <= iat` was expired when it
//! was made, so every later verification must answer `TOKEN_EXPIRED`: that is exact at the
//! boundary (offset 0 is refused in the very second it was minted). A token with offset 1 is
//! valid during the second it was minted; when the response's `Date` (the server's clock, at
//! or after the verification) is still before `exp`, it must be accepted; when the second has
//! turned, either answer is allowed and the case is retried. Offsets far in the future are
//! accepted. proptest generates offsets from -10^9 to 10^9. Then one real expiry is watched:
//! a login's access token, polled until its `exp` has passed on the server's clock, must be
//! accepted at every `Date` before `exp` and refused after the first response dated at or
//! after `exp`. (With `access_ttl_seconds` over 10 the real expiry is not watched.)

use std::time::Duration;

use crate::cases::{
    CASES_AT_ONCE, CaseConfig, CaseFailure, CaseOutcome, for_all_concurrently, for_each,
};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::auth::{AuthApi, area, response_date};
use crate::checks::support::unique_scope;
use crate::clause::{auth as ac, tokens as tc};
use crate::http::Exchange;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 3,
    run: run_check,
};

/// Longest access lifetime the check waits out.
const MAX_WATCHED_TTL: i64 = 10;
/// Tries of the offset-1 case before concluding the second always turns in between.
const BOUNDARY_TRIES: usize = 5;

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        if area.mint.is_none() {
            return CheckOutcome::NotVerified(if target.discovery().is_conformance() {
                "target is in the conformance profile but publishes no auth.test_hooks.mint".into()
            } else {
                format!(
                    "needs the conformance profile's mint hook (tokens of chosen lifetimes, expiring at an exact second); a login's access token lives {} s, longer than the suite watches one ({MAX_WATCHED_TTL} s)",
                    area.access_ttl
                )
            });
        }
        let api = AuthApi::new(target, &area);
        let sub = unique_scope("p03");
        let offsets: [i64; 7] = [-1_000_000_000, -86_400, -1, 0, 1, 2, 86_400];
        // The real expiry takes the access lifetime to watch: it runs alongside the rest.
        let real = async {
            if area.access_ttl <= MAX_WATCHED_TTL {
                for_each(
                    &["a login's access token, watched until it expires"],
                    |_| watch_expiry(api),
                )
                .await
            } else {
                CaseOutcome::Passed { cases: 0 }
            }
        };
        let minted_cases = async {
            let boundary = for_each(&offsets, |offset| minted(api, &sub, *offset)).await;
            if boundary.is_failed() {
                return boundary;
            }
            // Built on purpose in every run, not left to the timing of a slow run: a token
            // both expired and invalid is invalid (spec/tokens.md, "Verification").
            let ordered = for_each(&EXPIRED_AND_INVALID, |kind| {
                expired_and_invalid(api, &sub, *kind)
            })
            .await;
            if ordered.is_failed() {
                return boundary.followed_by(ordered);
            }
            let boundary = boundary.followed_by(ordered);
            // Each case judges a token of its own: several run at once.
            let generated = for_all_concurrently(
                -1_000_000_000i64..=1_000_000_000,
                config,
                CASES_AT_ONCE,
                |offset| {
                    let sub = sub.clone();
                    async move { minted(api, &sub, offset).await }
                },
            )
            .await;
            boundary.followed_by(generated)
        };
        let (minted_outcome, real) = tokio::join!(minted_cases, real);
        CheckOutcome::Ran(minted_outcome.followed_by(real))
    })
}

/// A token that is expired and also fails a check that comes before expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExpiredAnd {
    /// Its signature changed in one byte.
    SignatureChanged,
    /// Signed by a key the target never published.
    StrangerKey,
    /// A refresh token, presented where an access token is due.
    RefreshType,
}

const EXPIRED_AND_INVALID: [ExpiredAnd; 3] = [
    ExpiredAnd::SignatureChanged,
    ExpiredAnd::StrangerKey,
    ExpiredAnd::RefreshType,
];

async fn expired_and_invalid(
    api: AuthApi<'_>,
    sub: &str,
    kind: ExpiredAnd,
) -> Result<(), CaseFailure> {
    let typ = if kind == ExpiredAnd::RefreshType {
        "refresh"
    } else {
        "access"
    };
    let token = api.mint(sub, typ, -3_600).await?;
    let text = match kind {
        ExpiredAnd::SignatureChanged => {
            let mut signature = token.signature;
            signature[0] ^= 0x01;
            crate::token::encode(&token.payload, &signature, &token.footer)
        }
        ExpiredAnd::StrangerKey => crate::token::sign(
            &ed25519_dalek::SigningKey::from_bytes(&[0x3c; 32]),
            &token.payload,
            &token.footer,
        ),
        ExpiredAnd::RefreshType => token.text.clone(),
    };
    let ex = api.me(&text).await?;
    api.expect(&ex, "TOKEN_INVALID", &tc::ORDER)
        .map_err(|f| f.about(&format!("an expired token, also {kind:?}")))
}

/// Whether `ex` answered before `exp` on the server's clock, as far as its `Date` shows.
fn dated_before(ex: &Exchange, exp: i64) -> bool {
    response_date(ex).is_some_and(|d| d < exp)
}

async fn minted(api: AuthApi<'_>, sub: &str, offset: i64) -> Result<(), CaseFailure> {
    for _ in 0..BOUNDARY_TRIES {
        let token = api.mint(sub, "access", offset).await?;
        let ex = api.me(&token.text).await?;
        let what = format!("a token minted with exp = iat {offset:+}");
        if offset <= 0 {
            return api
                .expect(&ex, "TOKEN_EXPIRED", &tc::EXPIRY)
                .map_err(|f| f.about(&what));
        }
        if ex.status == 200 {
            return Ok(());
        }
        if dated_before(&ex, token.claims.exp) || offset > 1 {
            return Err(CaseFailure::violates(
                &ex,
                &tc::EXPIRY,
                format!("{what} was refused before its exp {}", token.claims.exp),
            ));
        }
        // Offset 1 and the second turned between minting and verifying: either answer is
        // right, so mint again.
        api.expect(&ex, "TOKEN_EXPIRED", &tc::EXPIRY)?;
    }
    Err(CaseFailure::plain(
        tc::EXPIRY.cite(),
        format!(
            "a token valid for one second was refused {BOUNDARY_TRIES} times, each answer dated at or after its exp"
        ),
    ))
}

async fn watch_expiry(api: AuthApi<'_>) -> Result<(), CaseFailure> {
    let (_, pair) = api.session("p03").await?;
    let exp = pair.access.claims.exp;
    let mut expired_on_server = false;
    let deadline =
        std::time::Instant::now() + Duration::from_secs((api.area.access_ttl + 5) as u64);
    loop {
        let ex = api.me(&pair.access.text).await?;
        if expired_on_server {
            // A response dated at or after exp came before this request was sent.
            return api
                .expect(&ex, "TOKEN_EXPIRED", &tc::EXPIRY)
                .map_err(|f| f.about("after the server's clock passed exp"));
        }
        if dated_before(&ex, exp) && ex.status != 200 {
            return Err(CaseFailure::violates(
                &ex,
                &tc::EXPIRY,
                format!("refused before its exp {exp}"),
            ));
        }
        if response_date(&ex).is_some_and(|d| d >= exp) {
            expired_on_server = true;
        }
        if std::time::Instant::now() > deadline {
            return Err(CaseFailure::violates(
                &ex,
                &ac::LOGIN_ISSUES,
                "the server's Date never reached the token's exp",
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
