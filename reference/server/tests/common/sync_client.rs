//! A WebSocket client of the sync endpoint for the server's tests (`spec/sync.md`).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use dx_sync::frame::{ClientFrame, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::TestServer;

pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

pub fn ws_url(server: &TestServer) -> String {
    server.url("/_dx/sync").replacen("http://", "ws://", 1)
}

pub async fn connect(server: &TestServer, token: &str) -> (Socket, ServerFrame) {
    let mut request = ws_url(server).into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let welcome = next(&mut socket).await;
    assert!(
        matches!(welcome, ServerFrame::Welcome { .. }),
        "{welcome:?}"
    );
    (socket, welcome)
}

/// The next frame that is not a presence event.
pub async fn next_quiet(socket: &mut Socket) -> ServerFrame {
    loop {
        match next(socket).await {
            ServerFrame::PresenceEvent { .. } => continue,
            frame => return frame,
        }
    }
}

/// The next frame from the server (pings are answered by the library).
pub async fn next(socket: &mut Socket) -> ServerFrame {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .expect("the connection is open")
            .unwrap();
        match message {
            Message::Binary(bytes) => return ServerFrame::decode(&bytes).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The close frame's code, after any frames before it.
pub async fn close_code(socket: &mut Socket) -> (Vec<ServerFrame>, u16) {
    let mut frames = Vec::new();
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("closed within 5 s");
        match message {
            Some(Ok(Message::Binary(bytes))) => frames.push(ServerFrame::decode(&bytes).unwrap()),
            Some(Ok(Message::Close(Some(frame)))) => return (frames, frame.code.into()),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

pub async fn send(socket: &mut Socket, frame: ClientFrame) {
    socket
        .send(Message::Binary(frame.encode().into()))
        .await
        .unwrap();
}
