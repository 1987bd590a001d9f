//! The Redis broker's failure paths (`spec/sync.md`, "Several instances"): an instance that
//! stops renewing its lease has its users reaped, with leave events, and a subscriber whose
//! instance loses its pub/sub connection mid-stream still gets every message once, in order.
//! Runs when `REDIS_URL` is set (CI sets it, with `DX_REQUIRE_REDIS=1`, so a missing Redis
//! fails instead of skipping).

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use dx_sync::broker::redis::{RedisBroker, RedisBrokerConfig};
use dx_sync::broker::{Broker, FeedItem};
use dx_sync::buffer::Replay;
use dx_sync::frame::{ClientFrame, ServerFrame};
use dx_sync::manager::{SyncConfig, WebSocketManager};
use dx_sync::{ChannelName, Position};

#[path = "../../test_services.rs"]
mod test_services;

fn redis_url() -> Option<String> {
    test_services::redis_url("the Redis broker tests")
}

fn settings(prefix: &str, lease: Duration) -> RedisBrokerConfig {
    let mut s = RedisBrokerConfig::new(100, Duration::from_secs(60));
    s.prefix = prefix.to_owned();
    s.instance_lease = lease;
    s
}

fn prefix() -> String {
    let mut id = [0u8; 8];
    getrandom::fill(&mut id).unwrap();
    format!("dx:test:broker:{:016x}:", u64::from_le_bytes(id))
}

async fn poll_until<F: AsyncFnMut() -> bool>(what: &str, mut done: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Both scenarios in one test: the second kills every pub/sub connection of the Redis
/// server, which would disturb a test running beside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_broker_survives_dead_instances_and_dropped_connections() {
    let Some(url) = redis_url() else { return };
    let client = redis::Client::open(url.as_str()).unwrap();
    dead_instances_are_reaped_with_leave_events(&client).await;
    a_dropped_pubsub_connection_loses_no_message(&client).await;
    replay_gives_everything_after_a_position_or_a_gap(&client).await;
    acknowledgments_count_every_instances_report(&client).await;
    sessions_belong_to_their_user_and_outlive_a_close_by_the_retention(&client).await;
    listening_is_counted_per_subscription(&client).await;
}

async fn replay_gives_everything_after_a_position_or_a_gap(client: &redis::Client) {
    let prefix = prefix();
    let mut config = settings(&prefix, Duration::from_secs(3));
    config.buffer_size = 2;
    config.retention = Duration::from_millis(1000);
    let broker = RedisBroker::start(client.clone(), config).unwrap();
    let room = ChannelName::new("room").unwrap();
    let start = broker.head(&room).await.unwrap();
    let at = |offset| Position {
        epoch: start.epoch,
        offset,
    };
    let offsets = |replay: Replay| match replay {
        Replay::Messages(m) => Some(m.iter().map(|m| m.offset).collect::<Vec<_>>()),
        Replay::Gap => None,
    };
    for i in 1..=3u8 {
        let published = broker
            .publish(&room, "ann".into(), vec![i].into(), false)
            .await
            .unwrap();
        assert_eq!(published.at, at(u64::from(i)));
    }
    // Two kept: from 1 on is whole, from 0 on is not.
    assert_eq!(
        offsets(broker.replay(&room, at(1)).await.unwrap()),
        Some(vec![2, 3])
    );
    assert_eq!(
        offsets(broker.replay(&room, at(3)).await.unwrap()),
        Some(vec![])
    );
    assert_eq!(offsets(broker.replay(&room, at(0)).await.unwrap()), None);
    // Another epoch, or beyond the last message: a gap, not an error.
    let other = Position {
        epoch: start.epoch.wrapping_add(1),
        offset: 1,
    };
    assert_eq!(offsets(broker.replay(&room, other).await.unwrap()), None);
    assert_eq!(offsets(broker.replay(&room, at(4)).await.unwrap()), None);
    // Age: message 3 passes the retention while message 4 does not; the channel is
    // touched in between, so only the messages' own age can tell.
    tokio::time::sleep(Duration::from_millis(700)).await;
    broker
        .publish(&room, "ann".into(), vec![4].into(), false)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.head(&room).await.unwrap();
    assert_eq!(offsets(broker.replay(&room, at(2)).await.unwrap()), None);
    assert_eq!(
        offsets(broker.replay(&room, at(3)).await.unwrap()),
        Some(vec![4])
    );
}

async fn acknowledgments_count_every_instances_report(client: &redis::Client) {
    let prefix = prefix();
    let lease = Duration::from_secs(3);
    let a = Arc::new(RedisBroker::start(client.clone(), settings(&prefix, lease)).unwrap());
    let b = RedisBroker::start(client.clone(), settings(&prefix, lease)).unwrap();
    let room = ChannelName::new("room").unwrap();
    let mut feed = b.take_feed().unwrap();
    b.listen(&room, true).await.unwrap();
    // (reached, subscribed) as B reports them -> what A's publisher learns.
    for (reached, subscribed) in [(0, 1), (1, 1), (0, 0)] {
        let publisher = Arc::clone(&a);
        let channel = room.clone();
        let publish = tokio::spawn(async move {
            publisher
                .publish(&channel, "ann".into(), vec![1].into(), true)
                .await
                .unwrap()
        });
        let ticket = loop {
            match tokio::time::timeout(Duration::from_secs(5), feed.recv()).await {
                Ok(Some(FeedItem::Message(envelope))) => break envelope.ticket.unwrap(),
                Ok(Some(FeedItem::Presence { .. })) => continue,
                other => panic!("no envelope: {other:?}"),
            }
        };
        b.report(ticket, reached, subscribed).await.unwrap();
        let delivery = publish.await.unwrap().delivery.unwrap();
        assert_eq!(
            (delivery.reached, delivery.had_subscribers),
            (reached, subscribed > 0)
        );
    }
}

async fn sessions_belong_to_their_user_and_outlive_a_close_by_the_retention(
    client: &redis::Client,
) {
    let prefix = prefix();
    let broker =
        RedisBroker::start(client.clone(), settings(&prefix, Duration::from_secs(3))).unwrap();
    let session = [7u8; 16];
    broker.session_open(session, "ann").await.unwrap();
    assert!(broker.session_resumable(session, "ann").await.unwrap());
    assert!(!broker.session_resumable(session, "bob").await.unwrap());
    assert!(!broker.session_resumable([8; 16], "ann").await.unwrap());
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{prefix}s:{}", "07".repeat(16));
    let open: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut admin)
        .await
        .unwrap();
    broker.session_close(session).await.unwrap();
    let closed: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut admin)
        .await
        .unwrap();
    assert!(open > 3_600_000, "an open session is kept long: {open} ms");
    assert!(
        (1..=60_000).contains(&closed),
        "a closed one for the retention window: {closed} ms"
    );
    assert!(broker.session_resumable(session, "ann").await.unwrap());
}

async fn listening_is_counted_per_subscription(client: &redis::Client) {
    let prefix = prefix();
    let lease = Duration::from_secs(3);
    let b = RedisBroker::start(client.clone(), settings(&prefix, lease)).unwrap();
    let room = ChannelName::new("room").unwrap();
    let _feed = b.take_feed().unwrap();
    // Whether any instance listens on the channel's pub/sub channel (Redis's own view).
    let listened = async || {
        let mut admin = client.get_multiplexed_async_connection().await.unwrap();
        let channels: Vec<String> = redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .arg(format!("{prefix}m:*"))
            .query_async(&mut admin)
            .await
            .unwrap();
        !channels.is_empty()
    };
    assert!(!listened().await);
    b.listen(&room, true).await.unwrap();
    b.listen(&room, true).await.unwrap();
    b.listen(&room, false).await.unwrap();
    assert!(listened().await, "one subscription is left");
    b.listen(&room, false).await.unwrap();
    assert!(!listened().await, "none is left");
    b.listen(&room, false).await.unwrap();
    b.listen(&room, true).await.unwrap();
    assert!(
        listened().await,
        "a stray leave does not make the count negative"
    );
}

async fn dead_instances_are_reaped_with_leave_events(client: &redis::Client) {
    let prefix = prefix();
    let lease = Duration::from_millis(300);
    let a = RedisBroker::start(client.clone(), settings(&prefix, lease)).unwrap();
    let b = RedisBroker::start(client.clone(), settings(&prefix, lease)).unwrap();
    let room = ChannelName::new("room").unwrap();
    let mut feed = b.take_feed().unwrap();
    b.listen(&room, true).await.unwrap();
    a.presence_join(&room, "ann").await.unwrap();
    b.presence_join(&room, "ben").await.unwrap();
    // Ann joins twice on A: one user, listed once, left only when both are gone.
    a.presence_join(&room, "ann").await.unwrap();
    assert_eq!(b.presence(&room).await.unwrap(), ["ann", "ben"]);
    // A stops renewing its lease (dropped: its tasks end) without leaving.
    drop(a);
    poll_until("B reaps A's users", async || {
        b.presence(&room).await.unwrap() == ["ben"]
    })
    .await;
    // The reaper's leave event travels over pub/sub, so it may come after the
    // presence set already shows the reap: wait for it (or for a wrong fourth).
    let mut events = Vec::new();
    while events.len() < 3 {
        match tokio::time::timeout(Duration::from_secs(5), feed.recv()).await {
            Ok(Some(FeedItem::Presence { user, joined, .. })) => {
                events.push((user.to_string(), joined));
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    while let Ok(item) = feed.try_recv() {
        if let FeedItem::Presence { user, joined, .. } = item {
            events.push((user.to_string(), joined));
        }
    }
    assert_eq!(
        events,
        [
            ("ann".to_owned(), true),
            ("ben".to_owned(), true),
            ("ann".to_owned(), false)
        ]
    );
    b.presence_leave(&room, "ben").await.unwrap();
    assert!(b.presence(&room).await.unwrap().is_empty());
}

async fn a_dropped_pubsub_connection_loses_no_message(client: &redis::Client) {
    let prefix = prefix();
    let lease = Duration::from_secs(3);
    let config = SyncConfig {
        publish_limit: 1_000_000,
        ..SyncConfig::default()
    };
    let instance = || {
        let broker = RedisBroker::start(client.clone(), settings(&prefix, lease)).unwrap();
        let manager = WebSocketManager::new(config.clone(), Arc::new(broker));
        manager.start();
        manager
    };
    let (a, b) = (instance(), instance());
    let room = ChannelName::new("room").unwrap();
    let mut subscriber = b.connect("sub", [1; 16]).await.unwrap();
    let publisher = a.connect("pub", [2; 16]).await.unwrap();
    b.handle(
        subscriber.id,
        ClientFrame::Subscribe {
            request: 1,
            channel: room.clone(),
        },
    )
    .await;
    let mut admin = client.get_multiplexed_async_connection().await.unwrap();
    let total = 60u8;
    for i in 0..total {
        if i % 10 == 5 || i == total - 1 {
            // Every pub/sub connection of the server dropped, B's among them; the last
            // time just before the last message, so only a re-announcement can bring it.
            let _: redis::Value = redis::cmd("CLIENT")
                .arg("KILL")
                .arg("TYPE")
                .arg("pubsub")
                .query_async(&mut admin)
                .await
                .unwrap();
        }
        a.handle(
            publisher.id,
            ClientFrame::Publish {
                request: u32::from(i),
                ack: false,
                channel: room.clone(),
                payload: vec![i],
            },
        )
        .await;
    }
    let mut got = Vec::new();
    let mut start = None;
    poll_until("every message reaches the subscriber", async || {
        while let Some(frame) = subscriber
            .outbox
            .try_recv()
            .ok()
            .map(|f| f.frame().unwrap())
        {
            match frame {
                ServerFrame::Subscribed { at, .. } => start = Some(at.offset),
                ServerFrame::Message { at, payload, .. } => got.push((at.offset, payload)),
                _ => {}
            }
        }
        got.len() >= usize::from(total)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Some(frame) = subscriber
        .outbox
        .try_recv()
        .ok()
        .map(|f| f.frame().unwrap())
    {
        if let ServerFrame::Message { at, payload, .. } = frame {
            got.push((at.offset, payload));
        }
    }
    let start = start.unwrap();
    let want: Vec<(u64, Vec<u8>)> = (0..total)
        .map(|i| (start + 1 + u64::from(i), vec![i]))
        .collect();
    assert_eq!(got, want, "every message once, in order");
}
