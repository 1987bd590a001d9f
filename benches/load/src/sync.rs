//! The sync side of the workload (`spec/sync.md`): subscribers that follow every message
//! of their channels and resume after any disconnect, on another instance when theirs is
//! gone, and publishers that ask for an acknowledgment of every message. Every message is
//! accounted for: delivered once and in order, or its loss reported by an `ERROR` 3004.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dx_sync::frame::{ClientFrame, ServerFrame, SessionId};
use dx_sync::{ChannelName, Position};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::http::Ctx;
use crate::stats::documented_numbers;

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SUBPROTOCOL: &str = "dx-sync.1";
/// At most this many publishes of one publisher wait for their answer.
const WINDOW: usize = 64;

/// The sync tallies.
#[derive(Debug, Default)]
pub struct SyncTally {
    /// `(channel, epoch, offset)` of every message some subscriber received.
    delivered: Mutex<HashSet<(usize, u64, u64)>>,
    /// Every acknowledged message.
    acked: Mutex<Vec<(usize, u64, u64)>>,
    /// Every message answered `NACK`, with its code.
    nacked: Mutex<Vec<(usize, u64, u64, u16)>>,
    /// Loss reports: `(channel, epoch, last offset received)` when a 3004 came.
    reported: Mutex<Vec<(usize, u64, u64)>>,
    pub deliveries: AtomicU64,
    pub duplicates: AtomicU64,
    /// Offsets skipped within an epoch without a 3004 (unreported loss).
    pub gaps: AtomicU64,
    /// Messages of a new epoch without a 3004 first.
    pub unreported_epochs: AtomicU64,
    pub loss_reports: AtomicU64,
    pub resumed: AtomicU64,
    pub reconnects: AtomicU64,
    pub published: AtomicU64,
    /// Publishes whose connection closed before their answer.
    pub unanswered: AtomicU64,
    /// Close codes (and "no close frame") seen by clients, by who saw them.
    pub closes: Mutex<BTreeMap<String, u64>>,
    /// `ERROR` and `NACK` codes seen, by frame.
    pub codes: Mutex<BTreeMap<String, u64>>,
}

/// What the accounting of acknowledged messages found.
#[derive(Debug, Default)]
pub struct SyncResult {
    pub acked: u64,
    pub delivered: u64,
    pub loss_reported: u64,
    pub lost_unreported: u64,
    /// `NACK`ed messages a subscriber received all the same, by code (`spec/sync.md` allows
    /// this false negative for 3003 alone).
    pub nacked_delivered: BTreeMap<u16, u64>,
    pub nacked: BTreeMap<u16, u64>,
}

impl SyncTally {
    fn count(map: &Mutex<BTreeMap<String, u64>>, key: String) {
        *map.lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    /// Every acknowledged message: received by a subscriber, or after a loss report of its
    /// channel and epoch, or neither.
    pub fn account(&self) -> SyncResult {
        let delivered = self.delivered.lock().unwrap_or_else(|p| p.into_inner());
        let acked = self.acked.lock().unwrap_or_else(|p| p.into_inner());
        let reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let mut result = SyncResult {
            acked: acked.len() as u64,
            ..SyncResult::default()
        };
        for &(ch, epoch, offset, code) in
            self.nacked.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            *result.nacked.entry(code).or_default() += 1;
            if delivered.contains(&(ch, epoch, offset)) {
                *result.nacked_delivered.entry(code).or_default() += 1;
            }
        }
        for m in acked.iter() {
            if delivered.contains(m) {
                result.delivered += 1;
            } else if reported
                .iter()
                .any(|r| r.0 == m.0 && r.1 == m.1 && r.2 < m.2)
            {
                result.loss_reported += 1;
            } else {
                result.lost_unreported += 1;
            }
        }
        result
    }
}

/// The run's channel `index`: named after the run, so runs sharing a Redis never hear
/// each other's messages.
fn channel(ctx: &Ctx, index: usize) -> Result<ChannelName> {
    ChannelName::new(&format!("load.{}.{index}", ctx.run))
        .map_err(|e| anyhow::anyhow!("channel: {e:?}"))
}

/// Opens a sync connection on `instance` and reads its `WELCOME`; the upgrade is tallied
/// under `sync.upgrade`.
async fn connect(ctx: &Ctx, instance: usize, token: &str) -> Result<(Ws, SessionId)> {
    let base = &ctx.instances[instance].base;
    let url = format!("{}{}", base.replacen("http://", "ws://", 1), ctx.paths.sync);
    let mut request = url
        .as_str()
        .into_client_request()
        .context("not a WebSocket URL")?;
    request.headers_mut().insert(
        AUTHORIZATION,
        HeaderValue::from_str(&format!("Bearer {token}")).context("a token unfit for a header")?,
    );
    request.headers_mut().insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(SUBPROTOCOL),
    );
    let started = Instant::now();
    let upgrade = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(request),
    )
    .await;
    let (mut ws, _) = match upgrade {
        Err(_) => {
            ctx.stats.transport("sync.upgrade", "timeout");
            bail!("no upgrade within 10 s");
        }
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(response))) => {
            let status = response.status().as_u16();
            let body: serde_json::Value = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or_default();
            let code = body.pointer("/error/code").and_then(|c| c.as_str());
            ctx.stats.answer(
                "sync.upgrade",
                instance,
                status,
                code,
                started.elapsed(),
                false,
            );
            bail!("upgrade refused with {status}");
        }
        Ok(Err(e)) => {
            ctx.stats.transport("sync.upgrade", "connect");
            return Err(e).context("upgrade");
        }
        Ok(Ok(pair)) => pair,
    };
    ctx.stats.answer(
        "sync.upgrade",
        instance,
        101,
        None,
        started.elapsed(),
        false,
    );
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .context("no WELCOME within 10 s")?;
        match frame {
            Some(Ok(Message::Binary(bytes))) => match ServerFrame::decode(&bytes) {
                Ok(ServerFrame::Welcome { session, .. }) => return Ok((ws, session)),
                Ok(ServerFrame::Error { code, .. }) => bail!("ERROR {code} instead of WELCOME"),
                other => bail!("expected WELCOME, got {other:?}"),
            },
            Some(Ok(Message::Close(frame))) => {
                bail!("closed before WELCOME: {frame:?}")
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e).context("reading WELCOME"),
            None => bail!("closed before WELCOME"),
        }
    }
}

async fn send(ws: &mut Ws, frame: &ClientFrame) -> Result<()> {
    ws.send(Message::Binary(frame.encode().into()))
        .await
        .context("sending a frame")
}

/// The next live instance after `from` (itself first).
fn live_from(ctx: &Ctx, from: usize) -> usize {
    let n = ctx.instances.len();
    (0..n)
        .map(|i| (from + i) % n)
        .find(|&i| ctx.instances[i].alive.load(Ordering::Relaxed))
        .unwrap_or(from)
}

struct Follow {
    index: usize,
    name: ChannelName,
    last: Option<Position>,
    /// A 3004 came: the next position starts afresh.
    restart: bool,
}

/// One connection attempt on the next live instance from `instance`. On failure it logs
/// `user` in again if the token was refused, moves on to the next instance and pauses, so the
/// caller's loop just tries again.
async fn reconnect(
    ctx: &Ctx,
    instance: &mut usize,
    token: &mut String,
    user: usize,
) -> Option<(Ws, SessionId)> {
    *instance = live_from(ctx, *instance);
    match connect(ctx, *instance, token).await {
        Ok(pair) => Some(pair),
        Err(e) => {
            if e.to_string().contains("401") {
                *token = ctx.login_until(user).await.map(|p| p.0).unwrap_or_default();
            }
            *instance += 1;
            tokio::time::sleep(Duration::from_millis(200)).await;
            None
        }
    }
}

/// A subscriber of `channels` as `user`, connected to `home` (or the next live instance),
/// until the run stops.
pub async fn subscriber(
    ctx: Arc<Ctx>,
    tally: Arc<SyncTally>,
    home: usize,
    user: usize,
    channels: Vec<usize>,
) -> Result<()> {
    let numbers = documented_numbers();
    let mut follows: Vec<Follow> = channels
        .iter()
        .map(|&i| {
            Ok(Follow {
                index: i,
                name: channel(&ctx, i)?,
                last: None,
                restart: false,
            })
        })
        .collect::<Result<_>>()?;
    let mut session: Option<SessionId> = None;
    let mut token = ctx.token(user).await.unwrap_or_default();
    let mut instance = home;
    let mut first = true;
    while !ctx.stopped() {
        let Some((mut ws, welcome)) = reconnect(&ctx, &mut instance, &mut token, user).await else {
            continue;
        };
        if !first {
            tally.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        first = false;
        let resume: Vec<(ChannelName, Position)> = follows
            .iter()
            .filter_map(|f| f.last.map(|at| (f.name.clone(), at)))
            .collect();
        let sent = match session {
            Some(old) if resume.len() == follows.len() => {
                send(
                    &mut ws,
                    &ClientFrame::Resume {
                        request: 1000,
                        session: old,
                        channels: resume,
                    },
                )
                .await
            }
            _ => {
                let mut result = Ok(());
                for (i, f) in follows.iter().enumerate() {
                    result = send(
                        &mut ws,
                        &ClientFrame::Subscribe {
                            request: i as u32,
                            channel: f.name.clone(),
                        },
                    )
                    .await;
                    if result.is_err() {
                        break;
                    }
                }
                result
            }
        };
        session = Some(welcome);
        if sent.is_err() {
            continue;
        }
        // Read until the connection ends or the run stops.
        loop {
            let message = tokio::select! {
                m = ws.next() => m,
                () = tokio::time::sleep(Duration::from_millis(200)) => {
                    if ctx.stopped() {
                        let _ = ws.close(None).await;
                        return Ok(());
                    }
                    continue;
                }
            };
            let bytes = match message {
                Some(Ok(Message::Binary(bytes))) => bytes,
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or("none".to_owned(), |f| u16::from(f.code).to_string());
                    SyncTally::count(&tally.closes, format!("subscriber close {code}"));
                    break;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    SyncTally::count(&tally.closes, "subscriber: no close frame".to_owned());
                    break;
                }
            };
            let Ok(frame) = ServerFrame::decode(&bytes) else {
                SyncTally::count(&tally.codes, "undecodable frame".to_owned());
                continue;
            };
            match frame {
                ServerFrame::Subscribed { channel, at, .. } => {
                    if let Some(f) = follows.iter_mut().find(|f| f.name == channel) {
                        f.last = Some(at);
                        f.restart = false;
                    }
                }
                ServerFrame::Resumed { channel, at, .. } => {
                    tally.resumed.fetch_add(1, Ordering::Relaxed);
                    if let Some(f) = follows.iter_mut().find(|f| f.name == channel) {
                        if let Some(last) = f.last
                            && last.epoch == at.epoch
                            && at.offset > last.offset
                        {
                            tally
                                .gaps
                                .fetch_add(at.offset - last.offset, Ordering::Relaxed);
                        }
                        f.last = Some(at);
                    }
                }
                ServerFrame::Message {
                    channel,
                    at,
                    payload,
                    ..
                } => {
                    let Some(f) = follows.iter_mut().find(|f| f.name == channel) else {
                        continue;
                    };
                    tally.deliveries.fetch_add(1, Ordering::Relaxed);
                    if let Some(sent_us) = stamp(&payload) {
                        let now = ctx.stats.elapsed().as_micros() as u64;
                        ctx.stats.answer(
                            "sync.delivery",
                            instance,
                            200,
                            None,
                            Duration::from_micros(now.saturating_sub(sent_us)),
                            false,
                        );
                    }
                    match f.last {
                        _ if f.restart => {}
                        Some(last) if last.epoch != at.epoch => {
                            tally.unreported_epochs.fetch_add(1, Ordering::Relaxed);
                        }
                        Some(last) if at.offset <= last.offset => {
                            tally.duplicates.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                        Some(last) if at.offset > last.offset + 1 => {
                            tally
                                .gaps
                                .fetch_add(at.offset - last.offset - 1, Ordering::Relaxed);
                        }
                        _ => {}
                    }
                    f.restart = false;
                    f.last = Some(at);
                    tally
                        .delivered
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert((f.index, at.epoch, at.offset));
                }
                ServerFrame::Error { code, channel, .. } => {
                    let wire = numbers.get(&code).cloned().unwrap_or_default();
                    SyncTally::count(&tally.codes, format!("subscriber ERROR {code} {wire}"));
                    if code == 3004 {
                        tally.loss_reports.fetch_add(1, Ordering::Relaxed);
                        for f in follows
                            .iter_mut()
                            .filter(|f| channel.is_empty() || f.name.as_str() == channel)
                        {
                            if let Some(last) = f.last {
                                tally
                                    .reported
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .push((f.index, last.epoch, last.offset));
                            }
                            f.restart = true;
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The publish time (microseconds since the run started) a publisher put in a payload.
fn stamp(payload: &[u8]) -> Option<u64> {
    std::str::from_utf8(payload)
        .ok()?
        .rsplit(':')
        .next()?
        .parse()
        .ok()
}

/// A publisher on `channel` as `user`, `rate` messages a second with an acknowledgment
/// asked for each, at most [`WINDOW`] unanswered.
pub async fn publisher(
    ctx: Arc<Ctx>,
    tally: Arc<SyncTally>,
    id: usize,
    home: usize,
    user: usize,
    index: usize,
    rate: f64,
) -> Result<()> {
    let numbers = documented_numbers();
    let name = channel(&ctx, index)?;
    let mut token = ctx.token(user).await.unwrap_or_default();
    let mut instance = home;
    let mut seq: u32 = 0;
    while !ctx.stopped() {
        let Some((mut ws, _)) = reconnect(&ctx, &mut instance, &mut token, user).await else {
            continue;
        };
        let mut pending: HashMap<u32, Instant> = HashMap::new();
        let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if ctx.stopped() {
                        // Wait briefly for the last answers, then close.
                        let deadline = Instant::now() + Duration::from_secs(3);
                        while !pending.is_empty() && Instant::now() < deadline {
                            match tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
                                Ok(Some(Ok(Message::Binary(bytes)))) => {
                                    answer(&ctx, &tally, &numbers, instance, index, &mut pending, &bytes);
                                }
                                Ok(Some(Ok(_))) | Err(_) => {}
                                Ok(Some(Err(_)) | None) => break,
                            }
                        }
                        tally.unanswered.fetch_add(pending.len() as u64, Ordering::Relaxed);
                        let _ = ws.close(None).await;
                        return Ok(());
                    }
                    if pending.len() >= WINDOW {
                        continue;
                    }
                    seq = seq.wrapping_add(1);
                    let at = ctx.stats.elapsed().as_micros();
                    let frame = ClientFrame::Publish {
                        request: seq,
                        ack: true,
                        channel: name.clone(),
                        payload: format!("p{id}:{seq}:{at}").into_bytes(),
                    };
                    pending.insert(seq, Instant::now());
                    tally.published.fetch_add(1, Ordering::Relaxed);
                    if send(&mut ws, &frame).await.is_err() {
                        SyncTally::count(&tally.closes, "publisher: send failed".to_owned());
                        break;
                    }
                }
                message = ws.next() => match message {
                    Some(Ok(Message::Binary(bytes))) => {
                        answer(&ctx, &tally, &numbers, instance, index, &mut pending, &bytes);
                    }
                    Some(Ok(Message::Close(frame))) => {
                        let code = frame.map_or("none".to_owned(), |f| u16::from(f.code).to_string());
                        SyncTally::count(&tally.closes, format!("publisher close {code}"));
                        break;
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => {
                        SyncTally::count(&tally.closes, "publisher: no close frame".to_owned());
                        break;
                    }
                },
            }
        }
        tally
            .unanswered
            .fetch_add(pending.len() as u64, Ordering::Relaxed);
        tally.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// One answer to a publish: `ACK` (acknowledged), `NACK` or `ERROR` (tallied by code).
fn answer(
    ctx: &Ctx,
    tally: &SyncTally,
    numbers: &HashMap<u16, String>,
    instance: usize,
    index: usize,
    pending: &mut HashMap<u32, Instant>,
    bytes: &[u8],
) {
    let Ok(frame) = ServerFrame::decode(bytes) else {
        SyncTally::count(&tally.codes, "undecodable frame".to_owned());
        return;
    };
    let (request, code, at) = match frame {
        ServerFrame::Ack { request, at, .. } => (request, None, Some(at)),
        ServerFrame::Nack {
            request, code, at, ..
        } => (request, Some(code), Some(at)),
        ServerFrame::Error { request, code, .. } => (request, Some(code), None),
        _ => return,
    };
    let Some(sent) = pending.remove(&request) else {
        return;
    };
    match code {
        None => {
            if let Some(at) = at {
                tally
                    .acked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((index, at.epoch, at.offset));
            }
            ctx.stats
                .answer("sync.publish", instance, 200, None, sent.elapsed(), false);
        }
        Some(code) => {
            if let Some(at) = at {
                tally
                    .nacked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((index, at.epoch, at.offset, code));
            }
            let wire = numbers.get(&code).cloned().unwrap_or_default();
            let kind = if at.is_some() { "NACK" } else { "ERROR" };
            SyncTally::count(&tally.codes, format!("publisher {kind} {code} {wire}"));
            let status = ctx.stats.documented(&wire).unwrap_or(599);
            ctx.stats.answer(
                "sync.publish",
                instance,
                status,
                Some(&wire),
                sent.elapsed(),
                false,
            );
        }
    }
}
