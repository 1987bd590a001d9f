//! What can go wrong in authentication, and the dx-www error code each failure answers with.

use dx_error::{DxError, ErrorCode};
use serde_json::json;

use crate::store::StoreError;

/// Why a token was refused. Kept for logs; every variant answers `TOKEN_INVALID` alike, so a
/// forger learns nothing about which check failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidReason {
    /// Longer than [`crate::token::MAX_TOKEN_CHARS`].
    TooLong,
    /// Not `v4.public.` followed by base64url, with an optional footer.
    Malformed,
    /// The footer does not name a key, or names one this ring does not hold.
    UnknownKey,
    /// The Ed25519 signature does not verify.
    BadSignature,
    /// The payload is not the claims object `spec/tokens.md` fixes.
    BadClaims,
    /// An access token where a refresh token is required, or the reverse.
    WrongType,
    /// A refresh token the server never recorded.
    UnknownRefresh,
    /// No `Authorization: Bearer` header.
    Missing,
}

impl InvalidReason {
    /// A short fixed text for logs and `details.reason`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLong => "too_long",
            Self::Malformed => "malformed",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::BadClaims => "bad_claims",
            Self::WrongType => "wrong_type",
            Self::UnknownRefresh => "unknown_refresh",
            Self::Missing => "missing",
        }
    }
}

/// Why a password or email was refused before any hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialRule {
    /// The password is empty.
    PasswordEmpty,
    /// The password's NFC form is longer than [`crate::password::MAX_PASSWORD_BYTES`].
    PasswordTooLong,
    /// The email is not `local@domain` within the length limit.
    EmailInvalid,
}

/// An authentication failure.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The email and password do not match an account (1001).
    #[error("invalid credentials")]
    InvalidCredentials,
    /// The token's expiry has passed (1002).
    #[error("token expired")]
    TokenExpired,
    /// The token is malformed, forged, of the wrong type or unknown (1003).
    #[error("token invalid: {}", .0.as_str())]
    TokenInvalid(InvalidReason),
    /// The token, or its refresh family, was revoked (1004).
    #[error("token revoked")]
    TokenRevoked,
    /// A password or email breaks a rule of `spec/auth.md` (422).
    #[error("credential rejected: {0:?}")]
    Rejected(CredentialRule),
    /// Registration of an email that already has an account (409).
    #[error("an account with this email exists")]
    AccountExists,
    /// The password hashing pool is saturated (503 with `Retry-After`).
    #[error("password hashing is saturated")]
    Busy,
    /// The credential store failed.
    #[error("credential store failed")]
    Store(#[from] StoreError),
    /// Hashing or signing failed internally.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<AuthError> for DxError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::InvalidCredentials => DxError::auth(
                ErrorCode::InvalidCredentials,
                "The email or password is not correct",
            ),
            AuthError::TokenExpired => {
                DxError::auth(ErrorCode::TokenExpired, "The token has expired")
                    .with_suggestion("Refresh the token or log in again")
            }
            AuthError::TokenInvalid(reason) => {
                tracing::debug!(reason = reason.as_str(), "token refused");
                DxError::auth(ErrorCode::TokenInvalid, "The token is not valid here")
            }
            AuthError::TokenRevoked => {
                DxError::auth(ErrorCode::TokenRevoked, "The token was revoked")
                    .with_suggestion("Log in again")
            }
            AuthError::Rejected(rule) => {
                let (field, message) = match rule {
                    CredentialRule::PasswordEmpty => ("password", "The password must not be empty"),
                    CredentialRule::PasswordTooLong => (
                        "password",
                        "The password is longer than 1024 bytes in UTF-8 after NFC normalization",
                    ),
                    CredentialRule::EmailInvalid => (
                        "email",
                        "The email must be local@domain, at most 254 characters",
                    ),
                };
                DxError::request(ErrorCode::ValidationFailed, message)
                    .with_details(json!({ "field": field }))
            }
            AuthError::AccountExists => DxError::new(
                ErrorCode::DbConstraintViolation,
                "An account with this email already exists",
            ),
            AuthError::Busy => DxError::new(
                ErrorCode::ResourceExhausted,
                "Too many password checks in progress",
            )
            .with_suggestion("Retry after the number of seconds in Retry-After"),
            AuthError::Store(e) => DxError::database(
                ErrorCode::DbConnectionFailed,
                "Database unavailable",
                "auth store",
            )
            .with_source(e),
            AuthError::Internal(m) => DxError::internal("Authentication failed internally")
                .with_source(std::io::Error::other(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case(AuthError::InvalidCredentials, ErrorCode::InvalidCredentials)]
    #[case(AuthError::TokenExpired, ErrorCode::TokenExpired)]
    #[case(
        AuthError::TokenInvalid(InvalidReason::BadSignature),
        ErrorCode::TokenInvalid
    )]
    #[case(AuthError::TokenRevoked, ErrorCode::TokenRevoked)]
    #[case(
        AuthError::Rejected(CredentialRule::PasswordEmpty),
        ErrorCode::ValidationFailed
    )]
    #[case(
        AuthError::Rejected(CredentialRule::PasswordTooLong),
        ErrorCode::ValidationFailed
    )]
    #[case(
        AuthError::Rejected(CredentialRule::EmailInvalid),
        ErrorCode::ValidationFailed
    )]
    #[case(AuthError::AccountExists, ErrorCode::DbConstraintViolation)]
    #[case(AuthError::Busy, ErrorCode::ResourceExhausted)]
    #[case(AuthError::Store(StoreError::Conflict), ErrorCode::DbConnectionFailed)]
    #[case(AuthError::Internal("argon2 exploded".into()), ErrorCode::Internal)]
    fn every_failure_maps_to_its_code(#[case] err: AuthError, #[case] code: ErrorCode) {
        let text = err.to_string();
        let dx = DxError::from(err);
        assert_eq!(dx.code(), code, "{text}");
        assert!(!dx.message().is_empty());
        // What the client reads never carries the internal cause.
        assert!(!dx.message().contains("exploded"));
    }

    #[test]
    fn rejected_credentials_name_their_field() {
        for (rule, field) in [
            (CredentialRule::PasswordEmpty, "password"),
            (CredentialRule::PasswordTooLong, "password"),
            (CredentialRule::EmailInvalid, "email"),
        ] {
            let dx = DxError::from(AuthError::Rejected(rule));
            assert_eq!(dx.details().and_then(|d| d["field"].as_str()), Some(field));
        }
        let reasons = [
            InvalidReason::TooLong,
            InvalidReason::Malformed,
            InvalidReason::UnknownKey,
            InvalidReason::BadSignature,
            InvalidReason::BadClaims,
            InvalidReason::WrongType,
            InvalidReason::UnknownRefresh,
            InvalidReason::Missing,
        ];
        let mut names: Vec<&str> = reasons.iter().map(|r| r.as_str()).collect();
        names.dedup();
        assert_eq!(names.len(), reasons.len());
        // No reason reaches the client.
        assert!(
            DxError::from(AuthError::TokenInvalid(InvalidReason::Missing))
                .details()
                .is_none()
        );
    }
}
