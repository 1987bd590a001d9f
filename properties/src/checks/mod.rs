//! The black-box property checks, a module per area and a file per property.

pub mod error;
pub mod server;
mod support;

use crate::check::PropertyCheck;

/// Every implemented property check, by property number.
pub fn all() -> Vec<PropertyCheck> {
    vec![
        error::p06_mutex_recovery::CHECK,
        error::p07_error_isolation::CHECK,
        error::p08_error_completeness::CHECK,
        server::p26_error_sanitization::CHECK,
    ]
}
