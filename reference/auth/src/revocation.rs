//! Revocation (RFC 7009 in spirit): a revoked token id is refused from the moment the
//! revocation is answered until the token's own expiry, after which the store may forget it
//! because expiry refuses the token anyway. Revoking a refresh token revokes its family.

use crate::error::AuthError;
use crate::mutants::AuthMutant;
use crate::service::AuthService;
use crate::token::{AuthToken, TokenType};

impl AuthService {
    /// The access token `text`, verified and not revoked: what an authenticated route needs.
    pub async fn authenticate(&self, text: &str) -> Result<AuthToken, AuthError> {
        let token = self.tokens.verify_text(text, TokenType::Access)?;
        if self.store.is_token_revoked(&token.jti).await?
            && !self.mutations.is(AuthMutant::RevocationIgnored)
        {
            return Err(AuthError::TokenRevoked);
        }
        Ok(token)
    }

    /// Revokes `text` if this server signed it (expired or not); anything else is ignored, as
    /// RFC 7009 §2.2 has it, so the answer never tells a caller whether a token was valid.
    /// Returns whether something was revoked, for logs.
    pub async fn revoke(&self, text: &str) -> Result<bool, AuthError> {
        let Ok(token) = AuthToken::parse(text) else {
            return Ok(false);
        };
        match self.tokens.verify(&token) {
            Ok(()) | Err(AuthError::TokenExpired) => {}
            Err(_) => return Ok(false),
        }
        self.store.revoke_token(&token.jti, token.exp).await?;
        if token.typ == TokenType::Refresh
            && let Some(family) = self.store.family_of(&token.jti).await?
        {
            self.store.revoke_family(&family, self.tokens.now()).await?;
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    //! Feature: production-readiness, Property 5: Token Revocation Effectiveness
    use crate::error::AuthError;
    use crate::service::tests::service;
    use crate::token::TokenType;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// Feature: production-readiness, Property 5: Token Revocation Effectiveness
        #[test]
        fn a_revoked_token_fails_every_later_verification(
            revoke_at in 0i64..60,
            checks in prop::collection::vec(0i64..200, 1..6),
            refresh in any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (s, clock) = service();
                s.register("p5@example.test", "pw").await.unwrap();
                let pair = s.login("p5@example.test", "pw").await.unwrap();
                let token = if refresh { &pair.refresh } else { &pair.access };
                clock.set(token.iat + revoke_at);
                prop_assert!(s.revoke(&token.to_wire()).await.unwrap());
                for later in checks {
                    clock.set(token.iat + revoke_at + later);
                    let result = if refresh {
                        s.refresh(&token.to_wire()).await.map(|_| ())
                    } else {
                        s.authenticate(&token.to_wire()).await.map(|_| ())
                    };
                    let refused = matches!(result, Err(AuthError::TokenRevoked | AuthError::TokenExpired));
                    prop_assert!(refused, "{:?}", result);
                    if crate::clock::Clock::now(&*clock) < token.exp {
                        prop_assert!(matches!(result, Err(AuthError::TokenRevoked)));
                    }
                }
                Ok(())
            })?;
        }
    }

    #[tokio::test]
    async fn revoking_garbage_or_foreign_tokens_changes_nothing() {
        let (s, _) = service();
        s.register("g@example.test", "pw").await.unwrap();
        let pair = s.login("g@example.test", "pw").await.unwrap();
        for junk in [
            "",
            "v4.public.AAAA",
            "garbage",
            &pair.access.to_wire()[..40],
        ] {
            assert!(!s.revoke(junk).await.unwrap());
        }
        assert!(s.authenticate(&pair.access.to_wire()).await.is_ok());
        // Revoking the refresh token kills its family, not the access token.
        assert!(s.revoke(&pair.refresh.to_wire()).await.unwrap());
        assert_eq!(
            s.store().spend_refresh(&pair.refresh.jti, 0).await.unwrap(),
            crate::store::SpendOutcome::FamilyRevoked
        );
        assert!(s.authenticate(&pair.access.to_wire()).await.is_ok());
        assert!(matches!(
            s.refresh(&pair.refresh.to_wire()).await,
            Err(AuthError::TokenRevoked)
        ));
        let _ = TokenType::Access;
    }
}
