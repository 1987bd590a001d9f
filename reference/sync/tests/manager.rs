//! The manager against a model of `spec/sync.md`'s guarantees (Properties 22-25): clients
//! connecting, subscribing, publishing with and without acknowledgment, asking who is
//! present, dropping their connections and resuming on new ones, in any interleaving, over
//! the memory broker. After every step each client's frames are judged: every message of a
//! subscribed channel exactly once and in offset order, an ack exactly when someone was
//! subscribed, presence exactly the users subscribed, and a resume that replays what was
//! missed or says 3004.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use dx_sync::broker::memory::MemoryBroker;
use dx_sync::frame::{ClientFrame, ServerFrame, code};
use dx_sync::manager::{Connection, SyncConfig, WebSocketManager};
use dx_sync::{ChannelName, Position};
use proptest::prelude::*;

const USERS: [&str; 4] = ["alice", "bob", "carol", "alice"];
const CHANNELS: [&str; 2] = ["room:a", "room:b"];

#[derive(Debug, Clone)]
enum Step {
    Connect(usize),
    Subscribe(usize, usize),
    Unsubscribe(usize, usize),
    Publish {
        slot: usize,
        channel: usize,
        ack: bool,
    },
    Presence(usize, usize),
    Drop(usize),
    Resume(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0usize..4).prop_map(Step::Connect),
        3 => (0usize..4, 0usize..2).prop_map(|(s, c)| Step::Subscribe(s, c)),
        1 => (0usize..4, 0usize..2).prop_map(|(s, c)| Step::Unsubscribe(s, c)),
        6 => (0usize..4, 0usize..2, any::<bool>()).prop_map(|(slot, channel, ack)| Step::Publish { slot, channel, ack }),
        1 => (0usize..4, 0usize..2).prop_map(|(s, c)| Step::Presence(s, c)),
        1 => (0usize..4).prop_map(Step::Drop),
        1 => (0usize..4).prop_map(Step::Resume),
    ]
}

/// A client slot: its connection, and what it knows.
#[derive(Default)]
struct Client {
    conn: Option<Connection>,
    session: Option<[u8; 16]>,
    /// Channel -> the last position received (or subscribed at).
    positions: BTreeMap<usize, Position>,
    /// Channels subscribed on the open connection.
    subscribed: BTreeSet<usize>,
    /// Channels it was subscribed to when its connection dropped.
    dropped: BTreeSet<usize>,
}

fn name(ch: usize) -> ChannelName {
    ChannelName::new(CHANNELS[ch]).unwrap()
}

fn channel_index(channel: &ChannelName) -> usize {
    CHANNELS
        .iter()
        .position(|c| *c == channel.as_str())
        .unwrap()
}

/// Lets the feed task deliver what is pending.
async fn settle() {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
}

fn drain(client: &mut Client) -> Vec<ServerFrame> {
    let mut frames = Vec::new();
    if let Some(conn) = client.conn.as_mut() {
        while let Ok(frame) = conn.outbox.try_recv() {
            frames.push(frame);
        }
    }
    frames
}

/// Judges the frames a client received: messages of subscribed channels arrive exactly at
/// the next offset (once, in order); the rest are returned for the step to judge.
fn judge(
    client: &mut Client,
    frames: Vec<ServerFrame>,
    last: &[u64; 2],
) -> Result<Vec<ServerFrame>, TestCaseError> {
    let mut rest = Vec::new();
    for frame in frames {
        match &frame {
            ServerFrame::Message { channel, at, .. } => {
                let ch = channel_index(channel);
                prop_assert!(
                    client.subscribed.contains(&ch),
                    "a message of {} it is not subscribed to",
                    channel
                );
                let pos = client.positions.get(&ch).copied().unwrap_or(Position {
                    epoch: at.epoch,
                    offset: 0,
                });
                prop_assert_eq!(at.epoch, pos.epoch);
                prop_assert_eq!(
                    at.offset,
                    pos.offset + 1,
                    "{}: after {} came {} (exactly once, in order)",
                    channel,
                    pos.offset,
                    at.offset
                );
                prop_assert!(at.offset <= last[ch]);
                client.positions.insert(ch, *at);
            }
            ServerFrame::PresenceEvent { channel, .. } => {
                prop_assert!(client.subscribed.contains(&channel_index(channel)));
            }
            _ => rest.push(frame),
        }
    }
    Ok(rest)
}

fn expect_one(rest: Vec<ServerFrame>, what: &str) -> Result<ServerFrame, TestCaseError> {
    prop_assert_eq!(rest.len(), 1, "{}: {:?}", what, rest);
    Ok(rest.into_iter().next().unwrap())
}

async fn run(steps: Vec<Step>, buffer_size: u32) -> Result<(), TestCaseError> {
    let broker = Arc::new(MemoryBroker::new(
        buffer_size as usize,
        Duration::from_secs(600),
        77,
    ));
    let config = SyncConfig {
        buffer_size,
        send_queue: 100_000,
        publish_limit: 1_000_000,
        ..SyncConfig::default()
    };
    let manager = WebSocketManager::new(config, broker);
    manager.start();
    let mut clients: Vec<Client> = (0..4).map(|_| Client::default()).collect();
    let mut last = [0u64; 2];
    let mut sessions = 0u8;
    for (request, step) in (1u32..).zip(steps) {
        match step {
            Step::Connect(s) | Step::Resume(s) if clients[s].conn.is_none() => {
                sessions += 1;
                let session = [sessions; 16];
                let conn = manager.connect(USERS[s], session).await.unwrap();
                let client = &mut clients[s];
                let old = client.session.replace(session);
                client.conn = Some(conn);
                let welcome = drain(client);
                let welcomed = matches!(welcome.as_slice(), [ServerFrame::Welcome { user, .. }] if user == USERS[s]);
                prop_assert!(welcomed, "WELCOME first: {:?}", welcome);
                if matches!(step, Step::Resume(_))
                    && let Some(old) = old
                    && !client.dropped.is_empty()
                {
                    let channels: Vec<(ChannelName, Position)> = client
                        .dropped
                        .iter()
                        .map(|ch| (name(*ch), client.positions[ch]))
                        .collect();
                    let id = client.conn.as_ref().unwrap().id;
                    manager
                        .handle(
                            id,
                            ClientFrame::Resume {
                                request,
                                session: old,
                                channels,
                            },
                        )
                        .await;
                    settle().await;
                    let dropped = std::mem::take(&mut client.dropped);
                    client.subscribed = dropped.clone();
                    let frames = drain(client);
                    let rest = judge(client, frames, &last)?;
                    // Per channel: RESUMED after the missed messages, or 3004 then SUBSCRIBED.
                    let mut answers = rest.into_iter();
                    for ch in dropped {
                        let missed = last[ch] - client.positions[&ch].offset;
                        match answers.next() {
                            Some(ServerFrame::Resumed { channel, at, .. }) => {
                                prop_assert_eq!(channel_index(&channel), ch);
                                prop_assert_eq!(
                                    at.offset,
                                    last[ch],
                                    "resumed up to the last message"
                                );
                            }
                            Some(ServerFrame::Error {
                                code: c, channel, ..
                            }) => {
                                prop_assert_eq!(c, code::BUFFER_OVERFLOW);
                                prop_assert_eq!(channel.as_str(), CHANNELS[ch]);
                                prop_assert!(
                                    missed > u64::from(buffer_size),
                                    "3004 although {} missed messages are kept",
                                    missed
                                );
                                let Some(ServerFrame::Subscribed { at, .. }) = answers.next()
                                else {
                                    return Err(TestCaseError::fail(
                                        "3004 without a fresh SUBSCRIBED",
                                    ));
                                };
                                prop_assert_eq!(at.offset, last[ch]);
                                client.positions.insert(ch, at);
                            }
                            other => {
                                return Err(TestCaseError::fail(format!(
                                    "resume of {ch}: {other:?}"
                                )));
                            }
                        }
                    }
                    prop_assert!(answers.next().is_none());
                }
            }
            Step::Connect(_) | Step::Resume(_) => {}
            Step::Subscribe(s, ch) => {
                let Some(id) = clients[s].conn.as_ref().map(|c| c.id) else {
                    continue;
                };
                manager
                    .handle(
                        id,
                        ClientFrame::Subscribe {
                            request,
                            channel: name(ch),
                        },
                    )
                    .await;
                settle().await;
                let client = &mut clients[s];
                let frames = drain(client);
                let already = client.subscribed.contains(&ch);
                client.subscribed.insert(ch);
                let rest = judge(client, frames, &last)?;
                let ServerFrame::Subscribed { at, .. } = expect_one(rest, "subscribe")? else {
                    return Err(TestCaseError::fail("no SUBSCRIBED"));
                };
                if already {
                    prop_assert_eq!(at.offset, client.positions[&ch].offset.min(at.offset));
                } else {
                    prop_assert_eq!(
                        at.offset,
                        last[ch],
                        "subscribed at the channel's last message"
                    );
                    client.positions.insert(ch, at);
                }
            }
            Step::Unsubscribe(s, ch) => {
                let Some(id) = clients[s].conn.as_ref().map(|c| c.id) else {
                    continue;
                };
                manager
                    .handle(
                        id,
                        ClientFrame::Unsubscribe {
                            request,
                            channel: name(ch),
                        },
                    )
                    .await;
                settle().await;
                let client = &mut clients[s];
                let frames = drain(client);
                let rest = judge(client, frames, &last)?;
                let answer = expect_one(rest, "unsubscribe")?;
                prop_assert!(
                    matches!(answer, ServerFrame::Unsubscribed { .. }),
                    "{:?}",
                    answer
                );
                client.subscribed.remove(&ch);
            }
            Step::Publish {
                slot,
                channel: ch,
                ack,
            } => {
                let Some(id) = clients[slot].conn.as_ref().map(|c| c.id) else {
                    continue;
                };
                let subscribed = clients
                    .iter()
                    .any(|c| c.conn.is_some() && c.subscribed.contains(&ch));
                manager
                    .handle(
                        id,
                        ClientFrame::Publish {
                            request,
                            ack,
                            channel: name(ch),
                            payload: vec![ch as u8; 3],
                        },
                    )
                    .await;
                settle().await;
                last[ch] += 1;
                for (i, client) in clients.iter_mut().enumerate() {
                    let frames = drain(client);
                    let rest = judge(client, frames, &last)?;
                    if i != slot {
                        prop_assert!(rest.is_empty(), "{:?}", rest);
                        continue;
                    }
                    if !ack {
                        prop_assert!(
                            rest.is_empty(),
                            "an answer to a publish without ack: {:?}",
                            rest
                        );
                        continue;
                    }
                    match expect_one(rest, "publish with ack")? {
                        ServerFrame::Ack { at, .. } => {
                            prop_assert!(subscribed, "an ack with no subscriber");
                            prop_assert_eq!(at.offset, last[ch]);
                        }
                        ServerFrame::Nack { code: c, at, .. } => {
                            prop_assert!(!subscribed, "a nack although someone was subscribed");
                            prop_assert_eq!(c, code::CHANNEL_NOT_FOUND);
                            prop_assert_eq!(at.offset, last[ch]);
                        }
                        other => return Err(TestCaseError::fail(format!("{other:?}"))),
                    }
                }
            }
            Step::Presence(s, ch) => {
                let Some(id) = clients[s].conn.as_ref().map(|c| c.id) else {
                    continue;
                };
                manager
                    .handle(
                        id,
                        ClientFrame::Presence {
                            request,
                            channel: name(ch),
                        },
                    )
                    .await;
                settle().await;
                let want: Vec<String> = clients
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.conn.is_some() && c.subscribed.contains(&ch))
                    .map(|(i, _)| USERS[i].to_owned())
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let client = &mut clients[s];
                let frames = drain(client);
                let rest = judge(client, frames, &last)?;
                let ServerFrame::PresenceList { users, .. } = expect_one(rest, "presence")? else {
                    return Err(TestCaseError::fail("no PRESENCE_LIST"));
                };
                prop_assert_eq!(users, want);
            }
            Step::Drop(s) => {
                let client = &mut clients[s];
                let Some(conn) = client.conn.take() else {
                    continue;
                };
                manager.disconnect(conn.id).await;
                client.dropped = std::mem::take(&mut client.subscribed);
                settle().await;
            }
        }
    }
    // Everyone still subscribed has every message.
    for client in &clients {
        if client.conn.is_some() {
            for ch in &client.subscribed {
                prop_assert_eq!(client.positions[ch].offset, last[*ch]);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Feature: production-readiness, Property 22: Pub/Sub Delivery
    /// Feature: production-readiness, Property 23: Message Buffer Replay
    /// Feature: production-readiness, Property 24: Presence Accuracy
    /// Feature: production-readiness, Property 25: Acknowledgment Guarantee
    #[test]
    fn the_manager_keeps_every_guarantee(steps in prop::collection::vec(step(), 1..60), buffer_size in 1u32..6) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(steps, buffer_size))?;
    }
}
