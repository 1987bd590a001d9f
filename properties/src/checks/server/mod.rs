//! Server-wide properties (26).

pub mod p26_error_sanitization;
