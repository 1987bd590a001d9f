//! [`WebSocketManager`]: one instance's side of the sync module (`spec/sync.md`). It keeps
//! the instance's connections and their subscriptions, answers their frames, and moves the
//! broker's feed into the connections' send queues. Transport-free: a connection is a
//! bounded queue of frames to send and a kill switch, so the protocol is tested without
//! sockets (`connection` pumps a real WebSocket through it).
//!
//! Every frame for a connection goes through its one bounded queue, so answers and
//! messages keep their order; a queue that is full means a subscriber too slow to keep up,
//! which is closed with 3004 instead of slowing anyone else or growing memory.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::broker::{Broker, BrokerError, Envelope, FeedItem};
use crate::buffer::Replay;
use crate::channel::{ChannelName, Position};
use crate::channels::{ChannelManager, ConnectionId, Route};
use crate::frame::{ClientFrame, ServerFrame, SessionId, code};
use crate::mutants::{SyncMutant, SyncMutations};
use crate::outbox::Outgoing;

/// The limits `spec/sync.md` publishes in the `sync` member.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Messages kept per channel for replay.
    pub buffer_size: u32,
    /// How long they are kept.
    pub retention: Duration,
    /// The largest payload.
    pub max_payload: u32,
    /// Subscriptions per connection.
    pub max_channels: u16,
    /// Frames waiting to be sent per connection before it counts as too slow.
    pub send_queue: usize,
    /// How often connections are pinged.
    pub ping_interval: Duration,
    /// How long a connection may leave pings unanswered before it counts as dead.
    pub ping_timeout: Duration,
    /// How often an open connection's token is checked again.
    pub token_check: Duration,
    /// Publishes per connection in `publish_window`.
    pub publish_limit: u32,
    /// The publish limit's window.
    pub publish_window: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        Self {
            buffer_size: 1000,
            retention: Duration::from_secs(300),
            max_payload: 64 * 1024,
            max_channels: 256,
            send_queue: 1024,
            ping_interval: Duration::from_secs(15),
            ping_timeout: Duration::from_secs(30),
            token_check: Duration::from_secs(5),
            publish_limit: 1000,
            publish_window: Duration::from_secs(1),
        }
    }
}

/// Why a connection is being closed by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close {
    /// The WebSocket close code.
    pub code: u16,
    /// The close reason.
    pub reason: &'static str,
    /// The `ERROR` frame to send before closing, if it still fits.
    pub error: Option<ServerFrame>,
}

/// A connection the manager knows: what it must send, and when it must close.
#[derive(Debug)]
pub struct Connection {
    /// Its id.
    pub id: ConnectionId,
    /// Its session (`WELCOME`).
    pub session: SessionId,
    /// Frames to send, in order (`WELCOME` first).
    pub outbox: mpsc::Receiver<Outgoing>,
    /// Fires when the server closes the connection.
    pub kill: oneshot::Receiver<Close>,
}

#[derive(Debug)]
struct Conn {
    user: Arc<str>,
    session: SessionId,
    outbox: mpsc::Sender<Outgoing>,
    kill: Option<oneshot::Sender<Close>>,
    publishes: VecDeque<Instant>,
}

#[derive(Debug)]
struct Local {
    channels: ChannelManager,
    connections: HashMap<ConnectionId, Conn>,
}

/// The public message of a code, as `ERROR` carries it (`spec/error-codes.md`).
fn message_of(code: u16) -> &'static str {
    match code {
        1002 => "Token expired",
        1004 => "Token revoked",
        1005 => "Too many requests",
        3001 => "Sync connection lost",
        3002 => "Channel not found",
        3003 => "Message delivery failed",
        3004 => "Message buffer overflow",
        4000 => "Bad request",
        4001 => "Validation failed",
        4013 => "Payload too large",
        5003 => "Server resources exhausted",
        _ => "Internal server error",
    }
}

/// An `ERROR` frame.
pub fn error_frame(request: u32, code: u16, channel: &str) -> ServerFrame {
    ServerFrame::Error {
        request,
        code,
        channel: channel.to_owned(),
        message: message_of(code).to_owned(),
    }
}

/// One instance's connections, subscriptions and delivery.
#[derive(Debug)]
pub struct WebSocketManager {
    config: SyncConfig,
    broker: Arc<dyn Broker>,
    local: Mutex<Local>,
    next_id: AtomicU64,
    mutations: SyncMutations,
    /// Set by [`WebSocketManager::shut_down`]: every connection, even one opened after it,
    /// is closed with 1001.
    shutting_down: AtomicBool,
}

/// The close code of a server going away (RFC 6455 §7.4.1), sent to every connection when
/// the server shuts down (requirement 7.4).
pub const CLOSE_GOING_AWAY: u16 = 1001;

fn going_away() -> Close {
    Close {
        code: CLOSE_GOING_AWAY,
        reason: "server shutting down",
        error: None,
    }
}

impl WebSocketManager {
    /// A manager over `broker`; [`WebSocketManager::start`] runs its delivery.
    pub fn new(config: SyncConfig, broker: Arc<dyn Broker>) -> Arc<Self> {
        Arc::new(Self {
            local: Mutex::new(Local {
                channels: ChannelManager::new(usize::from(config.max_channels)),
                connections: HashMap::new(),
            }),
            config,
            broker,
            next_id: AtomicU64::new(1),
            mutations: SyncMutations::none(),
            shutting_down: AtomicBool::new(false),
        })
    }

    /// A manager running with `mutations` (the suite's mutant tests).
    pub fn with_mutations(
        config: SyncConfig,
        broker: Arc<dyn Broker>,
        mutations: SyncMutations,
    ) -> Arc<Self> {
        Arc::new(Self {
            local: Mutex::new(Local {
                channels: ChannelManager::new(usize::from(config.max_channels)),
                connections: HashMap::new(),
            }),
            config,
            broker,
            next_id: AtomicU64::new(1),
            mutations,
            shutting_down: AtomicBool::new(false),
        })
    }

    /// Spawns the task that delivers the broker's feed (once; later calls do nothing).
    pub fn start(self: &Arc<Self>) {
        let Some(mut feed) = self.broker.take_feed() else {
            return;
        };
        let manager = Arc::clone(self);
        tokio::spawn(async move {
            while let Some(item) = feed.recv().await {
                manager.deliver(item).await;
            }
        });
    }

    /// The limits in force.
    pub fn config(&self) -> &SyncConfig {
        &self.config
    }

    /// The broker's name (`sync.broker`).
    pub fn broker_name(&self) -> &'static str {
        self.broker.name()
    }

    fn local(&self) -> MutexGuard<'_, Local> {
        // Every update is a single call on the maps, so a poisoned lock is consistent.
        self.local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a connection of `user` with a new session; its queue starts with `WELCOME`.
    pub async fn connect(&self, user: &str, session: SessionId) -> Result<Connection, BrokerError> {
        self.broker.session_open(session, user).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.config.send_queue.max(1));
        let (kill_tx, kill_rx) = oneshot::channel();
        let welcome = ServerFrame::Welcome {
            session,
            user: user.to_owned(),
            buffer_size: self.config.buffer_size,
            retention_seconds: u32::try_from(self.config.retention.as_secs()).unwrap_or(u32::MAX),
            max_payload: self.config.max_payload,
            max_channels: self.config.max_channels,
        };
        // The queue is new and holds at least one frame.
        let _ = tx.try_send(welcome.into());
        let mut local = self.local();
        // Read under the lock `shut_down` takes after setting it: a connection registered
        // while the server shuts down is closed by one or the other, never missed.
        let kill = if self.shutting_down.load(Ordering::SeqCst) {
            let _ = kill_tx.send(going_away());
            None
        } else {
            Some(kill_tx)
        };
        local.connections.insert(
            id,
            Conn {
                user: user.into(),
                session,
                outbox: tx,
                kill,
                publishes: VecDeque::new(),
            },
        );
        drop(local);
        Ok(Connection {
            id,
            session,
            outbox: rx,
            kill: kill_rx,
        })
    }

    /// Forgets a connection that closed (or died): its subscriptions end, its users leave.
    pub async fn disconnect(&self, conn: ConnectionId) {
        let (user, session, channels) = {
            let mut local = self.local();
            let Some(c) = local.connections.remove(&conn) else {
                return;
            };
            let channels = local.channels.remove_connection(conn);
            (c.user, c.session, channels)
        };
        for channel in &channels {
            self.log(self.broker.listen(channel, false).await);
            // Mutant: the user stays listed after their connection closed.
            if !self.mutations.is(SyncMutant::PresenceKeptOnDisconnect) {
                self.log(self.broker.presence_leave(channel, &user).await);
            }
        }
        self.log(self.broker.session_close(session).await);
    }

    fn log(&self, result: Result<(), BrokerError>) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "sync broker operation failed");
        }
    }

    /// Queues `frame` for `conn`; a full queue closes the connection with 3004.
    fn send(local: &mut Local, conn: ConnectionId, frame: impl Into<Outgoing>) -> bool {
        let Some(c) = local.connections.get_mut(&conn) else {
            return false;
        };
        match c.outbox.try_send(frame.into()) {
            Ok(()) => true,
            Err(_) => {
                if let Some(kill) = c.kill.take() {
                    let _ = kill.send(Close {
                        code: 4004,
                        reason: "send queue overflow",
                        error: Some(error_frame(0, code::BUFFER_OVERFLOW, "")),
                    });
                }
                false
            }
        }
    }

    /// Closes every connection with 1001 (going away) because the server is shutting down
    /// (requirement 7.4), and every connection opened from now on as soon as it opens.
    /// Each closes as usual: its subscriptions end, its session stays resumable on another
    /// instance. Returns how many were told.
    pub fn shut_down(&self) -> usize {
        self.shutting_down.store(true, Ordering::SeqCst);
        let mut local = self.local();
        let mut told = 0;
        for c in local.connections.values_mut() {
            if let Some(kill) = c.kill.take() {
                let _ = kill.send(going_away());
                told += 1;
            }
        }
        told
    }

    /// How many connections are open (registered and not yet forgotten).
    pub fn connection_count(&self) -> usize {
        self.local().connections.len()
    }

    /// Closes `conn` from outside (its token expired or was revoked).
    pub fn close(&self, conn: ConnectionId, close: Close) {
        if let Some(kill) = self
            .local()
            .connections
            .get_mut(&conn)
            .and_then(|c| c.kill.take())
        {
            let _ = kill.send(close);
        }
    }

    /// Queues an `ERROR` (or any frame) for `conn`, after what is queued already.
    pub fn refuse(&self, conn: ConnectionId, frame: ServerFrame) {
        self.reply(conn, frame);
    }

    fn reply(&self, conn: ConnectionId, frame: ServerFrame) {
        Self::send(&mut self.local(), conn, frame);
    }

    /// Answers one frame of `conn`.
    pub async fn handle(&self, conn: ConnectionId, frame: ClientFrame) {
        let user = match self.local().connections.get(&conn) {
            Some(c) => Arc::clone(&c.user),
            None => return,
        };
        let request = frame.request();
        let result = match frame {
            ClientFrame::Subscribe { request, channel } => {
                self.subscribe(conn, &user, request, &channel, None).await
            }
            ClientFrame::Unsubscribe { request, channel } => {
                self.unsubscribe(conn, &user, request, &channel).await
            }
            ClientFrame::Publish {
                request,
                ack,
                channel,
                payload,
            } => {
                self.publish(conn, &user, request, ack, &channel, payload)
                    .await
            }
            ClientFrame::Presence { request, channel } => {
                let users = self.broker.presence(&channel).await;
                users.map(|users| {
                    self.reply(
                        conn,
                        ServerFrame::PresenceList {
                            request,
                            channel,
                            users,
                        },
                    )
                })
            }
            ClientFrame::Resume {
                request,
                session,
                channels,
            } => self.resume(conn, &user, request, session, channels).await,
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "sync broker operation failed");
            self.reply(conn, error_frame(request, 3001, ""));
        }
    }

    /// Subscribes `conn` to `channel`: afresh (`SUBSCRIBED`), or resuming after `from`
    /// (the missed messages, then `RESUMED`; or 3004 and afresh when they are not all kept).
    async fn subscribe(
        &self,
        conn: ConnectionId,
        user: &str,
        request: u32,
        channel: &ChannelName,
        resume_from: Option<Position>,
    ) -> Result<(), BrokerError> {
        {
            let mut local = self.local();
            if let Some(at) = local.channels.position(conn, channel) {
                // Subscribed already: nothing changes; the answer names where it stands.
                let channel = channel.clone();
                let frame = match resume_from {
                    None => ServerFrame::Subscribed {
                        request,
                        channel,
                        at,
                    },
                    Some(_) => ServerFrame::Resumed {
                        request,
                        channel,
                        at,
                    },
                };
                Self::send(&mut local, conn, frame);
                return Ok(());
            }
            if local.channels.count_of(conn) >= usize::from(self.config.max_channels) {
                Self::send(
                    &mut local,
                    conn,
                    error_frame(request, code::RESOURCE_EXHAUSTED, channel.as_str()),
                );
                return Ok(());
            }
        }
        // Listen before reading the head: a message published from then on arrives on the
        // feed, and the subscription's start says whether it is owed. The broker counts
        // subscriptions: each `listen(true)` is matched by one `listen(false)` when the
        // subscription ends or never comes to be.
        self.broker.listen(channel, true).await?;
        let head = match self.broker.head(channel).await {
            Ok(head) => head,
            Err(e) => {
                self.log(self.broker.listen(channel, false).await);
                return Err(e);
            }
        };
        let resuming = match resume_from {
            Some(from) if from.epoch == head.epoch && from.offset <= head.offset => Some(from),
            Some(_) => {
                // Another epoch, or a position the channel never reached: not resumable.
                self.reply(
                    conn,
                    error_frame(request, code::BUFFER_OVERFLOW, channel.as_str()),
                );
                None
            }
            None => None,
        };
        let start = resuming.unwrap_or(head);
        // Present before the answer: a presence query sent after `SUBSCRIBED` sees the user.
        if let Err(e) = self.broker.presence_join(channel, user).await {
            self.log(self.broker.listen(channel, false).await);
            return Err(e);
        }
        let registered = {
            let mut local = self.local();
            let registered = local.connections.contains_key(&conn)
                && local.channels.subscribe(conn, channel, start).is_ok();
            if !registered {
                let frame = error_frame(request, code::RESOURCE_EXHAUSTED, channel.as_str());
                Self::send(&mut local, conn, frame);
            } else if resuming.is_none() {
                let frame = ServerFrame::Subscribed {
                    request,
                    channel: channel.clone(),
                    at: head,
                };
                Self::send(&mut local, conn, frame);
            }
            registered
        };
        if !registered {
            // The connection closed, or filled its subscriptions, meanwhile.
            self.log(self.broker.listen(channel, false).await);
            return self.broker.presence_leave(channel, user).await;
        }
        // Catch up: what was published after `start` and before the subscription took
        // effect (the feed carries everything later; duplicates are skipped).
        match (self.catch_up(conn, channel, start).await?, resuming) {
            (Some(upto), Some(_)) => {
                let frame = ServerFrame::Resumed {
                    request,
                    channel: channel.clone(),
                    at: upto,
                };
                self.reply(conn, frame);
            }
            (Some(_), None) => {}
            (None, Some(_)) => {
                // The history no longer holds what was missed: say so, start afresh.
                self.reply(
                    conn,
                    error_frame(request, code::BUFFER_OVERFLOW, channel.as_str()),
                );
                let head = self.broker.head(channel).await?;
                let mut local = self.local();
                local.channels.restart(conn, channel, head);
                let frame = ServerFrame::Subscribed {
                    request,
                    channel: channel.clone(),
                    at: head,
                };
                Self::send(&mut local, conn, frame);
            }
            (None, None) => self.lost(conn, channel),
        }
        Ok(())
    }

    /// Delivers to `conn` every kept message of `channel` after `from` it has not had; the
    /// position it is caught up to, or `None` when the history has a gap there.
    async fn catch_up(
        &self,
        conn: ConnectionId,
        channel: &ChannelName,
        from: Position,
    ) -> Result<Option<Position>, BrokerError> {
        let mut messages = match self.broker.replay(channel, from).await? {
            Replay::Messages(messages) => messages,
            // Mutant: what is kept is replayed as if it were everything.
            Replay::Gap if self.mutations.is(SyncMutant::SilentGap) => {
                let head = self.broker.head(channel).await?;
                let oldest = Position {
                    epoch: head.epoch,
                    offset: head
                        .offset
                        .saturating_sub(u64::from(self.config.buffer_size)),
                };
                let Replay::Messages(kept) = self.broker.replay(channel, oldest).await? else {
                    return Ok(None);
                };
                self.local().channels.restart(conn, channel, oldest);
                kept
            }
            Replay::Gap => return Ok(None),
        };
        let out_of_order = self.mutations.is(SyncMutant::ReplayOutOfOrder);
        if out_of_order {
            // Mutant: the missed messages newest first.
            messages.reverse();
        }
        let mut local = self.local();
        if self.mutations.is(SyncMutant::DuplicateOnResume) && from.offset > 0 {
            // Mutant: the last message the client had, again.
            let again = ServerFrame::Message {
                channel: channel.clone(),
                at: from,
                sender: String::new(),
                payload: Vec::new(),
            };
            Self::send(&mut local, conn, again);
        }
        let mut upto = from;
        for m in messages {
            let at = Position {
                epoch: from.epoch,
                offset: m.offset,
            };
            upto = upto.max(at);
            if !out_of_order && local.channels.route(conn, channel, at) != Some(Route::Deliver) {
                continue;
            }
            let frame = ServerFrame::Message {
                channel: channel.clone(),
                at,
                sender: m.sender.to_string(),
                payload: m.payload.to_vec(),
            };
            if !Self::send(&mut local, conn, frame) {
                break;
            }
            local.channels.delivered(conn, channel, at);
        }
        if out_of_order {
            local.channels.restart(conn, channel, upto);
        }
        Ok(Some(upto))
    }

    async fn unsubscribe(
        &self,
        conn: ConnectionId,
        user: &str,
        request: u32,
        channel: &ChannelName,
    ) -> Result<(), BrokerError> {
        let was = self.local().channels.unsubscribe(conn, channel);
        // Left before the answer: a presence query sent after `UNSUBSCRIBED` never sees
        // the user on the channel's account.
        if was {
            self.log(self.broker.listen(channel, false).await);
            self.broker.presence_leave(channel, user).await?;
        }
        let frame = ServerFrame::Unsubscribed {
            request,
            channel: channel.clone(),
        };
        self.reply(conn, frame);
        Ok(())
    }

    async fn publish(
        &self,
        conn: ConnectionId,
        user: &Arc<str>,
        request: u32,
        ack: bool,
        channel: &ChannelName,
        payload: Vec<u8>,
    ) -> Result<(), BrokerError> {
        if payload.len() > self.config.max_payload as usize {
            self.reply(
                conn,
                error_frame(request, code::PAYLOAD_TOO_LARGE, channel.as_str()),
            );
            return Ok(());
        }
        if !self.admit_publish(conn) {
            self.reply(
                conn,
                error_frame(request, code::RATE_LIMITED, channel.as_str()),
            );
            return Ok(());
        }
        // This instance's own subscribers, counted before the message is appended. When
        // the broker's feed is down (a Redis that restarted empty, a pub/sub connection
        // reconnecting) no instance reports them, yet the channel had subscribers: the
        // answer is then 3003, a false negative spec/sync.md allows, never 3002.
        let had_local = ack && self.local().channels.has_subscribers(channel);
        let published = self
            .broker
            .publish(channel, Arc::clone(user), payload.into(), ack)
            .await?;
        if let Some(delivery) = published.delivery {
            // Mutant: acknowledged whether or not anyone received it.
            let reached =
                delivery.reached > 0 || self.mutations.is(SyncMutant::AckWithoutSubscriber);
            let answer = if reached {
                ServerFrame::Ack {
                    request,
                    channel: channel.clone(),
                    at: published.at,
                }
            } else {
                ServerFrame::Nack {
                    request,
                    code: if delivery.had_subscribers || had_local {
                        code::DELIVERY_FAILED
                    } else {
                        code::CHANNEL_NOT_FOUND
                    },
                    channel: channel.clone(),
                    at: published.at,
                }
            };
            self.reply(conn, answer);
        }
        Ok(())
    }

    /// The per-connection sliding window of publishes.
    fn admit_publish(&self, conn: ConnectionId) -> bool {
        let now = Instant::now();
        let mut local = self.local();
        let Some(c) = local.connections.get_mut(&conn) else {
            return false;
        };
        while c
            .publishes
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.config.publish_window)
        {
            c.publishes.pop_front();
        }
        if c.publishes.len() >= self.config.publish_limit as usize {
            return false;
        }
        c.publishes.push_back(now);
        true
    }

    async fn resume(
        &self,
        conn: ConnectionId,
        user: &str,
        request: u32,
        session: SessionId,
        channels: Vec<(ChannelName, Position)>,
    ) -> Result<(), BrokerError> {
        let resumable = self.broker.session_resumable(session, user).await?;
        for (channel, from) in channels {
            if resumable {
                self.subscribe(conn, user, request, &channel, Some(from))
                    .await?;
            } else {
                // A session not this user's, or closed too long ago: every channel afresh.
                self.reply(
                    conn,
                    error_frame(request, code::BUFFER_OVERFLOW, channel.as_str()),
                );
                self.subscribe(conn, user, request, &channel, None).await?;
            }
        }
        Ok(())
    }

    /// Delivers one item of the feed to this instance's subscribers.
    async fn deliver(&self, item: FeedItem) {
        match item {
            FeedItem::Presence {
                channel,
                user,
                joined,
            } => {
                let mut local = self.local();
                for conn in local.channels.subscribers(&channel) {
                    let frame = ServerFrame::PresenceEvent {
                        channel: channel.clone(),
                        joined,
                        user: user.to_string(),
                    };
                    Self::send(&mut local, conn, frame);
                }
            }
            FeedItem::Message(envelope) => self.deliver_message(envelope).await,
        }
    }

    async fn deliver_message(&self, envelope: Envelope) {
        let (mut reached, subscribed, behind) = self.deliver_in_order(&envelope);
        // Subscriptions that missed messages before this one (a transport that lost or
        // reordered them) are filled from the history, then given this one.
        for (conn, next) in behind {
            let from = Position {
                epoch: envelope.at.epoch,
                offset: next - 1,
            };
            match self.broker.replay(&envelope.channel, from).await {
                Ok(Replay::Messages(messages)) => {
                    let mut local = self.local();
                    for m in messages
                        .into_iter()
                        .filter(|m| m.offset <= envelope.at.offset)
                    {
                        let at = Position {
                            epoch: envelope.at.epoch,
                            offset: m.offset,
                        };
                        if local.channels.route(conn, &envelope.channel, at) != Some(Route::Deliver)
                        {
                            continue;
                        }
                        let frame = ServerFrame::Message {
                            channel: envelope.channel.clone(),
                            at,
                            sender: m.sender.to_string(),
                            payload: m.payload.to_vec(),
                        };
                        if !Self::send(&mut local, conn, frame) {
                            break;
                        }
                        local.channels.delivered(conn, &envelope.channel, at);
                        if m.offset == envelope.at.offset {
                            reached += 1;
                        }
                    }
                }
                Ok(Replay::Gap) | Err(_) => self.lost(conn, &envelope.channel),
            }
        }
        if let Some(ticket) = envelope.ticket {
            self.log(self.broker.report(ticket, reached, subscribed).await);
        }
    }

    /// Delivers `envelope` to every subscription for which it is next; returns how many
    /// took it, how many were subscribed, and the subscriptions that are behind it.
    fn deliver_in_order(&self, envelope: &Envelope) -> (u64, u64, Vec<(ConnectionId, u64)>) {
        let mut local = self.local();
        let subscribers = local.channels.subscribers(&envelope.channel);
        let mut reached = 0;
        let mut behind = Vec::new();
        // Encoded once, on the first subscriber it goes to, and shared by the others.
        let mut encoded: Option<Bytes> = None;
        let mut message = || {
            encoded
                .get_or_insert_with(|| {
                    ServerFrame::Message {
                        channel: envelope.channel.clone(),
                        at: envelope.at,
                        sender: envelope.sender.to_string(),
                        payload: envelope.payload.to_vec(),
                    }
                    .encode()
                    .into()
                })
                .clone()
        };
        for conn in &subscribers {
            match local.channels.route(*conn, &envelope.channel, envelope.at) {
                Some(Route::Deliver) => {
                    let frame = Outgoing::Encoded(message());
                    // Mutant: every live message twice.
                    if self.mutations.is(SyncMutant::DeliveredTwice) {
                        Self::send(&mut local, *conn, frame.clone());
                    }
                    if Self::send(&mut local, *conn, frame) {
                        local
                            .channels
                            .delivered(*conn, &envelope.channel, envelope.at);
                        reached += 1;
                    }
                }
                Some(Route::Gap { next }) => behind.push((*conn, next)),
                Some(Route::EpochChanged) => {
                    // The history restarted: the subscriber is told, and follows the new one.
                    Self::send(
                        &mut local,
                        *conn,
                        error_frame(0, code::BUFFER_OVERFLOW, envelope.channel.as_str()),
                    );
                    let restart = Position {
                        epoch: envelope.at.epoch,
                        offset: envelope.at.offset.saturating_sub(1),
                    };
                    local.channels.restart(*conn, &envelope.channel, restart);
                    if Self::send(&mut local, *conn, Outgoing::Encoded(message())) {
                        local
                            .channels
                            .delivered(*conn, &envelope.channel, envelope.at);
                        reached += 1;
                    }
                }
                Some(Route::Duplicate) | None => {}
            }
        }
        (reached, subscribers.len() as u64, behind)
    }

    /// A subscription that cannot be filled without a gap: the client is told 3004 and
    /// the connection closes, so it resumes (and learns which channels to reload).
    fn lost(&self, conn: ConnectionId, channel: &ChannelName) {
        let mut local = self.local();
        if let Some(kill) = local.connections.get_mut(&conn).and_then(|c| c.kill.take()) {
            let _ = kill.send(Close {
                code: 4004,
                reason: "messages lost",
                error: Some(error_frame(0, code::BUFFER_OVERFLOW, channel.as_str())),
            });
        }
    }

    /// The users present on `channel`, over every instance.
    pub async fn get_presence(&self, channel: &ChannelName) -> Result<Vec<String>, BrokerError> {
        self.broker.presence(channel).await
    }
}
