//! Server configuration from command-line flags, environment variables and an optional TOML
//! file, in that order of precedence, validated before anything starts.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[cfg(feature = "mutants")]
use crate::mutants::Mutant;
use crate::mutants::Mutations;
use crate::profile::Profile;

/// The smallest body limit accepted: smaller would reject ordinary error reports.
pub const MIN_BODY_BYTES: usize = 1024;
/// The largest body limit accepted (64 MiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// Why a configuration is unusable. Messages name the setting and never echo secrets.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
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
    #[error("invalid setting `{key}`: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// Why.
        reason: String,
    },
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

/// Command-line flags; each may also come from its environment variable.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServerArgs {
    /// TOML config file; flags and environment variables override it.
    #[arg(long, env = "DX_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "DX_BIND", value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Deployment profile.
    #[arg(long, env = "DX_PROFILE", value_enum)]
    pub profile: Option<Profile>,
    /// Database URL (postgres://… or sqlite:…); embedded in-memory SQLite when absent.
    #[arg(long, env = "DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Redis URL for shared state across instances; none when absent.
    #[arg(long, env = "REDIS_URL", value_name = "URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "DX_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Longest a request may take, in milliseconds.
    #[arg(long, env = "DX_REQUEST_TIMEOUT_MS", value_name = "MS")]
    pub request_timeout_ms: Option<u64>,
    /// Log format.
    #[arg(long, env = "DX_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Ed25519 signing key (PKCS#8 PEM or 64 hex digits); an ephemeral key when absent.
    #[arg(long, env = "DX_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Retired public keys whose tokens still verify (PEM SPKI or 64 hex digits), so rotating
    /// the signing key logs nobody out. Repeat the flag, or separate files with commas.
    #[arg(
        long = "verify-key-file",
        env = "DX_VERIFY_KEY_FILES",
        value_name = "FILE",
        value_delimiter = ','
    )]
    pub verify_key_files: Vec<PathBuf>,
    /// Access token lifetime, in seconds (conformance default 2, otherwise 900).
    #[arg(long, env = "DX_ACCESS_TTL_SECONDS", value_name = "SECONDS")]
    pub access_ttl_seconds: Option<u32>,
    /// Refresh token lifetime, in seconds (conformance default 30, otherwise 14 days).
    #[arg(long, env = "DX_REFRESH_TTL_SECONDS", value_name = "SECONDS")]
    pub refresh_ttl_seconds: Option<u32>,
    /// Let anyone create an account at the register endpoint (always on in conformance).
    #[arg(long, env = "DX_ALLOW_REGISTRATION")]
    pub allow_registration: bool,
    /// Limit of the auth category, as MAX/WINDOW_SECONDS (conformance 5/2, otherwise 10/60).
    #[arg(long, env = "DX_RATE_LIMIT_AUTH", value_name = "MAX/SECONDS")]
    pub rate_limit_auth: Option<LimitSpec>,
    /// Limit of the api category (conformance 10/2, otherwise 300/60).
    #[arg(long, env = "DX_RATE_LIMIT_API", value_name = "MAX/SECONDS")]
    pub rate_limit_api: Option<LimitSpec>,
    /// Limit of the static category (conformance 20/2, otherwise 1000/60).
    #[arg(long, env = "DX_RATE_LIMIT_STATIC", value_name = "MAX/SECONDS")]
    pub rate_limit_static: Option<LimitSpec>,
    /// Proxies (CIDR networks) whose Forwarded / X-Forwarded-For headers name the client.
    #[arg(
        long = "trusted-proxy",
        env = "DX_TRUSTED_PROXIES",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// What the rate limiter does when its store fails: open (let through) or closed (503).
    #[arg(long, env = "DX_RATE_LIMIT_STORE_FAILURE", value_enum)]
    pub rate_limit_store_failure: Option<FailMode>,
    /// CSRF token lifetime, in seconds (conformance 2, otherwise 3600).
    #[arg(long, env = "DX_CSRF_TTL_SECONDS", value_name = "SECONDS")]
    pub csrf_ttl_seconds: Option<u32>,
    /// Whether cookies are Secure with the __Host- prefix (default: only in production).
    #[arg(long, env = "DX_SECURE_COOKIES", value_name = "BOOL")]
    pub secure_cookies: Option<bool>,
    /// Whether HSTS covers subdomains (default true in production).
    #[arg(long, env = "DX_HSTS_INCLUDE_SUBDOMAINS", value_name = "BOOL")]
    pub hsts_include_subdomains: Option<bool>,
    /// Most database connections open at once (default 10).
    #[arg(long, env = "DX_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    /// How long a query waits for a free connection before the answer is 503, in
    /// milliseconds (default 2000).
    #[arg(long, env = "DX_DB_ACQUIRE_TIMEOUT_MS", value_name = "MS")]
    pub db_acquire_timeout_ms: Option<u64>,
    /// How long one query may run before the answer is 504, in milliseconds (conformance
    /// 1000, otherwise 5000).
    #[arg(long, env = "DX_QUERY_TIMEOUT_MS", value_name = "MS")]
    pub query_timeout_ms: Option<u64>,
    /// Whether `GET /metrics` answers (default: not in production, where it belongs behind
    /// the operator's network).
    #[arg(long, env = "DX_METRICS", value_name = "BOOL")]
    pub metrics: Option<bool>,
    /// Start with a deliberately broken behaviour (test builds only).
    #[cfg(feature = "mutants")]
    #[arg(long, env = "DX_MUTANT", value_enum)]
    pub mutant: Option<Mutant>,
}

/// The optional TOML file; same settings as the flags, unknown keys rejected.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<SocketAddr>,
    profile: Option<Profile>,
    database_url: Option<String>,
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

/// Which database back end a URL selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// PostgreSQL through sqlx.
    Postgres(String),
    /// SQLite through sqlx (the embedded default is in-memory).
    Sqlite(String),
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
            Err(ConfigError::Invalid {
                key: "database_url",
                reason: "expected a postgres://, postgresql:// or sqlite: URL".to_owned(),
            })
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
}

/// A validated server configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
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
    /// Deliberately broken behaviour, test builds only.
    pub mutations: Mutations,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
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

    /// Merges flags/environment over the file over the defaults, then validates.
    pub fn resolve(args: &ServerArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let defaults = Config::default();
        let profile = args.profile.or(file.profile).unwrap_or(defaults.profile);
        let auth = resolve_auth(args, &file, profile)?;
        let security = resolve_security(args, &file, profile)?;
        let query = resolve_query(args, &file, profile)?;
        let database = match args.database_url.as_ref().or(file.database_url.as_ref()) {
            Some(url) if !url.trim().is_empty() => DatabaseUrl::parse(url)?,
            _ => defaults.database,
        };
        let redis_url = args
            .redis_url
            .clone()
            .or(file.redis_url)
            .filter(|u| !u.trim().is_empty());
        if let Some(url) = &redis_url
            && !(url.starts_with("redis://") || url.starts_with("rediss://"))
        {
            return Err(ConfigError::Invalid {
                key: "redis_url",
                reason: "expected a redis:// or rediss:// URL".to_owned(),
            });
        }
        let max_body_bytes = args
            .max_body_bytes
            .or(file.max_body_bytes)
            .unwrap_or(defaults.max_body_bytes);
        if !(MIN_BODY_BYTES..=MAX_BODY_BYTES).contains(&max_body_bytes) {
            return Err(ConfigError::Invalid {
                key: "max_body_bytes",
                reason: format!("must be between {MIN_BODY_BYTES} and {MAX_BODY_BYTES}"),
            });
        }
        let timeout_ms = args
            .request_timeout_ms
            .or(file.request_timeout_ms)
            .unwrap_or(defaults.request_timeout.as_millis() as u64);
        if !(1..=3_600_000).contains(&timeout_ms) {
            return Err(ConfigError::Invalid {
                key: "request_timeout_ms",
                reason: "must be between 1 and 3600000".to_owned(),
            });
        }
        let mut verify_key_files = file.verify_key_files;
        verify_key_files.extend(args.verify_key_files.iter().cloned());
        Ok(Self {
            bind: args.bind.or(file.bind).unwrap_or(defaults.bind),
            profile,
            database,
            redis_url,
            max_body_bytes,
            request_timeout: Duration::from_millis(timeout_ms),
            log_format: args
                .log_format
                .or(file.log_format)
                .unwrap_or(defaults.log_format),
            key_file: args.key_file.clone().or(file.key_file),
            verify_key_files,
            auth,
            security,
            query,
            mutations: mutations_from(args),
        })
    }
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
            Err(ConfigError::Invalid {
                key,
                reason: format!("must be between 1 and {MAX_TTL_SECONDS} seconds"),
            })
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
        return Err(ConfigError::Invalid {
            key: "refresh_ttl_seconds",
            reason: "must be longer than access_ttl_seconds".to_owned(),
        });
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
            Err(ConfigError::Invalid {
                key,
                reason: format!("must be between 1 and {max}"),
            })
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
        return Err(ConfigError::Invalid {
            key: "csrf_ttl_seconds",
            reason: "must be between 1 and 86400 seconds".to_owned(),
        });
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

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.to_owned(),
        reason: e.kind().to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        reason: e.message().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("dx-config-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn defaults_are_production_and_embedded() {
        let c = Config::resolve(&ServerArgs::default()).unwrap();
        assert_eq!(c.profile, Profile::Production);
        assert_eq!(c.database, DatabaseUrl::embedded());
        assert_eq!(c.database.backend(), "sqlite");
        assert_eq!(c.redis_url, None);
        assert_eq!(c.max_body_bytes, 1024 * 1024);
        assert_eq!(c.auth, AuthSettings::for_profile(Profile::Production));
        assert!(!c.auth.registration);
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
        let open = ServerArgs {
            allow_registration: true,
            access_ttl_seconds: Some(60),
            verify_key_files: vec![PathBuf::from("/k1"), PathBuf::from("/k2")],
            ..ServerArgs::default()
        };
        let c = Config::resolve(&open).unwrap();
        assert!(c.auth.registration);
        assert_eq!(c.auth.access_ttl_seconds, 60);
        assert_eq!(c.verify_key_files.len(), 2);
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
                ..ServerArgs::default()
            },
            ServerArgs {
                max_body_bytes: Some(10),
                ..ServerArgs::default()
            },
            ServerArgs {
                request_timeout_ms: Some(0),
                ..ServerArgs::default()
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
                ..ServerArgs::default()
            };
            let err = Config::resolve(&args).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        for (args, key) in cases.iter().zip(keys) {
            let err = Config::resolve(args).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
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
            ..ServerArgs::default()
        };
        assert_eq!(
            Config::resolve(&blank).unwrap().database,
            DatabaseUrl::embedded()
        );
    }
}
