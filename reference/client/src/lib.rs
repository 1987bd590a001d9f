//! dx-www's WASM client (`spec/client-abi.md`): it renders HTIP streams by calling its host's
//! DOM imports, and applies delta patches to data its host holds.
//!
//! The logic is plain Rust, built and tested natively: [`bump::Bump`] (the allocator's
//! arithmetic), [`client::Client`] (the tables and the stream processor) over any
//! [`host::Host`]. `wasm.rs`, compiled only for `wasm32`, is the thin unsafe boundary: the
//! imports, the exports with their range checks, the global allocator.

// `no_std` in WebAssembly; natively a normal crate, so the cdylib links (std's allocator
// and panic handler) and the tests run.
#![cfg_attr(target_arch = "wasm32", no_std)]

extern crate alloc;

pub mod bump;
pub mod client;
pub mod host;
#[cfg(target_arch = "wasm32")]
mod wasm;

pub use client::Client;
pub use host::Host;
