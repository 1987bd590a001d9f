//! The suite's own reading of `spec/tokens.md`: it parses and verifies tokens itself, with
//! `ed25519-dalek` and the keys of the discovery document, never with the reference's code,
//! so a target is judged by the spec and not by another implementation's opinion.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::Value;

/// Every token starts with this.
pub const HEADER: &str = "v4.public.";

/// A verification key the target publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    /// Its id.
    pub kid: String,
    /// The key.
    pub key: VerifyingKey,
}

/// The claims of a token, times in Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// Token id.
    pub jti: String,
    /// Subject (user id).
    pub sub: String,
    /// Issued at.
    pub iat: i64,
    /// Expires at.
    pub exp: i64,
    /// `access` or `refresh`.
    pub typ: String,
}

/// A token split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token as sent.
    pub text: String,
    /// Payload bytes.
    pub payload: Vec<u8>,
    /// Signature bytes.
    pub signature: [u8; 64],
    /// Footer bytes.
    pub footer: Vec<u8>,
    /// The key id the footer names.
    pub kid: String,
    /// The claims.
    pub claims: Claims,
}

/// PASETO's pre-authentication encoding.
pub fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let le64 = |n: usize| ((n as u64) & (u64::MAX >> 1)).to_le_bytes();
    let mut out = le64(pieces.len()).to_vec();
    for piece in pieces {
        out.extend_from_slice(&le64(piece.len()));
        out.extend_from_slice(piece);
    }
    out
}

fn signed_bytes(payload: &[u8], footer: &[u8]) -> Vec<u8> {
    pae(&[HEADER.as_bytes(), payload, footer, b""])
}

/// A token over `payload` and `footer` signed by `key`: how the suite forges tokens with keys
/// the target does not know.
pub fn sign(key: &SigningKey, payload: &[u8], footer: &[u8]) -> String {
    let signature = key.sign(&signed_bytes(payload, footer)).to_bytes();
    encode(payload, &signature, footer)
}

/// The text of a token from its parts.
pub fn encode(payload: &[u8], signature: &[u8; 64], footer: &[u8]) -> String {
    let body = [payload, &signature[..]].concat();
    let mut text = format!("{HEADER}{}", URL_SAFE_NO_PAD.encode(body));
    if !footer.is_empty() {
        text.push('.');
        text.push_str(&URL_SAFE_NO_PAD.encode(footer));
    }
    text
}

fn canonical(text: &str) -> Result<Vec<u8>, String> {
    if let Some(c) = text
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!("the character {c:?} is not base64url"));
    }
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("not canonical unpadded base64url: {e}"))
}

/// `YYYY-MM-DDTHH:MM:SSZ` as Unix seconds, or why not.
fn time(claims: &serde_json::Map<String, Value>, name: &str) -> Result<i64, String> {
    let text = claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("`{name}` is not a string"))?;
    let parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%SZ")
        .map_err(|_| format!("`{name}` = {text:?} is not YYYY-MM-DDTHH:MM:SSZ"))?;
    if parsed.format("%Y-%m-%dT%H:%M:%SZ").to_string() != text {
        return Err(format!("`{name}` = {text:?} is not YYYY-MM-DDTHH:MM:SSZ"));
    }
    Ok(parsed.and_utc().timestamp())
}

/// Parses `text` as `spec/tokens.md` fixes it, without checking the signature.
pub fn parse(text: &str) -> Result<Token, String> {
    let rest = text
        .strip_prefix(HEADER)
        .ok_or_else(|| "does not start with `v4.public.`".to_owned())?;
    let (body, footer) = rest
        .split_once('.')
        .ok_or_else(|| "has no footer".to_owned())?;
    let body = canonical(body)?;
    let footer = canonical(footer)?;
    if body.len() <= 64 {
        return Err(format!(
            "its body is {} bytes: no payload before the signature",
            body.len()
        ));
    }
    let (payload, signature) = body.split_at(body.len() - 64);
    let footer_json: serde_json::Map<String, Value> = serde_json::from_slice(&footer)
        .map_err(|_| "its footer is not a JSON object".to_owned())?;
    let kid = match (footer_json.len(), footer_json.get("kid")) {
        (1, Some(Value::String(k))) => k.clone(),
        _ => {
            return Err(format!(
                "its footer is {footer_json:?}, not exactly {{\"kid\": …}}"
            ));
        }
    };
    let claims: serde_json::Map<String, Value> = serde_json::from_slice(payload)
        .map_err(|_| "its payload is not a JSON object".to_owned())?;
    let mut names: Vec<&str> = claims.keys().map(String::as_str).collect();
    names.sort_unstable();
    if names != ["exp", "iat", "jti", "sub", "typ"] {
        return Err(format!("its payload has the members {names:?}"));
    }
    let id = |name: &str| match claims.get(name).and_then(Value::as_str) {
        Some(s) if !s.is_empty() && s.len() <= 128 => Ok(s.to_owned()),
        _ => Err(format!("`{name}` is not a string of 1 to 128 bytes")),
    };
    let typ = match claims.get("typ").and_then(Value::as_str) {
        Some(t @ ("access" | "refresh")) => t.to_owned(),
        other => return Err(format!("`typ` is {other:?}")),
    };
    Ok(Token {
        text: text.to_owned(),
        payload: payload.to_vec(),
        signature: signature
            .try_into()
            .map_err(|_| "signature length".to_owned())?,
        footer,
        kid,
        claims: Claims {
            jti: id("jti")?,
            sub: id("sub")?,
            iat: time(&claims, "iat")?,
            exp: time(&claims, "exp")?,
            typ,
        },
    })
}

impl Token {
    /// Verifies the signature under the published key the footer names (strict Ed25519).
    pub fn verify(&self, keys: &[PublishedKey]) -> Result<(), String> {
        let key = keys.iter().find(|k| k.kid == self.kid).ok_or_else(|| {
            format!(
                "its footer names the key {:?}, which is not published",
                self.kid
            )
        })?;
        key.key
            .verify_strict(
                &signed_bytes(&self.payload, &self.footer),
                &Signature::from_bytes(&self.signature),
            )
            .map_err(|_| {
                format!(
                    "its signature does not verify under the published key {:?}",
                    key.kid
                )
            })
    }
}

/// The published keys of an `auth` member, or why they are unusable.
pub fn published_keys(auth: &Value) -> Result<Vec<PublishedKey>, String> {
    let keys = auth
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| "auth.keys is not an array".to_owned())?;
    keys.iter()
        .map(|k| {
            let kid = k.get("kid").and_then(Value::as_str).unwrap_or_default();
            let raw = k
                .get("public_key")
                .and_then(Value::as_str)
                .map(|t| URL_SAFE_NO_PAD.decode(t))
                .and_then(Result::ok)
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
                .ok_or_else(|| format!("auth.keys: key {kid:?} is not 32 bytes of base64url"))?;
            let key = VerifyingKey::from_bytes(&raw)
                .map_err(|_| format!("auth.keys: key {kid:?} is not an Ed25519 public key"))?;
            Ok(PublishedKey {
                kid: kid.to_owned(),
                key,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[11; 32])
    }

    const PAYLOAD: &str = r#"{"jti":"j","sub":"s","iat":"2027-01-15T08:00:00Z","exp":"2027-01-15T08:15:00Z","typ":"access"}"#;

    #[test]
    fn round_trip_and_strictness() {
        let published = vec![PublishedKey {
            kid: "k1".into(),
            key: key().verifying_key(),
        }];
        let text = sign(&key(), PAYLOAD.as_bytes(), br#"{"kid":"k1"}"#);
        let token = parse(&text).unwrap();
        assert_eq!(token.claims.exp - token.claims.iat, 900);
        assert!(token.verify(&published).is_ok());
        let other = sign(
            &SigningKey::from_bytes(&[12; 32]),
            PAYLOAD.as_bytes(),
            br#"{"kid":"k1"}"#,
        );
        assert!(parse(&other).unwrap().verify(&published).is_err());
        for bad in [
            text.replace("v4.public.", "v4.local."),
            format!("{text}="),
            text.split('.').take(3).collect::<Vec<_>>().join("."),
            sign(&key(), br#"{"jti":"j"}"#, br#"{"kid":"k1"}"#),
            sign(
                &key(),
                PAYLOAD.replace("08:00:00Z", "08:00:00.0Z").as_bytes(),
                br#"{"kid":"k1"}"#,
            ),
            sign(&key(), PAYLOAD.as_bytes(), br#"{"kid":"k1","x":1}"#),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn pae_is_length_prefixed() {
        assert_eq!(
            pae(&[b"ab"]),
            [
                &[1, 0, 0, 0, 0, 0, 0, 0][..],
                &[2, 0, 0, 0, 0, 0, 0, 0],
                b"ab"
            ]
            .concat()
        );
    }
}
