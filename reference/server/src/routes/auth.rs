//! The auth routes (spec/http-contract.md, "Authentication"): register, login, refresh,
//! revoke, `me`, and in the conformance profile the token-minting hook. Handlers parse, call
//! [`dx_auth::AuthService`] and map its errors; every 401 carries `WWW-Authenticate` (RFC 9110
//! §15.5.2) and token responses `Cache-Control: no-store` (RFC 6749 §5.1).

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use dx_auth::token::MAX_ID_BYTES;
use dx_auth::{AuthError, InvalidReason, TokenPair, TokenType};
use dx_error::{DxError, ErrorCode};
use http::header::{AUTHORIZATION, CACHE_CONTROL, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiJson};
use crate::state::SharedState;

/// Where the auth routes live.
pub const AUTH_BASE: &str = "/api/v1/auth";
/// The conformance-only hook that mints tokens with chosen claims.
pub const MINT_PATH: &str = "/_dx/auth/mint";
/// The largest |`exp_offset_seconds`| the mint hook takes.
pub const MAX_MINT_OFFSET: i64 = 1_000_000_000;

/// An auth failure as a response: the envelope plus the headers its status needs.
#[derive(Debug)]
pub struct AuthFailure(pub AuthError);

impl From<AuthError> for AuthFailure {
    fn from(e: AuthError) -> Self {
        Self(e)
    }
}

impl IntoResponse for AuthFailure {
    fn into_response(self) -> Response {
        let busy = matches!(self.0, AuthError::Busy);
        let invalid_token = matches!(
            self.0,
            AuthError::TokenExpired | AuthError::TokenInvalid(_) | AuthError::TokenRevoked
        );
        if let AuthError::Store(e) = &self.0 {
            tracing::error!(error = ?e, "credential store failed");
        }
        let err = DxError::from(self.0);
        let status = err.code().http_status();
        let mut response = ApiError(err).into_response();
        let headers = response.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            let challenge = if invalid_token {
                r#"Bearer realm="dx-www", error="invalid_token""#
            } else {
                r#"Bearer realm="dx-www""#
            };
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if busy {
            headers.insert(
                RETRY_AFTER,
                HeaderValue::from(dx_auth::pool::RETRY_AFTER_SECONDS),
            );
        }
        response
    }
}

/// The body of register and login.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    email: String,
    password: String,
}

/// The body of refresh.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    refresh_token: String,
}

/// RFC 7009's hint of a token's type.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenTypeHint {
    /// An access token.
    AccessToken,
    /// A refresh token.
    RefreshToken,
}

/// The body of revoke.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    token: String,
    /// Accepted and ignored: the token says its own type.
    #[allow(dead_code)]
    token_type_hint: Option<TokenTypeHint>,
}

/// The body of the mint hook.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MintRequest {
    sub: String,
    typ: TokenType,
    exp_offset_seconds: i64,
}

fn token_response(status: StatusCode, body: Value) -> Response {
    let mut response = (status, Json(body)).into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn pair_body(pair: &TokenPair) -> Value {
    json!({
        "access_token": pair.access.to_wire(),
        "refresh_token": pair.refresh.to_wire(),
        "token_type": "Bearer",
        "expires_in": pair.access.exp - pair.access.iat,
        "refresh_expires_in": pair.refresh.exp - pair.refresh.iat,
    })
}

/// `POST /api/v1/auth/register`: 201 with the new account's id.
pub async fn register(
    State(state): State<SharedState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, AuthFailure> {
    let user = state.auth.register(&body.email, &body.password).await?;
    tracing::info!(user_id = %user.id, "account registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "user_id": user.id, "email": user.email })),
    )
        .into_response())
}

/// `POST /api/v1/auth/login`: a token pair, or 401 `INVALID_CREDENTIALS` alike for an unknown
/// email and a wrong password.
pub async fn login(
    State(state): State<SharedState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Response, AuthFailure> {
    let service = state.auth.ready().await?;
    let pair = service.login(&body.email, &body.password).await?;
    Ok(token_response(StatusCode::OK, pair_body(&pair)))
}

/// `POST /api/v1/auth/refresh`: the next pair of the refresh token's family.
pub async fn refresh(
    State(state): State<SharedState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Response, AuthFailure> {
    let service = state.auth.ready().await?;
    let pair = service.refresh(&body.refresh_token).await?;
    Ok(token_response(StatusCode::OK, pair_body(&pair)))
}

/// `POST /api/v1/auth/revoke`: 200 whether or not the token was ours (RFC 7009 §2.2).
pub async fn revoke(
    State(state): State<SharedState>,
    ApiJson(body): ApiJson<RevokeRequest>,
) -> Result<Response, AuthFailure> {
    let service = state.auth.ready().await?;
    let revoked = service.revoke(&body.token).await?;
    tracing::info!(revoked, "token revocation requested");
    Ok(token_response(StatusCode::OK, json!({})))
}

/// The bearer token of `headers`: exactly one `Authorization` header, scheme `Bearer` in any
/// case, one or more spaces, a token without spaces.
pub fn bearer(headers: &HeaderMap) -> Result<&str, AuthError> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values
        .next()
        .ok_or(AuthError::TokenInvalid(InvalidReason::Missing))?;
    let malformed = AuthError::TokenInvalid(InvalidReason::Malformed);
    if values.next().is_some() {
        return Err(malformed);
    }
    let text = value
        .to_str()
        .map_err(|_| AuthError::TokenInvalid(InvalidReason::Malformed))?;
    let (scheme, token) = text
        .split_once(' ')
        .ok_or(AuthError::TokenInvalid(InvalidReason::Malformed))?;
    let token = token.trim_start_matches(' ');
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() || token.contains(' ') {
        return Err(malformed);
    }
    Ok(token)
}

/// `GET /api/v1/auth/me`: who the access token speaks for.
pub async fn me(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, AuthFailure> {
    let text = bearer(&headers)?;
    let service = state.auth.ready().await?;
    let token = service.authenticate(text).await?;
    Ok(Json(json!({
        "user_id": token.sub,
        "token": { "jti": token.jti, "iat": token.iat, "exp": token.exp },
    }))
    .into_response())
}

/// `POST /_dx/auth/mint` (conformance only): a token for `sub` of type `typ`, issued now and
/// expiring `exp_offset_seconds` from now (zero or negative: already expired).
pub async fn mint(
    State(state): State<SharedState>,
    ApiJson(body): ApiJson<MintRequest>,
) -> Result<Response, ApiError> {
    let field = |name: &str, message: &str| {
        ApiError(
            DxError::request(ErrorCode::ValidationFailed, message.to_owned())
                .with_details(json!({ "field": name })),
        )
    };
    if body.sub.is_empty() || body.sub.len() > MAX_ID_BYTES {
        return Err(field("sub", "sub must be 1 to 128 bytes"));
    }
    if body.exp_offset_seconds.abs() > MAX_MINT_OFFSET {
        return Err(field(
            "exp_offset_seconds",
            "exp_offset_seconds must be within ±1000000000",
        ));
    }
    let tokens = state.auth.service().tokens();
    let now = tokens.now();
    let token = tokens
        .mint(&body.sub, body.typ, now, now + body.exp_offset_seconds)
        .map_err(|e| ApiError(DxError::from(e)))?;
    Ok(token_response(
        StatusCode::OK,
        json!({ "token": token.to_wire(), "iat": token.iat, "exp": token.exp }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_bytes(v).unwrap());
        }
        h
    }

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        assert_eq!(bearer(&headers(&[b"Bearer abc"])).unwrap(), "abc");
        assert_eq!(bearer(&headers(&[b"bearer   abc"])).unwrap(), "abc");
        for bad in [
            &[][..],
            &[&b"Bearer"[..]],
            &[&b"Bearer "[..]],
            &[&b"Basic abc"[..]],
            &[&b"Bearer a b"[..]],
            &[&b"Bearer \xff"[..]],
            &[&b"Bearer a"[..], &b"Bearer b"[..]],
        ] {
            assert!(bearer(&headers(bad)).is_err(), "{bad:?}");
        }
    }
}
