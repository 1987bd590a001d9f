//! Two `dx-reference` instances sharing one Redis behave as one (DESIGN.md, spec/security.md,
//! spec/sync.md "Several instances"): one rate limit between them, CSRF sessions and tokens
//! valid on both, and one sync module: messages published on either reach subscribers on
//! both exactly once and in order, presence is the union, and a client that drops resumes on
//! the other instance with every message it missed, or 3004. Runs when
//! `REDIS_URL` is set (CI sets it, with `DX_REQUIRE_REDIS=1` so a missing Redis fails).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestServer;
use common::sync_client::{Socket, connect, next_quiet, send};
use dx_server::Config;
use dx_server::config::LimitSpec;
use dx_sync::frame::{ClientFrame, ServerFrame, code};
use dx_sync::{ChannelName, Position};

#[path = "../../test_services.rs"]
mod test_services;

fn redis_url() -> Option<String> {
    test_services::redis_url("the two-instance tests")
}

/// Two instances on one Redis, signing with one key (so they share the CSRF secret).
async fn pair(url: &str) -> (TestServer, TestServer) {
    let key = std::env::temp_dir().join(format!("dx-instances-{}.key", std::process::id()));
    std::fs::write(&key, "11".repeat(32)).unwrap();
    let config = || {
        let mut c = Config::conformance();
        c.redis_url = Some(url.to_owned());
        c.key_file = Some(key.clone());
        // A long window, so the test's own pace never frees a slot.
        c.security.limits[1] = LimitSpec {
            max_requests: 6,
            window_seconds: 60,
        };
        c
    };
    (
        TestServer::start(config()).await,
        TestServer::start(config()).await,
    )
}

#[tokio::test]
async fn one_limit_is_shared_between_instances() {
    let Some(url) = redis_url() else { return };
    let (a, b) = pair(&url).await;
    let client = reqwest::Client::new();
    let partition = format!("instances-{}", uuid_like());
    let mut admitted = 0;
    let mut remaining = Vec::new();
    for i in 0..10 {
        let server = if i % 2 == 0 { &a } else { &b };
        let r = client
            .get(server.url("/api/dx-instances"))
            .header("x-dx-ratelimit-partition", &partition)
            .send()
            .await
            .unwrap();
        if r.status() != 429 {
            admitted += 1;
            remaining.push(r.headers()["ratelimit"].to_str().unwrap().to_owned());
        } else {
            assert!(r.headers().contains_key("retry-after"));
        }
    }
    assert_eq!(
        admitted, 6,
        "one budget of 6 across both instances: {remaining:?}"
    );
    assert_eq!(
        remaining.last().map(String::as_str),
        Some("\"api\";r=0;t=60")
    );
}

#[tokio::test]
async fn a_session_and_its_token_work_on_every_instance_and_end_everywhere() {
    let Some(url) = redis_url() else { return };
    let (a, b) = pair(&url).await;
    let client = reqwest::Client::new();
    let issued = client
        .get(a.url("/api/v1/session/csrf"))
        .send()
        .await
        .unwrap();
    let cookie = issued
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("dx_session="))
        .unwrap();
    let token = issued.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    // Issued on A, accepted on B: the CSRF check lets it through (the route answers 405).
    let on_b = client
        .post(b.url("/api/v1/session/csrf"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_b.status(), 405);
    // Ended on B, refused on A.
    let end = client
        .post(b.url("/api/v1/session/end"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(end.status(), 204);
    let on_a = client
        .post(a.url("/api/v1/session/csrf"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(on_a.status(), 403);
    let body: serde_json::Value = on_a.json().await.unwrap();
    assert_eq!(body["error"]["details"]["reason"], "no-session");
}

/// A channel no other test uses.
fn channel(name: &str) -> ChannelName {
    ChannelName::new(&format!("{name}-{}", uuid_like())).unwrap()
}

async fn subscribe(socket: &mut Socket, channel: &ChannelName, request: u32) -> Position {
    send(
        socket,
        ClientFrame::Subscribe {
            request,
            channel: channel.clone(),
        },
    )
    .await;
    match next_quiet(socket).await {
        ServerFrame::Subscribed { request: r, at, .. } if r == request => at,
        other => panic!("SUBSCRIBE {request}: {other:?}"),
    }
}

async fn publish(socket: &mut Socket, channel: &ChannelName, request: u32, payload: &[u8]) {
    send(
        socket,
        ClientFrame::Publish {
            request,
            ack: false,
            channel: channel.clone(),
            payload: payload.to_vec(),
        },
    )
    .await;
}

/// The next message: its offset and payload.
async fn message(socket: &mut Socket) -> (u64, Vec<u8>) {
    match next_quiet(socket).await {
        ServerFrame::Message { at, payload, .. } => (at.offset, payload),
        other => panic!("expected a message, got {other:?}"),
    }
}

async fn presence(socket: &mut Socket, channel: &ChannelName) -> Vec<String> {
    send(
        socket,
        ClientFrame::Presence {
            request: 900,
            channel: channel.clone(),
        },
    )
    .await;
    loop {
        match next_quiet(socket).await {
            ServerFrame::PresenceList {
                request: 900,
                users,
                ..
            } => return users,
            ServerFrame::Message { .. } => continue,
            other => panic!("expected the presence list, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_message_published_on_one_instance_reaches_every_instance_once_in_order() {
    let Some(url) = redis_url() else { return };
    let (a, b) = pair(&url).await;
    let room = channel("fanout");
    let (mut on_a, _) = connect(&a, &a.mint("ann").await).await;
    let (mut on_b, _) = connect(&b, &b.mint("ben").await).await;
    let (mut publisher, _) = connect(&a, &a.mint("pia").await).await;
    let start_a = subscribe(&mut on_a, &room, 1).await;
    let start_b = subscribe(&mut on_b, &room, 1).await;
    assert_eq!(start_a, start_b, "one history: the same head on both");
    for i in 0..5u8 {
        send(
            &mut publisher,
            ClientFrame::Publish {
                request: 10 + u32::from(i),
                ack: true,
                channel: room.clone(),
                payload: vec![i; 3],
            },
        )
        .await;
        match next_quiet(&mut publisher).await {
            ServerFrame::Ack { request, at, .. } => {
                assert_eq!(request, 10 + u32::from(i));
                assert_eq!(at.offset, start_a.offset + 1 + u64::from(i));
            }
            other => panic!("publish {i}: {other:?}"),
        }
    }
    for socket in [&mut on_a, &mut on_b] {
        for i in 0..5u8 {
            assert_eq!(
                message(socket).await,
                (start_a.offset + 1 + u64::from(i), vec![i; 3])
            );
        }
    }
    // Presence is the union of both instances, asked on either.
    assert_eq!(presence(&mut publisher, &room).await, ["ann", "ben"]);
    // Nothing twice: the next frame each gets is the fence published after the five.
    publish(&mut publisher, &room, 30, b"fence").await;
    for socket in [&mut on_a, &mut on_b] {
        assert_eq!(message(socket).await.1, b"fence");
    }
    // Ben leaves by closing his connection on B: A no longer lists him.
    drop(on_b);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let users = presence(&mut on_a, &room).await;
        if users == ["ann"] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still listed: {users:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // With no subscriber left on either instance, an acked publish is a NACK 3002.
    let lonely = channel("lonely");
    send(
        &mut publisher,
        ClientFrame::Publish {
            request: 40,
            ack: true,
            channel: lonely,
            payload: vec![],
        },
    )
    .await;
    match next_quiet(&mut publisher).await {
        ServerFrame::Nack { code: c, .. } => assert_eq!(c, code::CHANNEL_NOT_FOUND),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_client_that_drops_mid_stream_resumes_on_the_other_instance() {
    let Some(url) = redis_url() else { return };
    let (a, b) = pair(&url).await;
    let room = channel("resume");
    let token = a.mint("sam").await;
    let (mut sam, welcome) = connect(&a, &token).await;
    let ServerFrame::Welcome { session, .. } = welcome else {
        unreachable!()
    };
    let (mut publisher, _) = connect(&b, &b.mint("pat").await).await;
    let start = subscribe(&mut sam, &room, 1).await;
    for i in 0..3u8 {
        publish(&mut publisher, &room, u32::from(i), &[i]).await;
    }
    let mut last = start;
    for i in 0..3u8 {
        let (offset, payload) = message(&mut sam).await;
        assert_eq!(
            (offset, payload),
            (start.offset + 1 + u64::from(i), vec![i])
        );
        last.offset = offset;
    }
    // An abrupt drop on A; five more messages while Sam is away.
    drop(sam);
    for i in 3..8u8 {
        publish(&mut publisher, &room, u32::from(i), &[i]).await;
    }
    // Back on B, resuming after the last message Sam had.
    let (mut sam, _) = connect(&b, &token).await;
    send(
        &mut sam,
        ClientFrame::Resume {
            request: 2,
            session,
            channels: vec![(room.clone(), last)],
        },
    )
    .await;
    for i in 3..8u8 {
        assert_eq!(
            message(&mut sam).await,
            (start.offset + 1 + u64::from(i), vec![i]),
            "every missed message once, in order"
        );
    }
    match next_quiet(&mut sam).await {
        ServerFrame::Resumed { request: 2, at, .. } => assert_eq!(at.offset, start.offset + 8),
        other => panic!("{other:?}"),
    }
    // And live again: the next message, once.
    publish(&mut publisher, &room, 9, b"live").await;
    assert_eq!(
        message(&mut sam).await,
        (start.offset + 9, b"live".to_vec())
    );
}

#[tokio::test]
async fn a_resume_beyond_the_buffer_on_the_other_instance_is_told_3004() {
    let Some(url) = redis_url() else { return };
    let (a, b) = pair(&url).await;
    let room = channel("overflow");
    let token = a.mint("sue").await;
    let (mut sue, welcome) = connect(&a, &token).await;
    let ServerFrame::Welcome {
        session,
        buffer_size,
        ..
    } = welcome
    else {
        unreachable!()
    };
    let (mut publisher, _) = connect(&a, &a.mint("pam").await).await;
    let start = subscribe(&mut sue, &room, 1).await;
    drop(sue);
    // One more than the buffer keeps, then a fence so all are stored.
    for i in 0..=buffer_size {
        publish(&mut publisher, &room, i, b"m").await;
    }
    subscribe(&mut publisher, &room, 99_999).await;
    let (mut sue, _) = connect(&b, &token).await;
    send(
        &mut sue,
        ClientFrame::Resume {
            request: 3,
            session,
            channels: vec![(room.clone(), start)],
        },
    )
    .await;
    match next_quiet(&mut sue).await {
        ServerFrame::Error { code: c, .. } => assert_eq!(c, code::BUFFER_OVERFLOW),
        other => panic!("expected 3004, got {other:?}"),
    }
    match next_quiet(&mut sue).await {
        ServerFrame::Subscribed { request: 3, at, .. } => {
            assert_eq!(at.offset, start.offset + u64::from(buffer_size) + 1)
        }
        other => panic!("expected a fresh subscription, got {other:?}"),
    }
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}
