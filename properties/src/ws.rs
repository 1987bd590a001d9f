//! The suite's WebSocket client (for the sync checks): connect, send, receive with a deadline,
//! and a `websocat` line that replays the session.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Why a WebSocket operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WsError {
    /// Connecting or the handshake failed.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Sending or receiving failed.
    #[error("websocket {url}: {reason}")]
    Io {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// Nothing arrived before the deadline.
    #[error("websocket {url}: nothing received within {after:?}")]
    Timeout {
        /// The URL.
        url: String,
        /// The deadline.
        after: Duration,
    },
    /// The server closed the connection.
    #[error("websocket {url}: closed by the server")]
    Closed {
        /// The URL.
        url: String,
    },
}

/// One open WebSocket connection, recording what was sent for the replay line.
#[derive(Debug)]
pub struct WsClient {
    url: String,
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    sent: Vec<String>,
}

impl WsClient {
    /// Connects to `url` (`ws://` or `wss://`) within `timeout`, with extra request headers
    /// (e.g. `Authorization`).
    pub async fn connect(
        url: &str,
        headers: &[(&str, &str)],
        timeout: Duration,
    ) -> Result<Self, WsError> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let connect_err = |reason: String| WsError::Connect {
            url: url.to_owned(),
            reason,
        };
        let mut request = url
            .into_client_request()
            .map_err(|e| connect_err(e.to_string()))?;
        for (name, value) in headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| connect_err(e.to_string()))?;
            let value =
                http::HeaderValue::from_str(value).map_err(|e| connect_err(e.to_string()))?;
            request.headers_mut().insert(name, value);
        }
        let (stream, _) = tokio::time::timeout(
            timeout,
            tokio_tungstenite::connect_async_with_config(request, None, true),
        )
        .await
        .map_err(|_| connect_err(format!("no handshake within {timeout:?}")))?
        .map_err(|e| connect_err(e.to_string()))?;
        Ok(Self {
            url: url.to_owned(),
            stream,
            sent: Vec::new(),
        })
    }

    /// Sends a text message.
    pub async fn send_text(&mut self, text: &str) -> Result<(), WsError> {
        self.sent.push(text.to_owned());
        self.stream
            .send(Message::text(text))
            .await
            .map_err(|e| self.io(e))
    }

    /// Sends a binary message.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<(), WsError> {
        self.sent.push(format!("<{} binary bytes>", bytes.len()));
        self.stream
            .send(Message::binary(bytes))
            .await
            .map_err(|e| self.io(e))
    }

    /// The next text or binary message, skipping control frames, within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Result<Message, WsError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .map_err(|_| WsError::Timeout {
                    url: self.url.clone(),
                    after: timeout,
                })?;
            match next {
                None | Some(Ok(Message::Close(_))) => {
                    return Err(WsError::Closed {
                        url: self.url.clone(),
                    });
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => return Ok(m),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(self.io(e)),
            }
        }
    }

    /// Closes the connection politely.
    pub async fn close(mut self) -> Result<(), WsError> {
        self.stream.close(None).await.map_err(|e| self.io(e))
    }

    /// A `websocat` command that replays what this client sent.
    pub fn replay(&self) -> String {
        let lines = self.sent.join("\\n");
        format!(
            "printf '{}\\n' | websocat '{}'",
            lines.replace('\'', r"'\''"),
            self.url
        )
    }

    fn io(&self, e: tokio_tungstenite::tungstenite::Error) -> WsError {
        WsError::Io {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }
}

/// The `ws://`/`wss://` URL of `path` on an `http://`/`https://` base.
pub fn ws_url(base: &url::Url, path: &str) -> String {
    let scheme = if base.scheme() == "https" {
        "wss"
    } else {
        "ws"
    };
    let host = base.host_str().unwrap_or("localhost");
    match base.port() {
        Some(port) => format!("{scheme}://{host}:{port}{path}"),
        None => format!("{scheme}://{host}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// An echo server, to test the client without a sync endpoint.
    async fn echo_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.next().await {
                        if msg.is_text() || msg.is_binary() {
                            let _ = ws.send(msg).await;
                        }
                    }
                });
            }
        });
        format!("ws://{addr}/echo")
    }

    #[tokio::test]
    async fn round_trips_and_times_out() {
        let url = echo_server().await;
        let mut ws = WsClient::connect(&url, &[("x-test", "1")], Duration::from_secs(5))
            .await
            .unwrap();
        ws.send_text("hello").await.unwrap();
        assert_eq!(
            ws.recv(Duration::from_secs(5)).await.unwrap(),
            Message::text("hello")
        );
        ws.send_binary(vec![1, 2, 3]).await.unwrap();
        assert_eq!(
            ws.recv(Duration::from_secs(5)).await.unwrap(),
            Message::binary(vec![1, 2, 3])
        );
        let err = ws.recv(Duration::from_millis(50)).await.unwrap_err();
        assert!(matches!(err, WsError::Timeout { .. }));
        assert!(ws.replay().contains("hello"));
        ws.close().await.unwrap();
    }

    #[tokio::test]
    async fn refused_connections_are_reported() {
        let err = WsClient::connect("ws://127.0.0.1:1/x", &[], Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(matches!(err, WsError::Connect { .. }), "{err}");
    }

    #[test]
    fn ws_urls_follow_the_scheme() {
        let https = url::Url::parse("https://example.com").unwrap();
        assert_eq!(ws_url(&https, "/sync"), "wss://example.com/sync");
        let http = url::Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(ws_url(&http, "/sync"), "ws://127.0.0.1:8080/sync");
    }
}
