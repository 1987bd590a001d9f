//! Our tokens against an independent PASETO implementation (`pasetors`), both ways, and our
//! Ed25519 verifier against every Ed25519 vector of Project Wycheproof.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use dx_auth::paseto;
use dx_auth::{KeyRing, ManualClock, TokenGenerator, TokenType};
use ed25519_dalek::{SigningKey, VerifyingKey};
use pasetors::Public;
use pasetors::keys::{AsymmetricPublicKey, AsymmetricSecretKey};
use pasetors::token::UntrustedToken;
use pasetors::version4::{PublicToken, V4};

const NOW: i64 = 1_800_000_000;

fn generator(key: &SigningKey) -> TokenGenerator {
    TokenGenerator::new(
        KeyRing::new(key.clone()),
        900,
        3600,
        Arc::new(ManualClock::at(NOW)),
    )
}

#[test]
fn pasetors_verifies_our_tokens() {
    let key = SigningKey::from_bytes(&[42; 32]);
    let ours = generator(&key).generate_access("user-7").unwrap();
    let text = ours.to_wire();
    let public = AsymmetricPublicKey::<V4>::from(key.verifying_key().as_bytes()).unwrap();
    let untrusted = UntrustedToken::<Public, V4>::try_from(text.as_str()).unwrap();
    let trusted =
        PublicToken::verify(&public, &untrusted, None, None).expect("pasetors accepts ours");
    let claims: serde_json::Value = serde_json::from_str(trusted.payload()).unwrap();
    assert_eq!(claims["sub"], "user-7");
    assert_eq!(claims["typ"], "access");
    assert_eq!(claims["jti"], ours.jti.as_str());

    // And refuses it under another key.
    let other = AsymmetricPublicKey::<V4>::from(
        SigningKey::from_bytes(&[1; 32]).verifying_key().as_bytes(),
    )
    .unwrap();
    assert!(PublicToken::verify(&other, &untrusted, None, None).is_err());
}

#[test]
fn we_verify_tokens_signed_by_pasetors() {
    let key = SigningKey::from_bytes(&[43; 32]);
    let g = generator(&key);
    let secret = AsymmetricSecretKey::<V4>::from(&key.to_keypair_bytes()).unwrap();
    let payload = r#"{"jti":"pasetors-1","sub":"user-8","iat":"2027-01-15T08:00:00Z","exp":"2027-01-15T09:00:00Z","typ":"access"}"#;
    let footer = format!(r#"{{"kid":"{}"}}"#, g.keys().signing_kid());
    let text =
        PublicToken::sign(&secret, payload.as_bytes(), Some(footer.as_bytes()), None).unwrap();
    let token = g
        .verify_text(&text, TokenType::Access)
        .expect("ours accepts pasetors'");
    assert_eq!(token.sub, "user-8");
    assert_eq!(token.jti, "pasetors-1");
    assert_eq!(token.exp - token.iat, 3600);
    // With an implicit assertion the PAE differs, so we (who use none) must refuse it.
    let bound = PublicToken::sign(
        &secret,
        payload.as_bytes(),
        Some(footer.as_bytes()),
        Some(b"ctx"),
    )
    .unwrap();
    assert!(g.verify_text(&bound, TokenType::Access).is_err());
}

#[test]
fn every_wycheproof_ed25519_vector_agrees_with_our_verifier() {
    use wycheproof::TestResult;
    use wycheproof::eddsa::{TestName, TestSet};
    let set = TestSet::load(TestName::Ed25519).expect("vectors ship with the crate");
    let mut run = 0;
    for group in set.test_groups {
        let key_bytes: [u8; 32] = group.key.pk.as_slice().try_into().expect("32-byte keys");
        let key = VerifyingKey::from_bytes(&key_bytes);
        for test in group.tests {
            let accepted = key.as_ref().is_ok_and(|key| {
                test.sig
                    .as_slice()
                    .try_into()
                    .is_ok_and(|sig: [u8; 64]| paseto::verify_raw(key, &test.msg, &sig))
            });
            match test.result {
                TestResult::Valid => assert!(
                    accepted,
                    "tcId {} must verify: {}",
                    test.tc_id, test.comment
                ),
                TestResult::Invalid => {
                    assert!(!accepted, "tcId {} must fail: {}", test.tc_id, test.comment)
                }
                TestResult::Acceptable => {}
            }
            run += 1;
        }
    }
    assert!(run >= 100, "only {run} vectors");
    eprintln!("{run} Wycheproof Ed25519 vectors agree");
}
