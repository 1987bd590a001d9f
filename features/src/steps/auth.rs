//! Steps of the authentication flow (features/auth.feature), over the routes of the target's
//! `auth` discovery member. Tokens are verified with the suite's own PASETO reader
//! (`dx_conformance::token`) against the published keys.

use cucumber::{given, then, when};
use dx_conformance::checks::auth::{AuthArea, area, fresh_email};
use dx_conformance::http::RequestSpec;
use dx_conformance::token::{Token, parse};
use http::Method;
use serde_json::{Value, json};

use crate::step_error::StepError;
use crate::world::DxWorld;

/// The auth area, or why the scenario cannot run.
fn auth_area(world: &DxWorld) -> Result<AuthArea, StepError> {
    area(world.target()?).map_err(|outcome| StepError::from_area(outcome, "an auth area"))
}

/// A token an earlier step received, or why the step cannot run.
fn remembered(token: Option<String>, what: &str) -> Result<String, StepError> {
    token
        .ok_or_else(|| StepError::plain(format!("{what} received earlier in the scenario"), "none"))
}

#[given("the target offers auth in the conformance profile")]
fn offers_auth(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let target = world.target()?;
        if !target.discovery().offers("auth") {
            return Err(StepError::NotVerified(
                "target does not offer `auth`".into(),
            ));
        }
        auth_area(world).map(drop)
    })();
    world.settle(result)
}

/// The register endpoint, which the suite uses in the conformance profile only.
fn register_path(area: &dx_conformance::checks::auth::AuthArea) -> Result<String, StepError> {
    area.register.clone().ok_or_else(|| {
        StepError::NotVerified(
            "the scenario registers accounts, which the suite does in the conformance profile only"
                .into(),
        )
    })
}

#[when(expr = "I register a new account with the password {string}")]
async fn register(world: &mut DxWorld, password: String) -> Result<(), StepError> {
    let result = async {
        let area = auth_area(world)?;
        let email = fresh_email("feature");
        world.auth_mut().account = Some((email.clone(), password.clone()));
        world
            .send(RequestSpec::post_json(
                register_path(&area)?,
                &json!({"email": email, "password": password}),
            ))
            .await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(expr = "I register with a password of {int} bytes")]
async fn register_sized(world: &mut DxWorld, bytes: usize) -> Result<(), StepError> {
    let result = async {
        let area = auth_area(world)?;
        let body = json!({"email": fresh_email("feature"), "password": "p".repeat(bytes)});
        world
            .send(RequestSpec::post_json(register_path(&area)?, &body))
            .await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

async fn login(world: &mut DxWorld, email: String, password: String) -> Result<(), StepError> {
    let area = auth_area(world)?;
    world
        .send(RequestSpec::post_json(
            area.login,
            &json!({"email": email, "password": password}),
        ))
        .await?;
    Ok(())
}

fn account(world: &DxWorld) -> Result<(String, String), StepError> {
    world
        .auth()
        .account
        .clone()
        .ok_or_else(|| StepError::plain("an account registered earlier in the scenario", "none"))
}

#[when("I log in with my email and password")]
async fn login_mine(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let (email, password) = account(world)?;
        login(world, email, password).await
    }
    .await;
    world.settle(result)
}

#[when(expr = "I log in with my email and the password {string}")]
async fn login_wrong(world: &mut DxWorld, password: String) -> Result<(), StepError> {
    let result = async {
        let (email, _) = account(world)?;
        login(world, email, password).await
    }
    .await;
    world.settle(result)
}

#[when(expr = "I log in with an unknown email and the password {string}")]
async fn login_unknown(world: &mut DxWorld, password: String) -> Result<(), StepError> {
    let result = login(world, fresh_email("feature-nobody"), password).await;
    world.settle(result)
}

#[when(expr = "I log in with the email {string} and the password {string}")]
async fn login_literal(
    world: &mut DxWorld,
    email: String,
    password: String,
) -> Result<(), StepError> {
    let result = login(world, email, password).await;
    world.settle(result)
}

/// A token of the last response's pair, parsed and verified under the published keys.
fn verified(world: &DxWorld, area: &AuthArea, name: &str) -> Result<Token, StepError> {
    let last = world.last()?;
    let text = last
        .json()
        .and_then(|b| b.get(name).and_then(Value::as_str).map(str::to_owned))
        .ok_or_else(|| {
            StepError::at(
                last,
                format!("a token pair with `{name}` (spec/http-contract.md, Authentication)"),
            )
        })?;
    let token = parse(&text).map_err(|why| {
        StepError::at(
            last,
            format!("`{name}` as spec/tokens.md fixes it: it {why}"),
        )
    })?;
    token
        .verify(&area.keys)
        .map_err(|why| StepError::at(last, format!("`{name}` signed by a published key: {why}")))?;
    Ok(token)
}

#[then("I receive a token pair whose signatures verify under the published keys")]
fn receive_pair(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let area = auth_area(world)?;
        let last = world.last()?;
        if last.status != 200 {
            return Err(StepError::at(last, "200 with a token pair"));
        }
        let access = verified(world, &area, "access_token")?;
        let refresh = verified(world, &area, "refresh_token")?;
        if access.claims.typ != "access" || refresh.claims.typ != "refresh" {
            return Err(StepError::at(
                world.last()?,
                "an access token and a refresh token",
            ));
        }
        let state = world.auth_mut();
        if let Some(old) = state.refresh.replace(refresh.text) {
            state.spent_refresh = Some(old);
        }
        state.user_id = Some(access.claims.sub.clone());
        state.access = Some(access.text);
        Ok(())
    })();
    world.settle(result)
}

async fn call_me(world: &mut DxWorld, authorization: Option<String>) -> Result<(), StepError> {
    let area = auth_area(world)?;
    let mut request = RequestSpec::new(Method::GET, area.me);
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    world.send(request).await?;
    Ok(())
}

#[when("I call the authenticated route with my access token")]
async fn me_mine(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let token = remembered(world.auth().access.clone(), "an access token")?;
        call_me(world, Some(format!("Bearer {token}"))).await
    }
    .await;
    world.settle(result)
}

#[when("I call the authenticated route with my access token, one bit of its signature flipped")]
async fn me_flipped(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let text = remembered(world.auth().access.clone(), "an access token")?;
        let token = parse(&text)
            .map_err(|why| StepError::plain("a token as spec/tokens.md fixes it", why))?;
        let mut signature = token.signature;
        signature[0] ^= 1;
        let forged = dx_conformance::token::encode(&token.payload, &signature, &token.footer);
        call_me(world, Some(format!("Bearer {forged}"))).await
    }
    .await;
    world.settle(result)
}

#[when("I call the authenticated route with my refresh token")]
async fn me_refresh(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let token = remembered(world.auth().refresh.clone(), "a refresh token")?;
        call_me(world, Some(format!("Bearer {token}"))).await
    }
    .await;
    world.settle(result)
}

#[when("I call the authenticated route with no Authorization header")]
async fn me_none(world: &mut DxWorld) -> Result<(), StepError> {
    let result = call_me(world, None).await;
    world.settle(result)
}

#[when(expr = "I call the authenticated route with the token {string}")]
async fn me_literal(world: &mut DxWorld, token: String) -> Result<(), StepError> {
    let result = call_me(world, Some(format!("Bearer {token}"))).await;
    world.settle(result)
}

#[when(expr = "I call the authenticated route with a token of {int} characters")]
async fn me_long(world: &mut DxWorld, length: usize) -> Result<(), StepError> {
    let token = format!("v4.public.{}", "A".repeat(length.saturating_sub(10)));
    let result = call_me(world, Some(format!("Bearer {token}"))).await;
    world.settle(result)
}

#[then("the authenticated route speaks for my account")]
fn speaks_for_me(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let last = world.last()?;
        let user = last
            .json()
            .and_then(|b| b.get("user_id").and_then(Value::as_str).map(str::to_owned));
        if user.is_none() || user != world.auth().user_id {
            return Err(StepError::at(
                last,
                format!("`user_id` {:?}, the token's sub", world.auth().user_id),
            ));
        }
        Ok(())
    })();
    world.settle(result)
}

async fn refresh_with(world: &mut DxWorld, token: Option<String>) -> Result<(), StepError> {
    let area = auth_area(world)?;
    let token = remembered(token, "a refresh token")?;
    world
        .send(RequestSpec::post_json(
            area.refresh,
            &json!({"refresh_token": token}),
        ))
        .await?;
    Ok(())
}

#[when("I refresh my tokens")]
async fn refresh(world: &mut DxWorld) -> Result<(), StepError> {
    let token = world.auth().refresh.clone();
    let result = refresh_with(world, token).await;
    world.settle(result)
}

#[when("I present my previous refresh token again")]
async fn replay(world: &mut DxWorld) -> Result<(), StepError> {
    let token = world.auth().spent_refresh.clone();
    let result = refresh_with(world, token).await;
    world.settle(result)
}

async fn revoke(world: &mut DxWorld, token: Option<String>) -> Result<(), StepError> {
    let area = auth_area(world)?;
    let token = remembered(token, "a token")?;
    world
        .send(RequestSpec::post_json(
            area.revoke,
            &json!({"token": token}),
        ))
        .await?;
    Ok(())
}

#[when("I revoke my access token")]
async fn revoke_access(world: &mut DxWorld) -> Result<(), StepError> {
    let token = world.auth().access.clone();
    let result = revoke(world, token).await;
    world.settle(result)
}

#[when("I revoke my refresh token")]
async fn revoke_refresh(world: &mut DxWorld) -> Result<(), StepError> {
    let token = world.auth().refresh.clone();
    let result = revoke(world, token).await;
    world.settle(result)
}
