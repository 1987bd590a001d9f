//! `DxError`: the one error type every dx-www component returns, so that any failure can be
//! turned into the standard error response without losing its cause.

use std::error::Error as StdError;
use std::fmt;

use crate::code::{ErrorCode, ErrorKind};

/// A boxed error that can cross threads; the cause of a [`DxError`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A structured error: a code, a non-empty public message, and optionally the internal cause,
/// a recovery suggestion, client-safe details and kind-specific context.
///
/// The message is meant for clients; the source and the context are for logs only and never
/// leave the server in the production profile (see [`crate::ErrorResponse`]).
#[derive(Debug, thiserror::Error)]
#[error("{kind} error {code}: {message}", kind = self.code.kind())]
pub struct DxError {
    code: ErrorCode,
    message: String,
    /// Rarely set fields, boxed to keep `Result<T, DxError>` small.
    extra: Option<Box<Extra>>,
    #[source]
    source: Option<BoxError>,
}

#[derive(Debug, Default)]
struct Extra {
    context: Option<Context>,
    suggestion: Option<String>,
    details: Option<serde_json::Value>,
}

/// Kind-specific context, for logs (the seed's `query_context` and config `key`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// The table and operation a failed query touched, e.g. `users: select`.
    Query(String),
    /// The configuration key that is wrong.
    ConfigKey(String),
    /// The name of the error boundary that produced the error.
    Boundary(String),
}

impl fmt::Display for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Query(q) => write!(f, "query {q}"),
            Self::ConfigKey(k) => write!(f, "config key {k}"),
            Self::Boundary(b) => write!(f, "boundary {b}"),
        }
    }
}

impl DxError {
    /// Creates an error with `code`; an empty or blank `message` is replaced by the code's
    /// default message, so every error has a non-empty one (Property 8).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        let message = message.into();
        let message = if message.trim().is_empty() {
            code.default_message().to_owned()
        } else {
            message
        };
        Self {
            code,
            message,
            extra: None,
            source: None,
        }
    }

    /// An authentication or admission failure (1xxx).
    pub fn auth(code: ErrorCode, message: impl Into<String>) -> Self {
        debug_assert_eq!(code.kind(), ErrorKind::Auth);
        Self::new(code, message)
    }

    /// A database failure (2xxx) with the table/operation it concerns.
    pub fn database(
        code: ErrorCode,
        message: impl Into<String>,
        query_context: impl Into<String>,
    ) -> Self {
        debug_assert_eq!(code.kind(), ErrorKind::Database);
        Self::new(code, message).with_context(Context::Query(query_context.into()))
    }

    /// A configuration error naming the offending key.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ConfigurationError, message)
            .with_context(Context::ConfigKey(key.into()))
    }

    /// An unhandled internal failure (5000).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// A malformed or unacceptable request (4xxx).
    pub fn request(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code, message)
    }

    /// Attaches the internal cause.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Attaches a recovery suggestion shown to the client.
    pub fn with_suggestion(mut self, suggestion: impl Into<String>) -> Self {
        let suggestion = suggestion.into();
        if !suggestion.trim().is_empty() {
            self.extra_mut().suggestion = Some(suggestion);
        }
        self
    }

    /// Attaches client-safe, structured details (e.g. the field that failed validation).
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.extra_mut().details = Some(details);
        self
    }

    /// Attaches kind-specific context for the logs.
    pub fn with_context(mut self, context: Context) -> Self {
        self.extra_mut().context = Some(context);
        self
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The error's category.
    pub fn kind(&self) -> ErrorKind {
        self.code.kind()
    }

    /// The public message; never empty.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The recovery suggestion, if any.
    pub fn suggestion(&self) -> Option<&str> {
        self.extra.as_ref().and_then(|e| e.suggestion.as_deref())
    }

    /// The client-safe details, if any.
    pub fn details(&self) -> Option<&serde_json::Value> {
        self.extra.as_ref().and_then(|e| e.details.as_ref())
    }

    /// The kind-specific context, if any.
    pub fn context(&self) -> Option<&Context> {
        self.extra.as_ref().and_then(|e| e.context.as_ref())
    }

    /// The query context of a database error.
    pub fn query_context(&self) -> Option<&str> {
        match self.context() {
            Some(Context::Query(q)) => Some(q),
            _ => None,
        }
    }

    /// The internal cause, if any.
    pub fn source_error(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.source.as_deref()
    }

    /// The messages of the whole cause chain, outermost first; for logs and the development
    /// profile only.
    pub fn source_chain(&self) -> Vec<String> {
        let mut chain = Vec::new();
        let mut next: Option<&(dyn StdError + 'static)> = match &self.source {
            Some(s) => Some(s.as_ref()),
            None => None,
        };
        while let Some(err) = next {
            chain.push(err.to_string());
            next = err.source();
        }
        chain
    }
}

impl From<crate::LockError> for DxError {
    fn from(err: crate::LockError) -> Self {
        DxError::new(ErrorCode::LockAcquisitionFailed, "Lock acquisition failed").with_source(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn any_code() -> impl Strategy<Value = ErrorCode> {
        proptest::sample::select(ErrorCode::ALL)
    }

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] std::io::Error);

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Feature: production-readiness, Property 8: Structured Error Completeness
        ///
        /// For any DxError, built from any code, message (including empty and blank ones),
        /// optional source and optional suggestion, the code and message are non-empty, and the
        /// source and suggestion are present exactly when they were given.
        #[test]
        fn structured_error_completeness(
            code in any_code(),
            message in ".{0,64}",
            source in proptest::option::of(".{0,64}"),
            suggestion in proptest::option::of("[a-zA-Z ]{1,32}"),
        ) {
            let mut err = DxError::new(code, message.clone());
            if let Some(s) = &source {
                err = err.with_source(std::io::Error::other(s.clone()));
            }
            if let Some(s) = &suggestion {
                err = err.with_suggestion(s.clone());
            }
            prop_assert!(err.code().number() >= 1000);
            prop_assert!(!err.code().wire().is_empty());
            prop_assert!(!err.message().trim().is_empty());
            if !message.trim().is_empty() {
                prop_assert_eq!(err.message(), message.as_str());
            } else {
                prop_assert_eq!(err.message(), code.default_message());
            }
            prop_assert_eq!(err.source_error().is_some(), source.is_some());
            prop_assert_eq!(
                err.suggestion().map(str::to_owned),
                suggestion.filter(|s| !s.trim().is_empty())
            );
            prop_assert!(err.to_string().contains(code.wire()));
        }
    }

    #[test]
    fn constructors_set_kind_and_context() {
        let db = DxError::database(ErrorCode::DbQueryTimeout, "slow", "users: select");
        assert_eq!(db.kind(), ErrorKind::Database);
        assert_eq!(db.query_context(), Some("users: select"));
        assert_eq!(
            db.context().map(ToString::to_string).as_deref(),
            Some("query users: select")
        );

        let cfg = DxError::config("database_url", "not a URL");
        assert_eq!(cfg.code(), ErrorCode::ConfigurationError);
        assert_eq!(
            cfg.context(),
            Some(&Context::ConfigKey("database_url".into()))
        );
        assert_eq!(cfg.query_context(), None);

        let auth = DxError::auth(ErrorCode::TokenRevoked, "");
        assert_eq!(auth.message(), "Token revoked");
        assert_eq!(DxError::internal("x").code(), ErrorCode::Internal);
        let req = DxError::request(ErrorCode::NotFound, "nothing here")
            .with_details(serde_json::json!({"path": "/x"}));
        assert_eq!(req.details(), Some(&serde_json::json!({"path": "/x"})));
        let boundary = DxError::internal("b").with_context(Context::Boundary("fault".into()));
        assert_eq!(
            boundary.context().map(ToString::to_string).as_deref(),
            Some("boundary fault")
        );
    }

    #[test]
    fn source_chain_walks_every_cause() {
        let err = DxError::internal("boom").with_source(Outer(std::io::Error::other("inner")));
        assert_eq!(
            err.source_chain(),
            vec!["outer: inner".to_owned(), "inner".to_owned()]
        );
        assert!(DxError::internal("x").source_chain().is_empty());
    }

    #[test]
    fn blank_suggestion_is_dropped() {
        assert_eq!(
            DxError::internal("x").with_suggestion("  ").suggestion(),
            None
        );
    }

    #[test]
    fn lock_errors_become_code_5002() {
        let err: DxError = crate::LockError::WouldBlock.into();
        assert_eq!(err.code(), ErrorCode::LockAcquisitionFailed);
        assert!(err.source_error().is_some());
    }
}
