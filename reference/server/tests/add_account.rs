//! `dx-reference add-account` as an operator uses it on a production deployment: the account
//! it adds to the configured database logs in over HTTP to a production server on the same
//! database, on SQLite and on PostgreSQL (`DATABASE_URL`, else the loopback default; skipped
//! when unreachable, except under `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use common::process::{Spawned, command, free_port};
use common::{in_ci, service_url};
use dx_server::DatabaseUrl;
use dx_server::services::{CONNECT_CHECK_TIMEOUT, check_database};
use serde_json::{Value, json};

/// `add-account` with `args`, `env` and `stdin` written to its standard input.
fn add_account(args: &[&str], env: &[(&str, &str)], stdin: &str) -> (Option<i32>, String, String) {
    let mut all = vec!["add-account"];
    all.extend_from_slice(args);
    let mut child = command(&all, env)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", uuid::Uuid::new_v4().simple())
}

/// The id `add-account` printed for `email`.
fn printed_id(stdout: &str, email: &str) -> String {
    assert!(stdout.contains(email), "{stdout}");
    stdout
        .split("(id ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .unwrap_or_else(|| panic!("no id in {stdout}"))
        .to_owned()
}

/// Adds accounts to `url` every way the password may come, checks the refusals, then logs
/// in over HTTP to a production server on the same database.
fn accounts_log_in(url: &str) {
    let dir =
        std::env::temp_dir().join(format!("dx-add-account-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let password_file = dir.join("password");
    std::fs::write(&password_file, "correct horse battery staple\n").unwrap();
    let file = password_file.to_str().unwrap();

    // From a file; the email is normalised as registration does.
    let email = unique("Operator");
    let (code, stdout, stderr) = add_account(
        &[
            "--email",
            &email,
            "--password-file",
            file,
            "--database-url",
            url,
        ],
        &[],
        "",
    );
    assert_eq!(code, Some(0), "{stderr}");
    let lower = email.to_lowercase();
    let id = printed_id(&stdout, &lower);
    // Again: the email exists (exit 1), unless --if-missing (exit 0, same account).
    let (code, _, stderr) = add_account(
        &[
            "--email",
            &email,
            "--password-file",
            file,
            "--database-url",
            url,
        ],
        &[],
        "",
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    let (code, stdout, stderr) = add_account(
        &["--email", &lower, "--password-file", file, "--if-missing"],
        &[("DATABASE_URL", url)],
        "",
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(printed_id(&stdout, &lower), id);

    // From the environment, and from standard input.
    let from_env = unique("env");
    let (code, _, stderr) = add_account(
        &["--email", &from_env, "--database-url", url],
        &[("DX_ACCOUNT_PASSWORD", "from the environment")],
        "",
    );
    assert_eq!(code, Some(0), "{stderr}");
    let from_stdin = unique("stdin");
    let (code, _, stderr) = add_account(
        &["--email", &from_stdin, "--database-url", url],
        &[],
        "from standard input\nignored second line\n",
    );
    assert_eq!(code, Some(0), "{stderr}");

    // Registration's rules and messages; usage errors exit 2.
    for (email, stdin, message) in [
        (
            "no-at-sign",
            "pw\n",
            "The email must be local@domain, at most 254 characters",
        ),
        (&*unique("empty"), "\n", "The password must not be empty"),
        (&*unique("none"), "", "no password"),
    ] {
        let (code, _, stderr) = add_account(&["--email", email, "--database-url", url], &[], stdin);
        assert_eq!(code, Some(2), "{email}: {stderr}");
        assert!(stderr.contains(message), "{email}: {stderr}");
    }
    let (code, _, stderr) = add_account(
        &[
            "--email",
            &unique("x"),
            "--password-file",
            "/nonexistent/pw",
        ],
        &[("DATABASE_URL", url)],
        "",
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/pw: No such file or directory"),
        "{stderr}"
    );

    // A production server on the same database lets them in.
    let port = free_port();
    let server = Spawned::start(
        &[
            "--profile",
            "production",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            url,
            "--log-format",
            "json",
        ],
        &[],
    );
    let (listening, seen) = server.wait_for(
        |l| l.contains("dx-reference listening"),
        Duration::from_secs(20),
    );
    assert!(listening.is_some(), "{seen:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let login = |email: String, password: &'static str| {
            client
                .post(format!("http://127.0.0.1:{port}/api/v1/auth/login"))
                .json(&json!({ "email": email, "password": password }))
                .send()
        };
        let resp = login(email.clone(), "correct horse battery staple")
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let pair: Value = resp.json().await.unwrap();
        assert!(
            pair["access_token"]
                .as_str()
                .unwrap()
                .starts_with("v4.public.")
        );
        let me: Value = client
            .get(format!("http://127.0.0.1:{port}/api/v1/auth/me"))
            .bearer_auth(pair["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["user_id"], id.as_str(), "{me}");
        let resp = login(from_env, "from the environment").await.unwrap();
        assert_eq!(resp.status(), 200);
        let resp = login(from_stdin, "from standard input").await.unwrap();
        assert_eq!(resp.status(), 200);
        let resp = login(email, "wrong").await.unwrap();
        assert_eq!(resp.status(), 401);
    });
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn an_added_account_logs_in_on_sqlite() {
    let path = std::env::temp_dir().join(format!("dx-add-account-{}.sqlite", std::process::id()));
    std::fs::remove_file(&path).ok();
    accounts_log_in(&format!("sqlite:{}?mode=rwc", path.display()));
    std::fs::remove_file(path).ok();
}

#[test]
fn an_added_account_logs_in_on_postgres() {
    let url = service_url("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
    let reachable = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            match DatabaseUrl::parse(&url) {
                Ok(db @ DatabaseUrl::Postgres(_)) => check_database(&db, CONNECT_CHECK_TIMEOUT)
                    .await
                    .map_err(|e| e.to_string()),
                _ => Err(format!("{url} is not a PostgreSQL URL")),
            }
        });
    if let Err(e) = reachable {
        assert!(
            !in_ci(),
            "CI=true: PostgreSQL must be reachable at DATABASE_URL: {e}"
        );
        eprintln!("skipping: {e}");
        return;
    }
    accounts_log_in(&url);
}

#[test]
fn add_account_needs_a_database_url() {
    for args in [
        &["--email", "a@b.test"][..],
        &["--email", "a@b.test", "--ephemeral-store"][..],
        &["--email", "a@b.test", "--profile", "development"][..],
    ] {
        let (code, _, stderr) = add_account(args, &[], "pw\n");
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains("DATABASE_URL"), "{args:?}: {stderr}");
    }
}
