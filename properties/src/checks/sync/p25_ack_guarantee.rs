//! Feature: production-readiness, Property 25: Acknowledgment Guarantee
//!
//! Black-box form, over real WebSockets. proptest chooses a channel's audience: up to three
//! subscribers, some of which unsubscribe again, and whether the publisher itself is
//! subscribed; then publishes with acknowledgment requested, and some without. A publish
//! with bit 0 must get exactly one answer: `ACK` when anyone was subscribed (naming the
//! position the subscribers received the message at), `NACK` 3002 when nobody was; one
//! without bit 0 gets none. (3003, subscribers that all failed to take a message, needs
//! subscribers too slow for their queue: not provoked here.)

use crate::sync_frames::{ClientFrame, ServerFrame, code};
use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure};
use crate::check::{CheckFuture, PropertyCheck};
use crate::checks::sync::{Peer, QUIET, SyncArea, fresh_channel, payload, run_cases, user};
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
    let (pub_user, pub_token) = user(target, area, "p25-pub").await?;
    let mut publisher = Peer::connect(area, &pub_user, &pub_token).await?;
    let mut listening = Vec::new();
    let mut quiet = Vec::new();
    for (i, leaves) in s.subscribers.iter().enumerate() {
        let (u, t) = user(target, area, "p25-sub").await?;
        let mut peer = Peer::connect_on(area, i + 1, &u, &t).await?;
        peer.subscribe(&channel, i as u32 + 1).await?;
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

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(run_cases(
        target,
        config,
        scenario(),
        move |area, s| async move { case(target, &area, &s).await },
    ))
}
