//! Argon2 costs tens of milliseconds of CPU per hash. Running it on the async runtime would
//! stall every other request, so it runs on tokio's blocking threads, at most `workers` at a
//! time; up to `queue` more calls wait up to `max_wait` for a slot, and anything beyond gets
//! [`AuthError::Busy`] at once (answered 503 with `Retry-After`). Nothing queues without bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::AuthError;

/// The `Retry-After` a saturated pool answers with, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// A bounded pool for CPU-heavy password work.
#[derive(Debug, Clone)]
pub struct HashingPool {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    workers: usize,
    queue: usize,
    max_wait: Duration,
}

impl HashingPool {
    /// At most `workers` hashes at once, `queue` more waiting up to `max_wait`.
    pub fn new(workers: usize, queue: usize, max_wait: Duration) -> Self {
        let workers = workers.max(1);
        Self {
            slots: Arc::new(Semaphore::new(workers)),
            waiting: Arc::new(AtomicUsize::new(0)),
            workers,
            queue,
            max_wait,
        }
    }

    /// Sized for this machine: one worker per core but one (the async runtime keeps a core
    /// for every other request while logins saturate the pool), at least one; four waiting
    /// per worker; 1 s wait (well inside any request timeout, so a saturated server answers
    /// 503, never 408).
    pub fn for_this_machine() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = cores.saturating_sub(1).max(1);
        Self::new(workers, workers * 4, Duration::from_secs(1))
    }

    /// How many hashes may run at once.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// How many calls may wait for a slot.
    pub fn queue(&self) -> usize {
        self.queue
    }

    /// Runs `work` on a blocking thread once a slot is free.
    pub async fn run<T, F>(&self, work: F) -> Result<T, AuthError>
    where
        F: FnOnce() -> Result<T, AuthError> + Send + 'static,
        T: Send + 'static,
    {
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::SeqCst) >= self.queue {
                    self.waiting.fetch_sub(1, Ordering::SeqCst);
                    return Err(AuthError::Busy);
                }
                let acquired =
                    tokio::time::timeout(self.max_wait, Arc::clone(&self.slots).acquire_owned())
                        .await;
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                match acquired {
                    Ok(Ok(p)) => p,
                    _ => return Err(AuthError::Busy),
                }
            }
        };
        tokio::task::spawn_blocking(move || {
            let _slot = permit;
            work()
        })
        .await
        .map_err(|e| AuthError::Internal(format!("hashing task failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn sizes() {
        let pool = HashingPool::new(3, 5, Duration::from_millis(1));
        assert_eq!((pool.workers(), pool.queue()), (3, 5));
        assert_eq!(HashingPool::new(0, 0, Duration::ZERO).workers(), 1);
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let machine = HashingPool::for_this_machine();
        let workers = if cores > 1 { cores - 1 } else { 1 };
        assert_eq!((machine.workers(), machine.queue()), (workers, workers * 4));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_call_runs_when_a_slot_frees() {
        let pool = HashingPool::new(1, 1, Duration::from_secs(10));
        let (release, hold) = mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = hold.recv();
                    Ok(1)
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| Ok(2)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(matches!(pool.run(|| Ok(3)).await, Err(AuthError::Busy)));
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap().unwrap(), 1);
        assert_eq!(
            waiter.await.unwrap().unwrap(),
            2,
            "the waiter got the freed slot"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_bound_calls_are_refused_not_queued() {
        let pool = HashingPool::new(1, 1, Duration::from_millis(200));
        let (release, hold) = mpsc::channel::<()>();
        let busy = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move || {
                    let _ = hold.recv();
                    Ok(1)
                })
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.run(|| Ok(2)).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        // One running, one waiting: a third is refused at once.
        assert!(matches!(pool.run(|| Ok(3)).await, Err(AuthError::Busy)));
        // The waiter gives up after max_wait.
        assert!(matches!(waiter.await.unwrap(), Err(AuthError::Busy)));
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap().unwrap(), 1);
        assert_eq!(pool.run(|| Ok(4)).await.unwrap(), 4);
        assert_eq!(pool.workers(), 1);
    }
}
