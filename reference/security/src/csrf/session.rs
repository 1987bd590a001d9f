//! The sessions CSRF tokens are bound to. A session is a random 128-bit id in an `HttpOnly`
//! cookie, live from its creation until it ends or its TTL passes; the store says which ids
//! are live, so a token replayed after its session ended is refused even with the old
//! cookie. Memory serves one instance; Redis is shared by every instance behind one URL.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dx_error::SafeMutex;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::clock::{Clock, SystemClock};

/// The encoded length of a session id (16 bytes, unpadded base64url).
pub const SESSION_ID_CHARS: usize = 22;

/// Why the session store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The store could not be reached or answered an error.
    #[error("session store unavailable: {0}")]
    Unavailable(String),
    /// The operating system's random source failed.
    #[error("no randomness for a session id: {0}")]
    Random(String),
}

/// A fresh session id.
pub fn new_session_id() -> Result<String, SessionError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| SessionError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether `id` has the shape of a session id (checked before any store is asked).
pub fn is_session_id(id: &str) -> bool {
    id.len() == SESSION_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Where sessions live.
#[async_trait]
pub trait SessionStore: Send + Sync + Debug {
    /// Starts a session living `ttl`; returns its id.
    async fn create(&self, ttl: Duration) -> Result<String, SessionError>;
    /// Whether `id` names a live session.
    async fn is_live(&self, id: &str) -> Result<bool, SessionError>;
    /// Ends the session `id` (nothing happens if it is not live).
    async fn end(&self, id: &str) -> Result<(), SessionError>;
}

/// Sessions in memory, at most `capacity` of them: a full store drops ended and expired
/// sessions first, then the soonest-expiring one.
#[derive(Debug)]
pub struct MemorySessions {
    live: SafeMutex<HashMap<String, u64>>,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

impl Default for MemorySessions {
    fn default() -> Self {
        Self::new(1_000_000, SystemClock::shared())
    }
}

impl MemorySessions {
    /// A store of at most `capacity` sessions reading `clock`.
    pub fn new(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        Self {
            live: SafeMutex::new(HashMap::new()),
            capacity: capacity.max(1),
            clock,
        }
    }

    /// How many sessions are held.
    pub fn len(&self) -> usize {
        self.live.lock().map_or(0, |m| m.len())
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn locked(&self) -> Result<dx_error::SafeMutexGuard<'_, HashMap<String, u64>>, SessionError> {
        self.live
            .lock()
            .map_err(|e| SessionError::Unavailable(e.to_string()))
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn create(&self, ttl: Duration) -> Result<String, SessionError> {
        let id = new_session_id()?;
        let now = self.clock.now_millis();
        let expires = now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX));
        let mut live = self.locked()?;
        if live.len() >= self.capacity {
            live.retain(|_, &mut e| e > now);
        }
        while live.len() >= self.capacity {
            let victim = live
                .iter()
                .take(8)
                .min_by_key(|(_, e)| **e)
                .map(|(k, _)| k.clone());
            match victim {
                Some(k) => live.remove(&k),
                None => break,
            };
        }
        live.insert(id.clone(), expires);
        Ok(id)
    }

    async fn is_live(&self, id: &str) -> Result<bool, SessionError> {
        let now = self.clock.now_millis();
        Ok(self.locked()?.get(id).is_some_and(|&e| e > now))
    }

    async fn end(&self, id: &str) -> Result<(), SessionError> {
        self.locked()?.remove(id);
        Ok(())
    }
}

/// How long a session store call may take.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Sessions in Redis (`SET key 1 PX ttl NX`, `EXISTS`, `DEL`), shared by every instance.
#[derive(Clone)]
pub struct RedisSessions {
    connection: ConnectionManager,
    prefix: String,
}

impl Debug for RedisSessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisSessions")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisSessions {
    /// Sessions on `client` under `prefix`, connecting lazily.
    pub fn new(client: redis::Client, prefix: impl Into<String>) -> Result<Self, SessionError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| SessionError::Unavailable(e.to_string()))?;
        Ok(Self {
            connection,
            prefix: prefix.into(),
        })
    }

    async fn timed<T>(
        fut: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, SessionError> {
        match tokio::time::timeout(REDIS_TIMEOUT, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(SessionError::Unavailable(e.to_string())),
            Err(_) => Err(SessionError::Unavailable("timed out".into())),
        }
    }
}

#[async_trait]
impl SessionStore for RedisSessions {
    async fn create(&self, ttl: Duration) -> Result<String, SessionError> {
        let id = new_session_id()?;
        let mut c = self.connection.clone();
        let key = format!("{}{id}", self.prefix);
        let ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        Self::timed(
            redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("PX")
                .arg(ms)
                .arg("NX")
                .query_async::<Option<String>>(&mut c),
        )
        .await?;
        Ok(id)
    }

    async fn is_live(&self, id: &str) -> Result<bool, SessionError> {
        let mut c = self.connection.clone();
        Self::timed(c.exists::<_, bool>(format!("{}{id}", self.prefix))).await
    }

    async fn end(&self, id: &str) -> Result<(), SessionError> {
        let mut c = self.connection.clone();
        Self::timed(c.del::<_, i64>(format!("{}{id}", self.prefix))).await?;
        Ok(())
    }
}

/// One test suite every [`SessionStore`] must pass (memory here, Redis in tests/redis.rs).
#[allow(clippy::unwrap_used)]
pub async fn session_store_suite(store: &dyn SessionStore) {
    let a = store.create(Duration::from_secs(60)).await.unwrap();
    let b = store.create(Duration::from_secs(60)).await.unwrap();
    assert_ne!(a, b);
    assert!(is_session_id(&a));
    assert!(store.is_live(&a).await.unwrap());
    store.end(&a).await.unwrap();
    assert!(!store.is_live(&a).await.unwrap());
    assert!(store.is_live(&b).await.unwrap());
    store.end(&a).await.unwrap();
    assert!(!store.is_live("AAAAAAAAAAAAAAAAAAAAAA").await.unwrap());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn memory_sessions_pass_the_suite_and_expire() {
        let clock = ManualClock::at(1_000);
        let store = MemorySessions::new(100, clock.clone());
        session_store_suite(&store).await;
        let id = store.create(Duration::from_millis(500)).await.unwrap();
        clock.advance(499);
        assert!(store.is_live(&id).await.unwrap());
        clock.advance(1);
        assert!(!store.is_live(&id).await.unwrap());
    }

    #[tokio::test]
    async fn sessions_are_counted_and_purged_only_when_full() {
        let clock = ManualClock::at(1_000);
        let store = MemorySessions::new(10, clock.clone());
        assert!(store.is_empty());
        for _ in 0..3 {
            store.create(Duration::from_millis(10)).await.unwrap();
        }
        assert_eq!(store.len(), 3);
        clock.advance(100);
        // Expired, but the store is not full: nothing is scanned yet.
        store.create(Duration::from_millis(10)).await.unwrap();
        assert_eq!(store.len(), 4);
    }

    #[tokio::test]
    async fn a_flood_of_sessions_stays_within_capacity() {
        let clock = ManualClock::at(1_000);
        let store = MemorySessions::new(1_000, clock.clone());
        let keeper = store.create(Duration::from_secs(3_600)).await.unwrap();
        for _ in 0..20_000 {
            store.create(Duration::from_millis(10)).await.unwrap();
            clock.advance(20);
        }
        assert!(store.len() <= 1_000);
        assert!(store.is_live(&keeper).await.unwrap());
        assert!(!store.is_empty());
    }

    #[test]
    fn session_ids_have_one_shape() {
        assert!(is_session_id(&new_session_id().unwrap()));
        for bad in [
            "",
            "short",
            "AAAAAAAAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAA.A",
        ] {
            assert!(!is_session_id(bad), "{bad}");
        }
    }
}
