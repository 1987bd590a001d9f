//! A client `.wasm` under test: the seed's [`MockHost`] providing every host import of
//! `spec/client-abi.md`, and [`ClientModule`], which runs any client module in wasmi with a
//! fuel budget per call and a memory cap, so a client that hangs, traps or runs away is a
//! reported outcome and never a hung suite.

pub mod mock_host;
pub mod runtime;

pub use mock_host::{DomOp, MockHost};
pub use runtime::{Call, ClientError, ClientInstance, ClientModule};
