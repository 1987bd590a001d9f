//! The `dx-reference` binary as an operator runs it: configuration errors exit 2 with a clear
//! message, the server serves its discovery document, and SIGTERM/SIGINT shut it down cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_dx-reference");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn invalid_configuration_exits_2_naming_the_setting() {
    let cases: [(&[&str], &str); 5] = [
        (&["--key-file", "/nonexistent/key.pem"], "key_file"),
        (&["--database-url", "mysql://x"], "database_url"),
        (&["--max-body-bytes", "5"], "max_body_bytes"),
        (
            &["--config", "/nonexistent/dx.toml"],
            "cannot read config file",
        ),
        (&["--profile", "staging"], "invalid value 'staging'"),
    ];
    for (args, expected) in cases {
        let out = Command::new(BIN)
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let dir = std::env::temp_dir().join(format!("dx-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("dx.sqlite");
    let url = format!("sqlite://{}", db.display());
    for _ in 0..2 {
        let out = Command::new(BIN)
            .args(["migrate", "--database-url", &url])
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("migrations applied"));
    }
    assert!(db.exists(), "the database file was created");
    // Unreachable: exit 1, naming the failure but never the URL's password.
    let out = Command::new(BIN)
        .args([
            "migrate",
            "--database-url",
            "postgres://app:Canary-Pa55@127.0.0.1:1/nowhere",
            "--db-acquire-timeout-ms",
            "200",
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("DB_CONNECTION_FAILED"), "{all}");
    assert!(!all.contains("Canary-Pa55"), "{all}");
    // Settings are validated as for serving; serving flags before the subcommand are refused.
    for args in [
        &["migrate", "--db-pool-size", "0"][..],
        &["migrate", "--query-timeout-ms", "0"][..],
        &["--bind", "127.0.0.1:0", "migrate"][..],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
fn serve_then_signal(signal: &str) {
    let port = free_port();
    let mut child = Command::new(BIN)
        .args([
            "--profile",
            "conformance",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    // Wait for the "listening" log line (JSON).
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("dx-reference listening"))
        .expect("listening line");
    let event: serde_json::Value = serde_json::from_str(&listening).expect("JSON log line");
    assert_eq!(event["profile"], "conformance");

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let doc: serde_json::Value = rt.block_on(async {
        reqwest::get(format!("http://127.0.0.1:{port}/.well-known/dx-www"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    });
    assert_eq!(doc["profile"], "conformance");
    assert_eq!(doc["fault_hooks"]["base"], "/_dx/faults");

    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status after {signal}: {status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "did not stop after {signal}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("dx-reference stopped")),
        "{rest:?}"
    );
}

#[cfg(unix)]
#[test]
fn sigterm_shuts_down_gracefully() {
    serve_then_signal("-TERM");
}

#[cfg(unix)]
#[test]
fn sigint_shuts_down_gracefully() {
    serve_then_signal("-INT");
}
