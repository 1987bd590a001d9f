//! Deliberately broken behaviours, one or more per auth property, for proving that the
//! conformance suite catches them (`spec/mutants.md`). Only a build with the `mutants` feature
//! can switch one on; otherwise [`AuthMutations::is`] is always false and the compiler drops
//! the broken branches.

/// A broken behaviour and the property that must catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMutant {
    /// Only the first 72 bytes of a password count, as in bcrypt (Property 1).
    PasswordTruncated,
    /// Emails are lowercased in ASCII only, without NFC, so `ÉCOLE@…` and `école@…` are two
    /// accounts (Property 1).
    EmailAsciiLowercase,
    /// Token signatures are not checked (Property 2).
    SignatureNotChecked,
    /// A refresh token is accepted where an access token is required (Property 2).
    RefreshAcceptedAsAccess,
    /// A token is still accepted in the second of its expiry (Property 3).
    ExpiryOffByOne,
    /// Expiry is checked before the signature and the type, so an expired forged or
    /// mistyped token is answered `TOKEN_EXPIRED` (Property 3).
    ExpiryCheckedFirst,
    /// A spent refresh token can be used again, and its family lives on (Property 4).
    RefreshReuseUndetected,
    /// A refreshed access token keeps the expiry of the login's token (Property 4).
    RefreshExpiryStale,
    /// Revoked tokens are still accepted (Property 5).
    RevocationIgnored,
    /// A login for an email with no account answers at once, without hashing, so its time
    /// tells which emails have accounts (the SHOULD-level check `s02`).
    LoginWithoutDecoy,
}

impl AuthMutant {
    /// Every auth mutant.
    pub const ALL: &'static [AuthMutant] = &[
        Self::PasswordTruncated,
        Self::EmailAsciiLowercase,
        Self::SignatureNotChecked,
        Self::RefreshAcceptedAsAccess,
        Self::ExpiryOffByOne,
        Self::ExpiryCheckedFirst,
        Self::RefreshReuseUndetected,
        Self::RefreshExpiryStale,
        Self::RevocationIgnored,
        Self::LoginWithoutDecoy,
    ];

    /// The property whose check must fail against this mutant; `None` for one that breaks
    /// a SHOULD-level check instead.
    pub fn breaks_property(self) -> Option<u8> {
        match self {
            Self::PasswordTruncated | Self::EmailAsciiLowercase => Some(1),
            Self::SignatureNotChecked | Self::RefreshAcceptedAsAccess => Some(2),
            Self::ExpiryOffByOne | Self::ExpiryCheckedFirst => Some(3),
            Self::RefreshReuseUndetected | Self::RefreshExpiryStale => Some(4),
            Self::RevocationIgnored => Some(5),
            Self::LoginWithoutDecoy => None,
        }
    }
}

/// The auth mutant in force, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuthMutations {
    #[cfg(feature = "mutants")]
    active: Option<AuthMutant>,
}

impl AuthMutations {
    /// Correct behaviour.
    pub fn none() -> Self {
        Self::default()
    }

    /// Runs with `mutant` active.
    #[cfg(feature = "mutants")]
    pub fn with(mutant: Option<AuthMutant>) -> Self {
        Self { active: mutant }
    }

    /// Whether `mutant` is active.
    #[cfg(feature = "mutants")]
    pub fn is(self, mutant: AuthMutant) -> bool {
        self.active == Some(mutant)
    }

    /// Whether `mutant` is active: never, without the `mutants` feature.
    #[cfg(not(feature = "mutants"))]
    pub fn is(self, _mutant: AuthMutant) -> bool {
        false
    }
}

/// The `refresh-expiry-stale` mutant's access expiry: counted from the presented refresh
/// token's issue time (the login) instead of from the refresh.
pub fn stale_access_exp(presented_iat: i64, access_ttl: i64) -> i64 {
    presented_iat + access_ttl
}

/// The `expiry-off-by-one` mutant's test: still valid during the second of `exp`.
pub fn expired_off_by_one(now: i64, exp: i64) -> bool {
    now > exp
}

/// Whether the `expiry-checked-first` mutant refuses a token as expired before any other
/// check (here, with the mutant's own code, so a mutation of it changes nothing observable).
pub fn expired_first(now: i64, exp: i64) -> bool {
    now >= exp
}

/// The `email-ascii-lowercase` mutant's normalisation: ASCII lowercase only, no NFC, the
/// shape still checked.
pub fn ascii_lowercase_email(email: &str) -> Result<String, crate::error::AuthError> {
    crate::account::normalize_email(email).map(|_| email.to_ascii_lowercase())
}

/// Where the `refresh-accepted-as-access` mutant lets a refresh token through: on
/// authenticated routes, which expect access tokens.
pub fn confusion_allowed(expected: crate::token::TokenType) -> bool {
    expected == crate::token::TokenType::Access
}
