//! The black-box property checks, a module per area and a file per property.

pub mod auth;
pub mod client;
pub mod csrf;
pub mod error;
pub mod query;
pub mod rate_limit;
pub mod recommended;
pub mod security_headers;
pub mod server;
pub mod ssr;
mod support;
pub mod sync;
pub mod undescribed;

pub use support::{marker, unique_scope};

use crate::check::PropertyCheck;

/// Every implemented property check, by property number.
pub fn all() -> Vec<PropertyCheck> {
    vec![
        auth::p01_password_hash_round_trip::CHECK,
        auth::p02_token_signature_integrity::CHECK,
        auth::p03_token_expiration::CHECK,
        auth::p04_token_refresh::CHECK,
        auth::p05_token_revocation::CHECK,
        error::p06_mutex_recovery::CHECK,
        error::p07_error_isolation::CHECK,
        error::p08_error_completeness::CHECK,
        client::p09_delta_round_trip::CHECK,
        client::p10_allocator_non_overlap::CHECK,
        client::p11_malformed_stream::CHECK,
        security_headers::p12_headers_presence::CHECK,
        rate_limit::p13_counting_accuracy::CHECK,
        rate_limit::p14_enforcement::CHECK,
        rate_limit::p15_sliding_window::CHECK,
        csrf::p16_token_uniqueness::CHECK,
        csrf::p17_validation_strictness::CHECK,
        csrf::p18_token_location::CHECK,
        query::p19_sql_injection::CHECK,
        query::p20_pool_reuse::CHECK,
        query::p21_query_error_structure::CHECK,
        sync::p22_pubsub_delivery::CHECK,
        sync::p23_buffer_replay::CHECK,
        sync::p24_presence_accuracy::CHECK,
        sync::p25_ack_guarantee::CHECK,
        server::p26_error_sanitization::CHECK,
    ]
}
