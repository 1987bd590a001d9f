//! The dx-www reference server: an axum application that implements the wire contract in
//! `spec/`, its configuration and profiles, and the `dx-reference` binary's start-up.

pub mod api_error;
pub mod app;
pub mod auth;
pub mod commands;
pub mod config;
pub mod demo;
pub mod keys;
pub mod middleware;
pub mod mutants;
pub mod profile;
pub mod prometheus;
pub mod query;
pub mod routes;
pub mod security;
pub mod server;
pub mod services;
pub mod ssr;
pub mod state;
pub mod strict_json;
pub mod telemetry;
pub mod tls;

pub use app::{build_state, router};
pub use config::{AuthSettings, Config, ConfigError, DatabaseUrl, LogFormat, ServerArgs};
pub use mutants::{Mutant, Mutations};
pub use profile::Profile;
pub use server::{BoundServer, ServeError, shutdown_signal};
