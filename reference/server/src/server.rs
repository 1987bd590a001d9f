//! Running the server: bind, serve (plain HTTP, or HTTPS with an optional redirecting
//! listener) until a shutdown signal, drain in-flight requests.

use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;

use dx_error::RecoveryConfig;
use tokio::net::TcpListener;

use crate::app::{build_state, router};
use crate::config::Config;
use crate::state::SharedState;
use crate::tls::{TlsCertificate, TlsError, TlsListener, redirect_app};

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The configuration could not be turned into a running state.
    #[error("cannot start: {0}")]
    Start(#[from] dx_error::DxError),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The TLS certificate or key is unusable.
    #[error("cannot start: {0}")]
    Tls(#[from] TlsError),
    /// Serving failed.
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A bound, not yet serving server; its address is known (useful with port 0).
#[derive(Debug)]
pub struct BoundServer {
    listener: TcpListener,
    state: SharedState,
    /// The certificate, when serving HTTPS.
    tls: Option<TlsCertificate>,
    /// The plain-HTTP listener that redirects to HTTPS (`--redirect-http`).
    redirect: Option<TcpListener>,
}

impl BoundServer {
    /// Builds the state (signing key, service connections), loads the TLS certificate and
    /// binds the configured addresses, so every start-up error surfaces before anything is
    /// served.
    pub async fn bind(config: Config) -> Result<Self, ServeError> {
        let tls = config.tls.clone().map(TlsCertificate::load).transpose()?;
        let state = build_state(config)?;
        let listener = bind(state.config.bind).await?;
        let redirect = match state.config.redirect_http {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Self {
            listener,
            state,
            tls,
            redirect,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener.local_addr().map_err(ServeError::Serve)
    }

    /// The redirecting listener's address, if there is one.
    pub fn redirect_addr(&self) -> Result<Option<SocketAddr>, ServeError> {
        self.redirect
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
            .map_err(ServeError::Serve)
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = self.state;
        // Wait for the services in the background: liveness must answer from the first
        // moment, and `/ready` reports the truth meanwhile.
        let warming = std::sync::Arc::clone(&state);
        tokio::spawn(async move {
            let readiness = warming.services.warm_up(&RecoveryConfig::default()).await;
            tracing::info!(
                ready = readiness.is_ready(),
                database = ?readiness.database,
                redis = ?readiness.redis,
                "service warm-up finished"
            );
        });
        // Migrate the query schema now rather than on the first request; a database that is
        // down leaves it to the first request that needs it.
        let migrating = std::sync::Arc::clone(&state.query);
        tokio::spawn(async move {
            if let Err(e) = migrating.items().await {
                tracing::warn!(error = %e, "query schema not migrated at start-up; the first request will retry");
            }
        });
        tokio::spawn(std::sync::Arc::clone(&state.auth).purge_periodically());
        tokio::spawn(std::sync::Arc::clone(&state.security).purge_periodically());
        let addr = self.listener.local_addr().map_err(ServeError::Serve)?;
        let redirect_addr = self
            .redirect
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
            .map_err(ServeError::Serve)?;
        #[cfg(unix)]
        if let Some(tls) = &self.tls {
            tls.reload_on_sighup().map_err(ServeError::Serve)?;
        }
        tracing::info!(
            %addr,
            tls = self.tls.is_some(),
            redirect_http = ?redirect_addr,
            profile = %state.config.profile,
            database = state.config.database.backend(),
            redis = state.config.redis_url.is_some(),
            key_id = state.key.key_id(),
            mutant = state.config.mutations.active_name(),
            "dx-reference listening"
        );
        if state.key.is_ephemeral() && state.config.profile == crate::Profile::Production {
            tracing::warn!(
                "no --key-file: signing with an ephemeral key; tokens will not survive a restart or verify on other instances"
            );
        }
        if state.config.profile == crate::Profile::Production
            && state.config.database.is_in_memory()
        {
            tracing::warn!(
                "--ephemeral-store: accounts and items live in memory and are LOST when the process stops or restarts; use --database-url for anything that must last"
            );
        }
        // One shutdown signal stops both listeners and closes every sync connection with
        // 1001 (requirement 7.4): axum's graceful shutdown waits for HTTP requests only, an
        // upgraded connection is no longer its to wait for.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let sync = std::sync::Arc::clone(&state.sync);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
            let told = sync.shut_down();
            tracing::info!(connections = told, "closing sync connections (1001)");
        });
        let sync = std::sync::Arc::clone(&state.sync);
        let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let redirecting = self.redirect.map(|listener| {
            let app = redirect_app(addr.port(), state.security.headers_layer.clone());
            let done = until_stopped(stopped.clone());
            tokio::spawn(async move {
                if let Err(error) = axum::serve(listener, app)
                    .with_graceful_shutdown(done)
                    .await
                {
                    tracing::error!(%error, "the HTTPS redirect listener failed");
                }
            })
        });
        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        let done = until_stopped(stopped);
        match self.tls {
            Some(certificate) => {
                let listener =
                    TlsListener::new(self.listener, certificate).map_err(ServeError::Serve)?;
                // TCP_NODELAY is set before the handshake (tls.rs); tapping gives the
                // listener axum's `ConnectInfo<SocketAddr>`, which the rate limiter reads.
                axum::serve(listener.tap_io(|_| ()), app)
                    .with_graceful_shutdown(done)
                    .await
            }
            None => {
                // Frames and small responses go out at once: without TCP_NODELAY a reply
                // written in two parts waits for the peer's delayed ACK (40 ms on Linux).
                let listener = self.listener.tap_io(|tcp| {
                    if let Err(error) = tcp.set_nodelay(true) {
                        tracing::debug!(%error, "cannot set TCP_NODELAY");
                    }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(done)
                    .await
            }
        }
        .map_err(ServeError::Serve)?;
        if let Some(task) = redirecting {
            let _ = task.await;
        }
        // Each sync connection sends its close and waits briefly for the peer's (the
        // closing handshake), then leaves its channels and closes its session in the
        // broker, so it stays resumable on another instance. Bounded: a peer that never
        // answers does not hold the exit.
        let deadline = tokio::time::Instant::now() + SYNC_DRAIN;
        while sync.connection_count() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let left = sync.connection_count();
        if left > 0 {
            tracing::warn!(connections = left, "sync connections still open at exit");
        }
        tracing::info!("dx-reference stopped");
        Ok(())
    }
}

/// How long a shutting-down server waits for its sync connections to finish closing: the
/// closing handshake's own limit (2 s) and the broker's clean-up after it.
const SYNC_DRAIN: std::time::Duration = std::time::Duration::from_secs(5);

async fn bind(addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
