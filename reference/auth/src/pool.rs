//! Argon2 costs tens of milliseconds of CPU per hash. Running it on the async runtime would
//! stall every other request, so it runs on threads of its own, at most `workers` at a time;
//! up to `queue` more calls wait up to `max_wait` for a slot, and anything beyond gets
//! [`AuthError::Busy`] at once (answered 503 with `Retry-After`). Nothing queues without bound.
//!
//! The hashing threads are the pool's own, not tokio's blocking pool, and on Linux they run at
//! a lower scheduling priority ([`HASHING_NICE`]): a hash uses whatever CPU is idle, but when
//! the cores are contended the runtime's threads, which serve every other request, are
//! scheduled first. On a blocking-pool thread, shared with all other blocking work, the
//! priority could not be lowered for hashing alone; at the same priority, a flood of logins
//! delayed cheap requests by whole scheduler slices (`cargo bench -p dx-server --bench
//! auth_load`).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, oneshot};

use crate::error::AuthError;

/// The `Retry-After` a saturated pool answers with, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// The nice value of the hashing threads (Linux): 10 gives a hashing thread about a tenth of a
/// core that a runtime thread also wants, and all of a core nothing else wants.
pub const HASHING_NICE: i32 = 10;

/// A job for a hashing thread.
type Job = Box<dyn FnOnce() + Send + 'static>;

/// A bounded pool for CPU-heavy password work.
#[derive(Debug, Clone)]
pub struct HashingPool {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    /// The hashing threads' queue; they stop when the last clone of the pool is dropped.
    jobs: mpsc::Sender<Job>,
    workers: usize,
    queue: usize,
    max_wait: Duration,
}

impl HashingPool {
    /// At most `workers` hashes at once, `queue` more waiting up to `max_wait`.
    pub fn new(workers: usize, queue: usize, max_wait: Duration) -> Self {
        let workers = workers.max(1);
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for i in 0..workers {
            let receiver = Arc::clone(&receiver);
            // Without any thread, `run` falls back on tokio's blocking pool.
            let _ = std::thread::Builder::new()
                .name(format!("dx-hashing-{i}"))
                .spawn(move || hashing_thread(&receiver))
                .inspect_err(|error| tracing::warn!(%error, "cannot start a hashing thread"));
        }
        Self {
            slots: Arc::new(Semaphore::new(workers)),
            waiting: Arc::new(AtomicUsize::new(0)),
            jobs,
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

    /// Runs `work` on a hashing thread once a slot is free.
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
        let (done, outcome) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _slot = permit;
            let result = std::panic::catch_unwind(AssertUnwindSafe(work))
                .map_err(|panic| {
                    AuthError::Internal(format!(
                        "hashing task failed: {}",
                        dx_error::panic_message(panic.as_ref())
                    ))
                })
                .and_then(|r| r);
            let _ = done.send(result);
        });
        if let Err(mpsc::SendError(job)) = self.jobs.send(job) {
            // No hashing thread could be started: the blocking pool does the work. The job
            // answers through `done` itself; if it never ran, `outcome` says it vanished.
            let _ = tokio::task::spawn_blocking(job).await;
        }
        outcome
            .await
            .unwrap_or_else(|_| Err(AuthError::Internal("hashing task vanished".to_owned())))
    }
}

/// A hashing thread: lowers its own priority, then runs jobs until the pool is dropped.
fn hashing_thread(jobs: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    loop {
        // Jobs run after the lock is released, so no panic can poison it; taken either way.
        let next = jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        match next {
            Ok(job) => job(),
            Err(mpsc::RecvError) => return,
        }
    }
}

/// Sets the calling thread's nice value to [`HASHING_NICE`] (Linux: a thread's own, not the
/// process's). Failing only costs the priority, so it is logged and ignored.
#[cfg(target_os = "linux")]
fn lower_priority() {
    let thread = rustix::thread::gettid();
    let _ = rustix::process::setpriority_process(Some(thread), HASHING_NICE)
        .inspect_err(|error| tracing::debug!(%error, "cannot lower the thread's priority"));
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

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
    async fn without_hashing_threads_the_blocking_pool_does_the_work() {
        let (jobs, receiver) = mpsc::channel::<Job>();
        drop(receiver);
        let pool = HashingPool {
            slots: Arc::new(Semaphore::new(1)),
            waiting: Arc::new(AtomicUsize::new(0)),
            jobs,
            workers: 1,
            queue: 1,
            max_wait: Duration::from_secs(1),
        };
        assert_eq!(pool.run(|| Ok(7)).await.unwrap(), 7);
        let failed = pool
            .run(|| -> Result<u32, AuthError> { panic!("boom") })
            .await;
        assert!(matches!(failed, Err(AuthError::Internal(m)) if m.contains("boom")));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_in_the_work_is_an_internal_error_and_the_pool_goes_on() {
        let pool = HashingPool::new(1, 1, Duration::from_secs(1));
        let failed = pool
            .run(|| -> Result<u32, AuthError> { panic!("boom") })
            .await;
        assert!(matches!(failed, Err(AuthError::Internal(m)) if m.contains("boom")));
        assert_eq!(pool.run(|| Ok(5)).await.unwrap(), 5);
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_work_runs_on_a_hashing_thread_at_a_lower_priority() {
        let pool = HashingPool::new(1, 1, Duration::from_secs(1));
        let (name, nice) = pool
            .run(|| {
                let nice = rustix::process::getpriority_process(Some(rustix::thread::gettid()));
                Ok((std::thread::current().name().map(str::to_owned), nice.ok()))
            })
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("dx-hashing-0"));
        assert!(nice >= Some(HASHING_NICE), "{nice:?}");
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
