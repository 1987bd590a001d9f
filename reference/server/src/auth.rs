//! The server's authentication component: a [`dx_auth::AuthService`] on the server's database,
//! signing with the server key, its schema migrated on first use (so a database that is down
//! at start-up delays auth instead of the whole server).

use std::sync::Arc;
use std::time::Duration;

use dx_auth::{
    AuthError, AuthService, HashingPool, KeyRing, PasswordHasher, SystemClock, TokenGenerator,
};
use dx_error::DxError;
use tokio::sync::OnceCell;

use crate::config::Config;
use crate::keys::{ServerKey, load_verification_key};
use crate::services::Services;

/// Retries of a failed schema migration within one request.
const MIGRATE_RETRIES: u64 = 3;

/// How often expired revocations and refresh records are purged.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(60);

/// Authentication as the routes use it.
#[derive(Debug)]
pub struct Auth {
    service: AuthService,
    migrated: OnceCell<()>,
}

impl Auth {
    /// Builds the service: key ring (signing key plus retired keys), OWASP Argon2id on a pool
    /// sized for the machine, the database's credential store.
    pub fn build(config: &Config, key: &ServerKey, services: &Services) -> Result<Self, DxError> {
        let mut ring = KeyRing::new(key.signing_key().clone());
        for path in &config.verify_key_files {
            let public = load_verification_key(path)
                .map_err(|e| DxError::config("verify_key_files", e.to_string()))?;
            ring = ring.with_verification_key(public);
        }
        let tokens = TokenGenerator::new(
            ring,
            config.auth.access_ttl_seconds,
            config.auth.refresh_ttl_seconds,
            Arc::new(SystemClock),
        );
        let service = AuthService::new(
            tokens,
            PasswordHasher::owasp(),
            HashingPool::for_this_machine(),
            crate::services::credential_store(&services.database),
        )
        .map_err(DxError::from)?
        .with_mutations(config.mutations.auth());
        Ok(Self {
            service,
            migrated: OnceCell::new(),
        })
    }

    /// The service, once its schema is in place (migrating on first call; a failed migration
    /// is retried by the next call).
    pub async fn ready(&self) -> Result<&AuthService, AuthError> {
        self.migrated
            .get_or_try_init(|| async {
                // Instances starting together on a fresh database race to create the
                // migrations table; the loser's attempt fails once and succeeds on retry.
                let mut attempt = 0;
                loop {
                    match self.service.store().migrate().await {
                        Ok(()) => return Ok(()),
                        Err(e) if attempt < MIGRATE_RETRIES => {
                            attempt += 1;
                            tracing::warn!(error = ?e, attempt, "auth schema migration failed; retrying");
                            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                        }
                        Err(e) => return Err(e),
                    }
                }
            })
            .await?;
        Ok(&self.service)
    }

    /// Creates an account once the schema is in place: the register endpoint and
    /// `dx-reference add-account` both come here, so both validate and hash alike.
    pub async fn register(
        &self,
        email: &str,
        password: &str,
    ) -> Result<dx_auth::store::UserRecord, AuthError> {
        self.ready().await?.register(email, password).await
    }

    /// The service without waiting for the schema: for what needs no database (discovery).
    pub fn service(&self) -> &AuthService {
        &self.service
    }

    /// Purges expired revocations and refresh records every [`PURGE_INTERVAL`], forever.
    pub async fn purge_periodically(self: Arc<Self>) {
        let mut tick = tokio::time::interval(PURGE_INTERVAL);
        loop {
            tick.tick().await;
            match self.ready().await {
                Ok(service) => match service.purge_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(rows = n, "purged expired auth records"),
                    Err(e) => tracing::warn!(error = %e, "purging expired auth records failed"),
                },
                Err(e) => tracing::warn!(error = %e, "auth store not ready for purging"),
            }
        }
    }
}
