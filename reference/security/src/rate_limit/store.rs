//! Where the sliding logs live. The seed's `RateLimitStore` had `increment` and `ttl`: two
//! calls, a counter and an expiry, which can only express a fixed window and race between
//! instances. A store here decides a request in one atomic step ([`RateLimitStore::hit`]),
//! which is what an exact sliding window needs (spec/security.md, spec/CHANGES.md).

use std::fmt::Debug;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use std::sync::Arc;

use async_trait::async_trait;
use dx_error::SafeMutex;

use crate::clock::{Clock, SystemClock};
use crate::mutants::SecurityMutations;
use crate::rate_limit::window::{Decision, SlidingLog};

/// Why a store could not decide.
#[derive(Debug, thiserror::Error)]
pub enum RateLimitError {
    /// The store could not be reached or answered an error.
    #[error("rate-limit store unavailable: {0}")]
    Unavailable(String),
    /// The store did not answer within its time limit.
    #[error("rate-limit store did not answer within {0} ms")]
    Timeout(u64),
}

/// A store of sliding logs, one per key.
#[async_trait]
pub trait RateLimitStore: Send + Sync + Debug {
    /// Decides a request for `key` now against `max_requests` per `window_ms`, and counts it
    /// when admitted, atomically.
    async fn hit(
        &self,
        key: &str,
        max_requests: u32,
        window_ms: u64,
    ) -> Result<Decision, RateLimitError>;

    /// Decides like [`RateLimitStore::hit`] at once, without a future, when the store can (an
    /// in-process store); `None` means ask `hit`. Callers try this first: on the memory store
    /// it saves the boxed future of an async trait call on every check.
    fn hit_now(&self, _key: &str, _max_requests: u32, _window_ms: u64) -> Option<Decision> {
        None
    }

    /// What [`RateLimitStore::hit`] would see now, without counting anything.
    async fn peek(
        &self,
        key: &str,
        max_requests: u32,
        window_ms: u64,
    ) -> Result<Decision, RateLimitError>;
}

/// How many keys a memory store holds by default, over all shards.
pub const DEFAULT_MEMORY_CAPACITY: usize = 1_000_000;
/// log2 of the number of shards.
const SHARD_BITS: u32 = 6;
/// How many shards a memory store splits its keys over, so concurrent checks rarely contend.
const SHARDS: usize = 1 << SHARD_BITS;
/// How many entries eviction looks at when a shard is full of live keys.
const EVICTION_SAMPLE: usize = 8;
/// How often (at most) a full shard scans itself for expired keys, in milliseconds.
const PURGE_EVERY_MS: u64 = 100;

/// Keys up to this long are held in the entry itself: every IPv4 client's key with its
/// category (`static:255.255.255.255` is the longest).
const INLINE_KEY: usize = 22;

/// A key as an entry holds it: short keys inline, so finding an entry does not follow a
/// pointer to compare its key (a cache miss per check on a store of many keys).
#[derive(Debug, Clone)]
enum StoredKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl StoredKey {
    fn new(key: &str) -> Self {
        let key = key.as_bytes();
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE_KEY => {
                let mut bytes = [0; INLINE_KEY];
                bytes[..key.len()].copy_from_slice(key);
                Self::Inline { len, bytes }
            }
            _ => Self::Heap(key.into()),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(bytes) => bytes,
        }
    }
}

/// One key's log, in 64 bytes (the key inline when short, then the log, which knows when it
/// expires): the hash is recomputed from the key on the rare resize or eviction instead of
/// taking space here, which a check pays for in cache misses. (Aligning entries to a cache
/// line measured slower: the table grows by the padding.)
#[derive(Debug)]
struct Entry {
    key: StoredKey,
    log: SlidingLog,
}

impl Entry {
    fn expires_at(&self) -> u64 {
        self.log.expires_at()
    }
}

#[derive(Debug, Default)]
struct Shard {
    entries: HashTable<Entry>,
    last_purge: u64,
}

impl Shard {
    /// Makes room for one more key: drops expired keys (at most every [`PURGE_EVERY_MS`]),
    /// then, if the shard is still full, the soonest-expiring of a few keys.
    fn make_room(&mut self, now: u64, capacity: usize, hasher: &DefaultHashBuilder) {
        if self.entries.len() < capacity {
            return;
        }
        if now.saturating_sub(self.last_purge) >= PURGE_EVERY_MS || self.last_purge == 0 {
            self.entries.retain(|e| e.expires_at() > now);
            self.last_purge = now;
        }
        while self.entries.len() >= capacity {
            let victim = self
                .entries
                .iter()
                .take(EVICTION_SAMPLE)
                .min_by_key(|e| e.expires_at())
                .map(|e| e.key.clone());
            let Some(key) = victim else { break };
            if let Ok(entry) = self.entries.find_entry(hasher.hash_one(key.bytes()), |e| {
                e.key.bytes() == key.bytes()
            }) {
                entry.remove();
            }
        }
    }
}

/// The embedded store: sliding logs in memory, in shards behind their own locks. It holds at
/// most `capacity` keys: a full shard first drops keys whose window has passed, then evicts
/// the soonest-expiring of a small sample, so a flood of distinct keys cannot grow memory
/// without bound. A key is hashed once per check (foldhash, randomly seeded): the top bits
/// pick the shard, the rest find the entry. Counts are per process: one instance only
/// (requirement 5.4).
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[SafeMutex<Shard>]>,
    shard_capacity: usize,
    hasher: DefaultHashBuilder,
    clock: Arc<dyn Clock>,
    mutations: SecurityMutations,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new(DEFAULT_MEMORY_CAPACITY, SystemClock::shared())
    }
}

impl MemoryStore {
    /// A store of at most `capacity` keys (at least one per shard) reading `clock`.
    pub fn new(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        let shard_capacity = capacity.div_ceil(SHARDS).max(1);
        Self {
            shards: (0..SHARDS)
                .map(|_| SafeMutex::new(Shard::default()))
                .collect(),
            shard_capacity,
            hasher: DefaultHashBuilder::default(),
            clock,
            mutations: SecurityMutations::none(),
        }
    }

    /// Runs with `mutations` (only meaningful in a `mutants` build).
    pub fn with_mutations(mut self, mutations: SecurityMutations) -> Self {
        self.mutations = mutations;
        self
    }

    /// The most keys the store holds.
    pub fn capacity(&self) -> usize {
        self.shard_capacity * SHARDS
    }

    /// How many keys the store holds now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map_or(0, |s| s.entries.len()))
            .sum()
    }

    /// Whether the store holds no key.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops every key whose window has passed; returns how many. Run it now and then so an
    /// idle store gives its memory back.
    pub fn purge_expired(&self) -> usize {
        let now = self.clock.now_millis();
        self.shards
            .iter()
            .map(|shard| {
                shard.lock().map_or(0, |mut s| {
                    let before = s.entries.len();
                    s.entries.retain(|e| e.expires_at() > now);
                    before - s.entries.len()
                })
            })
            .sum()
    }

    /// Decides a request for `key` now, without the async call of [`RateLimitStore::hit`]
    /// (for callers that hold the store itself); `record` false only peeks.
    pub fn decide(&self, key: &str, max_requests: u32, window_ms: u64, record: bool) -> Decision {
        let now = self.clock.now_millis();
        let hash = self.hasher.hash_one(key.as_bytes());
        let index = (hash >> (64 - SHARD_BITS)) as usize;
        let Ok(mut shard) = self.shards[index].lock() else {
            // A blocking SafeMutex never fails; were it to, refusing is the safe answer.
            return Decision {
                admitted: false,
                count: max_requests,
                reset_after_ms: window_ms,
            };
        };
        if let Some(entry) = shard
            .entries
            .find_mut(hash, |e| e.key.bytes() == key.as_bytes())
        {
            return entry
                .log
                .hit(now, max_requests, window_ms, record, self.mutations);
        }
        let mut log = SlidingLog::new();
        let decision = log.hit(now, max_requests, window_ms, record, self.mutations);
        if decision.admitted {
            shard.make_room(now, self.shard_capacity, &self.hasher);
            shard.entries.insert_unique(
                hash,
                Entry {
                    key: StoredKey::new(key),
                    log,
                },
                |e| self.hasher.hash_one(e.key.bytes()),
            );
        }
        decision
    }
}

#[async_trait]
impl RateLimitStore for MemoryStore {
    async fn hit(
        &self,
        key: &str,
        max_requests: u32,
        window_ms: u64,
    ) -> Result<Decision, RateLimitError> {
        Ok(self.decide(key, max_requests, window_ms, true))
    }

    fn hit_now(&self, key: &str, max_requests: u32, window_ms: u64) -> Option<Decision> {
        Some(self.decide(key, max_requests, window_ms, true))
    }

    async fn peek(
        &self,
        key: &str,
        max_requests: u32,
        window_ms: u64,
    ) -> Result<Decision, RateLimitError> {
        Ok(self.decide(key, max_requests, window_ms, false))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[tokio::test]
    async fn passes_the_store_suite() {
        crate::rate_limit::suite::run_all(|clock| async move {
            Arc::new(MemoryStore::new(10_000, clock)) as Arc<dyn RateLimitStore>
        })
        .await;
    }

    /// The bound: a million distinct keys never make the store hold more than its capacity,
    /// and the keys still inside their window keep their counts when they are not evicted.
    #[tokio::test]
    async fn a_million_distinct_keys_stay_within_capacity() {
        let clock = ManualClock::at(1_000_000);
        let store = MemoryStore::new(20_000, clock.clone());
        for i in 0..1_000_000u32 {
            let key = format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff);
            let d = store.hit(&key, 5, 60_000).await.unwrap();
            assert!(d.admitted);
            if i % 1000 == 0 {
                clock.advance(1);
            }
        }
        assert!(
            store.len() <= store.capacity(),
            "{} > {}",
            store.len(),
            store.capacity()
        );
        assert!(store.len() >= store.capacity() / 2, "{}", store.len());
        let held = store.len();
        clock.advance(61_000);
        assert_eq!(store.purge_expired(), held);
        assert!(store.is_empty());
    }

    /// The hasher of the test shards.
    static HASHER: std::sync::LazyLock<DefaultHashBuilder> =
        std::sync::LazyLock::new(DefaultHashBuilder::default);

    /// A shard holding `entries` (key, expires_at), last purged at `last_purge`.
    fn shard(entries: &[(&str, u64)], last_purge: u64) -> Shard {
        let hasher = &*HASHER;
        let mut shard = Shard {
            entries: HashTable::new(),
            last_purge,
        };
        for (key, expires_at) in entries {
            let hash = hasher.hash_one(key.as_bytes());
            // One stamp a millisecond before its expiry, in a 1 ms window.
            let mut log = SlidingLog::new();
            log.hit(expires_at - 1, 1, 1, true, SecurityMutations::none());
            assert_eq!(log.expires_at(), *expires_at);
            shard.entries.insert_unique(
                hash,
                Entry {
                    key: StoredKey::new(key),
                    log,
                },
                |e| hasher.hash_one(e.key.bytes()),
            );
        }
        shard
    }

    fn keys(shard: &Shard) -> Vec<String> {
        let mut keys: Vec<String> = shard
            .entries
            .iter()
            .map(|e| String::from_utf8_lossy(e.key.bytes()).into_owned())
            .collect();
        keys.sort();
        keys
    }

    #[test]
    fn entries_fit_a_cache_line_and_short_keys_are_inline() {
        assert!(std::mem::size_of::<Entry>() <= 64);
        let longest_ipv4 = "static:255.255.255.255";
        assert!(matches!(
            StoredKey::new(longest_ipv4),
            StoredKey::Inline { .. }
        ));
        let long = "static:2001:db8:1234:5678::/64#partition";
        let key = StoredKey::new(long);
        assert!(matches!(key, StoredKey::Heap(_)));
        assert_eq!(key.bytes(), long.as_bytes());
        assert_eq!(
            StoredKey::new(longest_ipv4).bytes(),
            longest_ipv4.as_bytes()
        );
    }

    #[test]
    fn room_is_made_only_when_full_and_expired_keys_go_first() {
        // Not full: nothing is dropped, expired or not (purging is for full shards).
        let mut s = shard(&[("a", 10), ("b", 1_000)], 0);
        s.make_room(500, 3, &HASHER);
        assert_eq!(keys(&s), ["a", "b"]);
        // Full and never purged (even in the first 100 ms of the clock): expired keys go,
        // including one that expires exactly now; live keys stay.
        let mut s = shard(&[("a", 10), ("b", 50), ("c", 1_000)], 0);
        s.make_room(50, 3, &HASHER);
        assert_eq!(keys(&s), ["c"]);
        assert_eq!(s.last_purge, 50);
        // Full, last purged 150 ms ago: purged again.
        let mut s = shard(&[("a", 10), ("b", 20), ("c", 9_000)], 1_000);
        s.make_room(1_150, 3, &HASHER);
        assert_eq!(keys(&s), ["c"]);
        // Full, last purged 50 ms ago: no scan; one key is evicted instead, the
        // soonest-expiring of the sample (here the whole shard).
        let mut s = shard(&[("a", 10), ("b", 5_000), ("c", 9_000)], 1_000);
        s.make_room(1_050, 3, &HASHER);
        assert_eq!(keys(&s), ["b", "c"]);
        assert_eq!(s.last_purge, 1_000);
    }

    #[tokio::test]
    async fn purging_drops_exactly_the_keys_whose_window_has_passed() {
        let clock = ManualClock::at(10_000);
        let store = MemoryStore::new(1_000, clock.clone());
        store.hit("short", 1, 1_000).await.unwrap();
        store.hit("long", 1, 5_000).await.unwrap();
        // "short" expires at 11_000: still there at 10_999, gone at 11_000.
        clock.set(10_999);
        assert_eq!(store.purge_expired(), 0);
        clock.set(11_000);
        assert_eq!(store.purge_expired(), 1);
        assert_eq!(store.len(), 1);
        assert_eq!(store.peek("long", 1, 5_000).await.unwrap().count, 1);
    }

    #[test]
    fn the_memory_store_decides_without_a_future() {
        let store = MemoryStore::new(100, ManualClock::at(1_000));
        let first = store.hit_now("k", 1, 1_000).expect("decided at once");
        assert!(first.admitted);
        let second = store.hit_now("k", 1, 1_000).expect("decided at once");
        assert_eq!((second.admitted, second.count), (false, 1));
    }

    #[tokio::test]
    async fn builders_keep_the_configuration_and_len_counts_keys() {
        let store =
            MemoryStore::new(10, ManualClock::at(1)).with_mutations(SecurityMutations::none());
        assert_eq!(store.capacity(), 64, "one key per shard at least");
        assert!(store.is_empty());
        store.hit("k", 1, 1_000).await.unwrap();
        assert!(!store.is_empty());
        assert_eq!(store.len(), 1);
        assert_eq!(MemoryStore::default().capacity(), DEFAULT_MEMORY_CAPACITY);
    }

    #[tokio::test]
    async fn a_full_store_drops_expired_keys_first() {
        let clock = ManualClock::at(1_000);
        let store = MemoryStore::new(512, clock.clone());
        // Eight keys per shard; fill the whole store with short-lived keys.
        for i in 0..10_000 {
            store.hit(&format!("old-{i}"), 1, 10).await.unwrap();
        }
        clock.advance(10_000);
        // A long-lived key survives a later flood of fresh keys only if eviction prefers
        // expired keys: with everything else expired, it is never the victim.
        store.hit("keeper", 1, 1_000_000).await.unwrap();
        for i in 0..2_000 {
            clock.advance(200);
            store.hit(&format!("new-{i}"), 1, 10).await.unwrap();
        }
        assert_eq!(store.peek("keeper", 1, 1_000_000).await.unwrap().count, 1);
        assert!(store.len() <= 512);
    }
}
