//! Feature: production-readiness, Property 4: Token Refresh Validity
//!
//! Black-box form. A login's refresh token is exchanged after the server's clock has moved
//! past the login's second: the new access token must verify, speak for the same user, be
//! issued between the `Date` of a response received before the refresh and the `Date` of the
//! refresh's answer, and expire `auth.access_ttl_seconds` after that (not after the login);
//! `me` accepts it. The chain continues; then a spent refresh token is presented again, which
//! must be refused with `TOKEN_REVOKED` and end the family: the newest refresh token is
//! refused too. An access token is refused at the refresh endpoint. proptest generates more
//! chains: their length and which spent token is replayed.

use std::time::Duration;

use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure, for_all, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::auth::{AuthApi, DATE_LAG_SECONDS, Pair, area, response_date};
use crate::clause::{auth as ac, tokens as tc};
use crate::http::RequestSpec;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 4,
    run: run_check,
};

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        let api = AuthApi::new(target, &area);
        // A chain of n refreshes sends 2n + 4 requests to the auth endpoints. Against a
        // budget too small for two chains at once (a production deployment's), the chains
        // run one after another and the first is short, so that one fits in a window.
        let small_budget = super::small_budget(target, &area);
        // The first chain waits for the server's clock to pass the login's second; the
        // generated chains run meanwhile. Each costs a login (one Argon2id hash).
        let waited = [(if small_budget { 2usize } else { 3 }, 0usize, true)];
        let first = for_each(&waited, |(len, replay, wait)| {
            chain(api, *len, *replay, *wait)
        });
        let generated = CaseConfig {
            cases: (config.cases / 10).max(4),
            ..config
        };
        let chains = for_all(
            (1usize..5).prop_flat_map(|len| (Just(len), 0..len)),
            generated,
            |(len, replay)| chain(api, len, replay, false),
        );
        if small_budget {
            let first = first.await;
            if first.is_failed() {
                return CheckOutcome::Ran(first);
            }
            return CheckOutcome::Ran(first.followed_by(chains.await));
        }
        let (first, chains) = tokio::join!(first, chains);
        CheckOutcome::Ran(first.followed_by(chains))
    })
}

/// The server's clock, from the `Date` of a cheap request.
async fn server_now(api: AuthApi<'_>) -> Result<i64, CaseFailure> {
    let health = api.observer.target.discovery().endpoints.health.clone();
    let ex = api.observer.send(RequestSpec::get(health), &[]).await?;
    response_date(&ex)
        .ok_or_else(|| CaseFailure::at(&ex, "a Date header (RFC 9110 §6.6.1)", "no usable Date"))
}

/// Logs in, refreshes `len` times (after waiting for the clock to pass the login's second
/// when `wait`), checks each new pair, then replays the spent token number `replay`.
async fn chain(api: AuthApi<'_>, len: usize, replay: usize, wait: bool) -> Result<(), CaseFailure> {
    let (user, mut pair) = api.session("p04").await?;
    if wait {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while server_now(api).await? <= pair.access.claims.iat
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let access_at_refresh = api.refresh(&pair.access.text).await?;
    api.expect(&access_at_refresh, "TOKEN_INVALID", &tc::VERIFY)
        .map_err(|f| f.about("an access token at the refresh endpoint"))?;
    let mut spent: Vec<Pair> = Vec::new();
    for step in 0..len {
        let before = server_now(api).await?;
        let ex = api.refresh(&pair.refresh.text).await?;
        let next = api
            .expect_rotated(&ex, &pair)
            .map_err(|f| f.about(&format!("refresh {}", step + 1)))?;
        let after = response_date(&ex).map_or(i64::MAX, |d| d + DATE_LAG_SECONDS);
        let a = &next.access.claims;
        if a.sub != user || a.iat < before || a.iat > after || a.exp != a.iat + api.area.access_ttl
        {
            return Err(CaseFailure::violates(
                &ex,
                &ac::ROTATION,
                format!(
                    "refresh {}: the new access token has sub {:?}, iat {}, exp {}; the refresh was sent after Date {before} and answered at Date {after}, for user {user:?}",
                    step + 1,
                    a.sub,
                    a.iat,
                    a.exp
                ),
            ));
        }
        let me = api.me(&next.access.text).await?;
        if me.status != 200 && response_date(&me).is_some_and(|d| d < a.exp) {
            return Err(CaseFailure::violates(
                &me,
                &tc::VERIFY,
                format!("refresh {}: `me` refused the new access token", step + 1),
            ));
        }
        spent.push(pair);
        pair = next;
    }
    let replayed = &spent[replay.min(spent.len() - 1)];
    let ex = api.refresh(&replayed.refresh.text).await?;
    if response_date(&ex).is_some_and(|d| d >= replayed.refresh.claims.exp) {
        return Ok(());
    }
    api.expect(&ex, "TOKEN_REVOKED", &ac::REUSE)
        .map_err(|f| f.about(&format!("replaying spent refresh token {}", replay + 1)))?;
    let newest = api.refresh(&pair.refresh.text).await?;
    api.expect(&newest, "TOKEN_REVOKED", &ac::REUSE)
        .map_err(|f| f.about("the newest refresh token of the family after a replay"))
}
