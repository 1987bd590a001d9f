//! Access and refresh tokens: the seed's [`AuthToken`] and [`TokenGenerator`], carried as
//! PASETO `v4.public` tokens (`spec/tokens.md`). The payload is the claims object
//! `{"jti","sub","iat","exp","typ"}` with times as RFC 3339 UTC date-times in whole seconds;
//! the footer is `{"kid":…}` naming the verification key.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime};
use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::error::{AuthError, InvalidReason};
use crate::keys::KeyRing;
use crate::mutants::{AuthMutant, AuthMutations};
use crate::paseto::{self, SIGNATURE_BYTES};

/// Longest token text considered at all; longer ones are refused before decoding.
pub const MAX_TOKEN_CHARS: usize = 4096;
/// Longest `sub` and `jti` accepted, in bytes.
pub const MAX_ID_BYTES: usize = 128;
/// The date-time format of `iat` and `exp`.
const TIME_FORMAT: &str = "%Y-%m-%dT%H:%M:%SZ";

/// Whether a token grants access to routes or renews access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Presented as `Authorization: Bearer` on authenticated routes.
    Access,
    /// Exchanged once for a new pair at the refresh endpoint.
    Refresh,
}

impl TokenType {
    /// `access` or `refresh`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

/// A signed token: the seed's fields plus what re-verifying it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthToken {
    /// Unique token identifier, for revocation.
    pub jti: String,
    /// The user the token speaks for.
    pub sub: String,
    /// Issued at, in Unix seconds.
    pub iat: i64,
    /// Expires at, in Unix seconds: valid while the time is before it.
    pub exp: i64,
    /// Access or refresh.
    pub typ: TokenType,
    /// The Ed25519 signature over the PAE of header, payload and footer.
    pub sig: [u8; SIGNATURE_BYTES],
    /// The id of the key that signed it.
    pub kid: String,
    payload: Vec<u8>,
    footer: Vec<u8>,
    /// Whether the payload is the claims object `spec/tokens.md` fixes (judged once, at parse).
    claims_valid: bool,
}

impl AuthToken {
    /// The token's text, as sent in `Authorization: Bearer`.
    pub fn to_wire(&self) -> String {
        paseto::encode(&self.payload, &self.sig, &self.footer)
    }

    /// Reads `text` without checking its signature or expiry (see [`TokenGenerator::verify`]).
    pub fn parse(text: &str) -> Result<Self, AuthError> {
        if text.len() > MAX_TOKEN_CHARS {
            return Err(AuthError::TokenInvalid(InvalidReason::TooLong));
        }
        let parts = paseto::split(text).ok_or(AuthError::TokenInvalid(InvalidReason::Malformed))?;
        let footer: Footer = serde_json::from_slice(&parts.footer)
            .map_err(|_| AuthError::TokenInvalid(InvalidReason::UnknownKey))?;
        let claims = Claims::parse(&parts.payload);
        // The claims are judged after the signature (an unsigned payload says nothing), so a
        // token whose claims do not parse is still returned for the signature check.
        Ok(Self {
            jti: claims.as_ref().map(|c| c.jti.clone()).unwrap_or_default(),
            sub: claims.as_ref().map(|c| c.sub.clone()).unwrap_or_default(),
            iat: claims.as_ref().map_or(0, |c| c.iat),
            exp: claims.as_ref().map_or(0, |c| c.exp),
            typ: claims.as_ref().map_or(TokenType::Access, |c| c.typ),
            sig: parts.signature,
            kid: footer.kid,
            claims_valid: claims.is_some(),
            payload: parts.payload,
            footer: parts.footer,
        })
    }
}

/// The footer: which key signed the token.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Footer {
    kid: String,
}

/// The payload as it travels.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireClaims {
    jti: String,
    sub: String,
    iat: String,
    exp: String,
    typ: TokenType,
}

/// The payload, checked.
#[derive(Debug)]
struct Claims {
    jti: String,
    sub: String,
    iat: i64,
    exp: i64,
    typ: TokenType,
}

impl Claims {
    fn parse(payload: &[u8]) -> Option<Self> {
        let wire: WireClaims = serde_json::from_slice(payload).ok()?;
        let id_ok = |s: &str| !s.is_empty() && s.len() <= MAX_ID_BYTES;
        if !id_ok(&wire.jti) || !id_ok(&wire.sub) {
            return None;
        }
        Some(Self {
            iat: parse_time(&wire.iat)?,
            exp: parse_time(&wire.exp)?,
            jti: wire.jti,
            sub: wire.sub,
            typ: wire.typ,
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` only: one spelling per instant.
fn parse_time(text: &str) -> Option<i64> {
    let t = NaiveDateTime::parse_from_str(text, TIME_FORMAT).ok()?;
    (t.format(TIME_FORMAT).to_string() == text).then(|| t.and_utc().timestamp())
}

/// Unix seconds as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_time(seconds: i64) -> Option<String> {
    DateTime::from_timestamp(seconds, 0).map(|t| t.format(TIME_FORMAT).to_string())
}

/// Issues and verifies tokens.
#[derive(Debug, Clone)]
pub struct TokenGenerator {
    keys: KeyRing,
    access_ttl: i64,
    refresh_ttl: i64,
    clock: Arc<dyn Clock>,
    mutations: AuthMutations,
}

impl TokenGenerator {
    /// A generator signing with `keys`, issuing tokens that live `access_ttl` and
    /// `refresh_ttl` seconds, reading the time from `clock`.
    pub fn new(keys: KeyRing, access_ttl: u32, refresh_ttl: u32, clock: Arc<dyn Clock>) -> Self {
        Self {
            keys,
            access_ttl: i64::from(access_ttl.max(1)),
            refresh_ttl: i64::from(refresh_ttl.max(1)),
            clock,
            mutations: AuthMutations::none(),
        }
    }

    /// Runs with a deliberately broken behaviour (mutant builds only).
    pub fn with_mutations(mut self, mutations: AuthMutations) -> Self {
        self.mutations = mutations;
        self
    }

    /// The key ring.
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }

    /// Access token lifetime, in seconds.
    pub fn access_ttl(&self) -> i64 {
        self.access_ttl
    }

    /// Refresh token lifetime, in seconds.
    pub fn refresh_ttl(&self) -> i64 {
        self.refresh_ttl
    }

    /// The clock tokens are judged by.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// A new access token for `user_id`.
    pub fn generate_access(&self, user_id: &str) -> Result<AuthToken, AuthError> {
        let now = self.clock.now();
        self.mint(user_id, TokenType::Access, now, now + self.access_ttl)
    }

    /// A new refresh token for `user_id`.
    pub fn generate_refresh(&self, user_id: &str) -> Result<AuthToken, AuthError> {
        let now = self.clock.now();
        self.mint(user_id, TokenType::Refresh, now, now + self.refresh_ttl)
    }

    /// A token with the given claims and a fresh `jti`, signed with the signing key.
    pub fn mint(
        &self,
        user_id: &str,
        typ: TokenType,
        iat: i64,
        exp: i64,
    ) -> Result<AuthToken, AuthError> {
        if user_id.is_empty() || user_id.len() > MAX_ID_BYTES {
            return Err(AuthError::Internal("subject out of range".into()));
        }
        let time =
            |t: i64| format_time(t).ok_or_else(|| AuthError::Internal("time out of range".into()));
        let jti = uuid::Uuid::new_v4().to_string();
        let payload = serde_json::to_vec(&WireClaims {
            jti: jti.clone(),
            sub: user_id.to_owned(),
            iat: time(iat)?,
            exp: time(exp)?,
            typ,
        })
        .map_err(|e| AuthError::Internal(e.to_string()))?;
        let footer = serde_json::to_vec(&Footer {
            kid: self.keys.signing_kid().to_owned(),
        })
        .map_err(|e| AuthError::Internal(e.to_string()))?;
        let (_, sig) = paseto::sign(self.keys.signing_key(), &payload, &footer);
        Ok(AuthToken {
            jti,
            sub: user_id.to_owned(),
            iat,
            exp,
            typ,
            sig,
            kid: self.keys.signing_kid().to_owned(),
            payload,
            footer,
            claims_valid: true,
        })
    }

    /// Checks the signature (by the key the footer names), the claims and the expiry: valid
    /// while the clock reads less than `exp`.
    pub fn verify(&self, token: &AuthToken) -> Result<(), AuthError> {
        if self.mutations.is(AuthMutant::ExpiryCheckedFirst)
            && crate::mutants::expired_first(self.clock.now(), token.exp)
        {
            return Err(AuthError::TokenExpired);
        }
        let key = self
            .keys
            .find(&token.kid)
            .ok_or(AuthError::TokenInvalid(InvalidReason::UnknownKey))?;
        let signed = paseto::signed_bytes(&token.payload, &token.footer);
        if !paseto::verify_raw(key, &signed, &token.sig)
            && !self.mutations.is(AuthMutant::SignatureNotChecked)
        {
            return Err(AuthError::TokenInvalid(InvalidReason::BadSignature));
        }
        if !token.claims_valid {
            return Err(AuthError::TokenInvalid(InvalidReason::BadClaims));
        }
        let now = self.clock.now();
        let expired = if self.mutations.is(AuthMutant::ExpiryOffByOne) {
            crate::mutants::expired_off_by_one(now, token.exp)
        } else {
            now >= token.exp
        };
        if expired {
            return Err(AuthError::TokenExpired);
        }
        Ok(())
    }

    /// Reads and verifies `text` for a use that needs a token of type `expected`.
    pub fn verify_text(&self, text: &str, expected: TokenType) -> Result<AuthToken, AuthError> {
        let token = AuthToken::parse(text)?;
        self.verify(&token).map_err(|e| match e {
            // Type confusion is reported before expiry: an expired token of the wrong type
            // was never usable here.
            AuthError::TokenExpired
                if token.typ != expected && !self.mutations.is(AuthMutant::ExpiryCheckedFirst) =>
            {
                AuthError::TokenInvalid(InvalidReason::WrongType)
            }
            other => other,
        })?;
        let confused_allowed = self.mutations.is(AuthMutant::RefreshAcceptedAsAccess)
            && crate::mutants::confusion_allowed(expected);
        if token.typ != expected && !confused_allowed {
            return Err(AuthError::TokenInvalid(InvalidReason::WrongType));
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    //! Feature: production-readiness, Property 2: Token Signature Integrity
    //! Feature: production-readiness, Property 3: Token Expiration Enforcement
    use super::*;
    use crate::clock::ManualClock;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    const T0: i64 = 1_800_000_000;

    fn generator(clock: Arc<ManualClock>) -> TokenGenerator {
        TokenGenerator::new(
            KeyRing::new(SigningKey::from_bytes(&[7; 32])),
            900,
            86_400,
            clock,
        )
    }

    fn kind(e: AuthError) -> String {
        match e {
            AuthError::TokenInvalid(r) => format!("invalid:{}", r.as_str()),
            other => other.to_string(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Feature: production-readiness, Property 2: Token Signature Integrity
        #[test]
        fn issued_tokens_verify_and_any_bit_flip_is_refused(
            sub in "[a-zA-Z0-9_-]{1,64}",
            refresh in any::<bool>(),
            bit in any::<prop::sample::Index>(),
            text_bit in any::<prop::sample::Index>(),
        ) {
            let clock = Arc::new(ManualClock::at(T0));
            let g = generator(Arc::clone(&clock));
            let typ = if refresh { TokenType::Refresh } else { TokenType::Access };
            let token = if refresh { g.generate_refresh(&sub) } else { g.generate_access(&sub) }.unwrap();
            let text = token.to_wire();
            let back = g.verify_text(&text, typ).unwrap();
            prop_assert_eq!(&back, &token);
            prop_assert_eq!(back.sub.as_str(), sub.as_str());

            // Flip one bit of the signed bytes (payload, signature or footer).
            let parts = paseto::split(&text).unwrap();
            let mut bytes = [parts.payload.clone(), parts.signature.to_vec(), parts.footer.clone()].concat();
            let i = bit.index(bytes.len() * 8);
            bytes[i / 8] ^= 1 << (i % 8);
            let (p, rest) = bytes.split_at(parts.payload.len());
            let (s, f) = rest.split_at(SIGNATURE_BYTES);
            let forged = paseto::encode(p, s.try_into().unwrap(), f);
            let refused = g.verify_text(&forged, typ).unwrap_err();
            prop_assert!(matches!(refused, AuthError::TokenInvalid(_)), "{}", kind(refused));

            // Flip one bit of the text.
            let mut raw = text.clone().into_bytes();
            let j = text_bit.index(raw.len() * 8);
            raw[j / 8] ^= 1 << (j % 8);
            let flipped = String::from_utf8_lossy(&raw).into_owned();
            let refused = g.verify_text(&flipped, typ).unwrap_err();
            prop_assert!(matches!(refused, AuthError::TokenInvalid(_)), "{}", kind(refused));
        }

        /// Feature: production-readiness, Property 3: Token Expiration Enforcement
        #[test]
        fn tokens_are_valid_before_exp_and_expired_from_exp(
            iat in T0 - 1_000_000..T0 + 1_000_000,
            ttl in 1i64..10_000_000,
            after in 0i64..1_000_000,
        ) {
            let clock = Arc::new(ManualClock::at(iat));
            let g = generator(Arc::clone(&clock));
            let token = g.mint("user", TokenType::Access, iat, iat + ttl).unwrap();
            let text = token.to_wire();
            clock.set(iat + ttl - 1);
            prop_assert!(g.verify_text(&text, TokenType::Access).is_ok());
            clock.set(iat + ttl);
            prop_assert!(matches!(g.verify_text(&text, TokenType::Access), Err(AuthError::TokenExpired)));
            clock.set(iat + ttl + after);
            prop_assert!(matches!(g.verify(&token), Err(AuthError::TokenExpired)));
        }
    }

    #[test]
    fn lifetimes_and_subjects_are_bounded() {
        let clock = Arc::new(ManualClock::at(T0));
        let g = TokenGenerator::new(KeyRing::new(SigningKey::from_bytes(&[7; 32])), 0, 7, clock);
        assert_eq!((g.access_ttl(), g.refresh_ttl()), (1, 7));
        assert!(g.mint("", TokenType::Access, T0, T0 + 1).is_err());
        assert!(
            g.mint(&"s".repeat(MAX_ID_BYTES), TokenType::Access, T0, T0 + 1)
                .is_ok()
        );
        assert!(
            g.mint(&"s".repeat(MAX_ID_BYTES + 1), TokenType::Access, T0, T0 + 1)
                .is_err()
        );
        let refresh = g.generate_refresh("u").unwrap();
        assert_eq!(refresh.exp - refresh.iat, 7);
    }

    #[test]
    fn the_length_limit_is_checked_before_decoding() {
        let reason = |text: &str| match AuthToken::parse(text) {
            Err(AuthError::TokenInvalid(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            reason(&"x".repeat(MAX_TOKEN_CHARS)),
            InvalidReason::Malformed
        );
        assert_eq!(
            reason(&"x".repeat(MAX_TOKEN_CHARS + 1)),
            InvalidReason::TooLong
        );
    }

    #[test]
    fn an_expired_token_of_the_wrong_type_is_the_wrong_type() {
        let clock = Arc::new(ManualClock::at(T0));
        let g = generator(clock.clone());
        let refresh = g.generate_refresh("u").unwrap().to_wire();
        clock.advance(100_000);
        assert!(matches!(
            g.verify_text(&refresh, TokenType::Access),
            Err(AuthError::TokenInvalid(InvalidReason::WrongType))
        ));
        assert!(matches!(
            g.verify_text(&refresh, TokenType::Refresh),
            Err(AuthError::TokenExpired)
        ));
    }

    #[test]
    fn type_names_are_the_wire_names() {
        for typ in [TokenType::Access, TokenType::Refresh] {
            let wire = serde_json::to_value(typ).unwrap();
            assert_eq!(wire.as_str(), Some(typ.as_str()));
        }
        assert_eq!(TokenType::Access.as_str(), "access");
        assert_eq!(TokenType::Refresh.as_str(), "refresh");
    }

    #[test]
    fn types_are_not_interchangeable() {
        let g = generator(Arc::new(ManualClock::at(T0)));
        let access = g.generate_access("u").unwrap().to_wire();
        let refresh = g.generate_refresh("u").unwrap().to_wire();
        for (text, wrong) in [(access, TokenType::Refresh), (refresh, TokenType::Access)] {
            assert_eq!(
                kind(g.verify_text(&text, wrong).unwrap_err()),
                "invalid:wrong_type"
            );
        }
    }

    #[test]
    fn a_retired_key_still_verifies_and_an_unknown_key_does_not() {
        let clock = Arc::new(ManualClock::at(T0));
        let old = TokenGenerator::new(
            KeyRing::new(SigningKey::from_bytes(&[1; 32])),
            60,
            60,
            clock.clone(),
        );
        let token = old.generate_access("u").unwrap().to_wire();
        let rotated = TokenGenerator::new(
            KeyRing::new(SigningKey::from_bytes(&[2; 32]))
                .with_verification_key(SigningKey::from_bytes(&[1; 32]).verifying_key()),
            60,
            60,
            clock.clone(),
        );
        assert!(rotated.verify_text(&token, TokenType::Access).is_ok());
        let stranger = generator(clock);
        assert_eq!(
            kind(stranger.verify_text(&token, TokenType::Access).unwrap_err()),
            "invalid:unknown_key"
        );
    }

    #[test]
    fn the_wire_format_is_byte_exact() {
        let g = generator(Arc::new(ManualClock::at(T0)));
        let t = g.mint("user-1", TokenType::Access, T0, T0 + 900).unwrap();
        let parts = paseto::split(&t.to_wire()).unwrap();
        let payload = String::from_utf8(parts.payload).unwrap();
        assert_eq!(
            payload,
            format!(
                r#"{{"jti":"{}","sub":"user-1","iat":"2027-01-15T08:00:00Z","exp":"2027-01-15T08:15:00Z","typ":"access"}}"#,
                t.jti
            )
        );
        assert_eq!(
            String::from_utf8(parts.footer).unwrap(),
            format!(r#"{{"kid":"{}"}}"#, g.keys().signing_kid())
        );
    }

    #[test]
    fn claims_must_be_exactly_the_spec_members() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let g = generator(Arc::new(ManualClock::at(T0)));
        let footer = format!(r#"{{"kid":"{}"}}"#, g.keys().signing_kid());
        let good =
            r#""jti":"j","sub":"s","iat":"2027-01-15T08:00:00Z","exp":"2027-01-15T09:00:00Z""#;
        for (payload, ok) in [
            (format!(r#"{{{good},"typ":"access"}}"#), true),
            (format!(r#"{{{good},"typ":"Access"}}"#), false),
            (format!(r#"{{{good},"typ":"access","x":1}}"#), false),
            (format!(r#"{{{good},"typ":"access","typ":"access"}}"#), false),
            (format!(r#"{{{good}}}"#), false),
            (good.replace("08:00:00Z", "08:00:00.5Z").replace('{', "") + r#","typ":"access""#, false),
            (r#"{"jti":"","sub":"s","iat":"2027-01-15T08:00:00Z","exp":"2027-01-15T09:00:00Z","typ":"access"}"#.into(), false),
            (r#"{"jti":"j","sub":"s","iat":1800000000,"exp":1800003600,"typ":"access"}"#.into(), false),
            ("[]".into(), false),
        ] {
            let payload = if payload.starts_with('{') || payload.starts_with('[') { payload } else { format!("{{{payload}}}") };
            let (text, _) = paseto::sign(&key, payload.as_bytes(), footer.as_bytes());
            let result = g.verify_text(&text, TokenType::Access);
            if ok {
                assert!(result.is_ok(), "{payload}");
            } else {
                assert!(matches!(result, Err(AuthError::TokenInvalid(InvalidReason::BadClaims))), "{payload}: {result:?}");
            }
        }
    }

    #[test]
    fn hostile_texts_are_invalid_not_errors() {
        let g = generator(Arc::new(ManualClock::at(T0)));
        let good = g.generate_access("u").unwrap().to_wire();
        for text in [
            String::new(),
            "Bearer".into(),
            "v4.local.AAAA".into(),
            "v2.public.AAAA".into(),
            "x".repeat(MAX_TOKEN_CHARS + 1),
            good[..good.len() - 1].to_owned(),
            format!("{good}A"),
            good.replace("v4.public.", "v4.public.\u{0}"),
        ] {
            assert!(matches!(
                g.verify_text(&text, TokenType::Access),
                Err(AuthError::TokenInvalid(_))
            ));
        }
    }
}
