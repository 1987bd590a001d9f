//! [`PresenceTracker`]: who is present on each channel (`spec/sync.md`, "Presence",
//! Property 24). A user is present while at least one of their connections is subscribed;
//! the tracker counts subscriptions per user and says when a user joins (the first) and
//! leaves (the last), so the server knows when to send `PRESENCE_EVENT`. Across instances
//! the presence list is the union of every instance's tracker.

use std::collections::BTreeMap;

use crate::channel::ChannelName;

/// Subscriptions per user per channel.
#[derive(Debug, Default)]
pub struct PresenceTracker {
    channels: BTreeMap<ChannelName, BTreeMap<String, usize>>,
}

impl PresenceTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// One more subscription of `user` to `channel`; whether the user joined with it.
    pub fn join(&mut self, channel: &ChannelName, user: &str) -> bool {
        let users = self.channels.entry(channel.clone()).or_default();
        let count = users.entry(user.to_owned()).or_insert(0);
        *count += 1;
        *count == 1
    }

    /// One subscription fewer; whether the user left with it. A leave without a join is
    /// ignored (false).
    pub fn leave(&mut self, channel: &ChannelName, user: &str) -> bool {
        let Some(users) = self.channels.get_mut(channel) else {
            return false;
        };
        let Some(count) = users.get_mut(user) else {
            return false;
        };
        *count -= 1;
        if *count > 0 {
            return false;
        }
        users.remove(user);
        if users.is_empty() {
            self.channels.remove(channel);
        }
        true
    }

    /// The users present on `channel`, sorted by byte order, each once.
    pub fn list(&self, channel: &ChannelName) -> Vec<String> {
        self.channels
            .get(channel)
            .map(|users| users.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// Whether anyone is present on `channel`.
    pub fn is_occupied(&self, channel: &ChannelName) -> bool {
        self.channels.contains_key(channel)
    }

    /// Channels with anyone present.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    const CHANNELS: [&str; 3] = ["a", "b", "c"];
    const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Feature: production-readiness, Property 24: Presence Accuracy
        ///
        /// Connections (each of one user) subscribing, unsubscribing and closing in any
        /// order: after every step a channel's list is exactly the users with a connection
        /// subscribed to it, and the tracker reports a join or leave exactly when that set
        /// gains or loses the user.
        #[test]
        fn presence_is_exactly_the_subscribed_users(
            steps in prop::collection::vec((0usize..6, 0usize..3, 0u8..3), 1..120),
        ) {
            let mut tracker = PresenceTracker::new();
            // connection -> (user, subscribed channels); user of connection k is USERS[k % 4].
            let mut subs: BTreeMap<usize, BTreeSet<usize>> = BTreeMap::new();
            let present = |subs: &BTreeMap<usize, BTreeSet<usize>>, ch: usize| -> Vec<String> {
                let users: BTreeSet<&str> = subs
                    .iter()
                    .filter(|(_, chans)| chans.contains(&ch))
                    .map(|(conn, _)| USERS[conn % USERS.len()])
                    .collect();
                users.into_iter().map(String::from).collect()
            };
            for (conn, ch, action) in steps {
                let user = USERS[conn % USERS.len()];
                let name = ChannelName::new(CHANNELS[ch]).unwrap();
                let before = present(&subs, ch);
                let event = match action {
                    // Subscribe (again: no change).
                    0 => {
                        if subs.entry(conn).or_default().insert(ch) {
                            Some(tracker.join(&name, user))
                        } else {
                            None
                        }
                    }
                    // Unsubscribe (when not subscribed: nothing to leave).
                    1 => {
                        if subs.entry(conn).or_default().remove(&ch) {
                            Some(tracker.leave(&name, user))
                        } else {
                            None
                        }
                    }
                    // The connection closes: it leaves every channel it was on.
                    _ => {
                        for c in subs.remove(&conn).unwrap_or_default() {
                            let n = ChannelName::new(CHANNELS[c]).unwrap();
                            let was = present(&subs, c).contains(&user.to_owned());
                            let left = tracker.leave(&n, user);
                            prop_assert_eq!(left, !was, "a close leaves the user only when it was their last");
                        }
                        None
                    }
                };
                let after = present(&subs, ch);
                if let Some(changed) = event {
                    prop_assert_eq!(changed, before != after);
                }
                for (c, channel) in CHANNELS.iter().enumerate() {
                    let n = ChannelName::new(channel).unwrap();
                    prop_assert_eq!(tracker.list(&n), present(&subs, c));
                    prop_assert_eq!(tracker.is_occupied(&n), !present(&subs, c).is_empty());
                }
            }
        }
    }

    #[test]
    fn leaving_without_joining_changes_nothing() {
        let mut tracker = PresenceTracker::new();
        let a = ChannelName::new("a").unwrap();
        assert!(!tracker.leave(&a, "alice"));
        assert!(tracker.join(&a, "bob"));
        assert!(!tracker.leave(&a, "alice"));
        assert_eq!(tracker.list(&a), ["bob"]);
        assert!(tracker.leave(&a, "bob"));
        assert_eq!(tracker.channel_count(), 0, "an empty channel is forgotten");
    }
}
