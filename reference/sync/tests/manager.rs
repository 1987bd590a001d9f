//! The manager against a model of `spec/sync.md`'s guarantees (Properties 22-25): clients
//! connecting, subscribing, publishing with and without acknowledgment, asking who is
//! present, dropping their connections and resuming on new ones, in any interleaving, over
//! the memory broker. After every step each client's frames are judged: every message of a
//! subscribed channel exactly once and in offset order, an ack exactly when someone was
//! subscribed, presence exactly the users subscribed, and a resume that replays what was
//! missed or says 3004. Over the memory broker (one instance), and over Redis with two
//! instances sharing it, clients connecting to and resuming on either (`REDIS_URL`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};
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
    /// A slot connects, on an instance.
    Connect(usize, usize),
    Subscribe(usize, usize),
    Unsubscribe(usize, usize),
    Publish {
        slot: usize,
        channel: usize,
        ack: bool,
    },
    Presence(usize, usize),
    Drop(usize),
    /// A slot reconnects, on an instance, and resumes what it was subscribed to.
    Resume(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0usize..4, 0usize..2).prop_map(|(s, i)| Step::Connect(s, i)),
        3 => (0usize..4, 0usize..2).prop_map(|(s, c)| Step::Subscribe(s, c)),
        1 => (0usize..4, 0usize..2).prop_map(|(s, c)| Step::Unsubscribe(s, c)),
        6 => (0usize..4, 0usize..2, any::<bool>()).prop_map(|(slot, channel, ack)| Step::Publish { slot, channel, ack }),
        1 => (0usize..4, 0usize..2).prop_map(|(s, c)| Step::Presence(s, c)),
        1 => (0usize..4).prop_map(Step::Drop),
        1 => (0usize..4, 0usize..2).prop_map(|(s, i)| Step::Resume(s, i)),
    ]
}

/// A client slot: its connection, and what it knows.
#[derive(Default)]
struct Client {
    conn: Option<Connection>,
    /// The instance its connection is on.
    instance: usize,
    /// Frames received and not judged yet.
    inbox: VecDeque<ServerFrame>,
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

/// Moves what arrived into the clients' inboxes.
fn collect(clients: &mut [Client]) {
    for client in clients.iter_mut() {
        if let Some(conn) = client.conn.as_mut() {
            while let Some(frame) = conn.outbox.try_recv().ok().map(|f| f.frame().unwrap()) {
                client.inbox.push_back(frame);
            }
        }
    }
}

/// What a step waits for before it judges: deliveries cross a broker (Redis: other
/// connections' round trips), so the step waits until what the model owes has arrived, then
/// a moment more for anything it does not owe. Gives up after a while (the judge then fails).
#[derive(Debug, Clone, Copy)]
enum Owed {
    /// Nothing in particular (a dropped connection).
    Nothing,
    /// `count` answers (frames other than messages and presence events) to the slot.
    Answers { slot: usize, count: usize },
    /// `RESUMED` or a fresh `SUBSCRIBED` for each of `count` channels to the slot.
    Resumed { slot: usize, count: usize },
    /// Message `offset` of `ch` to every connection subscribed to it, and `answers` to the
    /// publisher.
    Message {
        ch: usize,
        offset: u64,
        slot: usize,
        answers: usize,
    },
}

fn is_answer(frame: &ServerFrame) -> bool {
    !matches!(
        frame,
        ServerFrame::Message { .. } | ServerFrame::PresenceEvent { .. }
    )
}

fn settled(clients: &[Client], owed: Owed) -> bool {
    let answers = |slot: usize| clients[slot].inbox.iter().filter(|f| is_answer(f)).count();
    match owed {
        Owed::Nothing => true,
        Owed::Answers { slot, count } => answers(slot) >= count,
        Owed::Resumed { slot, count } => {
            clients[slot]
                .inbox
                .iter()
                .filter(|f| {
                    matches!(
                        f,
                        ServerFrame::Resumed { .. } | ServerFrame::Subscribed { .. }
                    )
                })
                .count()
                >= count
        }
        Owed::Message {
            ch,
            offset,
            slot,
            answers: count,
        } => {
            answers(slot) >= count
                && clients
                    .iter()
                    .filter(|c| c.conn.is_some() && c.subscribed.contains(&ch))
                    .all(|c| {
                        c.inbox.iter().any(|f| {
                            matches!(f, ServerFrame::Message { channel, at, .. }
                                if channel_index(channel) == ch && at.offset >= offset)
                        })
                    })
        }
    }
}

async fn settle(clients: &mut [Client], owed: Owed) {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        collect(clients);
        if settled(clients, owed) || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // A moment for what is not owed (a duplicate, a stray answer) to show.
    tokio::time::sleep(Duration::from_millis(2)).await;
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    collect(clients);
}

fn drain(client: &mut Client) -> Vec<ServerFrame> {
    if let Some(conn) = client.conn.as_mut() {
        while let Some(frame) = conn.outbox.try_recv().ok().map(|f| f.frame().unwrap()) {
            client.inbox.push_back(frame);
        }
    }
    client.inbox.drain(..).collect()
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

/// The manager's limits for the model (no send queue or publish limit in the way).
fn config(buffer_size: u32) -> SyncConfig {
    SyncConfig {
        buffer_size,
        send_queue: 100_000,
        publish_limit: 1_000_000,
        ..SyncConfig::default()
    }
}

/// Runs `steps` against `instances` (managers sharing one broker's state), clients connecting
/// to the instance each step names (modulo their number).
async fn run(
    steps: Vec<Step>,
    buffer_size: u32,
    instances: &[Arc<WebSocketManager>],
) -> Result<(), TestCaseError> {
    let mut clients: Vec<Client> = (0..4).map(|_| Client::default()).collect();
    let mut last = [0u64; 2];
    let mut sessions = 0u8;
    for (request, step) in (1u32..).zip(steps) {
        match step {
            Step::Connect(s, i) | Step::Resume(s, i) if clients[s].conn.is_none() => {
                sessions += 1;
                let session = [sessions; 16];
                let instance = i % instances.len();
                let manager = &instances[instance];
                let conn = manager.connect(USERS[s], session).await.unwrap();
                let client = &mut clients[s];
                client.instance = instance;
                let old = client.session.replace(session);
                client.conn = Some(conn);
                let welcome = drain(client);
                let welcomed = matches!(welcome.as_slice(), [ServerFrame::Welcome { user, .. }] if user == USERS[s]);
                prop_assert!(welcomed, "WELCOME first: {:?}", welcome);
                if matches!(step, Step::Resume(..))
                    && let Some(old) = old
                    && !client.dropped.is_empty()
                {
                    let channels: Vec<(ChannelName, Position)> = client
                        .dropped
                        .iter()
                        .map(|ch| (name(*ch), client.positions[ch]))
                        .collect();
                    let id = client.conn.as_ref().unwrap().id;
                    let count = channels.len();
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
                    settle(&mut clients, Owed::Resumed { slot: s, count }).await;
                    let client = &mut clients[s];
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
            Step::Connect(..) | Step::Resume(..) => {}
            Step::Subscribe(s, ch) => {
                let Some(id) = clients[s].conn.as_ref().map(|c| c.id) else {
                    continue;
                };
                instances[clients[s].instance]
                    .handle(
                        id,
                        ClientFrame::Subscribe {
                            request,
                            channel: name(ch),
                        },
                    )
                    .await;
                settle(&mut clients, Owed::Answers { slot: s, count: 1 }).await;
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
                instances[clients[s].instance]
                    .handle(
                        id,
                        ClientFrame::Unsubscribe {
                            request,
                            channel: name(ch),
                        },
                    )
                    .await;
                settle(&mut clients, Owed::Answers { slot: s, count: 1 }).await;
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
                instances[clients[slot].instance]
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
                last[ch] += 1;
                let owed = Owed::Message {
                    ch,
                    offset: last[ch],
                    slot,
                    answers: usize::from(ack),
                };
                settle(&mut clients, owed).await;
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
                instances[clients[s].instance]
                    .handle(
                        id,
                        ClientFrame::Presence {
                            request,
                            channel: name(ch),
                        },
                    )
                    .await;
                settle(&mut clients, Owed::Answers { slot: s, count: 1 }).await;
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
                if client.conn.is_none() {
                    continue;
                }
                // What came before the drop is judged like any other frames.
                let frames = drain(client);
                judge(client, frames, &last)?;
                let Some(conn) = client.conn.take() else {
                    continue;
                };
                instances[client.instance].disconnect(conn.id).await;
                client.dropped = std::mem::take(&mut client.subscribed);
                settle(&mut clients, Owed::Nothing).await;
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

/// One instance on the memory broker.
async fn on_memory(steps: Vec<Step>, buffer_size: u32) -> Result<(), TestCaseError> {
    let broker = Arc::new(MemoryBroker::new(
        buffer_size as usize,
        Duration::from_secs(600),
        77,
    ));
    let manager = WebSocketManager::new(config(buffer_size), broker);
    manager.start();
    run(steps, buffer_size, &[manager]).await
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
        rt.block_on(on_memory(steps, buffer_size))?;
    }
}

#[cfg(feature = "redis")]
#[path = "../../test_services.rs"]
mod test_services;

#[cfg(feature = "redis")]
mod on_redis {
    //! Two instances sharing one Redis: every guarantee holds across them, a resume on the
    //! other instance included. Runs when `REDIS_URL` is set (CI sets it, with
    //! `DX_REQUIRE_REDIS=1`, so a missing Redis fails instead of skipping).

    use super::*;
    use dx_sync::broker::redis::{RedisBroker, RedisBrokerConfig};

    pub(super) fn redis_url() -> Option<String> {
        test_services::redis_url("the model on two instances sharing Redis")
    }

    /// Deletes every key under `prefix`.
    async fn clean(client: &redis::Client, prefix: &str) {
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{prefix}*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if !keys.is_empty() {
            let _: i64 = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut conn)
                .await
                .unwrap();
        }
    }

    async fn two_instances(
        url: &str,
        steps: Vec<Step>,
        buffer_size: u32,
    ) -> Result<(), TestCaseError> {
        let client = redis::Client::open(url).unwrap();
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).unwrap();
        let prefix = format!("dx:test:sync:{}:", u64::from_le_bytes(id));
        let instances: Vec<Arc<WebSocketManager>> = (0..2)
            .map(|_| {
                let mut settings =
                    RedisBrokerConfig::new(buffer_size as usize, Duration::from_secs(60));
                settings.prefix = prefix.clone();
                let broker = RedisBroker::start(client.clone(), settings).unwrap();
                let manager = WebSocketManager::new(config(buffer_size), Arc::new(broker));
                manager.start();
                manager
            })
            .collect();
        let result = run(steps, buffer_size, &instances).await;
        drop(instances);
        clean(&client, &prefix).await;
        result
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// Feature: production-readiness, Property 22: Pub/Sub Delivery
        /// Feature: production-readiness, Property 23: Message Buffer Replay
        /// Feature: production-readiness, Property 24: Presence Accuracy
        /// Feature: production-readiness, Property 25: Acknowledgment Guarantee
        #[test]
        fn two_instances_on_redis_keep_every_guarantee(steps in prop::collection::vec(step(), 1..40), buffer_size in 1u32..6) {
            let Some(url) = redis_url() else { return Ok(()) };
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(two_instances(&url, steps, buffer_size))?;
        }
    }
}
