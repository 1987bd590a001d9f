//! The sync WebSocket over real sockets against the server in-process (`spec/sync.md`):
//! the upgrade's token, pub/sub between two users with acknowledgments and presence, a
//! resume on a new connection, and the refusals (text, garbage, oversized frames, a token
//! revoked while the connection is open).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use common::sync_client::{Socket, close_code, connect, next, next_quiet, send, ws_url};
use dx_server::Config;
use dx_server::config::LimitSpec;
use dx_sync::frame::{ClientFrame, ServerFrame, code};
use dx_sync::{ChannelName, Position};
use futures_util::SinkExt;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

fn conformance() -> Config {
    let mut config = Config::conformance();
    config.security.limits = [LimitSpec {
        max_requests: 1_000_000,
        window_seconds: 1,
    }; 3];
    config
}

fn room() -> ChannelName {
    ChannelName::new("room:1").unwrap()
}

#[tokio::test]
async fn upgrades_need_a_valid_token_and_plain_gets_are_refused() {
    let server = TestServer::start(conformance()).await;
    // No token, a malformed one, a forged one: 401 before switching protocols.
    for auth in [None, Some("Bearer"), Some("Bearer v4.public.AAAA")] {
        let mut request = ws_url(&server).into_client_request().unwrap();
        if let Some(auth) = auth {
            request
                .headers_mut()
                .insert("authorization", auth.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Err(WsError::Http(response)) => {
                assert_eq!(response.status(), 401, "{auth:?}");
                assert!(response.headers().contains_key("www-authenticate"));
            }
            other => panic!("{auth:?}: {other:?}"),
        }
    }
    // The refusal is the error envelope (read with a plain client: tungstenite drops it).
    let resp = Client::new()
        .get(server.url("/_dx/sync"))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "TOKEN_INVALID", "{body}");
    let resp = Client::new()
        .get(server.url("/_dx/sync"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // A browser's token rides in the subprotocol list; the server picks dx-sync.1.
    let token = server.mint("alice").await;
    let mut request = ws_url(&server).into_client_request().unwrap();
    request.headers_mut().insert(
        "sec-websocket-protocol",
        format!("dx-sync.1, dx-token.{token}").parse().unwrap(),
    );
    let (mut socket, response) = tokio_tungstenite::connect_async(request).await.unwrap();
    assert_eq!(response.headers()["sec-websocket-protocol"], "dx-sync.1");
    let ServerFrame::Welcome { user, .. } = next(&mut socket).await else {
        panic!("no WELCOME");
    };
    assert_eq!(user, "alice");
    server.stop().await;
}

#[tokio::test]
async fn two_users_publish_receive_ack_and_are_present() {
    let server = TestServer::start(conformance()).await;
    let (mut alice, _) = connect(&server, &server.mint("alice").await).await;
    let (mut bob, _) = connect(&server, &server.mint("bob").await).await;
    // Nobody subscribed: a nack with 3002.
    send(
        &mut alice,
        ClientFrame::Publish {
            request: 1,
            ack: true,
            channel: room(),
            payload: b"early".to_vec(),
        },
    )
    .await;
    let ServerFrame::Nack { code: c, at, .. } = next(&mut alice).await else {
        panic!()
    };
    assert_eq!(c, code::CHANNEL_NOT_FOUND);
    assert_eq!(at.offset, 1);
    for (socket, request) in [(&mut alice, 2), (&mut bob, 3)] {
        send(
            socket,
            ClientFrame::Subscribe {
                request,
                channel: room(),
            },
        )
        .await;
        let ServerFrame::Subscribed { request: r, at, .. } = next_quiet(socket).await else {
            panic!()
        };
        assert_eq!((r, at.offset), (request, 1));
    }
    // Alice, subscribed first, hears Bob join (her own join may come first: she was not
    // subscribed yet when she joined, so it is not owed to her).
    let joined = |user: &str| ServerFrame::PresenceEvent {
        channel: room(),
        joined: true,
        user: user.into(),
    };
    let mut first = next(&mut alice).await;
    if first == joined("alice") {
        first = next(&mut alice).await;
    }
    assert_eq!(first, joined("bob"));
    send(
        &mut alice,
        ClientFrame::Publish {
            request: 4,
            ack: true,
            channel: room(),
            payload: b"hello".to_vec(),
        },
    )
    .await;
    let message = ServerFrame::Message {
        channel: room(),
        at: Position {
            epoch: at_epoch(&mut bob).await,
            offset: 2,
        },
        sender: "alice".into(),
        payload: b"hello".to_vec(),
    };
    let mut got = [next(&mut alice).await, next(&mut alice).await];
    got.sort_by_key(|f| matches!(f, ServerFrame::Ack { .. }));
    assert_eq!(got[0], message);
    assert!(matches!(
        got[1],
        ServerFrame::Ack {
            request: 4,
            at: Position { offset: 2, .. },
            ..
        }
    ));
    send(
        &mut bob,
        ClientFrame::Presence {
            request: 5,
            channel: room(),
        },
    )
    .await;
    assert_eq!(
        next_quiet(&mut bob).await,
        ServerFrame::PresenceList {
            request: 5,
            channel: room(),
            users: vec!["alice".into(), "bob".into()]
        }
    );
    // Bob vanishes without a close frame: he leaves.
    drop(bob);
    assert_eq!(
        next(&mut alice).await,
        ServerFrame::PresenceEvent {
            channel: room(),
            joined: false,
            user: "bob".into()
        }
    );
    send(
        &mut alice,
        ClientFrame::Presence {
            request: 6,
            channel: room(),
        },
    )
    .await;
    assert_eq!(
        next(&mut alice).await,
        ServerFrame::PresenceList {
            request: 6,
            channel: room(),
            users: vec!["alice".into()]
        }
    );
    server.stop().await;
}

/// Bob's copy of the first message tells the channel's epoch.
async fn at_epoch(bob: &mut Socket) -> u64 {
    match next_quiet(bob).await {
        ServerFrame::Message { at, .. } => at.epoch,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_client_resumes_on_a_new_connection_without_a_gap() {
    let server = TestServer::start(conformance()).await;
    let (mut alice, _) = connect(&server, &server.mint("alice").await).await;
    let bob_token = server.mint("bob").await;
    let (mut bob, welcome) = connect(&server, &bob_token).await;
    let ServerFrame::Welcome { session, .. } = welcome else {
        panic!()
    };
    send(
        &mut bob,
        ClientFrame::Subscribe {
            request: 1,
            channel: room(),
        },
    )
    .await;
    let ServerFrame::Subscribed { at: start, .. } = next_quiet(&mut bob).await else {
        panic!()
    };
    drop(bob);
    for i in 0..3u8 {
        send(
            &mut alice,
            ClientFrame::Publish {
                request: 10,
                ack: false,
                channel: room(),
                payload: vec![i],
            },
        )
        .await;
    }
    // Let the publishes land before resuming.
    send(
        &mut alice,
        ClientFrame::Presence {
            request: 11,
            channel: room(),
        },
    )
    .await;
    assert!(matches!(
        next_quiet(&mut alice).await,
        ServerFrame::PresenceList { .. }
    ));
    let (mut bob, _) = connect(&server, &bob_token).await;
    send(
        &mut bob,
        ClientFrame::Resume {
            request: 2,
            session,
            channels: vec![(room(), start)],
        },
    )
    .await;
    for i in 0..3u8 {
        let ServerFrame::Message { at, payload, .. } = next_quiet(&mut bob).await else {
            panic!()
        };
        assert_eq!(
            (at.offset, payload),
            (start.offset + 1 + u64::from(i), vec![i])
        );
    }
    let ServerFrame::Resumed { request: 2, at, .. } = next_quiet(&mut bob).await else {
        panic!()
    };
    assert_eq!(at.offset, start.offset + 3);
    // Live from here.
    send(
        &mut alice,
        ClientFrame::Publish {
            request: 12,
            ack: true,
            channel: room(),
            payload: b"live".to_vec(),
        },
    )
    .await;
    let ServerFrame::Message { at, .. } = next_quiet(&mut bob).await else {
        panic!()
    };
    assert_eq!(at.offset, start.offset + 4);
    // Someone else's session, or another epoch: 3004, then a fresh subscription.
    let (mut carol, _) = connect(&server, &server.mint("carol").await).await;
    send(
        &mut carol,
        ClientFrame::Resume {
            request: 3,
            session,
            channels: vec![(room(), start)],
        },
    )
    .await;
    let ServerFrame::Error {
        code: c, channel, ..
    } = next_quiet(&mut carol).await
    else {
        panic!()
    };
    assert_eq!((c, channel.as_str()), (code::BUFFER_OVERFLOW, "room:1"));
    assert!(matches!(
        next_quiet(&mut carol).await,
        ServerFrame::Subscribed { .. }
    ));
    server.stop().await;
}

#[tokio::test]
async fn hostile_frames_get_their_errors() {
    let server = TestServer::start(conformance()).await;
    let token = server.mint("mallory").await;
    // Garbage: an error naming no request, and the connection stays usable.
    let (mut socket, _) = connect(&server, &token).await;
    socket
        .send(Message::Binary(vec![0x7E, 1, 2].into()))
        .await
        .unwrap();
    let ServerFrame::Error {
        code: c, request, ..
    } = next_quiet(&mut socket).await
    else {
        panic!()
    };
    assert_eq!((c, request), (code::BAD_REQUEST, 0));
    let mut bad_name = vec![0x01];
    bad_name.extend(9u32.to_le_bytes());
    bad_name.extend([3, b'a', b' ', b'b']);
    socket.send(Message::Binary(bad_name.into())).await.unwrap();
    let ServerFrame::Error {
        code: c, request, ..
    } = next_quiet(&mut socket).await
    else {
        panic!()
    };
    assert_eq!((c, request), (code::VALIDATION_FAILED, 9));
    send(
        &mut socket,
        ClientFrame::Publish {
            request: 4,
            ack: true,
            channel: room(),
            payload: vec![0; 16 * 1024 + 1],
        },
    )
    .await;
    let ServerFrame::Error {
        code: c, request, ..
    } = next_quiet(&mut socket).await
    else {
        panic!()
    };
    assert_eq!((c, request), (code::PAYLOAD_TOO_LARGE, 4));
    send(
        &mut socket,
        ClientFrame::Subscribe {
            request: 5,
            channel: room(),
        },
    )
    .await;
    assert!(matches!(
        next_quiet(&mut socket).await,
        ServerFrame::Subscribed { request: 5, .. }
    ));
    // Text: 4000, then close 1003.
    socket.send(Message::Text("hello".into())).await.unwrap();
    let (frames, code_) = close_code(&mut socket).await;
    assert_eq!(code_, 1003);
    assert!(
        matches!(frames.last(), Some(ServerFrame::Error { code: 4000, .. })),
        "{frames:?}"
    );
    // A frame over the limit: close 1009.
    let (mut socket, _) = connect(&server, &token).await;
    socket
        .send(Message::Binary(vec![0u8; 64 * 1024].into()))
        .await
        .unwrap();
    let (_, code_) = close_code(&mut socket).await;
    assert_eq!(code_, 1009);
    server.stop().await;
}

#[tokio::test]
async fn a_token_revoked_while_connected_closes_the_connection() {
    let server = TestServer::start(conformance()).await;
    let token = server.mint("dave").await;
    let (mut socket, _) = connect(&server, &token).await;
    let resp = Client::new()
        .post(server.url("/api/v1/auth/revoke"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let (frames, code_) = close_code(&mut socket).await;
    assert_eq!(code_, 4001);
    assert!(
        matches!(frames.last(), Some(ServerFrame::Error { code: 1004, .. })),
        "{frames:?}"
    );
    server.stop().await;
}

/// Requirement 7.4: a server shutting down closes its WebSocket connections with 1001
/// (going away) instead of cutting them, then stops; the session the connection had is
/// still resumable (here, on a fresh server sharing nothing, it gets 3004 as the spec says
/// for an unknown session, which is what the client must be ready for).
#[tokio::test]
async fn shutting_down_closes_sync_connections_with_1001() {
    let server = TestServer::start(conformance()).await;
    let token = server.mint("ann").await;
    let (mut ann, _) = connect(&server, &token).await;
    send(
        &mut ann,
        ClientFrame::Subscribe {
            request: 1,
            channel: room(),
        },
    )
    .await;
    assert!(matches!(
        next_quiet(&mut ann).await,
        ServerFrame::Subscribed { request: 1, .. }
    ));
    let stopping = tokio::spawn(server.stop());
    let (_, code) = close_code(&mut ann).await;
    assert_eq!(code, 1001);
    // The close handshake completes (the library answers the close), and the server exits.
    while let Some(Ok(_)) = futures_util::StreamExt::next(&mut ann).await {}
    stopping.await.unwrap();
}
