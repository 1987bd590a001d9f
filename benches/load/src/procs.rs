//! The processes the driver runs or disturbs: `dx-reference` instances as children,
//! PostgreSQL and Redis restarted by their operators' commands, and the samples of a
//! server's memory and descriptors.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dx_bench_procs::{free_port, open_fds, rss_kib};
use serde_json::Value;
use tokio::process::{Child, Command};

/// A `dx-reference` child process, killed when dropped.
pub struct Server {
    pub label: String,
    pub child: Child,
    pub pid: u32,
    pub port: u16,
    pub discovery: Value,
    pub log: PathBuf,
}

impl Server {
    /// Starts `reference` with `args` on a free port and waits for its discovery document.
    pub async fn start(
        reference: &Path,
        label: &str,
        args: &[String],
        logs: &Path,
        client: &reqwest::Client,
    ) -> Result<Self> {
        let port = free_port()?;
        let log = logs.join(format!("{label}.log"));
        let out = File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let err = out.try_clone().context("cannot share the log file")?;
        let mut command = Command::new(reference);
        command
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {label}: {command:?}"))?;
        let pid = child.id().context("a child without a pid")?;
        let mut server = Self {
            label: label.to_owned(),
            child,
            pid,
            port,
            discovery: Value::Null,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = server.child.try_wait().context("cannot poll a child")? {
                bail!(
                    "{label} exited with {status} before answering; see {}",
                    server.log.display()
                );
            }
            let url = format!("http://127.0.0.1:{port}/.well-known/dx-www");
            if let Ok(answer) = client.get(&url).send().await
                && answer.status().as_u16() == 200
                && let Ok(bytes) = answer.bytes().await
                && let Ok(doc) = serde_json::from_slice::<Value>(&bytes)
            {
                server.discovery = doc;
                return Ok(server);
            }
            if Instant::now() > deadline {
                bail!(
                    "{label} did not answer within 60 s; see {}",
                    server.log.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A string member of the discovery document, by JSON pointer.
    pub fn member(&self, pointer: &str) -> Result<String> {
        self.discovery
            .pointer(pointer)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("{}: no {pointer} in the discovery document", self.label))
    }

    /// Sends `signal` (`-TERM`, `-KILL`) to the process.
    pub async fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .arg(signal)
            .arg(self.pid.to_string())
            .status()
            .await
            .context("cannot run kill")?;
        if !status.success() {
            bail!("kill {signal} {} failed: {status}", self.pid);
        }
        Ok(())
    }
}

/// Resident memory (KiB) and open descriptors of a process.
pub fn sample(pid: u32) -> Option<(u64, u64)> {
    Some((rss_kib(pid)?, open_fds(pid)?))
}

/// Runs a shell command of the operator's (the services' restarts), failing on a nonzero
/// exit.
pub async fn shell(line: &str) -> Result<()> {
    let output = Command::new("sh")
        .arg("-c")
        .arg(line)
        .stdin(Stdio::null())
        .output()
        .await
        .with_context(|| format!("cannot run `{line}`"))?;
    if !output.status.success() {
        bail!(
            "`{line}` exited with {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
