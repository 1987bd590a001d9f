//! The dx-www error system: [`DxError`] and its [`ErrorCode`]s, the [`ErrorResponse`] wire
//! format, [`SafeMutex`]/[`SafeRwLock`] that survive a panicking holder, [`ErrorBoundary`] that
//! isolates component failures, and [`RecoveryConfig`] for retrying service connections.

mod boundary;
mod code;
mod error;
mod recovery;
mod response;
mod safe_mutex;
pub mod sanitize;

pub use boundary::{ErrorBoundary, PanicError, panic_message};
pub use code::{ErrorCode, ErrorKind};
pub use error::{BoxError, Context, DxError};
pub use recovery::{RecoveryConfig, RecoveryConfigError};
pub use response::{ErrorDetail, ErrorResponse, ErrorSlot, Exposure, is_valid_request_id};
pub use safe_mutex::{LockError, SafeMutex, SafeMutexGuard, SafeRwLock};
