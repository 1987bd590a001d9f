//! Steps of features/sync.feature: the sync endpoint's refusals and hostile input
//! (spec/sync.md, "Connecting", "Frames", "Refusals"), over real WebSockets, through the
//! helpers the sync property checks use (`dx_conformance::checks::sync`): the `sync` member
//! read from discovery, users whose tokens come from the conformance mint hook, and `Peer`
//! connections speaking the frames of `dx_conformance::sync_frames`. Every limit is the one the target
//! publishes, never a constant of this file, so another target is judged by its own.
//!
//! When steps send; Then steps read what came back. A frame sent and not yet judged is the
//! scenario's `Pending` frame: its request, the channel it names and the sentence its answer
//! is judged by.

use std::time::{Duration, Instant};

use cucumber::{given, then, when};
use dx_conformance::check::CheckOutcome;
use dx_conformance::checks::auth::AuthApi;
use dx_conformance::checks::sync::{
    self, Heard, Peer, QUIET, SyncArea, WAIT, fresh_channel, payload, user_token,
};
use dx_conformance::clause::{Clause, auth as ac, sync as sc};
use dx_conformance::envelope::check_no_leak;
use dx_conformance::http::{Exchange, RequestSpec};
use dx_conformance::request_id::check_request_id;
use dx_conformance::sync_frames::{ChannelName, Position};
use dx_conformance::sync_frames::{ClientFrame, FLAG_ACK, ServerFrame, opcode};
use dx_conformance::ws::{WsClient, WsError};

use crate::step_error::StepError;
use crate::world::{DxWorld, Flood, Pending};

/// The request the hostile frames carry: four different bytes, so an `ERROR` that echoes
/// them in another order (a big-endian reader) shows. The feature's tables name it in
/// decimal, 305419896.
const HOSTILE_REQUEST: u32 = 0x1234_5678;

/// What a server may take beyond `token_check_seconds` to close a connection whose token
/// stopped holding: the re-check itself, the `ERROR` and close frames on the way, and a busy
/// machine. Small against any sensible `token_check_seconds`, so a server that checks less
/// often than it publishes is still caught.
const TOKEN_CHECK_MARGIN: Duration = Duration::from_secs(2);

/// The lifetime of the tokens that must hold for the whole scenario.
const LONG_TTL: i64 = 600;

fn from_outcome(outcome: CheckOutcome) -> StepError {
    StepError::from_area(outcome, "a sync area")
}

/// The `sync` member: as the background step read it, else read now (never guessed).
fn area(world: &DxWorld) -> Result<SyncArea, StepError> {
    match &world.sync().area {
        Some(area) => Ok(area.clone()),
        None => sync::area(world.target()?).map_err(from_outcome),
    }
}

fn next_request(world: &mut DxWorld) -> u32 {
    let state = world.sync_mut();
    state.last_request += 1;
    state.last_request
}

fn my_peer(world: &mut DxWorld) -> Result<&mut Peer, StepError> {
    world.sync_mut().peer.as_mut().ok_or_else(|| {
        StepError::plain(
            "a connection of mine opened earlier in the scenario",
            "none",
        )
    })
}

fn other_peer(world: &mut DxWorld) -> Result<&mut Peer, StepError> {
    world.sync_mut().other.as_mut().ok_or_else(|| {
        StepError::plain(
            "another user's connection opened earlier in the scenario",
            "none",
        )
    })
}

fn my_channel(world: &DxWorld) -> Result<ChannelName, StepError> {
    world
        .sync()
        .channel
        .clone()
        .ok_or_else(|| StepError::plain("a channel of mine from an earlier step", "none"))
}

fn me(world: &DxWorld) -> Result<(String, String), StepError> {
    world
        .sync()
        .me
        .clone()
        .ok_or_else(|| StepError::plain("a user of mine from an earlier step", "none"))
}

fn pending(world: &DxWorld) -> Result<Pending, StepError> {
    world
        .sync()
        .pending
        .clone()
        .ok_or_else(|| StepError::plain("a frame sent by an earlier step", "none"))
}

/// The pending frame's channel as a valid name (for the steps that name it again).
fn pending_channel(pending: &Pending) -> Result<ChannelName, StepError> {
    pending
        .channel
        .as_deref()
        .and_then(|bytes| std::str::from_utf8(bytes).ok())
        .and_then(|name| ChannelName::new(name).ok())
        .ok_or_else(|| StepError::plain("a frame naming a valid channel earlier", "none"))
}

/// A failure seen on `peer`'s connection, replayable from what it sent.
fn failure(peer: &Peer, expected: String, actual: String) -> StepError {
    StepError::Failed {
        expected,
        actual: format!("{actual} (connection of {})", peer.user),
        replay: Some(peer.replay()),
    }
}

/// What `peer` hears next within `wait`, presence events skipped: they come whenever
/// someone joins or leaves a channel the connection is on, and no refusal is about them.
async fn next_answer(peer: &mut Peer, wait: Duration) -> Result<Heard, StepError> {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match peer.hear(left).await? {
            Heard::Frame(ServerFrame::PresenceEvent { .. }) => continue,
            heard => return Ok(heard),
        }
    }
}

/// How `heard` reads in a report.
fn describe(heard: &Heard, wait: Duration) -> String {
    match heard {
        Heard::Frame(frame) => format!("{frame:?}"),
        Heard::Closed(code) => format!("the server closed the connection (close code {code:?})"),
        Heard::Silent => format!("nothing within {wait:?}"),
    }
}

/// `one`, or `one or two`, for the expected side of a report.
fn either<T: std::fmt::Debug>(values: &[T]) -> String {
    values
        .iter()
        .map(|v| format!("{v:?}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The channels an `ERROR` for `pending` may carry. `exact`: the channel the frame names.
/// Otherwise (the frame is malformed, or the name breaks the rule) empty or the name sent,
/// when that is text: whether a frame the server could not read "names" a channel is not
/// something the spec settles, so the suite accepts both.
fn error_channels(pending: &Pending, exact: bool) -> Vec<String> {
    let named = pending
        .channel
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(str::to_owned);
    match (named, exact) {
        (Some(name), true) => vec![name],
        (Some(name), false) if !name.is_empty() => vec![String::new(), name],
        _ => vec![String::new()],
    }
}

/// The next answer on my connection must be `ERROR` `code` with one of `requests` and one
/// of `channels`, within `wait`.
async fn expect_error(
    world: &mut DxWorld,
    code: u16,
    requests: &[u32],
    exact_channel: bool,
    wait: Duration,
) -> Result<(), StepError> {
    let pending = pending(world)?;
    expect_error_on(
        my_peer(world)?,
        &pending,
        code,
        requests,
        exact_channel,
        wait,
    )
    .await
}

/// [`expect_error`] on `peer`, for `pending`.
async fn expect_error_on(
    peer: &mut Peer,
    pending: &Pending,
    code: u16,
    requests: &[u32],
    exact_channel: bool,
    wait: Duration,
) -> Result<(), StepError> {
    let channels = error_channels(pending, exact_channel);
    let expected = format!(
        "ERROR {code} with request {} and channel {} ({}; {})",
        either(requests),
        either(&channels),
        pending.clause.cite(),
        sc::REFUSAL.cite()
    );
    let heard = next_answer(peer, wait).await?;
    match &heard {
        Heard::Frame(ServerFrame::Error {
            request,
            code: got,
            channel,
            ..
        }) if *got == code && requests.contains(request) && channels.contains(channel) => Ok(()),
        other => Err(failure(peer, expected, describe(other, wait))),
    }
}

/// Runs `check` on my connection while the other user's connection, if any, stays alive
/// (answering pings): a check that waits seconds must not let the server find the other
/// connection dead, which would look like a refusal that touched it.
async fn keeping_other_alive<F, T>(other: Option<&mut Peer>, check: F) -> Result<T, StepError>
where
    F: std::future::Future<Output = Result<T, StepError>>,
{
    let Some(other) = other else {
        return check.await;
    };
    let alive = async {
        loop {
            other.idle(Duration::from_secs(3600)).await?;
        }
    };
    tokio::select! {
        biased;
        result = check => result,
        failed = alive => failed,
    }
}

/// Sends `bytes` as one frame on my connection and remembers what its answer must carry.
async fn send_pending(
    world: &mut DxWorld,
    bytes: Vec<u8>,
    pending: Pending,
) -> Result<(), StepError> {
    world.sync_mut().pending = Some(pending);
    my_peer(world)?.send_bytes(bytes).await?;
    Ok(())
}

/// A `PUBLISH` on `channel` asking for acknowledgment, so that a server that wrongly
/// accepts it answers at once instead of staying silent.
fn publish(request: u32, channel: &ChannelName, payload: Vec<u8>) -> ClientFrame {
    ClientFrame::Publish {
        request,
        ack: true,
        channel: channel.clone(),
        payload,
    }
}

// ---------------------------------------------------------------------------------------
// The target and its users.

/// Stops the scenario as "not verified" (never pass, never fail) against a target without
/// a `sync` member, or without users to connect (the conformance profile's mint hook, or
/// test accounts given with `--account`): the same reasons the sync property checks give.
#[given("the target offers sync to users the suite can connect")]
fn offers_sync(world: &mut DxWorld) -> Result<(), StepError> {
    let result = world
        .target()
        .and_then(|target| sync::area(target).map_err(from_outcome))
        .map(|area| world.sync_mut().area = Some(area));
    world.settle(result)
}

/// Where the connection's token goes.
#[derive(Debug, Clone, Copy)]
enum TokenPlace {
    /// `Authorization: Bearer`, no subprotocol offered.
    Bearer,
    /// `Authorization: Bearer`, offering `dx-sync.1`.
    BearerOffering,
    /// `Sec-WebSocket-Protocol: dx-sync.1, dx-token.<token>` and no `Authorization`.
    Subprotocol,
}

/// Connects a fresh user of mine whose token lives `ttl` seconds, and gives me a fresh
/// channel of my own.
async fn connect_me(world: &mut DxWorld, ttl: i64, place: TokenPlace) -> Result<(), StepError> {
    let area = area(world)?;
    let target = world.target()?.clone();
    // Without the mint hook a test account's own login stands in for a long-lived token
    // (not the run's shared one: a scenario may revoke it); a token of a chosen short
    // lifetime needs the hook (`user_token` says so).
    let (user, token) = if ttl == LONG_TTL && area.auth.mint.is_none() {
        let api = AuthApi::new(&target, &area.auth);
        let Some(account) = api.given_account() else {
            return Err(StepError::NotVerified(
                "no test account was given (--account)".into(),
            ));
        };
        let (user, pair) = api.account_session(account).await?;
        (user, pair.access.text)
    } else {
        let (user, token) = user_token(&target, &area, "feature-sync", "access", ttl).await?;
        (user, token.text)
    };
    // The server's clock read `iat` at or before this instant, so `exp` (iat + ttl) has
    // passed on its clock by `minted + ttl`, whatever the two clocks say.
    let minted = Instant::now();
    let bearer = format!("Bearer {token}");
    let browser = format!("dx-sync.1, dx-token.{token}");
    let headers: Vec<(&str, &str)> = match place {
        TokenPlace::Bearer => vec![("authorization", &bearer)],
        TokenPlace::BearerOffering => vec![
            ("authorization", &bearer),
            ("sec-websocket-protocol", "dx-sync.1"),
        ],
        TokenPlace::Subprotocol => vec![("sec-websocket-protocol", &browser)],
    };
    let peer = Peer::open(&area, &user, &headers)
        .await
        .map_err(|f| f.about(&format!("connecting with the token in {place:?}")))?;
    let channel = fresh_channel("feature-sync")?;
    let state = world.sync_mut();
    state.me = Some((user, token));
    state.peer = Some(peer);
    state.channel = Some(channel);
    state.expires = u64::try_from(ttl)
        .ok()
        .map(|s| minted + Duration::from_secs(s));
    Ok(())
}

#[given("I am connected to the sync endpoint")]
async fn connected(world: &mut DxWorld) -> Result<(), StepError> {
    let result = connect_me(world, LONG_TTL, TokenPlace::Bearer).await;
    world.settle(result)
}

#[given(expr = "I am connected to the sync endpoint with an access token valid for {int} seconds")]
async fn connected_for(world: &mut DxWorld, ttl: i64) -> Result<(), StepError> {
    let result = connect_me(world, ttl, TokenPlace::Bearer).await;
    world.settle(result)
}

#[when(
    "I connect to the sync endpoint with no Authorization header, offering the subprotocols dx-sync.1 and dx-token. followed by my token"
)]
async fn connect_browser(world: &mut DxWorld) -> Result<(), StepError> {
    let result = connect_me(world, LONG_TTL, TokenPlace::Subprotocol).await;
    world.settle(result)
}

#[when(
    "I connect to the sync endpoint with my token as Bearer, offering the subprotocol dx-sync.1"
)]
async fn connect_offering(world: &mut DxWorld) -> Result<(), StepError> {
    let result = connect_me(world, LONG_TTL, TokenPlace::BearerOffering).await;
    world.settle(result)
}

#[given("another user is connected and subscribed to my channel")]
async fn other_subscribed(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        let target = world.target()?.clone();
        let channel = my_channel(world)?;
        let (user, token) = sync::user(&target, &area, "feature-sync-other").await?;
        let mut peer = Peer::connect(&area, &user, &token).await?;
        let request = next_request(world);
        peer.subscribe(&channel, request).await?;
        world.sync_mut().other = Some(peer);
        Ok(())
    }
    .await;
    world.settle(result)
}

#[then(expr = "the server selected the subprotocol {string}")]
fn selected_protocol(world: &mut DxWorld, protocol: String) -> Result<(), StepError> {
    let result = my_peer(world).and_then(|peer| {
        if peer.protocol() == Some(protocol.as_str()) {
            Ok(())
        } else {
            Err(failure(
                peer,
                sc::SELECTS_SUBPROTOCOL.cite(),
                format!(
                    "the handshake answer selected {:?} (Sec-WebSocket-Protocol)",
                    peer.protocol()
                ),
            ))
        }
    });
    world.settle(result)
}

// ---------------------------------------------------------------------------------------
// Upgrades that must be refused.

/// The upgrade request as a `curl` line can replay it.
fn upgrade_request(endpoint: &str, headers: &[(String, String)]) -> RequestSpec {
    let mut request = RequestSpec::get(endpoint)
        .header("Connection", "Upgrade")
        .header("Upgrade", "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request
}

/// Asks for an upgrade with `headers` and remembers the refusal as the last response, for
/// the HTTP steps to judge. An upgrade the server accepts fails here: requirement 9.1.
async fn attempt_upgrade(
    world: &mut DxWorld,
    headers: Vec<(String, String)>,
) -> Result<(), StepError> {
    let area = area(world)?;
    let pairs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    match WsClient::connect(&area.url, &pairs, WAIT).await {
        Ok(ws) => Err(StepError::Failed {
            expected: sc::TOKEN_REQUIRED.cite(),
            actual: format!(
                "the upgrade was accepted: 101 Switching Protocols (subprotocol {:?})",
                ws.protocol()
            ),
            replay: Some(ws.replay()),
        }),
        Err(WsError::Refused {
            status,
            headers: answer_headers,
            body,
            ..
        }) => {
            let target = world.target()?;
            let exchange = Exchange {
                url: target.http().url_of(&area.endpoint),
                request: upgrade_request(&area.endpoint, &headers),
                status: http::StatusCode::from_u16(status)
                    .map_err(|e| StepError::plain("an HTTP status", format!("{status}: {e}")))?,
                headers: answer_headers,
                body,
                raw_replay: None,
            };
            // Judged like every response the suite sees: its request id, nothing internal.
            check_request_id(&exchange, &[])?;
            check_no_leak(&exchange, world.markers(), &world.rules()?)?;
            world.set_last(exchange);
            Ok(())
        }
        Err(e) => Err(StepError::plain(sc::TOKEN_REQUIRED.cite(), e.to_string())),
    }
}

#[when("I ask to upgrade to the sync endpoint without a token")]
async fn upgrade_without_token(world: &mut DxWorld) -> Result<(), StepError> {
    let result = attempt_upgrade(world, Vec::new()).await;
    world.settle(result)
}

/// The token text a step names: a literal, or one minted to be wrong in a given way.
async fn bad_token(world: &DxWorld, kind: &str) -> Result<String, StepError> {
    if let Some(text) = kind
        .strip_prefix("the text \"")
        .and_then(|k| k.strip_suffix('"'))
    {
        return Ok(text.to_owned());
    }
    let area = area(world)?;
    let target = world.target()?;
    let mint =
        |typ: &'static str, ttl: i64| user_token(target, &area, "feature-sync-bad", typ, ttl);
    match kind {
        "a refresh token" => Ok(mint("refresh", LONG_TTL).await?.1.text),
        "an expired access token" => Ok(mint("access", -60).await?.1.text),
        "a revoked access token" => {
            let token = mint("access", LONG_TTL).await?.1.text;
            let answer = AuthApi::new(target, &area.auth).revoke(&token).await?;
            if answer.status != 200 {
                return Err(StepError::at(&answer, ac::REVOKE_ANSWER.cite()));
            }
            Ok(token)
        }
        "an access token with one bit of its signature flipped" => {
            let token = mint("access", LONG_TTL).await?.1;
            let mut signature = token.signature;
            signature[0] ^= 1;
            Ok(dx_conformance::token::encode(
                &token.payload,
                &signature,
                &token.footer,
            ))
        }
        other => Err(StepError::plain(
            "a token kind this step library knows",
            format!("`{other}`"),
        )),
    }
}

#[when(
    regex = r"^I ask to upgrade to the sync endpoint with (.+) in (the Authorization header|the subprotocol list)$"
)]
async fn upgrade_with(world: &mut DxWorld, kind: String, place: String) -> Result<(), StepError> {
    let result = async {
        let token = bad_token(world, &kind).await?;
        let header = if place == "the Authorization header" {
            ("authorization".to_owned(), format!("Bearer {token}"))
        } else {
            (
                "sec-websocket-protocol".to_owned(),
                format!("dx-sync.1, dx-token.{token}"),
            )
        };
        attempt_upgrade(world, vec![header]).await
    }
    .await;
    world.settle(result)
}

#[when("I send a GET that is not an upgrade to the sync endpoint")]
async fn plain_get(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        world.send(RequestSpec::get(area.endpoint)).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

// ---------------------------------------------------------------------------------------
// Hostile frames.

#[when(expr = "I send the text frame {string}")]
async fn send_text(world: &mut DxWorld, text: String) -> Result<(), StepError> {
    let result = async {
        world.sync_mut().pending = Some(Pending {
            request: 0,
            channel: None,
            clause: sc::TEXT_FRAME,
            payload: Vec::new(),
        });
        my_peer(world)?.send_text(&text).await?;
        Ok(())
    }
    .await;
    world.settle(result)
}

/// The malformed frame a step names, on `channel`, carrying [`HOSTILE_REQUEST`] where it
/// gets that far; `None` for a name this library does not know.
fn malformed(kind: &str, channel: &ChannelName) -> Option<Vec<u8>> {
    let request = HOSTILE_REQUEST;
    let subscribe = ClientFrame::Subscribe {
        request,
        channel: channel.clone(),
    }
    .encode();
    // PUBLISH: opcode, request (4 bytes), then the flags byte.
    let publish_flags = |flags: u8| {
        let mut frame = publish(request, channel, b"hostile".to_vec()).encode();
        frame[5] = flags;
        frame
    };
    let with = |mut frame: Vec<u8>, extra: &[u8]| {
        frame.extend_from_slice(extra);
        frame
    };
    let cut = |frame: Vec<u8>, keep: usize| frame[..keep.min(frame.len())].to_vec();
    Some(match kind {
        "empty" => Vec::new(),
        "the unknown opcode 0x06" => vec![0x06],
        "the unknown opcode 0x00" => vec![0x00],
        "a WELCOME, a frame only a server sends" => ServerFrame::Welcome {
            session: [7; 16],
            user: "hostile".into(),
            buffer_size: 1,
            retention_seconds: 1,
            max_payload: 1,
            max_channels: 1,
        }
        .encode(),
        "a SUBSCRIBE cut inside its request" => cut(subscribe, 3),
        "a SUBSCRIBE cut inside its channel" => {
            let keep = subscribe.len() - 1;
            cut(subscribe, keep)
        }
        "a PUBLISH cut inside its payload" => {
            let frame = publish_flags(FLAG_ACK);
            let keep = frame.len() - 1;
            cut(frame, keep)
        }
        "a SUBSCRIBE with a byte after its channel" => with(subscribe, &[0]),
        "a PUBLISH with a byte after its payload" => with(publish_flags(FLAG_ACK), &[0]),
        "a PUBLISH with flag bit 1 set" => publish_flags(FLAG_ACK | 0b10),
        "a PUBLISH with flag bit 7 set" => publish_flags(FLAG_ACK | 0x80),
        "a RESUME announcing two channels and holding one" => {
            let mut frame = ClientFrame::Resume {
                request,
                session: [0; 16],
                channels: vec![(
                    channel.clone(),
                    Position {
                        epoch: 1,
                        offset: 0,
                    },
                )],
            }
            .encode();
            // RESUME: opcode, request (4), session (16), then the count (u16).
            frame[21] = 2;
            frame
        }
        _ => return None,
    })
}

#[when(regex = r"^I send a frame that is (.+)$")]
async fn send_malformed(world: &mut DxWorld, kind: String) -> Result<(), StepError> {
    let result = async {
        let channel = my_channel(world)?;
        let bytes = malformed(&kind, &channel).ok_or_else(|| {
            StepError::plain(
                "a malformed frame this step library knows",
                format!("`{kind}`"),
            )
        })?;
        let pending = Pending::on(HOSTILE_REQUEST, &channel, sc::MALFORMED);
        send_pending(world, bytes, pending).await
    }
    .await;
    world.settle(result)
}

/// A channel name as a step writes it: `"text"`, `"c" × 129`, or `the bytes 61 00 62`.
fn channel_bytes(spec: &str) -> Option<Vec<u8>> {
    if let Some(hex) = spec.strip_prefix("the bytes ") {
        return hex
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).ok())
            .collect();
    }
    if let Some((text, times)) = spec.split_once(" × ") {
        let text = text.strip_prefix('"')?.strip_suffix('"')?;
        return Some(text.repeat(times.trim().parse().ok()?).into_bytes());
    }
    let text = spec.strip_prefix('"')?.strip_suffix('"')?;
    Some(text.as_bytes().to_vec())
}

/// A frame of `kind` naming `channel` (any bytes, at most 255) with `request`.
fn naming(kind: &str, request: u32, channel: &[u8]) -> Option<Vec<u8>> {
    let (op, flags) = match kind {
        "a SUBSCRIBE" => (opcode::SUBSCRIBE, None),
        "an UNSUBSCRIBE" => (opcode::UNSUBSCRIBE, None),
        "a PUBLISH" => (opcode::PUBLISH, Some(FLAG_ACK)),
        "a PRESENCE" => (opcode::PRESENCE, None),
        _ => return None,
    };
    let mut frame = vec![op];
    frame.extend(request.to_le_bytes());
    frame.extend(flags);
    frame.push(u8::try_from(channel.len()).ok()?);
    frame.extend_from_slice(channel);
    if flags.is_some() {
        let body = b"hostile";
        frame.extend(u32::try_from(body.len()).ok()?.to_le_bytes());
        frame.extend_from_slice(body);
    }
    Some(frame)
}

#[when(
    regex = r"^I send (a SUBSCRIBE|an UNSUBSCRIBE|a PUBLISH|a PRESENCE) naming the channel (.+)$"
)]
async fn send_bad_channel(
    world: &mut DxWorld,
    kind: String,
    name: String,
) -> Result<(), StepError> {
    let result = async {
        let bytes = channel_bytes(&name).ok_or_else(|| {
            StepError::plain(
                "a channel written as \"text\", \"c\" × 129 or the bytes 61 00",
                format!("`{name}`"),
            )
        })?;
        let request = next_request(world);
        let frame = naming(&kind, request, &bytes).ok_or_else(|| {
            StepError::plain("a frame naming at most 255 bytes", format!("{kind} {name}"))
        })?;
        let pending = Pending {
            request,
            channel: Some(bytes),
            clause: sc::BAD_CHANNEL,
            payload: Vec::new(),
        };
        send_pending(world, frame, pending).await
    }
    .await;
    world.settle(result)
}

#[when("I send a RESUME of my session that lists my channel twice")]
async fn resume_twice(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = my_channel(world)?;
        let request = next_request(world);
        let session = my_peer(world)?.session;
        let at = Position {
            epoch: 1,
            offset: 0,
        };
        let frame = ClientFrame::Resume {
            request,
            session,
            channels: vec![(channel.clone(), at), (channel.clone(), at)],
        };
        let pending = Pending::on(request, &channel, sc::BAD_CHANNEL);
        send_pending(world, frame.encode(), pending).await
    }
    .await;
    world.settle(result)
}

/// A size as a step writes it, in bytes: `max_payload`, `max_payload + N` or
/// `K × (max_payload + N) + M`.
fn size_of(expr: &str, max_payload: u64) -> Option<u64> {
    let expr = expr.trim();
    if expr == "max_payload" {
        return Some(max_payload);
    }
    if let Some(n) = expr.strip_prefix("max_payload + ") {
        return max_payload.checked_add(n.trim().parse().ok()?);
    }
    let (times, rest) = expr.split_once(" × (max_payload + ")?;
    let (inner, after) = rest.split_once(')')?;
    let plus = after.trim().strip_prefix('+')?.trim();
    let base = max_payload.checked_add(inner.trim().parse().ok()?)?;
    base.checked_mul(times.trim().parse().ok()?)?
        .checked_add(plus.parse().ok()?)
}

#[when(regex = r"^I send a PUBLISH frame of (.+) bytes to my channel$")]
async fn send_sized(world: &mut DxWorld, size: String) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        let channel = my_channel(world)?;
        let total = size_of(&size, area.max_payload)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                StepError::plain("a size this step library reads", format!("`{size}`"))
            })?;
        let request = next_request(world);
        let header = publish(request, &channel, Vec::new()).encode().len();
        let body = vec![b'x'; total.saturating_sub(header)];
        let frame = publish(request, &channel, body.clone()).encode();
        if frame.len() != total {
            return Err(StepError::plain(
                format!("a PUBLISH frame of exactly {total} bytes"),
                format!("the smallest PUBLISH on my channel takes {header}"),
            ));
        }
        let limit = area.max_payload.saturating_add(1024);
        let clause = if total as u64 > limit {
            sc::FRAME_TOO_LONG
        } else {
            sc::PAYLOAD_TOO_LARGE
        };
        let pending = Pending::on(request, &channel, clause).with_payload(body);
        if total as u64 <= limit {
            return send_pending(world, frame, pending).await;
        }
        // A frame refused for its length may be refused before it is read: the server may
        // answer and close while the rest is still on its way, and then its TCP stack resets
        // the connection, which fails the rest of the send (seen through a 25 ms link with
        // a frame four times over). What the server said is judged by the next steps.
        world.sync_mut().pending = Some(pending);
        if let Err(cut) = my_peer(world)?.send_bytes(frame).await {
            tracing::debug!(actual = %cut.actual, "the oversized frame's send was cut short");
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when(regex = r"^I publish a payload of (.+) bytes to my channel, asking for acknowledgment$")]
async fn publish_sized(world: &mut DxWorld, size: String) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        let channel = my_channel(world)?;
        let len = size_of(&size, area.max_payload)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                StepError::plain("a size this step library reads", format!("`{size}`"))
            })?;
        let request = next_request(world);
        let mut body = payload(channel.as_str(), request as usize, 0);
        body.resize(len, b'p');
        let clause = if len as u64 > area.max_payload {
            sc::PAYLOAD_TOO_LARGE
        } else {
            sc::ACK
        };
        let frame = publish(request, &channel, body.clone()).encode();
        let pending = Pending::on(request, &channel, clause).with_payload(body);
        send_pending(world, frame, pending).await
    }
    .await;
    world.settle(result)
}

// ---------------------------------------------------------------------------------------
// Subscriptions.

#[when("I subscribe to a channel whose name is 128 bytes of every allowed kind of character")]
async fn subscribe_longest(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let mut name = fresh_channel("feature-sync-long")?.as_str().to_owned();
        name.extend(
            "AZaz09_.:-"
                .chars()
                .cycle()
                .take(128usize.saturating_sub(name.len())),
        );
        name.truncate(128);
        let request = next_request(world);
        let frame = naming("a SUBSCRIBE", request, name.as_bytes())
            .ok_or_else(|| StepError::plain("a channel name of at most 255 bytes", name.clone()))?;
        let pending = Pending {
            request,
            channel: Some(name.into_bytes()),
            clause: sc::CHANNEL_RULE,
            payload: Vec::new(),
        };
        send_pending(world, frame, pending).await
    }
    .await;
    world.settle(result)
}

#[given("I am subscribed to max_channels channels of my own")]
async fn fill_channels(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        for k in 0..area.max_channels {
            let channel = fresh_channel("feature-sync-cap")?;
            let request = next_request(world);
            let peer = my_peer(world)?;
            peer.send(&ClientFrame::Subscribe {
                request,
                channel: channel.clone(),
            })
            .await?;
            match next_answer(peer, WAIT).await? {
                Heard::Frame(ServerFrame::Subscribed {
                    request: r,
                    channel: c,
                    at,
                }) if r == request && c == channel => {
                    world.sync_mut().subscribed.push((channel, at));
                }
                other => {
                    return Err(failure(
                        peer,
                        format!(
                            "SUBSCRIBED for subscription {} of max_channels = {} ({})",
                            k + 1,
                            area.max_channels,
                            sc::TOO_MANY_CHANNELS.cite()
                        ),
                        describe(&other, WAIT),
                    ));
                }
            }
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

/// Sends the frame `frame` builds for `channel` with a fresh request (`SUBSCRIBE`,
/// `UNSUBSCRIBE`) and remembers it as pending, judged by `clause`.
async fn channel_pending(
    world: &mut DxWorld,
    frame: fn(u32, ChannelName) -> ClientFrame,
    channel: &ChannelName,
    clause: Clause,
) -> Result<(), StepError> {
    let request = next_request(world);
    let bytes = frame(request, channel.clone()).encode();
    send_pending(world, bytes, Pending::on(request, channel, clause)).await
}

fn subscribe(request: u32, channel: ChannelName) -> ClientFrame {
    ClientFrame::Subscribe { request, channel }
}

fn unsubscribe(request: u32, channel: ChannelName) -> ClientFrame {
    ClientFrame::Unsubscribe { request, channel }
}

fn first_subscribed(world: &DxWorld) -> Result<ChannelName, StepError> {
    world
        .sync()
        .subscribed
        .first()
        .map(|(c, _)| c.clone())
        .ok_or_else(|| StepError::plain("a channel I subscribed to earlier", "none"))
}

fn refused_channel(world: &DxWorld) -> Result<ChannelName, StepError> {
    world
        .sync()
        .refused
        .clone()
        .ok_or_else(|| StepError::plain("a channel refused earlier", "none"))
}

#[when("I subscribe to my first channel again")]
async fn subscribe_first_again(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = first_subscribed(world)?;
        channel_pending(world, subscribe, &channel, sc::RESUBSCRIBE).await
    }
    .await;
    world.settle(result)
}

#[when("I subscribe to one channel more")]
async fn subscribe_one_more(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = fresh_channel("feature-sync-beyond")?;
        world.sync_mut().refused = Some(channel.clone());
        channel_pending(world, subscribe, &channel, sc::TOO_MANY_CHANNELS).await
    }
    .await;
    world.settle(result)
}

#[when("I subscribe to the refused channel again")]
async fn subscribe_refused_again(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = refused_channel(world)?;
        channel_pending(world, subscribe, &channel, sc::TOO_MANY_CHANNELS).await
    }
    .await;
    world.settle(result)
}

#[when("I unsubscribe from my first channel")]
async fn unsubscribe_first(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = first_subscribed(world)?;
        channel_pending(world, unsubscribe, &channel, sc::UNSUBSCRIBED).await
    }
    .await;
    world.settle(result)
}

#[when("I unsubscribe from that channel")]
async fn unsubscribe_that(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = pending_channel(&pending(world)?)?;
        channel_pending(world, unsubscribe, &channel, sc::NOBODY_SUBSCRIBED).await
    }
    .await;
    world.settle(result)
}

#[when("I ask for the presence on a channel nobody is subscribed to")]
async fn presence_of_nobody(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = fresh_channel("feature-sync-nobody")?;
        let request = next_request(world);
        let frame = ClientFrame::Presence {
            request,
            channel: channel.clone(),
        };
        let pending = Pending::on(request, &channel, sc::NOBODY_SUBSCRIBED);
        send_pending(world, frame.encode(), pending).await
    }
    .await;
    world.settle(result)
}

#[when("another user publishes to the refused channel, then to my first and my last channel")]
async fn other_publishes(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        let target = world.target()?.clone();
        let refused = refused_channel(world)?;
        let first = first_subscribed(world)?;
        let last = world
            .sync()
            .subscribed
            .last()
            .map(|(c, _)| c.clone())
            .unwrap_or_else(|| first.clone());
        if world.sync().other.is_none() {
            let (user, token) = sync::user(&target, &area, "feature-sync-other").await?;
            world.sync_mut().other = Some(Peer::connect(&area, &user, &token).await?);
        }
        for channel in [refused, first, last] {
            let request = next_request(world);
            other_peer(world)?
                .send(&ClientFrame::Publish {
                    request,
                    ack: false,
                    channel: channel.clone(),
                    payload: channel.as_str().as_bytes().to_vec(),
                })
                .await?;
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

#[then("I receive the messages of my first and my last channel, and none of the refused one")]
async fn receive_held(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let refused = refused_channel(world)?;
        let mut owed: Vec<ChannelName> = Vec::new();
        for (channel, _) in [world.sync().subscribed.first(), world.sync().subscribed.last()]
            .into_iter()
            .flatten()
        {
            if !owed.contains(channel) {
                owed.push(channel.clone());
            }
        }
        let peer = my_peer(world)?;
        // Until every owed message came, then a moment more for one that must not come.
        loop {
            let wait = if owed.is_empty() { QUIET } else { WAIT };
            let heard = next_answer(peer, wait).await?;
            match &heard {
                Heard::Silent if owed.is_empty() => return Ok(()),
                Heard::Frame(ServerFrame::Message { channel, .. }) if *channel == refused => {
                    return Err(failure(
                        peer,
                        format!(
                            "no message of the channel whose subscription was refused ({})",
                            sc::TOO_MANY_CHANNELS.cite()
                        ),
                        describe(&heard, wait),
                    ));
                }
                Heard::Frame(ServerFrame::Message { channel, .. }) if owed.contains(channel) => {
                    owed.retain(|c| c != channel);
                }
                other => {
                    return Err(failure(
                        peer,
                        format!(
                            "the messages of {owed:?}, whose subscriptions came before the refused one ({})",
                            sc::EXACTLY_ONCE.cite()
                        ),
                        describe(other, wait),
                    ));
                }
            }
        }
    }
    .await;
    world.settle(result)
}

#[then("the refused channel's presence list does not name me")]
async fn refused_not_present(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let refused = refused_channel(world)?;
        let (user, _) = me(world)?;
        let request = next_request(world);
        let peer = my_peer(world)?;
        peer.send(&ClientFrame::Presence {
            request,
            channel: refused.clone(),
        })
        .await?;
        let heard = next_answer(peer, WAIT).await?;
        match &heard {
            Heard::Frame(ServerFrame::PresenceList {
                request: r,
                channel: c,
                users,
            }) if *r == request && *c == refused && !users.contains(&user) => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "a PRESENCE_LIST without me: my subscription was refused ({}; {})",
                    sc::TOO_MANY_CHANNELS.cite(),
                    sc::PRESENCE.cite()
                ),
                describe(other, WAIT),
            )),
        }
    }
    .await;
    world.settle(result)
}

#[then("another connection of mine can still subscribe to the refused channel")]
async fn second_connection_subscribes(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        let (user, token) = me(world)?;
        let refused = refused_channel(world)?;
        let mut second = Peer::connect(&area, &user, &token).await?;
        let request = next_request(world);
        second.subscribe(&refused, request).await.map_err(|f| {
            StepError::from(f).with_expected(format!(
                "a second connection of the same user subscribed ({})",
                sc::TOO_MANY_CHANNELS.cite()
            ))
        })?;
        second.close().await;
        Ok(())
    }
    .await;
    world.settle(result)
}

// ---------------------------------------------------------------------------------------
// Answers.

#[then(expr = "I receive ERROR {int} for request {int}")]
async fn error_for(world: &mut DxWorld, code: u16, request: u32) -> Result<(), StepError> {
    let result = expect_error(world, code, &[request], false, WAIT).await;
    world.settle(result)
}

#[then(expr = "I receive ERROR {int} for that request")]
async fn error_for_that(world: &mut DxWorld, code: u16) -> Result<(), StepError> {
    let result = async {
        let request = pending(world)?.request;
        expect_error(world, code, &[request], false, WAIT).await
    }
    .await;
    world.settle(result)
}

#[then(expr = "I receive ERROR {int} for that request on its channel")]
async fn error_on_channel(world: &mut DxWorld, code: u16) -> Result<(), StepError> {
    let result = async {
        let request = pending(world)?.request;
        expect_error(world, code, &[request], true, WAIT).await
    }
    .await;
    world.settle(result)
}

/// A frame refused for its length may be refused before it is read, so its request may be
/// unknown to the server: request 0 is accepted as well as the frame's own.
#[then(expr = "I receive ERROR {int}, for that request or for request 0")]
async fn error_that_or_zero(world: &mut DxWorld, code: u16) -> Result<(), StepError> {
    let result = async {
        let request = pending(world)?.request;
        expect_error(world, code, &[request, 0], false, WAIT).await
    }
    .await;
    world.settle(result)
}

#[then(expr = "within token_check_seconds I receive ERROR {int} for request 0")]
async fn error_within_token_check(world: &mut DxWorld, code: u16) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        let lapsed = world
            .sync()
            .lapsed
            .ok_or_else(|| StepError::plain("a token that stopped holding earlier", "none"))?;
        let deadline = lapsed + area.token_check + TOKEN_CHECK_MARGIN;
        world.sync_mut().pending = Some(Pending {
            request: 0,
            channel: None,
            clause: sc::TOKEN_LAPSED,
            payload: Vec::new(),
        });
        let wait = deadline.saturating_duration_since(Instant::now());
        let pending = pending(world)?;
        let state = world.sync_mut();
        let mine = state.peer.as_mut().ok_or_else(|| {
            StepError::plain("a connection of mine opened earlier in the scenario", "none")
        })?;
        let check = expect_error_on(mine, &pending, code, &[0], true, wait);
        keeping_other_alive(state.other.as_mut(), check)
            .await
            .map_err(|e| {
                e.with_expected(format!(
                    "ERROR {code} with request 0 within token_check_seconds = {:?} (+ {TOKEN_CHECK_MARGIN:?}) of the token no longer holding ({}; {})",
                    area.token_check,
                    sc::TOKEN_CHECK.cite(),
                    sc::TOKEN_LAPSED.cite()
                ))
            })
    }
    .await;
    world.settle(result)
}

#[then(expr = "the server closes the connection with {int}")]
async fn closes_with(world: &mut DxWorld, code: u16) -> Result<(), StepError> {
    let result = async {
        let clause = pending(world)?.clause;
        let peer = my_peer(world)?;
        let heard = next_answer(peer, WAIT).await?;
        match heard {
            Heard::Closed(Some(got)) if got == code => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "a close frame with code {code} right after the ERROR ({})",
                    clause.cite()
                ),
                describe(&other, WAIT),
            )),
        }
    }
    .await;
    world.settle(result)
}

#[then("my connection answers a SUBSCRIBE")]
async fn answers_subscribe(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = fresh_channel("feature-sync-alive")?;
        let request = next_request(world);
        let peer = my_peer(world)?;
        peer.send(&ClientFrame::Subscribe {
            request,
            channel: channel.clone(),
        })
        .await
        .map_err(|f| StepError::from(f).with_expected(sc::STAYS_OPEN.cite()))?;
        let heard = next_answer(peer, WAIT).await?;
        match &heard {
            Heard::Frame(ServerFrame::Subscribed {
                request: r,
                channel: c,
                ..
            }) if *r == request && *c == channel => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "SUBSCRIBED for a new SUBSCRIBE {request}, and nothing before it ({})",
                    sc::STAYS_OPEN.cite()
                ),
                describe(other, WAIT),
            )),
        }
    }
    .await;
    world.settle(result)
}

#[then("it is answered SUBSCRIBED")]
async fn answered_subscribed(world: &mut DxWorld) -> Result<(), StepError> {
    let result = expect_subscribed(world, false).await;
    world.settle(result)
}

#[then("it is answered SUBSCRIBED at the same start as before")]
async fn answered_same_start(world: &mut DxWorld) -> Result<(), StepError> {
    let result = expect_subscribed(world, true).await;
    world.settle(result)
}

/// The pending `SUBSCRIBE` is answered `SUBSCRIBED`; `same_start`: at the position its
/// channel's first subscription started at.
async fn expect_subscribed(world: &mut DxWorld, same_start: bool) -> Result<(), StepError> {
    let pending = pending(world)?;
    let channel = pending_channel(&pending)?;
    let start = world
        .sync()
        .subscribed
        .iter()
        .find(|(c, _)| *c == channel)
        .map(|(_, at)| *at);
    let peer = my_peer(world)?;
    let heard = next_answer(peer, WAIT).await?;
    let at_wanted = |at: &Position| !same_start || Some(*at) == start;
    match &heard {
        Heard::Frame(ServerFrame::Subscribed {
            request,
            channel: c,
            at,
        }) if *request == pending.request && *c == channel && at_wanted(at) => Ok(()),
        other => Err(failure(
            peer,
            format!(
                "SUBSCRIBED for request {} on {channel}{} ({})",
                pending.request,
                if same_start {
                    format!(" at {start:?}")
                } else {
                    String::new()
                },
                pending.clause.cite()
            ),
            describe(other, WAIT),
        )),
    }
}

#[then("I receive UNSUBSCRIBED for that request and channel")]
async fn unsubscribed(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let pending = pending(world)?;
        let channel = pending_channel(&pending)?;
        let peer = my_peer(world)?;
        let heard = next_answer(peer, WAIT).await?;
        match &heard {
            Heard::Frame(ServerFrame::Unsubscribed {
                request,
                channel: c,
            }) if *request == pending.request && *c == channel => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "UNSUBSCRIBED for request {} on {channel} ({})",
                    pending.request,
                    pending.clause.cite()
                ),
                describe(other, WAIT),
            )),
        }
    }
    .await;
    world.settle(result)
}

#[then("I receive an empty PRESENCE_LIST for that request and channel")]
async fn empty_presence(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let pending = pending(world)?;
        let channel = pending_channel(&pending)?;
        let peer = my_peer(world)?;
        let heard = next_answer(peer, WAIT).await?;
        match &heard {
            Heard::Frame(ServerFrame::PresenceList {
                request,
                channel: c,
                users,
            }) if *request == pending.request && *c == channel && users.is_empty() => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "an empty PRESENCE_LIST for request {} on {channel} ({})",
                    pending.request,
                    pending.clause.cite()
                ),
                describe(other, WAIT),
            )),
        }
    }
    .await;
    world.settle(result)
}

#[then("I receive ACK for that request on my channel")]
async fn ack_mine(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let pending = pending(world)?;
        let channel = my_channel(world)?;
        let peer = my_peer(world)?;
        let heard = next_answer(peer, WAIT).await?;
        match &heard {
            Heard::Frame(ServerFrame::Ack {
                request,
                channel: c,
                ..
            }) if *request == pending.request && *c == channel => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "ACK for request {}: a subscriber is on the channel ({})",
                    pending.request,
                    sc::ACK.cite()
                ),
                describe(other, WAIT),
            )),
        }
    }
    .await;
    world.settle(result)
}

#[then("the other user receives that payload on my channel")]
async fn other_receives(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let pending = pending(world)?;
        let channel = my_channel(world)?;
        let peer = other_peer(world)?;
        let heard = next_answer(peer, WAIT).await?;
        match &heard {
            Heard::Frame(ServerFrame::Message {
                channel: c,
                payload,
                ..
            }) if *c == channel && *payload == pending.payload => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "the MESSAGE of my publish {} ({} bytes) ({})",
                    pending.request,
                    pending.payload.len(),
                    sc::EXACTLY_ONCE.cite()
                ),
                describe(other, WAIT),
            )),
        }
    }
    .await;
    world.settle(result)
}

#[then("the other user receives nothing more on my channel")]
async fn other_receives_nothing(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let pending = pending(world)?;
        let peer = other_peer(world)?;
        let heard = next_answer(peer, QUIET).await?;
        match &heard {
            Heard::Silent => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "nothing: my refused publish {} is not published ({})",
                    pending.request,
                    pending.clause.cite()
                ),
                describe(other, QUIET),
            )),
        }
    }
    .await;
    world.settle(result)
}

/// The other user publishes on my channel, to which it is subscribed, and must get its own
/// message and the `ACK`, in either order: its connection is unaffected by what happened to
/// mine (a refusal, a close, a flood).
#[then("the other user's connection is unaffected")]
async fn other_unaffected(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = my_channel(world)?;
        let request = next_request(world);
        let body = payload("unaffected", request as usize, 8);
        let peer = other_peer(world)?;
        let expected = format!(
            "the other connection's own publish {request} answered ACK and delivered to it ({}; {})",
            sc::STAYS_OPEN.cite(),
            sc::EXACTLY_ONCE.cite()
        );
        peer.send(&publish(request, &channel, body.clone()))
            .await
            .map_err(|f| StepError::from(f).with_expected(expected.clone()))?;
        let (mut acked, mut delivered) = (false, false);
        while !(acked && delivered) {
            let heard = next_answer(peer, WAIT).await?;
            match &heard {
                Heard::Frame(ServerFrame::Ack {
                    request: r,
                    channel: c,
                    ..
                }) if *r == request && *c == channel && !acked => acked = true,
                Heard::Frame(ServerFrame::Message {
                    channel: c,
                    payload: p,
                    ..
                }) if *c == channel && *p == body && !delivered => delivered = true,
                other => return Err(failure(peer, expected, describe(other, WAIT))),
            }
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

// ---------------------------------------------------------------------------------------
// Tokens that stop holding.

/// Waits `wait` with both connections alive: each answers the server's pings, as a live
/// client does, and keeps what it hears for the steps after.
async fn idle_both(world: &mut DxWorld, wait: Duration) -> Result<(), StepError> {
    let state = world.sync_mut();
    let (mine, other) = tokio::join!(
        idle(state.peer.as_mut(), wait),
        idle(state.other.as_mut(), wait)
    );
    mine?;
    other?;
    Ok(())
}

/// [`Peer::idle`] for a connection the scenario may not have opened.
async fn idle(peer: Option<&mut Peer>, wait: Duration) -> Result<(), StepError> {
    match peer {
        Some(peer) => Ok(peer.idle(wait).await?),
        None => Ok(()),
    }
}

#[when("my access token is revoked")]
async fn revoke_mine(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        let (_, token) = me(world)?;
        let target = world.target()?;
        let answer = AuthApi::new(target, &area.auth).revoke(&token).await?;
        if answer.status != 200 {
            return Err(StepError::at(&answer, ac::REVOKE_ANSWER.cite()));
        }
        world.sync_mut().lapsed = Some(Instant::now());
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when("my access token expires")]
async fn expire_mine(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let expires = world
            .sync()
            .expires
            .ok_or_else(|| StepError::plain("a token minted to expire while connected", "none"))?;
        idle_both(world, expires.saturating_duration_since(Instant::now())).await?;
        world.sync_mut().lapsed = Some(expires);
        Ok(())
    }
    .await;
    world.settle(result)
}

// ---------------------------------------------------------------------------------------
// A publish flood.

#[when(
    regex = r"^I publish publish_limit\.max_messages \+ (\d+) messages to my channel at once, each asking for acknowledgment$"
)]
async fn flood(world: &mut DxWorld, surplus: u64) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        let channel = my_channel(world)?;
        let count = area.publish_limit.max_messages.saturating_add(surplus);
        let count = u32::try_from(count)
            .map_err(|_| StepError::plain("a flood of at most u32::MAX publishes", count.to_string()))?;
        let first_request = world.sync().last_request + 1;
        world.sync_mut().last_request += count;
        let peer = my_peer(world)?;
        let bodies: Vec<Vec<u8>> = (0..count)
            .map(|i| payload(channel.as_str(), i as usize, 4))
            .collect();
        let started = Instant::now();
        for (i, body) in bodies.iter().enumerate() {
            let request = first_request + i as u32;
            peer.send(&publish(request, &channel, body.clone())).await?;
        }
        // Each publish asked for acknowledgment, so each gets exactly one answer: ACK when
        // admitted (the other user is subscribed), ERROR when refused.
        let mut answers: Vec<Option<ServerFrame>> = vec![None; bodies.len()];
        let mut missing = answers.len();
        while missing > 0 {
            let heard = next_answer(peer, WAIT).await?;
            let request = match &heard {
                Heard::Frame(ServerFrame::Ack { request, .. } | ServerFrame::Error { request, .. }) => *request,
                other => {
                    return Err(failure(
                        peer,
                        format!(
                            "one ACK or ERROR per publish of the flood, {missing} still owed ({}; {})",
                            sc::ACK.cite(),
                            sc::PUBLISH_LIMIT.cite()
                        ),
                        describe(other, WAIT),
                    ));
                }
            };
            let slot = request
                .checked_sub(first_request)
                .and_then(|i| answers.get_mut(i as usize));
            match (slot, heard) {
                (Some(slot @ None), Heard::Frame(frame)) => {
                    *slot = Some(frame);
                    missing -= 1;
                }
                (_, heard) => {
                    return Err(failure(
                        peer,
                        format!(
                            "exactly one answer per publish of the flood ({})",
                            sc::ACK.cite()
                        ),
                        format!("a second or unknown answer: {}", describe(&heard, WAIT)),
                    ));
                }
            }
        }
        let elapsed = started.elapsed();
        let publishes = bodies
            .into_iter()
            .zip(answers.into_iter().flatten())
            .collect();
        world.sync_mut().flood = Some(Flood {
            first_request,
            publishes,
            elapsed,
        });
        Ok(())
    }
    .await;
    world.settle(result)
}

fn flood_of(world: &DxWorld) -> Result<Flood, StepError> {
    world
        .sync()
        .flood
        .clone()
        .ok_or_else(|| StepError::plain("a publish flood earlier in the scenario", "none"))
}

#[then("the first publish_limit.max_messages publishes were acknowledged")]
fn flood_first_admitted(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let area = area(world)?;
        let flood = flood_of(world)?;
        let limit = usize::try_from(area.publish_limit.max_messages).unwrap_or(usize::MAX);
        let refused_early = flood
            .publishes
            .iter()
            .take(limit)
            .enumerate()
            .find(|(_, (_, answer))| !matches!(answer, ServerFrame::Ack { .. }));
        match refused_early {
            None => Ok(()),
            Some((i, (_, answer))) => Err(StepError::plain(
                format!(
                    "ACK for each of the first max_messages = {limit} publishes of a fresh connection ({})",
                    sc::PUBLISH_LIMIT.cite()
                ),
                format!("publish {} of the flood was answered {answer:?}", i + 1),
            )),
        }
    })();
    world.settle(result)
}

#[then("each publish beyond the limit in its window got ERROR 1005 for its request on my channel")]
fn flood_refusals(world: &mut DxWorld) -> Result<(), StepError> {
    let result = (|| {
        let area = area(world)?;
        let channel = my_channel(world)?;
        let flood = flood_of(world)?;
        let limit = area.publish_limit;
        let mut admitted = 0u64;
        let mut refused = 0u64;
        for (i, (_, answer)) in flood.publishes.iter().enumerate() {
            let request = flood.first_request + i as u32;
            match answer {
                ServerFrame::Ack { channel: c, .. } if *c == channel => admitted += 1,
                ServerFrame::Error {
                    request: r,
                    code: dx_conformance::sync_frames::code::RATE_LIMITED,
                    channel: c,
                    ..
                } if *r == request && *c == channel.as_str() => refused += 1,
                other => {
                    return Err(StepError::plain(
                        format!(
                            "ACK, or ERROR 1005 with the publish's request and channel ({}; {})",
                            sc::PUBLISH_LIMIT.cite(),
                            sc::REFUSAL.cite()
                        ),
                        format!("publish {} of the flood was answered {other:?}", i + 1),
                    ));
                }
            }
        }
        // The server received every publish within `elapsed`; any span that long holds at
        // most this many windows' worth of admitted publishes (a sliding window admits at
        // most max_messages in every window_seconds).
        let windows = (flood.elapsed.as_secs_f64() / limit.window.as_secs_f64()).floor() as u64 + 1;
        let allowed = limit.max_messages.saturating_mul(windows);
        if admitted > allowed {
            return Err(StepError::plain(
                format!(
                    "at most {allowed} publishes admitted: max_messages = {} per {:?}, and the flood reached the server within {:?} ({})",
                    limit.max_messages,
                    limit.window,
                    flood.elapsed,
                    sc::PUBLISH_LIMIT.cite()
                ),
                format!("{admitted} acknowledged, {refused} refused"),
            ));
        }
        if refused == 0 {
            return Err(StepError::NotVerified(format!(
                "the target took {:?} to answer the flood, longer than its window of {:?}, so no publish had to be refused",
                flood.elapsed, limit.window
            )));
        }
        Ok(())
    })();
    world.settle(result)
}

#[then("the other user received exactly the acknowledged messages, in order, each once")]
async fn flood_delivered(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = my_channel(world)?;
        let flood = flood_of(world)?;
        let owed: Vec<Vec<u8>> = flood
            .publishes
            .iter()
            .filter(|(_, answer)| matches!(answer, ServerFrame::Ack { .. }))
            .map(|(body, _)| body.clone())
            .collect();
        let expected = format!(
            "the {} acknowledged publishes of the flood, in order, each once, and none refused ({}; {}; {})",
            owed.len(),
            sc::EXACTLY_ONCE.cite(),
            sc::ORDER.cite(),
            sc::PUBLISH_LIMIT.cite()
        );
        let peer = other_peer(world)?;
        let mut got: Vec<(Position, Vec<u8>)> = Vec::new();
        loop {
            let wait = if got.len() < owed.len() { WAIT } else { QUIET };
            let heard = next_answer(peer, wait).await?;
            match heard {
                Heard::Frame(ServerFrame::Message {
                    channel: c,
                    at,
                    payload,
                    ..
                }) if c == channel => got.push((at, payload)),
                Heard::Silent if got.len() >= owed.len() => break,
                other => return Err(failure(peer, expected, describe(&other, wait))),
            }
        }
        let payloads: Vec<&Vec<u8>> = got.iter().map(|(_, p)| p).collect();
        let in_order = got.windows(2).all(|w| w[0].0 < w[1].0);
        if payloads != owed.iter().collect::<Vec<_>>() || !in_order {
            let first_wrong = payloads
                .iter()
                .zip(&owed)
                .position(|(g, o)| *g != o)
                .unwrap_or(payloads.len().min(owed.len()));
            return Err(failure(
                peer,
                expected,
                format!(
                    "{} messages, offsets in order: {in_order}; the first that differs is number {}",
                    got.len(),
                    first_wrong + 1
                ),
            ));
        }
        Ok(())
    }
    .await;
    world.settle(result)
}

#[when("the publish window has passed")]
async fn window_passes(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let area = area(world)?;
        idle_both(world, area.publish_limit.window).await
    }
    .await;
    world.settle(result)
}

#[then("a publish of mine is acknowledged again")]
async fn admitted_again(world: &mut DxWorld) -> Result<(), StepError> {
    let result = async {
        let channel = my_channel(world)?;
        let request = next_request(world);
        let peer = my_peer(world)?;
        peer.send(&publish(request, &channel, b"after the window".to_vec()))
            .await?;
        let heard = next_answer(peer, WAIT).await?;
        match &heard {
            Heard::Frame(ServerFrame::Ack { request: r, .. }) if *r == request => Ok(()),
            other => Err(failure(
                peer,
                format!(
                    "ACK: the flood's publishes are older than the window now ({})",
                    sc::PUBLISH_LIMIT.cite()
                ),
                describe(other, WAIT),
            )),
        }
    }
    .await;
    world.settle(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_read_as_written() {
        assert_eq!(size_of("max_payload", 100), Some(100));
        assert_eq!(size_of("max_payload + 1", 100), Some(101));
        assert_eq!(size_of("max_payload + 1025", 100), Some(1125));
        assert_eq!(size_of("4 × (max_payload + 1024) + 1", 100), Some(4497));
        assert_eq!(size_of("twice max_payload", 100), None);
    }

    #[test]
    fn channel_names_are_read_as_written() {
        assert_eq!(channel_bytes("\"\""), Some(Vec::new()));
        assert_eq!(channel_bytes("\"a b\""), Some(b"a b".to_vec()));
        assert_eq!(channel_bytes("\"c\" × 3"), Some(b"ccc".to_vec()));
        assert_eq!(
            channel_bytes("the bytes 61 00 ff"),
            Some(vec![0x61, 0, 0xff])
        );
        assert_eq!(channel_bytes("the bytes zz"), None);
        assert_eq!(channel_bytes("unquoted"), None);
    }

    #[test]
    fn frames_naming_channels_decode_as_the_spec_lays_them_out() {
        let frame = naming("a PUBLISH", 9, b"room").unwrap();
        let decoded = ClientFrame::decode(&frame).unwrap();
        assert_eq!(
            decoded,
            ClientFrame::Publish {
                request: 9,
                ack: true,
                channel: ChannelName::new("room").unwrap(),
                payload: b"hostile".to_vec(),
            }
        );
        for kind in ["a SUBSCRIBE", "an UNSUBSCRIBE", "a PRESENCE"] {
            let frame = naming(kind, 9, b"room").unwrap();
            assert_eq!(ClientFrame::decode(&frame).unwrap().request(), 9, "{kind}");
        }
        assert!(naming("a RESUME", 9, b"room").is_none());
    }

    /// The suite's codec refuses every malformed frame with the code and request the
    /// feature expects, so the frames are malformed in the way their names say.
    #[test]
    fn malformed_frames_are_refused_by_the_spec_codec() {
        let channel = ChannelName::new("room").unwrap();
        let cases = [
            ("empty", 0),
            ("the unknown opcode 0x06", 0),
            ("the unknown opcode 0x00", 0),
            ("a WELCOME, a frame only a server sends", 0),
            ("a SUBSCRIBE cut inside its request", 0),
            ("a SUBSCRIBE cut inside its channel", HOSTILE_REQUEST),
            ("a PUBLISH cut inside its payload", HOSTILE_REQUEST),
            ("a SUBSCRIBE with a byte after its channel", HOSTILE_REQUEST),
            ("a PUBLISH with a byte after its payload", HOSTILE_REQUEST),
            ("a PUBLISH with flag bit 1 set", HOSTILE_REQUEST),
            ("a PUBLISH with flag bit 7 set", HOSTILE_REQUEST),
            (
                "a RESUME announcing two channels and holding one",
                HOSTILE_REQUEST,
            ),
        ];
        for (kind, request) in cases {
            let frame = malformed(kind, &channel).unwrap();
            let error = ClientFrame::decode(&frame).unwrap_err();
            assert_eq!((error.code, error.request), (4000, request), "{kind}");
        }
        assert!(malformed("a frame nobody named", &channel).is_none());
    }
}
