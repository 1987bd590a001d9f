//! A bounds-checked little-endian reader: every read either returns its bytes or
//! `TRUNCATED`, and never panics.

use crate::error::ErrorCode;

/// A cursor over borrowed bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], ErrorCode> {
        if n > self.rest.len() {
            return Err(ErrorCode::Truncated);
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), ErrorCode> {
        self.bytes(n).map(|_| ())
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ErrorCode> {
        self.bytes(N)?.try_into().map_err(|_| ErrorCode::Truncated)
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8, ErrorCode> {
        self.array::<1>().map(|[b]| b)
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, ErrorCode> {
        self.array().map(u16::from_le_bytes)
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, ErrorCode> {
        self.array().map(u32::from_le_bytes)
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, ErrorCode> {
        self.array().map(u64::from_le_bytes)
    }

    /// An unsigned LEB128 varint of at most 10 bytes within 64 bits (`spec/delta.md`).
    pub fn varint(&mut self) -> Result<u64, ErrorCode> {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7F);
            // The tenth byte carries bit 63 only.
            if i == 9 && bits > 1 {
                return Err(ErrorCode::BadVarint);
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ErrorCode::BadVarint)
    }
}

/// Appends `value` as an unsigned LEB128 varint.
pub fn write_varint(out: &mut alloc::vec::Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Zigzag: 0, -1, 1, -2 … as 0, 1, 2, 3 ….
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// The inverse of [`zigzag`].
pub fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn varints_round_trip(v in any::<u64>()) {
            let mut out = Vec::new();
            write_varint(&mut out, v);
            prop_assert!(out.len() <= 10);
            let mut r = Reader::new(&out);
            prop_assert_eq!(r.varint(), Ok(v));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn zigzag_round_trips(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn bad_varints_are_refused() {
        let eleven = [0x80u8; 11];
        assert_eq!(Reader::new(&eleven).varint(), Err(ErrorCode::BadVarint));
        let mut too_big = [0xFFu8; 10];
        too_big[9] = 0x02;
        assert_eq!(Reader::new(&too_big).varint(), Err(ErrorCode::BadVarint));
        let mut max = [0xFFu8; 10];
        max[9] = 0x01;
        assert_eq!(Reader::new(&max).varint(), Ok(u64::MAX));
        assert_eq!(Reader::new(&[0x80]).varint(), Err(ErrorCode::Truncated));
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn reads_are_bounds_checked() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), Ok(0x0201));
        assert_eq!(r.u16(), Err(ErrorCode::Truncated));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.u8(), Ok(3));
        assert_eq!(r.u8(), Err(ErrorCode::Truncated));
        assert_eq!(Reader::new(&[0; 8]).u64(), Ok(0));
        assert_eq!(Reader::new(&[0; 4]).skip(5), Err(ErrorCode::Truncated));
    }
}
