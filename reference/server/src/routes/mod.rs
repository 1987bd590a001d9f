//! The HTTP routes; handlers stay thin: parse, call the component, map the error.

pub mod assets;
pub mod auth;
pub mod client;
pub mod client_errors;
pub mod discovery;
pub mod faults;
pub mod health;
pub mod items;
pub mod pages;
pub mod session;
pub mod sync;

use dx_error::{DxError, ErrorCode};

use crate::api_error::ApiError;

/// The fallback for every unknown path.
pub async fn not_found() -> ApiError {
    ApiError(DxError::request(
        ErrorCode::NotFound,
        "No resource at this path",
    ))
}
