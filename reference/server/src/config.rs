//! Server configuration from command-line flags, environment variables and an optional TOML
//! file, in that order of precedence, validated before anything starts.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[cfg(feature = "mutants")]
use crate::mutants::Mutant;
use crate::mutants::Mutations;
use crate::profile::Profile;
use crate::tls::TlsFiles;

/// The smallest body limit accepted: smaller would reject ordinary error reports.
pub const MIN_BODY_BYTES: usize = 1024;
/// The largest body limit accepted (64 MiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why a configuration is unusable. Messages name the setting and where its value came from
/// (flag, environment variable or config file), and never echo secrets.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why (the operating system's reason).
        reason: String,
    },
    /// The config file is not valid TOML for this schema.
    #[error("invalid config file {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A setting has an unusable value.
    #[error("invalid setting `{key}`{}: {reason}", origin_suffix(.origin.as_ref()))]
    Invalid {
        /// The setting.
        key: &'static str,
        /// Where the value came from, when known.
        origin: Option<Origin>,
        /// Why.
        reason: String,
    },
    /// No database was named where one is required: the production profile would otherwise
    /// keep every account in memory and lose it at restart, and `migrate` would migrate a
    /// database that vanishes when it exits.
    #[error(
        "{what} needs a database: pass --database-url URL or set DATABASE_URL (or `database_url` in the config file){}",
        if *.ephemeral_allowed {
            "; to run on an in-memory store whose accounts and items are lost at restart, pass --ephemeral-store (DX_EPHEMERAL_STORE=true)"
        } else {
            ""
        }
    )]
    DatabaseRequired {
        /// What needs it: "the production profile", "dx-reference migrate".
        what: &'static str,
        /// Whether `--ephemeral-store` is a way out.
        ephemeral_allowed: bool,
    },
}

impl ConfigError {
    /// An invalid setting whose origin the caller does not know ([`Config::resolve`] fills it).
    pub fn invalid(key: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key,
            origin: None,
            reason: reason.into(),
        }
    }

    /// Fills in where an invalid setting came from, if not known yet.
    fn locate(self, origin_of: impl Fn(&str) -> Option<Origin>) -> Self {
        match self {
            Self::Invalid {
                key,
                origin: None,
                reason,
            } => Self::Invalid {
                key,
                origin: origin_of(key),
                reason,
            },
            other => other,
        }
    }
}

fn origin_suffix(origin: Option<&Origin>) -> String {
    origin.map(|o| format!(" (from {o})")).unwrap_or_default()
}

/// Where a setting's value came from, so an error names what the operator actually wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, e.g. `--max-body-bytes`.
    Flag(String),
    /// An environment variable, e.g. `DX_MAX_BODY_BYTES`.
    Env(String),
    /// A key of the config file.
    File {
        /// The key.
        key: String,
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Flag(flag) => write!(f, "{flag}"),
            Self::Env(name) => write!(f, "the environment variable {name}"),
            Self::File { key, path } => write!(f, "`{key}` in {}", path.display()),
        }
    }
}

/// The origin of each setting given by flag or environment variable, read from clap's
/// matches (`ArgMatches::value_source`): [`ServerArgs`] alone cannot tell `--bind` from
/// `DX_BIND`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(HashMap<String, Origin>);

impl Origins {
    /// The origins of the [`ServerArgs`] settings in `matches` (the matches of the command
    /// that flattens them).
    pub fn from_matches(matches: &clap::ArgMatches) -> Self {
        use clap::Args as _;
        use clap::parser::ValueSource;
        let command = ServerArgs::augment_args(clap::Command::new("dx-reference"));
        let mut origins = HashMap::new();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            let source = match matches.try_contains_id(id) {
                Ok(_) => matches.value_source(id),
                Err(_) => None,
            };
            let origin = match source {
                Some(ValueSource::CommandLine) => {
                    arg.get_long().map(|l| Origin::Flag(format!("--{l}")))
                }
                Some(ValueSource::EnvVariable) => arg
                    .get_env()
                    .map(|name| Origin::Env(name.to_string_lossy().into_owned())),
                _ => None,
            };
            if let Some(origin) = origin {
                origins.insert(id.to_owned(), origin);
            }
        }
        Self(origins)
    }

    /// Where the flag or environment variable of setting `key` came from, if either set it.
    pub fn get(&self, key: &str) -> Option<&Origin> {
        self.0.get(key)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Command-line flags; each may also come from its environment variable. The defaults are
/// applied in [`Config::resolve`], after the config file, so they are written in the help
/// text rather than given to clap (a clap default would hide the file's value).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// TOML config file; flags and environment variables override it [default: none]
    #[arg(long, env = "DX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on: HTTPS with --tls-cert, else plain HTTP [default: 127.0.0.1:8080]
    #[arg(long, env = "DX_BIND", value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// TLS certificate chain (PEM, leaf first): serve HTTPS, with --tls-key; both files are
    /// re-read on SIGHUP [default: none; plain HTTP]
    #[arg(long, env = "DX_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1) [default: none]
    #[arg(long, env = "DX_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Also listen on this address for plain HTTP that only redirects (301) to HTTPS; needs
    /// --tls-cert [default: none]
    #[arg(long, env = "DX_REDIRECT_HTTP", value_name = "ADDR")]
    pub redirect_http: Option<SocketAddr>,
    /// Deployment profile [default: production]
    #[arg(long, env = "DX_PROFILE", value_enum)]
    pub profile: Option<Profile>,
    /// Database URL (postgres://… or sqlite:…); required in production unless
    /// --ephemeral-store [default: none; in-memory SQLite in development and conformance]
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Run production on an in-memory SQLite store: every account and item is LOST when the
    /// process stops (for trials only; excludes a database URL) [default: false]
    #[arg(long, env = "DX_EPHEMERAL_STORE")]
    pub ephemeral_store: bool,
    /// Redis URL for shared state across instances [default: none]
    #[arg(long, env = "REDIS_URL", value_name = "URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Largest accepted request body, in bytes [default: 1048576]
    #[arg(long, env = "DX_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Longest a request may take, in milliseconds [default: 30000]
    #[arg(long, env = "DX_REQUEST_TIMEOUT_MS", value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// Log format; text is coloured only on a terminal and without NO_COLOR [default: text]
    #[arg(long, env = "DX_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Ed25519 signing key (PKCS#8 PEM or 64 hex digits) [default: none; an ephemeral key,
    /// whose tokens die with the process]
    #[arg(long, env = "DX_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Retired public keys whose tokens still verify (PEM SPKI or 64 hex digits), so rotating
    /// the signing key logs nobody out; repeat the flag, or separate files with commas
    /// [default: none]
    #[arg(
        long = "verify-key-file",
        env = "DX_VERIFY_KEY_FILES",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub verify_key_files: Vec<PathBuf>,
    /// Access token lifetime, in seconds [default: 900; 2 in conformance]
    #[arg(long, env = "DX_ACCESS_TTL_SECONDS", value_name = "SECONDS")]
    pub access_ttl_seconds: Option<u32>,
    /// Refresh token lifetime, in seconds [default: 1209600 (14 days); 30 in conformance]
    #[arg(long, env = "DX_REFRESH_TTL_SECONDS", value_name = "SECONDS")]
    pub refresh_ttl_seconds: Option<u32>,
    /// Let anyone create an account at the register endpoint [default: false; always on in
    /// conformance]
    #[arg(long, env = "DX_ALLOW_REGISTRATION")]
    pub allow_registration: bool,
    /// Limit of the auth category, as MAX/WINDOW_SECONDS [default: 10/60; 5/2 in
    /// conformance]
    #[arg(long, env = "DX_RATE_LIMIT_AUTH", value_name = "MAX/SECONDS")]
    pub rate_limit_auth: Option<LimitSpec>,
    /// Limit of the api category [default: 300/60; 10/2 in conformance]
    #[arg(long, env = "DX_RATE_LIMIT_API", value_name = "MAX/SECONDS")]
    pub rate_limit_api: Option<LimitSpec>,
    /// Limit of the static category [default: 1000/60; 20/2 in conformance]
    #[arg(long, env = "DX_RATE_LIMIT_STATIC", value_name = "MAX/SECONDS")]
    pub rate_limit_static: Option<LimitSpec>,
    /// Proxies (CIDR networks) whose Forwarded / X-Forwarded-For headers name the client
    /// [default: none]
    #[arg(
        long = "trusted-proxy",
        env = "DX_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What the rate limiter does when its store fails: open (let through) or closed (503)
    /// [default: open]
    #[arg(long, env = "DX_RATE_LIMIT_STORE_FAILURE", value_enum)]
    pub rate_limit_store_failure: Option<FailMode>,
    /// CSRF token lifetime, in seconds [default: 3600; 2 in conformance]
    #[arg(long, env = "DX_CSRF_TTL_SECONDS", value_name = "SECONDS")]
    pub csrf_ttl_seconds: Option<u32>,
    /// Whether cookies are Secure with the __Host- prefix [default: true in production,
    /// false otherwise]
    #[arg(long, env = "DX_SECURE_COOKIES", value_name = "BOOL")]
    pub secure_cookies: Option<bool>,
    /// Whether HSTS covers subdomains [default: true in production, false otherwise]
    #[arg(long, env = "DX_HSTS_INCLUDE_SUBDOMAINS", value_name = "BOOL")]
    pub hsts_include_subdomains: Option<bool>,
    /// Most database connections open at once (SQLite always uses one) [default: 10]
    #[arg(long, env = "DX_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    /// How long a query waits for a free connection before the answer is 503, in
    /// milliseconds [default: 2000]
    #[arg(long, env = "DX_DB_ACQUIRE_TIMEOUT_MS", value_name = "MS")]
    pub db_acquire_timeout_ms: Option<u64>,
    /// How long one query may run before the answer is 504, in milliseconds [default: 5000;
    /// 1000 in conformance]
    #[arg(long, env = "DX_QUERY_TIMEOUT_MS", value_name = "MS")]
    pub query_timeout_ms: Option<u64>,
    /// Whether `GET /metrics` answers; in production it belongs behind the operator's
    /// network [default: false in production, true otherwise]
    #[arg(long, env = "DX_METRICS", value_name = "BOOL")]
    pub metrics: Option<bool>,
    /// A regular expression (case-insensitive) naming more crawlers, which get server-rendered
    /// pages; repeat the flag [default: none; the isbot list alone]
    #[arg(
        long = "crawler-pattern",
        env = "DX_CRAWLER_PATTERNS",
        value_name = "REGEX"
    )]
    pub crawler_patterns: Vec<String>,
    /// A pattern of the isbot list to drop, as the list spells it, so those user agents get
    /// the shell; repeat the flag [default: none]
    #[arg(
        long = "not-crawler-pattern",
        env = "DX_NOT_CRAWLER_PATTERNS",
        value_name = "PATTERN"
    )]
    pub not_crawler_patterns: Vec<String>,
    /// Start with a deliberately broken behaviour (test builds only) [default: none]
    #[cfg(feature = "mutants")]
    #[arg(long, env = "DX_MUTANT", value_enum)]
    pub mutant: Option<Mutant>,
    /// Where each flag's value came from (filled from clap's matches by the binary), so
    /// errors name the environment variable or the flag the operator set.
    #[arg(skip)]
    pub origins: Origins,
}

/// The optional TOML file; same settings as the flags, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    redirect_http: Option<SocketAddr>,
    profile: Option<Profile>,
    database_url: Option<String>,
    ephemeral_store: Option<bool>,
    redis_url: Option<String>,
    max_body_bytes: Option<usize>,
    request_timeout_ms: Option<u64>,
    log_format: Option<LogFormat>,
    key_file: Option<PathBuf>,
    #[serde(default)]
    verify_key_files: Vec<PathBuf>,
    access_ttl_seconds: Option<u32>,
    refresh_ttl_seconds: Option<u32>,
    allow_registration: Option<bool>,
    rate_limit_auth: Option<LimitSpec>,
    rate_limit_api: Option<LimitSpec>,
    rate_limit_static: Option<LimitSpec>,
    #[serde(default)]
    trusted_proxies: Vec<ipnet::IpNet>,
    rate_limit_store_failure: Option<FailMode>,
    csrf_ttl_seconds: Option<u32>,
    secure_cookies: Option<bool>,
    hsts_include_subdomains: Option<bool>,
    db_pool_size: Option<u32>,
    db_acquire_timeout_ms: Option<u64>,
    query_timeout_ms: Option<u64>,
    metrics: Option<bool>,
    #[serde(default)]
    crawler_patterns: Vec<String>,
    #[serde(default)]
    not_crawler_patterns: Vec<String>,
}

/// A rate limit written `MAX/WINDOW_SECONDS`, e.g. `100/60`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSpec {
    /// Requests allowed in any window.
    pub max_requests: u32,
    /// The window, in seconds.
    pub window_seconds: u64,
}

impl<'de> Deserialize<'de> for LimitSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl std::str::FromStr for LimitSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (max, window) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} is not MAX/WINDOW_SECONDS"))?;
        let max_requests: u32 = max
            .trim()
            .parse()
            .map_err(|_| format!("{max:?} is not a request count"))?;
        let window_seconds: u64 = window
            .trim()
            .parse()
            .map_err(|_| format!("{window:?} is not a number of seconds"))?;
        if max_requests == 0 || !(1..=86_400).contains(&window_seconds) {
            return Err("MAX must be at least 1 and WINDOW_SECONDS from 1 to 86400".to_owned());
        }
        Ok(Self {
            max_requests,
            window_seconds,
        })
    }
}

/// What the rate limiter does when its store fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FailMode {
    /// Let requests through.
    #[default]
    Open,
    /// Refuse them with 503.
    Closed,
}

/// Security middleware settings (spec/security.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecuritySettings {
    /// The auth, api and static limits.
    pub limits: [LimitSpec; 3],
    /// Proxies whose forwarding headers count.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What the limiter does when its store fails.
    pub store_failure: FailMode,
    /// CSRF token lifetime.
    pub csrf_ttl_seconds: u32,
    /// Secure, `__Host-` cookies.
    pub secure_cookies: bool,
    /// HSTS `includeSubDomains`.
    pub hsts_include_subdomains: bool,
}

impl SecuritySettings {
    /// The defaults of `profile`: short windows and TTLs in conformance (spec/profiles.md).
    pub fn for_profile(profile: Profile) -> Self {
        let spec = |max_requests, window_seconds| LimitSpec {
            max_requests,
            window_seconds,
        };
        let (limits, csrf_ttl_seconds) = match profile {
            Profile::Conformance => ([spec(5, 2), spec(10, 2), spec(20, 2)], 2),
            Profile::Production | Profile::Development => {
                ([spec(10, 60), spec(300, 60), spec(1000, 60)], 3600)
            }
        };
        Self {
            limits,
            trusted_proxies: Vec::new(),
            store_failure: FailMode::Open,
            csrf_ttl_seconds,
            secure_cookies: profile == Profile::Production,
            hsts_include_subdomains: profile == Profile::Production,
        }
    }
}

/// Query module settings (spec/query.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuerySettings {
    /// Most connections open at once.
    pub pool_size: u32,
    /// How long a query waits for a connection.
    pub acquire_timeout: Duration,
    /// How long a query may run.
    pub query_timeout: Duration,
    /// Whether `GET /metrics` answers.
    pub metrics: bool,
}

impl QuerySettings {
    /// The defaults of `profile`: a one-second query timeout in conformance, so a provoked
    /// timeout is seen quickly; metrics everywhere but production.
    pub fn for_profile(profile: Profile) -> Self {
        Self {
            pool_size: 10,
            acquire_timeout: Duration::from_secs(2),
            query_timeout: Duration::from_millis(match profile {
                Profile::Conformance => 1_000,
                Profile::Production | Profile::Development => 5_000,
            }),
            metrics: profile != Profile::Production,
        }
    }

    /// The pool configuration these settings make, with `mutations` (test builds only).
    pub fn pool(&self, mutations: dx_query::QueryMutations) -> dx_query::PoolConfig {
        dx_query::PoolConfig {
            max_connections: self.pool_size,
            acquire_timeout: self.acquire_timeout,
            query_timeout: self.query_timeout,
            mutations,
        }
    }
}

/// Which database back end a URL selects. Its `Debug` shows the URL without its password,
/// so a logged configuration leaks nothing.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// PostgreSQL through sqlx.
    Postgres(String),
    /// SQLite through sqlx (the embedded default is in-memory).
    Sqlite(String),
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self {
            Self::Postgres(_) => "Postgres",
            Self::Sqlite(_) => "Sqlite",
        };
        f.debug_tuple(name).field(&self.redacted()).finish()
    }
}

impl DatabaseUrl {
    /// The embedded default.
    pub fn embedded() -> Self {
        Self::Sqlite("sqlite::memory:".to_owned())
    }

    /// Classifies `url` by its scheme.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(url.to_owned()))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(url.to_owned()))
        } else {
            Err(ConfigError::invalid(
                "database_url",
                "expected a postgres://, postgresql:// or sqlite: URL".to_owned(),
            ))
        }
    }

    /// The back end's name.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// The full URL (secret: never log or show it).
    pub fn expose(&self) -> &str {
        match self {
            Self::Postgres(u) | Self::Sqlite(u) => u,
        }
    }

    /// The URL with its password (in the user information or a `password=` parameter)
    /// replaced by `***`: what messages and logs may show.
    pub fn redacted(&self) -> String {
        redact_url(self.expose())
    }

    /// Whether the database lives in the process's memory and dies with it.
    pub fn is_in_memory(&self) -> bool {
        match self {
            Self::Sqlite(u) => u.contains(":memory:") || u.contains("mode=memory"),
            Self::Postgres(_) => false,
        }
    }
}

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// The certificate and key when serving HTTPS.
    pub tls: Option<TlsFiles>,
    /// The plain-HTTP address that redirects to HTTPS, if any.
    pub redirect_http: Option<SocketAddr>,
    /// Deployment profile.
    pub profile: Profile,
    /// Database.
    pub database: DatabaseUrl,
    /// Redis, if configured.
    pub redis_url: Option<String>,
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// Log format.
    pub log_format: LogFormat,
    /// The Ed25519 signing key file, if any.
    pub key_file: Option<PathBuf>,
    /// Retired public keys still accepted for verification.
    pub verify_key_files: Vec<PathBuf>,
    /// Token lifetimes and registration.
    pub auth: AuthSettings,
    /// Security headers, rate limits and CSRF.
    pub security: SecuritySettings,
    /// The query module.
    pub query: QuerySettings,
    /// Which user agents get server-rendered pages (`spec/ssr.md`).
    pub crawlers: dx_ssr::CrawlerConfig,
    /// Deliberately broken behaviour, test builds only.
    pub mutations: Mutations,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: None,
            redirect_http: None,
            profile: Profile::Production,
            database: DatabaseUrl::embedded(),
            redis_url: None,
            max_body_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            log_format: LogFormat::Text,
            key_file: None,
            verify_key_files: Vec::new(),
            auth: AuthSettings::for_profile(Profile::Production),
            security: SecuritySettings::for_profile(Profile::Production),
            query: QuerySettings::for_profile(Profile::Production),
            crawlers: dx_ssr::CrawlerConfig::default(),
            mutations: Mutations::none(),
        }
    }
}

/// Longest token lifetime accepted (one year): longer lifetimes make revocation lists grow.
pub const MAX_TTL_SECONDS: u32 = 366 * 24 * 3600;

/// Token lifetimes and whether anyone may register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthSettings {
    /// Access token lifetime, in seconds.
    pub access_ttl_seconds: u32,
    /// Refresh token lifetime, in seconds.
    pub refresh_ttl_seconds: u32,
    /// Whether the register endpoint exists.
    pub registration: bool,
}

impl AuthSettings {
    /// The defaults of `profile`: short lifetimes and open registration in conformance, so
    /// time-dependent checks run in seconds (spec/profiles.md).
    pub fn for_profile(profile: Profile) -> Self {
        match profile {
            Profile::Conformance => Self {
                access_ttl_seconds: 2,
                refresh_ttl_seconds: 30,
                registration: true,
            },
            Profile::Production | Profile::Development => Self {
                access_ttl_seconds: 900,
                refresh_ttl_seconds: 14 * 24 * 3600,
                registration: false,
            },
        }
    }
}

/// The embedded conformance target's request timeout: short, so the suite can observe a 408
/// in seconds (spec/http-contract.md), yet far above any request the suite sends.
pub const CONFORMANCE_REQUEST_TIMEOUT: Duration = Duration::from_millis(2_500);

impl Config {
    /// A configuration for tests and the embedded target: conformance profile, ephemeral port.
    pub fn conformance() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            profile: Profile::Conformance,
            request_timeout: CONFORMANCE_REQUEST_TIMEOUT,
            auth: AuthSettings::for_profile(Profile::Conformance),
            security: SecuritySettings::for_profile(Profile::Conformance),
            query: QuerySettings::for_profile(Profile::Conformance),
            ..Self::default()
        }
    }

    /// Merges flags/environment over the file over the defaults, then validates, for
    /// serving: the production profile needs a database URL or `--ephemeral-store`.
    pub fn resolve(args: &ServerArgs) -> Result<Self, ConfigError> {
        Self::resolve_for(args, Purpose::Serve)
    }

    /// As [`Config::resolve`], for a command that works on the database and exits
    /// (`migrate`, `add-account`): a database URL is required in every profile, since an
    /// in-memory database would vanish with the command.
    pub fn resolve_for_command(
        args: &ServerArgs,
        command: &'static str,
    ) -> Result<Self, ConfigError> {
        Self::resolve_for(args, Purpose::Command(command))
    }

    fn resolve_for(args: &ServerArgs, purpose: Purpose) -> Result<Self, ConfigError> {
        let (file, file_keys) = match &args.config {
            Some(path) => read_file(path)?,
            None => (FileConfig::default(), BTreeSet::new()),
        };
        let origin_of = |key: &str| {
            args.origins.get(key).cloned().or_else(|| {
                let path = args.config.as_ref()?;
                file_keys.contains(key).then(|| Origin::File {
                    key: key.to_owned(),
                    path: path.clone(),
                })
            })
        };
        Self::merge(args, file, purpose).map_err(|e| e.locate(origin_of))
    }

    fn merge(args: &ServerArgs, file: FileConfig, purpose: Purpose) -> Result<Self, ConfigError> {
        let defaults = Config::default();
        let profile = args.profile.or(file.profile).unwrap_or(defaults.profile);
        let auth = resolve_auth(args, &file, profile)?;
        let security = resolve_security(args, &file, profile)?;
        let query = resolve_query(args, &file, profile)?;
        let database = resolve_database(args, &file, profile, purpose)?;
        let redis_url = args
            .redis_url
            .clone()
            .or(file.redis_url)
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError::invalid(
                "redis_url",
                "expected a redis:// or rediss:// URL",
            ));
        }
        let max_body_bytes = args
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(defaults.max_body_bytes);
        if !(MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&max_body_bytes) {
            return Err(ConfigError::invalid(
                "max_body_bytes",
                format!("must be between {MIN_BODY_BYTES} and {MAX_BODY_BYTES}"),
            ));
        }
        let timeout_ms = args
            .request_timeout_ms
            .or(file.request_timeout_ms)
            .unwrap_or(defaults.request_timeout.as_millis() as u64);
        if !(1..=3_600_000).contains(&timeout_ms) {
            return Err(ConfigError::invalid(
                "request_timeout_ms",
                "must be between 1 and 3600000",
            ));
        }
        let mut crawler_patterns = file.crawler_patterns.clone();
        crawler_patterns.extend(args.crawler_patterns.iter().cloned());
        let mut not_crawler_patterns = file.not_crawler_patterns.clone();
        not_crawler_patterns.extend(args.not_crawler_patterns.iter().cloned());
        let crawlers = dx_ssr::CrawlerConfig {
            extra_patterns: crawler_patterns,
            removed_patterns: not_crawler_patterns,
        };
        // A bad pattern is a start-up error naming the key, never a panic in a request.
        dx_ssr::CrawlerRule::new(&crawlers)
            .map_err(|e| ConfigError::invalid("crawler_patterns", e.to_string()))?;
        let mut verify_key_files = file.verify_key_files;
        verify_key_files.extend(args.verify_key_files.iter().cloned());
        let key_file = args.key_file.clone().or(file.key_file);
        let bind = args.bind.or(file.bind).unwrap_or(defaults.bind);
        let tls = resolve_tls(
            args.tls_cert.clone().or(file.tls_cert),
            args.tls_key.clone().or(file.tls_key),
        )?;
        let redirect_http = args.redirect_http.or(file.redirect_http);
        if let Some(addr) = redirect_http {
            if tls.is_none() {
                return Err(ConfigError::invalid(
                    "redirect_http",
                    "redirects to HTTPS, which needs --tls-cert and --tls-key",
                ));
            }
            if addr == bind {
                return Err(ConfigError::invalid(
                    "redirect_http",
                    format!("{addr} is the HTTPS address (--bind) itself"),
                ));
            }
        }
        if purpose == Purpose::Serve {
            if let Some(tls) = &tls {
                readable("tls_cert", &tls.cert)?;
                readable("tls_key", &tls.key)?;
            }
            // Checked here rather than when the keys load, so the error can say which flag,
            // variable or file key named the path.
            if let Some(path) = &key_file {
                readable("key_file", path)?;
            }
            for path in &verify_key_files {
                readable("verify_key_files", path)?;
            }
        }
        Ok(Self {
            bind,
            tls,
            redirect_http,
            profile,
            database,
            redis_url,
            max_body_bytes,
            request_timeout: Duration::from_millis(timeout_ms),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(defaults.log_format),
            key_file,
            verify_key_files,
            auth,
            security,
            query,
            crawlers,
            mutations: mutations_from(args),
        })
    }
}

/// What a configuration is resolved for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Serving requests.
    Serve,
    /// A command on the database that exits (its name, for messages).
    Command(&'static str),
}

/// The database: the URL given, or the embedded in-memory one where that is allowed (outside
/// production, or in production with `--ephemeral-store`, which then excludes a URL).
fn resolve_database(
    args: &ServerArgs,
    file: &FileConfig,
    profile: Profile,
    purpose: Purpose,
) -> Result<DatabaseUrl, ConfigError> {
    let url = args
        .database_url
        .as_ref()
        .or(file.database_url.as_ref())
        .filter(|u| !u.trim().is_empty());
    let ephemeral = args.ephemeral_store || file.ephemeral_store.unwrap_or(false);
    if let Purpose::Command(command) = purpose {
        if ephemeral {
            return Err(ConfigError::invalid(
                "ephemeral_store",
                format!(
                    "{command} works on a database that outlives it; name one with --database-url or DATABASE_URL instead"
                ),
            ));
        }
        let Some(url) = url else {
            return Err(ConfigError::DatabaseRequired {
                what: command,
                ephemeral_allowed: false,
            });
        };
        return DatabaseUrl::parse(url);
    }
    match (url, ephemeral) {
        (Some(_), true) => Err(ConfigError::invalid(
            "ephemeral_store",
            "excludes a database URL: unset --database-url / DATABASE_URL, or drop --ephemeral-store",
        )),
        (Some(url), false) => {
            let database = DatabaseUrl::parse(url)?;
            if profile == Profile::Production && database.is_in_memory() {
                return Err(ConfigError::invalid(
                    "database_url",
                    "an in-memory SQLite database loses every account and item at restart; name a file or PostgreSQL database, or pass --ephemeral-store without a URL to accept that",
                ));
            }
            Ok(database)
        }
        (None, true) => Ok(DatabaseUrl::embedded()),
        (None, false) if profile == Profile::Production => Err(ConfigError::DatabaseRequired {
            what: "the production profile",
            ephemeral_allowed: true,
        }),
        (None, false) => Ok(DatabaseUrl::embedded()),
    }
}

/// The TLS files: both or neither.
fn resolve_tls(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<TlsFiles>, ConfigError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError::invalid(
            "tls_cert",
            "needs its private key: pass --tls-key FILE (or DX_TLS_KEY, or `tls_key` in the config file)",
        )),
        (None, Some(_)) => Err(ConfigError::invalid(
            "tls_key",
            "needs its certificate: pass --tls-cert FILE (or DX_TLS_CERT, or `tls_cert` in the config file)",
        )),
    }
}

/// An error naming `path` and the operating system's reason unless the file can be opened.
fn readable(key: &'static str, path: &Path) -> Result<(), ConfigError> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| ConfigError::invalid(key, format!("cannot read {}: {e}", path.display())))
}

/// `url` with the password of its user information and any `password=` parameter replaced by
/// `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

fn resolve_auth(
    args: &ServerArgs,
    file: &FileConfig,
    profile: Profile,
) -> Result<AuthSettings, ConfigError> {
    let defaults = AuthSettings::for_profile(profile);
    let ttl = |key: &'static str, value: u32| {
        if (1..=MAX_TTL_SECONDS).contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::invalid(
                key,
                format!("must be between 1 and {MAX_TTL_SECONDS} seconds"),
            ))
        }
    };
    let access = ttl(
        "access_ttl_seconds",
        args.access_ttl_seconds
            .or(file.access_ttl_seconds)
            .unwrap_or(defaults.access_ttl_seconds),
    )?;
    let refresh = ttl(
        "refresh_ttl_seconds",
        args.refresh_ttl_seconds
            .or(file.refresh_ttl_seconds)
            .unwrap_or(defaults.refresh_ttl_seconds),
    )?;
    if refresh <= access {
        return Err(ConfigError::invalid(
            "refresh_ttl_seconds",
            "must be longer than access_ttl_seconds".to_owned(),
        ));
    }
    Ok(AuthSettings {
        access_ttl_seconds: access,
        refresh_ttl_seconds: refresh,
        registration: defaults.registration
            || args.allow_registration
            || file.allow_registration.unwrap_or(false),
    })
}

fn resolve_query(
    args: &ServerArgs,
    file: &FileConfig,
    profile: Profile,
) -> Result<QuerySettings, ConfigError> {
    let defaults = QuerySettings::for_profile(profile);
    let within = |key: &'static str, value: u64, max: u64| {
        if (1..=max).contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::invalid(
                key,
                format!("must be between 1 and {max}"),
            ))
        }
    };
    let pool_size = within(
        "db_pool_size",
        u64::from(
            args.db_pool_size
                .or(file.db_pool_size)
                .unwrap_or(defaults.pool_size),
        ),
        1_000,
    )?;
    let acquire_ms = within(
        "db_acquire_timeout_ms",
        args.db_acquire_timeout_ms
            .or(file.db_acquire_timeout_ms)
            .unwrap_or(defaults.acquire_timeout.as_millis() as u64),
        60_000,
    )?;
    let query_ms = within(
        "query_timeout_ms",
        args.query_timeout_ms
            .or(file.query_timeout_ms)
            .unwrap_or(defaults.query_timeout.as_millis() as u64),
        600_000,
    )?;
    Ok(QuerySettings {
        pool_size: u32::try_from(pool_size).unwrap_or(defaults.pool_size),
        acquire_timeout: Duration::from_millis(acquire_ms),
        query_timeout: Duration::from_millis(query_ms),
        metrics: args.metrics.or(file.metrics).unwrap_or(defaults.metrics),
    })
}

fn resolve_security(
    args: &ServerArgs,
    file: &FileConfig,
    profile: Profile,
) -> Result<SecuritySettings, ConfigError> {
    let defaults = SecuritySettings::for_profile(profile);
    let [auth, api, statik] = defaults.limits;
    let csrf_ttl_seconds = args
        .csrf_ttl_seconds
        .or(file.csrf_ttl_seconds)
        .unwrap_or(defaults.csrf_ttl_seconds);
    if !(1..=86_400).contains(&csrf_ttl_seconds) {
        return Err(ConfigError::invalid(
            "csrf_ttl_seconds",
            "must be between 1 and 86400 seconds".to_owned(),
        ));
    }
    let mut trusted_proxies = file.trusted_proxies.clone();
    trusted_proxies.extend(args.trusted_proxies.iter().copied());
    Ok(SecuritySettings {
        limits: [
            args.rate_limit_auth
                .or(file.rate_limit_auth)
                .unwrap_or(auth),
            args.rate_limit_api.or(file.rate_limit_api).unwrap_or(api),
            args.rate_limit_static
                .or(file.rate_limit_static)
                .unwrap_or(statik),
        ],
        trusted_proxies,
        store_failure: args
            .rate_limit_store_failure
            .or(file.rate_limit_store_failure)
            .unwrap_or(defaults.store_failure),
        csrf_ttl_seconds,
        secure_cookies: args
            .secure_cookies
            .or(file.secure_cookies)
            .unwrap_or(defaults.secure_cookies),
        hsts_include_subdomains: args
            .hsts_include_subdomains
            .or(file.hsts_include_subdomains)
            .unwrap_or(defaults.hsts_include_subdomains),
    })
}

#[cfg(feature = "mutants")]
fn mutations_from(args: &ServerArgs) -> Mutations {
    Mutations::with(args.mutant)
}

#[cfg(not(feature = "mutants"))]
fn mutations_from(_args: &ServerArgs) -> Mutations {
    Mutations::none()
}

/// The file's settings and the keys it sets (for naming the origin of a bad value).
fn read_file(path: &Path) -> Result<(FileConfig, BTreeSet<String>), ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        reason: e.to_string(),
    })?;
    let parse_error = |e: toml::de::Error| ConfigError::Parse {
        path: path.to_owned(),
        reason: e.message().to_owned(),
    };
    let config: FileConfig = toml::from_str(&text).map_err(parse_error)?;
    let keys = toml::from_str::<toml::Table>(&text)
        .map_err(parse_error)?
        .keys()
        .cloned()
        .collect();
    Ok((config, keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args as _, FromArgMatches as _};
    use rstest::rstest;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("dx-config-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The production profile on the in-memory store, as `--ephemeral-store` asks.
    fn ephemeral() -> ServerArgs {
        ServerArgs {
            ephemeral_store: true,
            ..ServerArgs::default()
        }
    }

    /// `argv` parsed as the binary parses it, origins included, but blind to the process's
    /// environment: the tests run under CI's DATABASE_URL and REDIS_URL, which would stand in
    /// for flags.
    fn parse(argv: &[&str]) -> ServerArgs {
        let command = ServerArgs::augment_args(clap::Command::new("dx-reference"))
            .mut_args(|arg| arg.env(None::<&'static str>));
        let matches = command
            .try_get_matches_from(std::iter::once("dx-reference").chain(argv.iter().copied()))
            .unwrap();
        let mut args = ServerArgs::from_arg_matches(&matches).unwrap();
        args.origins = Origins::from_matches(&matches);
        args
    }

    #[test]
    fn defaults_are_production_and_ephemeral_only_on_request() {
        let c = Config::resolve(&ephemeral()).unwrap();
        assert_eq!(c.profile, Profile::Production);
        assert_eq!(c.database, DatabaseUrl::embedded());
        assert!(c.database.is_in_memory());
        assert_eq!(c.database.backend(), "sqlite");
        assert_eq!(c.redis_url, None);
        assert_eq!(c.max_body_bytes, 1024 * 1024);
        assert_eq!(c.auth, AuthSettings::for_profile(Profile::Production));
        assert!(!c.auth.registration);
    }

    #[rstest]
    #[case::production_without_a_url(None, &[], Err("the production profile needs a database"))]
    #[case::production_ephemeral(None, &["--ephemeral-store"], Ok("sqlite::memory:"))]
    #[case::production_file(None, &["--database-url", "sqlite:/var/lib/dx.sqlite"], Ok("sqlite:/var/lib/dx.sqlite"))]
    #[case::production_postgres(Some(Profile::Production), &["--database-url", "postgres://u@h/db"], Ok("postgres://u@h/db"))]
    #[case::production_blank_url(None, &["--database-url", "  "], Err("--database-url URL or set DATABASE_URL"))]
    #[case::production_memory_url(None, &["--database-url", "sqlite::memory:"], Err("invalid setting `database_url` (from --database-url): an in-memory"))]
    #[case::ephemeral_and_url(None, &["--ephemeral-store", "--database-url", "sqlite:/x"], Err("invalid setting `ephemeral_store` (from --ephemeral-store): excludes a database URL"))]
    #[case::development(Some(Profile::Development), &[], Ok("sqlite::memory:"))]
    #[case::conformance(Some(Profile::Conformance), &[], Ok("sqlite::memory:"))]
    fn production_needs_a_database_url(
        #[case] profile: Option<Profile>,
        #[case] argv: &[&str],
        #[case] expected: Result<&str, &str>,
    ) {
        let args = ServerArgs {
            profile,
            ..parse(argv)
        };
        match (Config::resolve(&args), expected) {
            (Ok(c), Ok(url)) => assert_eq!(c.database.expose(), url),
            (Err(e), Err(text)) => {
                let e = e.to_string();
                assert!(e.contains(text), "{e}");
                if let ConfigError::DatabaseRequired { .. } = Config::resolve(&args).unwrap_err() {
                    for name in [
                        "--database-url",
                        "DATABASE_URL",
                        "--ephemeral-store",
                        "DX_EPHEMERAL_STORE",
                    ] {
                        assert!(e.contains(name), "{name}: {e}");
                    }
                }
            }
            (got, expected) => panic!("expected {expected:?}, got {got:?}"),
        }
    }

    #[rstest]
    fn commands_need_a_database_url_in_every_profile(
        #[values(Profile::Production, Profile::Development, Profile::Conformance)] profile: Profile,
    ) {
        let args = ServerArgs {
            profile: Some(profile),
            ..ServerArgs::default()
        };
        let e = Config::resolve_for_command(&args, "dx-reference migrate")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("dx-reference migrate needs a database"),
            "{e}"
        );
        assert!(
            e.contains("--database-url") && e.contains("DATABASE_URL"),
            "{e}"
        );
        assert!(
            !e.contains("--ephemeral-store"),
            "no way out through memory: {e}"
        );
        let e = Config::resolve_for_command(
            &ServerArgs {
                ephemeral_store: true,
                ..args.clone()
            },
            "dx-reference migrate",
        )
        .unwrap_err();
        assert!(e.to_string().contains("ephemeral_store"), "{e}");
        let c = Config::resolve_for_command(
            &ServerArgs {
                database_url: Some("sqlite:/tmp/x.sqlite".into()),
                key_file: Some(PathBuf::from("/nonexistent/key.pem")),
                ..args
            },
            "dx-reference migrate",
        )
        .unwrap();
        assert_eq!(c.database.expose(), "sqlite:/tmp/x.sqlite");
    }

    #[test]
    fn the_conformance_profile_has_short_lifetimes_and_registration() {
        let args = ServerArgs {
            profile: Some(Profile::Conformance),
            ..ServerArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.auth, Config::conformance().auth);
        assert_eq!(c.auth.access_ttl_seconds, 2);
        assert!(c.auth.registration);
        let k1 = temp_file("k1", "");
        let k2 = temp_file("k2", "");
        let open = ServerArgs {
            allow_registration: true,
            access_ttl_seconds: Some(60),
            verify_key_files: vec![k1.clone(), k2.clone()],
            ..ephemeral()
        };
        let c = Config::resolve(&open).unwrap();
        assert!(c.auth.registration);
        assert_eq!(c.auth.access_ttl_seconds, 60);
        assert_eq!(c.verify_key_files.len(), 2);
        std::fs::remove_file(k1).ok();
        std::fs::remove_file(k2).ok();
    }

    #[test]
    fn flags_override_the_file() {
        let path = temp_file(
            "override",
            "profile = \"development\"\nmax_body_bytes = 4096\nbind = \"127.0.0.1:9000\"\nredis_url = \"redis://127.0.0.1:6379\"\n",
        );
        let args = ServerArgs {
            config: Some(path.clone()),
            profile: Some(Profile::Conformance),
            ..ServerArgs::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.profile, Profile::Conformance);
        assert_eq!(c.max_body_bytes, 4096);
        assert_eq!(c.bind.port(), 9000);
        assert_eq!(c.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn bad_settings_name_the_key() {
        let cases = [
            ServerArgs {
                database_url: Some("mysql://x".into()),
                ..ServerArgs::default()
            },
            ServerArgs {
                redis_url: Some("http://x".into()),
                ..ephemeral()
            },
            ServerArgs {
                max_body_bytes: Some(10),
                ..ephemeral()
            },
            ServerArgs {
                request_timeout_ms: Some(0),
                ..ephemeral()
            },
        ];
        let keys = [
            "database_url",
            "redis_url",
            "max_body_bytes",
            "request_timeout_ms",
        ];
        let ttl_cases = [
            (Some(0), None, "access_ttl_seconds"),
            (None, Some(MAX_TTL_SECONDS + 1), "refresh_ttl_seconds"),
            (Some(60), Some(60), "refresh_ttl_seconds"),
        ];
        for (access, refresh, key) in ttl_cases {
            let args = ServerArgs {
                access_ttl_seconds: access,
                refresh_ttl_seconds: refresh,
                ..ephemeral()
            };
            let err = Config::resolve(&args).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        for (args, key) in cases.iter().zip(keys) {
            let err = Config::resolve(args).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
    }

    #[rstest]
    #[case::flag(&["--max-body-bytes", "10"], "", "invalid setting `max_body_bytes` (from --max-body-bytes)")]
    #[case::file(&[], "max_body_bytes = 10\n", "invalid setting `max_body_bytes` (from `max_body_bytes` in ")]
    #[case::flag_over_file(&["--db-pool-size", "0"], "db_pool_size = 5\n", "(from --db-pool-size)")]
    #[case::file_ttl(&[], "csrf_ttl_seconds = 0\n", "(from `csrf_ttl_seconds` in ")]
    #[case::key_file(&["--key-file", "/nonexistent/key.pem"], "", "invalid setting `key_file` (from --key-file): cannot read /nonexistent/key.pem: No such file or directory")]
    #[case::verify_key_file(&[], "verify_key_files = [\"/nonexistent/old.pub\"]\n", "cannot read /nonexistent/old.pub: No such file or directory")]
    #[case::tls_cert_file(&[], "tls_cert = \"/nonexistent/c.pem\"\ntls_key = \"/nonexistent/k.pem\"\n", "invalid setting `tls_cert` (from `tls_cert` in ")]
    #[case::tls_key_alone(&["--tls-key", "/nonexistent/k.pem"], "", "invalid setting `tls_key` (from --tls-key): needs its certificate")]
    #[case::redirect_without_tls(&[], "redirect_http = \"127.0.0.1:8081\"\n", "invalid setting `redirect_http` (from `redirect_http` in ")]
    #[case::redirect_on_bind(&["--redirect-http", "127.0.0.1:8080", "--tls-cert", "Cargo.toml", "--tls-key", "Cargo.toml"], "", "is the HTTPS address (--bind) itself")]
    fn errors_name_where_the_value_came_from(
        #[case] argv: &[&str],
        #[case] file: &str,
        #[case] expected: &str,
    ) {
        let mut args = parse(argv);
        args.ephemeral_store = true;
        let path = temp_file(&format!("origin-{}", expected.len()), file);
        args.config = Some(path.clone());
        let err = Config::resolve(&args).unwrap_err().to_string();
        std::fs::remove_file(path).ok();
        assert!(err.contains(expected), "{err}");
    }

    /// Every setting's help names its default: the operator reading `--help` must not have
    /// to guess what an unset flag means. The fixed defaults are compared with the code's.
    #[test]
    fn help_shows_every_default() {
        let command = ServerArgs::augment_args(clap::Command::new("dx-reference"));
        let production = Config::default();
        let conformance = Config::resolve(&ServerArgs {
            profile: Some(Profile::Conformance),
            ..ServerArgs::default()
        })
        .unwrap();
        let ms = |d: Duration| d.as_millis().to_string();
        let limit = |l: LimitSpec| format!("{}/{}", l.max_requests, l.window_seconds);
        let expected: Vec<(&str, String)> = vec![
            ("bind", production.bind.to_string()),
            ("profile", production.profile.to_string()),
            ("max_body_bytes", production.max_body_bytes.to_string()),
            ("request_timeout_ms", ms(production.request_timeout)),
            ("log_format", "text".to_owned()),
            (
                "access_ttl_seconds",
                production.auth.access_ttl_seconds.to_string(),
            ),
            (
                "access_ttl_seconds",
                format!("{} in conformance", conformance.auth.access_ttl_seconds),
            ),
            (
                "refresh_ttl_seconds",
                production.auth.refresh_ttl_seconds.to_string(),
            ),
            (
                "refresh_ttl_seconds",
                format!("{} in conformance", conformance.auth.refresh_ttl_seconds),
            ),
            ("rate_limit_auth", limit(production.security.limits[0])),
            (
                "rate_limit_auth",
                format!("{} in conformance", limit(conformance.security.limits[0])),
            ),
            ("rate_limit_api", limit(production.security.limits[1])),
            (
                "rate_limit_api",
                format!("{} in conformance", limit(conformance.security.limits[1])),
            ),
            ("rate_limit_static", limit(production.security.limits[2])),
            (
                "rate_limit_static",
                format!("{} in conformance", limit(conformance.security.limits[2])),
            ),
            ("rate_limit_store_failure", "open".to_owned()),
            (
                "csrf_ttl_seconds",
                production.security.csrf_ttl_seconds.to_string(),
            ),
            (
                "csrf_ttl_seconds",
                format!("{} in conformance", conformance.security.csrf_ttl_seconds),
            ),
            ("db_pool_size", production.query.pool_size.to_string()),
            (
                "db_acquire_timeout_ms",
                ms(production.query.acquire_timeout),
            ),
            ("query_timeout_ms", ms(production.query.query_timeout)),
            (
                "query_timeout_ms",
                format!("{} in conformance", ms(conformance.query.query_timeout)),
            ),
        ];
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(help.contains("[default: "), "--{}: {help}", id);
            for (key, value) in expected.iter().filter(|(k, _)| *k == id) {
                let shown = help.split("[default: ").nth(1).unwrap_or_default();
                assert!(
                    shown.contains(value.as_str()),
                    "{key}: {value} not in {help}"
                );
            }
        }
        let ephemeral = command
            .get_arguments()
            .find(|a| a.get_id() == "ephemeral_store")
            .and_then(|a| a.get_help())
            .map(ToString::to_string)
            .unwrap_or_default();
        assert!(
            ephemeral.contains("LOST when the process stops"),
            "{ephemeral}"
        );
    }

    #[rstest]
    #[case("postgres://app:s3cret@db:5432/app", "postgres://app:***@db:5432/app")]
    #[case("postgresql://app@db/app", "postgresql://app@db/app")]
    #[case(
        "postgres://db/app?user=u&password=s3cret&sslmode=require",
        "postgres://db/app?user=u&password=***&sslmode=require"
    )]
    #[case("postgres://a:p%40ss@db", "postgres://a:***@db")]
    #[case(
        "sqlite:/var/lib/dx.sqlite?mode=rwc",
        "sqlite:/var/lib/dx.sqlite?mode=rwc"
    )]
    #[case("sqlite::memory:", "sqlite::memory:")]
    fn urls_are_shown_without_their_password(#[case] url: &str, #[case] shown: &str) {
        let url = DatabaseUrl::parse(url).unwrap();
        assert_eq!(url.redacted(), shown);
        assert!(!format!("{url:?}").contains("s3cret"));
    }

    #[test]
    fn unknown_keys_and_missing_files_are_errors() {
        let path = temp_file("unknown", "colour = \"blue\"\n");
        let err = Config::resolve(&ServerArgs {
            config: Some(path.clone()),
            ..ServerArgs::default()
        })
        .unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
        std::fs::remove_file(path).ok();
        let err = Config::resolve(&ServerArgs {
            config: Some(PathBuf::from("/nonexistent/dx.toml")),
            ..ServerArgs::default()
        })
        .unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }), "{err}");
        // The path and the operating system's reason, not "entity not found".
        assert!(
            err.to_string()
                .contains("/nonexistent/dx.toml: No such file or directory"),
            "{err}"
        );
    }

    #[test]
    fn database_urls_are_classified() {
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/db").unwrap().backend(),
            "postgres"
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/db").unwrap().backend(),
            "postgres"
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite::memory:").unwrap().expose(),
            "sqlite::memory:"
        );
        let blank = ServerArgs {
            database_url: Some("  ".into()),
            profile: Some(Profile::Development),
            ..ServerArgs::default()
        };
        assert_eq!(
            Config::resolve(&blank).unwrap().database,
            DatabaseUrl::embedded()
        );
    }
}
