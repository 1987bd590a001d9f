//! What instances share (`spec/sync.md`, "Several instances"): each channel's history and
//! the order of its messages, the live fan-out of messages to every instance listening on a
//! channel, delivery reports for acknowledgments, and presence across instances. The
//! [`memory::MemoryBroker`] serves one instance (the embedded default); a broker on Redis
//! serves several.

pub mod memory;
#[cfg(feature = "redis")]
pub mod redis;

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;

use crate::buffer::Replay;
use crate::channel::{ChannelName, Position};

/// A message on its way to the instances that listen on its channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The channel.
    pub channel: ChannelName,
    /// Its position.
    pub at: Position,
    /// Who published it.
    pub sender: Arc<str>,
    /// The payload.
    pub payload: Arc<[u8]>,
    /// Set when the publisher asked for an acknowledgment: every instance that receives the
    /// envelope reports how many of its subscribers it reached under this ticket.
    pub ticket: Option<u64>,
}

/// What an instance's feed carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FeedItem {
    /// A message of a channel the instance listens on.
    Message(Envelope),
    /// A user joined or left a channel (cluster-wide: their first subscription anywhere, or
    /// their last one gone).
    Presence {
        /// The channel.
        channel: ChannelName,
        /// The user.
        user: Arc<str>,
        /// Joined (true) or left.
        joined: bool,
    },
}

/// What a publication came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// The message's position.
    pub at: Position,
    /// With an acknowledgment requested: the subscribers it reached, over every instance,
    /// and whether the channel had any subscriber when it was published.
    pub delivery: Option<Delivery>,
}

/// Delivery of one message, for its acknowledgment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Subscriber connections that accepted it.
    pub reached: u64,
    /// Whether any connection was subscribed when it was published.
    pub had_subscribers: bool,
}

/// Why a broker operation failed: the broker is unreachable or refused (3001).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sync broker: {0}")]
pub struct BrokerError(pub String);

/// The shared side of the sync module.
#[async_trait]
pub trait Broker: Send + Sync + std::fmt::Debug + 'static {
    /// This instance's feed: messages of the channels it listens on, in offset order per
    /// channel, and presence changes. Taken once, by the instance's manager.
    fn take_feed(&self) -> Option<mpsc::UnboundedReceiver<FeedItem>>;

    /// The channel's last position (0 before its first message), its history created if it
    /// had none.
    async fn head(&self, channel: &ChannelName) -> Result<Position, BrokerError>;

    /// One subscription more (`true`) or fewer on this instance: the broker sends the
    /// instance the channel's messages while it counts any. When `listen(…, true)` returns,
    /// every message published from then on reaches the feed. Counted, not set, so a
    /// subscription arriving while the last one leaves can never be left unheard.
    async fn listen(&self, channel: &ChannelName, on: bool) -> Result<(), BrokerError>;

    /// Appends a message to the channel's history and sends it to every listening instance.
    /// With `ack`, waits for their delivery reports (each instance answers within its own
    /// delivery, so the wait is short; a report that never comes counts as no delivery).
    async fn publish(
        &self,
        channel: &ChannelName,
        sender: Arc<str>,
        payload: Arc<[u8]>,
        ack: bool,
    ) -> Result<Published, BrokerError>;

    /// Reports, for an envelope with a ticket, how many of this instance's subscribers it
    /// reached and how many were subscribed.
    async fn report(&self, ticket: u64, reached: u64, subscribed: u64) -> Result<(), BrokerError>;

    /// Every message after `from`, or [`Replay::Gap`].
    async fn replay(&self, channel: &ChannelName, from: Position) -> Result<Replay, BrokerError>;

    /// One more subscription of `user` on this instance; every instance's feed gets a
    /// presence item when it is the user's first anywhere.
    async fn presence_join(&self, channel: &ChannelName, user: &str) -> Result<(), BrokerError>;

    /// One subscription fewer; a presence item when it was the user's last anywhere.
    async fn presence_leave(&self, channel: &ChannelName, user: &str) -> Result<(), BrokerError>;

    /// The users present on the channel over every instance, sorted, each once.
    async fn presence(&self, channel: &ChannelName) -> Result<Vec<String>, BrokerError>;

    /// Records that `session` belongs to `user` and is live (a connection has it).
    async fn session_open(&self, session: [u8; 16], user: &str) -> Result<(), BrokerError>;

    /// Records that `session`'s connection closed now: it may be resumed within the
    /// retention window.
    async fn session_close(&self, session: [u8; 16]) -> Result<(), BrokerError>;

    /// Whether `session` was issued to `user` and closed no longer than the retention
    /// window ago (or is still open).
    async fn session_resumable(&self, session: [u8; 16], user: &str) -> Result<bool, BrokerError>;

    /// The name published as `sync.broker`.
    fn name(&self) -> &'static str;
}
