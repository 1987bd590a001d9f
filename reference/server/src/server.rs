//! Running the server: bind, serve until a shutdown signal, drain in-flight requests.

use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;

use dx_error::RecoveryConfig;
use tokio::net::TcpListener;

use crate::app::{build_state, router};
use crate::config::Config;
use crate::state::SharedState;

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
    /// Serving failed.
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
}

/// A bound, not yet serving server; its address is known (useful with port 0).
#[derive(Debug)]
pub struct BoundServer {
    listener: TcpListener,
    state: SharedState,
}

impl BoundServer {
    /// Builds the state (signing key, service connections) and binds the configured address,
    /// so every start-up error surfaces before anything is served.
    pub async fn bind(config: Config) -> Result<Self, ServeError> {
        let state = build_state(config)?;
        let addr = state.config.bind;
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(Self { listener, state })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Result<SocketAddr, ServeError> {
        self.listener.local_addr().map_err(ServeError::Serve)
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
        tracing::info!(
            %addr,
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
        let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
        // Frames and small responses go out at once: without TCP_NODELAY a reply written in
        // two parts waits for the peer's delayed ACK (40 ms on Linux).
        let listener = self.listener.tap_io(|tcp| {
            if let Err(error) = tcp.set_nodelay(true) {
                tracing::debug!(%error, "cannot set TCP_NODELAY");
            }
        });
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServeError::Serve)?;
        tracing::info!("dx-reference stopped");
        Ok(())
    }
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
