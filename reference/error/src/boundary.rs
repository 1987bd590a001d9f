//! `ErrorBoundary`: a named fence around one component. A panic or error inside becomes that
//! boundary's error result; nothing outside the boundary stops (Property 7).

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::FutureExt;

use crate::code::ErrorCode;
use crate::error::{Context, DxError};

/// The cause attached to a [`DxError`] made from a caught panic. Its text is internal: it is
/// logged, and shown only in the development profile.
#[derive(Debug, thiserror::Error)]
#[error("panic: {message}")]
pub struct PanicError {
    message: String,
}

impl PanicError {
    /// Builds the cause from a panic payload.
    pub fn from_payload(payload: &(dyn Any + Send)) -> Self {
        Self {
            message: panic_message(payload),
        }
    }

    /// The panic's message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// The text of a panic payload (`&str` or `String`), or a fixed text for other payloads.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// A named fence that turns panics and errors of what runs inside it into a [`DxError`],
/// counting them, so the rest of the process carries on.
#[derive(Debug)]
pub struct ErrorBoundary {
    name: String,
    failures: AtomicU64,
    panics: AtomicU64,
}

impl ErrorBoundary {
    /// Creates a boundary; `name` appears in logs and in the error's context.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            failures: AtomicU64::new(0),
            panics: AtomicU64::new(0),
        }
    }

    /// The boundary's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many runs ended in an error or a panic.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// How many runs ended in a panic.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// Runs `f` inside the boundary.
    pub fn run<T>(&self, f: impl FnOnce() -> Result<T, DxError>) -> Result<T, DxError> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(result) => self.observe(result),
            Err(payload) => Err(self.caught_panic(payload.as_ref())),
        }
    }

    /// Runs `fut` inside the boundary; a panic while polling becomes the boundary's error.
    pub async fn run_async<T, F>(&self, fut: F) -> Result<T, DxError>
    where
        F: Future<Output = Result<T, DxError>>,
    {
        match AssertUnwindSafe(fut).catch_unwind().await {
            Ok(result) => self.observe(result),
            Err(payload) => Err(self.caught_panic(payload.as_ref())),
        }
    }

    /// Turns a panic payload caught elsewhere (e.g. by a middleware) into this boundary's error.
    pub fn caught_panic(&self, payload: &(dyn Any + Send)) -> DxError {
        self.failures.fetch_add(1, Ordering::Relaxed);
        self.panics.fetch_add(1, Ordering::Relaxed);
        let cause = PanicError::from_payload(payload);
        tracing::error!(boundary = %self.name, panic = %cause.message(), "panic caught by error boundary");
        DxError::new(ErrorCode::Internal, ErrorCode::Internal.default_message())
            .with_context(Context::Boundary(self.name.clone()))
            .with_source(cause)
    }

    fn observe<T>(&self, result: Result<T, DxError>) -> Result<T, DxError> {
        if let Err(err) = &result {
            self.failures.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(boundary = %self.name, error = %err, "error inside boundary");
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::Arc;

    /// What one component does when asked.
    #[derive(Debug, Clone)]
    enum Action {
        Succeed(i32),
        Fail,
        Panic,
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            3 => any::<i32>().prop_map(Action::Succeed),
            1 => Just(Action::Fail),
            1 => Just(Action::Panic),
        ]
    }

    fn perform(action: &Action) -> Result<i32, DxError> {
        match action {
            Action::Succeed(v) => Ok(*v),
            Action::Fail => Err(DxError::new(ErrorCode::ResourceExhausted, "full")),
            Action::Panic => panic!("component failure"),
        }
    }

    fn check(
        boundary: &ErrorBoundary,
        action: &Action,
        result: Result<i32, DxError>,
    ) -> Result<(), TestCaseError> {
        match (action, result) {
            (Action::Succeed(v), Ok(got)) => prop_assert_eq!(*v, got),
            (Action::Fail, Err(e)) => prop_assert_eq!(e.code(), ErrorCode::ResourceExhausted),
            (Action::Panic, Err(e)) => {
                prop_assert_eq!(e.code(), ErrorCode::Internal);
                prop_assert_eq!(
                    e.context(),
                    Some(&Context::Boundary(boundary.name().to_owned()))
                );
                prop_assert!(e.source_chain()[0].contains("component failure"));
            }
            (a, r) => prop_assert!(false, "action {:?} gave {:?}", a, r),
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Feature: production-readiness, Property 7: Error Isolation
        ///
        /// For any interleaving of successes, errors and panics across several components,
        /// each behind its own boundary, a failure is reported only by the boundary it happened
        /// in, and every other component keeps returning its normal result.
        #[test]
        fn error_isolation(ops in proptest::collection::vec((0usize..4, action()), 1..40)) {
            let boundaries: Vec<ErrorBoundary> =
                (0..4).map(|i| ErrorBoundary::new(format!("component-{i}"))).collect();
            let mut expected_failures = [0u64; 4];
            let mut expected_panics = [0u64; 4];
            for (component, action) in &ops {
                let b = &boundaries[*component];
                let result = b.run(|| perform(action));
                check(b, action, result)?;
                match action {
                    Action::Succeed(_) => {}
                    Action::Fail => expected_failures[*component] += 1,
                    Action::Panic => {
                        expected_failures[*component] += 1;
                        expected_panics[*component] += 1;
                    }
                }
            }
            for (i, b) in boundaries.iter().enumerate() {
                prop_assert_eq!(b.failures(), expected_failures[i]);
                prop_assert_eq!(b.panics(), expected_panics[i]);
            }
        }

        /// Feature: production-readiness, Property 7: Error Isolation
        ///
        /// The same for concurrent async components on one runtime: a panicking task inside a
        /// boundary does not disturb the other tasks, which all complete with their results.
        #[test]
        fn error_isolation_async(actions in proptest::collection::vec(action(), 1..24)) {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .build()
                .unwrap();
            let results = rt.block_on(async {
                let boundary = Arc::new(ErrorBoundary::new("async-component"));
                let mut tasks = Vec::new();
                for a in actions.clone() {
                    let b = Arc::clone(&boundary);
                    tasks.push(tokio::spawn(async move {
                        tokio::task::yield_now().await;
                        let r = b.run_async(async { perform(&a) }).await;
                        (a, r)
                    }));
                }
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await.unwrap());
                }
                (boundary, out)
            });
            let (boundary, out) = results;
            for (a, r) in out {
                check(&boundary, &a, r)?;
            }
        }
    }

    #[test]
    fn panic_payloads_become_text() {
        assert_eq!(panic_message(&"static"), "static");
        assert_eq!(panic_message(&String::from("owned")), "owned");
        assert_eq!(panic_message(&42u8), "non-string panic payload");
        let cause = PanicError::from_payload(&"boom");
        assert_eq!(cause.to_string(), "panic: boom");
        assert_eq!(cause.message(), "boom");
    }

    #[test]
    fn caught_panic_from_elsewhere_counts() {
        let b = ErrorBoundary::new("layer");
        let err = b.caught_panic(&"outside");
        assert_eq!(err.code(), ErrorCode::Internal);
        assert_eq!((b.failures(), b.panics()), (1, 1));
    }
}
