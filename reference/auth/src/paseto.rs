//! PASETO `v4.public` (https://github.com/paseto-standard/paseto-spec, version 4, purpose
//! `public`): a payload signed with Ed25519 over the pre-authentication encoding (PAE) of the
//! header, payload, footer and implicit assertion. The version and purpose are fixed in the
//! header, so no token can choose its own algorithm. `spec/tokens.md` states the bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

/// The header every token starts with.
pub const HEADER: &str = "v4.public.";
/// Length of an Ed25519 signature.
pub const SIGNATURE_BYTES: usize = 64;

/// PAE: the count of pieces, then each piece's length and bytes; counts and lengths are
/// 64-bit little-endian with the top bit cleared.
pub fn pae(pieces: &[&[u8]]) -> Vec<u8> {
    let le64 = |n: usize| ((n as u64) & (u64::MAX >> 1)).to_le_bytes();
    let mut out = Vec::with_capacity(8 + pieces.iter().map(|p| 8 + p.len()).sum::<usize>());
    out.extend_from_slice(&le64(pieces.len()));
    for piece in pieces {
        out.extend_from_slice(&le64(piece.len()));
        out.extend_from_slice(piece);
    }
    out
}

/// The bytes a `v4.public` signature covers (no implicit assertion).
pub fn signed_bytes(payload: &[u8], footer: &[u8]) -> Vec<u8> {
    pae(&[HEADER.as_bytes(), payload, footer, b""])
}

/// Signs `payload` with `footer`, returning the token text.
pub fn sign(key: &SigningKey, payload: &[u8], footer: &[u8]) -> (String, [u8; SIGNATURE_BYTES]) {
    let signature = key.sign(&signed_bytes(payload, footer)).to_bytes();
    (encode(payload, &signature, footer), signature)
}

/// The token text of a payload, its signature and footer.
pub fn encode(payload: &[u8], signature: &[u8; SIGNATURE_BYTES], footer: &[u8]) -> String {
    let mut body = Vec::with_capacity(payload.len() + SIGNATURE_BYTES);
    body.extend_from_slice(payload);
    body.extend_from_slice(signature);
    let mut token = format!("{HEADER}{}", URL_SAFE_NO_PAD.encode(body));
    if !footer.is_empty() {
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(footer));
    }
    token
}

/// A token split into its parts, signature not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unverified {
    /// The payload bytes.
    pub payload: Vec<u8>,
    /// The signature.
    pub signature: [u8; SIGNATURE_BYTES],
    /// The footer bytes (empty when absent).
    pub footer: Vec<u8>,
}

/// Splits `token`. Refuses anything but `v4.public.` + canonical unpadded base64url of at least
/// one payload byte and the signature, optionally `.` + a non-empty canonical base64url footer.
pub fn split(token: &str) -> Option<Unverified> {
    let rest = token.strip_prefix(HEADER)?;
    let (body, footer) = match rest.split_once('.') {
        Some((body, footer)) => (body, Some(footer)),
        None => (rest, None),
    };
    let body = decode_canonical(body)?;
    if body.len() <= SIGNATURE_BYTES {
        return None;
    }
    let footer = match footer {
        Some(f) => {
            let bytes = decode_canonical(f)?;
            if bytes.is_empty() {
                return None;
            }
            bytes
        }
        None => Vec::new(),
    };
    let (payload, signature) = body.split_at(body.len() - SIGNATURE_BYTES);
    Some(Unverified {
        payload: payload.to_vec(),
        signature: signature.try_into().ok()?,
        footer,
    })
}

/// Strict unpadded base64url: only the URL alphabet, no padding, zero trailing bits. (The
/// `base64` engine already refuses non-zero trailing bits and padding in this mode.)
fn decode_canonical(text: &str) -> Option<Vec<u8>> {
    if !text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// Strict Ed25519 verification of `message` (RFC 8032 §5.1.7 with the malleability checks:
/// non-canonical `S` and small-order keys refused), as tokens are verified over
/// [`signed_bytes`]; exposed so test vectors (Wycheproof) exercise exactly what tokens use.
pub fn verify_raw(key: &VerifyingKey, message: &[u8], signature: &[u8; SIGNATURE_BYTES]) -> bool {
    key.verify_strict(message, &Signature::from_bytes(signature))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_matches_the_paseto_spec_examples() {
        // PASETO spec, "Pre-Authentication Encoding": PAE([]) and PAE(['']) and PAE(['test']).
        assert_eq!(pae(&[]), vec![0; 8]);
        assert_eq!(pae(&[b""]), [[1, 0, 0, 0, 0, 0, 0, 0], [0; 8]].concat());
        assert_eq!(
            pae(&[b"test"]),
            [
                &[1, 0, 0, 0, 0, 0, 0, 0][..],
                &[4, 0, 0, 0, 0, 0, 0, 0],
                b"test"
            ]
            .concat()
        );
    }

    #[test]
    fn split_refuses_every_malformed_shape() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let (token, _) = sign(&key, b"{}", b"f");
        let parts = split(&token).unwrap();
        assert_eq!(parts.payload, b"{}");
        assert_eq!(parts.footer, b"f");
        assert!(verify_raw(
            &key.verifying_key(),
            &signed_bytes(&parts.payload, &parts.footer),
            &parts.signature
        ));
        for bad in [
            "",
            "v4.public.",
            "v4.local.AAAA",
            "v2.public.AAAA",
            &token.replace("v4.public.", "v4.public.="),
            &format!("{token}."),
            &format!("{token}.x."),
            &format!("{token}="),
            &token.replacen("v4", "V4", 1),
        ] {
            assert!(split(bad).is_none(), "{bad}");
        }
        // A body that holds only a signature has no payload.
        let sig_only = encode(b"", &[0; 64], b"");
        assert!(split(&sig_only).is_none());
    }
}
