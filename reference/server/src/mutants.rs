//! Deliberately broken behaviours, one per property the suite must catch. A server can only be
//! started with one when built with the `mutants` cargo feature, which release builds never
//! enable; without it [`Mutations::is`] is always false.

use std::time::{Duration, Instant};

use dx_auth::{AuthMutant, AuthMutations};
use dx_error::SafeMutex;
use dx_query::{QueryMutant, QueryMutations};
use dx_security::{SecurityMutant, SecurityMutations};
use dx_sync::mutants::{SyncMutant, SyncMutations};
use serde::{Deserialize, Serialize};

/// A deliberately broken behaviour and the property that must catch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mutant {
    /// A poisoned shared lock is reported as an error instead of being recovered (Property 6).
    MutexNotRecovered,
    /// Panics are not caught: the connection just drops (Property 7).
    PanicEscapesBoundary,
    /// One failing component makes every route answer 503 for a while (Property 7).
    FailureCascades,
    /// Error envelopes carry an empty code (Property 8).
    ErrorCodeMissing,
    /// Production errors carry panic text and cause chains (Property 26).
    LeaksInternals,
    /// Only the first 72 bytes of a password count (Property 1).
    PasswordTruncated,
    /// Emails are lowercased in ASCII only, without NFC (Property 1).
    EmailAsciiLowercase,
    /// Token signatures are not checked (Property 2).
    SignatureNotChecked,
    /// Refresh tokens are accepted as access tokens (Property 2).
    RefreshAcceptedAsAccess,
    /// Tokens are accepted in the second of their expiry (Property 3).
    ExpiryOffByOne,
    /// Expiry is checked before the signature and the type (Property 3).
    ExpiryCheckedFirst,
    /// Spent refresh tokens work again and their family lives on (Property 4).
    RefreshReuseUndetected,
    /// Refreshed access tokens keep the login's expiry (Property 4).
    RefreshExpiryStale,
    /// Revoked tokens are still accepted (Property 5).
    RevocationIgnored,
    /// Error responses lack the security headers (Property 12).
    HeadersMissingOnErrors,
    /// The limiter admits one request more than its limit (Property 13).
    LimitOffByOne,
    /// A 429's Retry-After always says one second (Property 14).
    RetryAfterWrong,
    /// Fixed windows instead of a sliding one (Property 15).
    FixedWindow,
    /// Every session gets the same CSRF token within a second (Property 16).
    CsrfTokenRepeats,
    /// A CSRF token of any session is accepted (Property 17).
    CsrfAnySession,
    /// DELETE requests skip the CSRF check (Property 17).
    CsrfDeleteUnchecked,
    /// The CSRF form field is ignored (Property 18).
    CsrfFormFieldIgnored,
    /// Searches splice the search text into the SQL (Property 19).
    StringSplicedSearch,
    /// Writes leave cached searches in place (Property 19).
    CacheNotInvalidated,
    /// The pool opens up to 64 connections whatever its size (Property 20).
    UnboundedPool,
    /// Query failures carry the driver's own message (Property 21).
    DriverMessagePassthrough,
    /// The served client trusts a stream's declared length over the caller's (Property 11).
    ClientTrustsLength,
    /// The served client reports a cut stream as rendered, as dx-www's does (Property 11).
    ClientTruncatedOk,
    /// The served client's allocator overlaps regions of unaligned sizes (Property 10).
    ClientOverlappingAlloc,
    /// The served client applies a patch to any base (Property 9).
    ClientAnyBase,
    /// Every live sync message is delivered twice (Property 22).
    SyncDeliveredTwice,
    /// A sync resume replays the last message the client had as well (Property 23).
    SyncDuplicateOnResume,
    /// A sync resume replays the missed messages newest first (Property 23).
    SyncReplayOutOfOrder,
    /// A sync resume beyond the buffer replays what is kept and says RESUMED (Property 23).
    SyncSilentGap,
    /// A closed connection's user stays present (Property 24).
    SyncPresenceKept,
    /// Every publish with an ack requested is acknowledged (Property 25).
    SyncAckWithoutSubscriber,
    /// Logins for unknown emails skip the decoy hash (the SHOULD-level check `s02`).
    LoginWithoutDecoy,
    /// Every response names the server and its version (the SHOULD-level check `s04`).
    ServerVersionShown,
    /// Server-rendered pages write text and attributes unescaped, as dx-www's SSR does
    /// (`features/ssr.feature`).
    SsrUnescaped,
    /// A component that fails takes its page down with a 500 (`features/ssr.feature`).
    SsrComponentTakesPageDown,
    /// Crawlers are told by dx-www's ten names, so other crawlers get the shell
    /// (`features/ssr.feature`).
    SsrTenCrawlers,
    /// Pages lack `Vary: User-Agent` (`features/ssr.feature`).
    SsrNoVary,
}

impl Mutant {
    /// Every mutant.
    pub const ALL: &'static [Mutant] = &[
        Mutant::MutexNotRecovered,
        Mutant::PanicEscapesBoundary,
        Mutant::FailureCascades,
        Mutant::ErrorCodeMissing,
        Mutant::LeaksInternals,
        Mutant::PasswordTruncated,
        Mutant::EmailAsciiLowercase,
        Mutant::SignatureNotChecked,
        Mutant::RefreshAcceptedAsAccess,
        Mutant::ExpiryOffByOne,
        Mutant::ExpiryCheckedFirst,
        Mutant::RefreshReuseUndetected,
        Mutant::RefreshExpiryStale,
        Mutant::RevocationIgnored,
        Mutant::HeadersMissingOnErrors,
        Mutant::LimitOffByOne,
        Mutant::RetryAfterWrong,
        Mutant::FixedWindow,
        Mutant::CsrfTokenRepeats,
        Mutant::CsrfAnySession,
        Mutant::CsrfDeleteUnchecked,
        Mutant::CsrfFormFieldIgnored,
        Mutant::StringSplicedSearch,
        Mutant::CacheNotInvalidated,
        Mutant::UnboundedPool,
        Mutant::DriverMessagePassthrough,
        Mutant::ClientTrustsLength,
        Mutant::ClientTruncatedOk,
        Mutant::ClientOverlappingAlloc,
        Mutant::ClientAnyBase,
        Mutant::SyncDeliveredTwice,
        Mutant::SyncDuplicateOnResume,
        Mutant::SyncReplayOutOfOrder,
        Mutant::SyncSilentGap,
        Mutant::SyncPresenceKept,
        Mutant::SyncAckWithoutSubscriber,
        Mutant::LoginWithoutDecoy,
        Mutant::ServerVersionShown,
        Mutant::SsrUnescaped,
        Mutant::SsrComponentTakesPageDown,
        Mutant::SsrTenCrawlers,
        Mutant::SsrNoVary,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::MutexNotRecovered => "mutex-not-recovered",
            Self::PanicEscapesBoundary => "panic-escapes-boundary",
            Self::FailureCascades => "failure-cascades",
            Self::ErrorCodeMissing => "error-code-missing",
            Self::LeaksInternals => "leaks-internals",
            Self::PasswordTruncated => "password-truncated",
            Self::EmailAsciiLowercase => "email-ascii-lowercase",
            Self::SignatureNotChecked => "signature-not-checked",
            Self::RefreshAcceptedAsAccess => "refresh-accepted-as-access",
            Self::ExpiryOffByOne => "expiry-off-by-one",
            Self::ExpiryCheckedFirst => "expiry-checked-first",
            Self::RefreshReuseUndetected => "refresh-reuse-undetected",
            Self::RefreshExpiryStale => "refresh-expiry-stale",
            Self::RevocationIgnored => "revocation-ignored",
            Self::HeadersMissingOnErrors => "headers-missing-on-errors",
            Self::LimitOffByOne => "limit-off-by-one",
            Self::RetryAfterWrong => "retry-after-wrong",
            Self::FixedWindow => "fixed-window",
            Self::CsrfTokenRepeats => "csrf-token-repeats",
            Self::CsrfAnySession => "csrf-any-session",
            Self::CsrfDeleteUnchecked => "csrf-delete-unchecked",
            Self::CsrfFormFieldIgnored => "csrf-form-field-ignored",
            Self::StringSplicedSearch => "string-spliced-search",
            Self::CacheNotInvalidated => "cache-not-invalidated",
            Self::UnboundedPool => "unbounded-pool",
            Self::DriverMessagePassthrough => "driver-message-passthrough",
            Self::ClientTrustsLength => "client-trusts-length",
            Self::ClientTruncatedOk => "client-truncated-ok",
            Self::ClientOverlappingAlloc => "client-overlapping-alloc",
            Self::ClientAnyBase => "client-any-base",
            Self::SyncDeliveredTwice => "sync-delivered-twice",
            Self::SyncDuplicateOnResume => "sync-duplicate-on-resume",
            Self::SyncReplayOutOfOrder => "sync-replay-out-of-order",
            Self::SyncSilentGap => "sync-silent-gap",
            Self::SyncPresenceKept => "sync-presence-kept",
            Self::SyncAckWithoutSubscriber => "sync-ack-without-subscriber",
            Self::LoginWithoutDecoy => "login-without-decoy",
            Self::ServerVersionShown => "server-version-shown",
            Self::SsrUnescaped => "ssr-unescaped",
            Self::SsrComponentTakesPageDown => "ssr-component-takes-page-down",
            Self::SsrTenCrawlers => "ssr-ten-crawlers",
            Self::SsrNoVary => "ssr-no-vary",
        }
    }

    /// The auth crate's mutant this one switches on, if it is an auth mutant.
    pub fn auth(self) -> Option<AuthMutant> {
        match self {
            Self::PasswordTruncated => Some(AuthMutant::PasswordTruncated),
            Self::EmailAsciiLowercase => Some(AuthMutant::EmailAsciiLowercase),
            Self::SignatureNotChecked => Some(AuthMutant::SignatureNotChecked),
            Self::RefreshAcceptedAsAccess => Some(AuthMutant::RefreshAcceptedAsAccess),
            Self::ExpiryOffByOne => Some(AuthMutant::ExpiryOffByOne),
            Self::ExpiryCheckedFirst => Some(AuthMutant::ExpiryCheckedFirst),
            Self::RefreshReuseUndetected => Some(AuthMutant::RefreshReuseUndetected),
            Self::RefreshExpiryStale => Some(AuthMutant::RefreshExpiryStale),
            Self::RevocationIgnored => Some(AuthMutant::RevocationIgnored),
            Self::LoginWithoutDecoy => Some(AuthMutant::LoginWithoutDecoy),
            _ => None,
        }
    }

    /// The security crate's mutant this one switches on, if it is a security mutant.
    pub fn security(self) -> Option<SecurityMutant> {
        match self {
            Self::HeadersMissingOnErrors => Some(SecurityMutant::HeadersMissingOnErrors),
            Self::LimitOffByOne => Some(SecurityMutant::LimitOffByOne),
            Self::RetryAfterWrong => Some(SecurityMutant::RetryAfterWrong),
            Self::FixedWindow => Some(SecurityMutant::FixedWindow),
            Self::CsrfTokenRepeats => Some(SecurityMutant::CsrfTokenRepeats),
            Self::CsrfAnySession => Some(SecurityMutant::CsrfAnySession),
            Self::CsrfDeleteUnchecked => Some(SecurityMutant::CsrfDeleteUnchecked),
            Self::CsrfFormFieldIgnored => Some(SecurityMutant::CsrfFormFieldIgnored),
            _ => None,
        }
    }

    /// The query crate's mutant this one switches on, if it is a query mutant.
    pub fn query(self) -> Option<QueryMutant> {
        match self {
            Self::StringSplicedSearch => Some(QueryMutant::SplicedSearch),
            Self::CacheNotInvalidated => Some(QueryMutant::CacheNotInvalidated),
            Self::UnboundedPool => Some(QueryMutant::UnboundedPool),
            Self::DriverMessagePassthrough => Some(QueryMutant::DriverMessagePassthrough),
            _ => None,
        }
    }

    /// The sync crate's mutant this one switches on, if it is a sync mutant.
    pub fn sync(self) -> Option<SyncMutant> {
        match self {
            Self::SyncDeliveredTwice => Some(SyncMutant::DeliveredTwice),
            Self::SyncDuplicateOnResume => Some(SyncMutant::DuplicateOnResume),
            Self::SyncReplayOutOfOrder => Some(SyncMutant::ReplayOutOfOrder),
            Self::SyncSilentGap => Some(SyncMutant::SilentGap),
            Self::SyncPresenceKept => Some(SyncMutant::PresenceKeptOnDisconnect),
            Self::SyncAckWithoutSubscriber => Some(SyncMutant::AckWithoutSubscriber),
            _ => None,
        }
    }

    /// The SHOULD-level check (`--strict`) that must fail against this mutant, for the
    /// mutants that break no property.
    pub fn breaks_should(self) -> Option<&'static str> {
        match self {
            Self::LoginWithoutDecoy => Some("s02"),
            Self::ServerVersionShown => Some("s04"),
            _ => None,
        }
    }

    /// The scenario (`features/*.feature`, by id) that must fail against this mutant, for the
    /// mutants of areas without a property (server-side rendering).
    pub fn breaks_scenario(self) -> Option<&'static str> {
        match self {
            Self::SsrUnescaped => Some("ssr:hostile-content-comes-back-escaped"),
            Self::SsrComponentTakesPageDown => Some("ssr:a-failing-component-leaves-the-page"),
            Self::SsrTenCrawlers => Some("ssr:each-crawler-gets-the-rendered-page"),
            Self::SsrNoVary => Some("ssr:both-answers-vary-by-user-agent"),
            _ => None,
        }
    }

    /// The property whose check must fail against this mutant; 0 for a mutant that breaks a
    /// SHOULD-level check ([`Mutant::breaks_should`]) or a scenario
    /// ([`Mutant::breaks_scenario`]) instead.
    pub fn breaks_property(self) -> u8 {
        match self {
            Self::MutexNotRecovered => 6,
            Self::PanicEscapesBoundary | Self::FailureCascades => 7,
            Self::ErrorCodeMissing => 8,
            Self::LeaksInternals => 26,
            Self::ClientAnyBase => 9,
            Self::ClientOverlappingAlloc => 10,
            Self::ClientTrustsLength | Self::ClientTruncatedOk => 11,
            other => other
                .auth()
                .and_then(AuthMutant::breaks_property)
                .or_else(|| other.security().map(SecurityMutant::breaks_property))
                .or_else(|| other.query().map(QueryMutant::breaks_property))
                .or_else(|| other.sync().map(SyncMutant::breaks_property))
                .unwrap_or(0),
        }
    }
}

/// The mutant a server runs with, if any.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mutations {
    #[cfg(feature = "mutants")]
    active: Option<Mutant>,
}

impl Mutations {
    /// No mutant: correct behaviour.
    pub fn none() -> Self {
        Self::default()
    }

    /// Runs with `mutant` active.
    #[cfg(feature = "mutants")]
    pub fn with(mutant: Option<Mutant>) -> Self {
        Self { active: mutant }
    }

    /// Whether `mutant` is active.
    #[cfg(feature = "mutants")]
    pub fn is(self, mutant: Mutant) -> bool {
        self.active == Some(mutant)
    }

    /// Whether `mutant` is active: never, in a build without the `mutants` feature.
    #[cfg(not(feature = "mutants"))]
    pub fn is(self, _mutant: Mutant) -> bool {
        false
    }

    /// The auth mutations to hand to `dx_auth`.
    pub fn auth(self) -> AuthMutations {
        auth_mutations(self)
    }

    /// The security mutations to hand to `dx_security`.
    pub fn security(self) -> SecurityMutations {
        security_mutations(self)
    }

    /// The query mutations to hand to `dx_query`.
    pub fn query(self) -> QueryMutations {
        query_mutations(self)
    }

    /// The sync mutations to hand to `dx_sync`.
    pub fn sync(self) -> SyncMutations {
        sync_mutations(self)
    }

    /// The active mutant's name, for logs and the discovery document.
    pub fn active_name(self) -> Option<&'static str> {
        Mutant::ALL.iter().find(|m| self.is(**m)).map(|m| m.name())
    }
}

#[cfg(feature = "mutants")]
fn auth_mutations(m: Mutations) -> AuthMutations {
    AuthMutations::with(m.active.and_then(Mutant::auth))
}

#[cfg(not(feature = "mutants"))]
fn auth_mutations(_m: Mutations) -> AuthMutations {
    AuthMutations::none()
}

#[cfg(feature = "mutants")]
fn security_mutations(m: Mutations) -> SecurityMutations {
    SecurityMutations::with(m.active.and_then(Mutant::security))
}

#[cfg(not(feature = "mutants"))]
fn security_mutations(_m: Mutations) -> SecurityMutations {
    SecurityMutations::none()
}

#[cfg(feature = "mutants")]
fn query_mutations(m: Mutations) -> QueryMutations {
    QueryMutations::with(m.active.and_then(Mutant::query))
}

#[cfg(not(feature = "mutants"))]
fn query_mutations(_m: Mutations) -> QueryMutations {
    QueryMutations::none()
}

#[cfg(feature = "mutants")]
fn sync_mutations(m: Mutations) -> SyncMutations {
    SyncMutations::with(m.active.and_then(Mutant::sync))
}

#[cfg(not(feature = "mutants"))]
fn sync_mutations(_m: Mutations) -> SyncMutations {
    SyncMutations::none()
}

/// How long the `failure-cascades` mutant degrades the whole server after one failure.
const CASCADE_WINDOW: Duration = Duration::from_secs(3);

/// The `failure-cascades` mutant's state: until when every route answers 503. Inert unless
/// that mutant is active.
#[derive(Debug, Default)]
pub struct Cascade {
    until: SafeMutex<Option<Instant>>,
}

impl Cascade {
    /// A boundary caught a failure: under the mutant, degrade everything for a while.
    pub fn failure_caught(&self, mutations: Mutations) {
        if mutations.is(Mutant::FailureCascades)
            && let Ok(mut until) = self.until.lock()
        {
            *until = Some(Instant::now() + CASCADE_WINDOW);
        }
    }

    /// Whether every route must answer 503 now (only ever under the mutant).
    pub fn degraded(&self, mutations: Mutations) -> bool {
        mutations.is(Mutant::FailureCascades)
            && self
                .until
                .lock()
                .is_ok_and(|until| until.is_some_and(|t| Instant::now() < t))
    }
}

/// The `server-version-shown` mutant: every response names the software and its version, as
/// many frameworks do by default.
pub async fn announce_software(mut response: axum::response::Response) -> axum::response::Response {
    let headers = response.headers_mut();
    headers.insert(
        http::header::SERVER,
        http::HeaderValue::from_static(concat!("dx-reference/", env!("CARGO_PKG_VERSION"))),
    );
    headers.insert("x-powered-by", http::HeaderValue::from_static("axum/0.8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_clap_values() {
        use clap::ValueEnum;
        for m in Mutant::ALL {
            let value = m.to_possible_value().map(|v| v.get_name().to_owned());
            assert_eq!(value.as_deref(), Some(m.name()));
            // Each mutant breaks exactly one of: a property, a SHOULD check, a scenario.
            let broken = [
                (1..=26).contains(&m.breaks_property()),
                m.breaks_should().is_some(),
                m.breaks_scenario().is_some(),
            ];
            assert_eq!(broken.iter().filter(|b| **b).count(), 1, "{}", m.name());
            assert_eq!(
                m.auth().is_some(),
                (1..=5).contains(&m.breaks_property()) || *m == Mutant::LoginWithoutDecoy
            );
            assert_eq!(
                m.security().is_some(),
                (12..=18).contains(&m.breaks_property())
            );
            assert_eq!(
                m.query().is_some(),
                (19..=21).contains(&m.breaks_property())
            );
        }
        assert_eq!(Mutations::none().active_name(), None);
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn an_active_mutant_is_reported() {
        let m = Mutations::with(Some(Mutant::LeaksInternals));
        assert!(m.is(Mutant::LeaksInternals));
        assert!(!m.is(Mutant::ErrorCodeMissing));
        assert_eq!(m.active_name(), Some("leaks-internals"));
    }
}
