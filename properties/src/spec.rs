//! The normative tables the suite checks against, read from `spec/` (compiled in, so the
//! suite needs no checkout at run time). Checks take their statements from here instead of
//! retyping them.

use std::sync::LazyLock;

use serde::Deserialize;

/// The raw text of `spec/properties.toml`.
pub const PROPERTIES_TOML: &str = include_str!("../../spec/properties.toml");
/// The raw text of `spec/error-codes.toml`.
pub const ERROR_CODES_TOML: &str = include_str!("../../spec/error-codes.toml");
/// The raw text of `spec/discovery.schema.json`.
pub const DISCOVERY_SCHEMA_JSON: &str = include_str!("../../spec/discovery.schema.json");
/// `spec/report.schema.json`: the shape of the JSON report.
pub const REPORT_SCHEMA_JSON: &str = include_str!("../../spec/report.schema.json");

/// One property of `spec/properties.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PropertySpec {
    /// 1..=26.
    pub number: u8,
    /// The seed's title.
    pub title: String,
    /// The area, e.g. `error`.
    pub area: String,
    /// The normative statement.
    pub statement: String,
    /// Requirement ids it validates.
    pub requirements: Vec<String>,
    /// Where the white-box test lives.
    pub white_box: String,
    /// Where the black-box check lives.
    pub black_box: String,
    /// Whether the black-box check needs the conformance profile.
    pub needs_conformance_profile: bool,
    /// Why, when it does.
    #[serde(default)]
    pub note: Option<String>,
}

/// One code of `spec/error-codes.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct ErrorCodeSpec {
    /// The numeric code.
    pub number: u16,
    /// The wire string.
    pub wire: String,
    /// The HTTP status.
    pub http_status: u16,
    /// The category.
    pub kind: String,
    /// The default public message.
    pub message: String,
    /// Whether the seed defines it.
    pub seed: bool,
}

#[derive(Deserialize)]
struct PropertiesFile {
    property: Vec<PropertySpec>,
}

#[derive(Deserialize)]
struct ErrorCodesFile {
    code: Vec<ErrorCodeSpec>,
}

/// Why a spec table could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("spec/{file} is invalid: {reason}")]
pub struct SpecError {
    /// The file.
    pub file: &'static str,
    /// Why.
    pub reason: String,
}

static PROPERTIES: LazyLock<Result<Vec<PropertySpec>, SpecError>> = LazyLock::new(|| {
    toml::from_str::<PropertiesFile>(PROPERTIES_TOML)
        .map(|f| f.property)
        .map_err(|e| SpecError {
            file: "properties.toml",
            reason: e.message().to_owned(),
        })
});

static ERROR_CODES: LazyLock<Result<Vec<ErrorCodeSpec>, SpecError>> = LazyLock::new(|| {
    toml::from_str::<ErrorCodesFile>(ERROR_CODES_TOML)
        .map(|f| f.code)
        .map_err(|e| SpecError {
            file: "error-codes.toml",
            reason: e.message().to_owned(),
        })
});

/// All 26 properties.
pub fn properties() -> Result<&'static [PropertySpec], SpecError> {
    PROPERTIES.as_deref().map_err(Clone::clone)
}

/// One property by number.
pub fn property(number: u8) -> Result<&'static PropertySpec, SpecError> {
    properties()?
        .iter()
        .find(|p| p.number == number)
        .ok_or_else(|| SpecError {
            file: "properties.toml",
            reason: format!("no property {number}"),
        })
}

/// Every error code.
pub fn error_codes() -> Result<&'static [ErrorCodeSpec], SpecError> {
    ERROR_CODES.as_deref().map_err(Clone::clone)
}

/// One error code by number.
pub fn error_code_by_number(number: u16) -> Option<&'static ErrorCodeSpec> {
    error_codes().ok()?.iter().find(|c| c.number == number)
}

/// One error code by wire string.
pub fn error_code_by_wire(wire: &str) -> Option<&'static ErrorCodeSpec> {
    error_codes().ok()?.iter().find(|c| c.wire == wire)
}

/// One of `spec/`'s JSON Schemas (draft 2020-12), compiled once, with format assertions
/// on (so a `date` member must be a date).
pub struct CompiledSchema {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema").finish_non_exhaustive()
    }
}

impl CompiledSchema {
    /// Compiles the schema `text`, known as `spec/<name>`.
    pub fn compile(text: &str, name: &str) -> Result<Self, String> {
        let schema: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let mut schemas = boon::Schemas::new();
        let mut compiler = boon::Compiler::new();
        compiler.enable_format_assertions();
        let url = format!("https://dx-www.invalid/spec/{name}");
        compiler
            .add_resource(&url, schema)
            .map_err(|e| e.to_string())?;
        let index = compiler
            .compile(&url, &mut schemas)
            .map_err(|e| e.to_string())?;
        Ok(Self { schemas, index })
    }

    /// Validates `value`; the error lists every violation.
    pub fn validate(&self, value: &serde_json::Value) -> Result<(), String> {
        self.schemas
            .validate(value, self.index)
            .map_err(|e| format!("{e:#}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_parse_and_are_complete() {
        let props = properties().unwrap();
        assert_eq!(props.len(), 26);
        for (i, p) in props.iter().enumerate() {
            assert_eq!(usize::from(p.number), i + 1);
            assert!(!p.statement.is_empty() && !p.requirements.is_empty());
        }
        assert_eq!(property(26).unwrap().title, "Error Response Sanitization");
        assert!(property(27).is_err());
        assert!(error_codes().unwrap().len() >= 26);
        assert_eq!(error_code_by_wire("TOKEN_EXPIRED").unwrap().number, 1002);
        assert!(error_code_by_wire("NOPE").is_none());
        assert_eq!(error_code_by_number(1002).unwrap().wire, "TOKEN_EXPIRED");
        assert!(error_code_by_number(1).is_none());
    }
}
