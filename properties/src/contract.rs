//! The routes of spec/http-contract.md as data, located through the target's discovery
//! document: each route's path, the methods it supports and the JSON body it takes. Checks
//! enumerate this table instead of sampling it.

use http::Method;

use crate::discovery::{DISCOVERY_PATH, Discovery};

/// Every method the checks try on every route (CONNECT is a proxy method, not a route's).
pub const METHODS: [Method; 8] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::OPTIONS,
    Method::TRACE,
];

/// The methods a read-only route supports (`HEAD` wherever `GET`).
pub const READ: &[Method] = &[Method::GET, Method::HEAD];
/// The methods a route that takes a body supports.
pub const WRITE: &[Method] = &[Method::POST];

/// The JSON bodies routes take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// A client error report.
    ClientReport,
    /// `{"scope", "add"}` (the `add` and `poison` hooks).
    HookAdd,
    /// `{"message"}` (the `panic` hook).
    HookPanic,
    /// `{"number", "message", "source"?, "suggestion"?}` (the `error` hook).
    HookError,
    /// `{"email", "password"}` (register and login).
    Credentials,
    /// `{"refresh_token"}`.
    RefreshToken,
    /// `{"token", "token_type_hint"?}`.
    RevokeToken,
    /// `{"sub", "typ", "exp_offset_seconds"}` (the mint hook).
    Mint,
}

/// One route of the contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Its name in spec/http-contract.md.
    pub name: &'static str,
    /// Its path on the target.
    pub path: String,
    /// The methods it supports.
    pub methods: &'static [Method],
    /// The JSON body it takes, if any.
    pub body: Option<Body>,
    /// Whether a valid request fails on purpose (the `poison` and `panic` hooks).
    pub fails_on_purpose: bool,
}

impl Route {
    fn read(name: &'static str, path: impl Into<String>) -> Self {
        Self {
            name,
            path: path.into(),
            methods: READ,
            body: None,
            fails_on_purpose: false,
        }
    }

    fn write(name: &'static str, path: impl Into<String>, body: Body) -> Self {
        Self {
            name,
            path: path.into(),
            methods: WRITE,
            body: Some(body),
            fails_on_purpose: false,
        }
    }

    /// Whether the route supports `method`.
    pub fn supports(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }

    /// The supported methods as an upper-case sorted list, as `Allow` is compared.
    pub fn allow(&self) -> Vec<String> {
        let mut methods: Vec<String> = self.methods.iter().map(ToString::to_string).collect();
        methods.sort();
        methods
    }
}

/// The fault hooks' base path, when the target serves them.
pub fn hooks_base(discovery: &Discovery) -> Option<String> {
    discovery
        .fault_hooks
        .as_ref()
        .filter(|_| discovery.is_conformance())
        .map(|h| h.base.trim_end_matches('/').to_owned())
}

/// Every route the target publishes, fault hooks included when it serves them. `scope` is
/// the scope used for the `state` route.
pub fn routes(discovery: &Discovery, scope: &str) -> Vec<Route> {
    let endpoints = &discovery.endpoints;
    let mut routes = vec![
        Route::read("health", endpoints.health.clone()),
        Route::read("ready", endpoints.ready.clone()),
        Route::read("discovery", DISCOVERY_PATH),
    ];
    if let Some(path) = &endpoints.client_errors {
        routes.push(Route::write(
            "client_errors",
            path.clone(),
            Body::ClientReport,
        ));
    }
    routes.extend(auth_routes(discovery));
    if let Some(base) = hooks_base(discovery) {
        routes.push(Route::write(
            "hook add",
            format!("{base}/add"),
            Body::HookAdd,
        ));
        routes.push(Route {
            fails_on_purpose: true,
            ..Route::write("hook poison", format!("{base}/poison"), Body::HookAdd)
        });
        routes.push(Route {
            fails_on_purpose: true,
            ..Route::write("hook panic", format!("{base}/panic"), Body::HookPanic)
        });
        routes.push(Route::write(
            "hook error",
            format!("{base}/error"),
            Body::HookError,
        ));
        routes.push(Route::read("hook state", format!("{base}/state/{scope}")));
    }
    routes
}

/// The routes of the `auth` member (spec/http-contract.md, "Authentication"), when offered.
fn auth_routes(discovery: &Discovery) -> Vec<Route> {
    let Some(auth) = discovery.raw.get("auth").filter(|a| a.is_object()) else {
        return Vec::new();
    };
    let path = |pointer: &str| {
        auth.pointer(pointer)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let mut routes = Vec::new();
    for (name, pointer, body) in [
        ("auth register", "/endpoints/register", Body::Credentials),
        ("auth login", "/endpoints/login", Body::Credentials),
        ("auth refresh", "/endpoints/refresh", Body::RefreshToken),
        ("auth revoke", "/endpoints/revoke", Body::RevokeToken),
    ] {
        if let Some(p) = path(pointer) {
            routes.push(Route::write(name, p, body));
        }
    }
    if let Some(p) = path("/endpoints/me") {
        routes.push(Route::read("auth me", p));
    }
    if discovery.is_conformance()
        && let Some(p) = path("/test_hooks/mint")
    {
        routes.push(Route::write("auth mint", p, Body::Mint));
    }
    routes
}

/// Paths no route serves, of several shapes: unknown top level, under a known route, with
/// bytes that do not decode to UTF-8.
pub fn unknown_paths(discovery: &Discovery) -> Vec<String> {
    let mut paths = vec![
        "/dx-conformance/no-such-page".to_owned(),
        "/%FF%FE".to_owned(),
        format!("{}/dx-conformance-child", discovery.endpoints.health),
    ];
    if let Some(base) = hooks_base(discovery) {
        paths.push(format!("{base}/dx-conformance-unknown"));
        paths.push(format!("{base}/state/"));
    }
    paths
}
