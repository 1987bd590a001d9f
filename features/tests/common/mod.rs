//! What the scenario tests share.

#![allow(dead_code, clippy::unwrap_used)]

/// Runs `test` on a thread of its own with the stack of a main thread (8 MiB), as the CLI
/// runs the scenarios: a client scenario runs the client's interpreter inside cucumber's
/// executor, which in a debug build needs about 2 MiB, a test thread's whole stack.
pub fn on_a_deep_stack<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let thread = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(test());
        })
        .unwrap();
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}
