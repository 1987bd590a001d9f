//! dx-www's wire formats, shared by the server, the WASM client and the conformance suite:
//!
//! - [`stream`]: the HTIP template stream (`spec/htip.md`): [`stream::encode`] and a
//!   zero-copy [`stream::decode`] that checks every byte and never panics;
//! - [`delta`]: the DXDP patch format (`spec/delta.md`): [`delta::diff`], [`delta::apply`],
//!   versions named by XXH64;
//! - [`ErrorCode`]: the codes both formats refuse input with.
//!
//! `no_std` with `alloc`, so the client links it into a small `wasm32` module.

#![no_std]

extern crate alloc;
#[cfg(test)]
extern crate std;

pub mod delta;
mod error;
pub mod reader;
pub mod stream;
mod utf8;
mod xxh64;

pub use error::ErrorCode;
pub use stream::{Event, HtipOp, Op, Stream, Text};
