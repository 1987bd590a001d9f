//! The reference started in-process on an ephemeral port, on its own thread and runtime, so
//! it outlives any one test's runtime and stops when dropped.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use dx_server::{BoundServer, Config};
use tokio::sync::oneshot;

/// Why the embedded reference could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot start the embedded reference: {0}")]
pub struct EmbeddedError(pub String);

/// A running in-process reference server.
#[derive(Debug)]
pub struct EmbeddedReference {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl EmbeddedReference {
    /// The conformance-profile configuration the embedded target uses: ephemeral port,
    /// embedded stores, or the services named by `DATABASE_URL` / `REDIS_URL` when set.
    pub fn default_config() -> Config {
        let mut config = Config::conformance();
        if let Some(url) = non_empty_env("DATABASE_URL")
            && let Ok(db) = dx_server::DatabaseUrl::parse(&url)
        {
            config.database = db;
        }
        config.redis_url = non_empty_env("REDIS_URL");
        config
    }

    /// Starts the reference with `config` and waits until it listens.
    pub fn start(config: Config) -> Result<Self, EmbeddedError> {
        quiet_server_panics();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<SocketAddr, String>>();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("dx-reference".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name(SERVER_THREAD)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let bound = match BoundServer::bind(config).await {
                        Ok(b) => b,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    match bound.local_addr() {
                        Ok(addr) => {
                            let _ = ready_tx.send(Ok(addr));
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    }
                    let shutdown = async {
                        let _ = stop_rx.await;
                    };
                    if let Err(e) = bound.serve(shutdown).await {
                        tracing::error!(error = %e, "embedded reference stopped with an error");
                    }
                });
            })
            .map_err(|e| EmbeddedError(e.to_string()))?;
        let addr = ready_rx
            .recv()
            .map_err(|_| EmbeddedError("the server thread ended before listening".into()))?
            .map_err(EmbeddedError)?;
        Ok(Self {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for EmbeddedReference {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The name of the embedded server's threads.
const SERVER_THREAD: &str = "dx-reference-worker";

/// The fault hooks panic on purpose, hundreds of times a run; the default hook would print each
/// to stderr and bury the report. Panics on the embedded server's threads go to `tracing` at
/// debug level instead; every other panic (test failures included) still reaches the previous
/// hook.
fn quiet_server_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let on_server = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(SERVER_THREAD));
            if on_server {
                tracing::debug!(panic = %dx_error::panic_message(info.payload()), "embedded reference panic (caught by its error boundary)");
            } else {
                previous(info);
            }
        }));
    });
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
