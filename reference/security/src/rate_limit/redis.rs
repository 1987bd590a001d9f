//! The Redis store: every instance behind one URL shares its sliding logs (requirement 5.4).
//! Each check is one round trip: a Lua script (sent by hash, `EVALSHA`, loaded on first use)
//! that drops the times outside the window, counts, and logs an admitted request in one
//! atomic step, so concurrent requests on several instances can never both take the last
//! slot. A log is a sorted set scored by milliseconds; it expires one window after its newest
//! entry, so idle keys cost Redis nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::clock::Clock;
use crate::mutants::{SecurityMutant, SecurityMutations};
use crate::rate_limit::store::{RateLimitError, RateLimitStore};
use crate::rate_limit::window::Decision;

/// Whose clock decides where windows lie.
#[derive(Debug, Clone)]
pub enum RedisTime {
    /// Redis's own clock (`TIME`): one clock for every instance, so their windows agree.
    Server,
    /// The caller's clock (tests drive windows with a manual clock).
    Clock(Arc<dyn Clock>),
}

/// The script: KEYS[1] the log; ARGV: max, window (ms), now (ms, or "" for Redis's clock),
/// record (1/0), a unique member, off-by-one (1/0, a mutant), fixed window (1/0, a mutant).
/// Returns {admitted, count, reset_after_ms}. Mirrors `SlidingLog::hit`.
pub const SCRIPT: &str = r"
local max = tonumber(ARGV[1])
local w = tonumber(ARGV[2])
local now
if ARGV[3] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[3])
end
local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if newest[2] and tonumber(newest[2]) > now then now = tonumber(newest[2]) end
local keep_from
if ARGV[7] == '1' then keep_from = now - (now % w) else keep_from = now + 1 - w end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. keep_from)
local held = redis.call('ZCARD', KEYS[1])
local room
if ARGV[6] == '1' then room = held <= max else room = held < max end
local admitted = 0
if ARGV[4] == '1' and room then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], w)
  admitted = 1
end
local count = redis.call('ZCARD', KEYS[1])
if ARGV[6] == '1' and admitted == 1 then count = count - 1 end
local reset = 0
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if oldest[2] then
  if ARGV[7] == '1' then reset = keep_from + w - now else reset = tonumber(oldest[2]) + w - now end
end
return {admitted, count, reset}
";

/// How long a check may take before the store counts as unavailable.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Sliding logs in Redis.
#[derive(Clone)]
pub struct RedisStore {
    connection: ConnectionManager,
    script: Arc<redis::Script>,
    prefix: String,
    time: RedisTime,
    timeout: Duration,
    mutations: SecurityMutations,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("time", &self.time)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on `client`, connecting lazily (a Redis that is down at start-up is reported
    /// per check, not as a failed start), with keys under `prefix`.
    pub fn new(client: redis::Client, prefix: impl Into<String>) -> Result<Self, RateLimitError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(DEFAULT_REDIS_TIMEOUT))
            .set_response_timeout(Some(DEFAULT_REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| RateLimitError::Unavailable(e.to_string()))?;
        Ok(Self {
            connection,
            script: Arc::new(redis::Script::new(SCRIPT)),
            prefix: prefix.into(),
            time: RedisTime::Server,
            timeout: DEFAULT_REDIS_TIMEOUT,
            mutations: SecurityMutations::none(),
        })
    }

    /// Uses `time` to place windows.
    pub fn with_time(mut self, time: RedisTime) -> Self {
        self.time = time;
        self
    }

    /// Gives up on a check after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Runs with `mutations` (only meaningful in a `mutants` build).
    pub fn with_mutations(mut self, mutations: SecurityMutations) -> Self {
        self.mutations = mutations;
        self
    }

    async fn run(
        &self,
        key: &str,
        max_requests: u32,
        window_ms: u64,
        record: bool,
    ) -> Result<Decision, RateLimitError> {
        let now = match &self.time {
            RedisTime::Server => String::new(),
            RedisTime::Clock(clock) => clock.now_millis().to_string(),
        };
        let mut nonce = [0u8; 12];
        getrandom::fill(&mut nonce).map_err(|e| RateLimitError::Unavailable(e.to_string()))?;
        let member: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let flag = |on: bool| if on { "1" } else { "0" };
        let mut invocation = self.script.key(format!("{}{key}", self.prefix));
        invocation
            .arg(max_requests)
            .arg(window_ms.max(1))
            .arg(now)
            .arg(flag(record))
            .arg(member)
            .arg(flag(self.mutations.is(SecurityMutant::LimitOffByOne)))
            .arg(flag(self.mutations.is(SecurityMutant::FixedWindow)));
        let mut connection = self.connection.clone();
        let call = invocation.invoke_async::<(u8, u32, i64)>(&mut connection);
        match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok((admitted, count, reset))) => Ok(Decision {
                admitted: admitted == 1,
                count,
                reset_after_ms: u64::try_from(reset).unwrap_or(0),
            }),
            Ok(Err(e)) => Err(RateLimitError::Unavailable(e.to_string())),
            Err(_) => Err(RateLimitError::Timeout(
                u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            )),
        }
    }
}

#[async_trait]
impl RateLimitStore for RedisStore {
    async fn hit(
        &self,
        key: &str,
        max_requests: u32,
        window_ms: u64,
    ) -> Result<Decision, RateLimitError> {
        self.run(key, max_requests, window_ms, true).await
    }

    async fn peek(
        &self,
        key: &str,
        max_requests: u32,
        window_ms: u64,
    ) -> Result<Decision, RateLimitError> {
        self.run(key, max_requests, window_ms, false).await
    }
}
