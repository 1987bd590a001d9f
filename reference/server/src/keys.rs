//! The server's Ed25519 signing key, from `--key-file` (PKCS#8 PEM, as `openssl genpkey
//! -algorithm ed25519` writes it, or the 32-byte seed as 64 hex digits). Without a file the
//! server makes an ephemeral key and says so: tokens it signs will not survive a restart or
//! verify on another instance.

use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::config::ConfigError;

/// The signing key and its public identifier.
#[derive(Debug)]
pub struct ServerKey {
    key: SigningKey,
    key_id: String,
    ephemeral: bool,
}

impl ServerKey {
    /// Loads the key in `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::invalid(
                "key_file",
                format!("cannot read the key file {}: {e}", path.display()),
            )
        })?;
        warn_if_readable_by_others(path);
        let key = parse(&text).map_err(|reason| ConfigError::invalid("key_file", reason))?;
        Ok(Self::from_key(key, false))
    }

    /// A fresh random key, for deployments without a key file.
    pub fn ephemeral() -> Result<Self, ConfigError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| {
            ConfigError::invalid(
                "key_file",
                format!("no key file and the system random source failed: {e}"),
            )
        })?;
        Ok(Self::from_key(SigningKey::from_bytes(&seed), true))
    }

    fn from_key(key: SigningKey, ephemeral: bool) -> Self {
        let key_id = dx_auth::key_id(&key.verifying_key());
        Self {
            key,
            key_id,
            ephemeral,
        }
    }

    /// The key.
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// The public key id (`ed25519-` and the first 8 bytes of the public key in hex).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Whether the key was generated at start-up.
    pub fn is_ephemeral(&self) -> bool {
        self.ephemeral
    }
}

/// Loads a retired public key (`--verify-key-file`): PEM SubjectPublicKeyInfo, as `openssl
/// pkey -pubout` writes it, or the raw 32-byte key as 64 hex digits.
pub fn load_verification_key(path: &Path) -> Result<VerifyingKey, ConfigError> {
    let invalid = |reason: String| ConfigError::invalid("verify_key_files", reason);
    let text = std::fs::read_to_string(path).map_err(|e| {
        invalid(format!(
            "cannot read the verification key file {}: {e}",
            path.display()
        ))
    })?;
    let trimmed = text.trim();
    if trimmed.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(trimmed)
            .map_err(|_| invalid("the PEM is not an Ed25519 public key".to_owned()));
    }
    let bytes = hex32(trimmed)
        .ok_or_else(|| invalid("expected a PEM Ed25519 public key or 64 hex digits".to_owned()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| invalid("the 32 bytes are not an Ed25519 public key".to_owned()))
}

/// 64 hex digits as 32 bytes.
fn hex32(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn parse(text: &str) -> Result<SigningKey, String> {
    let trimmed = text.trim();
    if trimmed.starts_with("-----BEGIN") {
        return SigningKey::from_pkcs8_pem(trimmed)
            .map_err(|_| "the PEM is not an Ed25519 PKCS#8 private key".to_owned());
    }
    if let Some(seed) = hex32(trimmed) {
        return Ok(SigningKey::from_bytes(&seed));
    }
    Err("expected a PKCS#8 PEM Ed25519 private key or 64 hex digits".to_owned())
}

#[cfg(unix)]
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            mode = format!("{:o}", meta.permissions().mode() & 0o777),
            "the key file is readable by group or others; restrict it to the server's user (chmod 600)"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_readable_by_others(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use ed25519_dalek::{Signer, Verifier};

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("dx-key-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn loads_hex_and_pem_to_the_same_key() {
        let seed = [7u8; 32];
        let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
        let from_hex = ServerKey::load(&write("hex", &format!("{hex}\n"))).unwrap();
        let pem = SigningKey::from_bytes(&seed)
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        let from_pem = ServerKey::load(&write("pem", &pem)).unwrap();
        assert_eq!(from_hex.signing_key().to_bytes(), seed);
        assert_eq!(from_pem.signing_key().to_bytes(), seed);
        assert_eq!(from_hex.key_id(), from_pem.key_id());
        assert!(from_hex.key_id().starts_with("ed25519-") && from_hex.key_id().len() == 24);
        assert!(!from_hex.is_ephemeral());
        let sig = from_pem.signing_key().sign(b"payload");
        assert!(
            from_hex
                .signing_key()
                .verifying_key()
                .verify(b"payload", &sig)
                .is_ok()
        );
    }

    #[test]
    fn bad_files_are_clear_errors() {
        for (name, text) in [
            ("short", "abcd"),
            ("garbage", "not a key"),
            (
                "pem",
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
            ),
        ] {
            let err = ServerKey::load(&write(name, text)).unwrap_err().to_string();
            assert!(err.contains("key_file"), "{err}");
        }
        let err = ServerKey::load(Path::new("/nonexistent/key.pem"))
            .unwrap_err()
            .to_string();
        // The path and the operating system's reason, not only "entity not found".
        assert!(
            err.contains(
                "cannot read the key file /nonexistent/key.pem: No such file or directory"
            ),
            "{err}"
        );
        let err = load_verification_key(Path::new("/nonexistent/old.pub"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/nonexistent/old.pub: No such file or directory"),
            "{err}"
        );
    }

    #[test]
    fn verification_keys_load_from_pem_and_hex() {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let public = SigningKey::from_bytes(&[5; 32]).verifying_key();
        let pem = public
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .unwrap();
        let hex: String = public
            .to_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            load_verification_key(&write("pub-pem", &pem)).unwrap(),
            public
        );
        assert_eq!(
            load_verification_key(&write("pub-hex", &hex)).unwrap(),
            public
        );
        for text in [
            "zz",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
        ] {
            let err = load_verification_key(&write("pub-bad", text))
                .unwrap_err()
                .to_string();
            assert!(err.contains("verify_key_files"), "{err}");
        }
    }

    #[test]
    fn ephemeral_keys_differ() {
        let a = ServerKey::ephemeral().unwrap();
        let b = ServerKey::ephemeral().unwrap();
        assert!(a.is_ephemeral());
        assert_ne!(a.key_id(), b.key_id());
    }
}
