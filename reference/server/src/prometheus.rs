//! `GET /metrics` (spec/http-contract.md, "GET /metrics"): the process's `metrics` registry in the
//! Prometheus text format, rendered by `metrics-exporter-prometheus`, with the pool's and the
//! cache's gauges read at scrape time. The recorder is process-wide: the first server of a
//! process installs it; an application that installed its own recorder gets 503 here.

use std::sync::OnceLock;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use dx_error::{DxError, ErrorCode};
use http::HeaderValue;
use http::header::CONTENT_TYPE;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::api_error::ApiError;
use crate::state::SharedState;

/// Where the metrics are served.
pub const METRICS_PATH: &str = "/metrics";

/// The Prometheus text format's media type.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets, in seconds: 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 13] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The process's Prometheus handle, installing the recorder on first call; `None` when
/// another recorder was installed first.
pub fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new().set_buckets_for_metric(
                Matcher::Full(dx_query::client::LATENCY_METRIC.to_owned()),
                &LATENCY_BUCKETS,
            );
            let builder = match builder {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "metrics: invalid buckets");
                    return None;
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => Some(handle),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: another recorder is installed; /metrics is unavailable");
                    None
                }
            }
        })
        .as_ref()
}

/// Sets the gauges and absolute counters read from this server's pool and cache.
fn read_gauges(state: &SharedState) {
    let client = state.query.client();
    let db = client.database();
    let stats = client.stats();
    let backend = db.backend().as_str();
    let size = f64::from(db.size());
    let idle = db.idle() as f64;
    metrics::gauge!("dx_db_pool_max_connections", "backend" => backend)
        .set(f64::from(db.max_connections()));
    metrics::gauge!("dx_db_pool_connections", "backend" => backend, "state" => "idle").set(idle);
    metrics::gauge!("dx_db_pool_connections", "backend" => backend, "state" => "in_use")
        .set((size - idle).max(0.0));
    metrics::gauge!("dx_db_pool_waiting", "backend" => backend).set(db.waiting() as f64);
    metrics::counter!("dx_db_connections_opened_total", "backend" => backend).absolute(db.opened());
    metrics::counter!("dx_query_cache_hits_total").absolute(stats.cache.hits);
    metrics::counter!("dx_query_cache_misses_total").absolute(stats.cache.misses);
}

/// `GET /metrics`.
pub async fn metrics(State(state): State<SharedState>) -> Response {
    let Some(handle) = handle() else {
        return ApiError(DxError::new(
            ErrorCode::ServiceUnavailable,
            "Metrics are not available in this process",
        ))
        .into_response();
    };
    read_gauges(&state);
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE_TEXT));
    response
}
