//! [`MemoryBroker`]: the broker of a single instance. History lives in a [`MessageBuffer`],
//! presence in a [`PresenceTracker`], and the feed is an in-process channel. A restart loses
//! the history, and the next one starts new epochs, so clients resuming across it are told
//! 3004, as `spec/sync.md` requires.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{Broker, BrokerError, Delivery, Envelope, FeedItem, Published};
use crate::buffer::{MessageBuffer, Replay};
use crate::channel::{ChannelName, Position};
use crate::presence::PresenceTracker;

/// How long a publisher waits for the delivery report of its own instance.
const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
struct State {
    buffer: MessageBuffer,
    presence: PresenceTracker,
    /// Subscriptions per channel on this instance.
    listening: HashMap<ChannelName, usize>,
    next_ticket: u64,
    waiting: HashMap<u64, oneshot::Sender<(u64, u64)>>,
    feed: mpsc::UnboundedSender<FeedItem>,
    /// session -> (user, when its connection closed; `None` while open).
    sessions: HashMap<[u8; 16], (Arc<str>, Option<Instant>)>,
    retention: Duration,
    last_sweep: Instant,
}

/// The single-instance broker.
#[derive(Debug)]
pub struct MemoryBroker {
    state: Mutex<State>,
    feed: Mutex<Option<mpsc::UnboundedReceiver<FeedItem>>>,
}

impl MemoryBroker {
    /// Keeps `buffer_size` messages per channel for `retention`; epochs start from
    /// `epoch_seed` (give a random one).
    pub fn new(buffer_size: usize, retention: Duration, epoch_seed: u64) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            state: Mutex::new(State {
                buffer: MessageBuffer::new(buffer_size, retention, epoch_seed),
                presence: PresenceTracker::new(),
                listening: HashMap::new(),
                next_ticket: 1,
                waiting: HashMap::new(),
                feed: tx,
                sessions: HashMap::new(),
                retention,
                last_sweep: Instant::now(),
            }),
            feed: Mutex::new(Some(rx)),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the maps consistent (every update is one
        // call on them), so a poisoned lock is taken as it is.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Forgets expired history and sessions. Publishing does it by itself at most every
    /// half retention window, so memory stays bounded while channels and sessions come and go.
    pub fn sweep(&self) {
        sweep(&mut self.state(), Instant::now());
    }
}

fn sweep(state: &mut State, now: Instant) {
    state.buffer.sweep(now);
    let retention = state.retention;
    state.sessions.retain(|_, (_, closed)| {
        closed.is_none_or(|at| now.saturating_duration_since(at) <= retention)
    });
    state.last_sweep = now;
}

#[async_trait]
impl Broker for MemoryBroker {
    fn take_feed(&self) -> Option<mpsc::UnboundedReceiver<FeedItem>> {
        self.feed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    async fn head(&self, channel: &ChannelName) -> Result<Position, BrokerError> {
        Ok(self.state().buffer.head(channel, Instant::now()))
    }

    async fn listen(&self, channel: &ChannelName, on: bool) -> Result<(), BrokerError> {
        let mut state = self.state();
        let count = state.listening.entry(channel.clone()).or_insert(0);
        *count = if on {
            count.saturating_add(1)
        } else {
            count.saturating_sub(1)
        };
        if *count == 0 {
            state.listening.remove(channel);
        }
        Ok(())
    }

    async fn publish(
        &self,
        channel: &ChannelName,
        sender: Arc<str>,
        payload: Arc<[u8]>,
        ack: bool,
    ) -> Result<Published, BrokerError> {
        let (at, report) = {
            let mut state = self.state();
            let now = Instant::now();
            if now.saturating_duration_since(state.last_sweep) > state.retention / 2 {
                sweep(&mut state, now);
            }
            let at = state
                .buffer
                .append(channel, sender.clone(), payload.clone(), Instant::now());
            if !state.listening.contains_key(channel) {
                // Nobody here listens: kept for replay, delivered to no one.
                let delivery = ack.then_some(Delivery {
                    reached: 0,
                    had_subscribers: false,
                });
                return Ok(Published { at, delivery });
            }
            let (ticket, report) = if ack {
                let ticket = state.next_ticket;
                state.next_ticket += 1;
                let (tx, rx) = oneshot::channel();
                state.waiting.insert(ticket, tx);
                (Some(ticket), Some((ticket, rx)))
            } else {
                (None, None)
            };
            let envelope = Envelope {
                channel: channel.clone(),
                at,
                sender,
                payload,
                ticket,
            };
            // Sent under the lock: the feed carries a channel's messages in offset order.
            if state.feed.send(FeedItem::Message(envelope)).is_err() {
                return Err(BrokerError("the instance's feed is closed".into()));
            }
            (at, report)
        };
        let delivery = match report {
            None => None,
            Some((ticket, rx)) => {
                let (reached, subscribed) = tokio::time::timeout(REPORT_TIMEOUT, rx)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or((0, 0));
                self.state().waiting.remove(&ticket);
                Some(Delivery {
                    reached,
                    had_subscribers: subscribed > 0,
                })
            }
        };
        Ok(Published { at, delivery })
    }

    async fn report(&self, ticket: u64, reached: u64, subscribed: u64) -> Result<(), BrokerError> {
        if let Some(tx) = self.state().waiting.remove(&ticket) {
            // The publisher may have given up waiting: nothing to tell then.
            let _ = tx.send((reached, subscribed));
        }
        Ok(())
    }

    async fn replay(&self, channel: &ChannelName, from: Position) -> Result<Replay, BrokerError> {
        Ok(self.state().buffer.replay(channel, from, Instant::now()))
    }

    async fn presence_join(&self, channel: &ChannelName, user: &str) -> Result<(), BrokerError> {
        let mut state = self.state();
        if state.presence.join(channel, user) {
            let item = FeedItem::Presence {
                channel: channel.clone(),
                user: user.into(),
                joined: true,
            };
            let _ = state.feed.send(item);
        }
        Ok(())
    }

    async fn presence_leave(&self, channel: &ChannelName, user: &str) -> Result<(), BrokerError> {
        let mut state = self.state();
        if state.presence.leave(channel, user) {
            let item = FeedItem::Presence {
                channel: channel.clone(),
                user: user.into(),
                joined: false,
            };
            let _ = state.feed.send(item);
        }
        Ok(())
    }

    async fn presence(&self, channel: &ChannelName) -> Result<Vec<String>, BrokerError> {
        Ok(self.state().presence.list(channel))
    }

    async fn session_open(&self, session: [u8; 16], user: &str) -> Result<(), BrokerError> {
        self.state().sessions.insert(session, (user.into(), None));
        Ok(())
    }

    async fn session_close(&self, session: [u8; 16]) -> Result<(), BrokerError> {
        if let Some((_, closed)) = self.state().sessions.get_mut(&session) {
            *closed = Some(Instant::now());
        }
        Ok(())
    }

    async fn session_resumable(&self, session: [u8; 16], user: &str) -> Result<bool, BrokerError> {
        let state = self.state();
        Ok(state.sessions.get(&session).is_some_and(|(owner, closed)| {
            &**owner == user && closed.is_none_or(|at| at.elapsed() <= state.retention)
        }))
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
