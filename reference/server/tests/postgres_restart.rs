//! The database goes away and comes back while the server serves (issue: query module, fault
//! test). A throwaway PostgreSQL cluster of the machine's own binaries is started for the test;
//! while it is stopped, item requests answer 503 `DB_CONNECTION_FAILED` in the envelope
//! promptly (none hangs), and once it is back the server serves again by itself, with the data
//! it had. Needs root (PostgreSQL runs as the `postgres` user) and the PostgreSQL binaries;
//! skipped without them, except under `CI=true`, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestServer, in_ci};
use dx_server::config::LimitSpec;
use dx_server::{Config, DatabaseUrl};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

/// A throwaway PostgreSQL cluster in a temporary directory, stopped and removed on drop.
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

fn as_postgres(command: &str) -> bool {
    Command::new("su")
        .args(["postgres", "-s", "/bin/sh", "-c", command])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Cluster {
    /// Initialises a cluster, or `None` when this machine cannot run one.
    fn init() -> Option<Self> {
        let bin = Command::new("pg_config")
            .arg("--bindir")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
            .filter(|b| b.join("initdb").exists())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .ok()?
            .local_addr()
            .ok()?
            .port();
        let dir = std::env::temp_dir().join(format!("dx-pg-restart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let owned = Command::new("chown")
            .args(["-R", "postgres", &dir.display().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let cluster = Self { bin, dir, port };
        let initdb = format!(
            "{} -D {} -A trust -U postgres --no-sync >/dev/null",
            cluster.bin.join("initdb").display(),
            cluster.dir.join("data").display()
        );
        (owned && as_postgres(&initdb)).then_some(cluster)
    }

    fn start(&self) {
        let command = format!(
            "{} -D {} -w -l {} -o '-p {} -c listen_addresses=127.0.0.1 -k {}' start >/dev/null",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display(),
            self.dir.join("log").display(),
            self.port,
            self.dir.display()
        );
        assert!(as_postgres(&command), "pg_ctl start failed");
    }

    fn stop(&self) {
        let command = format!(
            "{} -D {} -m fast -w stop >/dev/null",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display()
        );
        assert!(as_postgres(&command), "pg_ctl stop failed");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&format!(
            "{} -D {} -m immediate -w stop >/dev/null 2>&1",
            self.bin.join("pg_ctl").display(),
            self.dir.join("data").display()
        ));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn service_resumes_by_itself_when_postgres_comes_back() {
    let Some(cluster) = Cluster::init() else {
        assert!(
            !in_ci(),
            "CI=true but no throwaway PostgreSQL cluster could be started (needs root and pg_config)"
        );
        eprintln!("note: cannot start a throwaway PostgreSQL cluster here; skipped");
        return;
    };
    cluster.start();
    let mut config = Config::conformance();
    config.database = DatabaseUrl::parse(&cluster.url()).unwrap();
    config.query.acquire_timeout = Duration::from_millis(500);
    config.security.limits = [LimitSpec {
        max_requests: 1_000_000,
        window_seconds: 1,
    }; 3];
    let server = TestServer::start(config).await;
    let client = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let token = server.mint("restart-owner").await;
    let created = client
        .post(server.url("/api/v1/items"))
        .bearer_auth(&token)
        .json(&json!({ "name": "survives a restart", "body": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let item: Value = created.json().await.unwrap();
    let path = format!("/api/v1/items/{}", item["id"]);

    cluster.stop();
    for _ in 0..5 {
        let started = Instant::now();
        let resp = client
            .get(server.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let elapsed = started.elapsed();
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "DB_CONNECTION_FAILED", "{body}");
        assert!(elapsed < Duration::from_secs(5), "answered in {elapsed:?}");
    }
    let ready = client.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);

    cluster.start();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let resp = client
            .get(server.url(&path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::OK {
            let read: Value = resp.json().await.unwrap();
            assert_eq!(read, item, "the data survived");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not serving 20 s after the database came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ready = client.get(server.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    server.stop().await;
}
