//! Feature: production-readiness, Property 23: Message Buffer Replay
//!
//! Black-box form, over real WebSockets. A subscriber receives some messages, then its
//! connection vanishes (no close frame); the publisher sends more while it is away. The
//! subscriber reconnects and sends `RESUME` with its old session and the last position it
//! received. proptest chooses how many it saw and how many it missed: up to the published
//! `buffer_size` (that many exactly, now and then) it must get exactly the missed messages,
//! in order, each once, then `RESUMED` at the last one. Beyond it the server may have kept
//! more ("at least the last `buffer_size`"), so it either replays all of them so, or sends
//! `ERROR` 3004 for the channel and a fresh `SUBSCRIBED` at the channel's last message: never
//! a partial replay. A resume naming another epoch than the channel's must get 3004 and
//! `SUBSCRIBED`, and so must a resume naming a session the server issued to another user.
//! Either way the next message arrives live, once.

use crate::sync_frames::{ChannelName, ClientFrame, Position, ServerFrame, code};
use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure};
use crate::check::{CheckFuture, PropertyCheck};
use crate::checks::sync::{Peer, SyncArea, fresh_channel, payload, run_cases, two_users};
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
    missed: Missed,
    /// The `RESUME` names another epoch than the channel's.
    stale_epoch: bool,
    /// The `RESUME` names the publisher's session: issued, but to another user.
    foreign_session: bool,
}

/// How many messages the subscriber misses.
#[derive(Debug, Clone, Copy)]
enum Missed {
    /// This many (at most `buffer_size`).
    Within(usize),
    /// Exactly `buffer_size`: the last that must be replayed.
    Full,
    /// `buffer_size` and this many more.
    Beyond(usize),
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        0usize..4,
        prop_oneof![
            8 => (0usize..12).prop_map(Missed::Within),
            1 => Just(Missed::Full),
            2 => (1usize..4).prop_map(Missed::Beyond),
        ],
        proptest::bool::weighted(0.1),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(seen, missed, stale_epoch, foreign_session)| Scenario {
            seen,
            missed,
            stale_epoch,
            foreign_session,
        })
}

/// What the spec leaves the server after a `RESUME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Allowed {
    /// Every missed message, then `RESUMED`.
    Replay,
    /// `ERROR` 3004, then `SUBSCRIBED`.
    Reload,
    /// Either (more missed than `buffer_size`: the server may have kept them).
    Either,
}

/// Publishes `count` messages numbered from `first`, the last acknowledged (so they are out).
async fn publish(
    publisher: &mut Peer,
    channel: &ChannelName,
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
    let buffer = area.buffer_size as usize;
    let missed = match s.missed {
        Missed::Within(n) => n.min(buffer),
        Missed::Full if area.buffer_size <= LARGEST_BUFFER_TRIED => buffer,
        Missed::Beyond(extra) if area.buffer_size <= LARGEST_BUFFER_TRIED => buffer + extra,
        Missed::Full | Missed::Beyond(_) => return Ok(()),
    };
    let allowed = if s.stale_epoch || s.foreign_session {
        Allowed::Reload
    } else if missed <= buffer {
        Allowed::Replay
    } else {
        Allowed::Either
    };
    let channel = fresh_channel("p23")?;
    // Two users: a RESUME naming the publisher's session names another user's.
    let [(pub_user, pub_token), (sub_user, sub_token)] = two_users(target, area, "p23").await?;
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
    let session = if s.foreign_session {
        publisher.session
    } else {
        subscriber.session
    };
    subscriber.vanish();
    publish(&mut publisher, &channel, s.seen, missed).await?;
    let head = last.offset + missed as u64;
    let mut back = Peer::connect_on(area, 2, &sub_user, &sub_token).await?;
    let named = if s.stale_epoch {
        Position {
            epoch: stale(last.epoch),
            ..last
        }
    } else {
        last
    };
    back.send(&ClientFrame::Resume {
        request: 2,
        session,
        channels: vec![(channel.clone(), named)],
    })
    .await?;
    let first = back.next_quiet().await?;
    let replayed = matches!(first, ServerFrame::Message { .. });
    let expectation = Expectation {
        channel: &channel,
        last,
        seen: s.seen,
        missed,
        head,
        buffer_size: area.buffer_size,
    };
    match (allowed, replayed) {
        (Allowed::Replay, _) | (Allowed::Either, true) => {
            expect_replay(&mut back, first, &expectation).await?
        }
        (Allowed::Reload, _) | (Allowed::Either, false) => {
            expect_reload(&mut back, first, &expectation, s).await?
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

/// Another nonzero epoch than `epoch`, for a stale resume.
fn stale(epoch: u64) -> u64 {
    epoch.wrapping_add(1).max(1)
}

/// What a resumed connection is judged against.
struct Expectation<'a> {
    channel: &'a ChannelName,
    /// The last position the subscriber received.
    last: Position,
    seen: usize,
    missed: usize,
    /// The channel's last offset.
    head: u64,
    buffer_size: u64,
}

/// Every missed message after `last`, in order, each once (the first already read), then
/// `RESUMED` at the head.
async fn expect_replay(
    back: &mut Peer,
    first: ServerFrame,
    e: &Expectation<'_>,
) -> Result<(), CaseFailure> {
    let mut next = Some(first);
    for i in 0..e.missed {
        let want = Position {
            epoch: e.last.epoch,
            offset: e.last.offset + 1 + i as u64,
        };
        let frame = match next.take() {
            Some(frame) => frame,
            None => back.next_quiet().await?,
        };
        match frame {
            ServerFrame::Message {
                at, payload: body, ..
            } if at == want && body == payload(e.channel.as_str(), e.seen + i, 8) => {}
            other => {
                let clause = if e.missed as u64 > e.buffer_size {
                    sc::NO_GAP
                } else {
                    sc::REPLAY
                };
                return Err(back.fail(
                    clause,
                    format!(
                        "missed message {} of {} (offset {}) was replayed as {other:?}",
                        i + 1,
                        e.missed,
                        want.offset
                    ),
                ));
            }
        }
    }
    let frame = match next.take() {
        Some(frame) => frame,
        None => back.next_quiet().await?,
    };
    match frame {
        ServerFrame::Resumed {
            request: 2,
            channel: c,
            at,
        } if c == *e.channel && at.offset == e.head => Ok(()),
        other => Err(back.fail(
            sc::REPLAY,
            format!(
                "after {} replayed messages, {other:?} (expected RESUMED at {})",
                e.missed, e.head
            ),
        )),
    }
}

/// `ERROR` 3004 for the channel (already read), then `SUBSCRIBED` at the head.
async fn expect_reload(
    back: &mut Peer,
    first: ServerFrame,
    e: &Expectation<'_>,
    s: &Scenario,
) -> Result<(), CaseFailure> {
    let why = if s.foreign_session {
        "a RESUME naming a session the server issued to another user".to_owned()
    } else if s.stale_epoch {
        format!(
            "a RESUME naming epoch {} for a channel of epoch {}",
            stale(e.last.epoch),
            e.last.epoch
        )
    } else {
        format!(
            "{} messages missed with a buffer of {}",
            e.missed, e.buffer_size
        )
    };
    let clause = if s.foreign_session {
        sc::FOREIGN_SESSION
    } else {
        sc::RELOAD
    };
    match first {
        ServerFrame::Error {
            code: code::BUFFER_OVERFLOW,
            channel: c,
            ..
        } if c == e.channel.as_str() => {}
        other => {
            return Err(back.fail(clause, format!("{why}: {other:?} (expected ERROR 3004)")));
        }
    }
    match back.next_quiet().await? {
        ServerFrame::Subscribed { channel: c, at, .. }
            if c == *e.channel && at.offset == e.head =>
        {
            Ok(())
        }
        other => Err(back.fail(
            clause,
            format!(
                "{why}: after 3004, {other:?} (expected SUBSCRIBED at {})",
                e.head
            ),
        )),
    }
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(run_cases(
        target,
        config,
        scenario(),
        move |area, s| async move { case(target, &area, &s).await },
    ))
}
