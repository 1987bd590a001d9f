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
    #[error("websocket {url}: closed by the server{}", close_code(*.code))]
    Closed {
        /// The URL.
        url: String,
        /// The close code of the server's close frame; `None` when the connection ended
        /// without one (or the frame carried no code).
        code: Option<u16>,
    },
    /// The server answered the upgrade with another status than 101: the refusal it sent
    /// instead of switching protocols, kept whole so it can be judged like any response.
    #[error("websocket {url}: the upgrade was answered HTTP {status}, not 101")]
    Refused {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The response headers.
        headers: http::HeaderMap,
        /// The response body (empty when there was none).
        body: Vec<u8>,
    },
}

fn close_code(code: Option<u16>) -> String {
    code.map(|c| format!(" with close code {c}"))
        .unwrap_or_else(|| " without a close code".into())
}

/// How many bytes of a binary message the replay line shows.
const SHOWN_BYTES: usize = 48;

/// One open WebSocket connection, recording what was sent for the replay line.
#[derive(Debug)]
pub struct WsClient {
    url: String,
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    sent: Vec<String>,
    protocol: Option<String>,
}

impl WsClient {
    /// Connects to `url` (`ws://` or `wss://`) within `timeout`, with extra request headers
    /// (e.g. `Authorization`, or `Sec-WebSocket-Protocol` to offer subprotocols). A server
    /// that answers the upgrade with another status gives [`WsError::Refused`].
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
        // wss:// trusts the `--ca-cert` CAs too, through the suite's one connector (the
        // library would build one per connection).
        let connector = if url.starts_with("wss:") {
            let tls = crate::tls::connector().map_err(&connect_err)?;
            Some(tokio_tungstenite::Connector::NativeTls(tls))
        } else {
            None
        };
        let (stream, response) = tokio::time::timeout(
            timeout,
            tokio_tungstenite::connect_async_tls_with_config(request, None, true, connector),
        )
        .await
        .map_err(|_| connect_err(format!("no handshake within {timeout:?}")))?
        .map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(response) => WsError::Refused {
                url: url.to_owned(),
                status: response.status().as_u16(),
                headers: response.headers().clone(),
                body: response.body().clone().unwrap_or_default(),
            },
            other => connect_err(other.to_string()),
        })?;
        let protocol = response
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Self {
            url: url.to_owned(),
            stream,
            sent: Vec::new(),
            protocol,
        })
    }

    /// The subprotocol the server selected in its handshake answer, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
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
        let shown: Vec<String> = bytes
            .iter()
            .take(SHOWN_BYTES)
            .map(|b| format!("{b:02x}"))
            .collect();
        let more = if bytes.len() > SHOWN_BYTES {
            " …"
        } else {
            ""
        };
        self.sent.push(format!(
            "<{} binary bytes: {}{more}>",
            bytes.len(),
            shown.join(" ")
        ));
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
                None => {
                    return Err(WsError::Closed {
                        url: self.url.clone(),
                        code: None,
                    });
                }
                Some(Ok(Message::Close(frame))) => {
                    return Err(WsError::Closed {
                        url: self.url.clone(),
                        code: frame.map(|f| u16::from(f.code)),
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

    /// The URL this client connected to.
    pub fn url(&self) -> &str {
        &self.url
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

    /// A server that selects `dx-sync.1` and closes with 4001 when told "bye".
    async fn closing_server() -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (tcp, _) = listener.accept().await.unwrap();
            // The callback's type, error response included, is tungstenite's.
            #[allow(clippy::result_large_err)]
            let select = |_: &http::Request<()>, mut answer: http::Response<()>| {
                answer.headers_mut().insert(
                    http::header::SEC_WEBSOCKET_PROTOCOL,
                    http::HeaderValue::from_static("dx-sync.1"),
                );
                Ok(answer)
            };
            let mut ws = tokio_tungstenite::accept_hdr_async(tcp, select)
                .await
                .unwrap();
            while let Some(Ok(msg)) = ws.next().await {
                if msg == Message::text("bye") {
                    let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                        code: 4001.into(),
                        reason: "token".into(),
                    };
                    let _ = ws.close(Some(frame)).await;
                }
            }
        });
        format!("ws://{addr}/sync")
    }

    #[tokio::test]
    async fn the_selected_subprotocol_and_close_codes_are_reported() {
        let url = closing_server().await;
        let offer = [("sec-websocket-protocol", "dx-sync.1, dx-token.abc")];
        let mut ws = WsClient::connect(&url, &offer, Duration::from_secs(5))
            .await
            .unwrap();
        assert_eq!(ws.protocol(), Some("dx-sync.1"));
        ws.send_binary(vec![0xab; 60]).await.unwrap();
        assert!(
            ws.replay().contains("<60 binary bytes: ab ab"),
            "{}",
            ws.replay()
        );
        assert!(ws.replay().contains(" …>"), "{}", ws.replay());
        ws.send_text("bye").await.unwrap();
        let err = ws.recv(Duration::from_secs(5)).await.unwrap_err();
        assert!(
            matches!(
                err,
                WsError::Closed {
                    code: Some(4001),
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().ends_with("with close code 4001"), "{err}");
    }

    #[tokio::test]
    async fn upgrades_answered_with_another_status_keep_the_answer() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut head = [0u8; 4096];
            let _ = tcp.read(&mut head).await;
            let answer = "HTTP/1.1 401 Unauthorized\r\nwww-authenticate: Bearer\r\ncontent-length: 2\r\n\r\n{}";
            tcp.write_all(answer.as_bytes()).await.unwrap();
        });
        let err = WsClient::connect(&format!("ws://{addr}/sync"), &[], Duration::from_secs(5))
            .await
            .unwrap_err();
        let WsError::Refused {
            status,
            headers,
            body,
            ..
        } = err
        else {
            panic!("{err}")
        };
        assert_eq!(status, 401);
        assert_eq!(headers["www-authenticate"], "Bearer");
        assert_eq!(body, b"{}");
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
