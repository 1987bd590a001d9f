//! The behaviour every [`CredentialStore`] back end must show, as async functions over
//! `&dyn CredentialStore`. The crate's tests run them against memory, SQLite and Postgres; a
//! new back end runs them too. Each function panics with a message on the first difference.

// A test suite: panicking on the first difference is its job.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{CredentialStore, RefreshRecord, SpendOutcome, StoreError};

/// Every check of the suite, by name, in order.
pub const CHECKS: &[&str] = &[
    "users",
    "revocation",
    "refresh_rotation",
    "concurrent_spend",
    "purge",
];

/// Runs the check named `name` (one of [`CHECKS`]) on a migrated, empty store.
pub async fn run(name: &str, store: &dyn CredentialStore) {
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrate: {e:?}"));
    store
        .migrate()
        .await
        .unwrap_or_else(|e| panic!("migrating twice: {e:?}"));
    match name {
        "users" => users(store).await,
        "revocation" => revocation(store).await,
        "refresh_rotation" => refresh_rotation(store).await,
        "concurrent_spend" => concurrent_spend(store).await,
        "purge" => purge(store).await,
        other => panic!("no store check named {other}"),
    }
}

/// Accounts: created once per email, found by exact email, hash replaceable.
pub async fn users(store: &dyn CredentialStore) {
    let user = store
        .create_user("a@example.test", "$argon2id$1")
        .await
        .unwrap();
    assert!(!user.id.is_empty());
    assert!(matches!(
        store.create_user("a@example.test", "$argon2id$2").await,
        Err(StoreError::Conflict)
    ));
    let found = store.find_user("a@example.test").await.unwrap();
    assert_eq!(found.as_ref(), Some(&user));
    assert_eq!(
        store.find_user("A@example.test").await.unwrap(),
        None,
        "emails arrive normalised"
    );
    assert_eq!(store.find_user("' OR '1'='1").await.unwrap(), None);
    store
        .update_password_hash(&user.id, "$argon2id$new")
        .await
        .unwrap();
    assert_eq!(
        store
            .get_password_hash("a@example.test")
            .await
            .unwrap()
            .as_deref(),
        Some("$argon2id$new")
    );
    let other = store.create_user("b@example.test", "h").await.unwrap();
    assert_ne!(other.id, user.id);
}

/// Revoked ids are remembered; revoking twice keeps the later expiry.
pub async fn revocation(store: &dyn CredentialStore) {
    assert!(!store.is_token_revoked("j1").await.unwrap());
    store.revoke_token("j1", 100).await.unwrap();
    store.revoke_token("j1", 200).await.unwrap();
    store.revoke_token("j1", 150).await.unwrap();
    assert!(store.is_token_revoked("j1").await.unwrap());
    assert!(!store.is_token_revoked("j2").await.unwrap());
    store.purge_expired(199).await.unwrap();
    assert!(
        store.is_token_revoked("j1").await.unwrap(),
        "kept until its own expiry"
    );
    store.purge_expired(200).await.unwrap();
    assert!(
        !store.is_token_revoked("j1").await.unwrap(),
        "purged at its expiry"
    );
}

fn record(jti: &str, family: &str, user: &str, expires_at: i64) -> RefreshRecord {
    RefreshRecord {
        jti: jti.into(),
        family: family.into(),
        user_id: user.into(),
        expires_at,
    }
}

/// A refresh token is spent once; a second spend is a replay; a revoked family spends nothing.
pub async fn refresh_rotation(store: &dyn CredentialStore) {
    let user = store.create_user("r@example.test", "h").await.unwrap();
    let first = record("r1", "fam", &user.id, 1000);
    store.record_refresh(&first).await.unwrap();
    assert_eq!(store.family_of("r1").await.unwrap().as_deref(), Some("fam"));
    assert_eq!(store.family_of("nope").await.unwrap(), None);
    assert_eq!(
        store.spend_refresh("nope", 10).await.unwrap(),
        SpendOutcome::Unknown
    );
    assert_eq!(
        store.spend_refresh("r1", 10).await.unwrap(),
        SpendOutcome::Spent(first)
    );
    assert_eq!(
        store.spend_refresh("r1", 11).await.unwrap(),
        SpendOutcome::AlreadySpent {
            family: "fam".into()
        }
    );
    let second = record("r2", "fam", &user.id, 2000);
    store.record_refresh(&second).await.unwrap();
    store.revoke_family("fam", 12).await.unwrap();
    assert_eq!(
        store.spend_refresh("r2", 13).await.unwrap(),
        SpendOutcome::FamilyRevoked
    );
    assert_eq!(
        store.spend_refresh("r1", 13).await.unwrap(),
        SpendOutcome::FamilyRevoked
    );
    // Another family is untouched.
    let other = record("o1", "other", &user.id, 1000);
    store.record_refresh(&other).await.unwrap();
    assert_eq!(
        store.spend_refresh("o1", 14).await.unwrap(),
        SpendOutcome::Spent(other)
    );
}

/// Of many concurrent spends of one token, exactly one succeeds.
pub async fn concurrent_spend(store: &dyn CredentialStore) {
    let user = store.create_user("c@example.test", "h").await.unwrap();
    store
        .record_refresh(&record("c1", "cfam", &user.id, 1000))
        .await
        .unwrap();
    let spends = (0..8).map(|i| store.spend_refresh("c1", 20 + i));
    let outcomes = futures_join_all(spends).await;
    let spent = outcomes
        .iter()
        .filter(|o| matches!(o, Ok(SpendOutcome::Spent(_))))
        .count();
    assert_eq!(spent, 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(
        o,
        Ok(SpendOutcome::Spent(_) | SpendOutcome::AlreadySpent { .. })
    )));
}

/// Expired refresh tokens and families go; live ones stay.
pub async fn purge(store: &dyn CredentialStore) {
    let user = store.create_user("p@example.test", "h").await.unwrap();
    store
        .record_refresh(&record("p1", "pfam", &user.id, 100))
        .await
        .unwrap();
    store
        .record_refresh(&record("p2", "pfam", &user.id, 300))
        .await
        .unwrap();
    store.revoke_token("pj", 100).await.unwrap();
    let gone = store.purge_expired(100).await.unwrap();
    assert_eq!(gone, 2, "p1 and pj expire at 100");
    assert_eq!(
        store.spend_refresh("p1", 101).await.unwrap(),
        SpendOutcome::Unknown
    );
    assert_eq!(
        store.family_of("p2").await.unwrap().as_deref(),
        Some("pfam")
    );
    assert_eq!(store.purge_expired(299).await.unwrap(), 0);
    let gone = store.purge_expired(300).await.unwrap();
    assert_eq!(gone, 2, "p2 and its family expire at 300");
    assert_eq!(store.family_of("p2").await.unwrap(), None);
}

/// Polls every future to completion concurrently (no extra dependency for one join).
async fn futures_join_all<F: std::future::Future>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output> {
    let mut pinned: Vec<_> = futures.map(Box::pin).collect();
    let mut results: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in pinned.iter_mut().zip(results.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    results.into_iter().flatten().collect()
}
