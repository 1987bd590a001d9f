//! The HTTP side of the workload: accounts, logins and refreshes, the items API (some
//! clients with a cookie session and its CSRF token), hostile requests, and the read-back
//! of every acknowledged write.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, HeaderMap, SET_COOKIE};
use reqwest::{Client, Method};
use serde_json::{Value, json};

use crate::stats::Stats;

/// A small deterministic generator (xorshift64*), enough to pick operations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// One instance as the clients see it: its base URL and whether a load balancer would
/// still send it traffic.
#[derive(Debug)]
pub struct Instance {
    pub base: String,
    pub alive: AtomicBool,
}

/// The paths the discovery document publishes.
#[derive(Debug, Clone)]
pub struct Paths {
    pub login: String,
    pub refresh: String,
    pub register: String,
    pub items: String,
    pub csrf_token: String,
    pub csrf_header: String,
    pub sync: String,
    pub health: String,
    pub max_body: u64,
}

/// An item the server acknowledged with 201.
#[derive(Debug, Clone)]
pub struct Acked {
    pub user: usize,
    pub id: u64,
    pub name: String,
    /// The body of the last acknowledged write, or `None` when a later `PUT` got no answer
    /// (its body is then one of two).
    pub body: Option<String>,
}

/// Everything the tasks share.
pub struct Ctx {
    /// The run's id (its start in Unix milliseconds): in account emails and channel names.
    pub run: u128,
    pub client: Client,
    pub stats: Arc<Stats>,
    pub instances: Vec<Instance>,
    pub paths: Paths,
    pub emails: Vec<String>,
    pub password: String,
    pub stop: AtomicBool,
    pub acked: Mutex<Vec<Acked>>,
    /// Creates whose outcome is unknown (no answer, or a 5xx after which the write may or
    /// may not have committed).
    pub unknown_creates: AtomicU64,
    /// Acknowledged items answered 404 while the load ran.
    pub missing_during_run: AtomicU64,
    pub round_robin: AtomicU64,
    /// Each account's latest access token: the clients of one account share it, so the
    /// start of the load is not a storm of logins (which the hashing pool would refuse
    /// with 503 `RESOURCE_EXHAUSTED`, as it should).
    pub tokens: Mutex<Vec<Option<String>>>,
}

/// A parsed answer.
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub headers: HeaderMap,
}

impl Ctx {
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The next live instance, round robin (what a load balancer would pick).
    pub fn pick(&self) -> usize {
        let n = self.instances.len();
        let start = self.round_robin.fetch_add(1, Ordering::Relaxed) as usize;
        (0..n)
            .map(|i| (start + i) % n)
            .find(|&i| self.instances[i].alive.load(Ordering::Relaxed))
            .unwrap_or(0)
    }

    /// One request, tallied under `route`; `None` when no HTTP answer came.
    #[allow(clippy::too_many_arguments)]
    pub async fn call(
        &self,
        route: &'static str,
        instance: usize,
        method: Method,
        path: &str,
        headers: &[(reqwest::header::HeaderName, String)],
        body: Option<Vec<u8>>,
        provoked: bool,
    ) -> Option<Answer> {
        let url = format!("{}{path}", self.instances[instance].base);
        let mut request = self.client.request(method, &url);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let started = Instant::now();
        let answer = match request.send().await {
            Ok(answer) => answer,
            Err(e) => {
                let kind = if e.is_connect() {
                    "connect"
                } else if e.is_timeout() {
                    "timeout"
                } else {
                    "cut"
                };
                self.stats.transport(route, kind);
                return None;
            }
        };
        let status = answer.status().as_u16();
        let headers = answer.headers().clone();
        let bytes = match answer.bytes().await {
            Ok(b) => b,
            Err(_) => {
                self.stats.transport(route, "body cut");
                return None;
            }
        };
        let latency = started.elapsed();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let code = body.pointer("/error/code").and_then(Value::as_str);
        self.stats
            .answer(route, instance, status, code, latency, provoked);
        Some(Answer {
            status,
            body,
            headers,
        })
    }

    fn json_headers(token: Option<&str>) -> Vec<(reqwest::header::HeaderName, String)> {
        let mut h = vec![(CONTENT_TYPE, "application/json".to_owned())];
        if let Some(t) = token {
            h.push((AUTHORIZATION, format!("Bearer {t}")));
        }
        h
    }

    /// Registers every account (once, before the load).
    pub async fn register_all(&self) -> Result<()> {
        for email in &self.emails {
            let body = json!({ "email": email, "password": self.password });
            let answer = self
                .call(
                    "register",
                    0,
                    Method::POST,
                    &self.paths.register,
                    &Self::json_headers(None),
                    Some(body.to_string().into_bytes()),
                    false,
                )
                .await
                .context("register: no answer")?;
            if answer.status != 201 {
                bail!("register {email}: {} {}", answer.status, answer.body);
            }
        }
        Ok(())
    }

    /// Logs `user` in; the token pair on 200.
    pub async fn login(&self, user: usize) -> Option<(String, String)> {
        let body = json!({ "email": self.emails[user], "password": self.password });
        let answer = self
            .call(
                "auth.login",
                self.pick(),
                Method::POST,
                &self.paths.login,
                &Self::json_headers(None),
                Some(body.to_string().into_bytes()),
                false,
            )
            .await?;
        pair(&answer)
    }

    /// The account's shared access token, logging in when it has none.
    pub async fn token(&self, user: usize) -> Option<String> {
        let cached = self.tokens.lock().unwrap_or_else(|p| p.into_inner())[user].clone();
        match cached {
            Some(t) => Some(t),
            None => self.login_until(user).await.map(|p| p.0),
        }
    }

    /// Logs `user` in until it works or the run stops; the access token becomes the
    /// account's shared one.
    pub async fn login_until(&self, user: usize) -> Option<(String, String)> {
        loop {
            if let Some(pair) = self.login(user).await {
                self.tokens.lock().unwrap_or_else(|p| p.into_inner())[user] = Some(pair.0.clone());
                return Some(pair);
            }
            if self.stopped() {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// A CSRF session: the cookie header to send and the token for the header.
    async fn csrf_session(&self, instance: usize) -> Option<(String, String)> {
        let answer = self
            .call(
                "session.csrf",
                instance,
                Method::GET,
                &self.paths.csrf_token,
                &[],
                None,
                false,
            )
            .await?;
        if answer.status != 200 {
            return None;
        }
        let token = answer.body.get("token")?.as_str()?.to_owned();
        let cookies: Vec<String> = answer
            .headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(str::to_owned)
            .collect();
        Some((cookies.join("; "), token))
    }
}

fn pair(answer: &Answer) -> Option<(String, String)> {
    if answer.status != 200 {
        return None;
    }
    let access = answer.body.get("access_token")?.as_str()?.to_owned();
    let refresh = answer.body.get("refresh_token")?.as_str()?.to_owned();
    Some((access, refresh))
}

/// Logins at `rate` per second, each for a random account.
pub async fn logins(ctx: Arc<Ctx>, rate: f64, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    while !ctx.stopped() {
        tick.tick().await;
        let user = rng.below(ctx.emails.len() as u64) as usize;
        ctx.login(user).await;
    }
}

/// Refreshes at `rate` per second, following one chain of refresh tokens per account (a
/// spent token is never sent again: reuse would revoke the family, `spec/auth.md`). A
/// refresh without an answer, or refused, starts the chain again with a login.
pub async fn refreshes(ctx: Arc<Ctx>, rate: f64, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut chains: Vec<Option<String>> = vec![None; ctx.emails.len()];
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    while !ctx.stopped() {
        tick.tick().await;
        let user = rng.below(ctx.emails.len() as u64) as usize;
        let Some(token) = chains[user].take() else {
            chains[user] = ctx.login(user).await.map(|p| p.1);
            continue;
        };
        let body = json!({ "refresh_token": token });
        let answer = ctx
            .call(
                "auth.refresh",
                ctx.pick(),
                Method::POST,
                &ctx.paths.refresh,
                &Ctx::json_headers(None),
                Some(body.to_string().into_bytes()),
                false,
            )
            .await;
        chains[user] = answer.as_ref().and_then(pair).map(|p| p.1);
    }
}

/// One client of the items API: creates (25 %), reads its own items by id (50 %), lists
/// (10 %) and updates (15 %), back to back. With `cookies`, it also holds a CSRF session
/// and sends its token, as a browser application calling the API with its cookies would.
pub async fn items_client(ctx: Arc<Ctx>, worker: usize, cookies: bool, seed: u64) {
    let user = worker % ctx.emails.len();
    let mut rng = Rng::new(seed);
    let Some(mut access) = ctx.token(user).await else {
        return;
    };
    let mut session: Option<(String, String)> = None;
    let mut mine: Vec<usize> = Vec::new();
    let mut seq = 0u64;
    while !ctx.stopped() {
        let instance = ctx.pick();
        if cookies && session.is_none() {
            session = ctx.csrf_session(instance).await;
            if session.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        let mut headers = Ctx::json_headers(Some(&access));
        if let Some((cookie, token)) = &session {
            headers.push((COOKIE, cookie.clone()));
            headers.push((
                reqwest::header::HeaderName::from_bytes(ctx.paths.csrf_header.as_bytes())
                    .unwrap_or(AUTHORIZATION),
                token.clone(),
            ));
        }
        let roll = rng.unit();
        let answer = if roll < 0.25 || mine.is_empty() {
            seq += 1;
            let name = format!("w{worker}-{seq}-{}", rng.next() % 1_000_000);
            let body = text(&mut rng);
            let payload = json!({ "name": name, "body": body });
            let answer = ctx
                .call(
                    "items.create",
                    instance,
                    Method::POST,
                    &ctx.paths.items,
                    &headers,
                    Some(payload.to_string().into_bytes()),
                    false,
                )
                .await;
            match &answer {
                Some(a) if a.status == 201 => {
                    if let Some(id) = a.body.get("id").and_then(Value::as_u64) {
                        let mut acked = ctx.acked.lock().unwrap_or_else(|p| p.into_inner());
                        mine.push(acked.len());
                        acked.push(Acked {
                            user,
                            id,
                            name,
                            body: Some(body),
                        });
                    }
                }
                Some(a) if a.status < 500 => {}
                _ => {
                    ctx.unknown_creates.fetch_add(1, Ordering::Relaxed);
                }
            }
            answer
        } else if roll < 0.75 {
            let slot = mine[rng.below(mine.len() as u64) as usize];
            let id = ctx.acked.lock().unwrap_or_else(|p| p.into_inner())[slot].id;
            let answer = ctx
                .call(
                    "items.get",
                    instance,
                    Method::GET,
                    &format!("{}/{id}", ctx.paths.items),
                    &headers,
                    None,
                    false,
                )
                .await;
            if answer.as_ref().is_some_and(|a| a.status == 404) {
                ctx.missing_during_run.fetch_add(1, Ordering::Relaxed);
            }
            answer
        } else if roll < 0.85 {
            let after = rng.below(1000);
            ctx.call(
                "items.list",
                instance,
                Method::GET,
                &format!("{}?limit=20&after={after}", ctx.paths.items),
                &headers,
                None,
                false,
            )
            .await
        } else {
            let slot = mine[rng.below(mine.len() as u64) as usize];
            let (id, name) = {
                let acked = ctx.acked.lock().unwrap_or_else(|p| p.into_inner());
                (acked[slot].id, acked[slot].name.clone())
            };
            let body = text(&mut rng);
            let payload = json!({ "name": name, "body": body });
            let answer = ctx
                .call(
                    "items.update",
                    instance,
                    Method::PUT,
                    &format!("{}/{id}", ctx.paths.items),
                    &headers,
                    Some(payload.to_string().into_bytes()),
                    false,
                )
                .await;
            let mut acked = ctx.acked.lock().unwrap_or_else(|p| p.into_inner());
            match &answer {
                Some(a) if a.status == 200 => acked[slot].body = Some(body),
                Some(a) if a.status < 500 => {}
                _ => acked[slot].body = None,
            }
            answer
        };
        match answer {
            Some(a) if a.status == 401 => {
                if let Some((t, _)) = ctx.login_until(user).await {
                    access = t;
                }
            }
            Some(a) if a.status == 503 && a.headers.contains_key(reqwest::header::RETRY_AFTER) => {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Some(a) if a.status == 403 => session = None,
            Some(a) if a.status >= 500 => tokio::time::sleep(Duration::from_millis(50)).await,
            None => tokio::time::sleep(Duration::from_millis(50)).await,
            Some(_) => {}
        }
    }
}

/// A body of 0 to 300 bytes of printable ASCII and a few multi-byte characters.
fn text(rng: &mut Rng) -> String {
    let len = rng.below(300) as usize;
    (0..len)
        .map(|_| match rng.below(40) {
            0 => 'é',
            1 => '"',
            2 => '\'',
            3 => ';',
            n => char::from(b'a' + (n % 26) as u8),
        })
        .collect()
}

/// `GET /health` at `rate` per second until the run stops (or `for_at_most` has passed),
/// tallied under `route`: the peer of every route's latency. It goes through the same
/// listener, middleware, runtime and client pool as the workload but touches neither the
/// database nor Redis, so a route's p99 over /health's says what the route's own work adds
/// under the same load. Each probe is a task of its own, sent on time whatever the previous
/// one is doing, so a stall shows in the tail instead of delaying the probes (no coordinated
/// omission).
pub async fn probe_health(
    ctx: Arc<Ctx>,
    rate: f64,
    route: &'static str,
    for_at_most: Option<Duration>,
) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut probes = tokio::task::JoinSet::new();
    while !ctx.stopped() && for_at_most.is_none_or(|d| started.elapsed() < d) {
        tick.tick().await;
        let ctx = Arc::clone(&ctx);
        probes.spawn(async move {
            let path = ctx.paths.health.clone();
            ctx.call(route, ctx.pick(), Method::GET, &path, &[], None, false)
                .await;
        });
        while probes.try_join_next().is_some() {}
    }
    while probes.join_next().await.is_some() {}
}

/// Hostile requests at `rate` per second, in turn: malformed JSON, an oversized body, a
/// forged token, a wrong media type, and a sync upgrade with a forged token.
pub async fn hostile(ctx: Arc<Ctx>, rate: f64, token: String) {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    let mut turn = 0u64;
    let forged = format!("{}x", token.trim_end_matches(|c: char| c != '.'));
    while !ctx.stopped() {
        tick.tick().await;
        turn += 1;
        let instance = ctx.pick();
        let bearer = vec![
            (CONTENT_TYPE, "application/json".to_owned()),
            (AUTHORIZATION, format!("Bearer {token}")),
        ];
        match turn % 5 {
            0 => {
                ctx.call(
                    "hostile.malformed_json",
                    instance,
                    Method::POST,
                    &ctx.paths.items,
                    &bearer,
                    Some(b"{\"name\": \"x\", \"body\": ".to_vec()),
                    true,
                )
                .await;
            }
            1 => {
                let size = usize::try_from(ctx.paths.max_body).unwrap_or(1 << 20) + 4096;
                ctx.call(
                    "hostile.oversized",
                    instance,
                    Method::POST,
                    &ctx.paths.items,
                    &bearer,
                    Some(vec![b'{'; size]),
                    true,
                )
                .await;
            }
            2 => {
                ctx.call(
                    "hostile.bad_token",
                    instance,
                    Method::GET,
                    &ctx.paths.items,
                    &[(AUTHORIZATION, format!("Bearer {forged}"))],
                    None,
                    true,
                )
                .await;
            }
            3 => {
                ctx.call(
                    "hostile.media_type",
                    instance,
                    Method::POST,
                    &ctx.paths.items,
                    &[
                        (CONTENT_TYPE, "text/plain".to_owned()),
                        (AUTHORIZATION, format!("Bearer {token}")),
                    ],
                    Some(b"name=x".to_vec()),
                    true,
                )
                .await;
            }
            _ => {
                ctx.call(
                    "hostile.sync_bad_token",
                    instance,
                    Method::GET,
                    &ctx.paths.sync,
                    &[
                        (AUTHORIZATION, format!("Bearer {forged}")),
                        (reqwest::header::CONNECTION, "Upgrade".to_owned()),
                        (reqwest::header::UPGRADE, "websocket".to_owned()),
                        (reqwest::header::SEC_WEBSOCKET_VERSION, "13".to_owned()),
                        (
                            reqwest::header::SEC_WEBSOCKET_KEY,
                            "dGhlIHNhbXBsZSBub25jZQ==".to_owned(),
                        ),
                    ],
                    None,
                    true,
                )
                .await;
            }
        }
    }
}

/// What reading back every acknowledged item found.
#[derive(Debug, Default)]
pub struct ReadBack {
    pub acked: u64,
    pub read_back: u64,
    pub lost: u64,
    pub changed: u64,
    pub unreadable: u64,
}

/// Reads back every item acknowledged with 201 through the first live instance, with a
/// fresh login per account; each read is tried up to five times a second apart while it
/// gets no answer or a 5xx.
pub async fn read_back(ctx: &Ctx) -> ReadBack {
    let items = ctx.acked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut result = ReadBack {
        acked: items.len() as u64,
        ..ReadBack::default()
    };
    let mut tokens: Vec<Option<String>> = vec![None; ctx.emails.len()];
    let instance = ctx.pick();
    for item in items {
        if tokens[item.user].is_none() {
            for _ in 0..10 {
                if let Some((t, _)) = ctx.login(item.user).await {
                    tokens[item.user] = Some(t);
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        let Some(token) = tokens[item.user].clone() else {
            result.unreadable += 1;
            continue;
        };
        let mut outcome = None;
        for _ in 0..5 {
            let answer = ctx
                .call(
                    "readback.get",
                    instance,
                    Method::GET,
                    &format!("{}/{}", ctx.paths.items, item.id),
                    &[(AUTHORIZATION, format!("Bearer {token}"))],
                    None,
                    false,
                )
                .await;
            match answer {
                Some(a) if a.status < 500 => {
                    outcome = Some(a);
                    break;
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
        match outcome {
            Some(a) if a.status == 200 => {
                let name = a.body.get("name").and_then(Value::as_str);
                let body = a.body.get("body").and_then(Value::as_str);
                let same = name == Some(item.name.as_str())
                    && item.body.as_deref().is_none_or(|b| body == Some(b));
                if same {
                    result.read_back += 1;
                } else {
                    result.changed += 1;
                }
            }
            Some(a) if a.status == 404 => result.lost += 1,
            _ => result.unreadable += 1,
        }
    }
    result
}
