//! Starting a server inside a test.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod process;
pub mod sync_client;

use dx_server::{BoundServer, Config};
use tokio::sync::oneshot;

/// A server running on the test's runtime; stops when dropped.
pub struct TestServer {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    pub handle: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(config: Config) -> Self {
        let bound = BoundServer::bind(config).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            bound
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            base: format!("http://{addr}"),
            stop: Some(tx),
            handle,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// An access token for `sub`, valid for ten minutes (the conformance mint hook).
    pub async fn mint(&self, sub: &str) -> String {
        let resp = reqwest::Client::new()
            .post(self.url("/_dx/auth/mint"))
            .json(&serde_json::json!({ "sub": sub, "typ": "access", "exp_offset_seconds": 600 }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), reqwest::StatusCode::OK);
        resp.json::<serde_json::Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        (&mut self.handle).await.unwrap();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The URL of a service the test needs: the environment variable when set, else the
/// machine's loopback default. With `CI=true` an unreachable service fails the test; outside
/// CI the caller skips.
pub fn service_url(var: &str, default: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}
