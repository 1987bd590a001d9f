//! [`MessageBuffer`]: each channel's recent history, from which a client that reconnects is
//! replayed (`spec/sync.md`, "Replay", Property 23). A channel keeps its last `capacity`
//! messages not older than `retention`; a replay either returns every message after the
//! client's position, in order, or says it cannot ([`Replay::Gap`]), never a partial list.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::channel::{ChannelName, Position};

/// A message kept for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its offset in the channel's epoch.
    pub offset: u64,
    /// Who published it.
    pub sender: Arc<str>,
    /// The payload.
    pub payload: Arc<[u8]>,
    /// When it was appended.
    pub at: Instant,
}

/// What a replay from a position yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Every message after the position, in order (possibly none).
    Messages(Vec<Stored>),
    /// The history no longer holds every message after the position (or the epoch is not
    /// the channel's): the client must be told `SYNC_BUFFER_OVERFLOW`.
    Gap,
}

/// One channel's history.
#[derive(Debug)]
struct History {
    epoch: u64,
    last: u64,
    kept: VecDeque<Stored>,
    touched: Instant,
}

/// The recent history of every channel.
#[derive(Debug)]
pub struct MessageBuffer {
    capacity: usize,
    retention: Duration,
    next_epoch: u64,
    channels: HashMap<ChannelName, History>,
}

impl MessageBuffer {
    /// Keeps up to `capacity` messages (at least 1) per channel for `retention`. Epochs are
    /// drawn from `epoch_seed` on: give a random seed, so a restarted server never reuses an
    /// epoch its clients may remember.
    pub fn new(capacity: usize, retention: Duration, epoch_seed: u64) -> Self {
        Self {
            capacity: capacity.max(1),
            retention,
            next_epoch: epoch_seed,
            channels: HashMap::new(),
        }
    }

    fn history(&mut self, channel: &ChannelName, now: Instant) -> &mut History {
        let next_epoch = &mut self.next_epoch;
        let history = self.channels.entry(channel.clone()).or_insert_with(|| {
            // Nonzero, and a new one for every history.
            *next_epoch = next_epoch.wrapping_add(1).max(1);
            History {
                epoch: *next_epoch,
                last: 0,
                kept: VecDeque::new(),
                touched: now,
            }
        });
        history.touched = now;
        history
    }

    /// The channel's epoch and last offset (0 before its first message).
    pub fn head(&mut self, channel: &ChannelName, now: Instant) -> Position {
        let h = self.history(channel, now);
        Position {
            epoch: h.epoch,
            offset: h.last,
        }
    }

    /// Appends a message; its position.
    pub fn append(
        &mut self,
        channel: &ChannelName,
        sender: Arc<str>,
        payload: Arc<[u8]>,
        now: Instant,
    ) -> Position {
        let (capacity, retention) = (self.capacity, self.retention);
        let h = self.history(channel, now);
        h.last += 1;
        h.kept.push_back(Stored {
            offset: h.last,
            sender,
            payload,
            at: now,
        });
        while h.kept.len() > capacity {
            h.kept.pop_front();
        }
        expire(h, retention, now);
        Position {
            epoch: h.epoch,
            offset: h.last,
        }
    }

    /// Every message after `from`, or [`Replay::Gap`] when the history cannot give them all.
    pub fn replay(&mut self, channel: &ChannelName, from: Position, now: Instant) -> Replay {
        let retention = self.retention;
        let Some(h) = self.channels.get_mut(channel) else {
            return Replay::Gap;
        };
        expire(h, retention, now);
        if from.epoch != h.epoch || from.offset > h.last {
            return Replay::Gap;
        }
        if from.offset == h.last {
            return Replay::Messages(Vec::new());
        }
        match h.kept.front() {
            Some(first) if first.offset <= from.offset + 1 => Replay::Messages(
                h.kept
                    .iter()
                    .filter(|m| m.offset > from.offset)
                    .cloned()
                    .collect(),
            ),
            _ => Replay::Gap,
        }
    }

    /// Forgets expired messages, and channels untouched for the retention window whose
    /// messages are all gone (a later message starts a new epoch: no client can still
    /// resume them). Bounds memory when channels come and go.
    pub fn sweep(&mut self, now: Instant) {
        let retention = self.retention;
        self.channels.retain(|_, h| {
            expire(h, retention, now);
            !h.kept.is_empty() || now.saturating_duration_since(h.touched) < retention
        });
    }

    /// Channels with a history.
    pub fn channel_count(&self) -> usize {
        self.channels.len()
    }
}

fn expire(h: &mut History, retention: Duration, now: Instant) {
    while h
        .kept
        .front()
        .is_some_and(|m| now.saturating_duration_since(m.at) > retention)
    {
        h.kept.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn channel() -> ChannelName {
        ChannelName::new("room").unwrap()
    }

    fn payload(i: u64) -> Arc<[u8]> {
        i.to_le_bytes().to_vec().into()
    }

    #[derive(Debug, Clone)]
    enum Step {
        /// Publish, after this many milliseconds.
        Publish(u64),
        /// A client that had received up to `seen` (counted back from the last message)
        /// reconnects, after this many milliseconds.
        Resume {
            back: u64,
            after_ms: u64,
        },
        Sweep,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0u64..400).prop_map(Step::Publish),
            3 => (0u64..30, 0u64..400).prop_map(|(back, after_ms)| Step::Resume { back, after_ms }),
            1 => Just(Step::Sweep),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Feature: production-readiness, Property 23: Message Buffer Replay
        ///
        /// Any sequence of publishes, resumes and sweeps over time: a resume from any
        /// position gets exactly the messages after it, in order, each once, when the
        /// history still holds them all (within `capacity` and `retention`), and a gap
        /// otherwise; never a partial or reordered list.
        #[test]
        fn replays_everything_after_a_position_or_says_it_cannot(
            capacity in 1usize..12,
            retention_ms in 50u64..2_000,
            steps in prop::collection::vec(step(), 1..80),
        ) {
            let start = Instant::now();
            let mut now = start;
            let retention = Duration::from_millis(retention_ms);
            let mut buffer = MessageBuffer::new(capacity, retention, 41);
            let epoch = buffer.head(&channel(), now).epoch;
            // The model: every message ever published, with when.
            let mut published: Vec<(u64, Instant)> = Vec::new();
            for step in steps {
                match step {
                    Step::Publish(after) => {
                        now += Duration::from_millis(after);
                        let n = published.len() as u64 + 1;
                        let at = buffer.append(&channel(), "u".into(), payload(n), now);
                        prop_assert_eq!(at, Position { epoch, offset: n });
                        published.push((n, now));
                    }
                    Step::Resume { back, after_ms } => {
                        now += Duration::from_millis(after_ms);
                        let last = published.len() as u64;
                        let from = last.saturating_sub(back);
                        let missed: Vec<u64> = ((from + 1)..=last).collect();
                        // Kept: the last `capacity` messages, not older than the window.
                        let kept = missed.iter().all(|n| {
                            let (_, when) = published[*n as usize - 1];
                            last - n < capacity as u64 && now.duration_since(when) <= retention
                        });
                        let got = buffer.replay(&channel(), Position { epoch, offset: from }, now);
                        if kept {
                            let Replay::Messages(got) = got else {
                                return Err(TestCaseError::fail(format!("a gap where {missed:?} are kept")));
                            };
                            let offsets: Vec<u64> = got.iter().map(|m| m.offset).collect();
                            prop_assert_eq!(&offsets, &missed);
                            for m in &got {
                                prop_assert_eq!(&*m.payload, &*payload(m.offset));
                            }
                        } else {
                            prop_assert_eq!(got, Replay::Gap);
                        }
                        // Another epoch is never replayed.
                        let other = Position { epoch: epoch.wrapping_add(7), offset: from };
                        prop_assert_eq!(buffer.replay(&channel(), other, now), Replay::Gap);
                        // Nor a position beyond the last.
                        let future = Position { epoch, offset: last + 1 };
                        prop_assert_eq!(buffer.replay(&channel(), future, now), Replay::Gap);
                    }
                    Step::Sweep => {
                        buffer.sweep(now);
                        if buffer.channel_count() == 0 {
                            // Forgotten: the model starts over with the next epoch.
                            let next = buffer.head(&channel(), now);
                            prop_assert_ne!(next.epoch, epoch);
                            prop_assert_eq!(next.offset, 0);
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn unknown_channels_and_empty_histories() {
        let now = Instant::now();
        let mut buffer = MessageBuffer::new(0, Duration::from_secs(1), u64::MAX);
        let other = ChannelName::new("other").unwrap();
        assert_eq!(
            buffer.replay(
                &other,
                Position {
                    epoch: 1,
                    offset: 0
                },
                now
            ),
            Replay::Gap,
            "a channel without history cannot be resumed"
        );
        let head = buffer.head(&channel(), now);
        assert_eq!(head.offset, 0);
        assert_ne!(head.epoch, 0, "epochs are nonzero, even after wrapping");
        assert_eq!(
            buffer.replay(&channel(), head, now),
            Replay::Messages(Vec::new())
        );
        // A capacity of 0 keeps one message.
        buffer.append(&channel(), "u".into(), payload(1), now);
        buffer.append(&channel(), "u".into(), payload(2), now);
        assert_eq!(
            buffer.replay(
                &channel(),
                Position {
                    epoch: head.epoch,
                    offset: 1
                },
                now
            ),
            Replay::Messages(vec![Stored {
                offset: 2,
                sender: "u".into(),
                payload: payload(2),
                at: now,
            }])
        );
        assert_ne!(buffer.head(&other, now).epoch, head.epoch);
        // A channel with messages survives a sweep; one idle past the window does not.
        buffer.sweep(now + Duration::from_millis(500));
        assert_eq!(buffer.channel_count(), 2);
        buffer.sweep(now + Duration::from_secs(2));
        assert_eq!(buffer.channel_count(), 0);
    }
}
