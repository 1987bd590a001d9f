//! The `dx-reference` binary as a child process, its stderr read line by line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_dx-reference");

/// Every environment variable the binary reads, so a test sees only what it sets.
pub const SERVER_ENV: &[&str] = &[
    "DX_CONFIG",
    "DX_BIND",
    "DX_TLS_CERT",
    "DX_TLS_KEY",
    "DX_REDIRECT_HTTP",
    "DX_PROFILE",
    "DATABASE_URL",
    "DX_EPHEMERAL_STORE",
    "REDIS_URL",
    "DX_MAX_BODY_BYTES",
    "DX_REQUEST_TIMEOUT_MS",
    "DX_LOG_FORMAT",
    "DX_KEY_FILE",
    "DX_VERIFY_KEY_FILES",
    "DX_ACCESS_TTL_SECONDS",
    "DX_REFRESH_TTL_SECONDS",
    "DX_ALLOW_REGISTRATION",
    "DX_RATE_LIMIT_AUTH",
    "DX_RATE_LIMIT_API",
    "DX_RATE_LIMIT_STATIC",
    "DX_TRUSTED_PROXIES",
    "DX_RATE_LIMIT_STORE_FAILURE",
    "DX_CSRF_TTL_SECONDS",
    "DX_SECURE_COOKIES",
    "DX_HSTS_INCLUDE_SUBDOMAINS",
    "DX_DB_POOL_SIZE",
    "DX_DB_ACQUIRE_TIMEOUT_MS",
    "DX_QUERY_TIMEOUT_MS",
    "DX_METRICS",
    "DX_ACCOUNT_PASSWORD",
    "NO_COLOR",
    "RUST_LOG",
];

/// `dx-reference` with `args` and only the environment variables in `env` among those it reads.
pub fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args);
    for name in SERVER_ENV {
        command.env_remove(name);
    }
    command.envs(env.iter().copied());
    command
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `dx-reference`; killed when dropped.
pub struct Spawned {
    pub child: Child,
    lines: Receiver<String>,
}

impl Spawned {
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = command(args, env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The first line matching `pred` within `timeout`, with every line read until then.
    pub fn wait_for(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> (Option<String>, Vec<String>) {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = pred(&line);
                    seen.push(line.clone());
                    if hit {
                        return (Some(line), seen);
                    }
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return (None, seen);
                }
            }
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
