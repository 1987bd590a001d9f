//! dx-www's sync module (`spec/sync.md`, Properties 22-25), as parts a server composes:
//!
//! - [`frame`]: the binary WebSocket protocol, a codec that refuses malformed frames with the
//!   code the spec names and never panics;
//! - [`channel`]: channel names and the `(channel, epoch, offset)` that names a message;
//! - [`buffer`]: [`buffer::MessageBuffer`], a channel's history bounded by count and age,
//!   from which a client that reconnects is replayed, or told that it cannot be;
//! - [`channels`]: [`channels::ChannelManager`], which connection is subscribed to what from
//!   which offset, so each message reaches each subscriber exactly once and in order;
//! - [`presence`]: [`presence::PresenceTracker`], which users are present on a channel
//!   across connections and instances;
//! - [`broker`]: what instances share (history, fan-out, delivery reports, presence,
//!   sessions), with [`broker::memory::MemoryBroker`] for a single instance;
//! - [`manager`]: [`manager::WebSocketManager`], one instance's connections, answering their
//!   frames and delivering the broker's feed through bounded per-connection queues;
//! - [`outbox`]: what those queues hold (a message fanned out is encoded once and shared);
//! - [`connection`]: one axum WebSocket pumped through the manager (pings, token checks,
//!   the refusals that close a connection).

pub mod broker;
pub mod buffer;
pub mod channel;
pub mod channels;
pub mod connection;
pub mod frame;
pub mod manager;
pub mod mutants;
pub mod outbox;
pub mod presence;

pub use channel::{ChannelName, Position};
