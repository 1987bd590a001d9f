//! Feature: production-readiness, Property 25: Acknowledgment Guarantee
//!
//! Black-box form, over real WebSockets. proptest chooses a channel's audience: up to three
//! subscribers, some of which unsubscribe again, and whether the publisher itself is
//! subscribed; then publishes with acknowledgment requested, and some without. A publish
//! with bit 0 must get exactly one answer: `ACK` when anyone was subscribed (naming the
//! position the subscribers received the message at), `NACK` 3002 when nobody was; one
//! without bit 0 gets none.
//!
//! One more case provokes 3003: its only subscriber stops reading while publishers flood the
//! channel with acknowledged publishes of up to 64 KiB. Once the socket's buffers and the
//! subscriber's send queue (`send_queue` frames) are full, a message reaches no one, and
//! the first `NACK` must be 3003 (the channel had a subscriber; none received it). What the
//! subscriber is given before its connection ends must be the channel's messages in order,
//! then at most `ERROR` 3004 and close 4004. A target that takes [`SLOW_BUDGET_BYTES`]
//! for one subscriber that reads nothing is growing its memory without bound.

use crate::sync_frames::{ClientFrame, ServerFrame, code};
use proptest::prelude::*;

use std::time::{Duration, Instant};

use crate::cases::{CaseConfig, CaseFailure, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::sync::Heard;
use crate::checks::sync::{
    Peer, QUIET, SyncArea, connected, fresh_channel, payload, run_cases_then, subscribers, user,
};
use crate::clause::sync as sc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 25,
    run: run_check,
};

#[derive(Debug, Clone)]
struct Scenario {
    /// Per subscriber: whether it unsubscribes before the publishes.
    subscribers: Vec<bool>,
    publisher_subscribed: bool,
    /// Per publish: acknowledgment requested.
    publishes: Vec<bool>,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec(any::<bool>(), 0..=3),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 1..5),
    )
        .prop_map(|(subscribers, publisher_subscribed, publishes)| Scenario {
            subscribers,
            publisher_subscribed,
            publishes,
        })
}

async fn case(target: &Target, area: &SyncArea, s: &Scenario) -> Result<(), CaseFailure> {
    let channel = fresh_channel("p25")?;
    // The publisher and the subscribers connect at once.
    let (publisher, subscribed) = futures_util::join!(
        connected(target, area, "p25-pub"),
        subscribers(target, area, "p25-sub", &channel, s.subscribers.len(), 1)
    );
    let mut publisher = publisher?;
    let mut listening = Vec::new();
    let mut quiet = Vec::new();
    for ((mut peer, _), leaves) in subscribed?.into_iter().zip(&s.subscribers) {
        if *leaves {
            peer.send(&ClientFrame::Unsubscribe {
                request: 50,
                channel: channel.clone(),
            })
            .await?;
            match peer.next_quiet().await? {
                ServerFrame::Unsubscribed { request: 50, .. } => quiet.push(peer),
                other => {
                    return Err(peer.fail(sc::LEAVE, format!("UNSUBSCRIBE was answered {other:?}")));
                }
            }
        } else {
            listening.push(peer);
        }
    }
    if s.publisher_subscribed {
        publisher.subscribe(&channel, 60).await?;
    }
    let anyone = !listening.is_empty() || s.publisher_subscribed;
    for (i, ack) in s.publishes.iter().enumerate() {
        let request = 1000 + i as u32;
        let body = payload(channel.as_str(), i, 4);
        publisher
            .send(&ClientFrame::Publish {
                request,
                ack: *ack,
                channel: channel.clone(),
                payload: body.clone(),
            })
            .await?;
        // What the subscribers received, and where.
        let mut delivered_at = None;
        for peer in &mut listening {
            match peer.next_quiet().await? {
                ServerFrame::Message { at, payload, .. } if payload == body => {
                    delivered_at = Some(at)
                }
                other => {
                    return Err(peer.fail(
                        sc::EXACTLY_ONCE,
                        format!("expected publish {request}, got {other:?}"),
                    ));
                }
            }
        }
        // The publisher: its own copy when subscribed, and exactly one answer when asked.
        let mut answers = Vec::new();
        let mut own = !s.publisher_subscribed;
        while !own || (*ack && answers.is_empty()) {
            match publisher.next_quiet().await? {
                ServerFrame::Message { at, payload, .. } if !own && payload == body => {
                    own = true;
                    delivered_at = Some(at);
                }
                frame @ (ServerFrame::Ack { .. } | ServerFrame::Nack { .. }) => answers.push(frame),
                other => {
                    return Err(publisher.fail(sc::ACK, format!("publish {request}: {other:?}")));
                }
            }
        }
        // A fence: the publisher's frames are answered in order, so any other answer to
        // this publish comes before the presence list.
        publisher
            .send(&ClientFrame::Presence {
                request: 77_777,
                channel: channel.clone(),
            })
            .await?;
        loop {
            match publisher.next_quiet().await? {
                ServerFrame::PresenceList {
                    request: 77_777, ..
                } => break,
                frame => answers.push(frame),
            }
        }
        // Those that left are read only at the end: meanwhile they answer the server's
        // pings, so however long the case takes they stay alive.
        for peer in &mut quiet {
            peer.keep_alive().await?;
        }
        match (ack, anyone, answers.as_slice()) {
            (false, _, []) => {}
            (false, _, more) => {
                return Err(publisher.fail(
                    sc::NO_ACK,
                    format!("publish {request} without ack was answered {more:?}"),
                ));
            }
            (
                true,
                true,
                [
                    ServerFrame::Ack {
                        request: r,
                        channel: c,
                        at,
                    },
                ],
            ) if *r == request && *c == channel => {
                if delivered_at.is_some_and(|d| d != *at) {
                    return Err(publisher.fail(
                        sc::ACK,
                        format!(
                            "ACK names {at:?}, the subscribers got the message at {delivered_at:?}"
                        ),
                    ));
                }
            }
            (
                true,
                false,
                [
                    ServerFrame::Nack {
                        request: r,
                        code: code::CHANNEL_NOT_FOUND,
                        channel: c,
                        ..
                    },
                ],
            ) if *r == request && *c == channel => {}
            (true, _, other) => {
                let who = if anyone {
                    "with a subscriber"
                } else {
                    "with no subscriber"
                };
                return Err(publisher.fail(
                    sc::ACK,
                    format!("publish {request} {who} was answered {other:?}"),
                ));
            }
        }
    }
    // Those that left got nothing (listened to together, for a moment).
    let heard = futures_util::future::join_all(quiet.iter_mut().map(|peer| async move {
        loop {
            match peer.within(QUIET).await {
                Ok(Some(ServerFrame::PresenceEvent { .. })) => continue,
                Ok(Some(frame)) => {
                    return Err(
                        peer.fail(sc::EXACTLY_ONCE, format!("after UNSUBSCRIBED, {frame:?}"))
                    );
                }
                Ok(None) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }))
    .await;
    heard.into_iter().collect::<Result<Vec<()>, _>>()?;
    for peer in listening.into_iter().chain(quiet) {
        peer.close().await;
    }
    publisher.close().await;
    Ok(())
}

/// What a flood may publish, beyond a full send queue, to a channel whose only subscriber
/// reads nothing before a message must fail to reach it: far more than a socket's buffers
/// on both ends and the frames in flight.
pub const SLOW_BUDGET_BYTES: usize = 64 << 20;

/// What a flood of `size`-byte publishes may deliver to a subscriber that reads nothing
/// before one must fail to reach it: its whole send queue (`send_queue` frames, each a
/// `MESSAGE` carrying the payload and at most a kilobyte of header and channel name, when
/// the target publishes one; spec/sync.md, "Refusals") and [`SLOW_BUDGET_BYTES`].
pub fn slow_budget(area: &SyncArea, size: usize) -> usize {
    let queue = usize::try_from(area.send_queue.unwrap_or(0)).unwrap_or(usize::MAX);
    queue
        .saturating_mul(size.saturating_add(1024))
        .saturating_add(SLOW_BUDGET_BYTES)
}

/// The slow-subscriber case, as a report names it.
const SLOW_CASE: &str = "one subscriber reads nothing while publishers flood its channel";

/// Tries of the slow-subscriber case before its part is reported unverified.
const SLOW_TRIES: usize = 2;

/// Connections the flood publishes over, so the per-connection publish limit paces it less.
const FLOOD_PUBLISHERS: usize = 8;

/// Publishes each flood connection sends before it reads their answers. The subscriber must
/// overflow before its ping timeout finds it dead, and a round costs a round trip: through
/// a 25 ms link, one publish per connection per round filled the send queue and the buffers
/// before it (some 20 MiB) in about 8 s, past a 3 s ping timeout, so the case never
/// concluded there; four in flight make it four times as fast.
const FLOOD_DEPTH: usize = 4;

/// A subscriber that reads nothing: the first `NACK` is 3003, and what it was given is in
/// order, then at most 3004 and close 4004. `Ok(false)` when the case could not conclude
/// (the subscriber was found dead by its ping timeout before it overflowed).
async fn slow_subscriber(target: &Target, area: &SyncArea) -> Result<bool, CaseFailure> {
    let channel = fresh_channel("p25-slow")?;
    let (slow_user, flood_user) = futures_util::join!(
        user(target, area, "p25-slow"),
        user(target, area, "p25-flood")
    );
    let ((slow_user, slow_token), (pub_user, pub_token)) = (slow_user?, flood_user?);
    let mut slow = Peer::connect(area, &slow_user, &slow_token).await?;
    let start = slow.subscribe(&channel, 1).await?;
    // From here `slow` reads nothing until the flood is over; the publishers connect at
    // once, so the flood starts well within its ping timeout.
    let frozen = Instant::now();
    let mut publishers = futures_util::future::join_all(
        (0..FLOOD_PUBLISHERS).map(|i| Peer::connect_on(area, i, &pub_user, &pub_token)),
    )
    .await
    .into_iter()
    .collect::<Result<Vec<_>, _>>()?;
    let size = usize::try_from(area.max_payload)
        .unwrap_or(usize::MAX)
        .min(64 * 1024);
    let body = vec![0x5A; size];
    let mut published = 0usize;
    let mut request = 100u32;
    // Rounds: one publish on every publisher, then every answer, so the flood is not one
    // round trip at a time (the subscriber must overflow before its ping timeout).
    let (turn, nack) = 'flood: loop {
        if published * size > slow_budget(area, size) {
            return Err(publishers[0].fail(
                sc::SEND_QUEUE,
                format!(
                    "{published} publishes of {size} bytes ({} MiB) all reached a subscriber that read nothing",
                    (published * size) >> 20
                ),
            ));
        }
        let first = request + 1;
        for _ in 0..FLOOD_DEPTH {
            for publisher in &mut publishers {
                request += 1;
                publisher
                    .send(&ClientFrame::Publish {
                        request,
                        ack: true,
                        channel: channel.clone(),
                        payload: body.clone(),
                    })
                    .await?;
            }
        }
        let mut paced = false;
        let mut refused = None;
        for (turn, publisher) in publishers.iter_mut().enumerate() {
            // This connection's publishes of the round, each answered once in any order.
            let mut owed: Vec<u32> = (0..FLOOD_DEPTH)
                .map(|k| first + (k * FLOOD_PUBLISHERS + turn) as u32)
                .collect();
            while !owed.is_empty() {
                let answer = publisher.next_quiet().await?;
                let answered = match &answer {
                    ServerFrame::Ack { request: r, .. }
                    | ServerFrame::Nack { request: r, .. }
                    | ServerFrame::Error { request: r, .. } => owed.iter().position(|o| o == r),
                    _ => None,
                };
                let Some(at) = answered else {
                    return Err(publisher.fail(
                        sc::ACK,
                        format!("publishes {owed:?} to a channel with a slow subscriber were answered {answer:?}"),
                    ));
                };
                owed.swap_remove(at);
                match answer {
                    ServerFrame::Ack { .. } => published += 1,
                    ServerFrame::Nack { code, at, .. } => {
                        // The publishes of a round are answered in any order; the message
                        // that overflowed is the refused one of the lowest offset. Later ones
                        // may find the subscriber already gone (3002): spec/sync.md, "Closing
                        // connections", lets a server drop a closing connection at once.
                        if refused.is_none_or(|(_, _, offset)| at.offset < offset) {
                            refused = Some((turn, code, at.offset));
                        }
                    }
                    ServerFrame::Error {
                        code: code::RATE_LIMITED,
                        ..
                    } => paced = true,
                    other => {
                        return Err(publisher.fail(
                            sc::ACK,
                            format!("a publish to a channel with a slow subscriber was answered {other:?}"),
                        ));
                    }
                }
            }
        }
        if let Some((turn, code, _)) = refused {
            break 'flood (turn, code);
        }
        if paced {
            // Paced by the publish limit: let the window move on.
            tokio::time::sleep(area.publish_limit.window / 20).await;
        }
    };
    if nack != code::DELIVERY_FAILED {
        if frozen.elapsed() >= area.ping_timeout {
            // The subscriber may have been found dead first: then no one was subscribed.
            return Ok(false);
        }
        return Err(publishers[turn].fail(
            sc::ACK,
            format!(
                "after {published} publishes reached a subscriber that reads nothing, NACK {nack} (expected 3003: the channel had a subscriber and none received the message)"
            ),
        ));
    }
    // What the slow subscriber was given: the channel's messages in order, then the end.
    let mut next = start.offset + 1;
    loop {
        match slow.hear(Duration::from_secs(5)).await? {
            Heard::Frame(ServerFrame::Message { at, .. }) if at.offset == next => next += 1,
            Heard::Frame(ServerFrame::Message { at, .. }) => {
                return Err(slow.fail(
                    sc::ORDER,
                    format!(
                        "a slow subscriber was given offset {} where {next} was due",
                        at.offset
                    ),
                ));
            }
            Heard::Frame(ServerFrame::Error {
                code: code::BUFFER_OVERFLOW,
                request: 0,
                ..
            })
            | Heard::Frame(ServerFrame::PresenceEvent { .. }) => {}
            Heard::Closed(None | Some(4004)) => break,
            Heard::Closed(Some(other)) => {
                return Err(slow.fail(
                    sc::SEND_QUEUE,
                    format!(
                        "a subscriber whose send queue overflowed was closed with {other}, not 4004"
                    ),
                ));
            }
            Heard::Frame(other) => {
                return Err(slow.fail(
                    sc::SEND_QUEUE,
                    format!("a subscriber whose send queue overflowed was given {other:?}"),
                ));
            }
            Heard::Silent => {
                return Err(slow.fail(
                    sc::SEND_QUEUE,
                    "a subscriber whose send queue overflowed is still connected 5 s after it read everything".into(),
                ));
            }
        }
    }
    for publisher in publishers {
        publisher.close().await;
    }
    Ok(true)
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(run_cases_then(
        target,
        config,
        scenario(),
        move |area, s| async move { case(target, &area, &s).await },
        move |area| async move {
            // Two tries: the first may end inconclusive on a loaded machine. Two inconclusive
            // tries leave the send-queue sentence unverified, and the verdict says so.
            let concluded = std::cell::Cell::new(false);
            let ping_timeout = area.ping_timeout;
            // The case is named by what it does: the area is no input to show.
            let area = &area;
            let outcome = for_each(&[SLOW_CASE], |_| {
                let concluded = &concluded;
                async move {
                    for _ in 0..SLOW_TRIES {
                        if slow_subscriber(target, area).await? {
                            concluded.set(true);
                            return Ok(());
                        }
                    }
                    Ok(())
                }
            })
            .await;
            if outcome.is_failed() || concluded.get() {
                CheckOutcome::Ran(outcome)
            } else {
                CheckOutcome::RanInPart {
                    outcome: Box::new(outcome),
                    unverified: format!(
                        "that a subscriber which reads nothing is refused 3003 and closed 4004 (spec/sync.md, send queue): in {SLOW_TRIES} tries the target found it dead by its ping timeout ({} s) before its send queue overflowed",
                        ping_timeout.as_secs()
                    ),
                }
            }
        },
    ))
}
