//! Feature: production-readiness, Property 24: Presence Accuracy
//!
//! Black-box form, over real WebSockets. Four connections of three users (one user has two)
//! subscribe, unsubscribe, vanish (no close frame) and reconnect in an order proptest
//! chooses; after every step an observer asks `PRESENCE`. After a subscribe or unsubscribe
//! has been answered the list must be exactly the users with a connection subscribed,
//! sorted, each once; after a connection vanishes, the server learns of it by itself, so the
//! list must come to that within the ping timeout it publishes. A second connection of the
//! observing user, subscribed throughout, must receive exactly one `PRESENCE_EVENT` per user
//! that joined or left with each step, and none for a step that left the list as it was.
//! With fewer than four test accounts (`--account`) users coincide: the model stays exact,
//! and the observer's own user, always listed, is never judged.
//!
//! One more case leaves a connection open but silent (it stops reading, so it answers no
//! ping): its user must leave within `ping_interval_seconds` + `ping_timeout_seconds`. It
//! runs when those two add up to at most [`LONGEST_SILENCE_TRIED`]; otherwise the verdict is a
//! pass in part that says so.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::sync_frames::{ChannelName, ClientFrame, ServerFrame};
use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure, for_each};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::sync::{Peer, SyncArea, WAIT, fresh_channel, run_cases_then, two_users, users};
use crate::clause::sync as sc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 24,
    run: run_check,
};

/// The silent-connection case waits for the server's pings: only when that is quick.
const LONGEST_SILENCE_TRIED: Duration = Duration::from_secs(10);

/// Which user each connection slot belongs to: slots 0 and 3 share one.
const OWNER: [usize; 4] = [0, 1, 2, 0];

#[derive(Debug, Clone, Copy)]
enum Step {
    Subscribe(usize),
    Unsubscribe(usize),
    Vanish(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0usize..4).prop_map(Step::Subscribe),
        1 => (0usize..4).prop_map(Step::Unsubscribe),
        1 => (0usize..4).prop_map(Step::Vanish),
    ]
}

async fn presence(
    observer: &mut Peer,
    channel: &ChannelName,
    request: u32,
) -> Result<Vec<String>, CaseFailure> {
    observer
        .send(&ClientFrame::Presence {
            request,
            channel: channel.clone(),
        })
        .await?;
    match observer.next_quiet().await? {
        ServerFrame::PresenceList {
            request: r, users, ..
        } if r == request => Ok(users),
        other => Err(observer.fail(sc::PRESENCE, format!("PRESENCE was answered {other:?}"))),
    }
}

/// The observing user's two connections, opened at once: one asks `PRESENCE`, the other
/// watches the events.
async fn observer_and_watcher(
    area: &SyncArea,
    user: &str,
    token: &str,
) -> Result<(Peer, Peer), CaseFailure> {
    let (observer, watcher) = futures_util::join!(
        Peer::connect(area, user, token),
        Peer::connect(area, user, token)
    );
    Ok((observer?, watcher?))
}

async fn case(target: &Target, area: &SyncArea, steps: &[Step]) -> Result<(), CaseFailure> {
    let channel = fresh_channel("p24")?;
    // Four users, the observer's last: with fewer test accounts some coincide, and the
    // model below stays exact (the observer's own user is always listed and never judged).
    let mut users = users(target, area, "p24", 4).await?;
    let (obs_user, obs_token) = users.pop().unwrap_or_default();
    let (mut observer, mut watcher) = observer_and_watcher(area, &obs_user, &obs_token).await?;
    let mut slots: Vec<Option<(Peer, bool)>> = (0..4).map(|_| None).collect();
    let mut request = 1u32;
    watcher.subscribe(&channel, request).await?;
    let present = |slots: &[Option<(Peer, bool)>]| -> BTreeSet<String> {
        slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_ref().is_some_and(|(_, sub)| *sub))
            .map(|(k, _)| users[OWNER[k]].0.clone())
            .collect()
    };
    for step in steps {
        request += 1;
        let before = present(&slots);
        let mut eventually = false;
        match *step {
            Step::Subscribe(k) | Step::Unsubscribe(k) => {
                if slots[k].is_none() {
                    let (u, t) = &users[OWNER[k]];
                    // Each slot on an instance of its own in turn: presence asked on
                    // one must list users subscribed on the others.
                    slots[k] = Some((Peer::connect_on(area, k + 1, u, t).await?, false));
                }
                let Some((peer, subscribed)) = slots[k].as_mut() else {
                    continue;
                };
                if matches!(step, Step::Subscribe(_)) {
                    peer.subscribe(&channel, request).await?;
                    *subscribed = true;
                } else {
                    peer.send(&ClientFrame::Unsubscribe {
                        request,
                        channel: channel.clone(),
                    })
                    .await?;
                    match peer.next_quiet().await? {
                        ServerFrame::Unsubscribed { request: r, .. } if r == request => {
                            *subscribed = false
                        }
                        other => {
                            return Err(
                                peer.fail(sc::LEAVE, format!("UNSUBSCRIBE was answered {other:?}"))
                            );
                        }
                    }
                }
            }
            Step::Vanish(k) => {
                if let Some((peer, _)) = slots[k].take() {
                    peer.vanish();
                    eventually = true;
                }
            }
        }
        let after = present(&slots);
        let mut listed = after.clone();
        listed.insert(obs_user.clone());
        let want: Vec<String> = listed.into_iter().collect();
        let deadline = tokio::time::Instant::now() + area.ping_timeout + WAIT;
        loop {
            request += 1;
            let got = presence(&mut observer, &channel, request).await?;
            if got == want {
                break;
            }
            if !eventually || tokio::time::Instant::now() > deadline {
                let clause = if eventually { sc::LEAVE } else { sc::PRESENCE };
                return Err(observer.fail(
                    clause,
                    format!("after {step:?}, presence lists {got:?}, not {want:?}"),
                ));
            }
            // Waiting, the watcher answers pings and keeps what arrives.
            watcher.idle(Duration::from_millis(20)).await?;
            keep_alive(&mut slots).await?;
        }
        let changes: Vec<(String, bool)> = after
            .difference(&before)
            .map(|u| (u.clone(), true))
            .chain(before.difference(&after).map(|u| (u.clone(), false)))
            .filter(|(u, _)| *u != obs_user)
            .collect();
        expect_events(&mut watcher, &obs_user, changes, &format!("{step:?}")).await?;
        keep_alive(&mut slots).await?;
    }
    for (peer, _) in slots.into_iter().flatten() {
        peer.close().await;
    }
    observer.close().await;
    watcher.close().await;
    Ok(())
}

/// Every open slot answers the pings that have arrived: a slot is read only at its own
/// steps, and one left unread past the ping timeout is rightly found dead, its user then
/// leaving the list (with a `PRESENCE_EVENT`) although the model keeps it.
async fn keep_alive(slots: &mut [Option<(Peer, bool)>]) -> Result<(), CaseFailure> {
    for (peer, _) in slots.iter_mut().flatten() {
        peer.keep_alive().await?;
    }
    Ok(())
}

/// The watcher receives one `PRESENCE_EVENT` for each of `changes` (user, joined), and no
/// event that is not one of them among what has arrived by then. Events about the watcher's
/// own user are not judged (the spec leaves a user's own connections out).
async fn expect_events(
    watcher: &mut Peer,
    own: &str,
    mut changes: Vec<(String, bool)>,
    after: &str,
) -> Result<(), CaseFailure> {
    let owed = changes.clone();
    loop {
        let wait = if changes.is_empty() {
            // Nothing more is owed: only read what is already there.
            Duration::from_millis(1)
        } else {
            WAIT
        };
        match watcher.within(wait).await? {
            None if changes.is_empty() => return Ok(()),
            None => {
                return Err(watcher.fail(
                    sc::PRESENCE_EVENTS,
                    format!(
                        "after {after}, no PRESENCE_EVENT for {changes:?} within {WAIT:?} (owed {owed:?})"
                    ),
                ));
            }
            Some(ServerFrame::PresenceEvent { user, .. }) if user == own => {}
            Some(ServerFrame::PresenceEvent { user, joined, .. }) => {
                match changes.iter().position(|(u, j)| *u == user && *j == joined) {
                    Some(i) => {
                        changes.remove(i);
                    }
                    None => {
                        let what = if joined { "joined" } else { "left" };
                        return Err(watcher.fail(
                            sc::PRESENCE_EVENTS,
                            format!(
                                "after {after}, a PRESENCE_EVENT saying {user} {what}, which the presence list does not show (owed {owed:?})"
                            ),
                        ));
                    }
                }
            }
            Some(other) => {
                return Err(watcher.fail(
                    sc::PRESENCE_EVENTS,
                    format!("after {after}, an unexpected frame {other:?}"),
                ));
            }
        }
    }
}

/// A connection that stays open but answers no ping: its user leaves within
/// `ping_interval` + `ping_timeout`, and the watcher is told.
async fn silent_connection(target: &Target, area: &SyncArea) -> Result<(), CaseFailure> {
    let channel = fresh_channel("p24-silent")?;
    let [(silent_user, silent_token), (obs_user, obs_token)] =
        two_users(target, area, "p24-silent").await?;
    let (mut observer, mut watcher) = observer_and_watcher(area, &obs_user, &obs_token).await?;
    watcher.subscribe(&channel, 1).await?;
    let mut silent = Peer::connect_on(area, 1, &silent_user, &silent_token).await?;
    silent.subscribe(&channel, 2).await?;
    expect_events(
        &mut watcher,
        &obs_user,
        vec![(silent_user.clone(), true)],
        "the silent connection's SUBSCRIBE",
    )
    .await?;
    // From here the silent connection is never read again: the server's pings go unanswered.
    let allowed = area.ping_interval + area.ping_timeout;
    let started = tokio::time::Instant::now();
    let mut request = 3;
    loop {
        request += 1;
        let listed = presence(&mut observer, &channel, request).await?;
        if !listed.contains(&silent_user) {
            break;
        }
        if started.elapsed() > allowed + WAIT {
            return Err(observer.fail(
                sc::DEAD,
                format!(
                    "a connection silent for {:?} (ping interval {:?} + timeout {:?}, and {WAIT:?} more) is still listed: {listed:?}",
                    started.elapsed(),
                    area.ping_interval,
                    area.ping_timeout
                ),
            ));
        }
        watcher.idle(Duration::from_millis(200)).await?;
    }
    expect_events(
        &mut watcher,
        &obs_user,
        vec![(silent_user.clone(), false)],
        "the silent connection was found dead",
    )
    .await?;
    silent.vanish();
    observer.close().await;
    watcher.close().await;
    Ok(())
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(run_cases_then(
        target,
        config,
        prop::collection::vec(step(), 1..12),
        move |area, steps| async move { case(target, &area, &steps).await },
        move |area| async move {
            let silence = area.ping_interval + area.ping_timeout;
            if silence > LONGEST_SILENCE_TRIED {
                return CheckOutcome::NotVerified(format!(
                    "that a silent connection's user leaves: the target drops it only after ping_interval_seconds + ping_timeout_seconds = {} s, longer than the check waits ({} s)",
                    silence.as_secs(),
                    LONGEST_SILENCE_TRIED.as_secs()
                ));
            }
            let area = &area;
            CheckOutcome::Ran(
                for_each(
                    &["a subscribed connection stops answering the server's pings"],
                    |_| silent_connection(target, area),
                )
                .await,
            )
        },
    ))
}
