//! Feature: production-readiness, Property 20: Connection Pool Reuse
//!
//! Black-box form, through the items API and `/metrics`. proptest picks the size of a burst
//! (1 to four times the published pool size, at most 64 requests) sent at once; while it
//! runs and after it, `/metrics` must show no more connections held (idle plus in use) than
//! `query.pool_size`, a maximum equal to it, and no more connections opened during the
//! burst than that. Every request of the burst must succeed, or be refused as the spec
//! allows when the pool stays exhausted (503 with `Retry-After`). A target that publishes no
//! `/metrics` is not verified: the suite cannot count its connections from outside.

use futures_util::future::join_all;

use crate::cases::{CaseConfig, CaseFailure, for_all};
use crate::check::{CheckFuture, CheckOutcome, PropertyCheck};
use crate::checks::query::{ItemsApi, Metrics, Owner, area};
use crate::clause::query as qc;
use crate::http::RequestSpec;
use crate::target::Target;

/// The check.
pub const CHECK: PropertyCheck = PropertyCheck {
    property: 20,
    run: run_check,
};

/// The largest burst.
const MAX_BURST: u64 = 64;

/// Judges one reading against the published pool size.
fn judge(
    metrics: &Metrics,
    pool_size: u64,
    opened_before: f64,
    when: &str,
) -> Result<(), CaseFailure> {
    let held = metrics.sum("dx_db_pool_connections", &[]).ok_or_else(|| {
        CaseFailure::plain(qc::METRICS.cite(), "no dx_db_pool_connections series")
    })?;
    let max = metrics.sum("dx_db_pool_max_connections", &[]);
    let opened = metrics
        .sum("dx_db_connections_opened_total", &[])
        .ok_or_else(|| {
            CaseFailure::plain(
                qc::METRICS.cite(),
                "no dx_db_connections_opened_total series",
            )
        })?;
    let bound = pool_size as f64;
    if held > bound {
        return Err(CaseFailure::plain(
            qc::POOL_BOUND.cite(),
            format!("{when}: {held} connections held with query.pool_size {pool_size}"),
        ));
    }
    if max != Some(bound) {
        return Err(CaseFailure::plain(
            qc::POOL_BOUND.cite(),
            format!("{when}: dx_db_pool_max_connections {max:?}, query.pool_size {pool_size}"),
        ));
    }
    if opened - opened_before > bound {
        return Err(CaseFailure::plain(
            qc::POOL_BOUND.cite(),
            format!(
                "{when}: {} connections opened during one burst, pool size {pool_size}",
                opened - opened_before
            ),
        ));
    }
    Ok(())
}

async fn list(api: &ItemsApi<'_>, owner: &Owner) -> Result<(), CaseFailure> {
    let ex = api
        .send(
            owner,
            RequestSpec::get(format!("{}?limit=1", api.area.items)),
            &[],
        )
        .await?;
    match ex.status.as_u16() {
        200 => Ok(()),
        503 if ex.header("retry-after").is_some() => Ok(()),
        other => Err(CaseFailure::violates(
            &ex,
            &qc::EXHAUSTED,
            format!("HTTP {other} to a listing during a burst"),
        )),
    }
}

fn run_check(target: &Target, config: CaseConfig) -> CheckFuture<'_> {
    Box::pin(async move {
        let area = match area(target) {
            Ok(a) => a,
            Err(outcome) => return outcome,
        };
        if area.metrics.is_none() {
            return CheckOutcome::NotVerified(
                "the target publishes no query.metrics, so the suite cannot count its database connections".into(),
            );
        }
        let pool_size = area.pool_size;
        let api = match ItemsApi::new(target, area) {
            Ok(api) => api,
            Err(outcome) => return outcome,
        };
        let owner = match api.owner("p20").await {
            Ok(o) => o,
            Err(failure) => return CheckOutcome::SetupFailed(failure),
        };
        let (api, owner) = (&api, &owner);
        let most = (pool_size * 4).clamp(1, MAX_BURST);
        // The reading after one burst is the reading before the next (nothing of this
        // check's is sent between them), which saves a round trip per case.
        let last_reading: std::cell::RefCell<Option<Metrics>> = std::cell::RefCell::new(None);
        let last_reading = &last_reading;
        let outcome = for_all(1..=most, config, |burst| async move {
            let kept = last_reading.borrow_mut().take();
            let before = match kept {
                Some(reading) => reading,
                None => api.metrics().await?.unwrap_or_default(),
            };
            let opened_before = before
                .sum("dx_db_connections_opened_total", &[])
                .unwrap_or(0.0);
            judge(&before, pool_size, opened_before, "before a burst")?;
            let requests = join_all((0..burst).map(|_| list(api, owner)));
            let (results, during) = futures_util::join!(requests, api.metrics());
            for result in results {
                result?;
            }
            if let Some(during) = during? {
                judge(&during, pool_size, opened_before, "during a burst")?;
            }
            let after = api.metrics().await?.unwrap_or_default();
            judge(
                &after,
                pool_size,
                opened_before,
                &format!("after a burst of {burst}"),
            )?;
            *last_reading.borrow_mut() = Some(after);
            Ok(())
        })
        .await;
        CheckOutcome::Ran(outcome)
    })
}
