//! Builds the axum application: routes, fault hooks (conformance only) and the middleware
//! pipeline described in [`crate::middleware`].

use std::sync::Arc;

use crate::routes::items::{self, ITEMS_PATH};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{get, post};
use dx_error::DxError;
use dx_security::CsrfLayer;
use http::StatusCode;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

use crate::auth::Auth;
use crate::config::Config;
use crate::keys::ServerKey;
use crate::middleware::{body_limit, boundary, envelope, request_id};
use crate::query::Query;
use crate::routes::auth::{AUTH_BASE, MINT_PATH};
use crate::routes::discovery::{CLIENT_ERRORS_PATH, DISCOVERY_PATH, FAULT_HOOKS_BASE};
use crate::routes::{self, auth, client_errors, discovery, faults, health, session};
use crate::security::{CSRF_TOKEN_PATH, SESSION_END_PATH, Security};
use crate::services::Services;
use crate::state::{AppState, Boundaries, SharedState};

/// Builds the shared state: loads the signing key and opens (lazy) service connections.
pub fn build_state(config: Config) -> Result<SharedState, DxError> {
    let key = match &config.key_file {
        Some(path) => ServerKey::load(path),
        None => ServerKey::ephemeral(),
    }
    .map_err(|e| DxError::config("key_file", e.to_string()))?;
    let services = Services::open(&config)?;
    let auth = Arc::new(Auth::build(&config, &key, &services)?);
    let security = Arc::new(Security::build(&config, &key, config.mutations.security())?);
    let query = Arc::new(Query::build(&config, &services));
    let sync = build_sync(&config)?;
    let ssr = crate::ssr::Ssr::build(&config.crawlers)?;
    Ok(Arc::new(AppState {
        config,
        services,
        key,
        auth,
        security,
        query,
        sync,
        faults: faults::FaultState::default(),
        ssr,
        boundaries: Boundaries::default(),
        cascade: crate::mutants::Cascade::default(),
    }))
}

/// The sync module: on Redis when the server has a Redis URL, so every instance sharing it
/// behaves as one (`spec/sync.md`, "Several instances"); else on the memory broker, with
/// fresh epochs, so a restarted server never reuses an epoch its clients may remember.
fn build_sync(config: &Config) -> Result<Arc<dx_sync::manager::WebSocketManager>, DxError> {
    use dx_sync::broker::Broker;
    use dx_sync::broker::memory::MemoryBroker;
    use dx_sync::broker::redis::{RedisBroker, RedisBrokerConfig};
    let sync = routes::sync::config_for(config.profile.fault_hooks());
    let broker: Arc<dyn Broker> = match &config.redis_url {
        Some(url) => {
            let client = redis::Client::open(url.as_str()).map_err(|e| {
                DxError::config("redis_url", "the Redis URL is not valid").with_source(e)
            })?;
            let mut settings = RedisBrokerConfig::new(sync.buffer_size as usize, sync.retention);
            // A crashed instance's users are listed no longer than a dead connection's.
            settings.instance_lease = sync.ping_timeout;
            let broker = RedisBroker::start(client, settings)
                .map_err(|e| DxError::config("sync", e.to_string()))?;
            Arc::new(broker)
        }
        None => {
            let mut seed = [0u8; 8];
            getrandom::fill(&mut seed)
                .map_err(|_| DxError::config("sync", "no randomness for epochs"))?;
            Arc::new(MemoryBroker::new(
                sync.buffer_size as usize,
                sync.retention,
                u64::from_le_bytes(seed),
            ))
        }
    };
    Ok(dx_sync::manager::WebSocketManager::with_mutations(
        sync,
        broker,
        config.mutations.sync(),
    ))
}

/// The application for `state`: its routes behind the whole middleware pipeline.
pub fn router(state: SharedState) -> Router {
    let app = route_table(&state);
    with_middleware(app, state)
}

/// The routes of the application for `state`, without the middleware.
pub fn route_table(state: &SharedState) -> Router<SharedState> {
    let config = &state.config;
    let mut app = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route(DISCOVERY_PATH, get(discovery::discovery))
        .route(CLIENT_ERRORS_PATH, post(client_errors::report_client_error))
        .route(&format!("{AUTH_BASE}/login"), post(auth::login))
        .route(&format!("{AUTH_BASE}/refresh"), post(auth::refresh))
        .route(&format!("{AUTH_BASE}/revoke"), post(auth::revoke))
        .route(&format!("{AUTH_BASE}/me"), get(auth::me))
        .route(CSRF_TOKEN_PATH, get(session::csrf_token))
        .route(SESSION_END_PATH, post(session::end_session))
        .route(routes::client::CLIENT_PATH, get(routes::client::client))
        .route(routes::assets::DEMO_PATH, get(routes::assets::demo))
        .route("/", get(routes::pages::index))
        .route(
            crate::ssr::HOST_SCRIPT_PATH,
            get(routes::pages::host_script),
        )
        .route(crate::ssr::STYLESHEET_PATH, get(routes::pages::stylesheet))
        .route(
            crate::ssr::DEMO_SCRIPT_PATH,
            get(routes::pages::demo_script),
        )
        .route(routes::sync::SYNC_PATH, get(routes::sync::sync))
        .route(ITEMS_PATH, get(items::list).post(items::create))
        .route(
            &format!("{ITEMS_PATH}/{{id}}"),
            get(items::read).put(items::update).delete(items::delete),
        );
    if config.query.metrics {
        // Install the recorder before the first query, so no count is lost.
        crate::prometheus::handle();
        app = app.route(
            crate::prometheus::METRICS_PATH,
            get(crate::prometheus::metrics),
        );
    }
    if config.auth.registration {
        app = app.route(&format!("{AUTH_BASE}/register"), post(auth::register));
    }
    if config.profile.fault_hooks() {
        app = app
            .nest(FAULT_HOOKS_BASE, faults::routes())
            .route(
                &format!("{FAULT_HOOKS_BASE}/ssr-page"),
                post(routes::pages::plant),
            )
            .route(
                &format!("{}/{{id}}", crate::ssr::PLANTED_BASE),
                get(routes::pages::planted_page),
            )
            .route(
                &format!("{}/{{id}}/stream", crate::ssr::PLANTED_BASE),
                get(routes::pages::planted_stream),
            )
            .route(MINT_PATH, post(auth::mint));
    }
    app
}

/// `app` behind the server's middleware pipeline ([`crate::middleware`]), with per-route
/// error boundaries, the not-found fallback and `state`. [`router`] is this over
/// [`route_table`]; a benchmark adds a route of its own to measure what the pipeline costs.
///
/// The pipeline wraps the routed application once, as one service, rather than every route
/// (`Router::layer`): a layered route is a boxed service inside a boxed service for each
/// layer, and since every middleware clones the service it wraps for each request, a route
/// eight layers deep cost some forty boxes allocated, cloned and freed per request. The
/// layers see the same requests either way (none reads what routing adds: only the
/// boundaries, which stay per route, read the matched route).
pub fn with_middleware(app: Router<SharedState>, state: SharedState) -> Router {
    let config = &state.config;
    let security = Arc::clone(&state.security);
    let announce = config
        .mutations
        .is(crate::mutants::Mutant::ServerVersionShown);
    let routed = app
        .route_layer(from_fn_with_state(
            Arc::clone(&state),
            boundary::route_boundary,
        ))
        .fallback(routes::not_found)
        .with_state(Arc::clone(&state));
    // Outermost first.
    let pipeline = ServiceBuilder::new()
        .layer(security.headers_layer.clone())
        .layer(from_fn(request_id::assign_request_id))
        .layer(from_fn_with_state(
            Arc::clone(&state),
            envelope::render_errors,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(security.rate_limit.clone())
        .layer(from_fn_with_state(
            Arc::clone(&state),
            body_limit::enforce_body_limit,
        ))
        .layer(CsrfLayer::new(Arc::clone(&security.csrf)))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .service(routed);
    let app = Router::new().fallback_service(pipeline);
    if announce {
        return app.layer(axum::middleware::map_response(
            crate::mutants::announce_software,
        ));
    }
    app
}
