//! Steps of features/security.feature: the security headers, a rate-limit budget spent in a
//! partition of its own, and the CSRF session flow, through the helpers the property checks
//! use (`dx_conformance::checks::{security_headers, rate_limit, csrf}`).

use std::time::Duration;

use cucumber::{given, then, when};
use dx_conformance::check::CheckOutcome;
use dx_conformance::checks::csrf::{self, CsrfApi, CsrfArea, Place};
use dx_conformance::checks::rate_limit::{self, Policy, RateArea};
use dx_conformance::checks::security_headers::{HeaderRules, judge};
use dx_conformance::http::RequestSpec;
use serde_json::Value;

use crate::requests::method;
use crate::step_error::StepError;
use crate::world::DxWorld;

fn from_outcome(outcome: CheckOutcome) -> StepError {
    StepError::from_area(outcome, "an area")
}

fn rate_area(world: &DxWorld) -> Result<RateArea, StepError> {
    rate_limit::area(world.target()?).map_err(from_outcome)
}

fn csrf_area(world: &DxWorld) -> Result<CsrfArea, StepError> {
    csrf::area(world.target()?).map_err(from_outcome)
}

fn policy(area: &RateArea, category: &str) -> Result<Policy, StepError> {
    area.policies
        .iter()
        .find(|p| p.category == category)
        .cloned()
        .ok_or_else(|| {
            StepError::NotVerified(format!("the target publishes no {category:?} policy"))
        })
}

#[then("the response carries the six security headers")]
fn six_headers(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let rules = HeaderRules::of(world.target()?);
        judge(world.last()?, rules, "this response").map_err(StepError::from)
    })();
    world.settle(result)
}

#[given(expr = "the target limits the {string} category in the conformance profile")]
fn limits(world: &mut DxWorld, category: String) -> Result<(), StepError> {
    let result = rate_area(world)
        .and_then(|a| policy(&a, &category))
        .map(drop);
    world.settle(result)
}

async fn hit_partition(world: &mut DxWorld) -> Result<(), StepError> {
    let area = rate_area(world)?;
    let category = world.security().category.clone().unwrap_or_default();
    let policy = policy(&area, &category)?;
    let partition = world.security().partition.clone().unwrap_or_default();
    world
        .send(RequestSpec::get(&policy.path).header(&area.partition, &partition))
        .await?;
    Ok(())
}

#[when(expr = "I spend the {string} budget in a fresh partition")]
async fn spend(world: &mut DxWorld, category: String) -> Result<(), StepError> {
    let result = async {
        let area = rate_area(world)?;
        let policy = policy(&area, &category)?;
        world.security_mut().partition = Some(rate_limit::fresh_partition());
        world.security_mut().category = Some(category.clone());
        world.security_mut().remaining.clear();
        for _ in 0..policy.max_requests {
            hit_partition(world).await?;
            let r = rate_limit::current(world.last()?, &category).map(|(r, _)| r);
            world.security_mut().remaining.push(r);
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

#[then("every answer counted down the RateLimit field to 0")]
fn counted_down(world: &mut DxWorld) -> Result<(), StepError> {
    let got = world.security().remaining.clone();
    let n = got.len() as u64;
    let want: Vec<Option<u64>> = (0..n).map(|i| Some(n - 1 - i)).collect();
    let result = if got == want {
        Ok(())
    } else {
        Err(StepError::plain(
            format!(
                "RateLimit r values {want:?} ({})",
                dx_conformance::clause::security::REMAINING.cite()
            ),
            format!("{got:?}"),
        ))
    };
    world.settle(result)
}

#[when("I send one more request in that partition")]
async fn one_more(world: &mut DxWorld) -> Result<(), StepError> {
    let result = hit_partition(world).await;
    world.settle(result)
}

#[when("I wait the Retry-After and send one more request in that partition")]
async fn wait_and_retry(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let wait = world
            .last()?
            .header("retry-after")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .ok_or_else(|| StepError::plain("a Retry-After of whole seconds", "none"))?;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        hit_partition(world).await
    }
    .await;
    world.settle(result)
}

#[then("the request is admitted")]
fn admitted(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        if ex.status == 429 {
            Err(StepError::at(
                ex,
                dx_conformance::clause::security::RETRY_AFTER.cite(),
            ))
        } else {
            Ok(())
        }
    });
    world.settle(result)
}

/// Any profile: the scenarios' unsafe requests go to the token endpoint, which changes
/// nothing, and the sessions they end are their own.
#[given("the target offers CSRF")]
fn offers_csrf(world: &mut DxWorld) -> Result<(), StepError> {
    let result = csrf_area(world).map(drop);
    world.settle(result)
}

async fn open_session(world: &mut DxWorld) -> Result<(), StepError> {
    let area = csrf_area(world)?;
    let session = CsrfApi::new(world.target()?, &area).session().await?;
    world
        .security_mut()
        .sessions
        .push((session.cookie, session.token));
    Ok(())
}

#[when("I open a session at the token endpoint")]
async fn open(world: &mut DxWorld) -> Result<(), StepError> {
    let result = open_session(world).await;
    world.settle(result)
}

#[when("I open another session at the token endpoint")]
async fn open_another(world: &mut DxWorld) -> Result<(), StepError> {
    let result = open_session(world).await;
    world.settle(result)
}

fn session(world: &DxWorld, index: usize) -> Result<(String, String), StepError> {
    world
        .security()
        .sessions
        .get(index)
        .cloned()
        .ok_or_else(|| StepError::plain("a session opened earlier in the scenario", "none"))
}

async fn send_unsafe(
    world: &mut DxWorld,
    verb: &str,
    cookie: &str,
    token: &str,
    place: Place,
) -> Result<(), StepError> {
    let area = csrf_area(world)?;
    let request = CsrfApi::new(world.target()?, &area).request(
        method(verb)?,
        &area.token_endpoint,
        Some(cookie),
        token,
        place,
    );
    world.send(request).await?;
    Ok(())
}

#[when(expr = "I send {string} to the token endpoint with my session and no token")]
async fn no_token(world: &mut DxWorld, verb: String) -> Result<(), StepError> {
    let result = async {
        let (cookie, _) = session(world, 0)?;
        send_unsafe(world, &verb, &cookie, "", Place::Nowhere).await
    }
    .await;
    world.settle(result)
}

#[when(
    regex = r#"^I send "([A-Z]+)" to the token endpoint with my session and my token in (the header|a urlencoded form|a multipart form)$"#
)]
async fn with_token(world: &mut DxWorld, verb: String, place: String) -> Result<(), StepError> {
    let result = async {
        let (cookie, token) = session(world, 0)?;
        let place = match place.as_str() {
            "the header" => Place::Header,
            "a urlencoded form" => Place::UrlEncoded,
            _ => Place::Multipart,
        };
        send_unsafe(world, &verb, &cookie, &token, place).await
    }
    .await;
    world.settle(result)
}

#[when(
    expr = "I send {string} to the token endpoint with my first session and the other session's token"
)]
async fn other_token(world: &mut DxWorld, verb: String) -> Result<(), StepError> {
    let result = async {
        let (cookie, _) = session(world, 0)?;
        let (_, token) = session(world, 1)?;
        send_unsafe(world, &verb, &cookie, &token, Place::Header).await
    }
    .await;
    world.settle(result)
}

#[when(
    expr = "I send {string} to the token endpoint with my session and the token {string} in the header"
)]
async fn given_token(world: &mut DxWorld, verb: String, token: String) -> Result<(), StepError> {
    let result = async {
        let (cookie, _) = session(world, 0)?;
        send_unsafe(world, &verb, &cookie, &token, Place::Header).await
    }
    .await;
    world.settle(result)
}

#[when("I end my session with a form post")]
async fn end_session(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let area = csrf_area(world)?;
        let (cookie, token) = session(world, 0)?;
        let request = CsrfApi::new(world.target()?, &area).request(
            http::Method::POST,
            &area.session_end,
            Some(&cookie),
            &token,
            Place::UrlEncoded,
        );
        world.send(request).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

/// `reason` may name several, `"a or b"`, where more than one applies and spec/security.md
/// lets the server name any of them.
#[then(expr = "the response is refused as CSRF with the reason {string}")]
fn refused(world: &mut DxWorld, reason: String) -> Result<(), StepError> {
    let allowed: Vec<&str> = reason.split(" or ").map(str::trim).collect();
    let result = world.last().and_then(|ex| {
        let code = ex.json().and_then(|b| {
            b.pointer("/error/code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let got = ex.json().and_then(|b| {
            b.pointer("/error/details/reason")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if ex.status == 403
            && code.as_deref() == Some("CSRF_INVALID")
            && got.as_deref().is_some_and(|g| allowed.contains(&g))
        {
            Ok(())
        } else {
            Err(StepError::at(
                ex,
                format!(
                    "403 CSRF_INVALID with details.reason {reason:?} ({})",
                    dx_conformance::clause::security::REASON.cite()
                ),
            ))
        }
    });
    world.settle(result)
}

#[then("the CSRF check let the request through")]
fn let_through(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world.last().and_then(|ex| {
        let code = ex.json().and_then(|b| {
            b.pointer("/error/code")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        if ex.status == 403 && code.as_deref() == Some("CSRF_INVALID") {
            Err(StepError::at(
                ex,
                dx_conformance::clause::security::EITHER_PLACE.cite(),
            ))
        } else {
            Ok(())
        }
    });
    world.settle(result)
}
