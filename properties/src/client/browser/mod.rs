//! Chromium as the suite's client runtime (`dx-conformance run --client-runtime chromium`):
//! the target's client runs in Chromium's own WebAssembly engine, through the same host
//! imports as in wasmi (`worker.js` records each import call as the [`MockHost`] would and the
//! suite replays the records into a [`MockHost`]), so every client check judges the same
//! host operations whichever engine ran the client.
//!
//! Headless Chromium (the system's, never a downloaded one) opens a page served by the suite
//! on a loopback port. The page keeps one WebSocket to the suite, compiles each module once,
//! and runs each client instance in a worker of its own: a call that does not return within
//! [`CALL_TIME_LIMIT`] ends its worker, as fuel ends a call in wasmi.
//!
//! [`MockHost`]: crate::client::MockHost

mod instance;
pub mod memory_cap;
mod server;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Map, Value, json};

pub use instance::BrowserInstance;

use crate::client::runtime::{ClientError, ClientInstance, ClientModule, MEMORY_CAP};

/// How long one export call may run in Chromium before its worker is ended.
pub const CALL_TIME_LIMIT: Duration = Duration::from_secs(5);
/// How long Chromium may take to start and open the suite's page.
const START_LIMIT: Duration = Duration::from_secs(30);
/// How long compiling a module or starting a worker may take.
const SETUP_LIMIT: Duration = Duration::from_secs(30);
/// Runs `$0 "$@"` (Chromium) until it ends or the shell's stdin closes, then ends it; the
/// shell's status is Chromium's.
const WATCHDOG: &str = r#"exec 3<&0; "$0" "$@" 3<&- </dev/null & pid=$!; (cat <&3 >/dev/null; kill "$pid" 2>/dev/null) & exec 3<&-; wait "$pid""#;
/// The names the browser is looked for under on `PATH`, first found first.
const BROWSER_NAMES: [&str; 4] = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// Why Chromium cannot serve as the client runtime.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// No browser was given and none is on `PATH`.
    #[error(
        "no Chromium found: give its path with --chromium or DX_CHROMIUM, or install it \
         (Debian: apt-get install chromium)"
    )]
    NotFound,
    /// The browser could not be started or asked its version.
    #[error("{path} could not be started: {reason}")]
    Start {
        /// The binary.
        path: String,
        /// Why.
        reason: String,
    },
    /// It started but never opened the suite's page.
    #[error("{path} did not open the suite's page within {seconds} s{detail}")]
    NoPage {
        /// The binary.
        path: String,
        /// The limit.
        seconds: u64,
        /// What it said, if it ended.
        detail: String,
    },
    /// The loopback server for the page could not start.
    #[error("the suite's page could not be served: {0}")]
    Serve(String),
}

/// Why a request to the page got no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LinkError {
    /// The page did not answer within the limit.
    TimedOut,
    /// Chromium or its page went away.
    Closed,
}

/// The requests waiting for the page's answers, by id.
type Pending = Mutex<HashMap<u64, std::sync::mpsc::Sender<Value>>>;

/// The suite's end of the page's WebSocket.
#[derive(Debug)]
pub(crate) struct Link {
    outgoing: tokio::sync::mpsc::UnboundedSender<String>,
    pending: Pending,
    next_id: AtomicU64,
}

impl Link {
    /// Sends `request` (an object) and waits for the answer carrying its id.
    pub(crate) fn ask(
        &self,
        mut request: Map<String, Value>,
        limit: Duration,
    ) -> Result<Value, LinkError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        request.insert("id".into(), json!(id));
        let (tx, rx) = std::sync::mpsc::channel();
        lock(&self.pending).insert(id, tx);
        if self
            .outgoing
            .send(Value::Object(request).to_string())
            .is_err()
        {
            lock(&self.pending).remove(&id);
            return Err(LinkError::Closed);
        }
        let answer = rx.recv_timeout(limit);
        lock(&self.pending).remove(&id);
        answer.map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => LinkError::TimedOut,
            std::sync::mpsc::RecvTimeoutError::Disconnected => LinkError::Closed,
        })
    }

    /// Sends `request` without waiting for its answer.
    pub(crate) fn tell(&self, mut request: Map<String, Value>) {
        request.insert(
            "id".into(),
            json!(self.next_id.fetch_add(1, Ordering::Relaxed)),
        );
        // The page being gone is no news to a request nobody waits for.
        let _ = self.outgoing.send(Value::Object(request).to_string());
    }

    /// Delivers an answer from the page to whoever waits for it.
    pub(crate) fn answered(&self, answer: Value) {
        let Some(id) = answer.get("id").and_then(Value::as_u64) else {
            return;
        };
        if let Some(waiting) = lock(&self.pending).remove(&id) {
            let _ = waiting.send(answer);
        }
    }

    /// The page went away: every waiting request learns it.
    pub(crate) fn closed(&self) {
        lock(&self.pending).clear();
    }
}

/// A mutex's data, whether or not a thread panicked holding it (what is kept here is a map
/// of channels, consistent at every step).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Headless Chromium with the suite's page open: one per run, shared by every check.
#[derive(Debug)]
pub struct Chromium {
    link: Arc<Link>,
    version: String,
    compiled: Mutex<HashSet<u64>>,
    next_worker: AtomicU64,
    /// The watchdog shell running Chromium.
    child: Mutex<Child>,
    /// Its stdin: closing it ends Chromium.
    lifeline: Mutex<Option<std::process::ChildStdin>>,
    profile: PathBuf,
    server: server::PageServer,
}

impl Chromium {
    /// Finds the browser (`binary`, else `DX_CHROMIUM`, else `PATH`), serves the suite's page
    /// on a loopback port and opens it headless.
    pub fn launch(binary: Option<&Path>) -> Result<Arc<Self>, BrowserError> {
        let path = find(binary)?;
        let shown = path.display().to_string();
        let version = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BrowserError::Start {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
        let token = uuid::Uuid::new_v4().simple().to_string();
        let (outgoing, to_page) = tokio::sync::mpsc::unbounded_channel();
        let link = Arc::new(Link {
            outgoing,
            pending: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        let (opened_tx, opened) = std::sync::mpsc::channel();
        let server = server::PageServer::start(token.clone(), link.clone(), to_page, opened_tx)
            .map_err(|e| BrowserError::Serve(e.to_string()))?;
        let profile = std::env::temp_dir().join(format!("dx-conformance-chromium-{token}"));
        let log = std::fs::create_dir_all(&profile)
            .and_then(|()| std::fs::File::create(profile.join("chromium.log")))
            .map_err(|e| BrowserError::Start {
                path: shown.clone(),
                reason: format!("its profile directory: {e}"),
            })?;
        // Chromium runs under a watchdog shell that ends it when the suite's end of its stdin
        // closes: when the suite drops it, and when the suite itself ends in any way (a
        // signal, a test binary exiting with the browser in a static), so no browser outlives
        // its suite.
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&path)
            .args([
                "--headless=new",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--mute-audio",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("http://{}/?token={token}", server.address()))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log);
        if running_as_root() {
            // Chromium's sandbox refuses to run as root; the page it opens is the suite's own.
            command.arg("--no-sandbox");
        }
        let mut child = command.spawn().map_err(|e| BrowserError::Start {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let lifeline = child.stdin.take();
        let chromium = Arc::new(Self {
            link,
            version,
            compiled: Mutex::new(HashSet::new()),
            next_worker: AtomicU64::new(1),
            child: Mutex::new(child),
            lifeline: Mutex::new(lifeline),
            profile,
            server,
        });
        chromium.wait_for_page(&opened, &shown)?;
        Ok(chromium)
    }

    fn wait_for_page(
        &self,
        opened: &std::sync::mpsc::Receiver<String>,
        shown: &str,
    ) -> Result<(), BrowserError> {
        let started = Instant::now();
        while started.elapsed() < START_LIMIT {
            if opened.recv_timeout(Duration::from_millis(100)).is_ok() {
                return Ok(());
            }
            if let Ok(Some(status)) = lock(&self.child).try_wait() {
                return Err(BrowserError::NoPage {
                    path: shown.to_owned(),
                    seconds: START_LIMIT.as_secs(),
                    detail: format!(": it ended ({status}); {}", self.log_tail()),
                });
            }
        }
        Err(BrowserError::NoPage {
            path: shown.to_owned(),
            seconds: START_LIMIT.as_secs(),
            detail: String::new(),
        })
    }

    /// The last lines Chromium wrote, for an error.
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.profile.join("chromium.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().rev().take(5).collect();
        lines.into_iter().rev().collect::<Vec<_>>().join(" | ")
    }

    /// What `--version` said, e.g. "Chromium 156.0.8078.73 built on Debian".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A fresh instance of `module` in a worker of its own, after calling its `init`.
    pub fn instantiate(
        self: &Arc<Self>,
        module: &ClientModule,
    ) -> Result<ClientInstance, ClientError> {
        module.check_abi()?;
        self.compile(module)?;
        let worker = self.next_worker.fetch_add(1, Ordering::Relaxed);
        let mut client =
            ClientInstance::from(BrowserInstance::start(self.clone(), module.id(), worker)?);
        match client.init() {
            crate::client::Call::Returned(0) => Ok(client),
            other => Err(ClientError::Instantiate(format!(
                "init {}",
                other.describe()
            ))),
        }
    }

    /// Compiles `module` in the page once (with the suite's memory cap written in).
    fn compile(&self, module: &ClientModule) -> Result<(), ClientError> {
        if lock(&self.compiled).contains(&module.id()) {
            return Ok(());
        }
        let capped = memory_cap::cap_memory(module.bytes(), MEMORY_CAP)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let mut request = Map::new();
        request.insert("op".into(), json!("compile"));
        request.insert("module".into(), json!(module.id().to_string()));
        request.insert(
            "wasm".into(),
            json!(base64::engine::general_purpose::STANDARD.encode(capped)),
        );
        let answer = self
            .link
            .ask(request, SETUP_LIMIT)
            .map_err(|e| ClientError::Runtime(self.unanswered("compiling the module", &e)))?;
        if let Some(error) = answer.get("error").and_then(Value::as_str) {
            return Err(ClientError::Invalid(format!("Chromium: {error}")));
        }
        lock(&self.compiled).insert(module.id());
        Ok(())
    }

    /// Ends the browser now. Calls of its instances then report the runtime lost
    /// ([`Call::Lost`](crate::client::Call::Lost)) and new instances fail with
    /// [`ClientError::Runtime`]: what a run sees when Chromium crashes.
    pub fn close(&self) {
        lock(&self.lifeline).take();
    }

    pub(crate) fn link(&self) -> &Link {
        &self.link
    }

    /// Why a request got no answer, in words.
    pub(crate) fn unanswered(&self, what: &str, error: &LinkError) -> String {
        match error {
            LinkError::TimedOut => format!("Chromium did not finish {what} within the limit"),
            LinkError::Closed => format!(
                "Chromium went away while {what}: {}",
                match lock(&self.child).try_wait() {
                    Ok(Some(status)) => format!("it ended ({status}); {}", self.log_tail()),
                    _ => "its page closed".to_owned(),
                }
            ),
        }
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        lock(&self.lifeline).take();
        let mut child = lock(&self.child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.server.stop();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The browser binary: `given`, else `DX_CHROMIUM`, else the first of [`BROWSER_NAMES`] on
/// `PATH`.
fn find(given: Option<&Path>) -> Result<PathBuf, BrowserError> {
    if let Some(path) = given {
        return Ok(path.to_owned());
    }
    if let Ok(path) = std::env::var("DX_CHROMIUM")
        && !path.trim().is_empty()
    {
        return Ok(PathBuf::from(path));
    }
    let dirs = std::env::var_os("PATH").unwrap_or_default();
    BROWSER_NAMES
        .iter()
        .flat_map(|name| std::env::split_paths(&dirs).map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
        .ok_or(BrowserError::NotFound)
}

/// Whether this process runs as root (Chromium's sandbox will not).
fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().next().map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}
