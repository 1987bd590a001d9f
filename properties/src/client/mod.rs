//! A client `.wasm` under test: the seed's [`MockHost`] providing every host import of
//! `spec/client-abi.md`, and [`ClientModule`], which runs any client module in wasmi with a
//! fuel budget per call and a memory cap, or in Chromium's own engine ([`browser`]) with a
//! time limit per call and the same cap, so a client that hangs, traps or runs away is a
//! reported outcome and never a hung suite.

pub mod browser;
pub mod mock_host;
pub mod runtime;

use std::sync::Arc;

pub use browser::{BrowserError, Chromium};
pub use mock_host::{DomOp, MockHost};
pub use runtime::{Call, ClientError, ClientInstance, ClientModule};

/// The engine the client checks run the target's client in (`--client-runtime`).
#[derive(Debug, Clone, Default)]
pub enum ClientRuntime {
    /// wasmi, in the suite's process: the default, needing nothing installed.
    #[default]
    Wasmi,
    /// Chromium's own WebAssembly engine, through the same host imports.
    Chromium(Arc<Chromium>),
}

impl ClientRuntime {
    /// A fresh instance of `module`, after calling its `init`.
    pub fn instantiate(&self, module: &ClientModule) -> Result<ClientInstance, ClientError> {
        match self {
            ClientRuntime::Wasmi => module.instantiate(),
            ClientRuntime::Chromium(chromium) => chromium.instantiate(module),
        }
    }

    /// Its name in a report: `wasmi`, or Chromium's version.
    pub fn describe(&self) -> String {
        match self {
            ClientRuntime::Wasmi => "wasmi".to_owned(),
            ClientRuntime::Chromium(chromium) => chromium.version().to_owned(),
        }
    }
}
