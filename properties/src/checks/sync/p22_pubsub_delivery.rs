//! Feature: production-readiness, Property 22: Pub/Sub Delivery
//!
//! Black-box form, over real WebSockets. proptest generates a channel's audience (one to four
//! subscribers, the publisher subscribed or not, one subscriber leaving midway) and a run of
//! messages of arbitrary sizes. The publisher sends them, the last with an acknowledgment
//! requested so the case knows they are all out. Every subscription must receive exactly the
//! messages published while it was subscribed: each once, at consecutive offsets after its
//! `SUBSCRIBED`, with the publisher's user id and the payload byte for byte, and nothing more
//! (listened for a moment after the last); the one that left gets nothing after
//! `UNSUBSCRIBED`. A publish without acknowledgment gets no answer.

use crate::sync_frames::{ClientFrame, ServerFrame};
use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure};
use crate::check::{CheckFuture, PropertyCheck};
use crate::checks::sync::{
    QUIET, SyncArea, connected, fresh_channel, payload, run_cases, subscribers,
};
use crate::clause::sync as sc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 22,
    run: run_check,
};

#[derive(Debug, Clone)]
struct Scenario {
    subscribers: usize,
    publisher_subscribed: bool,
    /// Payload lengths, one per message.
    messages: Vec<usize>,
    /// Subscriber 0 unsubscribes after this many messages (when below the count).
    leave_after: usize,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1usize..=4,
        any::<bool>(),
        prop::collection::vec(prop_oneof![4 => 0usize..64, 1 => 64usize..4096], 1..10),
        0usize..12,
    )
        .prop_map(
            |(subscribers, publisher_subscribed, messages, leave_after)| Scenario {
                subscribers,
                publisher_subscribed,
                messages,
                leave_after,
            },
        )
}

async fn case(target: &Target, area: &SyncArea, s: &Scenario) -> Result<(), CaseFailure> {
    let channel = fresh_channel("p22")?;
    // The publisher and the subscribers (on the other instances in turn, when several are
    // given) connect at once.
    let (publisher, subscribed) = futures_util::join!(
        connected(target, area, "p22-pub"),
        subscribers(target, area, "p22-sub", &channel, s.subscribers, 100)
    );
    let mut publisher = publisher?;
    let pub_user = publisher.user.clone();
    let mut subs: Vec<_> = subscribed?
        .into_iter()
        .map(|(peer, start)| (peer, start, Vec::<(u64, Vec<u8>)>::new()))
        .collect();
    if s.publisher_subscribed {
        publisher.subscribe(&channel, 99).await?;
    }
    let case_id = channel.to_string();
    let total = s.messages.len();
    let leaves = s.leave_after < total;
    for (i, len) in s.messages.iter().enumerate() {
        if leaves && i == s.leave_after {
            // Subscriber 0 takes what was published so far, then leaves.
            let (peer, _, got) = &mut subs[0];
            while got.len() < i {
                match peer.next_quiet().await? {
                    ServerFrame::Message { at, payload, .. } => got.push((at.offset, payload)),
                    other => {
                        return Err(peer.fail(
                            sc::EXACTLY_ONCE,
                            format!("expected message {} of {i}, got {other:?}", got.len() + 1),
                        ));
                    }
                }
            }
            peer.send(&ClientFrame::Unsubscribe {
                request: 7,
                channel: channel.clone(),
            })
            .await?;
            match peer.next_quiet().await? {
                ServerFrame::Unsubscribed { request: 7, .. } => {}
                other => {
                    return Err(peer.fail(
                        sc::EXACTLY_ONCE,
                        format!("UNSUBSCRIBE was answered {other:?}"),
                    ));
                }
            }
        }
        let last = i + 1 == total;
        let frame = ClientFrame::Publish {
            request: i as u32,
            ack: last,
            channel: channel.clone(),
            payload: payload(&case_id, i, *len),
        };
        publisher.send(&frame).await?;
    }
    // The publisher: its own copies if subscribed, one ack for the last, nothing else.
    let mut own = 0;
    let mut acked = false;
    while !acked || (s.publisher_subscribed && own < total) {
        match publisher.next_quiet().await? {
            ServerFrame::Ack { request, .. } | ServerFrame::Nack { request, .. }
                if request as usize == total - 1 =>
            {
                acked = true
            }
            ServerFrame::Message { .. } if s.publisher_subscribed => own += 1,
            other => {
                return Err(publisher.fail(sc::NO_ACK, format!("an unexpected frame {other:?}")));
            }
        }
    }
    let mut fences = Vec::new();
    for (n, (peer, start, got)) in subs.iter_mut().enumerate() {
        let owed = if n == 0 && leaves {
            s.leave_after
        } else {
            total
        };
        while got.len() < owed {
            match peer.next_quiet().await? {
                ServerFrame::Message {
                    channel: c,
                    at,
                    sender,
                    payload,
                } if c == channel => {
                    if sender != pub_user {
                        return Err(peer.fail(
                            sc::EXACTLY_ONCE,
                            format!(
                                "message {} names sender {sender:?}, not {pub_user:?}",
                                at.offset
                            ),
                        ));
                    }
                    got.push((at.offset, payload));
                }
                other => {
                    return Err(peer.fail(
                        sc::EXACTLY_ONCE,
                        format!(
                            "expected message {} of {owed}, got {other:?}",
                            got.len() + 1
                        ),
                    ));
                }
            }
        }
        // Nothing more: the leaver hears nothing for a moment; the others' next message is
        // the fence published after all of them (a duplicate would come before it).
        if n == 0 && leaves {
            while let Some(frame) = peer.within(QUIET).await? {
                if !matches!(frame, ServerFrame::PresenceEvent { .. }) {
                    return Err(
                        peer.fail(sc::EXACTLY_ONCE, format!("after UNSUBSCRIBED, {frame:?}"))
                    );
                }
            }
        } else {
            fences.push(n);
        }
        for (i, (offset, body)) in got.iter().enumerate() {
            let want_offset = start.offset + 1 + i as u64;
            if *offset != want_offset {
                return Err(peer.fail(sc::ORDER, format!("message {} came at offset {offset}, expected {want_offset} (subscribed at {})", i + 1, start.offset)));
            }
            if *body != payload(&case_id, i, s.messages[i]) {
                return Err(peer.fail(
                    sc::EXACTLY_ONCE,
                    format!(
                        "message {} has another payload ({} bytes)",
                        i + 1,
                        body.len()
                    ),
                ));
            }
        }
    }
    let fence = b"fence".to_vec();
    publisher
        .send(&ClientFrame::Publish {
            request: 9_999,
            ack: false,
            channel: channel.clone(),
            payload: fence.clone(),
        })
        .await?;
    for n in fences {
        let (peer, _, _) = &mut subs[n];
        match peer.next_quiet().await? {
            ServerFrame::Message { payload, .. } if payload == fence => {}
            other => return Err(peer.fail(sc::EXACTLY_ONCE, format!("after the {total} messages owed, {other:?} (expected the fence published after them)"))),
        }
    }
    for (peer, _, _) in subs {
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
