//! The numeric error codes of the seed (1xxx auth, 2xxx database, 3xxx sync, 5xxx internal)
//! plus the 4xxx request range we added, each with its wire string and HTTP status.
//! `spec/error-codes.toml` is the normative table; a test keeps the two equal.

use http::StatusCode;
use serde::{Deserialize, Serialize};

/// The broad category of an error; it decides which fields a [`crate::DxError`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Authentication and request-admission failures (1xxx).
    Auth,
    /// Database failures (2xxx).
    Database,
    /// Real-time sync failures (3xxx).
    Sync,
    /// Malformed or unacceptable requests (4xxx).
    Request,
    /// Failures inside the server (5xxx).
    Internal,
}

impl ErrorKind {
    /// The lower-case name used in the wire contract and in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Database => "database",
            Self::Sync => "sync",
            Self::Request => "request",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $num:literal, $wire:literal, $status:ident, $kind:ident, $msg:literal; )*) => {
        /// Every error code the wire contract knows.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name = $num, )*
        }

        impl ErrorCode {
            /// All codes, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The numeric code (e.g. 1002).
            pub fn number(self) -> u16 {
                self as u16
            }

            /// The stable wire string carried in `error.code` (e.g. `TOKEN_EXPIRED`).
            pub fn wire(self) -> &'static str {
                match self { $( ErrorCode::$name => $wire, )* }
            }

            /// The HTTP status an error with this code is answered with.
            pub fn http_status(self) -> StatusCode {
                match self { $( ErrorCode::$name => StatusCode::$status, )* }
            }

            /// The category this code belongs to.
            pub fn kind(self) -> ErrorKind {
                match self { $( ErrorCode::$name => ErrorKind::$kind, )* }
            }

            /// A short, generic message that is always safe to show a client.
            pub fn default_message(self) -> &'static str {
                match self { $( ErrorCode::$name => $msg, )* }
            }

            /// Looks a code up by its number.
            pub fn from_number(number: u16) -> Option<Self> {
                match number { $( $num => Some(ErrorCode::$name), )* _ => None }
            }

            /// Looks a code up by its wire string.
            pub fn from_wire(wire: &str) -> Option<Self> {
                match wire { $( $wire => Some(ErrorCode::$name), )* _ => None }
            }
        }
    };
}

error_codes! {
    /// The email/password pair does not match a user.
    InvalidCredentials = 1001, "INVALID_CREDENTIALS", UNAUTHORIZED, Auth, "Invalid credentials";
    /// The token's expiry time has passed.
    TokenExpired = 1002, "TOKEN_EXPIRED", UNAUTHORIZED, Auth, "Token expired";
    /// The token is malformed or its signature does not verify.
    TokenInvalid = 1003, "TOKEN_INVALID", UNAUTHORIZED, Auth, "Token invalid";
    /// The token was revoked.
    TokenRevoked = 1004, "TOKEN_REVOKED", UNAUTHORIZED, Auth, "Token revoked";
    /// The client exceeded a rate limit.
    RateLimited = 1005, "RATE_LIMITED", TOO_MANY_REQUESTS, Auth, "Too many requests";
    /// The CSRF token is missing, invalid, expired or bound to another session.
    CsrfInvalid = 1006, "CSRF_INVALID", FORBIDDEN, Auth, "CSRF token missing or invalid";
    /// The database could not be reached.
    DbConnectionFailed = 2001, "DB_CONNECTION_FAILED", SERVICE_UNAVAILABLE, Database, "Database unavailable";
    /// A query ran past its timeout.
    DbQueryTimeout = 2002, "DB_QUERY_TIMEOUT", GATEWAY_TIMEOUT, Database, "Database query timed out";
    /// A write broke a constraint (unique, foreign key, check).
    DbConstraintViolation = 2003, "DB_CONSTRAINT_VIOLATION", CONFLICT, Database, "Conflicts with existing data";
    /// A transaction could not be committed.
    DbTransactionFailed = 2004, "DB_TRANSACTION_FAILED", INTERNAL_SERVER_ERROR, Database, "Database transaction failed";
    /// A sync connection dropped.
    SyncConnectionLost = 3001, "SYNC_CONNECTION_LOST", SERVICE_UNAVAILABLE, Sync, "Sync connection lost";
    /// The channel does not exist.
    SyncChannelNotFound = 3002, "SYNC_CHANNEL_NOT_FOUND", NOT_FOUND, Sync, "Channel not found";
    /// A message could not be delivered.
    SyncDeliveryFailed = 3003, "SYNC_DELIVERY_FAILED", INTERNAL_SERVER_ERROR, Sync, "Message delivery failed";
    /// A replay buffer overflowed.
    SyncBufferOverflow = 3004, "SYNC_BUFFER_OVERFLOW", SERVICE_UNAVAILABLE, Sync, "Message buffer overflow";
    /// The request is malformed (syntax).
    BadRequest = 4000, "BAD_REQUEST", BAD_REQUEST, Request, "Bad request";
    /// The request is well-formed but its content is invalid.
    ValidationFailed = 4001, "VALIDATION_FAILED", UNPROCESSABLE_ENTITY, Request, "Validation failed";
    /// No resource at this path.
    NotFound = 4004, "NOT_FOUND", NOT_FOUND, Request, "Not found";
    /// The path exists but not for this method.
    MethodNotAllowed = 4005, "METHOD_NOT_ALLOWED", METHOD_NOT_ALLOWED, Request, "Method not allowed";
    /// The request took longer than the server allows.
    RequestTimeout = 4008, "REQUEST_TIMEOUT", REQUEST_TIMEOUT, Request, "Request timeout";
    /// The body is larger than the configured limit.
    PayloadTooLarge = 4013, "PAYLOAD_TOO_LARGE", PAYLOAD_TOO_LARGE, Request, "Payload too large";
    /// The body's content type is not accepted here.
    UnsupportedMediaType = 4015, "UNSUPPORTED_MEDIA_TYPE", UNSUPPORTED_MEDIA_TYPE, Request, "Unsupported media type";
    /// An unhandled failure, such as a caught panic.
    Internal = 5000, "INTERNAL_ERROR", INTERNAL_SERVER_ERROR, Internal, "Internal server error";
    /// The server's configuration is invalid.
    ConfigurationError = 5001, "CONFIGURATION_ERROR", INTERNAL_SERVER_ERROR, Internal, "Server configuration error";
    /// A lock could not be acquired.
    LockAcquisitionFailed = 5002, "LOCK_ACQUISITION_FAILED", INTERNAL_SERVER_ERROR, Internal, "Internal server error";
    /// A bounded resource ran out.
    ResourceExhausted = 5003, "RESOURCE_EXHAUSTED", SERVICE_UNAVAILABLE, Internal, "Server resources exhausted";
    /// A dependency (database, cache) is unavailable.
    ServiceUnavailable = 5004, "SERVICE_UNAVAILABLE", SERVICE_UNAVAILABLE, Internal, "Service unavailable";
}

impl ErrorCode {
    /// Whether this code reports a failure on the server's side (HTTP 5xx), whose details are
    /// never shown to clients in production.
    pub fn is_server_error(self) -> bool {
        self.http_status().is_server_error()
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.wire(), self.number())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct SpecFile {
        code: Vec<SpecCode>,
    }

    #[derive(serde::Deserialize)]
    struct SpecCode {
        number: u16,
        wire: String,
        http_status: u16,
        kind: String,
        message: String,
    }

    /// The implementation's table is exactly the normative one in spec/error-codes.toml.
    #[test]
    fn table_matches_the_spec() {
        let spec: SpecFile =
            toml::from_str(include_str!("../../../spec/error-codes.toml")).unwrap();
        assert_eq!(spec.code.len(), ErrorCode::ALL.len());
        for entry in &spec.code {
            let code = ErrorCode::from_number(entry.number)
                .unwrap_or_else(|| panic!("{} missing", entry.number));
            assert_eq!(code.wire(), entry.wire);
            assert_eq!(
                code.http_status().as_u16(),
                entry.http_status,
                "{}",
                entry.wire
            );
            assert_eq!(code.kind().as_str(), entry.kind, "{}", entry.wire);
            assert_eq!(code.default_message(), entry.message, "{}", entry.wire);
        }
    }

    #[test]
    fn numbers_and_wire_strings_round_trip() {
        for &code in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_number(code.number()), Some(code));
            assert_eq!(ErrorCode::from_wire(code.wire()), Some(code));
            assert!(!code.default_message().is_empty());
        }
        assert_eq!(ErrorCode::from_number(9999), None);
        assert_eq!(ErrorCode::from_wire("NOPE"), None);
    }

    #[test]
    fn number_range_matches_kind() {
        for &code in ErrorCode::ALL {
            let expected = match code.number() / 1000 {
                1 => ErrorKind::Auth,
                2 => ErrorKind::Database,
                3 => ErrorKind::Sync,
                4 => ErrorKind::Request,
                _ => ErrorKind::Internal,
            };
            assert_eq!(code.kind(), expected, "{code}");
            assert_eq!(code.kind().to_string(), code.kind().as_str());
        }
    }

    #[test]
    fn server_errors_are_5xx() {
        assert!(ErrorCode::Internal.is_server_error());
        assert!(ErrorCode::DbConnectionFailed.is_server_error());
        assert!(!ErrorCode::TokenExpired.is_server_error());
        assert_eq!(ErrorCode::TokenExpired.to_string(), "TOKEN_EXPIRED (1002)");
    }
}
