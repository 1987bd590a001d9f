//! Error-handling properties (6, 7, 8).

pub mod p06_mutex_recovery;
pub mod p07_error_isolation;
pub mod p08_error_completeness;
