//! Refresh rotation: a refresh token is spent by using it and the answer is the next pair of
//! its family, the new access token's expiry counted from the moment of the refresh. Using a
//! spent refresh token again means two parties hold it (one of them a thief), so the whole
//! family is revoked and both must log in again (`spec/auth.md`, "Refresh").

use crate::error::{AuthError, InvalidReason};
use crate::mutants::AuthMutant;
use crate::service::{AuthService, TokenPair};
use crate::store::SpendOutcome;
use crate::token::TokenType;

impl AuthService {
    /// Exchanges the refresh token `text` for the next pair of its family.
    pub async fn refresh(&self, text: &str) -> Result<TokenPair, AuthError> {
        let presented = self.tokens.verify_text(text, TokenType::Refresh)?;
        if self.store.is_token_revoked(&presented.jti).await?
            && !self.mutations.is(AuthMutant::RevocationIgnored)
        {
            return Err(AuthError::TokenRevoked);
        }
        let now = self.tokens.now();
        let outcome = self.store.spend_refresh(&presented.jti, now).await?;
        let (user_id, family) = match outcome {
            SpendOutcome::Spent(record) => (record.user_id, record.family),
            SpendOutcome::AlreadySpent { family } => {
                if self.mutations.is(AuthMutant::RefreshReuseUndetected) {
                    (presented.sub.clone(), family)
                } else {
                    tracing::warn!(family = %family, "spent refresh token reused; revoking its family");
                    self.store.revoke_family(&family, now).await?;
                    return Err(AuthError::TokenRevoked);
                }
            }
            SpendOutcome::FamilyRevoked => return Err(AuthError::TokenRevoked),
            SpendOutcome::Unknown => {
                return Err(AuthError::TokenInvalid(InvalidReason::UnknownRefresh));
            }
        };
        let mut pair = self.issue_pair(&user_id, Some(family)).await?;
        if self.mutations.is(AuthMutant::RefreshExpiryStale) {
            let stale_exp =
                crate::mutants::stale_access_exp(presented.iat, self.tokens.access_ttl());
            pair.access = self
                .tokens
                .mint(&user_id, TokenType::Access, now, stale_exp)?;
        }
        Ok(pair)
    }
}

#[cfg(test)]
mod tests {
    //! Feature: production-readiness, Property 4: Token Refresh Validity
    use crate::error::AuthError;
    use crate::service::tests::{T0, service};
    use crate::token::TokenType;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        /// Feature: production-readiness, Property 4: Token Refresh Validity
        #[test]
        fn refreshing_yields_a_valid_access_token_counted_from_the_refresh(
            waits in prop::collection::vec(0i64..3599, 1..5),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async {
                let (s, clock) = service();
                let user = s.register("p4@example.test", "pw").await.unwrap();
                let mut pair = s.login("p4@example.test", "pw").await.unwrap();
                let mut spent = Vec::new();
                for wait in waits {
                    // Any time before the refresh token's own expiry.
                    clock.set(pair.refresh.iat + wait);
                    let now = crate::clock::Clock::now(&*clock);
                    let next = s.refresh(&pair.refresh.to_wire()).await.unwrap();
                    prop_assert_eq!(next.access.iat, now);
                    prop_assert_eq!(next.access.exp, now + s.tokens().access_ttl());
                    prop_assert_eq!(&next.access.sub, &user.id);
                    prop_assert!(s.tokens().verify_text(&next.access.to_wire(), TokenType::Access).is_ok());
                    prop_assert!(next.refresh.exp > now);
                    spent.push(pair.refresh.to_wire());
                    pair = next;
                }
                // Reusing a spent (unexpired) token revokes the family: the newest one dies too.
                let replay = s.refresh(spent.last().unwrap()).await;
                prop_assert!(matches!(replay, Err(AuthError::TokenRevoked)));
                prop_assert!(matches!(s.refresh(&pair.refresh.to_wire()).await, Err(AuthError::TokenRevoked)));
                Ok(())
            })?;
        }
    }

    #[tokio::test]
    async fn an_access_token_is_not_a_refresh_token_and_unknown_ones_are_invalid() {
        let (s, _) = service();
        s.register("t@example.test", "pw").await.unwrap();
        let pair = s.login("t@example.test", "pw").await.unwrap();
        assert!(matches!(
            s.refresh(&pair.access.to_wire()).await,
            Err(AuthError::TokenInvalid(_))
        ));
        let minted = s
            .tokens()
            .mint("x", TokenType::Refresh, T0, T0 + 60)
            .unwrap();
        assert!(matches!(
            s.refresh(&minted.to_wire()).await,
            Err(AuthError::TokenInvalid(
                crate::error::InvalidReason::UnknownRefresh
            ))
        ));
    }

    #[tokio::test]
    async fn a_revoked_refresh_token_is_revoked_even_unrecorded() {
        let (s, _) = service();
        let minted = s
            .tokens()
            .mint("x", TokenType::Refresh, T0, T0 + 60)
            .unwrap();
        assert!(s.revoke(&minted.to_wire()).await.unwrap());
        assert!(matches!(
            s.refresh(&minted.to_wire()).await,
            Err(AuthError::TokenRevoked)
        ));
    }

    #[tokio::test]
    async fn an_expired_refresh_token_is_expired() {
        let (s, clock) = service();
        s.register("e@example.test", "pw").await.unwrap();
        let pair = s.login("e@example.test", "pw").await.unwrap();
        clock.set(pair.refresh.exp);
        assert!(matches!(
            s.refresh(&pair.refresh.to_wire()).await,
            Err(AuthError::TokenExpired)
        ));
    }
}
