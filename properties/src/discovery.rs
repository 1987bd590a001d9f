//! The target's self-description (`GET /.well-known/dx-www`): fetched before any check,
//! validated against `spec/discovery.schema.json`, then read through typed accessors.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use crate::spec::{CompiledSchema, DISCOVERY_SCHEMA_JSON};

/// The version of `spec/` this suite checks; a target's `dx_www` names the version it
/// implements, and any 1.x document is read (spec/discovery.md, "Versioning").
pub const SPEC_VERSION: &str = "1.0";

/// Where a target publishes its discovery document.
pub const DISCOVERY_PATH: &str = "/.well-known/dx-www";

/// Why a discovery document is unusable.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoveryError {
    /// Not JSON.
    #[error("the discovery document is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not of the schema.
    #[error("the discovery document does not match spec/discovery.schema.json: {0}")]
    Schema(String),
    /// The schema itself could not be compiled (a defect of this build).
    #[error("spec/discovery.schema.json cannot be compiled: {0}")]
    BadSchema(String),
}

/// The implementation that answered.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Implementation {
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// The active mutant, for deliberately broken reference builds.
    #[serde(default)]
    pub mutant: Option<String>,
}

/// The endpoints every target has.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Endpoints {
    /// Liveness.
    pub health: String,
    /// Readiness.
    pub ready: String,
    /// Client error reports, if offered.
    #[serde(default)]
    pub client_errors: Option<String>,
}

/// Request limits.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted body.
    pub max_body_bytes: u64,
    /// Request timeout.
    pub request_timeout_ms: u64,
}

/// The fault hooks, offered in the conformance profile.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct FaultHooks {
    /// Their base path, e.g. `/_dx/faults`.
    pub base: String,
}

/// A validated discovery document.
#[derive(Debug, Clone)]
pub struct Discovery {
    /// The contract version.
    pub dx_www: String,
    /// Who answered.
    pub implementation: Implementation,
    /// `production`, `development` or `conformance`.
    pub profile: String,
    /// Endpoints.
    pub endpoints: Endpoints,
    /// Limits.
    pub limits: Limits,
    /// Fault hooks, if on.
    pub fault_hooks: Option<FaultHooks>,
    /// The whole document, for areas later checks read.
    pub raw: Value,
    /// `sha256:` and the hex SHA-256 of the document as served, so a report says which
    /// description of the target its verdicts were judged against.
    pub hash: String,
}

#[derive(Deserialize)]
struct Typed {
    dx_www: String,
    implementation: Implementation,
    profile: String,
    endpoints: Endpoints,
    limits: Limits,
    #[serde(default)]
    fault_hooks: Option<FaultHooks>,
}

static SCHEMA: LazyLock<Result<CompiledSchema, String>> =
    LazyLock::new(|| CompiledSchema::compile(DISCOVERY_SCHEMA_JSON, "discovery.schema.json"));

impl Discovery {
    /// Parses and validates a document.
    pub fn parse(body: &[u8]) -> Result<Self, DiscoveryError> {
        let raw: Value =
            serde_json::from_slice(body).map_err(|e| DiscoveryError::NotJson(e.to_string()))?;
        Self::validated(raw, sha256_hex(body))
    }

    /// Validates an already parsed document (its hash is that of its compact serialization).
    pub fn from_value(raw: Value) -> Result<Self, DiscoveryError> {
        let hash = sha256_hex(raw.to_string().as_bytes());
        Self::validated(raw, hash)
    }

    /// Validates `raw`, served with the hash `hash`.
    fn validated(raw: Value, hash: String) -> Result<Self, DiscoveryError> {
        let compiled = SCHEMA
            .as_ref()
            .map_err(|e| DiscoveryError::BadSchema(e.clone()))?;
        compiled.validate(&raw).map_err(DiscoveryError::Schema)?;
        let typed: Typed = serde_json::from_value(raw.clone())
            .map_err(|e| DiscoveryError::Schema(e.to_string()))?;
        Ok(Self {
            dx_www: typed.dx_www,
            implementation: typed.implementation,
            profile: typed.profile,
            endpoints: typed.endpoints,
            limits: typed.limits,
            fault_hooks: typed.fault_hooks,
            hash,
            raw,
        })
    }

    /// Whether the target runs the conformance profile.
    pub fn is_conformance(&self) -> bool {
        self.profile == "conformance"
    }

    /// Whether the target offers an area (`auth`, `csrf`, …): present and not null.
    pub fn offers(&self, area: &str) -> bool {
        self.raw.get(area).is_some_and(|v| !v.is_null())
    }
}

/// `sha256:` and the hex digest of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_suite_checks_the_spec_version_the_reference_implements() {
        assert_eq!(SPEC_VERSION, dx_server::routes::discovery::SPEC_VERSION);
    }

    fn valid() -> Value {
        json!({
            "dx_www": "1.0",
            "implementation": {"name": "x", "version": "1"},
            "profile": "conformance",
            "endpoints": {"health": "/health", "ready": "/ready"},
            "errors": {"request_id_header": "X-Request-Id"},
            "limits": {"max_body_bytes": 4096, "request_timeout_ms": 1000},
            "fault_hooks": {"base": "/_dx/faults"},
            "auth": null
        })
    }

    #[test]
    fn accepts_a_valid_document() {
        let d = Discovery::from_value(valid()).unwrap();
        assert!(d.is_conformance());
        assert_eq!(d.fault_hooks.as_ref().unwrap().base, "/_dx/faults");
        assert!(!d.offers("auth"));
        assert!(d.offers("limits"));
    }

    #[test]
    fn rejects_invalid_documents() {
        let mut no_profile = valid();
        no_profile.as_object_mut().unwrap().remove("profile");
        let mut hooks_in_production = valid();
        hooks_in_production["profile"] = json!("production");
        let mut bad_path = valid();
        bad_path["endpoints"]["health"] = json!("health");
        for doc in [no_profile, hooks_in_production, bad_path] {
            assert!(matches!(
                Discovery::from_value(doc),
                Err(DiscoveryError::Schema(_))
            ));
        }
        assert!(matches!(
            Discovery::parse(b"<html>"),
            Err(DiscoveryError::NotJson(_))
        ));
    }

    fn sync_member() -> Value {
        json!({
            "endpoint": "/_dx/sync", "subprotocol": "dx-sync.1", "broker": "redis",
            "buffer_size": 64, "retention_seconds": 60, "max_payload": 16384,
            "max_channels": 64, "send_queue": 256, "ping_interval_seconds": 1,
            "ping_timeout_seconds": 3, "token_check_seconds": 1,
            "publish_limit": {"max_messages": 200, "window_seconds": 1}
        })
    }

    #[test]
    fn the_sync_member_is_checked_member_by_member() {
        let mut doc = valid();
        doc["sync"] = sync_member();
        assert!(Discovery::from_value(doc.clone()).unwrap().offers("sync"));
        let broken: [(&str, Value); 7] = [
            ("buffer_size", json!(0)),
            ("subprotocol", json!("dx-sync.2")),
            ("endpoint", json!("_dx/sync")),
            ("max_channels", json!(65536)),
            ("ping_timeout_seconds", json!(1.5)),
            ("broker", json!("")),
            ("publish_limit", json!({"max_messages": 200})),
        ];
        for (member, value) in broken {
            let mut bad = doc.clone();
            bad["sync"][member] = value;
            assert!(
                matches!(Discovery::from_value(bad), Err(DiscoveryError::Schema(_))),
                "{member}"
            );
            let mut missing = doc.clone();
            missing["sync"].as_object_mut().unwrap().remove(member);
            assert!(
                matches!(
                    Discovery::from_value(missing),
                    Err(DiscoveryError::Schema(_))
                ),
                "without {member}"
            );
        }
    }
}
