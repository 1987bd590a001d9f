//! Locks that survive a panicking holder. A `std::sync::Mutex` whose holder panicked is
//! "poisoned" and every later `lock().unwrap()` panics too, turning one failure into a cascade;
//! these wrappers recover the value instead, log it, and keep serving.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

/// Why a lock could not be taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LockError {
    /// `try_lock` found the lock held by someone else.
    #[error("lock is held elsewhere")]
    WouldBlock,
    /// The lock could not be acquired for another reason.
    #[error("lock acquisition failed: {0}")]
    AcquisitionFailed(String),
}

/// A mutex that recovers from poisoning (Property 6).
#[derive(Debug, Default)]
pub struct SafeMutex<T> {
    inner: Mutex<T>,
    recoveries: AtomicU64,
}

/// The guard of a [`SafeMutex`]; derefs to the protected value.
#[derive(Debug)]
pub struct SafeMutexGuard<'a, T> {
    guard: MutexGuard<'a, T>,
}

impl<T> SafeMutex<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self {
            inner: Mutex::new(value),
            recoveries: AtomicU64::new(0),
        }
    }

    /// Locks the mutex, recovering the value when a previous holder panicked. The `Result`
    /// keeps the seed's signature; with a blocking lock it is always `Ok`.
    pub fn lock(&self) -> Result<SafeMutexGuard<'_, T>, LockError> {
        match self.inner.lock() {
            Ok(guard) => Ok(SafeMutexGuard { guard }),
            Err(poisoned) => {
                let guard = poisoned.into_inner();
                self.note_recovery();
                Ok(SafeMutexGuard { guard })
            }
        }
    }

    /// Locks without waiting: `Err(LockError::WouldBlock)` when the lock is held.
    pub fn try_lock(&self) -> Result<SafeMutexGuard<'_, T>, LockError> {
        match self.inner.try_lock() {
            Ok(guard) => Ok(SafeMutexGuard { guard }),
            Err(TryLockError::Poisoned(poisoned)) => {
                let guard = poisoned.into_inner();
                self.note_recovery();
                Ok(SafeMutexGuard { guard })
            }
            Err(TryLockError::WouldBlock) => Err(LockError::WouldBlock),
        }
    }

    /// How many times a poisoned lock was recovered.
    pub fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// Whether the lock is poisoned right now (a holder panicked and nobody has locked since).
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    /// Consumes the mutex, recovering the value even when poisoned.
    pub fn into_inner(self) -> T {
        self.inner
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn note_recovery(&self) {
        self.inner.clear_poison();
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            recoveries = self.recoveries(),
            "mutex was poisoned by a panicking holder; recovered"
        );
    }
}

impl<T> Deref for SafeMutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> DerefMut for SafeMutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// A reader-writer lock that recovers from poisoning, like [`SafeMutex`].
#[derive(Debug, Default)]
pub struct SafeRwLock<T> {
    inner: RwLock<T>,
    recoveries: AtomicU64,
}

impl<T> SafeRwLock<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self {
            inner: RwLock::new(value),
            recoveries: AtomicU64::new(0),
        }
    }

    /// Takes a shared read lock, recovering from poisoning.
    pub fn read(&self) -> Result<RwLockReadGuard<'_, T>, LockError> {
        match self.inner.read() {
            Ok(guard) => Ok(guard),
            Err(poisoned) => {
                let guard = poisoned.into_inner();
                self.note_recovery();
                Ok(guard)
            }
        }
    }

    /// Takes the exclusive write lock, recovering from poisoning.
    pub fn write(&self) -> Result<RwLockWriteGuard<'_, T>, LockError> {
        match self.inner.write() {
            Ok(guard) => Ok(guard),
            Err(poisoned) => {
                let guard = poisoned.into_inner();
                self.note_recovery();
                Ok(guard)
            }
        }
    }

    /// How many times a poisoned lock was recovered.
    pub fn recoveries(&self) -> u64 {
        self.recoveries.load(Ordering::Relaxed)
    }

    /// Whether the lock is poisoned right now.
    pub fn is_poisoned(&self) -> bool {
        self.inner.is_poisoned()
    }

    fn note_recovery(&self) {
        self.inner.clear_poison();
        self.recoveries.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            recoveries = self.recoveries(),
            "rwlock was poisoned by a panicking holder; recovered"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// One step of a property-test scenario.
    #[derive(Debug, Clone)]
    enum Step {
        /// Add to the value and return normally.
        Add(i64),
        /// Add to the value, then panic while still holding the lock.
        AddThenPanic(i64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (-1000i64..1000).prop_map(Step::Add),
            (-1000i64..1000).prop_map(Step::AddThenPanic),
        ]
    }

    fn poison(mutex: &Arc<SafeMutex<i64>>, add: i64) {
        let m = Arc::clone(mutex);
        let joined = std::thread::spawn(move || {
            let mut guard = m.lock().unwrap();
            *guard += add;
            panic!("holder panics while holding the lock");
        })
        .join();
        assert!(joined.is_err(), "the holder thread must have panicked");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Feature: production-readiness, Property 6: Mutex Poisoning Recovery
        ///
        /// For any sequence of updates in which some holders panic while holding the lock,
        /// every later `lock()` returns `Ok` with the recovered value, which keeps every update
        /// made before each panic.
        #[test]
        fn mutex_poisoning_recovery(steps in proptest::collection::vec(step(), 1..12)) {
            let mutex = Arc::new(SafeMutex::new(0i64));
            let mut expected = 0i64;
            let mut panics = 0u64;
            for s in &steps {
                match s {
                    Step::Add(n) => {
                        *mutex.lock().unwrap() += n;
                        expected += n;
                    }
                    Step::AddThenPanic(n) => {
                        poison(&mutex, *n);
                        expected += n;
                        panics += 1;
                        prop_assert!(mutex.is_poisoned());
                    }
                }
                let guard = mutex.lock();
                prop_assert!(guard.is_ok());
                prop_assert_eq!(guard.map(|g| *g).unwrap_or_default(), expected);
                prop_assert!(!mutex.is_poisoned());
            }
            prop_assert_eq!(mutex.recoveries(), panics);
        }

        /// Feature: production-readiness, Property 6: Mutex Poisoning Recovery
        ///
        /// The same guarantee for the reader-writer lock, through both read and write locks.
        #[test]
        fn rwlock_poisoning_recovery(adds in proptest::collection::vec(-1000i64..1000, 1..8)) {
            let lock = Arc::new(SafeRwLock::new(0i64));
            let mut expected = 0;
            for (i, add) in adds.iter().enumerate() {
                let l = Arc::clone(&lock);
                let add = *add;
                let _ = std::thread::spawn(move || {
                    let mut guard = l.write().unwrap();
                    *guard += add;
                    panic!("writer panics");
                })
                .join();
                expected += add;
                if i % 2 == 0 {
                    prop_assert_eq!(*lock.read().unwrap(), expected);
                } else {
                    prop_assert_eq!(*lock.write().unwrap(), expected);
                }
            }
            prop_assert_eq!(lock.recoveries(), adds.len() as u64);
        }
    }

    #[test]
    fn try_lock_reports_contention_and_recovers_poison() {
        let mutex = Arc::new(SafeMutex::new(1));
        {
            let _held = mutex.lock().unwrap();
            assert_eq!(mutex.try_lock().err(), Some(LockError::WouldBlock));
        }
        poison(&mutex, 1);
        assert_eq!(*mutex.try_lock().unwrap(), 2);
        assert_eq!(mutex.recoveries(), 1);
        assert!(!mutex.is_poisoned());
    }

    #[test]
    fn into_inner_recovers_a_poisoned_value() {
        let mutex = Arc::new(SafeMutex::new(5));
        poison(&mutex, 2);
        let mutex = Arc::try_unwrap(mutex).unwrap();
        assert_eq!(mutex.into_inner(), 7);
        assert_eq!(SafeMutex::new(3).into_inner(), 3);
    }

    #[test]
    fn rwlock_reports_poisoning() {
        let lock = Arc::new(SafeRwLock::new(0));
        let l = Arc::clone(&lock);
        let _ = std::thread::spawn(move || {
            let _g = l.write().unwrap();
            panic!("x");
        })
        .join();
        assert!(lock.is_poisoned());
        assert_eq!(*lock.read().unwrap(), 0);
        assert!(!lock.is_poisoned());
        assert_eq!(
            LockError::AcquisitionFailed("x".into()).to_string(),
            "lock acquisition failed: x"
        );
    }
}
