//! Deployment profiles: what a server reveals and which test-only features it offers.

use dx_error::Exposure;
use serde::{Deserialize, Serialize};

/// The profile a server runs in (spec/profiles.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// Strict headers, sanitized errors, no fault hooks.
    #[default]
    Production,
    /// Relaxed settings and detailed errors for local work.
    Development,
    /// Production behaviour plus short TTLs and windows and the fault hooks the suite needs.
    Conformance,
}

impl Profile {
    /// The profile's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Development => "development",
            Self::Conformance => "conformance",
        }
    }

    /// How much of an error responses may reveal.
    pub fn exposure(self) -> Exposure {
        match self {
            Self::Development => Exposure::Detailed,
            Self::Production | Self::Conformance => Exposure::Sanitized,
        }
    }

    /// Whether the fault-injection routes are served.
    pub fn fault_hooks(self) -> bool {
        matches!(self, Self::Conformance)
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_development_is_detailed_and_only_conformance_has_hooks() {
        assert_eq!(Profile::Production.exposure(), Exposure::Sanitized);
        assert_eq!(Profile::Conformance.exposure(), Exposure::Sanitized);
        assert_eq!(Profile::Development.exposure(), Exposure::Detailed);
        assert!(Profile::Conformance.fault_hooks());
        assert!(!Profile::Production.fault_hooks());
        assert!(!Profile::Development.fault_hooks());
        assert_eq!(Profile::default().to_string(), "production");
    }
}
