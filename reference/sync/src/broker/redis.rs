//! [`RedisBroker`]: the broker of several instances sharing one Redis (`spec/sync.md`,
//! "Several instances").
//!
//! - **History**: a Stream per channel (`{prefix}l:{channel}`, entry id `{offset}-0`,
//!   trimmed to `buffer_size` entries) and a hash with its epoch and last offset
//!   (`{prefix}h:{channel}`). One Lua script assigns the next offset, appends and publishes
//!   in one atomic step, so every instance sees one order and a resume on any instance finds
//!   the same history. Both keys expire `retention` after the channel was last touched; the
//!   next message then starts a new epoch, as the memory broker does.
//! - **Live messages**: the same script `PUBLISH`es each message on `{prefix}m:{channel}`,
//!   which every instance with a subscriber on the channel listens to over one pub/sub
//!   connection. A message a connection drop made an instance miss is filled from the
//!   history by the manager when the next one comes; after a reconnect the broker
//!   re-announces each channel's newest message so nothing waits for a next one.
//! - **Acknowledgments**: a publish asking for one carries a ticket; `PUBLISH` says how many
//!   instances listen, and each answers on the publisher's `{prefix}r:{instance}` how many
//!   subscribers it reached.
//! - **Presence**: per channel, subscriptions per instance and user (`{prefix}pi:{channel}`)
//!   and instances per user (`{prefix}pu:{channel}`, the list), changed by scripts that
//!   publish join and leave events when a user's first or last subscription anywhere comes
//!   or goes. Each instance renews its lease in `{prefix}instances`; the others reap an
//!   instance whose lease ran out (its users leave, with events), so a crashed instance's
//!   users are listed at most one lease longer.
//! - **Sessions**: `{prefix}s:{session}` names the user, kept `session_lease` while open
//!   and `retention` after the connection closed.
//!
//! One Redis primary (not Redis Cluster): the scripts touch keys they derive.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::Value;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Broker, BrokerError, Delivery, Envelope, FeedItem, Published};
use crate::buffer::{Replay, Stored};
use crate::channel::{ChannelName, Position};

/// The start of the scripts that use a channel's history: its epoch in `epoch`, the history
/// created (a new epoch from ARGV[1], an empty log) when the channel had none.
/// KEYS: head hash, log stream.
macro_rules! open_history {
    () => {
        r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'last', 0)
end
"
    };
}

/// Assigns the next offset, appends to the history and publishes, atomically.
/// KEYS: head hash, log stream. ARGV: epoch for a new history, sender, payload, max length,
/// retention (ms), ticket (0: none), origin instance, pub/sub channel.
/// Returns {epoch, offset, instances listening}.
const APPEND: &str = concat!(
    open_history!(),
    r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = redis.call('HINCRBY', KEYS[1], 'last', 1)
local offset = string.format('%d', last)
redis.call('XADD', KEYS[2], 'MAXLEN', ARGV[4], offset .. '-0', 's', ARGV[2], 'p', ARGV[3], 't', now)
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
local header = 'M' .. epoch .. ' ' .. offset .. ' ' .. ARGV[6] .. ' ' .. ARGV[7] .. ' ' .. string.len(ARGV[2]) .. '\n'
local listening = redis.call('PUBLISH', ARGV[8], header .. ARGV[2] .. ARGV[3])
return {epoch, offset, listening}
"
);

/// The channel's epoch and last offset, its history created when it had none.
/// KEYS: head hash, log stream. ARGV: epoch for a new history, retention (ms).
const HEAD: &str = concat!(
    open_history!(),
    r"
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {epoch, redis.call('HGET', KEYS[1], 'last')}
"
);

/// What a replay after a position can use: {0} when the epoch is not the channel's or the
/// position lies beyond its last message; else {1, now (ms), entries after the position}.
/// KEYS: head hash, log stream. ARGV: epoch, offset.
const REPLAY: &str = r"
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch or epoch ~= ARGV[1] then return {0} end
local last = tonumber(redis.call('HGET', KEYS[1], 'last'))
local from = tonumber(ARGV[2])
if from > last then return {0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if from == last then return {1, now, {}} end
return {1, now, redis.call('XRANGE', KEYS[2], '(' .. ARGV[2] .. '-0', '+')}
";

/// One subscription more of a user on an instance; publishes the join when it is the
/// user's first anywhere. KEYS: per-instance hash, per-user hash, the instance's channel
/// hash (its users per channel, for reaping). ARGV: instance, user, channel, pub/sub channel.
const JOIN: &str = r"
if redis.call('HINCRBY', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 1) == 1 then
  redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
  if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) == 1 then
    redis.call('PUBLISH', ARGV[4], 'P1' .. ARGV[2])
  end
end
return 1
";

/// One subscription fewer; publishes the leave when it was the user's last anywhere.
/// KEYS and ARGV as for the join.
const LEAVE: &str = r"
local field = ARGV[1] .. ':' .. ARGV[2]
if redis.call('HINCRBY', KEYS[1], field, -1) <= 0 then
  redis.call('HDEL', KEYS[1], field)
  if redis.call('HINCRBY', KEYS[3], ARGV[3], -1) <= 0 then
    redis.call('HDEL', KEYS[3], ARGV[3])
  end
  if redis.call('HINCRBY', KEYS[2], ARGV[2], -1) <= 0 then
    redis.call('HDEL', KEYS[2], ARGV[2])
    redis.call('PUBLISH', ARGV[4], 'P0' .. ARGV[2])
  end
end
return 1
";

/// Renews this instance's lease and reaps instances whose lease ran out: their users leave
/// every channel they held, with leave events where it was their last share.
/// KEYS: the lease set. ARGV: instance, lease (ms), key prefix.
const HEARTBEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 16)
local p = ARGV[3]
for _, inst in ipairs(dead) do
  local held = p .. 'ic:' .. inst
  local prefix = inst .. ':'
  for _, channel in ipairs(redis.call('HKEYS', held)) do
    local pi = p .. 'pi:' .. channel
    local pu = p .. 'pu:' .. channel
    for _, field in ipairs(redis.call('HKEYS', pi)) do
      if string.sub(field, 1, string.len(prefix)) == prefix then
        local user = string.sub(field, string.len(prefix) + 1)
        redis.call('HDEL', pi, field)
        if redis.call('HINCRBY', pu, user, -1) <= 0 then
          redis.call('HDEL', pu, user)
          redis.call('PUBLISH', p .. 'm:' .. channel, 'P0' .. user)
        end
      end
    end
  end
  redis.call('DEL', held)
  redis.call('ZREM', KEYS[1], inst)
end
return #dead
";

/// Settings of a [`RedisBroker`].
#[derive(Debug, Clone)]
pub struct RedisBrokerConfig {
    /// Prefix of every key and pub/sub channel.
    pub prefix: String,
    /// Messages kept per channel.
    pub buffer_size: usize,
    /// How long messages and closed sessions are kept.
    pub retention: Duration,
    /// How long an instance's presence outlives its last renewal; renewed three times as
    /// often. Publish it as the bound on stale presence (`ping_timeout_seconds`).
    pub instance_lease: Duration,
    /// How long an open session stays resumable without its connection closing cleanly
    /// (an instance that crashed never closes its sessions).
    pub session_lease: Duration,
    /// How long one Redis operation may take before it fails (3001).
    pub timeout: Duration,
}

impl RedisBrokerConfig {
    /// Defaults for `buffer_size` and `retention`.
    pub fn new(buffer_size: usize, retention: Duration) -> Self {
        Self {
            prefix: "dx:sync:".into(),
            buffer_size: buffer_size.max(1),
            retention,
            instance_lease: Duration::from_secs(30),
            session_lease: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(2),
        }
    }
}

/// A delivery report on its way back to a publisher.
type Report = (u64, u64);

/// What the broker's handle and its tasks share.
#[derive(Debug)]
struct Shared {
    config: RedisBrokerConfig,
    instance: String,
    /// Publishes of this instance waiting for delivery reports, by ticket.
    waiting: Mutex<HashMap<u64, mpsc::UnboundedSender<Report>>>,
    /// Tickets of envelopes in this instance's feed: local alias -> (origin, ticket).
    tickets: Mutex<HashMap<u64, (String, u64)>>,
    next_ticket: AtomicU64,
    feed: mpsc::UnboundedSender<FeedItem>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update is one call on the map: a poisoned lock is consistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    fn key(&self, kind: &str, name: &str) -> String {
        format!("{}{kind}:{name}", self.config.prefix)
    }

    fn retention_ms(&self) -> u64 {
        u64::try_from(self.config.retention.as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }
}

/// A change to what this instance listens to, with its answer.
#[derive(Debug)]
struct Listen {
    channel: String,
    on: bool,
    done: oneshot::Sender<Result<(), BrokerError>>,
}

/// The broker of several instances, on Redis.
#[derive(Debug)]
pub struct RedisBroker {
    shared: Arc<Shared>,
    connection: ConnectionManager,
    listen: mpsc::UnboundedSender<Listen>,
    feed: Mutex<Option<mpsc::UnboundedReceiver<FeedItem>>>,
    scripts: Scripts,
    tasks: Vec<JoinHandle<()>>,
}

#[derive(Debug)]
struct Scripts {
    append: redis::Script,
    head: redis::Script,
    replay: redis::Script,
    join: redis::Script,
    leave: redis::Script,
}

impl Drop for RedisBroker {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn unavailable(e: redis::RedisError) -> BrokerError {
    BrokerError(format!("redis: {e}"))
}

/// A random nonzero number (epochs, instance ids).
fn random_u64() -> Result<u64, BrokerError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).map_err(|e| BrokerError(format!("no randomness: {e}")))?;
    Ok(u64::from_le_bytes(bytes).max(1))
}

impl RedisBroker {
    /// Starts a broker on `client` (inside a Tokio runtime): its pub/sub listener and its
    /// lease renewal run until it is dropped. Connects lazily: a Redis that is down now
    /// fails operations with 3001 until it is back, not the start.
    pub fn start(client: redis::Client, config: RedisBrokerConfig) -> Result<Self, BrokerError> {
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(unavailable)?;
        let (feed_tx, feed_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            instance: format!("{:016x}", random_u64()?),
            config,
            waiting: Mutex::new(HashMap::new()),
            tickets: Mutex::new(HashMap::new()),
            next_ticket: AtomicU64::new(1),
            feed: feed_tx,
        });
        let (listen_tx, listen_rx) = mpsc::unbounded_channel();
        let listener = tokio::spawn(listener(
            client,
            connection.clone(),
            Arc::clone(&shared),
            listen_rx,
        ));
        let heartbeat = tokio::spawn(heartbeat(connection.clone(), Arc::clone(&shared)));
        Ok(Self {
            shared,
            connection,
            listen: listen_tx,
            feed: Mutex::new(Some(feed_rx)),
            scripts: Scripts {
                append: redis::Script::new(APPEND),
                head: redis::Script::new(HEAD),
                replay: redis::Script::new(REPLAY),
                join: redis::Script::new(JOIN),
                leave: redis::Script::new(LEAVE),
            },
            tasks: vec![listener, heartbeat],
        })
    }

    /// This instance's id (in presence keys and report channels).
    pub fn instance(&self) -> &str {
        &self.shared.instance
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
    ) -> Result<T, BrokerError> {
        let mut connection = self.connection.clone();
        self.in_time(invocation.invoke_async::<T>(&mut connection))
            .await
    }

    async fn command<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, BrokerError> {
        let mut connection = self.connection.clone();
        self.in_time(command.query_async::<T>(&mut connection))
            .await
    }

    /// `call`'s answer, or 3001's cause when Redis fails or takes longer than the timeout.
    async fn in_time<T>(
        &self,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, BrokerError> {
        match tokio::time::timeout(self.shared.config.timeout, call).await {
            Ok(result) => result.map_err(unavailable),
            Err(_) => Err(BrokerError("redis: no answer in time".into())),
        }
    }

    fn session_key(&self, session: [u8; 16]) -> String {
        let hex: String = session.iter().map(|b| format!("{b:02x}")).collect();
        self.shared.key("s", &hex)
    }

    async fn presence_change(
        &self,
        script: &redis::Script,
        channel: &ChannelName,
        user: &str,
    ) -> Result<(), BrokerError> {
        let s = &self.shared;
        let mut invocation = script.key(s.key("pi", channel.as_str()));
        invocation
            .key(s.key("pu", channel.as_str()))
            .key(s.key("ic", &s.instance))
            .arg(&s.instance)
            .arg(user)
            .arg(channel.as_str())
            .arg(s.key("m", channel.as_str()));
        self.run::<i64>(&invocation).await.map(|_| ())
    }
}

/// Parses a decimal field of a script's answer.
fn number(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::BulkString(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
        Value::SimpleString(text) => text.parse().ok(),
        _ => None,
    }
}

fn malformed(what: &str) -> BrokerError {
    BrokerError(format!("redis: unexpected answer to {what}"))
}

/// One stream entry `[id, [field, value, …]]` as a stored message.
fn stored(entry: &Value, now_ms: u64, now: Instant) -> Option<(Stored, u64)> {
    let Value::Array(parts) = entry else {
        return None;
    };
    let [Value::BulkString(id), Value::Array(fields)] = parts.as_slice() else {
        return None;
    };
    let offset: u64 = std::str::from_utf8(id)
        .ok()?
        .split('-')
        .next()?
        .parse()
        .ok()?;
    let (mut sender, mut payload, mut at_ms) = (None, None, None);
    for pair in fields.chunks(2) {
        if let [Value::BulkString(name), value] = pair {
            match (name.as_slice(), value) {
                (b"s", Value::BulkString(v)) => sender = String::from_utf8(v.clone()).ok(),
                (b"p", Value::BulkString(v)) => payload = Some(v.clone()),
                (b"t", v) => at_ms = number(v),
                _ => {}
            }
        }
    }
    let age = Duration::from_millis(now_ms.saturating_sub(at_ms?));
    let message = Stored {
        offset,
        sender: sender?.into(),
        payload: payload?.into(),
        at: now.checked_sub(age).unwrap_or(now),
    };
    Some((message, at_ms?))
}

#[async_trait]
impl Broker for RedisBroker {
    fn take_feed(&self) -> Option<mpsc::UnboundedReceiver<FeedItem>> {
        lock(&self.feed).take()
    }

    async fn head(&self, channel: &ChannelName) -> Result<Position, BrokerError> {
        let s = &self.shared;
        let mut invocation = self.scripts.head.key(s.key("h", channel.as_str()));
        invocation
            .key(s.key("l", channel.as_str()))
            .arg(random_u64()?.to_string())
            .arg(s.retention_ms());
        let answer: Vec<Value> = self.run(&invocation).await?;
        match answer.as_slice() {
            [epoch, offset] => Ok(Position {
                epoch: number(epoch).ok_or_else(|| malformed("HEAD"))?,
                offset: number(offset).ok_or_else(|| malformed("HEAD"))?,
            }),
            _ => Err(malformed("HEAD")),
        }
    }

    async fn listen(&self, channel: &ChannelName, on: bool) -> Result<(), BrokerError> {
        let (done, answer) = oneshot::channel();
        let request = Listen {
            channel: self.shared.key("m", channel.as_str()),
            on,
            done,
        };
        self.listen
            .send(request)
            .map_err(|_| BrokerError("the broker's listener stopped".into()))?;
        match tokio::time::timeout(self.shared.config.timeout * 2, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(BrokerError("the broker's listener stopped".into())),
            Err(_) => Err(BrokerError("redis: pub/sub did not answer in time".into())),
        }
    }

    async fn publish(
        &self,
        channel: &ChannelName,
        sender: Arc<str>,
        payload: Arc<[u8]>,
        ack: bool,
    ) -> Result<Published, BrokerError> {
        let s = &self.shared;
        // Registered before the append: a report may arrive before the script's answer.
        let ticket = ack.then(|| s.next_ticket.fetch_add(1, Ordering::Relaxed));
        let mut reports = None;
        if let Some(ticket) = ticket {
            let (tx, rx) = mpsc::unbounded_channel();
            lock(&s.waiting).insert(ticket, tx);
            reports = Some(rx);
        }
        let mut invocation = self.scripts.append.key(s.key("h", channel.as_str()));
        invocation
            .key(s.key("l", channel.as_str()))
            .arg(random_u64()?.to_string())
            .arg(&*sender)
            .arg(&*payload)
            .arg(s.config.buffer_size)
            .arg(s.retention_ms())
            .arg(ticket.unwrap_or(0))
            .arg(&s.instance)
            .arg(s.key("m", channel.as_str()));
        let answer: Result<Vec<Value>, BrokerError> = self.run(&invocation).await;
        let parsed = answer.and_then(|answer| match answer.as_slice() {
            [epoch, offset, listening] => Ok((
                Position {
                    epoch: number(epoch).ok_or_else(|| malformed("APPEND"))?,
                    offset: number(offset).ok_or_else(|| malformed("APPEND"))?,
                },
                number(listening).unwrap_or(0),
            )),
            _ => Err(malformed("APPEND")),
        });
        let (at, listening) = match parsed {
            Ok(p) => p,
            Err(e) => {
                if let Some(ticket) = ticket {
                    lock(&s.waiting).remove(&ticket);
                }
                return Err(e);
            }
        };
        let delivery = match (ticket, reports) {
            (Some(ticket), Some(mut reports)) => {
                let (mut reached, mut subscribed, mut answered) = (0, 0, 0);
                let deadline = tokio::time::Instant::now() + s.config.timeout;
                // An ACK needs one instance that reached someone; a NACK needs them all.
                while answered < listening && reached == 0 {
                    match tokio::time::timeout_at(deadline, reports.recv()).await {
                        Ok(Some((r, n))) => {
                            reached += r;
                            subscribed += n;
                            answered += 1;
                        }
                        // An instance that never answers reached no one.
                        Ok(None) | Err(_) => break,
                    }
                }
                lock(&s.waiting).remove(&ticket);
                Some(Delivery {
                    reached,
                    had_subscribers: subscribed > 0,
                })
            }
            _ => None,
        };
        Ok(Published { at, delivery })
    }

    async fn report(&self, ticket: u64, reached: u64, subscribed: u64) -> Result<(), BrokerError> {
        let Some((origin, remote)) = lock(&self.shared.tickets).remove(&ticket) else {
            return Ok(());
        };
        if origin == self.shared.instance {
            if let Some(tx) = lock(&self.shared.waiting).get(&remote) {
                // The publisher may have stopped waiting: nothing to tell then.
                let _ = tx.send((reached, subscribed));
            }
            return Ok(());
        }
        let command = redis::cmd("PUBLISH")
            .arg(self.shared.key("r", &origin))
            .arg(format!("R{remote} {reached} {subscribed}"))
            .to_owned();
        self.command::<i64>(&command).await.map(|_| ())
    }

    async fn replay(&self, channel: &ChannelName, from: Position) -> Result<Replay, BrokerError> {
        let s = &self.shared;
        let mut invocation = self.scripts.replay.key(s.key("h", channel.as_str()));
        invocation
            .key(s.key("l", channel.as_str()))
            .arg(from.epoch.to_string())
            .arg(from.offset);
        let answer: Vec<Value> = self.run(&invocation).await?;
        let (now_ms, entries) = match answer.as_slice() {
            [Value::Int(0)] => return Ok(Replay::Gap),
            [Value::Int(1), now, Value::Array(entries)] => {
                (number(now).ok_or_else(|| malformed("REPLAY"))?, entries)
            }
            _ => return Err(malformed("REPLAY")),
        };
        let now = Instant::now();
        let retention = s.retention_ms();
        let mut messages = Vec::with_capacity(entries.len());
        for entry in entries {
            let (message, at_ms) = stored(entry, now_ms, now).ok_or_else(|| malformed("XRANGE"))?;
            if messages.is_empty()
                && (message.offset != from.offset + 1 || now_ms.saturating_sub(at_ms) > retention)
            {
                // The first message owed is trimmed or too old: not everything is kept.
                return Ok(Replay::Gap);
            }
            messages.push(message);
        }
        Ok(Replay::Messages(messages))
    }

    async fn presence_join(&self, channel: &ChannelName, user: &str) -> Result<(), BrokerError> {
        self.presence_change(&self.scripts.join, channel, user)
            .await
    }

    async fn presence_leave(&self, channel: &ChannelName, user: &str) -> Result<(), BrokerError> {
        self.presence_change(&self.scripts.leave, channel, user)
            .await
    }

    async fn presence(&self, channel: &ChannelName) -> Result<Vec<String>, BrokerError> {
        let command = redis::cmd("HKEYS")
            .arg(self.shared.key("pu", channel.as_str()))
            .to_owned();
        let mut users: Vec<String> = self.command(&command).await?;
        users.sort();
        users.dedup();
        Ok(users)
    }

    async fn session_open(&self, session: [u8; 16], user: &str) -> Result<(), BrokerError> {
        let lease = u64::try_from(self.shared.config.session_lease.as_millis()).unwrap_or(u64::MAX);
        let command = redis::cmd("SET")
            .arg(self.session_key(session))
            .arg(user)
            .arg("PX")
            .arg(lease.max(1))
            .to_owned();
        self.command::<Value>(&command).await.map(|_| ())
    }

    async fn session_close(&self, session: [u8; 16]) -> Result<(), BrokerError> {
        // Only an open session's lease shrinks to the retention window.
        let command = redis::cmd("PEXPIRE")
            .arg(self.session_key(session))
            .arg(self.shared.retention_ms())
            .to_owned();
        self.command::<i64>(&command).await.map(|_| ())
    }

    async fn session_resumable(&self, session: [u8; 16], user: &str) -> Result<bool, BrokerError> {
        let command = redis::cmd("GET").arg(self.session_key(session)).to_owned();
        let owner: Option<String> = self.command(&command).await?;
        Ok(owner.as_deref() == Some(user))
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}

/// Renews the lease every third of it and reaps expired instances.
async fn heartbeat(connection: ConnectionManager, shared: Arc<Shared>) {
    let script = redis::Script::new(HEARTBEAT);
    let lease = shared.config.instance_lease.max(Duration::from_millis(30));
    let mut tick = tokio::time::interval(lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut invocation = script.key(format!("{}instances", shared.config.prefix));
        invocation
            .arg(&shared.instance)
            .arg(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX))
            .arg(&shared.config.prefix);
        let mut conn = connection.clone();
        match tokio::time::timeout(
            shared.config.timeout,
            invocation.invoke_async::<i64>(&mut conn),
        )
        .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(reaped)) => tracing::info!(reaped, "sync: reaped instances whose lease ran out"),
            Ok(Err(e)) => tracing::warn!(error = %e, "sync: cannot renew the instance's lease"),
            Err(_) => tracing::warn!("sync: renewing the instance's lease timed out"),
        }
    }
}

/// What one pub/sub message is.
#[derive(Debug, PartialEq, Eq)]
enum Wire {
    Message {
        epoch: u64,
        offset: u64,
        ticket: u64,
        origin: String,
        sender: String,
        payload: Vec<u8>,
    },
    Presence {
        joined: bool,
        user: String,
    },
    Report {
        ticket: u64,
        reached: u64,
        subscribed: u64,
    },
}

/// Decodes a pub/sub payload (written by the scripts above and by [`RedisBroker::report`]).
fn decode(bytes: &[u8]) -> Option<Wire> {
    match bytes.first()? {
        b'M' => {
            let newline = bytes.iter().position(|b| *b == b'\n')?;
            let header = std::str::from_utf8(&bytes[1..newline]).ok()?;
            let mut fields = header.split(' ');
            let epoch = fields.next()?.parse().ok()?;
            let offset = fields.next()?.parse().ok()?;
            let ticket = fields.next()?.parse().ok()?;
            let origin = fields.next()?.to_owned();
            let sender_len: usize = fields.next()?.parse().ok()?;
            let rest = &bytes[newline + 1..];
            if fields.next().is_some() || rest.len() < sender_len {
                return None;
            }
            let (sender, payload) = rest.split_at(sender_len);
            Some(Wire::Message {
                epoch,
                offset,
                ticket,
                origin,
                sender: String::from_utf8(sender.to_vec()).ok()?,
                payload: payload.to_vec(),
            })
        }
        b'P' => {
            let joined = match bytes.get(1)? {
                b'1' => true,
                b'0' => false,
                _ => return None,
            };
            let user = String::from_utf8(bytes[2..].to_vec()).ok()?;
            Some(Wire::Presence { joined, user })
        }
        b'R' => {
            let text = std::str::from_utf8(&bytes[1..]).ok()?;
            let mut fields = text.split(' ');
            let report = Wire::Report {
                ticket: fields.next()?.parse().ok()?,
                reached: fields.next()?.parse().ok()?,
                subscribed: fields.next()?.parse().ok()?,
            };
            fields.next().is_none().then_some(report)
        }
        _ => None,
    }
}

/// Turns one pub/sub message into a feed item (or a delivery report for a waiting publish).
fn forward(shared: &Shared, redis_channel: &str, bytes: &[u8]) {
    let Some(wire) = decode(bytes) else {
        tracing::warn!(channel = redis_channel, "sync: undecodable pub/sub message");
        return;
    };
    let channel = || {
        let name = redis_channel.strip_prefix(&format!("{}m:", shared.config.prefix))?;
        ChannelName::new(name).ok()
    };
    let item = match wire {
        Wire::Report {
            ticket,
            reached,
            subscribed,
        } => {
            if let Some(tx) = lock(&shared.waiting).get(&ticket) {
                let _ = tx.send((reached, subscribed));
            }
            return;
        }
        Wire::Presence { joined, user } => {
            let Some(channel) = channel() else { return };
            FeedItem::Presence {
                channel,
                user: user.into(),
                joined,
            }
        }
        Wire::Message {
            epoch,
            offset,
            ticket,
            origin,
            sender,
            payload,
        } => {
            let Some(channel) = channel() else { return };
            let ticket = (ticket != 0).then(|| {
                // A local alias: tickets are unique per publishing instance only.
                let alias = shared.next_ticket.fetch_add(1, Ordering::Relaxed) | (1 << 63);
                lock(&shared.tickets).insert(alias, (origin, ticket));
                alias
            });
            FeedItem::Message(Envelope {
                channel,
                at: Position { epoch, offset },
                sender: sender.into(),
                payload: payload.into(),
                ticket,
            })
        }
    };
    let _ = shared.feed.send(item);
}

/// The pub/sub side: keeps one subscription per channel this instance counts subscribers
/// on (plus its report channel), forwards what arrives to the feed, and reconnects when the
/// connection drops, re-announcing each channel's newest message so the manager fills any
/// gap from the history.
async fn listener(
    client: redis::Client,
    connection: ConnectionManager,
    shared: Arc<Shared>,
    mut requests: mpsc::UnboundedReceiver<Listen>,
) {
    let reports = shared.key("r", &shared.instance);
    let mut counts: HashMap<String, usize> = HashMap::new();
    let mut backoff = Duration::from_millis(50);
    loop {
        let pubsub =
            match tokio::time::timeout(shared.config.timeout, client.get_async_pubsub()).await {
                Ok(Ok(p)) => p,
                failed => {
                    if let Ok(Err(e)) = failed {
                        tracing::warn!(error = %e, "sync: cannot open the pub/sub connection");
                    }
                    // Requests meanwhile fail; the counts stay as they were.
                    while let Ok(request) = requests.try_recv() {
                        let _ = request
                            .done
                            .send(Err(BrokerError("redis: pub/sub is reconnecting".into())));
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
        let (mut sink, mut stream) = pubsub.split();
        let mut channels: Vec<&String> = counts.keys().collect();
        channels.push(&reports);
        if let Err(e) = sink.subscribe(channels).await {
            tracing::warn!(error = %e, "sync: cannot subscribe after connecting");
            continue;
        }
        backoff = Duration::from_millis(50);
        reannounce(&connection, &shared, counts.keys()).await;
        loop {
            tokio::select! {
                request = requests.recv() => {
                    let Some(request) = request else { return };
                    let result = change(&mut sink, &mut counts, &request).await;
                    let broken = result.is_err();
                    let _ = request.done.send(result);
                    if broken {
                        break;
                    }
                }
                message = stream.next() => {
                    let Some(message) = message else { break };
                    forward(&shared, message.get_channel_name(), message.get_payload_bytes());
                }
            }
        }
        tracing::warn!("sync: the pub/sub connection dropped; reconnecting");
    }
}

/// Applies one listen request: subscribes on a channel's first count, unsubscribes on its
/// last. A failed subscription leaves the count as it was.
async fn change(
    sink: &mut redis::aio::PubSubSink,
    counts: &mut HashMap<String, usize>,
    request: &Listen,
) -> Result<(), BrokerError> {
    let count = counts.get(&request.channel).copied().unwrap_or(0);
    match (request.on, count) {
        (true, 0) => {
            sink.subscribe(&request.channel)
                .await
                .map_err(unavailable)?;
            counts.insert(request.channel.clone(), 1);
        }
        (true, n) => {
            counts.insert(request.channel.clone(), n + 1);
        }
        (false, 0) => {}
        (false, 1) => {
            counts.remove(&request.channel);
            sink.unsubscribe(&request.channel)
                .await
                .map_err(unavailable)?;
        }
        (false, n) => {
            counts.insert(request.channel.clone(), n - 1);
        }
    }
    Ok(())
}

/// Feeds each channel's newest message again (without a ticket): subscribers behind it are
/// filled from the history; the others skip it as a duplicate.
async fn reannounce<'a>(
    connection: &ConnectionManager,
    shared: &Shared,
    channels: impl Iterator<Item = &'a String>,
) {
    let prefix = format!("{}m:", shared.config.prefix);
    for redis_channel in channels {
        let Some(channel) = redis_channel
            .strip_prefix(&prefix)
            .and_then(|name| ChannelName::new(name).ok())
        else {
            continue;
        };
        let mut conn = connection.clone();
        let epoch: Result<Option<u64>, _> = redis::cmd("HGET")
            .arg(shared.key("h", channel.as_str()))
            .arg("epoch")
            .query_async(&mut conn)
            .await;
        let newest: Result<Value, _> = redis::cmd("XREVRANGE")
            .arg(shared.key("l", channel.as_str()))
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await;
        let (Ok(Some(epoch)), Ok(Value::Array(entries))) = (epoch, newest) else {
            continue;
        };
        let Some((message, _)) = entries.first().and_then(|e| stored(e, 0, Instant::now())) else {
            continue;
        };
        let _ = shared.feed.send(FeedItem::Message(Envelope {
            channel,
            at: Position {
                epoch,
                offset: message.offset,
            },
            sender: message.sender,
            payload: message.payload,
            ticket: None,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::message(
        b"M42 7 0 00ff 5\nalicehello".to_vec(),
        Some(Wire::Message { epoch: 42, offset: 7, ticket: 0, origin: "00ff".into(), sender: "alice".into(), payload: b"hello".to_vec() })
    )]
    #[case::binary_payload_with_newlines(
        b"M1 2 3 ab 1\nu\n\0\xff".to_vec(),
        Some(Wire::Message { epoch: 1, offset: 2, ticket: 3, origin: "ab".into(), sender: "u".into(), payload: b"\n\0\xff".to_vec() })
    )]
    #[case::empty_payload(
        b"M1 1 0 ab 2\nbo".to_vec(),
        Some(Wire::Message { epoch: 1, offset: 1, ticket: 0, origin: "ab".into(), sender: "bo".into(), payload: vec![] })
    )]
    #[case::sender_longer_than_rest(b"M1 1 0 ab 9\nbo".to_vec(), None)]
    #[case::extra_field(b"M1 1 0 ab 2 9\nbo".to_vec(), None)]
    #[case::no_newline(b"M1 1 0 ab 2".to_vec(), None)]
    #[case::joined(b"P1bob:x".to_vec(), Some(Wire::Presence { joined: true, user: "bob:x".into() }))]
    #[case::left(b"P0bob".to_vec(), Some(Wire::Presence { joined: false, user: "bob".into() }))]
    #[case::bad_presence(b"P2bob".to_vec(), None)]
    #[case::report(b"R5 1 3".to_vec(), Some(Wire::Report { ticket: 5, reached: 1, subscribed: 3 }))]
    #[case::report_extra(b"R5 1 3 4".to_vec(), None)]
    #[case::unknown(b"X".to_vec(), None)]
    #[case::empty(vec![], None)]
    fn pubsub_payloads(#[case] bytes: Vec<u8>, #[case] expected: Option<Wire>) {
        assert_eq!(decode(&bytes), expected);
    }

    #[test]
    fn a_stream_entry_becomes_a_stored_message_with_its_age() {
        let entry = Value::Array(vec![
            Value::BulkString(b"12-0".to_vec()),
            Value::Array(vec![
                Value::BulkString(b"s".to_vec()),
                Value::BulkString(b"alice".to_vec()),
                Value::BulkString(b"p".to_vec()),
                Value::BulkString(vec![0, 1, 2]),
                Value::BulkString(b"t".to_vec()),
                Value::BulkString(b"1000".to_vec()),
            ]),
        ]);
        let now = Instant::now();
        let (message, at_ms) = stored(&entry, 1500, now).unwrap();
        assert_eq!(message.offset, 12);
        assert_eq!(&*message.sender, "alice");
        assert_eq!(&*message.payload, &[0, 1, 2]);
        assert_eq!(at_ms, 1000);
        assert_eq!(now.duration_since(message.at), Duration::from_millis(500));
        assert!(stored(&Value::Array(vec![]), 0, now).is_none());
    }
}
