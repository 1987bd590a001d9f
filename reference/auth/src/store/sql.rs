//! The SQL both database back ends share. Postgres and SQLite accept the same statements with
//! `$n` parameters except for the two-argument maximum (`GREATEST` and `MAX`), so one macro
//! writes both implementations and the statements are read in one place.

/// Implements [`super::CredentialStore`] for `$store` (a struct with a `pool: $pool` field),
/// using `$max` as the SQL two-argument maximum.
macro_rules! sql_store {
    ($store:ty, $max:literal, $migrations:literal) => {
        #[async_trait::async_trait]
        impl $crate::store::CredentialStore for $store {
            async fn migrate(&self) -> Result<(), $crate::store::StoreError> {
                $crate::store::migrator(include_str!($migrations))
                    .run(&self.pool)
                    .await?;
                Ok(())
            }

            async fn create_user(
                &self,
                email: &str,
                password_hash: &str,
            ) -> Result<$crate::store::UserRecord, $crate::store::StoreError> {
                let user = $crate::store::UserRecord {
                    id: $crate::store::new_id(),
                    email: email.to_owned(),
                    password_hash: password_hash.to_owned(),
                };
                sqlx::query(
                    "INSERT INTO dx_auth_users (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&user.id)
                .bind(&user.email)
                .bind(&user.password_hash)
                .bind($crate::store::unix_now())
                .execute(&self.pool)
                .await
                .map_err(|e| {
                    if $crate::store::is_unique_violation(&e) {
                        $crate::store::StoreError::Conflict
                    } else {
                        e.into()
                    }
                })?;
                Ok(user)
            }

            async fn find_user(
                &self,
                email: &str,
            ) -> Result<Option<$crate::store::UserRecord>, $crate::store::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT id, email, password_hash FROM dx_auth_users WHERE email = $1")
                    .bind(email)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| -> Result<_, sqlx::Error> {
                    Ok($crate::store::UserRecord {
                        id: r.try_get("id")?,
                        email: r.try_get("email")?,
                        password_hash: r.try_get("password_hash")?,
                    })
                })
                .transpose()
                .map_err(Into::into)
            }

            async fn update_password_hash(
                &self,
                user_id: &str,
                password_hash: &str,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query("UPDATE dx_auth_users SET password_hash = $2 WHERE id = $1")
                    .bind(user_id)
                    .bind(password_hash)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn is_token_revoked(&self, jti: &str) -> Result<bool, $crate::store::StoreError> {
                let row = sqlx::query("SELECT 1 FROM dx_auth_revoked_tokens WHERE jti = $1")
                    .bind(jti)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.is_some())
            }

            async fn revoke_token(&self, jti: &str, expires_at: i64) -> Result<(), $crate::store::StoreError> {
                sqlx::query(concat!(
                    "INSERT INTO dx_auth_revoked_tokens (jti, expires_at) VALUES ($1, $2) ",
                    "ON CONFLICT (jti) DO UPDATE SET expires_at = ",
                    $max,
                    "(dx_auth_revoked_tokens.expires_at, excluded.expires_at)"
                ))
                .bind(jti)
                .bind(expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn record_refresh(
                &self,
                record: &$crate::store::RefreshRecord,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(concat!(
                    "INSERT INTO dx_auth_refresh_families (family_id, user_id, expires_at) VALUES ($1, $2, $3) ",
                    "ON CONFLICT (family_id) DO UPDATE SET expires_at = ",
                    $max,
                    "(dx_auth_refresh_families.expires_at, excluded.expires_at)"
                ))
                .bind(&record.family)
                .bind(&record.user_id)
                .bind(record.expires_at)
                .execute(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO dx_auth_refresh_tokens (jti, family_id, user_id, expires_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(&record.jti)
                .bind(&record.family)
                .bind(&record.user_id)
                .bind(record.expires_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn spend_refresh(
                &self,
                jti: &str,
                now: i64,
            ) -> Result<$crate::store::SpendOutcome, $crate::store::StoreError> {
                use sqlx::Row as _;
                let spent = sqlx::query(
                    "UPDATE dx_auth_refresh_tokens SET spent_at = $2 \
                     WHERE jti = $1 AND spent_at IS NULL AND family_id IN \
                     (SELECT family_id FROM dx_auth_refresh_families WHERE revoked_at IS NULL) \
                     RETURNING family_id, user_id, expires_at",
                )
                .bind(jti)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
                if let Some(r) = spent {
                    return Ok($crate::store::SpendOutcome::Spent($crate::store::RefreshRecord {
                        jti: jti.to_owned(),
                        family: r.try_get("family_id")?,
                        user_id: r.try_get("user_id")?,
                        expires_at: r.try_get("expires_at")?,
                    }));
                }
                let found = sqlx::query(
                    "SELECT t.family_id, f.revoked_at FROM dx_auth_refresh_tokens t \
                     JOIN dx_auth_refresh_families f ON f.family_id = t.family_id WHERE t.jti = $1",
                )
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
                Ok(match found {
                    None => $crate::store::SpendOutcome::Unknown,
                    Some(r) => {
                        let revoked: Option<i64> = r.try_get("revoked_at")?;
                        if revoked.is_some() {
                            $crate::store::SpendOutcome::FamilyRevoked
                        } else {
                            $crate::store::SpendOutcome::AlreadySpent {
                                family: r.try_get("family_id")?,
                            }
                        }
                    }
                })
            }

            async fn family_of(&self, jti: &str) -> Result<Option<String>, $crate::store::StoreError> {
                use sqlx::Row as _;
                let row = sqlx::query("SELECT family_id FROM dx_auth_refresh_tokens WHERE jti = $1")
                    .bind(jti)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| r.try_get("family_id")).transpose()?)
            }

            async fn revoke_family(&self, family: &str, now: i64) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE dx_auth_refresh_families SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
                )
                .bind(family)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn purge_expired(&self, now: i64) -> Result<u64, $crate::store::StoreError> {
                let mut gone = 0;
                for statement in [
                    "DELETE FROM dx_auth_revoked_tokens WHERE expires_at <= $1",
                    "DELETE FROM dx_auth_refresh_tokens WHERE expires_at <= $1",
                    "DELETE FROM dx_auth_refresh_families WHERE expires_at <= $1",
                ] {
                    gone += sqlx::query(statement)
                        .bind(now)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                }
                Ok(gone)
            }
        }
    };
}

pub(crate) use sql_store;
