//! The cache behind `query_cached` (requirement 8.5): `moka`'s concurrent cache, bounded by
//! the bytes it holds, each entry living for the TTL its caller gave. Keys are the
//! statement, every bound parameter and the table's generation; a write to a table bumps the
//! generation, so no later read can see a result cached before the write (entries of older
//! generations are dropped in the background). Concurrent misses of one key run the query
//! once and share its result (single flight).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use dx_error::SafeMutex;
use moka::Expiry;
use moka::future::Cache;

use crate::error::QueryError;
use crate::statement::{Backend, Statement, Value};

/// Bytes a cache holds by default (64 MiB).
pub const DEFAULT_CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// What identifies one cached result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueryKey {
    table: &'static str,
    generation: u64,
    sql: &'static str,
    params: Vec<u8>,
}

impl QueryKey {
    fn weight(&self) -> usize {
        self.sql.len() + self.params.len() + 64
    }
}

/// A cached result: the rows as JSON and how long they stay.
#[derive(Debug)]
pub struct CachedRows {
    /// The rows, as a JSON array of objects.
    pub json: Vec<u8>,
    ttl: Duration,
}

/// Each entry lives for the TTL its caller gave.
struct PerEntryTtl;

impl Expiry<QueryKey, Arc<CachedRows>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _key: &QueryKey,
        value: &Arc<CachedRows>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// Cache hits and misses so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Reads answered without running the query (waiters on a shared miss included).
    pub hits: u64,
    /// Reads that ran the query.
    pub misses: u64,
}

/// The query cache.
#[derive(Debug)]
pub struct QueryCache {
    entries: Cache<QueryKey, Arc<CachedRows>>,
    generations: SafeMutex<HashMap<&'static str, u64>>,
    /// Whether a housekeeping pass is scheduled ([`QueryCache::schedule_maintenance`]).
    maintenance: Arc<AtomicBool>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Default for QueryCache {
    fn default() -> Self {
        Self::new(DEFAULT_CACHE_BYTES)
    }
}

impl QueryCache {
    /// A cache holding at most about `max_bytes` of keys and results.
    pub fn new(max_bytes: u64) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|k: &QueryKey, v: &Arc<CachedRows>| {
                u32::try_from(k.weight() + v.json.len()).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .support_invalidation_closures()
            .build();
        Self {
            entries,
            generations: SafeMutex::new(HashMap::new()),
            maintenance: Arc::new(AtomicBool::new(false)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn generation(&self, table: &'static str) -> u64 {
        self.generations
            .lock()
            .map_or(0, |g| g.get(table).copied().unwrap_or(0))
    }

    /// The key of `statement` with `params` on `backend`, in its table's current generation.
    pub fn key(&self, statement: &Statement, backend: Backend, params: &[Value]) -> QueryKey {
        let mut encoded = Vec::new();
        for p in params {
            p.encode_into(&mut encoded);
        }
        QueryKey {
            table: statement.table(),
            generation: self.generation(statement.table()),
            sql: statement.sql(backend),
            params: encoded,
        }
    }

    /// Makes every result cached for `table` unreachable; call it after a write to `table`
    /// has committed.
    pub fn invalidate(&self, table: &'static str) {
        let current = match self.generations.lock() {
            Ok(mut g) => {
                let generation = g.entry(table).or_insert(0);
                *generation += 1;
                *generation
            }
            Err(_) => return,
        };
        // Frees the memory now rather than at expiry; correctness does not depend on it.
        let dropped = self
            .entries
            .invalidate_entries_if(move |k, _| k.table == table && k.generation < current);
        if let Err(e) = dropped {
            tracing::warn!(error = %e, "query cache: could not schedule invalidation");
        }
        self.schedule_maintenance();
    }

    /// Runs the cache's housekeeping soon, one pass at a time. The cache keeps each
    /// invalidation predicate until housekeeping has applied it, and housekeeping otherwise
    /// runs only on the cache's own reads and writes: a server that writes items and never
    /// searches kept one predicate per write, and its memory grew 13-16 MiB a minute under
    /// benches/load's mixed load.
    fn schedule_maintenance(&self) {
        if self.maintenance.swap(true, Ordering::AcqRel) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.maintenance.store(false, Ordering::Release);
            return;
        };
        let entries = self.entries.clone();
        let maintenance = Arc::clone(&self.maintenance);
        runtime.spawn(async move {
            entries.run_pending_tasks().await;
            maintenance.store(false, Ordering::Release);
        });
    }

    /// The result cached under `key`, or the one `load` produces (stored for `ttl`).
    /// Concurrent callers with one key share one `load`.
    pub async fn get_or_load<F>(
        &self,
        key: QueryKey,
        ttl: Duration,
        load: F,
    ) -> Result<Arc<CachedRows>, QueryError>
    where
        F: Future<Output = Result<Vec<u8>, QueryError>>,
    {
        let loaded = AtomicBool::new(false);
        let result = self
            .entries
            .try_get_with(key, async {
                loaded.store(true, Ordering::Relaxed);
                load.await.map(|json| Arc::new(CachedRows { json, ttl }))
            })
            .await;
        if loaded.load(Ordering::Relaxed) {
            self.misses.fetch_add(1, Ordering::Relaxed);
        } else {
            self.hits.fetch_add(1, Ordering::Relaxed);
        }
        result.map_err(Arc::unwrap_or_clone)
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    /// Entries held now (after pending maintenance).
    pub async fn entry_count(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::QueryErrorKind;

    const READ: Statement = Statement::select("t", "SELECT * FROM t WHERE a = $1");
    const OTHER: Statement = Statement::select("u", "SELECT * FROM u WHERE a = $1");

    async fn load(cache: &QueryCache, key: QueryKey, json: &str) -> Vec<u8> {
        let json = json.as_bytes().to_vec();
        cache
            .get_or_load(key, Duration::from_secs(60), async move { Ok(json) })
            .await
            .unwrap()
            .json
            .clone()
    }

    #[tokio::test]
    async fn hits_until_the_table_is_written() {
        let cache = QueryCache::default();
        let key = cache.key(&READ, Backend::Sqlite, &[Value::from("x")]);
        assert_eq!(load(&cache, key.clone(), "[1]").await, b"[1]");
        assert_eq!(load(&cache, key.clone(), "[2]").await, b"[1]", "a hit");
        assert_eq!(cache.stats(), CacheStats { hits: 1, misses: 1 });
        // Another parameter is another key; another table's write changes nothing.
        let other_param = cache.key(&READ, Backend::Sqlite, &[Value::from("y")]);
        assert_eq!(load(&cache, other_param, "[3]").await, b"[3]");
        let other_table = cache.key(&OTHER, Backend::Sqlite, &[Value::from("x")]);
        assert_eq!(load(&cache, other_table.clone(), "[4]").await, b"[4]");
        cache.invalidate("t");
        let fresh = cache.key(&READ, Backend::Sqlite, &[Value::from("x")]);
        assert_ne!(fresh, key);
        assert_eq!(
            load(&cache, fresh, "[5]").await,
            b"[5]",
            "written: read again"
        );
        assert_eq!(load(&cache, other_table, "[6]").await, b"[4]");
        // The stale generation is dropped.
        assert_eq!(cache.entry_count().await, 2);
    }

    /// Invalidations register predicates the cache applies in its housekeeping; writes
    /// schedule that housekeeping themselves (one pass at a time), so a cache nobody reads
    /// does not keep a predicate per write (benches/load's soak found one that did).
    #[tokio::test]
    async fn writes_schedule_housekeeping_one_pass_at_a_time() {
        let cache = QueryCache::default();
        let key = cache.key(&READ, Backend::Sqlite, &[]);
        assert_eq!(load(&cache, key, "[1]").await, b"[1]");
        for _ in 0..1000 {
            cache.invalidate("t");
        }
        assert!(
            cache.maintenance.load(Ordering::Acquire),
            "a pass is scheduled"
        );
        for _ in 0..1000 {
            if !cache.maintenance.load(Ordering::Acquire) {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(!cache.maintenance.load(Ordering::Acquire), "and it ran");
        assert_eq!(cache.entry_count().await, 0);
    }

    #[test]
    fn invalidating_outside_a_runtime_schedules_nothing() {
        let cache = QueryCache::default();
        cache.invalidate("t");
        assert!(!cache.maintenance.load(Ordering::Acquire));
    }

    #[tokio::test]
    async fn entries_expire_after_their_ttl() {
        let cache = QueryCache::default();
        let key = cache.key(&READ, Backend::Postgres, &[]);
        let short = cache
            .get_or_load(key.clone(), Duration::from_millis(50), async {
                Ok(b"[1]".to_vec())
            })
            .await
            .unwrap();
        assert_eq!(short.json, b"[1]");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert_eq!(load(&cache, key, "[2]").await, b"[2]");
    }

    #[tokio::test]
    async fn concurrent_misses_load_once_and_errors_are_not_cached() {
        let cache = Arc::new(QueryCache::default());
        let runs = Arc::new(AtomicU64::new(0));
        let key = cache.key(&READ, Backend::Sqlite, &[Value::from(1_i64)]);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (cache, runs, key) = (cache.clone(), runs.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get_or_load(key, Duration::from_secs(60), async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(b"[7]".to_vec())
                    })
                    .await
                    .unwrap()
                    .json
                    .clone()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), b"[7]");
        }
        assert_eq!(
            runs.load(Ordering::SeqCst),
            1,
            "one load for 16 concurrent misses"
        );
        assert_eq!(
            cache.stats(),
            CacheStats {
                hits: 15,
                misses: 1
            }
        );
        let failing = cache.key(&READ, Backend::Sqlite, &[Value::from(2_i64)]);
        let err = cache
            .get_or_load(failing.clone(), Duration::from_secs(60), async {
                Err(QueryError::timeout(&READ, Duration::from_millis(1)))
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), QueryErrorKind::Timeout);
        assert_eq!(
            load(&cache, failing, "[8]").await,
            b"[8]",
            "a failure is not cached"
        );
    }

    /// The bound counts what a key holds (its SQL and encoded parameters, plus a fixed
    /// allowance for the entry's bookkeeping), not only the result: a flood of distinct
    /// keys with tiny results must still fill the budget.
    #[test]
    fn a_key_weighs_its_sql_parameters_and_overhead() {
        let cache = QueryCache::default();
        let key = cache.key(&READ, Backend::Sqlite, &[Value::from("x".repeat(1000))]);
        assert_eq!(
            key.params.len(),
            1 + 8 + 1000,
            "a tag byte, a u64 length, then the text"
        );
        assert_eq!(key.weight(), READ.sql(Backend::Sqlite).len() + 1009 + 64);
        let bare = cache.key(&READ, Backend::Sqlite, &[]);
        assert_eq!(bare.weight(), READ.sql(Backend::Sqlite).len() + 64);
    }

    #[tokio::test]
    async fn the_bound_holds_under_many_keys() {
        let cache = QueryCache::new(64 * 1024);
        for i in 0..2_000_i64 {
            let key = cache.key(&READ, Backend::Sqlite, &[Value::from(i)]);
            load(&cache, key, &format!("[{}]", "0".repeat(200))).await;
        }
        cache.entries.run_pending_tasks().await;
        assert!(
            cache.entries.weighted_size() <= 64 * 1024,
            "{}",
            cache.entries.weighted_size()
        );
        assert!(cache.entry_count().await > 0);
    }
}
