//! The in-memory store: for unit tests and single-process experiments. Nothing survives a
//! restart and nothing is shared between instances.

use std::collections::HashMap;

use async_trait::async_trait;
use dx_error::SafeMutex;

use super::{CredentialStore, RefreshRecord, SpendOutcome, StoreError, UserRecord, new_id};

#[derive(Debug, Default)]
struct Family {
    expires_at: i64,
    revoked: bool,
}

#[derive(Debug, Default)]
struct Tables {
    users_by_email: HashMap<String, UserRecord>,
    revoked: HashMap<String, i64>,
    families: HashMap<String, Family>,
    refresh: HashMap<String, (RefreshRecord, bool)>,
}

/// A store in a map behind one lock.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: SafeMutex<Tables>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Tables) -> T) -> Result<T, StoreError> {
        let mut guard = self
            .tables
            .lock()
            .map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))?;
        Ok(f(&mut guard))
    }
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        Ok(())
    }

    async fn create_user(
        &self,
        email: &str,
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        self.with(|t| {
            if t.users_by_email.contains_key(email) {
                return Err(StoreError::Conflict);
            }
            let user = UserRecord {
                id: new_id(),
                email: email.to_owned(),
                password_hash: password_hash.to_owned(),
            };
            t.users_by_email.insert(email.to_owned(), user.clone());
            Ok(user)
        })?
    }

    async fn find_user(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        self.with(|t| t.users_by_email.get(email).cloned())
    }

    async fn update_password_hash(
        &self,
        user_id: &str,
        password_hash: &str,
    ) -> Result<(), StoreError> {
        self.with(|t| {
            if let Some(u) = t.users_by_email.values_mut().find(|u| u.id == user_id) {
                u.password_hash = password_hash.to_owned();
            }
        })
    }

    async fn is_token_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.with(|t| t.revoked.contains_key(jti))
    }

    async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), StoreError> {
        self.with(|t| {
            let e = t.revoked.entry(jti.to_owned()).or_insert(expires_at);
            *e = (*e).max(expires_at);
        })
    }

    async fn record_refresh(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        self.with(|t| {
            let family = t.families.entry(record.family.clone()).or_default();
            family.expires_at = family.expires_at.max(record.expires_at);
            t.refresh
                .insert(record.jti.clone(), (record.clone(), false));
        })
    }

    async fn spend_refresh(&self, jti: &str, _now: i64) -> Result<SpendOutcome, StoreError> {
        self.with(|t| {
            let Some((record, spent)) = t.refresh.get_mut(jti) else {
                return SpendOutcome::Unknown;
            };
            if t.families.get(&record.family).is_none_or(|f| f.revoked) {
                return SpendOutcome::FamilyRevoked;
            }
            if *spent {
                return SpendOutcome::AlreadySpent {
                    family: record.family.clone(),
                };
            }
            *spent = true;
            SpendOutcome::Spent(record.clone())
        })
    }

    async fn family_of(&self, jti: &str) -> Result<Option<String>, StoreError> {
        self.with(|t| t.refresh.get(jti).map(|(r, _)| r.family.clone()))
    }

    async fn revoke_family(&self, family: &str, _now: i64) -> Result<(), StoreError> {
        self.with(|t| {
            if let Some(f) = t.families.get_mut(family) {
                f.revoked = true;
            }
        })
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.with(|t| {
            let before = t.revoked.len() + t.refresh.len() + t.families.len();
            t.revoked.retain(|_, exp| *exp > now);
            t.families.retain(|_, f| f.expires_at > now);
            let families = &t.families;
            t.refresh
                .retain(|_, (r, _)| r.expires_at > now && families.contains_key(&r.family));
            (before - t.revoked.len() - t.refresh.len() - t.families.len()) as u64
        })
    }
}
