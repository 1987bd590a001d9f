//! The sync scenarios have teeth: against a server that gets one refusal of spec/sync.md
//! wrong, the scenario about it fails (spec/conformance.md, "Mutants").
//!
//! The reference's mutants break one property each, and the refusals belong to none; the
//! reference's sync module is not the suite's to change. So each broken server here is the
//! embedded reference behind a proxy that breaks one behaviour on the wire, as a broken
//! server would: it rewrites the discovery document (limits off by one, no `sync` member),
//! drops or rewrites frames on their way (an ERROR lost, a request echoed wrong, a close
//! code replaced), or holds a connection open that the server closed. The scenarios see
//! only the proxy, exactly as they would see a broken server.

// Proven once per `cargo test` (about 100 s: each breakage makes its scenarios wait out
// their time limits); the coverage run (`--cfg coverage`) would only repeat it.
#![cfg(not(coverage))]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dx_conformance::discovery::DISCOVERY_PATH;
use dx_conformance::embedded::EmbeddedReference;
use dx_conformance::sync_frames::Position;
use dx_conformance::sync_frames::{ClientFrame, ServerFrame, code, opcode};
use dx_conformance::verdict::Verdict;
use dx_conformance::{CheckResult, Target, TargetSpec};
use dx_features::{default_features_dir, run_features};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// One way of breaking the sync endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Breakage {
    /// Nothing: the proxy passes everything through unchanged.
    Nothing,
    /// The discovery document has no `sync` member.
    NoSyncMember,
    /// An upgrade without a token is let through (the proxy authenticates it).
    NoTokenNeeded,
    /// The handshake answer selects no subprotocol.
    NoSubprotocol,
    /// Text frames are ignored.
    IgnoresTextFrames,
    /// Every close code is 1000.
    GenericCloseCodes,
    /// A malformed frame's ERROR is followed by closing the connection.
    ClosesOnMalformed,
    /// Every ERROR carries request 0.
    ForgetsRequests,
    /// Every ERROR's message ends with the source location of the code that refused.
    LeakyErrorMessages,
    /// Every ERROR carries its request with the bytes swapped (a big-endian reader).
    BigEndianRequests,
    /// Flag bits other than bit 0 are ignored.
    IgnoresUnknownFlags,
    /// A frame is read up to its last field and whatever follows is ignored.
    IgnoresTrailingBytes,
    /// Channel names are not checked against the rule.
    AcceptsAnyChannelName,
    /// A subscription beyond `max_channels` is admitted.
    NoChannelLimit,
    /// Publishes beyond the limit are dropped without an ERROR.
    SilentRateLimit,
    /// A token that stops holding never closes the connection.
    NoTokenRecheck,
    /// A token that stops holding closes the connection, but seconds later than
    /// `token_check_seconds` says.
    SlowTokenRecheck,
    /// PRESENCE of a channel nobody is on is refused with 3002.
    UnknownChannelRefused,
    /// The published limits are one more than the server enforces: it refuses at the limit.
    RefusesAtTheLimit,
    /// The published limits are one less than the server enforces: it admits one beyond.
    AdmitsOneBeyond,
}

impl Breakage {
    /// Whether the proxy must read the sync connections' frames (else it copies bytes).
    fn touches_frames(self) -> bool {
        !matches!(
            self,
            Self::Nothing | Self::NoSyncMember | Self::RefusesAtTheLimit | Self::AdmitsOneBeyond
        )
    }

    /// The discovery document as this broken server publishes it.
    fn discovery(self, mut document: Value) -> Value {
        let shift = |document: &mut Value, by: i64| {
            for pointer in [
                "/sync/max_payload",
                "/sync/max_channels",
                "/sync/publish_limit/max_messages",
            ] {
                let value = document.pointer_mut(pointer).unwrap();
                *value = Value::from(value.as_i64().unwrap() + by);
            }
        };
        match self {
            Self::NoSyncMember => {
                document.as_object_mut().unwrap().remove("sync");
            }
            Self::RefusesAtTheLimit => shift(&mut document, 1),
            Self::AdmitsOneBeyond => shift(&mut document, -1),
            _ => {}
        }
        document
    }

    /// A frame from the client, as the broken server takes it (`None`: ignored).
    fn client_sends(self, message: Message) -> Option<Message> {
        match message {
            Message::Text(_) if self == Self::IgnoresTextFrames => None,
            Message::Binary(bytes)
                if self == Self::IgnoresUnknownFlags
                    && bytes.first() == Some(&opcode::PUBLISH)
                    && bytes.len() > 5 =>
            {
                let mut bytes = bytes.to_vec();
                bytes[5] &= 1;
                Some(Message::binary(bytes))
            }
            Message::Binary(bytes) if self == Self::IgnoresTrailingBytes => {
                // The longest prefix that is a frame, as a reader that never checks the end.
                let read = (1..bytes.len())
                    .rev()
                    .find(|n| ClientFrame::decode(&bytes[..*n]).is_ok());
                Some(Message::binary(match read {
                    Some(n) if ClientFrame::decode(&bytes).is_err() => bytes[..n].to_vec(),
                    _ => bytes.to_vec(),
                }))
            }
            Message::Binary(bytes) if self == Self::AcceptsAnyChannelName => {
                Some(Message::binary(any_channel_accepted(&bytes)))
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => None,
            other => Some(other),
        }
    }

    /// What the broken server sends instead of `message`.
    fn server_sends(self, message: Message) -> Vec<Step> {
        let frame = match &message {
            Message::Binary(bytes) => ServerFrame::decode(bytes).ok(),
            Message::Close(Some(close)) if self == Self::GenericCloseCodes => {
                return vec![Step::Send(Message::Close(Some(CloseFrame {
                    code: CloseCode::Normal,
                    reason: close.reason.clone(),
                })))];
            }
            Message::Close(_) if self == Self::NoTokenRecheck => return vec![Step::Hold],
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return Vec::new(),
            _ => None,
        };
        let Some(frame) = frame else {
            return vec![Step::Send(message)];
        };
        let send = |frame: ServerFrame| Step::Send(Message::binary(frame.encode()));
        match (self, frame) {
            (
                Self::ForgetsRequests | Self::BigEndianRequests,
                ServerFrame::Error {
                    request,
                    code,
                    channel,
                    message,
                },
            ) => vec![send(ServerFrame::Error {
                request: if self == Self::ForgetsRequests {
                    0
                } else {
                    request.swap_bytes()
                },
                code,
                channel,
                message,
            })],
            (
                Self::LeakyErrorMessages,
                ServerFrame::Error {
                    request,
                    code,
                    channel,
                    message,
                },
            ) => vec![send(ServerFrame::Error {
                request,
                code,
                channel,
                message: format!("{message} (at reference/sync/src/manager.rs:388:17)"),
            })],
            (Self::ClosesOnMalformed, error @ ServerFrame::Error { code: 4000, .. }) => {
                vec![send(error), Step::Close(CloseCode::Protocol)]
            }
            (
                Self::NoChannelLimit,
                ServerFrame::Error {
                    request,
                    code: code::RESOURCE_EXHAUSTED,
                    channel,
                    ..
                },
            ) => vec![send(ServerFrame::Subscribed {
                request,
                channel: dx_conformance::sync_frames::ChannelName::new(&channel).unwrap(),
                at: Position {
                    epoch: 1,
                    offset: 0,
                },
            })],
            (
                Self::SilentRateLimit,
                ServerFrame::Error {
                    code: code::RATE_LIMITED,
                    ..
                },
            ) => Vec::new(),
            (
                Self::NoTokenRecheck,
                ServerFrame::Error {
                    code: code::TOKEN_EXPIRED | code::TOKEN_REVOKED,
                    ..
                },
            ) => Vec::new(),
            (
                Self::SlowTokenRecheck,
                error @ ServerFrame::Error {
                    code: code::TOKEN_EXPIRED | code::TOKEN_REVOKED,
                    ..
                },
            ) => vec![Step::Wait(Duration::from_secs(4)), send(error)],
            (
                Self::UnknownChannelRefused,
                ServerFrame::PresenceList {
                    request,
                    channel,
                    users,
                },
            ) if users.is_empty() => vec![send(ServerFrame::Error {
                request,
                code: code::CHANNEL_NOT_FOUND,
                channel: channel.to_string(),
                message: "Channel not found".into(),
            })],
            (_, frame) => vec![send(frame)],
        }
    }
}

/// `frame` with the channel it names replaced by a valid name spelling its bytes, when the
/// name breaks the rule: what the server sees is what a server that never checks names
/// would make of it.
fn any_channel_accepted(frame: &[u8]) -> Vec<u8> {
    let Some(&op) = frame.first() else {
        return frame.to_vec();
    };
    // SUBSCRIBE, UNSUBSCRIBE and PRESENCE: opcode, request, channel; PUBLISH: flags first.
    let at = match op {
        opcode::SUBSCRIBE | opcode::UNSUBSCRIBE | opcode::PRESENCE => 5,
        opcode::PUBLISH => 6,
        _ => return frame.to_vec(),
    };
    let Some(&len) = frame.get(at) else {
        return frame.to_vec();
    };
    let end = at + 1 + usize::from(len);
    let Some(name) = frame.get(at + 1..end) else {
        return frame.to_vec();
    };
    let valid = std::str::from_utf8(name)
        .is_ok_and(|n| dx_conformance::sync_frames::ChannelName::new(n).is_ok());
    if valid {
        return frame.to_vec();
    }
    let spelled: String = name.iter().map(|b| format!("{b:02x}")).collect();
    let spelled = format!("any-{spelled}");
    let mut out = frame[..at].to_vec();
    out.push(u8::try_from(spelled.len()).unwrap());
    out.extend_from_slice(spelled.as_bytes());
    out.extend_from_slice(&frame[end..]);
    out
}

/// What the proxy does with one message from the server.
#[derive(Debug)]
enum Step {
    /// Sends it (or what replaced it) to the client.
    Send(Message),
    /// Waits before going on.
    Wait(Duration),
    /// Closes the client's connection with this code and stops.
    Close(CloseCode),
    /// Keeps the client's connection open and silent, whatever the server does.
    Hold,
}

/// The proxy's view of the reference behind it.
struct Upstream {
    address: SocketAddr,
    endpoint: String,
    discovery: Vec<u8>,
    /// A valid access token, for the breakage that needs none from the client.
    token: String,
}

/// The reference behind a proxy breaking it by `breakage`; the target is the proxy.
async fn broken(breakage: Breakage) -> (Target, Target) {
    let reference = Target::embedded(EmbeddedReference::default_config())
        .await
        .unwrap();
    let area = dx_conformance::checks::sync::area(&reference).unwrap();
    let (_, token) = dx_conformance::checks::sync::user(&reference, &area, "teeth")
        .await
        .unwrap();
    let base = reference.base_url();
    let upstream = Arc::new(Upstream {
        address: format!(
            "{}:{}",
            base.host_str().unwrap(),
            base.port_or_known_default().unwrap()
        )
        .parse()
        .unwrap(),
        endpoint: area.endpoint.clone(),
        discovery: breakage
            .discovery(reference.discovery().raw.clone())
            .to_string()
            .into_bytes(),
        token,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(relay(client, Arc::clone(&upstream), breakage));
        }
    });
    let target = Target::connect(TargetSpec::Url(proxy)).await.unwrap();
    (target, reference)
}

/// The request head the client sent first on `client`, left unread.
async fn peek_head(client: &TcpStream) -> Option<String> {
    let mut buffer = vec![0u8; 16 * 1024];
    for _ in 0..2500 {
        let n = client.peek(&mut buffer).await.ok()?;
        if n == 0 {
            return None;
        }
        if let Some(end) = buffer[..n].windows(4).position(|w| w == b"\r\n\r\n") {
            return Some(String::from_utf8_lossy(&buffer[..end + 4]).into_owned());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

/// A header of `head`, by lower-case name.
fn header<'h>(head: &'h str, name: &str) -> Option<&'h str> {
    head.lines().skip(1).find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn relay(mut client: TcpStream, upstream: Arc<Upstream>, breakage: Breakage) {
    let Some(head) = peek_head(&client).await else {
        return;
    };
    let path = head.split(' ').nth(1).unwrap_or_default();
    if path == DISCOVERY_PATH {
        let mut consumed = vec![0u8; head.len()];
        if client.read_exact(&mut consumed).await.is_ok() {
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                upstream.discovery.len()
            );
            let _ = client.write_all(answer.as_bytes()).await;
            let _ = client.write_all(&upstream.discovery).await;
        }
        return;
    }
    let upgrade = header(&head, "upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if path == upstream.endpoint && upgrade && breakage.touches_frames() {
        match intercept(client, &head, &upstream, breakage).await {
            Some(refused) => client = refused,
            None => return,
        }
    }
    if let Ok(server) = TcpStream::connect(upstream.address).await {
        pipe(client, server).await;
    }
}

/// Copies bytes both ways, each direction on its own: a server that stops reading (it
/// refused a frame too long to read) and closes still has what it sent last relayed, as
/// over a direct connection, instead of losing it when the other direction fails.
async fn pipe(client: TcpStream, server: TcpStream) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upward = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    };
    let downward = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upward, downward);
}

/// Opens the client's connection through to the server and relays its frames, broken.
/// Gives the client back when the server refuses the upgrade, to be relayed as it is.
async fn intercept(
    client: TcpStream,
    head: &str,
    upstream: &Upstream,
    breakage: Breakage,
) -> Option<TcpStream> {
    let url = format!("ws://{}{}", upstream.address, upstream.endpoint);
    let mut request = url.into_client_request().unwrap();
    let mut authorization = header(head, "authorization").map(str::to_owned);
    let protocols = header(head, "sec-websocket-protocol").map(str::to_owned);
    let has_token = authorization.is_some()
        || protocols
            .as_deref()
            .is_some_and(|p| p.contains("dx-token."));
    if breakage == Breakage::NoTokenNeeded && !has_token {
        authorization = Some(format!("Bearer {}", upstream.token));
    }
    for (name, value) in [
        ("authorization", authorization),
        ("sec-websocket-protocol", protocols),
    ] {
        if let Some(value) = value {
            request.headers_mut().insert(name, value.parse().unwrap());
        }
    }
    let Ok((server, answer)) = tokio_tungstenite::connect_async(request).await else {
        return Some(client);
    };
    let selected = answer
        .headers()
        .get(http::header::SEC_WEBSOCKET_PROTOCOL)
        .cloned()
        .filter(|_| breakage != Breakage::NoSubprotocol);
    // The callback's type, error response included, is tungstenite's.
    #[allow(clippy::result_large_err)]
    let answer_with = move |_: &http::Request<()>, mut response: http::Response<()>| {
        if let Some(protocol) = selected {
            response
                .headers_mut()
                .insert(http::header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        Ok(response)
    };
    let accepted = tokio_tungstenite::accept_hdr_async(client, answer_with).await;
    let Ok(client) = accepted else {
        return None;
    };
    let (mut to_client, mut from_client) = client.split();
    let (mut to_server, mut from_server) = server.split();
    let outbound = async {
        while let Some(Ok(message)) = from_client.next().await {
            if let Some(message) = breakage.client_sends(message)
                && to_server.send(message).await.is_err()
            {
                break;
            }
        }
        let _ = to_server.close().await;
    };
    let inbound = async {
        'relay: while let Some(Ok(message)) = from_server.next().await {
            for step in breakage.server_sends(message) {
                match step {
                    Step::Send(message) => {
                        if to_client.send(message).await.is_err() {
                            break 'relay;
                        }
                    }
                    Step::Wait(pause) => tokio::time::sleep(pause).await,
                    Step::Close(code) => {
                        let close = CloseFrame {
                            code,
                            reason: "broken".into(),
                        };
                        let _ = to_client.send(Message::Close(Some(close))).await;
                        break 'relay;
                    }
                    // Silent and open until the client goes.
                    Step::Hold => return,
                }
            }
        }
    };
    tokio::join!(outbound, inbound);
    None
}

/// Runs the sync scenarios with any of `tags` against the reference broken by `breakage`.
async fn sync_scenarios(breakage: Breakage, tags: &[&str]) -> Vec<CheckResult> {
    let (target, _reference) = broken(breakage).await;
    let tags: Vec<String> = tags.iter().map(|t| (*t).to_owned()).collect();
    let results = run_features(&target, &tags, &default_features_dir())
        .await
        .unwrap();
    assert!(!results.is_empty(), "no scenario is tagged {tags:?}");
    results
}

/// The scenarios that wait out a publish window or a token check (`@sync-waits`).
const WAITING: [&str; 2] = [
    "A publish flood beyond publish_limit",
    "A token that stops holding",
];

/// Every scenario whose title starts with one of `titles` (an outline's rows included)
/// fails against `breakage`.
async fn assert_caught(breakage: Breakage, titles: &[&str]) {
    // The scenarios that wait run only where a title names them: the rest take
    // milliseconds each.
    let waits = titles
        .iter()
        .any(|t| WAITING.iter().any(|w| t.starts_with(w)));
    let tags: &[&str] = if waits {
        &["sync-immediate", "sync-waits"]
    } else {
        &["sync-immediate"]
    };
    let results = sync_scenarios(breakage, tags).await;
    for title in titles {
        let matching: Vec<&CheckResult> = results
            .iter()
            .filter(|r| r.title.starts_with(title))
            .collect();
        assert!(!matching.is_empty(), "no scenario is titled {title:?}");
        for result in matching {
            assert!(
                result.verdict.is_fail(),
                "{breakage:?} passed {} ({}): {:?}",
                result.id,
                result.title,
                result.verdict
            );
        }
    }
}

#[tokio::test]
async fn an_unbroken_proxy_passes_every_scenario() {
    let results = sync_scenarios(Breakage::Nothing, &["sync"]).await;
    for result in &results {
        assert_eq!(
            result.verdict,
            Verdict::Pass,
            "{} ({})",
            result.id,
            result.title
        );
    }
}

#[tokio::test]
async fn without_a_sync_member_every_scenario_is_not_verified() {
    for result in sync_scenarios(Breakage::NoSyncMember, &["sync"]).await {
        match &result.verdict {
            Verdict::NotVerified(reason) => {
                assert_eq!(
                    reason, "the target publishes no sync member",
                    "{}",
                    result.id
                );
            }
            other => panic!("{} ({}): {other:?}", result.id, result.title),
        }
    }
}

#[tokio::test]
async fn an_upgrade_without_a_token_let_through_is_caught() {
    assert_caught(
        Breakage::NoTokenNeeded,
        &["An upgrade without a token is refused"],
    )
    .await;
}

#[tokio::test]
async fn no_subprotocol_selected_is_caught() {
    assert_caught(
        Breakage::NoSubprotocol,
        &[
            "A browser's token may come as a dx-token. subprotocol",
            "A connection with a Bearer token that offers dx-sync.1",
        ],
    )
    .await;
}

#[tokio::test]
async fn text_frames_ignored_is_caught() {
    assert_caught(
        Breakage::IgnoresTextFrames,
        &["A text frame gets ERROR 4000"],
    )
    .await;
}

#[tokio::test]
async fn generic_close_codes_are_caught() {
    assert_caught(
        Breakage::GenericCloseCodes,
        &[
            "A text frame gets ERROR 4000",
            "A frame longer than max_payload + 1024 bytes",
            "A token that stops holding",
        ],
    )
    .await;
}

#[tokio::test]
async fn closing_on_a_malformed_frame_is_caught() {
    assert_caught(
        Breakage::ClosesOnMalformed,
        &["A malformed frame gets ERROR 4000 and the connection stays open"],
    )
    .await;
}

#[tokio::test]
async fn errors_without_their_request_are_caught() {
    assert_caught(
        Breakage::ForgetsRequests,
        &[
            "A malformed frame gets ERROR 4000 and the connection stays open: cut in the channel",
            "A malformed frame gets ERROR 4000 and the connection stays open: flag bit 1",
            "A channel name outside the rule gets ERROR 4001",
            "A subscription beyond max_channels",
            "A publish flood beyond publish_limit",
        ],
    )
    .await;
}

#[tokio::test]
async fn error_messages_that_leak_are_caught() {
    assert_caught(
        Breakage::LeakyErrorMessages,
        &[
            "A text frame gets ERROR 4000",
            "A malformed frame gets ERROR 4000",
            "A channel name outside the rule gets ERROR 4001",
            "A subscription beyond max_channels gets ERROR 5003",
        ],
    )
    .await;
}

#[tokio::test]
async fn big_endian_requests_are_caught() {
    assert_caught(
        Breakage::BigEndianRequests,
        &[
            "A malformed frame gets ERROR 4000 and the connection stays open: trailing byte",
            "A RESUME that lists a channel twice",
        ],
    )
    .await;
}

#[tokio::test]
async fn unknown_flag_bits_ignored_are_caught() {
    assert_caught(
        Breakage::IgnoresUnknownFlags,
        &["A malformed frame gets ERROR 4000 and the connection stays open: flag bit"],
    )
    .await;
}

#[tokio::test]
async fn trailing_bytes_ignored_are_caught() {
    assert_caught(
        Breakage::IgnoresTrailingBytes,
        &["A malformed frame gets ERROR 4000 and the connection stays open: trailing byte"],
    )
    .await;
}

#[tokio::test]
async fn channel_names_unchecked_are_caught() {
    assert_caught(
        Breakage::AcceptsAnyChannelName,
        &["A channel name outside the rule gets ERROR 4001"],
    )
    .await;
}

#[tokio::test]
async fn no_channel_limit_is_caught() {
    assert_caught(
        Breakage::NoChannelLimit,
        &["A subscription beyond max_channels gets ERROR 5003"],
    )
    .await;
}

#[tokio::test]
async fn silent_rate_limit_is_caught() {
    assert_caught(
        Breakage::SilentRateLimit,
        &["A publish flood beyond publish_limit gets ERROR 1005"],
    )
    .await;
}

#[tokio::test]
async fn no_token_recheck_is_caught() {
    assert_caught(Breakage::NoTokenRecheck, &["A token that stops holding"]).await;
}

#[tokio::test]
async fn slow_token_recheck_is_caught() {
    assert_caught(Breakage::SlowTokenRecheck, &["A token that stops holding"]).await;
}

#[tokio::test]
async fn unknown_channels_refused_is_caught() {
    assert_caught(
        Breakage::UnknownChannelRefused,
        &["PRESENCE and UNSUBSCRIBE of a channel nobody is subscribed to"],
    )
    .await;
}

#[tokio::test]
async fn refusing_at_the_limits_is_caught() {
    assert_caught(
        Breakage::RefusesAtTheLimit,
        &[
            "A frame of exactly max_payload + 1024 bytes",
            "A payload of max_payload bytes is delivered",
            "A subscription beyond max_channels",
            "A publish flood beyond publish_limit",
        ],
    )
    .await;
}

#[tokio::test]
async fn admitting_one_beyond_the_limits_is_caught() {
    assert_caught(
        Breakage::AdmitsOneBeyond,
        &[
            "A frame longer than max_payload + 1024 bytes gets ERROR 4013 and close 1009: one byte over",
            "A payload of max_payload bytes is delivered",
            "A subscription beyond max_channels",
            "A publish flood beyond publish_limit",
        ],
    )
    .await;
}
