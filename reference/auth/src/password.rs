//! Passwords: normalised to Unicode NFC, limited to [`MAX_PASSWORD_BYTES`], hashed with
//! Argon2id into PHC strings (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`), each with its own random
//! salt. A hash made with weaker parameters than the current ones is flagged for re-hashing at
//! the next successful login (`spec/auth.md`, "Passwords").

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use unicode_normalization::UnicodeNormalization;

use crate::error::{AuthError, CredentialRule};
use crate::mutants::{AuthMutant, AuthMutations};

/// Longest password accepted: bytes of its UTF-8 NFC form.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashCost {
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashCost {
    /// OWASP's Argon2id recommendation (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane.
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };

    /// Whether a hash made with `self` is weaker than `current` in any parameter.
    pub fn weaker_than(self, current: Self) -> bool {
        self.memory_kib < current.memory_kib
            || self.iterations < current.iterations
            || self.parallelism < current.parallelism
    }
}

/// The password as it is hashed: NFC, non-empty, at most [`MAX_PASSWORD_BYTES`].
pub fn normalize(password: &str) -> Result<String, AuthError> {
    let nfc: String = password.nfc().collect();
    if nfc.is_empty() {
        return Err(AuthError::Rejected(CredentialRule::PasswordEmpty));
    }
    if nfc.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::Rejected(CredentialRule::PasswordTooLong));
    }
    Ok(nfc)
}

/// Hashes and verifies passwords with Argon2id.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    cost: HashCost,
    params: Params,
    mutations: AuthMutations,
}

impl PasswordHasher {
    /// A hasher with `cost`. Fails on parameters Argon2 refuses.
    pub fn new(cost: HashCost) -> Result<Self, AuthError> {
        let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
            .map_err(|e| AuthError::Internal(format!("argon2 parameters: {e}")))?;
        Ok(Self {
            cost,
            params,
            mutations: AuthMutations::none(),
        })
    }

    /// OWASP's parameters.
    pub fn owasp() -> Self {
        Self {
            cost: HashCost::OWASP,
            params: Params::DEFAULT,
            mutations: AuthMutations::none(),
        }
    }

    /// Runs with a deliberately broken behaviour (mutant builds only).
    pub fn with_mutations(mut self, mutations: AuthMutations) -> Self {
        self.mutations = mutations;
        self
    }

    /// The current cost.
    pub fn cost(&self) -> HashCost {
        self.cost
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// The bytes that are hashed: the NFC form (all of it, unless a mutant truncates).
    fn material(&self, password: &str) -> Result<Vec<u8>, AuthError> {
        let mut bytes = normalize(password)?.into_bytes();
        if self.mutations.is(AuthMutant::PasswordTruncated) {
            bytes.truncate(72);
        }
        Ok(bytes)
    }

    /// Hashes `password` into a PHC string with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, AuthError> {
        let material = self.material(password)?;
        self.argon2()
            .hash_password(&material)
            .map(|h| h.to_string())
            .map_err(|e| AuthError::Internal(format!("argon2 hash: {e}")))
    }

    /// Whether `password` matches `hash`, under the parameters stored in `hash`. A stored
    /// string that is not an Argon2 PHC string is an internal error, never a match.
    pub fn verify(&self, password: &str, hash: &str) -> Result<bool, AuthError> {
        let material = self.material(password)?;
        let parsed = PasswordHash::new(hash)
            .map_err(|e| AuthError::Internal(format!("stored hash is not a PHC string: {e}")))?;
        match self.argon2().verify_password(&material, &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(AuthError::Internal(format!("argon2 verify: {e}"))),
        }
    }

    /// Whether `hash` should be replaced by a hash with the current parameters: another
    /// algorithm or version, or any cost weaker than the current one.
    pub fn needs_rehash(&self, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return true;
        };
        if parsed.algorithm.as_str() != "argon2id" || parsed.version != Some(0x13) {
            return true;
        }
        match Params::try_from(&parsed) {
            Ok(p) => HashCost {
                memory_kib: p.m_cost(),
                iterations: p.t_cost(),
                parallelism: p.p_cost(),
            }
            .weaker_than(self.cost),
            Err(_) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    //! Feature: production-readiness, Property 1: Password Hash Round-Trip
    use super::*;
    use proptest::prelude::*;

    /// Cheap parameters: the property is about the round trip, not the cost.
    fn cheap() -> PasswordHasher {
        PasswordHasher::new(HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    /// Any non-empty string whose NFC form fits the limit.
    fn password() -> impl Strategy<Value = String> {
        prop_oneof!["\\PC{1,64}", "[a-z]{1,16}", ".{1,300}",]
            .prop_filter("fits", |p| normalize(p).is_ok())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Feature: production-readiness, Property 1: Password Hash Round-Trip
        #[test]
        fn every_valid_password_verifies_against_its_own_hash(pw in password(), other in password()) {
            let h = cheap();
            let hash = h.hash(&pw).unwrap();
            prop_assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
            prop_assert!(h.verify(&pw, &hash).unwrap());
            let same = normalize(&pw).unwrap() == normalize(&other).unwrap();
            prop_assert_eq!(h.verify(&other, &hash).unwrap(), same);
        }
    }

    #[test]
    fn salts_differ_and_nfc_forms_match() {
        let h = cheap();
        let a = h.hash("same").unwrap();
        let b = h.hash("same").unwrap();
        assert_ne!(a, b, "each hash has its own salt");
        let decomposed = "e\u{301}te\u{301}";
        let composed = "\u{e9}t\u{e9}";
        let hash = h.hash(decomposed).unwrap();
        assert!(h.verify(composed, &hash).unwrap());
    }

    #[test]
    fn limits_are_bytes_of_the_nfc_form() {
        assert!(matches!(
            normalize(""),
            Err(AuthError::Rejected(CredentialRule::PasswordEmpty))
        ));
        assert!(normalize(&"a".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert!(matches!(
            normalize(&"a".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(AuthError::Rejected(CredentialRule::PasswordTooLong))
        ));
        // 512 × "e + combining acute" is 1536 bytes, but its NFC form is 512 × "é" = 1024.
        assert_eq!(normalize(&"e\u{301}".repeat(512)).unwrap().len(), 1024);
        let long_tail = format!("{}x", "a".repeat(100));
        let h = cheap();
        let hash = h.hash(&long_tail).unwrap();
        assert!(!h.verify(&format!("{}y", "a".repeat(100)), &hash).unwrap());
    }

    #[test]
    fn weaker_or_foreign_hashes_need_rehash() {
        let weak = cheap();
        let owasp = PasswordHasher::owasp();
        let old = weak.hash("pw").unwrap();
        assert!(owasp.needs_rehash(&old));
        assert!(!weak.needs_rehash(&old));
        assert!(
            owasp.needs_rehash("$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA")
        );
        assert!(owasp.needs_rehash("not a hash"));
        assert!(weak.verify("pw", "not a hash").is_err());
        assert!(!HashCost::OWASP.weaker_than(HashCost::OWASP));
    }

    #[test]
    fn owasp_means_19_mib_two_passes_one_lane() {
        let owasp = PasswordHasher::owasp();
        assert_eq!(
            owasp.cost(),
            HashCost {
                memory_kib: 19_456,
                iterations: 2,
                parallelism: 1
            }
        );
        assert_eq!(HashCost::OWASP, owasp.cost());
        let hash = owasp.hash("pw").unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(!owasp.needs_rehash(&hash));
        assert!(owasp.verify("pw", &hash).unwrap());
    }

    /// Each parameter on its own makes a hash weaker; equal or stronger ones do not.
    #[rstest::rstest]
    #[case((63, 2, 2), true)]
    #[case((64, 1, 2), true)]
    #[case((64, 2, 1), true)]
    #[case((64, 2, 2), false)]
    #[case((65, 2, 2), false)]
    #[case((64, 3, 2), false)]
    #[case((64, 2, 3), false)]
    #[case((1, 9, 9), true)]
    fn weaker_in_any_parameter(#[case] (m, t, p): (u32, u32, u32), #[case] weaker: bool) {
        let current = HashCost {
            memory_kib: 64,
            iterations: 2,
            parallelism: 2,
        };
        let stored = HashCost {
            memory_kib: m,
            iterations: t,
            parallelism: p,
        };
        assert_eq!(stored.weaker_than(current), weaker);
    }
}
