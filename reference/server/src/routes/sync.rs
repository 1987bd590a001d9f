//! `GET /_dx/sync`: the sync WebSocket (`spec/sync.md`). The upgrade carries an access token
//! (the `Authorization` header, or a `dx-token.<token>` subprotocol for browsers) and is
//! refused with the 401 envelope before switching protocols when the token does not hold;
//! the connection is then served by `dx_sync::connection`, which checks the token again
//! while it stays open.

use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::response::{IntoResponse, Response};
use dx_auth::AuthError;
use dx_error::{DxError, ErrorCode};
use dx_sync::connection::{self, TokenGuard};
use dx_sync::manager::SyncConfig;
use http::HeaderMap;
use http::header::SEC_WEBSOCKET_PROTOCOL;
use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::routes::auth::{AuthFailure, bearer};
use crate::state::SharedState;

/// Where the sync WebSocket lives.
pub const SYNC_PATH: &str = "/_dx/sync";
/// The subprotocol of `spec/sync.md`.
pub const SUBPROTOCOL: &str = "dx-sync.1";
/// The prefix of the subprotocol that carries a browser's token.
const TOKEN_PROTOCOL: &str = "dx-token.";

/// The token of an upgrade: the `Authorization` header, else a `dx-token.` subprotocol.
fn token(headers: &HeaderMap) -> Result<String, AuthError> {
    if headers.contains_key(http::header::AUTHORIZATION) {
        return bearer(headers).map(str::to_owned);
    }
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| p.trim().strip_prefix(TOKEN_PROTOCOL))
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or(AuthError::TokenInvalid(dx_auth::InvalidReason::Malformed))
}

/// Checks the connection's token again: expired (1002) or revoked (1004) closes it.
struct Recheck {
    state: SharedState,
    token: String,
}

#[async_trait]
impl TokenGuard for Recheck {
    async fn check(&self) -> Result<(), u16> {
        let service = match self.state.auth.ready().await {
            Ok(service) => service,
            // The store is unreachable: the token is not known to be bad.
            Err(_) => return Ok(()),
        };
        match service.authenticate(&self.token).await {
            Ok(_) => Ok(()),
            Err(AuthError::TokenExpired) => Err(ErrorCode::TokenExpired.number()),
            Err(AuthError::TokenRevoked) => Err(ErrorCode::TokenRevoked.number()),
            Err(AuthError::TokenInvalid(_)) => Err(ErrorCode::TokenInvalid.number()),
            Err(e) => {
                tracing::warn!(error = %e, "sync: cannot re-check a token");
                Ok(())
            }
        }
    }
}

/// The upgrade.
pub async fn sync(
    State(state): State<SharedState>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, Response> {
    let Ok(upgrade) = upgrade else {
        let e = DxError::request(
            ErrorCode::BadRequest,
            "This endpoint takes WebSocket upgrades only",
        );
        return Err(ApiError(e).into_response());
    };
    let text = token(&headers).map_err(|e| AuthFailure(e).into_response())?;
    let service = state
        .auth
        .ready()
        .await
        .map_err(|e| AuthFailure(e).into_response())?;
    let token = service
        .authenticate(&text)
        .await
        .map_err(|e| AuthFailure(e).into_response())?;
    let mut session = [0u8; 16];
    getrandom::fill(&mut session).map_err(|_| {
        ApiError(DxError::internal("no randomness for a session id")).into_response()
    })?;
    let manager = Arc::clone(&state.sync);
    manager.start();
    let limit = connection::read_limit(manager.config());
    let guard = Box::new(Recheck {
        state: Arc::clone(&state),
        token: text,
    });
    Ok(upgrade
        .protocols([SUBPROTOCOL])
        .max_message_size(limit)
        .max_frame_size(limit)
        // tungstenite allocates its whole read buffer (128 KiB by default) for every
        // connection; frames here are small, and larger ones still assemble past it.
        .read_buffer_size(READ_BUFFER)
        .on_upgrade(move |socket| connection::serve(manager, socket, token.sub, session, guard))
        .into_response())
}

/// Bytes read from a connection's socket at a time. Every connection holds this buffer for
/// its whole life, idle or not (`benches/sync`, idle connections: 4 KiB of an idle
/// connection's 12 before it was halved); frames are small (a message's header and a
/// payload of tens of bytes), and a larger one is still read whole, this many bytes per read.
const READ_BUFFER: usize = 2048;

/// The sync limits for a profile: the conformance profile uses short intervals and small
/// limits so that checks finish quickly (`spec/sync.md`, "The `sync` member").
pub fn config_for(conformance: bool) -> SyncConfig {
    use std::time::Duration;
    if conformance {
        SyncConfig {
            buffer_size: 64,
            retention: Duration::from_secs(60),
            max_payload: 16 * 1024,
            max_channels: 32,
            send_queue: 256,
            ping_interval: Duration::from_secs(1),
            ping_timeout: Duration::from_secs(3),
            token_check: Duration::from_secs(1),
            publish_limit: 200,
            publish_window: Duration::from_secs(1),
        }
    } else {
        SyncConfig::default()
    }
}

/// The `sync` member of the discovery document.
pub fn discovery_member(state: &SharedState) -> Value {
    let manager = &state.sync;
    let c = manager.config();
    json!({
        "endpoint": SYNC_PATH,
        "subprotocol": SUBPROTOCOL,
        "broker": manager.broker_name(),
        "buffer_size": c.buffer_size,
        "retention_seconds": c.retention.as_secs(),
        "max_payload": c.max_payload,
        "max_channels": c.max_channels,
        "send_queue": c.send_queue,
        "ping_interval_seconds": c.ping_interval.as_secs(),
        "ping_timeout_seconds": c.ping_timeout.as_secs(),
        "token_check_seconds": c.token_check.as_secs(),
        "publish_limit": {
            "max_messages": c.publish_limit,
            "window_seconds": c.publish_window.as_secs(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(name: http::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn tokens_come_from_the_header_or_the_subprotocol() {
        assert_eq!(
            token(&with(http::header::AUTHORIZATION, "Bearer abc")).unwrap(),
            "abc"
        );
        assert_eq!(
            token(&with(
                SEC_WEBSOCKET_PROTOCOL,
                "dx-sync.1, dx-token.v4.public.xyz"
            ))
            .unwrap(),
            "v4.public.xyz"
        );
        assert!(token(&with(SEC_WEBSOCKET_PROTOCOL, "dx-sync.1")).is_err());
        assert!(token(&with(SEC_WEBSOCKET_PROTOCOL, "dx-sync.1, dx-token.")).is_err());
        assert!(token(&HeaderMap::new()).is_err());
        // A malformed Authorization header is not overridden by the subprotocol.
        let mut both = with(http::header::AUTHORIZATION, "Basic x");
        both.insert(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("dx-token.abc"),
        );
        assert!(token(&both).is_err());
    }
}
