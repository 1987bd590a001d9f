//! Feature: production-readiness, Property 24: Presence Accuracy
//!
//! Black-box form, over real WebSockets. Four connections of three users (one user has two)
//! subscribe, unsubscribe, vanish (no close frame) and reconnect in an order proptest
//! chooses; after every step an observer that is not subscribed asks `PRESENCE`. After a
//! subscribe or unsubscribe has been answered the list must be exactly the users with a
//! connection subscribed, sorted, each once; after a connection vanishes, the server learns
//! of it by itself, so the list must come to that within the ping timeout it publishes.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::sync_frames::{ClientFrame, ServerFrame};
use proptest::prelude::*;

use crate::cases::{CaseConfig, CaseFailure};
use crate::check::{CheckFuture, PropertyCheck};
use crate::checks::sync::{Peer, SyncArea, WAIT, fresh_channel, run_cases, user};
use crate::clause::sync as sc;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 24,
    run: run_check,
};

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
    channel: &crate::sync_frames::ChannelName,
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

async fn case(target: &Target, area: &SyncArea, steps: &[Step]) -> Result<(), CaseFailure> {
    let channel = fresh_channel("p24")?;
    let mut users = Vec::new();
    for _ in 0..3 {
        users.push(user(target, area, "p24").await?);
    }
    let (obs_user, obs_token) = user(target, area, "p24-observer").await?;
    let mut observer = Peer::connect(area, &obs_user, &obs_token).await?;
    let mut slots: Vec<Option<(Peer, bool)>> = (0..4).map(|_| None).collect();
    let mut request = 0u32;
    for step in steps {
        request += 1;
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
        let want: Vec<String> = slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.as_ref().is_some_and(|(_, sub)| *sub))
            .map(|(k, _)| users[OWNER[k]].0.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
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
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for (peer, _) in slots.into_iter().flatten() {
        peer.close().await;
    }
    observer.close().await;
    Ok(())
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(run_cases(
        target,
        config,
        prop::collection::vec(step(), 1..12),
        move |area, steps| async move { case(target, &area, &steps).await },
    ))
}
