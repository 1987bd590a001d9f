//! Headless Chromium over WebDriver (chromedriver), shared by the browser tests
//! (`tests/browser.rs`) and the first-render bench (`benches/first_render.rs`), which include
//! this file by path: the system's `chromium` and `chromedriver`, never a downloaded browser.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

/// `name` on PATH.
pub fn tool(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

/// A chromedriver process on a free loopback port, ended when dropped.
pub struct WebDriver {
    child: Child,
    url: String,
    chromium: PathBuf,
}

impl WebDriver {
    /// Starts chromedriver; `None` when `chromium` or `chromedriver` is not on PATH.
    pub fn start() -> Option<Self> {
        let (chromium, chromedriver) = (tool("chromium")?, tool("chromedriver")?);
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        Some(Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
        })
    }

    /// A headless browser with `user_agent`, its profile in `profile` (fresh: nothing cached)
    /// and a `width` × 1200 window; tries for `steps` × 50 ms while chromedriver starts.
    pub async fn session(
        &self,
        user_agent: &str,
        profile: &Path,
        width: u32,
        steps: usize,
    ) -> Client {
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": self.chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage", format!("--window-size={width},1200"),
                    format!("--user-agent={user_agent}"),
                    format!("--user-data-dir={}", profile.display()),
                ],
            }
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object literal")
        };
        let mut last = None;
        for _ in 0..steps {
            match ClientBuilder::native()
                .capabilities(capabilities.clone())
                .connect(&self.url)
                .await
            {
                Ok(client) => return client,
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no WebDriver session: {last:?}");
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
