//! The client's wire formats as the suite writes and reads them: the HTIP stream
//! (`spec/htip.md`) in [`stream`], the DXDP delta patch (`spec/delta.md`) in [`delta`], and
//! the error codes of both and of the client ABI (`spec/client-abi.md`) in [`ErrorCode`].
//!
//! This is the suite's own codec, written from the spec pages and sharing no code with the
//! reference (`reference/htip`), whose decoder the reference's WASM client links: were the
//! suite to build its streams, judge them and hash its patches with that crate, a fault in it
//! (a field in the wrong order, an off-by-one bound, a wrong hash) would be made on both sides
//! and no client check could see it. `tests/htip_codecs.rs` runs the two against each other.

mod error;

pub mod delta;
pub mod stream;

pub use error::ErrorCode;
pub use stream::{EncodeError, Event, HtipOp, Stream};
