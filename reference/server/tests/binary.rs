//! The `dx-reference` binary as an operator runs it: configuration errors exit 2 naming the
//! setting and where its value came from, production refuses to run without a database,
//! database failures name their cause, logs carry no colour codes into a pipe, the server
//! serves its discovery document, and SIGTERM/SIGINT shut it down cleanly.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::process::{Spawned, command, free_port};
use common::{in_ci, service_url};
use rstest::rstest;

/// Runs `dx-reference` to completion: exit code, stdout, stderr.
fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let out = command(args, env).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const DEVELOPMENT: (&str, &str) = ("DX_PROFILE", "development");

#[rstest]
#[case(&["--key-file", "/nonexistent/key.pem"], "cannot read /nonexistent/key.pem: No such file or directory")]
#[case(&["--verify-key-file", "/nonexistent/old.pub"], "cannot read /nonexistent/old.pub: No such file or directory")]
#[case(&["--database-url", "mysql://x"], "database_url")]
#[case(&["--max-body-bytes", "5"], "invalid setting `max_body_bytes` (from --max-body-bytes)")]
#[case(&["--config", "/nonexistent/dx.toml"], "cannot read config file /nonexistent/dx.toml: No such file or directory")]
#[case(&["--profile", "staging"], "invalid value 'staging'")]
fn invalid_configuration_exits_2_naming_the_setting(#[case] args: &[&str], #[case] expected: &str) {
    let (code, _, stderr) = run(args, &[DEVELOPMENT]);
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("entity not found"), "{stderr}");
}

/// A bad value from an environment variable is reported under the variable's name (the
/// operator never typed the flag), for every flag that has one: clap's own parse errors and
/// the server's range checks alike.
#[rstest]
#[case("DX_BIND", "nowhere")]
#[case("DX_TLS_CERT", "/nonexistent/cert.pem")]
#[case("DX_TLS_KEY", "/nonexistent/key.pem")]
#[case("DX_REDIRECT_HTTP", "nowhere")]
#[case("DX_PROFILE", "staging")]
#[case("DATABASE_URL", "mysql://x")]
#[case("DX_EPHEMERAL_STORE", "maybe")]
#[case("REDIS_URL", "http://cache")]
#[case("DX_MAX_BODY_BYTES", "-5")]
#[case("DX_MAX_BODY_BYTES", "5")]
#[case("DX_REQUEST_TIMEOUT_MS", "0")]
#[case("DX_LOG_FORMAT", "xml")]
#[case("DX_KEY_FILE", "/nonexistent/key.pem")]
#[case("DX_VERIFY_KEY_FILES", "/nonexistent/old.pub")]
#[case("DX_ACCESS_TTL_SECONDS", "0")]
#[case("DX_REFRESH_TTL_SECONDS", "soon")]
#[case("DX_ALLOW_REGISTRATION", "maybe")]
#[case("DX_RATE_LIMIT_AUTH", "5")]
#[case("DX_RATE_LIMIT_API", "0/60")]
#[case("DX_RATE_LIMIT_STATIC", "x/y")]
#[case("DX_TRUSTED_PROXIES", "10.0.0.0/8,not-a-network")]
#[case("DX_RATE_LIMIT_STORE_FAILURE", "sometimes")]
#[case("DX_CSRF_TTL_SECONDS", "0")]
#[case("DX_SECURE_COOKIES", "maybe")]
#[case("DX_HSTS_INCLUDE_SUBDOMAINS", "maybe")]
#[case("DX_DB_POOL_SIZE", "0")]
#[case("DX_DB_ACQUIRE_TIMEOUT_MS", "0")]
#[case("DX_QUERY_TIMEOUT_MS", "0")]
#[case("DX_METRICS", "maybe")]
fn errors_from_the_environment_name_the_variable(#[case] name: &str, #[case] value: &str) {
    let mut env = vec![(name, value)];
    if name != "DX_PROFILE" {
        env.push(DEVELOPMENT);
    }
    let (code, _, stderr) = run(&[], &env);
    assert_eq!(code, Some(2), "{name}={value}: {stderr}");
    assert!(stderr.contains(name), "{name}={value}: {stderr}");
}

#[test]
fn the_config_file_path_comes_from_its_variable() {
    let (code, _, stderr) = run(&[], &[("DX_CONFIG", "/nonexistent/dx.toml"), DEVELOPMENT]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("/nonexistent/dx.toml: No such file or directory"),
        "{stderr}"
    );
}

#[rstest]
#[case::nothing(&[], &[])]
#[case::explicit_profile(&["--profile", "production"], &[])]
#[case::profile_from_env(&[], &[("DX_PROFILE", "production")])]
#[case::blank_url(&["--database-url", ""], &[])]
fn production_refuses_to_start_without_a_database(
    #[case] args: &[&str],
    #[case] env: &[(&str, &str)],
) {
    let port = free_port().to_string();
    let bind = format!("127.0.0.1:{port}");
    let mut all = args.to_vec();
    all.extend(["--bind", &bind]);
    let (code, _, stderr) = run(&all, env);
    assert_eq!(code, Some(2), "{stderr}");
    for name in ["--database-url", "DATABASE_URL", "--ephemeral-store"] {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
}

#[test]
fn the_ephemeral_store_is_explicit_and_warned_about() {
    let port = free_port();
    let server = Spawned::start(
        &[
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ],
        &[("DX_EPHEMERAL_STORE", "true")],
    );
    let (warning, seen) = server.wait_for(
        |l| l.contains("--ephemeral-store") && l.contains("WARN"),
        Duration::from_secs(20),
    );
    let warning = warning.unwrap_or_else(|| panic!("no warning in {seen:?}"));
    assert!(warning.contains("LOST"), "{warning}");
    assert!(
        seen.iter().any(|l| l.contains("dx-reference listening")),
        "{seen:?}"
    );
    let (_, help, _) = run(&["--help"], &[]);
    // Help text wraps at the terminal's width: compare it with its lines joined.
    let joined = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        joined.contains("every account and item is LOST when the process stops"),
        "{help}"
    );
}

#[test]
fn help_shows_the_defaults() {
    let (code, help, _) = run(&["--help"], &[]);
    assert_eq!(code, Some(0));
    // Help text wraps at the terminal's width: compare it with its lines joined.
    let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
    for shown in [
        "[default: 127.0.0.1:8080]",
        "[default: production]",
        "[default: 900; 2 in conformance]",
        "add-account",
    ] {
        assert!(help.contains(shown), "{shown}: {help}");
    }
}

#[rstest]
fn migrate_without_a_database_url_is_a_usage_error(
    #[values("production", "development", "conformance")] profile: &str,
) {
    let (code, stdout, stderr) = run(&["migrate", "--profile", profile], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(!stdout.contains("migrations applied"), "{stdout}");
    assert!(
        stderr.contains("--database-url") && stderr.contains("DATABASE_URL"),
        "{stderr}"
    );
}

#[test]
fn migrate_applies_the_schema_and_exits() {
    let dir = std::env::temp_dir().join(format!("dx-migrate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("dx.sqlite");
    let url = format!("sqlite://{}", db.display());
    for _ in 0..2 {
        let (code, stdout, stderr) = run(&["migrate", "--database-url", &url], &[]);
        assert_eq!(code, Some(0), "{stderr}");
        assert!(stdout.contains("migrations applied"), "{stdout}");
    }
    assert!(db.exists(), "the database file was created");
    // Settings are validated as for serving; serving flags before the subcommand are refused.
    for args in [
        &["migrate", "--database-url", &url, "--db-pool-size", "0"][..],
        &["migrate", "--database-url", &url, "--query-timeout-ms", "0"][..],
        &["--bind", "127.0.0.1:0", "migrate"][..],
    ] {
        let (code, _, stderr) = run(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Unreachable: exit 1 at once, naming the cause and the URL without its password (the pool
/// would have retried until its timeout and said only "pool timed out").
#[test]
fn migrate_names_why_the_database_cannot_be_reached() {
    let port = free_port();
    let started = Instant::now();
    let (code, stdout, stderr) = run(
        &[
            "migrate",
            "--database-url",
            &format!("postgres://app:Canary-Pa55@127.0.0.1:{port}/nowhere"),
        ],
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let all = format!("{stdout}{stderr}");
    assert!(
        all.contains(&format!("connection refused (127.0.0.1:{port})")),
        "{all}"
    );
    assert!(
        all.contains(&format!("postgres://app:***@127.0.0.1:{port}/nowhere")),
        "{all}"
    );
    assert!(!all.contains("Canary-Pa55"), "{all}");
    assert!(!all.contains("pool timed out"), "{all}");
}

/// Against the real PostgreSQL (`DATABASE_URL`, else the loopback default): an unknown
/// database and an unknown role are named as such. Skipped when it is not reachable, except
/// under `CI=true`.
#[rstest]
#[case::unknown_database(
    "postgres",
    "dx_no_such_database",
    "database \"dx_no_such_database\" does not exist"
)]
#[case::unknown_role(
    "dx_no_such_role",
    "",
    "authentication failed: role \"dx_no_such_role\" does not exist"
)]
fn migrate_names_what_postgres_refused(
    #[case] user: &str,
    #[case] database: &str,
    #[case] expected: &str,
) {
    let base = service_url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
    let (code, _, stderr) = run(&["migrate", "--database-url", &base], &[]);
    let Some(rest) = base
        .strip_prefix("postgres://")
        .or_else(|| base.strip_prefix("postgresql://"))
        .filter(|_| code == Some(0))
    else {
        assert!(
            !in_ci(),
            "CI=true: PostgreSQL must be reachable at DATABASE_URL: {stderr}"
        );
        eprintln!("skipping: no PostgreSQL reachable at DATABASE_URL: {stderr}");
        return;
    };
    // The same server, another user or database.
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let database = if database.is_empty() {
        path.split('?').next().unwrap_or_default()
    } else {
        database
    };
    let url = format!("postgres://{user}:Canary-Pa55@{host}/{database}");
    let (code, _, stderr) = run(&["migrate", "--database-url", &url], &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(expected), "{stderr}");
    assert!(!stderr.contains("Canary-Pa55"), "{stderr}");
}

/// At start-up the server still serves (as not ready) when its database is down, but the log
/// says why, at once.
#[test]
fn startup_logs_why_the_database_cannot_be_reached() {
    let db_port = free_port();
    let server = Spawned::start(
        &[
            "--bind",
            &format!("127.0.0.1:{}", free_port()),
            "--log-format",
            "json",
            "--database-url",
            &format!("postgres://app:Canary-Pa55@127.0.0.1:{db_port}/app"),
        ],
        &[],
    );
    let (line, seen) = server.wait_for(
        |l| l.contains("database is not reachable"),
        Duration::from_secs(10),
    );
    let line = line.unwrap_or_else(|| panic!("no such line in {seen:?}"));
    assert!(
        line.contains(&format!("connection refused (127.0.0.1:{db_port})")),
        "{line}"
    );
    for l in &seen {
        assert!(!l.contains("Canary-Pa55"), "{l}");
    }
}

/// Text logs written to a pipe (a file, a collector) carry no ANSI colour codes.
#[test]
fn text_logs_into_a_pipe_have_no_colour_codes() {
    let server = Spawned::start(
        &["--bind", &format!("127.0.0.1:{}", free_port())],
        &[DEVELOPMENT, ("DX_LOG_FORMAT", "text")],
    );
    let (line, seen) = server.wait_for(
        |l| l.contains("dx-reference listening"),
        Duration::from_secs(20),
    );
    assert!(line.is_some(), "{seen:?}");
    for l in &seen {
        assert!(!l.contains('\u{1b}'), "{l:?}");
    }
}

#[cfg(unix)]
fn serve_then_signal(signal: &str) {
    let port = free_port();
    let server = Spawned::start(
        &[
            "--profile",
            "conformance",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ],
        &[],
    );
    // Wait for the "listening" log line (JSON).
    let (listening, seen) = server.wait_for(
        |l| l.contains("dx-reference listening"),
        Duration::from_secs(20),
    );
    let listening = listening.unwrap_or_else(|| panic!("listening line: {seen:?}"));
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

    let mut server = server;
    let status = std::process::Command::new("kill")
        .args([signal, &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            assert!(status.success(), "exit status after {signal}: {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop after {signal}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (stopped, rest) = server.wait_for(
        |l| l.contains("dx-reference stopped"),
        Duration::from_secs(5),
    );
    assert!(stopped.is_some(), "{rest:?}");
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
