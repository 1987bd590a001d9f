//! [`ChannelManager`]: which connection is subscribed to which channel, and from where
//! (`spec/sync.md`, "Guarantees", Property 22). Each subscription remembers the next offset
//! it expects; a message is handed to a subscription only when it is that offset, so a
//! message arriving twice (a broker redelivery, a replay overlapping live traffic) is
//! skipped and one arriving early shows the gap to fill from the history first. That makes
//! delivery exactly once and in order whatever the transport between instances does.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::channel::{ChannelName, Position};

/// A connection, as the server numbers them.
pub type ConnectionId = u64;

/// What a subscription should do with a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Deliver it: it is the next one.
    Deliver,
    /// Already delivered (or before the subscription): skip it.
    Duplicate,
    /// Messages from `next` up to it are missing: fill them from the history first.
    Gap {
        /// The first missing offset.
        next: u64,
    },
    /// The channel's history restarted (another epoch): the subscriber must be told
    /// `SYNC_BUFFER_OVERFLOW` and subscribed afresh.
    EpochChanged,
}

/// Why a subscription was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a connection may subscribe to at most {0} channels")]
pub struct TooManyChannels(pub usize);

/// Subscriptions, by channel and by connection.
#[derive(Debug)]
pub struct ChannelManager {
    max_channels: usize,
    /// channel -> connection -> (epoch, next offset expected).
    by_channel: HashMap<ChannelName, BTreeMap<ConnectionId, (u64, u64)>>,
    by_connection: HashMap<ConnectionId, BTreeSet<ChannelName>>,
}

impl ChannelManager {
    /// At most `max_channels` subscriptions per connection.
    pub fn new(max_channels: usize) -> Self {
        Self {
            max_channels,
            by_channel: HashMap::new(),
            by_connection: HashMap::new(),
        }
    }

    /// Subscribes `conn` to `channel` after `head` (the channel's last position): it gets
    /// every message after it. Subscribing again changes nothing and returns the position the
    /// subscription started from (`None` when it is new).
    pub fn subscribe(
        &mut self,
        conn: ConnectionId,
        channel: &ChannelName,
        head: Position,
    ) -> Result<Option<Position>, TooManyChannels> {
        if let Some(existing) = self.position(conn, channel) {
            return Ok(Some(existing));
        }
        let channels = self.by_connection.entry(conn).or_default();
        if channels.len() >= self.max_channels {
            return Err(TooManyChannels(self.max_channels));
        }
        channels.insert(channel.clone());
        self.by_channel
            .entry(channel.clone())
            .or_default()
            .insert(conn, (head.epoch, head.offset + 1));
        Ok(None)
    }

    /// Where `conn`'s subscription to `channel` stands: the last position it was given (or
    /// started after); `None` when it is not subscribed.
    pub fn position(&self, conn: ConnectionId, channel: &ChannelName) -> Option<Position> {
        let (epoch, next) = *self.by_channel.get(channel)?.get(&conn)?;
        Some(Position {
            epoch,
            offset: next.saturating_sub(1),
        })
    }

    /// How many channels `conn` is subscribed to.
    pub fn count_of(&self, conn: ConnectionId) -> usize {
        self.by_connection
            .get(&conn)
            .map_or(0, |channels| channels.len())
    }

    /// Ends `conn`'s subscription; whether there was one.
    pub fn unsubscribe(&mut self, conn: ConnectionId, channel: &ChannelName) -> bool {
        let removed = self
            .by_connection
            .get_mut(&conn)
            .is_some_and(|channels| channels.remove(channel));
        if removed {
            self.forget(conn, channel);
        }
        removed
    }

    fn forget(&mut self, conn: ConnectionId, channel: &ChannelName) {
        if let Some(subs) = self.by_channel.get_mut(channel) {
            subs.remove(&conn);
            if subs.is_empty() {
                self.by_channel.remove(channel);
            }
        }
    }

    /// Ends every subscription of `conn` (it closed); the channels it was subscribed to.
    pub fn remove_connection(&mut self, conn: ConnectionId) -> Vec<ChannelName> {
        let channels: Vec<ChannelName> = self
            .by_connection
            .remove(&conn)
            .unwrap_or_default()
            .into_iter()
            .collect();
        for channel in &channels {
            self.forget(conn, channel);
        }
        channels
    }

    /// What `conn` should do with the message of `channel` at `at`.
    pub fn route(&self, conn: ConnectionId, channel: &ChannelName, at: Position) -> Option<Route> {
        let (epoch, next) = *self.by_channel.get(channel)?.get(&conn)?;
        Some(if at.epoch != epoch {
            Route::EpochChanged
        } else if at.offset < next {
            Route::Duplicate
        } else if at.offset == next {
            Route::Deliver
        } else {
            Route::Gap { next }
        })
    }

    /// Records that `conn` was given the message at `at` of `channel` (after
    /// [`Route::Deliver`]): it now expects the next one.
    pub fn delivered(&mut self, conn: ConnectionId, channel: &ChannelName, at: Position) {
        if let Some((epoch, next)) = self
            .by_channel
            .get_mut(channel)
            .and_then(|subs| subs.get_mut(&conn))
            && *epoch == at.epoch
            && at.offset == *next
        {
            *next += 1;
        }
    }

    /// Moves `conn`'s subscription to `channel` to start after `head` (a new epoch, or a
    /// resume that was replayed up to `head`).
    pub fn restart(&mut self, conn: ConnectionId, channel: &ChannelName, head: Position) {
        if let Some(sub) = self
            .by_channel
            .get_mut(channel)
            .and_then(|subs| subs.get_mut(&conn))
        {
            *sub = (head.epoch, head.offset + 1);
        }
    }

    /// The connections subscribed to `channel`, in connection order.
    pub fn subscribers(&self, channel: &ChannelName) -> Vec<ConnectionId> {
        self.by_channel
            .get(channel)
            .map(|subs| subs.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Whether any connection is subscribed to `channel`.
    pub fn has_subscribers(&self, channel: &ChannelName) -> bool {
        self.by_channel
            .get(channel)
            .is_some_and(|subs| !subs.is_empty())
    }

    /// The channels `conn` is subscribed to.
    pub fn channels_of(&self, conn: ConnectionId) -> Vec<ChannelName> {
        self.by_connection
            .get(&conn)
            .map(|channels| channels.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Channels with at least one subscriber.
    pub fn channel_count(&self) -> usize {
        self.by_channel.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const CHANNELS: [&str; 2] = ["a", "b"];

    #[derive(Debug, Clone)]
    enum Step {
        Subscribe(u64, usize),
        Unsubscribe(u64, usize),
        Close(u64),
        /// A message published to a channel, then handed to the manager `copies` times
        /// (a transport that redelivers), or held back and handed over after the next one
        /// (`late`: a transport that reorders).
        Publish {
            channel: usize,
            copies: u8,
            late: bool,
        },
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            3 => (0u64..4, 0usize..2).prop_map(|(c, ch)| Step::Subscribe(c, ch)),
            1 => (0u64..4, 0usize..2).prop_map(|(c, ch)| Step::Unsubscribe(c, ch)),
            1 => (0u64..4).prop_map(Step::Close),
            6 => (0usize..2, 1u8..3, any::<bool>()).prop_map(|(channel, copies, late)| Step::Publish { channel, copies, late }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Feature: production-readiness, Property 22: Pub/Sub Delivery
        ///
        /// Subscribes, unsubscribes, closes and publishes in any interleaving, over a
        /// transport that duplicates and reorders: following the routes (delivering,
        /// skipping duplicates, filling gaps from the history), every subscriber gets each
        /// message published while it was subscribed exactly once, in offset order, and
        /// nothing else.
        #[test]
        fn every_subscriber_gets_each_message_once_in_order(
            steps in prop::collection::vec(step(), 1..100),
        ) {
            let epoch = 9;
            let mut manager = ChannelManager::new(8);
            // Per channel: the last offset.
            let mut last = [0u64; 2];
            // Model: (conn, channel) -> offsets it must receive; received so far.
            let mut expected: BTreeMap<(u64, usize), Vec<u64>> = BTreeMap::new();
            let mut received: BTreeMap<(u64, usize), Vec<u64>> = BTreeMap::new();
            let mut held: Option<(usize, u64)> = None;
            let name = |ch: usize| ChannelName::new(CHANNELS[ch]).unwrap();
            let hand = |manager: &mut ChannelManager, received: &mut BTreeMap<(u64, usize), Vec<u64>>, ch: usize, offset: u64| {
                let at = Position { epoch, offset };
                for conn in manager.subscribers(&name(ch)) {
                    match manager.route(conn, &name(ch), at) {
                        Some(Route::Deliver) => {
                            received.entry((conn, ch)).or_default().push(offset);
                            manager.delivered(conn, &name(ch), at);
                        }
                        Some(Route::Gap { next }) => {
                            // Fill from the history (every offset is kept here), then this one.
                            for missing in next..=offset {
                                let m = Position { epoch, offset: missing };
                                assert_eq!(manager.route(conn, &name(ch), m), Some(Route::Deliver));
                                received.entry((conn, ch)).or_default().push(missing);
                                manager.delivered(conn, &name(ch), m);
                            }
                        }
                        Some(Route::Duplicate) => {}
                        other => panic!("unexpected route {other:?}"),
                    }
                }
            };
            for step in steps {
                match step {
                    Step::Subscribe(conn, ch) => {
                        let head = Position { epoch, offset: last[ch] };
                        let again = manager.subscribe(conn, &name(ch), head).unwrap();
                        if let std::collections::btree_map::Entry::Vacant(entry) = expected.entry((conn, ch)) {
                            prop_assert_eq!(again, None);
                            entry.insert(Vec::new());
                            received.insert((conn, ch), Vec::new());
                        } else {
                            prop_assert!(again.is_some(), "a repeated subscribe reports its start");
                        }
                    }
                    Step::Unsubscribe(conn, ch) => {
                        let was = expected.contains_key(&(conn, ch));
                        prop_assert_eq!(manager.unsubscribe(conn, &name(ch)), was);
                        if was {
                            let mut want = expected.remove(&(conn, ch)).unwrap();
                            let got = received.remove(&(conn, ch)).unwrap();
                            // A message still in flight when the subscription ends is not
                            // owed to it; everything handed over before is.
                            if held.is_some_and(|(c, off)| c == ch && want.last() == Some(&off)) && got.len() < want.len() {
                                want.pop();
                            }
                            prop_assert_eq!(got, want);
                        }
                    }
                    Step::Close(conn) => {
                        let mut channels: Vec<String> = manager.remove_connection(conn).iter().map(|c| c.to_string()).collect();
                        channels.sort();
                        let mut model: Vec<String> = expected.keys().filter(|(c, _)| *c == conn).map(|(_, ch)| CHANNELS[*ch].to_owned()).collect();
                        model.sort();
                        prop_assert_eq!(channels, model);
                        expected.retain(|(c, _), _| *c != conn);
                        received.retain(|(c, _), _| *c != conn);
                    }
                    Step::Publish { channel, copies, late } => {
                        last[channel] += 1;
                        let offset = last[channel];
                        for ((_, ch), want) in expected.iter_mut() {
                            if *ch == channel {
                                want.push(offset);
                            }
                        }
                        if late && held.is_none() {
                            held = Some((channel, offset));
                            continue;
                        }
                        for _ in 0..copies {
                            hand(&mut manager, &mut received, channel, offset);
                        }
                        if let Some((ch, off)) = held.take() {
                            hand(&mut manager, &mut received, ch, off);
                        }
                    }
                }
            }
            if let Some((ch, off)) = held.take() {
                hand(&mut manager, &mut received, ch, off);
            }
            // Every subscription still open got exactly its messages, in order.
            for (key, want) in &expected {
                prop_assert_eq!(received.get(key).cloned().unwrap_or_default(), want.clone(), "{:?}", key);
            }
        }
    }

    #[test]
    fn limits_epochs_and_restarts() {
        let a = ChannelName::new("a").unwrap();
        let b = ChannelName::new("b").unwrap();
        let mut manager = ChannelManager::new(1);
        let head = Position {
            epoch: 3,
            offset: 10,
        };
        assert_eq!(manager.subscribe(1, &a, head), Ok(None));
        assert_eq!(
            manager.subscribe(
                1,
                &a,
                Position {
                    epoch: 3,
                    offset: 12
                }
            ),
            Ok(Some(head))
        );
        assert_eq!(manager.subscribe(1, &b, head), Err(TooManyChannels(1)));
        assert_eq!(manager.channels_of(1), std::slice::from_ref(&a));
        assert_eq!(
            manager.route(
                1,
                &a,
                Position {
                    epoch: 4,
                    offset: 11
                }
            ),
            Some(Route::EpochChanged)
        );
        assert_eq!(
            manager.route(
                1,
                &b,
                Position {
                    epoch: 3,
                    offset: 11
                }
            ),
            None
        );
        assert_eq!(
            manager.route(
                2,
                &a,
                Position {
                    epoch: 3,
                    offset: 11
                }
            ),
            None
        );
        // Delivering out of turn changes nothing.
        manager.delivered(
            1,
            &a,
            Position {
                epoch: 3,
                offset: 12,
            },
        );
        manager.delivered(
            1,
            &a,
            Position {
                epoch: 4,
                offset: 11,
            },
        );
        assert_eq!(
            manager.route(
                1,
                &a,
                Position {
                    epoch: 3,
                    offset: 11
                }
            ),
            Some(Route::Deliver)
        );
        manager.restart(
            1,
            &a,
            Position {
                epoch: 4,
                offset: 0,
            },
        );
        assert_eq!(
            manager.route(
                1,
                &a,
                Position {
                    epoch: 4,
                    offset: 1
                }
            ),
            Some(Route::Deliver)
        );
        assert!(!manager.unsubscribe(1, &b));
        assert!(!manager.unsubscribe(2, &a));
        assert!(manager.unsubscribe(1, &a));
        assert_eq!(manager.channel_count(), 0);
        assert!(manager.subscribers(&a).is_empty());
        assert!(manager.remove_connection(1).is_empty());
    }
}
