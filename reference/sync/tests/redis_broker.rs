//! The Redis broker's failure paths (`spec/sync.md`, "Several instances"): an instance that
//! stops renewing its lease has its users reaped, with leave events, and a subscriber whose
//! instance loses its pub/sub connection mid-stream still gets every message once, in order.
//! Runs when `REDIS_URL` is set (CI sets it, with `DX_REQUIRE_REDIS=1`, so a missing Redis
//! fails instead of skipping).

#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use dx_sync::ChannelName;
use dx_sync::broker::redis::{RedisBroker, RedisBrokerConfig};
use dx_sync::broker::{Broker, FeedItem};
use dx_sync::frame::{ClientFrame, ServerFrame};
use dx_sync::manager::{SyncConfig, WebSocketManager};

fn redis_url() -> Option<String> {
    match std::env::var("REDIS_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var("DX_REQUIRE_REDIS").is_err(),
                "DX_REQUIRE_REDIS is set but REDIS_URL is not"
            );
            eprintln!("skipped: set REDIS_URL=redis://… to run the Redis broker tests");
            None
        }
    }
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
    let mut events = Vec::new();
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
        while let Ok(frame) = subscriber.outbox.try_recv() {
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
    while let Ok(frame) = subscriber.outbox.try_recv() {
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
