//! The manager's single rules, one case each (`spec/sync.md`, "Refusals" and "Frames"): the
//! publish limit, the payload limit, an `ERROR`'s message per code, a resume naming another
//! epoch, and closing or refusing a connection from outside. The interleavings are the
//! model test's (`tests/manager.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use dx_sync::broker::memory::MemoryBroker;
use dx_sync::frame::{ClientFrame, ServerFrame, code};
use dx_sync::manager::{Close, Connection, SyncConfig, WebSocketManager, error_frame};
use dx_sync::{ChannelName, Position};
use rstest::rstest;

fn manager(config: SyncConfig) -> Arc<WebSocketManager> {
    let broker = Arc::new(MemoryBroker::new(
        config.buffer_size as usize,
        config.retention,
        9,
    ));
    let m = WebSocketManager::new(config, broker);
    m.start();
    m
}

fn room() -> ChannelName {
    ChannelName::new("room").unwrap()
}

/// Every frame queued for `conn` by now (after letting the feed task run), presence events
/// left out: these cases are about answers and messages.
async fn frames(conn: &mut Connection) -> Vec<ServerFrame> {
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    let mut out = Vec::new();
    while let Some(frame) = conn.outbox.try_recv().ok().map(|f| f.frame().unwrap()) {
        if !matches!(frame, ServerFrame::PresenceEvent { .. }) {
            out.push(frame);
        }
    }
    out
}

fn publish(request: u32, payload: Vec<u8>) -> ClientFrame {
    ClientFrame::Publish {
        request,
        ack: true,
        channel: room(),
        payload,
    }
}

/// The public message of each code the manager sends, as spec/error-codes.toml words it.
#[rstest]
#[case(1002)]
#[case(1004)]
#[case(1005)]
#[case(3001)]
#[case(3002)]
#[case(3003)]
#[case(3004)]
#[case(4000)]
#[case(4001)]
#[case(4013)]
#[case(5003)]
fn an_error_carries_its_codes_public_message(#[case] number: u16) {
    let spec = include_str!("../../../spec/error-codes.toml");
    let entry = spec
        .split("[[code]]")
        .find(|e| e.contains(&format!("number = {number}\n")))
        .expect("the code is in the spec");
    let message = entry
        .lines()
        .find_map(|l| l.strip_prefix("message = \""))
        .and_then(|l| l.strip_suffix('"'))
        .expect("a message");
    let ServerFrame::Error {
        request,
        code: c,
        channel,
        message: m,
    } = error_frame(7, number, "room")
    else {
        unreachable!()
    };
    assert_eq!((request, c, channel.as_str()), (7, number, "room"));
    assert_eq!(m, message);
}

#[tokio::test]
async fn publishes_beyond_the_limit_are_refused_one_by_one() {
    let m = manager(SyncConfig {
        publish_limit: 3,
        publish_window: Duration::from_secs(60),
        ..SyncConfig::default()
    });
    let mut conn = m.connect("ann", [1; 16]).await.unwrap();
    frames(&mut conn).await;
    for request in 1..=5 {
        m.handle(conn.id, publish(request, vec![1])).await;
    }
    let answers: Vec<(u32, Option<u16>)> = frames(&mut conn)
        .await
        .into_iter()
        .map(|f| match f {
            ServerFrame::Nack { request, code, .. } => (request, Some(code)),
            ServerFrame::Error { request, code, .. } => (request, Some(code)),
            ServerFrame::Ack { request, .. } => (request, None),
            other => panic!("{other:?}"),
        })
        .collect();
    // Three admitted (nobody subscribed: 3002), two refused with 1005.
    assert_eq!(
        answers,
        [
            (1, Some(code::CHANNEL_NOT_FOUND)),
            (2, Some(code::CHANNEL_NOT_FOUND)),
            (3, Some(code::CHANNEL_NOT_FOUND)),
            (4, Some(code::RATE_LIMITED)),
            (5, Some(code::RATE_LIMITED)),
        ]
    );
}

#[tokio::test]
async fn a_payload_of_max_payload_bytes_is_taken_one_more_is_refused() {
    let m = manager(SyncConfig {
        max_payload: 8,
        ..SyncConfig::default()
    });
    let mut conn = m.connect("ann", [1; 16]).await.unwrap();
    m.handle(
        conn.id,
        ClientFrame::Subscribe {
            request: 1,
            channel: room(),
        },
    )
    .await;
    frames(&mut conn).await;
    m.handle(conn.id, publish(2, vec![0; 8])).await;
    m.handle(conn.id, publish(3, vec![0; 9])).await;
    let got = frames(&mut conn).await;
    assert!(
        matches!(got.as_slice(), [
            ServerFrame::Message { payload, .. },
            ServerFrame::Ack { request: 2, .. },
            ServerFrame::Error { request: 3, code: c, .. },
        ] if payload.len() == 8 && *c == code::PAYLOAD_TOO_LARGE),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_resume_from_another_epoch_is_told_3004_then_subscribed_afresh() {
    let m = manager(SyncConfig::default());
    let mut first = m.connect("ann", [1; 16]).await.unwrap();
    m.handle(
        first.id,
        ClientFrame::Subscribe {
            request: 1,
            channel: room(),
        },
    )
    .await;
    let head = match frames(&mut first).await.as_slice() {
        [_, ServerFrame::Subscribed { at, .. }] => *at,
        other => panic!("{other:?}"),
    };
    m.disconnect(first.id).await;
    for (from, why) in [
        (
            Position {
                epoch: head.epoch.wrapping_add(1),
                offset: 0,
            },
            "another epoch",
        ),
        (
            Position {
                epoch: head.epoch,
                offset: head.offset + 1,
            },
            "an offset the channel never reached",
        ),
    ] {
        let mut again = m.connect("ann", [2; 16]).await.unwrap();
        frames(&mut again).await;
        m.handle(
            again.id,
            ClientFrame::Resume {
                request: 2,
                session: [1; 16],
                channels: vec![(room(), from)],
            },
        )
        .await;
        let got = frames(&mut again).await;
        assert!(
            matches!(got.as_slice(), [
                ServerFrame::Error { request: 2, code: c, .. },
                ServerFrame::Subscribed { request: 2, at, .. },
            ] if *c == code::BUFFER_OVERFLOW && *at == head),
            "{why}: {got:?}"
        );
        m.disconnect(again.id).await;
    }
}

#[tokio::test]
async fn a_connection_is_closed_or_refused_from_outside() {
    let m = manager(SyncConfig::default());
    assert_eq!(m.broker_name(), "memory");
    assert_eq!(m.config().buffer_size, SyncConfig::default().buffer_size);
    let mut conn = m.connect("ann", [1; 16]).await.unwrap();
    frames(&mut conn).await;
    m.refuse(conn.id, error_frame(0, code::BAD_REQUEST, ""));
    assert_eq!(
        frames(&mut conn).await,
        [error_frame(0, code::BAD_REQUEST, "")]
    );
    let close = Close {
        code: 4001,
        reason: "token revoked",
        error: Some(error_frame(0, code::TOKEN_REVOKED, "")),
    };
    m.close(conn.id, close.clone());
    assert_eq!(conn.kill.await.unwrap(), close);
}

#[tokio::test]
async fn presence_lists_each_subscribed_user_once() {
    let m = manager(SyncConfig::default());
    let mut conns = Vec::new();
    for (i, user) in ["bob", "ann", "bob"].iter().enumerate() {
        let conn = m.connect(user, [i as u8; 16]).await.unwrap();
        m.handle(
            conn.id,
            ClientFrame::Subscribe {
                request: 1,
                channel: room(),
            },
        )
        .await;
        conns.push(conn);
    }
    assert_eq!(m.get_presence(&room()).await.unwrap(), ["ann", "bob"]);
    m.disconnect(conns[0].id).await;
    assert_eq!(m.get_presence(&room()).await.unwrap(), ["ann", "bob"]);
    m.disconnect(conns[2].id).await;
    assert_eq!(m.get_presence(&room()).await.unwrap(), ["ann"]);
}

#[tokio::test]
async fn the_memory_broker_keeps_sessions_per_user_for_the_retention_window() {
    use dx_sync::broker::Broker;
    let broker = MemoryBroker::new(4, Duration::from_millis(200), 1);
    broker.session_open([1; 16], "ann").await.unwrap();
    assert!(broker.session_resumable([1; 16], "ann").await.unwrap());
    assert!(!broker.session_resumable([1; 16], "bob").await.unwrap());
    assert!(!broker.session_resumable([2; 16], "ann").await.unwrap());
    broker.session_close([1; 16]).await.unwrap();
    assert!(broker.session_resumable([1; 16], "ann").await.unwrap());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!broker.session_resumable([1; 16], "ann").await.unwrap());
    assert_eq!(broker.name(), "memory");
}

#[tokio::test]
async fn a_memory_broker_acknowledgment_reports_reach_and_subscribers() {
    use dx_sync::broker::{Broker, FeedItem};
    let broker = Arc::new(MemoryBroker::new(4, Duration::from_secs(60), 1));
    let mut feed = broker.take_feed().unwrap();
    broker.listen(&room(), true).await.unwrap();
    for (reached, subscribed) in [(0, 1), (2, 3), (0, 0)] {
        let publisher = Arc::clone(&broker);
        let publish = tokio::spawn(async move {
            publisher
                .publish(&room(), "ann".into(), vec![1].into(), true)
                .await
                .unwrap()
        });
        let Some(FeedItem::Message(envelope)) = feed.recv().await else {
            panic!("no envelope")
        };
        broker
            .report(envelope.ticket.unwrap(), reached, subscribed)
            .await
            .unwrap();
        let delivery = publish.await.unwrap().delivery.unwrap();
        assert_eq!(
            (delivery.reached, delivery.had_subscribers),
            (reached, subscribed > 0)
        );
    }
}

#[tokio::test]
async fn a_subscription_beyond_max_channels_is_refused_and_the_others_hold() {
    let m = manager(SyncConfig {
        max_channels: 2,
        ..SyncConfig::default()
    });
    let mut conn = m.connect("ann", [1; 16]).await.unwrap();
    frames(&mut conn).await;
    for (request, name) in [(1, "a"), (2, "b"), (3, "c"), (4, "a")] {
        m.handle(
            conn.id,
            ClientFrame::Subscribe {
                request,
                channel: ChannelName::new(name).unwrap(),
            },
        )
        .await;
    }
    let answers: Vec<(u32, Option<u16>)> = frames(&mut conn)
        .await
        .into_iter()
        .map(|f| match f {
            ServerFrame::Subscribed { request, .. } => (request, None),
            ServerFrame::Error { request, code, .. } => (request, Some(code)),
            other => panic!("{other:?}"),
        })
        .collect();
    // The third is refused; subscribing again to one held is answered as before.
    assert_eq!(
        answers,
        [
            (1, None),
            (2, None),
            (3, Some(code::RESOURCE_EXHAUSTED)),
            (4, None)
        ]
    );
}

/// Requirement 7.4: shutting down closes every open connection with 1001, and a connection
/// that opens afterwards is closed the same way at once; each is counted until it is
/// forgotten.
#[tokio::test]
async fn shutting_down_closes_every_connection_with_1001() {
    let m = manager(SyncConfig::default());
    let mut a = m.connect("alice", [1; 16]).await.unwrap();
    let mut b = m.connect("bob", [2; 16]).await.unwrap();
    assert_eq!(m.connection_count(), 2);
    assert_eq!(m.shut_down(), 2);
    let going_away = Close {
        code: 1001,
        reason: "server shutting down",
        error: None,
    };
    assert_eq!((&mut a.kill).await.unwrap(), going_away);
    assert_eq!((&mut b.kill).await.unwrap(), going_away);
    let mut late = m.connect("carol", [3; 16]).await.unwrap();
    assert_eq!((&mut late.kill).await.unwrap(), going_away);
    // Told once: a second call finds nobody left to tell.
    assert_eq!(m.shut_down(), 0);
    for conn in [a.id, b.id, late.id] {
        m.disconnect(conn).await;
    }
    assert_eq!(m.connection_count(), 0);
}

/// A broker whose feed is down for this instance (a Redis that restarted empty, a pub/sub
/// connection reconnecting): it keeps every message, but no instance hears of one.
#[derive(Debug)]
struct Deaf(MemoryBroker);

#[async_trait::async_trait]
impl dx_sync::broker::Broker for Deaf {
    fn take_feed(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<dx_sync::broker::FeedItem>> {
        self.0.take_feed()
    }
    async fn head(&self, channel: &ChannelName) -> Result<Position, dx_sync::broker::BrokerError> {
        self.0.head(channel).await
    }
    async fn listen(
        &self,
        _channel: &ChannelName,
        _on: bool,
    ) -> Result<(), dx_sync::broker::BrokerError> {
        Ok(())
    }
    async fn publish(
        &self,
        channel: &ChannelName,
        sender: Arc<str>,
        payload: Arc<[u8]>,
        ack: bool,
    ) -> Result<dx_sync::broker::Published, dx_sync::broker::BrokerError> {
        self.0.publish(channel, sender, payload, ack).await
    }
    async fn report(
        &self,
        ticket: u64,
        reached: u64,
        subscribed: u64,
    ) -> Result<(), dx_sync::broker::BrokerError> {
        self.0.report(ticket, reached, subscribed).await
    }
    async fn replay(
        &self,
        channel: &ChannelName,
        from: Position,
    ) -> Result<dx_sync::buffer::Replay, dx_sync::broker::BrokerError> {
        self.0.replay(channel, from).await
    }
    async fn presence_join(
        &self,
        channel: &ChannelName,
        user: &str,
    ) -> Result<(), dx_sync::broker::BrokerError> {
        self.0.presence_join(channel, user).await
    }
    async fn presence_leave(
        &self,
        channel: &ChannelName,
        user: &str,
    ) -> Result<(), dx_sync::broker::BrokerError> {
        self.0.presence_leave(channel, user).await
    }
    async fn presence(
        &self,
        channel: &ChannelName,
    ) -> Result<Vec<String>, dx_sync::broker::BrokerError> {
        self.0.presence(channel).await
    }
    async fn session_open(
        &self,
        session: [u8; 16],
        user: &str,
    ) -> Result<(), dx_sync::broker::BrokerError> {
        self.0.session_open(session, user).await
    }
    async fn session_close(&self, session: [u8; 16]) -> Result<(), dx_sync::broker::BrokerError> {
        self.0.session_close(session).await
    }
    async fn session_resumable(
        &self,
        session: [u8; 16],
        user: &str,
    ) -> Result<bool, dx_sync::broker::BrokerError> {
        self.0.session_resumable(session, user).await
    }
    fn name(&self) -> &'static str {
        "deaf"
    }
}

/// spec/sync.md, "Acknowledgment": 3002 means the channel had no subscriber. Found under
/// load (benches/load, a Redis restarted empty): while the broker's feed was down, a
/// publish on a channel with subscribers on this very instance was answered 3002. The
/// instance's own subscribers make it 3003, the false negative the spec allows.
#[tokio::test]
async fn a_deaf_broker_never_turns_local_subscribers_into_3002() {
    let config = SyncConfig::default();
    let broker = Arc::new(Deaf(MemoryBroker::new(
        config.buffer_size as usize,
        config.retention,
        9,
    )));
    let m = WebSocketManager::new(config, broker);
    m.start();
    let mut publisher = m.connect("pat", [1; 16]).await.unwrap();
    m.handle(publisher.id, publish(1, b"nobody".to_vec())).await;
    let answers = frames(&mut publisher).await;
    assert!(
        matches!(
            answers.last(),
            Some(ServerFrame::Nack {
                request: 1,
                code: code::CHANNEL_NOT_FOUND,
                ..
            })
        ),
        "{answers:?}"
    );
    let mut sub = m.connect("sue", [2; 16]).await.unwrap();
    m.handle(
        sub.id,
        ClientFrame::Subscribe {
            request: 1,
            channel: room(),
        },
    )
    .await;
    frames(&mut sub).await;
    m.handle(publisher.id, publish(2, b"unheard".to_vec()))
        .await;
    let answers = frames(&mut publisher).await;
    assert!(
        matches!(
            answers.last(),
            Some(ServerFrame::Nack {
                request: 2,
                code: code::DELIVERY_FAILED,
                ..
            })
        ),
        "{answers:?}"
    );
}
