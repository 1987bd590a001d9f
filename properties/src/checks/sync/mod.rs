//! Properties 22-25: the sync module over real WebSockets (`spec/sync.md`). Each case opens
//! its own connections on a channel of its own, so cases never see each other's traffic,
//! authenticated with tokens the conformance mint hook issues to fresh users, or, against a
//! deployment without hooks, with the test accounts given (`--account`), each logged in once
//! per check and taken in turn ([`Users`]). Frames are
//! written and read by the suite's own codec ([`crate::sync_frames`]), never the reference's,
//! so a layout fault in the reference's codec is one the checks can see.

pub mod p22_pubsub_delivery;
pub mod p23_buffer_replay;
pub mod p24_presence_accuracy;
pub mod p25_ack_guarantee;

use std::collections::VecDeque;
use std::time::Duration;

use crate::sync_frames::{ChannelName, Position};
use crate::sync_frames::{ClientFrame, ServerFrame, SessionId};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use crate::cases::{CASES_AT_ONCE, CaseConfig, CaseFailure, for_all_concurrently};
use crate::check::{CheckOutcome, NOT_CONFORMANCE};
use crate::checks::auth::{self, AuthApi, AuthArea};
use crate::checks::support::unique_scope;
use crate::clause::sync as sc;
use crate::target::Target;
use crate::token::Token;
use crate::ws::{WsClient, WsError, ws_url};

/// How long a frame the spec owes may take to arrive.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long the checks listen for a frame that must not come (a duplicate, an answer to a
/// publish without ack). Absence is only ever observed for this long.
pub const QUIET: Duration = Duration::from_millis(150);

/// What the target publishes in `sync`.
#[derive(Debug, Clone)]
pub struct SyncArea {
    /// The endpoint as a `ws://` or `wss://` URL.
    pub url: String,
    /// The endpoint on every instance (`--target` given several times), this target's
    /// first: the checks spread a case's connections over them.
    pub instances: Vec<String>,
    /// The endpoint's path, as published (for plain HTTP requests to it).
    pub endpoint: String,
    /// Messages kept per channel for replay.
    pub buffer_size: u64,
    /// The most frames queued for one connection (`send_queue`), when published.
    pub send_queue: Option<u64>,
    /// The largest payload.
    pub max_payload: u64,
    /// Subscriptions per connection.
    pub max_channels: u64,
    /// How often the server pings each connection.
    pub ping_interval: Duration,
    /// How long a connection may leave pings unanswered before it is dead.
    pub ping_timeout: Duration,
    /// How often, at most, an open connection's token is checked again.
    pub token_check: Duration,
    /// Publishes admitted per connection in one window.
    pub publish_limit: PublishLimit,
    /// The auth area, for minting tokens or logging the test accounts in.
    pub auth: AuthArea,
    /// Where the connections' users come from.
    pub users: Users,
}

/// Where the checks' users come from.
#[derive(Debug, Clone)]
pub enum Users {
    /// The conformance mint hook: a fresh user for every connection.
    Minted,
    /// The test accounts given (`--account`), each logged in once per run (the run's cache)
    /// and taken in turn: connections of different cases share users, so each case keeps
    /// to a channel of its own.
    Accounts,
}

/// `sync.publish_limit`: at most `max_messages` publishes in any `window` on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishLimit {
    /// Publishes admitted per window.
    pub max_messages: u64,
    /// The window.
    pub window: Duration,
}

/// The `sync` area of `target`, or why the checks cannot run.
pub fn area(target: &Target) -> Result<SyncArea, CheckOutcome> {
    let d = target.discovery();
    if !d.offers("sync") {
        return Err(CheckOutcome::NotVerified(
            "the target publishes no sync member".into(),
        ));
    }
    if !d.is_conformance() && target.accounts().is_empty() {
        return Err(CheckOutcome::NotVerified(auth::no_accounts(&d.profile)));
    }
    let mut instances = Vec::new();
    for (i, instance) in target.instances().into_iter().enumerate() {
        let member = instance.discovery().raw.get("sync");
        let endpoint = member
            .and_then(|m| m.get("endpoint"))
            .and_then(Value::as_str);
        match endpoint {
            Some(endpoint) => instances.push(ws_url(instance.base_url(), endpoint)),
            None => {
                return Err(CheckOutcome::NotVerified(format!(
                    "instance {} ({}) does not offer sync",
                    i + 1,
                    instance.base_url()
                )));
            }
        }
    }
    let auth = auth::area(target)?;
    let users = if auth.mint.is_some() {
        Users::Minted
    } else if !auth.accounts.is_empty() {
        Users::Accounts
    } else {
        return Err(CheckOutcome::NotVerified(format!(
            "{NOT_CONFORMANCE}: the target offers no token mint hook to authenticate test users, and no test account was given (--account)"
        )));
    };
    let raw = d.raw.get("sync").cloned().unwrap_or(Value::Null);
    let text = |k: &str| raw.get(k).and_then(Value::as_str).map(str::to_owned);
    // Every member is required and at least 1 (spec/sync.md, "The `sync` member").
    let number = |pointer: &str| {
        raw.pointer(pointer)
            .and_then(Value::as_u64)
            .filter(|n| *n >= 1)
    };
    let limits = (
        number("/buffer_size"),
        number("/max_payload"),
        number("/max_channels"),
        number("/ping_interval_seconds"),
        number("/ping_timeout_seconds"),
        number("/token_check_seconds"),
        number("/publish_limit/max_messages"),
        number("/publish_limit/window_seconds"),
    );
    match (text("endpoint"), limits) {
        (
            Some(endpoint),
            (
                Some(buffer_size),
                Some(max_payload),
                Some(max_channels),
                Some(ping_interval),
                Some(ping_timeout),
                Some(token_check),
                Some(max_messages),
                Some(window),
            ),
        ) => Ok(SyncArea {
            url: ws_url(target.base_url(), &endpoint),
            instances,
            endpoint,
            buffer_size,
            send_queue: raw.get("send_queue").and_then(Value::as_u64),
            max_payload,
            max_channels,
            ping_interval: Duration::from_secs(ping_interval),
            ping_timeout: Duration::from_secs(ping_timeout),
            token_check: Duration::from_secs(token_check),
            publish_limit: PublishLimit {
                max_messages,
                window: Duration::from_secs(window),
            },
            auth,
            users,
        }),
        _ => Err(CheckOutcome::SetupFailed(CaseFailure::plain(
            "a sync member with endpoint, buffer_size, max_payload, max_channels, ping_interval_seconds, ping_timeout_seconds, token_check_seconds and publish_limit, numbers at least 1 (spec/sync.md, \"The `sync` member\")",
            format!("{raw}"),
        ))),
    }
}

/// Runs `case` on `config.cases` inputs from `strategy` against the target's sync area (or
/// says why it cannot): the one way every sync check runs its cases.
pub async fn run_cases<S, F, Fut>(
    target: &Target,
    config: CaseConfig,
    strategy: S,
    case: F,
) -> CheckOutcome
where
    S: proptest::strategy::Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(SyncArea, S::Value) -> Fut,
    Fut: std::future::Future<Output = Result<(), CaseFailure>>,
{
    run_cases_then(target, config, strategy, case, |_| async {
        CheckOutcome::Ran(crate::cases::CaseOutcome::Passed { cases: 0 })
    })
    .await
}

/// [`run_cases`], then `then` once with the same area when every generated case passed: for
/// a check that adds enumerated cases (a slow or silent connection) to its generated ones.
/// When `then` cannot conclude (`CheckOutcome::NotVerified`), the generated cases stand and
/// the verdict names the part left unverified (`CheckOutcome::RanInPart`).
pub async fn run_cases_then<S, F, Fut, T, TFut>(
    target: &Target,
    config: CaseConfig,
    strategy: S,
    case: F,
    then: T,
) -> CheckOutcome
where
    S: proptest::strategy::Strategy,
    S::Value: std::fmt::Debug,
    F: Fn(SyncArea, S::Value) -> Fut,
    Fut: std::future::Future<Output = Result<(), CaseFailure>>,
    T: FnOnce(SyncArea) -> TFut,
    TFut: std::future::Future<Output = CheckOutcome>,
{
    let area = match area(target) {
        Ok(a) => a,
        Err(outcome) => return outcome,
    };
    if let Err(failure) = log_in_accounts(target, &area).await {
        return CheckOutcome::SetupFailed(failure);
    }
    let generated = for_all_concurrently(strategy, config, CASES_AT_ONCE, |input| {
        case(area.clone(), input)
    })
    .await;
    if generated.is_failed() {
        return CheckOutcome::Ran(generated);
    }
    match then(area).await {
        CheckOutcome::Ran(later) => CheckOutcome::Ran(generated.followed_by(later)),
        CheckOutcome::RanInPart {
            outcome,
            unverified,
        } => CheckOutcome::RanInPart {
            outcome: Box::new(generated.followed_by(*outcome)),
            unverified,
        },
        CheckOutcome::NotVerified(unverified) => CheckOutcome::RanInPart {
            outcome: Box::new(generated),
            unverified,
        },
        failed @ CheckOutcome::SetupFailed(_) => failed,
    }
}

/// A channel no other case uses.
pub fn fresh_channel(prefix: &str) -> Result<ChannelName, CaseFailure> {
    let name = unique_scope(&format!("dx-check:{prefix}"));
    ChannelName::new(&name).map_err(|e| CaseFailure::plain(e.to_string(), name))
}

/// Logs every test account in (from the run's cache) before a case opens a connection: a
/// login may wait for the target's `auth` budget, and a connection opened before that wait
/// would sit unread past the ping timeout and be closed as dead.
pub async fn log_in_accounts(target: &Target, area: &SyncArea) -> Result<(), CaseFailure> {
    if let Users::Accounts = area.users {
        let api = AuthApi::new(target, &area.auth);
        for index in 0..area.auth.accounts.len() {
            api.cached_login(index).await?;
        }
    }
    Ok(())
}

/// A user with an access token: a fresh one from the mint hook, else the next test account.
pub async fn user(
    target: &Target,
    area: &SyncArea,
    prefix: &str,
) -> Result<(String, String), CaseFailure> {
    match &area.users {
        Users::Minted => {
            let (sub, token) = user_token(target, area, prefix, "access", 600).await?;
            Ok((sub, token.text))
        }
        Users::Accounts => AuthApi::new(target, &area.auth).next_cached_login().await,
    }
}

/// `n` users with access tokens, distinct as far as there are users: fresh ones from the
/// mint hook, else the next `n` test accounts in turn (repeating when fewer were given).
pub async fn users(
    target: &Target,
    area: &SyncArea,
    prefix: &str,
    n: usize,
) -> Result<Vec<(String, String)>, CaseFailure> {
    // Asked at once: one after another, each costs a round trip.
    match &area.users {
        Users::Minted => futures_util::future::join_all((0..n).map(|_| user(target, area, prefix)))
            .await
            .into_iter()
            .collect(),
        Users::Accounts => {
            let api = AuthApi::new(target, &area.auth);
            let first = area.auth.take_turns(n);
            futures_util::future::join_all((0..n).map(|i| api.cached_login(first + i)))
                .await
                .into_iter()
                .collect()
        }
    }
}

/// A connection of a user of its own (from [`user`]) to the target itself.
pub async fn connected(
    target: &Target,
    area: &SyncArea,
    prefix: &str,
) -> Result<Peer, CaseFailure> {
    let (user, token) = user(target, area, prefix).await?;
    Peer::connect(area, &user, &token).await
}

/// `n` connections, each of a user of its own, connection `i` on instance `i + 1` (in turn
/// over the instances given) and subscribed to `channel` with request `first_request + i`,
/// with where each subscription starts. They are set up at once: one after another, each
/// costs its user, its upgrade and its subscription in round trips.
pub async fn subscribers(
    target: &Target,
    area: &SyncArea,
    prefix: &str,
    channel: &ChannelName,
    n: usize,
    first_request: u32,
) -> Result<Vec<(Peer, Position)>, CaseFailure> {
    let one = |i: usize| async move {
        let (user, token) = user(target, area, prefix).await?;
        let mut peer = Peer::connect_on(area, i + 1, &user, &token).await?;
        let request = first_request + u32::try_from(i).unwrap_or(u32::MAX - first_request);
        let at = peer.subscribe(channel, request).await?;
        Ok((peer, at))
    };
    futures_util::future::join_all((0..n).map(one))
        .await
        .into_iter()
        .collect()
}

/// Two different users, for a case about one user's session named by another: not
/// verifiable with a single test account.
pub async fn two_users(
    target: &Target,
    area: &SyncArea,
    prefix: &str,
) -> Result<[(String, String); 2], CaseFailure> {
    if let Users::Accounts = area.users
        && area.auth.accounts.len() < 2
    {
        return Err(CaseFailure::blocked(
            "a case needs two different users, and one test account was given (give two with --account)",
        ));
    }
    let mut both = users(target, area, prefix, 2).await?.into_iter();
    match (both.next(), both.next()) {
        (Some(a), Some(b)) => Ok([a, b]),
        _ => Err(CaseFailure::blocked("two users could not be had")),
    }
}

/// A fresh user and a token of `typ` for them expiring `ttl_seconds` from now (negative:
/// expired already), from the mint hook: what the checks of tokens that do not hold use.
/// Test accounts only log in, so without the hook such a case is not verified.
pub async fn user_token(
    target: &Target,
    area: &SyncArea,
    prefix: &str,
    typ: &str,
    ttl_seconds: i64,
) -> Result<(String, Token), CaseFailure> {
    if area.auth.mint.is_none() {
        return Err(CaseFailure::blocked(format!(
            "a {typ} token expiring {ttl_seconds} s from now needs the conformance profile's mint hook; test accounts only log in"
        )));
    }
    let sub = unique_scope(prefix);
    let token = AuthApi::new(target, &area.auth)
        .mint(&sub, typ, ttl_seconds)
        .await?;
    Ok((sub, token))
}

/// One WebSocket connection of a user, speaking `spec/sync.md`'s frames.
#[derive(Debug)]
pub struct Peer {
    ws: WsClient,
    /// The user id.
    pub user: String,
    /// The session `WELCOME` named.
    pub session: SessionId,
    /// What [`Peer::idle`] heard, for the next [`Peer::hear`] calls, oldest first.
    heard: VecDeque<Heard>,
}

/// What a connection heard: a frame, the server closing it, or nothing within the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Heard {
    /// A frame.
    Frame(ServerFrame),
    /// The server closed the connection: the code of its close frame, `None` when the
    /// connection ended without one.
    Closed(Option<u16>),
    /// Nothing within the wait.
    Silent,
}

impl Peer {
    /// Connects as `user` with `token` and reads `WELCOME`.
    pub async fn connect(area: &SyncArea, user: &str, token: &str) -> Result<Self, CaseFailure> {
        Self::connect_on(area, 0, user, token).await
    }

    /// Connects as `user` with `token` to instance `instance` (counted modulo the
    /// instances given; 0 is the target itself) and reads `WELCOME`.
    pub async fn connect_on(
        area: &SyncArea,
        instance: usize,
        user: &str,
        token: &str,
    ) -> Result<Self, CaseFailure> {
        let auth = format!("Bearer {token}");
        let url = area
            .instances
            .get(instance % area.instances.len().max(1))
            .unwrap_or(&area.url);
        Self::open_at(url, user, &[("authorization", &auth)]).await
    }

    /// Connects as `user` with the upgrade request's extra `headers` (the token in one of
    /// the places `spec/sync.md` allows) and reads `WELCOME`, which must name `user`.
    pub async fn open(
        area: &SyncArea,
        user: &str,
        headers: &[(&str, &str)],
    ) -> Result<Self, CaseFailure> {
        Self::open_at(&area.url, user, headers).await
    }

    async fn open_at(url: &str, user: &str, headers: &[(&str, &str)]) -> Result<Self, CaseFailure> {
        let ws = WsClient::connect(url, headers, WAIT)
            .await
            .map_err(|e| CaseFailure::plain(sc::UPGRADE.cite(), e.to_string()))?;
        let mut peer = Self {
            ws,
            user: user.to_owned(),
            session: [0; 16],
            heard: VecDeque::new(),
        };
        match peer.next().await? {
            ServerFrame::Welcome {
                session, user: u, ..
            } if u == user => {
                peer.session = session;
                Ok(peer)
            }
            other => Err(peer.fail(sc::UPGRADE, format!("the first frame was {other:?}"))),
        }
    }

    /// The subprotocol the server selected when this connection was upgraded.
    pub fn protocol(&self) -> Option<&str> {
        self.ws.protocol()
    }

    /// A command replaying what this connection sent.
    pub fn replay(&self) -> String {
        self.ws.replay()
    }

    /// A failure citing `clause`, with a replay line of what this connection sent.
    pub fn fail(&self, clause: crate::clause::Clause, actual: String) -> CaseFailure {
        CaseFailure {
            expected: clause.cite(),
            actual: format!(
                "{} (connection of {} to {})",
                actual,
                self.user,
                self.ws.url()
            ),
            replay: Some(self.ws.replay()),
            not_verified: None,
        }
    }

    /// Sends a frame.
    pub async fn send(&mut self, frame: &ClientFrame) -> Result<(), CaseFailure> {
        self.send_bytes(frame.encode()).await
    }

    /// Sends `bytes` as one binary message, whatever they hold: the hostile-input checks
    /// send frames no encoder would write. A send that does not finish within [`WAIT`] (a
    /// server that stopped reading) fails rather than hangs.
    pub async fn send_bytes(&mut self, bytes: Vec<u8>) -> Result<(), CaseFailure> {
        match tokio::time::timeout(WAIT, self.ws.send_binary(bytes)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.fail(sc::FRAMES, e.to_string())),
            Err(_) => Err(self.fail(sc::FRAMES, format!("a send did not finish within {WAIT:?}"))),
        }
    }

    /// Sends a text message (which `spec/sync.md` refuses).
    pub async fn send_text(&mut self, text: &str) -> Result<(), CaseFailure> {
        match tokio::time::timeout(WAIT, self.ws.send_text(text)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(self.fail(sc::FRAMES, e.to_string())),
            Err(_) => Err(self.fail(sc::FRAMES, format!("a send did not finish within {WAIT:?}"))),
        }
    }

    /// What the connection hears within `wait`: the next frame, the server's close, or
    /// nothing. Any message that is not a frame of `spec/sync.md` fails.
    pub async fn hear(&mut self, wait: Duration) -> Result<Heard, CaseFailure> {
        match self.heard.pop_front() {
            Some(heard) => Ok(heard),
            None => self.read(wait).await,
        }
    }

    /// Stays connected for `wait` as a live client does, answering the server's pings (a
    /// connection that answers none is dead after `ping_timeout_seconds`), and keeps what
    /// arrives meanwhile for the next [`Peer::hear`] calls. For a check that waits longer
    /// than the ping timeout (for a token to expire) while a connection must stay alive.
    pub async fn idle(&mut self, wait: Duration) -> Result<(), CaseFailure> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if matches!(self.heard.back(), Some(Heard::Closed(_))) {
                // Nothing more can arrive.
                tokio::time::sleep_until(deadline).await;
                return Ok(());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.read(left).await? {
                Heard::Silent => return Ok(()),
                heard => self.heard.push_back(heard),
            }
        }
    }

    /// Answers the pings that have arrived, keeping any frame for the next [`Peer::hear`]
    /// calls: a connection a case holds without reading it (a subscriber waiting while the
    /// others take their steps) stays alive however long the case takes. Unread past
    /// `ping_timeout_seconds`, the server rightly finds it dead, and its user leaves.
    pub async fn keep_alive(&mut self) -> Result<(), CaseFailure> {
        self.idle(Duration::from_millis(1)).await
    }

    /// The next thing the connection itself delivers within `wait`.
    async fn read(&mut self, wait: Duration) -> Result<Heard, CaseFailure> {
        match self.ws.recv(wait).await {
            Ok(Message::Binary(bytes)) => {
                let frame = ServerFrame::decode(&bytes).map_err(|e| {
                    self.fail(
                        sc::FRAMES,
                        format!("an undecodable frame ({e}): {bytes:02x?}"),
                    )
                })?;
                // Every ERROR heard, in every check and scenario, is judged for leaks.
                if let ServerFrame::Error { code, message, .. } = &frame
                    && let Some(kind) = crate::leaks::find_leak(message)
                {
                    return Err(self.fail(
                        sc::ERROR_MESSAGE,
                        format!(
                            "ERROR {code}'s message reveals {}: {message:?}",
                            kind.describe()
                        ),
                    ));
                }
                Ok(Heard::Frame(frame))
            }
            Ok(other) => Err(self.fail(sc::FRAMES, format!("a non-binary message: {other:?}"))),
            Err(WsError::Timeout { .. }) => Ok(Heard::Silent),
            Err(WsError::Closed { code, .. }) => Ok(Heard::Closed(code)),
            Err(e) => Err(self.fail(sc::FRAMES, e.to_string())),
        }
    }

    /// The next frame within `wait`, `None` when nothing came; the connection closing fails.
    pub async fn within(&mut self, wait: Duration) -> Result<Option<ServerFrame>, CaseFailure> {
        match self.hear(wait).await? {
            Heard::Frame(frame) => Ok(Some(frame)),
            Heard::Silent => Ok(None),
            Heard::Closed(code) => Err(self.fail(
                sc::FRAMES,
                format!("the server closed the connection (close code {code:?})"),
            )),
        }
    }

    /// The next frame the spec owes.
    pub async fn next(&mut self) -> Result<ServerFrame, CaseFailure> {
        match self.within(WAIT).await? {
            Some(frame) => Ok(frame),
            None => Err(self.fail(sc::FRAMES, format!("no frame within {WAIT:?}"))),
        }
    }

    /// The next frame that is not a presence event.
    pub async fn next_quiet(&mut self) -> Result<ServerFrame, CaseFailure> {
        loop {
            match self.next().await? {
                ServerFrame::PresenceEvent { .. } => continue,
                frame => return Ok(frame),
            }
        }
    }

    /// Subscribes to `channel`; where the subscription starts.
    pub async fn subscribe(
        &mut self,
        channel: &ChannelName,
        request: u32,
    ) -> Result<Position, CaseFailure> {
        let frame = ClientFrame::Subscribe {
            request,
            channel: channel.clone(),
        };
        self.send(&frame).await?;
        match self.next_quiet().await? {
            ServerFrame::Subscribed {
                request: r,
                channel: c,
                at,
            } if r == request && c == *channel => Ok(at),
            other => Err(self.fail(
                sc::SUBSCRIBED_AT,
                format!("SUBSCRIBE {request} was answered {other:?}"),
            )),
        }
    }

    /// Drops the connection without a close frame (an abrupt disconnect).
    pub fn vanish(self) {
        drop(self.ws);
    }

    /// Closes the connection politely.
    pub async fn close(self) {
        // The server may have closed it already: nothing more to do then.
        let _ = self.ws.close().await;
    }
}

/// The payload of message `i` of a case: distinct per message and per case.
pub fn payload(case: &str, i: usize, len: usize) -> Vec<u8> {
    let mut bytes = format!("{case}#{i}:").into_bytes();
    bytes.extend((0..len).map(|k| (k * 31 + i) as u8));
    bytes
}
