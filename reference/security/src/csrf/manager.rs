//! The seed's `CsrfManager`. A token is 72 bytes, sent as 96 characters of unpadded base64url:
//!
//! | bytes | what |
//! |---|---|
//! | 16 | a random nonce (128 bits from the operating system's generator) |
//! | 8 | the issue time, milliseconds since the epoch, big-endian |
//! | 16 | the session tag: HMAC-SHA256(secret, `dx-csrf-session` 0x00 session id), first 16 bytes |
//! | 32 | HMAC-SHA256(secret, `dx-csrf-token` 0x00 nonce, issue time, session tag) |
//!
//! The MAC makes tokens unforgeable; the tag binds a token to its session without storing
//! anything per token, and lets an authentic token of another session be told apart from a
//! forged one. Every comparison is constant-time.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::clock::{Clock, SystemClock};
use crate::mutants::{SecurityMutant, SecurityMutations};

type HmacSha256 = Hmac<Sha256>;

const NONCE: usize = 16;
const ISSUED: usize = 8;
const TAG: usize = 16;
const MAC: usize = 32;
/// The decoded length of a token.
pub const TOKEN_BYTES: usize = NONCE + ISSUED + TAG + MAC;
/// The encoded length of a token.
pub const TOKEN_CHARS: usize = 96;
/// How far in the future an issue time may lie (clock skew between instances).
const MAX_SKEW_MS: u64 = 60_000;

/// Why a request's CSRF token was refused; [`CsrfError::reason`] goes into `details.reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CsrfError {
    /// No token in the header or the form field.
    #[error("CSRF token missing")]
    Missing,
    /// Not a token: wrong length, encoding, or a field sent twice.
    #[error("CSRF token malformed")]
    Malformed,
    /// A token this server did not issue.
    #[error("CSRF token invalid")]
    Invalid,
    /// A token older than the TTL.
    #[error("CSRF token expired")]
    Expired,
    /// A token issued to another session.
    #[error("CSRF token belongs to another session")]
    SessionMismatch,
    /// No live session: no session cookie, an unknown one, or an ended one.
    #[error("no live session")]
    NoSession,
    /// A browser reported the request as cross-site (Fetch Metadata).
    #[error("cross-site request refused")]
    CrossSite,
}

impl CsrfError {
    /// The reason on the wire.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Invalid => "invalid",
            Self::Expired => "expired",
            Self::SessionMismatch => "session-mismatch",
            Self::NoSession => "no-session",
            Self::CrossSite => "cross-site",
        }
    }
}

/// CSRF token manager (the seed's `CsrfManager`).
#[derive(Clone)]
pub struct CsrfManager {
    secret: [u8; 32],
    ttl: Duration,
    clock: Arc<dyn Clock>,
    mutations: SecurityMutations,
}

impl std::fmt::Debug for CsrfManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsrfManager")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl CsrfManager {
    /// A manager with `secret`; tokens live `ttl`.
    pub fn new(secret: [u8; 32], ttl: Duration) -> Self {
        Self {
            secret,
            ttl,
            clock: SystemClock::shared(),
            mutations: SecurityMutations::none(),
        }
    }

    /// A manager with a fresh random secret (one instance, or tests).
    pub fn random(ttl: Duration) -> Result<Self, getrandom::Error> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)?;
        Ok(Self::new(secret, ttl))
    }

    /// A secret derived from another one (e.g. the server's signing key), so that instances
    /// sharing that key share their CSRF secret without a second secret to distribute:
    /// HMAC-SHA256(seed, `dx-www csrf secret v1`).
    pub fn derive_secret(seed: &[u8]) -> [u8; 32] {
        let mut mac = match HmacSha256::new_from_slice(seed) {
            Ok(mac) => mac,
            Err(_) => unreachable_key(),
        };
        mac.update(b"dx-www csrf secret v1");
        mac.finalize().into_bytes().into()
    }

    /// Reads time from `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Runs with `mutations` (only meaningful in a `mutants` build).
    pub fn with_mutations(mut self, mutations: SecurityMutations) -> Self {
        self.mutations = mutations;
        self
    }

    /// How long a token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn mac(&self, label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        // HMAC takes keys of any length: construction cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.secret) {
            Ok(mac) => mac,
            Err(_) => unreachable_key(),
        };
        mac.update(label);
        mac.update(&[0]);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    fn session_tag(&self, session_id: &str) -> [u8; TAG] {
        let full = self.mac(b"dx-csrf-session", &[session_id.as_bytes()]);
        let mut tag = [0u8; TAG];
        tag.copy_from_slice(&full[..TAG]);
        tag
    }

    /// Generates a new CSRF token bound to `session_id`. Fails only when the operating
    /// system's random source does.
    pub fn generate(&self, session_id: &str) -> Result<String, getrandom::Error> {
        let mut nonce = [0u8; NONCE];
        let mut issued = self.clock.now_millis();
        let mut tag = self.session_tag(session_id);
        if self.mutations.is(SecurityMutant::CsrfTokenRepeats) {
            issued = crate::mutants::repeated_issue_time(issued);
            tag = [0; TAG];
        } else {
            getrandom::fill(&mut nonce)?;
        }
        let issued = issued.to_be_bytes();
        let mac = self.mac(b"dx-csrf-token", &[&nonce, &issued, &tag]);
        let mut bytes = Vec::with_capacity(TOKEN_BYTES);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&issued);
        bytes.extend_from_slice(&tag);
        bytes.extend_from_slice(&mac);
        Ok(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// Validates `token` for `session_id`: well-formed, issued by this secret, for this
    /// session, younger than the TTL.
    pub fn validate(&self, token: &str, session_id: &str) -> Result<(), CsrfError> {
        if token.len() != TOKEN_CHARS {
            return Err(CsrfError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| CsrfError::Malformed)?;
        if bytes.len() != TOKEN_BYTES {
            return Err(CsrfError::Malformed);
        }
        let (nonce, rest) = bytes.split_at(NONCE);
        let (issued, rest) = rest.split_at(ISSUED);
        let (tag, mac) = rest.split_at(TAG);
        let expected = self.mac(b"dx-csrf-token", &[nonce, issued, tag]);
        if !bool::from(expected.ct_eq(mac)) {
            return Err(CsrfError::Invalid);
        }
        if !crate::mutants::any_session(self.mutations, tag)
            && !bool::from(self.session_tag(session_id).ct_eq(tag))
        {
            return Err(CsrfError::SessionMismatch);
        }
        let mut issued_bytes = [0u8; ISSUED];
        issued_bytes.copy_from_slice(issued);
        let issued = u64::from_be_bytes(issued_bytes);
        let now = self.clock.now_millis();
        if issued > now.saturating_add(MAX_SKEW_MS) {
            return Err(CsrfError::Invalid);
        }
        let ttl_ms = u64::try_from(self.ttl.as_millis()).unwrap_or(u64::MAX);
        if now >= issued.saturating_add(ttl_ms) {
            return Err(CsrfError::Expired);
        }
        Ok(())
    }
}

#[cold]
fn unreachable_key() -> ! {
    // `Hmac::new_from_slice` accepts every key length; this cannot happen.
    std::process::abort()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn manager(clock: Arc<ManualClock>) -> CsrfManager {
        CsrfManager::new([7; 32], Duration::from_secs(2)).with_clock(clock)
    }

    #[test]
    fn a_token_is_valid_for_its_session_until_its_ttl() {
        let clock = ManualClock::at(1_700_000_000_000);
        let m = manager(clock.clone());
        let token = m.generate("session-a").unwrap();
        assert_eq!(token.len(), TOKEN_CHARS);
        assert_eq!(m.validate(&token, "session-a"), Ok(()));
        assert_eq!(
            m.validate(&token, "session-b"),
            Err(CsrfError::SessionMismatch)
        );
        clock.advance(1_999);
        assert_eq!(m.validate(&token, "session-a"), Ok(()));
        clock.advance(1);
        assert_eq!(m.validate(&token, "session-a"), Err(CsrfError::Expired));
        assert_eq!(m.ttl(), Duration::from_secs(2));
        assert!(format!("{m:?}").contains("ttl"));
    }

    #[test]
    fn tokens_from_another_secret_or_the_future_are_invalid() {
        let clock = ManualClock::at(1_700_000_000_000);
        let other = CsrfManager::new([8; 32], Duration::from_secs(2)).with_clock(clock.clone());
        let m = manager(clock.clone());
        assert_eq!(
            m.validate(&other.generate("s").unwrap(), "s"),
            Err(CsrfError::Invalid)
        );
        let future = m.generate("s").unwrap();
        clock.set(1_700_000_000_000 - MAX_SKEW_MS - 1);
        assert_eq!(m.validate(&future, "s"), Err(CsrfError::Invalid));
        clock.set(1_700_000_000_000 - MAX_SKEW_MS);
        assert_eq!(m.validate(&future, "s"), Ok(()));
        assert!(CsrfManager::random(Duration::from_secs(1)).is_ok());
        let derived = CsrfManager::derive_secret(b"seed");
        assert_eq!(derived, CsrfManager::derive_secret(b"seed"));
        assert_ne!(derived, CsrfManager::derive_secret(b"seed2"));
    }

    #[test]
    fn tokens_of_every_wrong_length_and_encoding_are_refused() {
        let m = manager(ManualClock::at(1_700_000_000_000));
        let good = m.generate("s").unwrap();
        for len in 0..=300 {
            let verdict = m.validate(&"A".repeat(len), "s");
            let want = if len == TOKEN_CHARS {
                CsrfError::Invalid
            } else {
                CsrfError::Malformed
            };
            assert_eq!(verdict, Err(want), "length {len}");
        }
        // The right length in other encodings: standard base64, padding, hex, non-ASCII.
        for bad in [
            good.replace('-', "+").replace('_', "/"),
            format!("{}=", &good[..95]),
            format!("{}é", &good[..94]),
            "0f".repeat(48),
            format!("{} ", &good[..95]),
        ] {
            if bad != good {
                assert!(m.validate(&bad, "s").is_err(), "{bad:?}");
            }
        }
        assert_eq!(m.validate(&good, "s"), Ok(()));
    }

    #[test]
    fn every_reason_has_its_wire_name() {
        let reasons: HashSet<_> = [
            CsrfError::Missing,
            CsrfError::Malformed,
            CsrfError::Invalid,
            CsrfError::Expired,
            CsrfError::SessionMismatch,
            CsrfError::NoSession,
            CsrfError::CrossSite,
        ]
        .iter()
        .map(|e| {
            assert!(!e.to_string().is_empty());
            e.reason()
        })
        .collect();
        assert_eq!(reasons.len(), 7);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// Feature: production-readiness, Property 16: CSRF Token Uniqueness
        #[test]
        fn tokens_of_different_sessions_differ(
            sessions in proptest::collection::hash_set("[A-Za-z0-9_-]{1,40}", 2..40),
        ) {
            let clock = ManualClock::at(1_700_000_000_000);
            let m = manager(clock);
            let tokens: Vec<String> = sessions.iter().map(|s| m.generate(s).unwrap()).collect();
            let distinct: HashSet<&String> = tokens.iter().collect();
            prop_assert_eq!(distinct.len(), tokens.len());
            // The nonces alone differ: 128 random bits per token.
            let nonces: HashSet<Vec<u8>> = tokens
                .iter()
                .map(|t| URL_SAFE_NO_PAD.decode(t).unwrap()[..NONCE].to_vec())
                .collect();
            prop_assert_eq!(nonces.len(), tokens.len());
        }

        /// Feature: production-readiness, Property 17: CSRF Validation Strictness
        #[test]
        fn any_change_to_a_token_or_its_session_is_refused(
            session in "[A-Za-z0-9_-]{22}",
            other in "[A-Za-z0-9_-]{22}",
            position in 0usize..TOKEN_CHARS,
            replacement in proptest::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".to_vec()),
            garbage in ".{0,200}",
            age in 0u64..10_000,
        ) {
            let clock = ManualClock::at(1_700_000_000_000);
            let m = manager(clock.clone());
            let token = m.generate(&session).unwrap();
            let mut bytes = token.clone().into_bytes();
            bytes[position] = replacement;
            let changed = String::from_utf8(bytes).unwrap();
            if changed != token {
                // 96 characters carry exactly 72 bytes: every change changes a byte the MAC
                // covers (or the MAC itself).
                prop_assert_eq!(m.validate(&changed, &session), Err(CsrfError::Invalid));
            }
            if other != session {
                prop_assert_eq!(m.validate(&token, &other), Err(CsrfError::SessionMismatch));
            }
            if garbage != token {
                prop_assert!(m.validate(&garbage, &session).is_err());
            }
            clock.advance(age);
            let expected = if age >= 2_000 { Err(CsrfError::Expired) } else { Ok(()) };
            prop_assert_eq!(m.validate(&token, &session), expected);
        }
    }
}
