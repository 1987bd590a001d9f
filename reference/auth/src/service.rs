//! [`AuthService`]: accounts, login and token issuance over a [`CredentialStore`], with
//! password hashing on the bounded [`HashingPool`]. Refresh rotation lives in
//! [`crate::refresh`], revocation and authentication in [`crate::revocation`].

use std::sync::Arc;

use crate::account::normalize_email;
use crate::error::AuthError;
use crate::mutants::AuthMutations;
use crate::password::{PasswordHasher, normalize};
use crate::pool::HashingPool;
use crate::store::{CredentialStore, RefreshRecord, StoreError, UserRecord};
use crate::token::{AuthToken, TokenGenerator};

/// An access token and the refresh token that renews it.
#[derive(Debug, Clone)]
pub struct TokenPair {
    /// Grants access until its `exp`.
    pub access: AuthToken,
    /// Exchanged once for the next pair.
    pub refresh: AuthToken,
}

/// Authentication over a store.
#[derive(Debug, Clone)]
pub struct AuthService {
    pub(crate) tokens: TokenGenerator,
    hasher: PasswordHasher,
    pool: HashingPool,
    pub(crate) store: Arc<dyn CredentialStore>,
    /// A hash of a random password, verified against when the email has no account, so an
    /// unknown email costs the same time as a wrong password.
    decoy_hash: Arc<str>,
    pub(crate) mutations: AuthMutations,
}

impl AuthService {
    /// A service; hashes its decoy password once (tens of milliseconds).
    pub fn new(
        tokens: TokenGenerator,
        hasher: PasswordHasher,
        pool: HashingPool,
        store: Arc<dyn CredentialStore>,
    ) -> Result<Self, AuthError> {
        let decoy = uuid::Uuid::new_v4().to_string();
        let decoy_hash = hasher.hash(&decoy)?.into();
        Ok(Self {
            tokens,
            hasher,
            pool,
            store,
            decoy_hash,
            mutations: AuthMutations::none(),
        })
    }

    /// Runs with a deliberately broken behaviour (mutant builds only); passes it on to the
    /// token generator and the hasher.
    pub fn with_mutations(mut self, mutations: AuthMutations) -> Self {
        self.tokens = self.tokens.with_mutations(mutations);
        self.hasher = self.hasher.with_mutations(mutations);
        self.mutations = mutations;
        self
    }

    /// The token generator.
    pub fn tokens(&self) -> &TokenGenerator {
        &self.tokens
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn CredentialStore> {
        &self.store
    }

    /// The account name for `email` (`crate::account::normalize_email`).
    fn normalize_email(&self, email: &str) -> Result<String, AuthError> {
        if self
            .mutations
            .is(crate::mutants::AuthMutant::EmailAsciiLowercase)
        {
            return crate::mutants::ascii_lowercase_email(email);
        }
        normalize_email(email)
    }

    /// Creates an account. Email and password are checked before any hashing.
    pub async fn register(&self, email: &str, password: &str) -> Result<UserRecord, AuthError> {
        let email = self.normalize_email(email)?;
        let password = normalize(password)?;
        let hasher = self.hasher.clone();
        let hash = self.pool.run(move || hasher.hash(&password)).await?;
        self.store
            .create_user(&email, &hash)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => AuthError::AccountExists,
                other => other.into(),
            })
    }

    /// Checks the credentials and issues a pair in a new refresh family. Unknown emails and
    /// wrong passwords fail alike, after the same amount of hashing.
    pub async fn login(&self, email: &str, password: &str) -> Result<TokenPair, AuthError> {
        let email = self.normalize_email(email)?;
        let password = normalize(password)?;
        let user = self.store.find_user(&email).await?;
        if user.is_none()
            && self
                .mutations
                .is(crate::mutants::AuthMutant::LoginWithoutDecoy)
        {
            return Err(AuthError::InvalidCredentials);
        }
        let stored = user.as_ref().map_or_else(
            || Arc::clone(&self.decoy_hash),
            |u| u.password_hash.as_str().into(),
        );
        let hasher = self.hasher.clone();
        let check = password.clone();
        let matches = self
            .pool
            .run(move || hasher.verify(&check, &stored))
            .await?;
        let user = match user {
            Some(u) if matches => u,
            _ => return Err(AuthError::InvalidCredentials),
        };
        if self.hasher.needs_rehash(&user.password_hash) {
            self.rehash(&user.id, password).await;
        }
        self.issue_pair(&user.id, None).await
    }

    /// Replaces a hash made with older parameters; a failure is logged, the login stands.
    async fn rehash(&self, user_id: &str, password: String) {
        let hasher = self.hasher.clone();
        let result = match self.pool.run(move || hasher.hash(&password)).await {
            Ok(hash) => self
                .store
                .update_password_hash(user_id, &hash)
                .await
                .map_err(AuthError::from),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => tracing::info!(user_id, "password re-hashed with current parameters"),
            Err(e) => {
                tracing::warn!(user_id, error = %e, "password re-hash failed; will retry at next login")
            }
        }
    }

    /// Issues an access token and a refresh token for `user_id`, recording the refresh token
    /// in `family` (a new family when `None`).
    pub async fn issue_pair(
        &self,
        user_id: &str,
        family: Option<String>,
    ) -> Result<TokenPair, AuthError> {
        let access = self.tokens.generate_access(user_id)?;
        let refresh = self.tokens.generate_refresh(user_id)?;
        self.store
            .record_refresh(&RefreshRecord {
                jti: refresh.jti.clone(),
                family: family.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                user_id: user_id.to_owned(),
                expires_at: refresh.exp,
            })
            .await?;
        Ok(TokenPair { access, refresh })
    }

    /// Deletes revoked ids and refresh records past their expiry.
    pub async fn purge_expired(&self) -> Result<u64, AuthError> {
        Ok(self.store.purge_expired(self.tokens.now()).await?)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::keys::KeyRing;
    use crate::password::HashCost;
    use crate::store::MemoryStore;
    use ed25519_dalek::SigningKey;
    use std::time::Duration;

    pub(crate) const T0: i64 = 1_800_000_000;

    /// A service on a memory store with cheap hashing and a manual clock.
    pub(crate) fn service_with(cost: HashCost) -> (AuthService, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::at(T0));
        let tokens = TokenGenerator::new(
            KeyRing::new(SigningKey::from_bytes(&[3; 32])),
            60,
            3600,
            clock.clone(),
        );
        let service = AuthService::new(
            tokens,
            PasswordHasher::new(cost).unwrap(),
            HashingPool::new(2, 8, Duration::from_secs(5)),
            Arc::new(MemoryStore::new()),
        )
        .unwrap();
        (service, clock)
    }

    pub(crate) fn service() -> (AuthService, Arc<ManualClock>) {
        service_with(HashCost {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
    }

    #[tokio::test]
    async fn register_then_login_and_bad_credentials_look_alike() {
        let (s, _) = service();
        let user = s.register("Ann@Example.test", "pässword").await.unwrap();
        assert!(matches!(
            s.register("ann@example.TEST", "other").await,
            Err(AuthError::AccountExists)
        ));
        let pair = s
            .login("ann@example.test", "pa\u{308}ssword")
            .await
            .unwrap();
        assert_eq!(pair.access.sub, user.id);
        assert!(matches!(
            s.login("ann@example.test", "wrong").await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            s.login("nobody@example.test", "wrong").await,
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            s.login("ann@example.test", "").await,
            Err(AuthError::Rejected(_))
        ));
    }

    #[tokio::test]
    async fn login_rehashes_a_hash_with_older_parameters() {
        let (weak, _) = service();
        let old_hash = PasswordHasher::new(HashCost {
            memory_kib: 32,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
        .hash("pw")
        .unwrap();
        let user = weak
            .store
            .create_user("old@example.test", &old_hash)
            .await
            .unwrap();
        weak.login("old@example.test", "pw").await.unwrap();
        let now = weak
            .store
            .get_password_hash("old@example.test")
            .await
            .unwrap()
            .unwrap();
        assert_ne!(now, old_hash);
        assert!(now.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{now}");
        weak.login("old@example.test", "pw").await.unwrap();
        assert_eq!(
            weak.store
                .find_user("old@example.test")
                .await
                .unwrap()
                .unwrap()
                .id,
            user.id
        );
    }

    #[tokio::test]
    async fn purge_uses_the_service_clock() {
        let (s, clock) = service();
        s.store.revoke_token("j", T0 + 10).await.unwrap();
        assert_eq!(s.purge_expired().await.unwrap(), 0);
        clock.advance(10);
        assert_eq!(s.purge_expired().await.unwrap(), 1);
    }
}
