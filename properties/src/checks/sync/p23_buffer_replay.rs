//! Feature: production-readiness, Property 23: Message Buffer Replay
//!
//! Black-box form, over real WebSockets. A subscriber receives some messages, then its
//! connection vanishes (no close frame); the publisher sends more while it is away. The
//! subscriber reconnects and sends `RESUME` with its old session and the last position it
//! received. proptest chooses how many it saw and how many it missed: within the published
//! `buffer_size` it must get exactly the missed messages, in order, each once, then
//! `RESUMED` at the last one; beyond it, `ERROR` 3004 for the channel and a fresh
//! `SUBSCRIBED` at the channel's last message, never a partial replay. Either way the next
//! message arrives live, once.

use crate::sync_frames::Position;
use crate::sync_frames::{ClientFrame, ServerFrame, code};
use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure};
use crate::check::{CheckFuture, PropertyCheck};
use crate::checks::sync::{Peer, SyncArea, fresh_channel, payload, run_cases, user};
use crate::clause::sync as sc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 23,
    run: run_check,
};

/// Beyond-the-buffer cases publish `buffer_size` + a few messages: only when that is cheap.
const LARGEST_BUFFER_TRIED: u64 = 256;

#[derive(Debug, Clone)]
struct Scenario {
    seen: usize,
    /// Missed, as a share of the buffer (0.0 to 1.0), or beyond it.
    missed: Missed,
}

#[derive(Debug, Clone, Copy)]
enum Missed {
    Within(usize),
    Beyond(usize),
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        0usize..4,
        prop_oneof![4 => (0usize..12).prop_map(Missed::Within), 1 => (1usize..4).prop_map(Missed::Beyond)],
    )
        .prop_map(|(seen, missed)| Scenario { seen, missed })
}

/// Publishes `count` messages numbered from `first`, the last acknowledged (so they are out).
async fn publish(
    publisher: &mut Peer,
    channel: &crate::sync_frames::ChannelName,
    first: usize,
    count: usize,
) -> Result<(), CaseFailure> {
    for i in first..first + count {
        let ack = i + 1 == first + count;
        let frame = ClientFrame::Publish {
            request: i as u32,
            ack,
            channel: channel.clone(),
            payload: payload(channel.as_str(), i, 8),
        };
        publisher.send(&frame).await?;
    }
    if count > 0 {
        match publisher.next_quiet().await? {
            ServerFrame::Ack { request, .. } | ServerFrame::Nack { request, .. }
                if request as usize == first + count - 1 => {}
            other => {
                return Err(publisher.fail(sc::NO_ACK, format!("an unexpected frame {other:?}")));
            }
        }
    }
    Ok(())
}

async fn case(target: &Target, area: &SyncArea, s: &Scenario) -> Result<(), CaseFailure> {
    let missed = match s.missed {
        Missed::Within(n) => n.min(area.buffer_size as usize),
        Missed::Beyond(extra) if area.buffer_size <= LARGEST_BUFFER_TRIED => {
            area.buffer_size as usize + extra
        }
        Missed::Beyond(_) => return Ok(()),
    };
    let channel = fresh_channel("p23")?;
    let (pub_user, pub_token) = user(target, area, "p23-pub").await?;
    let (sub_user, sub_token) = user(target, area, "p23-sub").await?;
    let mut publisher = Peer::connect(area, &pub_user, &pub_token).await?;
    // With several instances the subscriber is on another instance than the publisher,
    // and resumes on a third (or back on the first).
    let mut subscriber = Peer::connect_on(area, 1, &sub_user, &sub_token).await?;
    let start = subscriber.subscribe(&channel, 1).await?;
    publish(&mut publisher, &channel, 0, s.seen).await?;
    let mut last = start;
    for i in 0..s.seen {
        match subscriber.next_quiet().await? {
            ServerFrame::Message { at, .. } if at.offset == start.offset + 1 + i as u64 => {
                last = at
            }
            other => {
                return Err(subscriber.fail(
                    sc::EXACTLY_ONCE,
                    format!("expected message {}, got {other:?}", i + 1),
                ));
            }
        }
    }
    let session = subscriber.session;
    subscriber.vanish();
    publish(&mut publisher, &channel, s.seen, missed).await?;
    let head = last.offset + missed as u64;
    let mut back = Peer::connect_on(area, 2, &sub_user, &sub_token).await?;
    back.send(&ClientFrame::Resume {
        request: 2,
        session,
        channels: vec![(channel.clone(), last)],
    })
    .await?;
    if missed as u64 <= area.buffer_size {
        for i in 0..missed {
            let want = Position {
                epoch: last.epoch,
                offset: last.offset + 1 + i as u64,
            };
            match back.next_quiet().await? {
                ServerFrame::Message {
                    at, payload: body, ..
                } if at == want && body == payload(channel.as_str(), s.seen + i, 8) => {}
                other => {
                    return Err(back.fail(
                        sc::REPLAY,
                        format!(
                            "missed message {} of {missed} (offset {}) was replayed as {other:?}",
                            i + 1,
                            want.offset
                        ),
                    ));
                }
            }
        }
        match back.next_quiet().await? {
            ServerFrame::Resumed {
                request: 2,
                channel: c,
                at,
            } if c == channel && at.offset == head => {}
            other => {
                return Err(back.fail(
                    sc::REPLAY,
                    format!(
                        "after {missed} replayed messages, {other:?} (expected RESUMED at {head})"
                    ),
                ));
            }
        }
    } else {
        match back.next_quiet().await? {
            ServerFrame::Error {
                code: code::BUFFER_OVERFLOW,
                channel: c,
                ..
            } if c == channel.as_str() => {}
            other => return Err(back.fail(
                sc::NO_GAP,
                format!(
                    "{missed} messages missed with a buffer of {}: {other:?} (expected ERROR 3004)",
                    area.buffer_size
                ),
            )),
        }
        match back.next_quiet().await? {
            ServerFrame::Subscribed { channel: c, at, .. } if c == channel && at.offset == head => {
            }
            other => {
                return Err(back.fail(
                    sc::NO_GAP,
                    format!("after 3004, {other:?} (expected SUBSCRIBED at {head})"),
                ));
            }
        }
    }
    // Live again: the next message, once.
    publish(&mut publisher, &channel, s.seen + missed, 1).await?;
    match back.next_quiet().await? {
        ServerFrame::Message { at, .. } if at.offset == head + 1 => {}
        other => {
            return Err(back.fail(
                sc::REPLAY,
                format!(
                    "the first live message after resuming was {other:?} (expected offset {})",
                    head + 1
                ),
            ));
        }
    }
    back.close().await;
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
