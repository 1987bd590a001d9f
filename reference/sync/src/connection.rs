//! One WebSocket connection pumped through a [`WebSocketManager`] (`spec/sync.md`): frames
//! in, the connection's queue out, pings to find dead connections, the token checked again
//! while the connection is open, and the refusals that close it (text frames, frames over
//! the size limit, a token expired or revoked, a queue that overflowed).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use axum::extract::ws::{CloseFrame, Message, WebSocket};

use crate::frame::{ClientFrame, ServerFrame, SessionId, code};
use crate::manager::{Close, WebSocketManager, error_frame};
use crate::outbox::Outgoing;

/// Checks an open connection's token again: `Err` with 1002 (expired) or 1004 (revoked)
/// closes the connection.
#[async_trait]
pub trait TokenGuard: Send + Sync {
    /// Whether the token still holds.
    async fn check(&self) -> Result<(), u16>;
}

/// The close code for a token that no longer holds.
pub const CLOSE_TOKEN: u16 = 4001;
/// The close code for a send queue that overflowed or messages that were lost.
pub const CLOSE_OVERFLOW: u16 = 4004;

async fn send(socket: &mut WebSocket, frame: Outgoing) -> bool {
    socket
        .send(Message::Binary(frame.into_bytes()))
        .await
        .is_ok()
}

async fn close(socket: &mut WebSocket, error: Option<&ServerFrame>, code: u16, reason: &str) {
    if let Some(frame) = error {
        send(socket, frame.clone().into()).await;
    }
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // The peer may be gone already: nothing more to do then.
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    // The closing handshake (RFC 6455 §7.1.1): wait briefly for the peer's close, so the
    // frames sent last are not lost to a reset of a socket dropped too early.
    let deadline = tokio::time::Instant::now() + CLOSE_GRACE;
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, socket.recv()).await {
        if matches!(message, Message::Close(_)) {
            break;
        }
    }
}

/// How long a closing server waits for the peer's close frame.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The largest frame accepted: a payload of `max_payload` and room for the other fields.
pub fn max_frame(config: &crate::manager::SyncConfig) -> usize {
    config.max_payload as usize + 1024
}

/// What the WebSocket layer itself may read of one message (four times [`max_frame`]):
/// frames between the two are read whole and refused with a proper close (1009); larger
/// ones are cut off where they stand, so memory stays bounded either way.
pub fn read_limit(config: &crate::manager::SyncConfig) -> usize {
    4 * max_frame(config)
}

/// Whether a read failed because the frame was over the size limit.
fn too_large(error: axum::Error) -> bool {
    error
        .into_inner()
        .downcast_ref::<tungstenite::Error>()
        .is_some_and(|e| matches!(e, tungstenite::Error::Capacity(_)))
}

/// Serves `socket` for `user` until either side closes it; `session` is the new session's
/// id (random). The connection is forgotten (its subscriptions end, its user leaves) when it
/// ends, however it ends.
///
/// Its future lives as long as the connection, idle or not, and is as large as the largest
/// future it awaits: handling a frame, closing and forgetting the connection are boxed, so
/// they take memory only while they run (`benches/sync`, idle connections).
pub async fn serve(
    manager: Arc<WebSocketManager>,
    mut socket: WebSocket,
    user: String,
    session: SessionId,
    guard: Box<dyn TokenGuard>,
) {
    let mut conn = match manager.connect(&user, session).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "sync: cannot open a session");
            let frame = error_frame(0, 3001, "");
            Box::pin(close(&mut socket, Some(&frame), 1011, "broker unavailable")).await;
            return;
        }
    };
    let config = manager.config().clone();
    let max_frame = max_frame(&config);
    let mut ping = tokio::time::interval(config.ping_interval);
    let mut token = tokio::time::interval(config.token_check);
    // The first ticks are immediate.
    ping.tick().await;
    token.tick().await;
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            biased;
            killed = &mut conn.kill => {
                if let Ok(Close { code, reason, error }) = killed {
                    Box::pin(close(&mut socket, error.as_ref(), code, reason)).await;
                }
                break;
            }
            frame = conn.outbox.recv() => {
                let Some(frame) = frame else { break };
                if !send(&mut socket, frame).await {
                    break;
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Binary(bytes))) if bytes.len() > max_frame => {
                        let frame = error_frame(0, code::PAYLOAD_TOO_LARGE, "");
                        Box::pin(close(&mut socket, Some(&frame), 1009, "frame too large")).await;
                        break;
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        last_heard = Instant::now();
                        match ClientFrame::decode(&bytes) {
                            Ok(frame) => Box::pin(manager.handle(conn.id, frame)).await,
                            Err(e) => manager.refuse(conn.id, error_frame(e.request, e.code, &e.channel)),
                        }
                    }
                    Some(Ok(Message::Text(_))) => {
                        let frame = error_frame(0, code::BAD_REQUEST, "");
                        Box::pin(close(&mut socket, Some(&frame), 1003, "binary frames only")).await;
                        break;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => last_heard = Instant::now(),
                    Some(Ok(Message::Close(_))) | None => break,
                    Some(Err(e)) => {
                        if too_large(e) {
                            let frame = error_frame(0, code::PAYLOAD_TOO_LARGE, "");
                            Box::pin(close(&mut socket, Some(&frame), 1009, "frame too large")).await;
                        }
                        break;
                    }
                }
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > config.ping_timeout {
                    // Dead: no frame and no pong for the timeout. Its user leaves now.
                    break;
                }
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            _ = token.tick() => {
                if let Err(code) = guard.check().await {
                    let frame = error_frame(0, code, "");
                    Box::pin(close(&mut socket, Some(&frame), CLOSE_TOKEN, "token no longer valid")).await;
                    break;
                }
            }
        }
    }
    Box::pin(manager.disconnect(conn.id)).await;
}
