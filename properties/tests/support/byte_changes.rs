//! Small changes to encoded bytes, for the differential codec tests: where two decoders must
//! agree on malformed input, the input that matters most is a valid encoding cut short,
//! lengthened, or with one byte replaced.

use proptest::prelude::*;

/// A change to a frame's, stream's or patch's bytes.
#[derive(Debug, Clone)]
pub enum Change {
    /// Cut at this position (modulo the length plus one).
    Cut(usize),
    /// One byte appended.
    Append(u8),
    /// The byte at this position (modulo the length) replaced.
    Replace(usize, u8),
}

/// Any change.
pub fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        any::<usize>().prop_map(Change::Cut),
        any::<u8>().prop_map(Change::Append),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Change::Replace(at, b)),
    ]
}

/// `bytes` with `change` made.
pub fn changed(mut bytes: Vec<u8>, change: &Change) -> Vec<u8> {
    match *change {
        Change::Cut(at) => bytes.truncate(at % (bytes.len() + 1)),
        Change::Append(b) => bytes.push(b),
        Change::Replace(at, b) => {
            let at = at % bytes.len().max(1);
            if let Some(byte) = bytes.get_mut(at) {
                *byte = b;
            }
        }
    }
    bytes
}
