//! The deployment under test: a URL given by `--target` or `DX_TARGET`, or the embedded
//! reference. Connecting fetches and validates the discovery document first.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use url::Url;

use crate::discovery::{DISCOVERY_PATH, Discovery, DiscoveryError};
use crate::embedded::{EmbeddedError, EmbeddedReference};
use crate::http::{HttpClient, RequestSpec, TransportError};

/// The environment variable naming a target URL.
pub const TARGET_ENV: &str = "DX_TARGET";

/// Why a target cannot be tested.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The URL is not an http(s) URL.
    #[error("invalid target URL `{url}`: {reason}")]
    BadUrl {
        /// What was given.
        url: String,
        /// Why.
        reason: String,
    },
    /// The embedded reference did not start.
    #[error(transparent)]
    Embedded(#[from] EmbeddedError),
    /// The target did not answer.
    #[error("target unreachable: {0}")]
    Unreachable(#[from] TransportError),
    /// The discovery document is missing.
    #[error(
        "{url}{DISCOVERY_PATH} answered HTTP {status}; a dx-www target must serve its discovery document there"
    )]
    NoDiscovery {
        /// The target.
        url: String,
        /// The status.
        status: u16,
    },
    /// The discovery document is invalid.
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
}

/// Which deployment to test.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// A running deployment.
    Url(String),
    /// The reference, in-process, with this configuration.
    Embedded(Box<dx_server::Config>),
}

impl TargetSpec {
    /// `explicit` (from `--target`) if given, else `DX_TARGET`, else the embedded reference.
    pub fn resolve(explicit: Option<&str>) -> Self {
        let from_env = std::env::var(TARGET_ENV)
            .ok()
            .filter(|v| !v.trim().is_empty());
        match explicit.map(str::to_owned).or(from_env) {
            Some(url) => Self::Url(url),
            None => Self::Embedded(Box::new(EmbeddedReference::default_config())),
        }
    }
}

/// What answered at a target URL.
#[derive(Debug)]
pub enum Reached {
    /// A target with a valid discovery document: every check can run.
    Described(Box<Target>),
    /// A server that answers but has no valid discovery document: only the checks that need
    /// none can run.
    Undescribed(Box<Bare>),
}

/// A server that answers but publishes no valid discovery document (`python3 -m
/// http.server`, a proxy's error page, a dx-www target behind a misrouted path). The suite
/// knows nothing of its limits, routes or profile, so it runs only what every HTTP server
/// can be asked (spec/conformance.md, "Targets without a discovery document").
#[derive(Debug)]
pub struct Bare {
    http: HttpClient,
    problem: TargetError,
    probes: Vec<crate::probes::UserRoute>,
}

impl Bare {
    /// The HTTP client (no rate-limit partition: the target published none).
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        self.http.base()
    }

    /// Why the discovery document is missing or unusable.
    pub fn problem(&self) -> &TargetError {
        &self.problem
    }

    /// Probes the deployment's own `routes` too (`--probe`, `--openapi`).
    pub fn with_probes(mut self, routes: Vec<crate::probes::UserRoute>) -> Self {
        self.probes = routes;
        self
    }

    /// The deployment's own routes the user named.
    pub fn probes(&self) -> &[crate::probes::UserRoute] {
        &self.probes
    }
}

/// A connected target: its base URL, HTTP client and validated discovery document.
#[derive(Debug, Clone)]
pub struct Target {
    http: HttpClient,
    discovery: Discovery,
    embedded: Option<Arc<EmbeddedReference>>,
    /// A client module given by the user, run instead of the one the target publishes.
    client: Option<(String, Arc<Vec<u8>>)>,
    /// The engine the client checks run the client in (`--client-runtime`).
    client_runtime: crate::client::ClientRuntime,
    /// The other instances of the same deployment (`--target URL --target URL`), which
    /// the cross-instance checks spread their connections over.
    others: Vec<Target>,
    /// The instance [`Target::next_instance`] answers next, shared by the clones of a target
    /// so that concurrent cases keep rotating as one load balancer would.
    turn: Arc<AtomicUsize>,
    /// The deployment's own routes the user named (`--probe`, `--openapi`).
    probes: Arc<Vec<crate::probes::UserRoute>>,
    /// Test accounts the deployment's operator created (`--account`).
    accounts: Arc<Vec<crate::accounts::Account>>,
    /// Their logins, shared by every check.
    logins: Arc<crate::accounts::LoginCache>,
}

impl Target {
    /// Starts or reaches the target and reads its discovery document; a target without a
    /// valid one is an error here (see [`Target::reach`] for one that still runs what it can).
    pub async fn connect(spec: TargetSpec) -> Result<Self, TargetError> {
        match Self::reach(spec).await? {
            Reached::Described(target) => Ok(*target),
            Reached::Undescribed(bare) => Err(bare.problem),
        }
    }

    /// Starts or reaches the target and reads its discovery document. A target that answers
    /// but has no valid discovery document is [`Reached::Undescribed`]: the suite still runs
    /// the checks that need none (spec/conformance.md, "Targets without a discovery
    /// document"). Only a target that does not answer at all is an error.
    pub async fn reach(spec: TargetSpec) -> Result<Reached, TargetError> {
        let (base, embedded) = match spec {
            TargetSpec::Url(url) => (parse_base(&url)?, None),
            TargetSpec::Embedded(config) => {
                let config = *config;
                let embedded =
                    tokio::task::spawn_blocking(move || EmbeddedReference::start(config))
                        .await
                        .map_err(|e| EmbeddedError(e.to_string()))??;
                (parse_base(&embedded.base_url())?, Some(Arc::new(embedded)))
            }
        };
        let http = HttpClient::new(base)?;
        let exchange = http.send(RequestSpec::get(DISCOVERY_PATH)).await?;
        if !exchange.status.is_success() {
            let problem = TargetError::NoDiscovery {
                url: http.base().as_str().trim_end_matches('/').to_owned(),
                status: exchange.status.as_u16(),
            };
            return Ok(Reached::Undescribed(Box::new(Bare {
                http,
                problem,
                probes: Vec::new(),
            })));
        }
        let discovery = match Discovery::parse(&exchange.body) {
            Ok(d) => d,
            Err(e) => {
                let problem = TargetError::Discovery(e);
                return Ok(Reached::Undescribed(Box::new(Bare {
                    http,
                    problem,
                    probes: Vec::new(),
                })));
            }
        };
        let http = match discovery
            .raw
            .pointer("/rate_limits/partition_header")
            .and_then(serde_json::Value::as_str)
        {
            Some(header) if discovery.is_conformance() => http.with_partition_header(header),
            _ => http,
        };
        let partitioned = http.partition_header().is_some();
        let http = http.with_budgets(Arc::new(crate::budget::Budgets::of(
            &discovery,
            partitioned,
        )));
        Ok(Reached::Described(Box::new(Self {
            http,
            discovery,
            embedded,
            client: None,
            client_runtime: crate::client::ClientRuntime::default(),
            others: Vec::new(),
            turn: Arc::new(AtomicUsize::new(0)),
            probes: Arc::new(Vec::new()),
            accounts: Arc::new(Vec::new()),
            logins: Arc::default(),
        })))
    }

    /// The same deployment reached through more instances: the checks that span
    /// instances (a message published on one reaching subscribers on another, a resume
    /// elsewhere, presence as the union) spread their connections over all of them.
    pub fn with_instances(mut self, others: Vec<Target>) -> Self {
        let budgets = self.http.budgets().clone();
        let ledger = self.http.ledger().clone();
        self.others = others
            .into_iter()
            .map(|mut other| {
                // One deployment, one budget (its instances count a client together) and one
                // record of the rules every response obeys.
                other.http = other
                    .http
                    .with_budgets(budgets.clone())
                    .with_ledger(ledger.clone());
                other
            })
            .collect();
        self
    }

    /// The same target, with every response it receives (on any of its instances) recorded
    /// in the rules' ledger as met by the check or scenario `id`
    /// ([`HttpClient::with_attribution`]): what lets checks and scenarios run at once and
    /// still be named rightly under a broken rule.
    pub fn attributed_to(&self, id: &str) -> Self {
        let mut target = self.clone();
        target.http = target.http.with_attribution(id);
        target.others = target.others.iter().map(|o| o.attributed_to(id)).collect();
        target
    }

    /// Every instance: this one first, then the others in the order given.
    pub fn instances(&self) -> Vec<&Target> {
        std::iter::once(self).chain(self.others.iter()).collect()
    }

    /// The instances in turn, as a round-robin load balancer hands out requests: this one,
    /// then each other one, then this one again. With one instance, always this one. The
    /// checks of state that instances share (accounts and revocations, rate-limit counts,
    /// CSRF sessions) send each request to the next instance, so a deployment whose
    /// instances do not share that state fails them (spec/conformance.md, "Several
    /// instances").
    pub fn next_instance(&self) -> &Target {
        let count = self.others.len() + 1;
        match self.turn.fetch_add(1, Ordering::Relaxed) % count {
            0 => self,
            i => &self.others[i - 1],
        }
    }

    /// Probes the deployment's own `routes` too (`--probe`, `--openapi`): Properties 8, 12
    /// and 26 send them malformed and hostile requests.
    pub fn with_probes(mut self, routes: Vec<crate::probes::UserRoute>) -> Self {
        self.probes = Arc::new(routes);
        self
    }

    /// The deployment's own routes the user named.
    pub fn probes(&self) -> &[crate::probes::UserRoute] {
        &self.probes
    }

    /// Logs in with `accounts` where a check needs a user and the target offers no open
    /// registration (`--account`); their passwords never reach a report.
    pub fn with_accounts(mut self, accounts: Vec<crate::accounts::Account>) -> Self {
        crate::accounts::keep_secret(&accounts);
        self.logins = Arc::new(crate::accounts::LoginCache::new(accounts.len()));
        self.accounts = Arc::new(accounts);
        self
    }

    /// The test accounts' logins, shared by every check of the run.
    pub fn logins(&self) -> &crate::accounts::LoginCache {
        &self.logins
    }

    /// The test accounts given.
    pub fn accounts(&self) -> &[crate::accounts::Account] {
        &self.accounts
    }

    /// Runs the client checks on `wasm` (read from `source`) instead of the client the
    /// target publishes (`--client`, `DX_CLIENT`).
    pub fn with_client(mut self, source: impl Into<String>, wasm: Vec<u8>) -> Self {
        self.client = Some((source.into(), Arc::new(wasm)));
        self
    }

    /// Runs the client checks in `runtime` (`--client-runtime`; wasmi unless given).
    pub fn with_client_runtime(mut self, runtime: crate::client::ClientRuntime) -> Self {
        self.client_runtime = runtime;
        self
    }

    /// The engine the client checks run the client in.
    pub fn client_runtime(&self) -> &crate::client::ClientRuntime {
        &self.client_runtime
    }

    /// The client module given with [`Target::with_client`], and where it came from.
    pub fn client_override(&self) -> Option<(&str, &[u8])> {
        self.client
            .as_ref()
            .map(|(source, wasm)| (source.as_str(), wasm.as_slice()))
    }

    /// The reference started in-process with `config` (e.g. another profile or a mutant).
    pub async fn embedded(config: dx_server::Config) -> Result<Self, TargetError> {
        Self::connect(TargetSpec::Embedded(Box::new(config))).await
    }

    /// `TargetSpec::resolve(None)` then connect: what `cargo test` uses. `DX_CLIENT`, when
    /// set, names a client `.wasm` to check instead of the one the target publishes.
    pub async fn from_env() -> Result<Self, TargetError> {
        let target = Self::connect(TargetSpec::resolve(None)).await?;
        match std::env::var("DX_CLIENT") {
            Ok(path) if !path.trim().is_empty() => {
                let wasm = std::fs::read(&path).map_err(|e| TargetError::BadUrl {
                    url: path.clone(),
                    reason: format!("DX_CLIENT cannot be read: {e}"),
                })?;
                Ok(target.with_client(path, wasm))
            }
            _ => Ok(target),
        }
    }

    /// The HTTP client.
    pub fn http(&self) -> &HttpClient {
        &self.http
    }

    /// The discovery document.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        self.http.base()
    }

    /// Sends raw bytes to the target, with a fresh rate-limit partition when the target
    /// publishes a partition header (as [`HttpClient::with_partition_header`] does), paced
    /// within the target's budgets like every other request ([`HttpClient::send`]). A
    /// transport error or a wait past `--max-wait` is the error.
    pub async fn send_raw(
        &self,
        request: &crate::raw::RawRequest,
        limit: std::time::Duration,
    ) -> Result<crate::raw::RawAnswer, crate::cases::CaseFailure> {
        use crate::budget::{Refusal, Ticket};
        use crate::cases::CaseFailure;
        let request = match self.http.partition_header() {
            Some(header) => request
                .clone()
                .with_header(header, &uuid::Uuid::new_v4().simple().to_string()),
            None => request.clone(),
        };
        let budgets = self.http.budgets();
        let transport = crate::clause::conformance::TRANSPORT.cite();
        let limited = |l: crate::budget::RateLimited| CaseFailure {
            not_verified: Some(Box::new(crate::cases::Unverified::RateLimited(l.clone()))),
            ..CaseFailure::plain(&transport, l.describe())
        };
        loop {
            let ticket = match request.path() {
                Some(path) => budgets.acquire(&path).await.map_err(limited)?,
                None => Ticket::unpaced(),
            };
            let answer = crate::raw::send_raw(self.base_url(), &request, limit)
                .await
                .map_err(|e| CaseFailure::plain(&transport, e))?;
            if let crate::raw::RawAnswer::Response(ex) = &answer {
                let refusal = budgets.observe(&ticket, ex.status, &ex.headers);
                if refusal != Refusal::Admitted {
                    budgets.wait_out(&refusal).await.map_err(limited)?;
                    continue;
                }
            }
            return Ok(answer);
        }
    }

    /// Whether this is the in-process reference.
    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }
}

fn parse_base(url: &str) -> Result<Url, TargetError> {
    let bad = |reason: &str| TargetError::BadUrl {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("the scheme must be http or https"));
    }
    if parsed.host_str().is_none() {
        return Err(bad("the URL has no host"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert!(parse_base("http://127.0.0.1:8080").is_ok());
        assert!(parse_base("https://staging.example.com/").is_ok());
        for bad in ["ftp://x", "not a url", "http://"] {
            assert!(
                matches!(parse_base(bad), Err(TargetError::BadUrl { .. })),
                "{bad}"
            );
        }
    }

    #[tokio::test]
    async fn unreachable_targets_are_reported() {
        let err = Target::connect(TargetSpec::Url("http://127.0.0.1:1".into()))
            .await
            .unwrap_err();
        assert!(matches!(err, TargetError::Unreachable(_)), "{err}");
    }
}
