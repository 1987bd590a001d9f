//! The keys tokens are signed and verified with: one signing key and any number of
//! verification keys, each named by a key id carried in the token's footer. Keeping the old
//! public key in the ring after switching the signing key lets tokens signed before the
//! rotation verify until they expire, so rotation logs nobody out.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{SigningKey, VerifyingKey};

/// The key id of `key`: `ed25519-` and the first 8 bytes of the public key in lowercase hex.
pub fn key_id(key: &VerifyingKey) -> String {
    let bytes = key.to_bytes();
    let hex: String = bytes[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("ed25519-{hex}")
}

/// A verification key and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyEntry {
    /// The key id tokens name in their footer.
    pub kid: String,
    /// The Ed25519 public key.
    pub key: VerifyingKey,
}

impl PublicKeyEntry {
    /// `key` under its derived id.
    pub fn new(key: VerifyingKey) -> Self {
        Self {
            kid: key_id(&key),
            key,
        }
    }

    /// The raw 32-byte key in unpadded base64url, as the discovery document publishes it.
    pub fn public_key_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.to_bytes())
    }
}

/// One signing key and the verification keys accepted.
#[derive(Debug, Clone)]
pub struct KeyRing {
    signing: SigningKey,
    signing_kid: String,
    verifying: Vec<PublicKeyEntry>,
}

impl KeyRing {
    /// A ring that signs with `signing` and verifies with its public key only.
    pub fn new(signing: SigningKey) -> Self {
        let entry = PublicKeyEntry::new(signing.verifying_key());
        Self {
            signing_kid: entry.kid.clone(),
            signing,
            verifying: vec![entry],
        }
    }

    /// Also accepts tokens signed by `key` (a retired signing key). A key already in the ring
    /// is not added twice.
    pub fn with_verification_key(mut self, key: VerifyingKey) -> Self {
        let entry = PublicKeyEntry::new(key);
        if !self.verifying.iter().any(|e| e.kid == entry.kid) {
            self.verifying.push(entry);
        }
        self
    }

    /// The signing key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    /// The id of the signing key.
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// Every verification key, the signing key's public key first.
    pub fn verification_keys(&self) -> &[PublicKeyEntry] {
        &self.verifying
    }

    /// The verification key named `kid`.
    pub fn find(&self, kid: &str) -> Option<&VerifyingKey> {
        self.verifying.iter().find(|e| e.kid == kid).map(|e| &e.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_holds_signing_key_first_and_retired_keys_once() {
        let a = SigningKey::from_bytes(&[1; 32]);
        let b = SigningKey::from_bytes(&[2; 32]);
        let ring = KeyRing::new(b.clone())
            .with_verification_key(a.verifying_key())
            .with_verification_key(a.verifying_key());
        assert_eq!(ring.verification_keys().len(), 2);
        assert_eq!(ring.verification_keys()[0].kid, ring.signing_kid());
        assert!(ring.find(&key_id(&a.verifying_key())).is_some());
        assert!(ring.find("ed25519-0000000000000000").is_none());
        assert!(ring.signing_kid().starts_with("ed25519-"));
        assert_eq!(ring.signing_kid().len(), "ed25519-".len() + 16);
        assert_eq!(ring.verification_keys()[0].public_key_base64url().len(), 43);
    }
}
