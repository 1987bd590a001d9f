//! Feature: production-readiness, Property 5: Token Revocation Effectiveness
//!
//! Black-box form. A login's access token is revoked and must then be refused by `me` with
//! `TOKEN_REVOKED` (before its `exp`; after it, `TOKEN_EXPIRED` is also allowed); its refresh
//! token is revoked and must be refused at the refresh endpoint. Revoking garbage (empty,
//! malformed, forged, another version) answers the same 200 `{}` and changes nothing: a live
//! token still works afterwards. proptest generates minted tokens of either type with any
//! expiry, already expired or not, revokes each and checks that its use (`me` for an access
//! token, the refresh endpoint for a refresh token) then fails as revoked.

use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use serde_json::{Value, json};

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::auth::{AuthApi, area, response_date};
use crate::checks::support::unique_scope;
use crate::clause::{auth as ac, tokens as tc};
use crate::http::Exchange;
use crate::target::Target;
use crate::token::{Token, sign};

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 5,
    run: run_check,
};

/// What the conformance profile's mint hook adds to a run with test accounts.
const HOOKS_WOULD_ADD: &str = "only a login's own tokens were revoked: the conformance profile's mint hook would add tokens of every lifetime and type (expired ones, long-lived refresh tokens), each revoked and refused";

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = AuthApi::new(target, &area);
        let login = for_each(&["a login's tokens, revoked"], |_| revoke_login(api)).await;
        if login.is_failed() {
            return CheckOutcome::Ran(login);
        }
        if area.mint.is_none() {
            return CheckOutcome::RanInPart {
                outcome: Box::new(login),
                unverified: HOOKS_WOULD_ADD.into(),
            };
        }
        let sub = unique_scope("p05");
        // Each case revokes a token of its own: several run at once.
        let generated = for_all_concurrently(
            (-100_000i64..100_000, any::<bool>()),
            config,
            CASES_AT_ONCE,
            |(offset, refresh)| {
                let sub = sub.clone();
                async move { revoke_minted(api, &sub, offset, refresh).await }
            },
        )
        .await;
        CheckOutcome::Ran(login.followed_by(generated))
    })
}

/// 200 `{}`.
fn expect_revoke_answer(ex: &Exchange, what: &str) -> Result<(), CaseFailure> {
    if ex.status != 200 || ex.json() != Some(json!({})) {
        return Err(CaseFailure::violates(
            ex,
            &ac::REVOKE_ANSWER,
            format!("revoking {what}"),
        ));
    }
    Ok(())
}

/// Refused as revoked, or as expired once the server's clock reached `token`'s `exp`.
fn expect_revoked(
    api: AuthApi<'_>,
    ex: &Exchange,
    token: &Token,
    what: &str,
) -> Result<(), CaseFailure> {
    let expired = response_date(ex).is_some_and(|d| d >= token.claims.exp);
    let wire = ex.json().and_then(|b| {
        b.pointer("/error/code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    if expired && wire.as_deref() == Some("TOKEN_EXPIRED") {
        return api.expect(ex, "TOKEN_EXPIRED", &tc::EXPIRY);
    }
    api.expect(ex, "TOKEN_REVOKED", &ac::REVOKED)
        .map_err(|f| f.about(what))
}

async fn revoke_login(api: AuthApi<'_>) -> Result<(), CaseFailure> {
    let (_, pair) = api.session("p05").await?;
    let stranger = sign(
        &SigningKey::from_bytes(&[0x5b; 32]),
        &pair.access.payload,
        &pair.access.footer,
    );
    let v2 = pair.access.text.replacen("v4.public.", "v2.public.", 1);
    let mut garbage = vec![
        "",
        "garbage",
        "v4.public.AAAA",
        v2.as_str(),
        stranger.as_str(),
    ];
    // Within a small auth budget the case must fit one window: the two tokens closest to
    // real ones stand for the rest.
    if super::small_budget(api.observer.target, api.area) {
        garbage.drain(..3);
    }
    for garbage in garbage {
        expect_revoke_answer(
            &api.revoke(garbage).await?,
            "a token the target did not sign",
        )?;
    }
    let still = api.me(&pair.access.text).await?;
    if still.status != 200 && response_date(&still).is_some_and(|d| d < pair.access.claims.exp) {
        return Err(CaseFailure::violates(
            &still,
            &ac::REVOKE_ANSWER,
            "a live token stopped working after revoking garbage",
        ));
    }
    expect_revoke_answer(&api.revoke(&pair.access.text).await?, "a live access token")?;
    let ex = api.me(&pair.access.text).await?;
    expect_revoked(api, &ex, &pair.access, "the revoked access token at `me`")?;
    expect_revoke_answer(
        &api.revoke(&pair.refresh.text).await?,
        "a live refresh token",
    )?;
    let ex = api.refresh(&pair.refresh.text).await?;
    expect_revoked(
        api,
        &ex,
        &pair.refresh,
        "the revoked refresh token at the refresh endpoint",
    )?;
    // Revoking twice changes nothing.
    expect_revoke_answer(
        &api.revoke(&pair.access.text).await?,
        "a revoked token again",
    )
}

async fn revoke_minted(
    api: AuthApi<'_>,
    sub: &str,
    offset: i64,
    refresh: bool,
) -> Result<(), CaseFailure> {
    let typ = if refresh { "refresh" } else { "access" };
    let token = api.mint(sub, typ, offset).await?;
    let what = format!("a {typ} token minted with exp = iat {offset:+}");
    expect_revoke_answer(&api.revoke(&token.text).await?, &what)?;
    let ex = if refresh {
        api.refresh(&token.text).await?
    } else {
        api.me(&token.text).await?
    };
    expect_revoked(api, &ex, &token, &format!("revoked: {what}"))
}
