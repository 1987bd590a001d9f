//! A bounds-checked little-endian reader that never panics. A read past the end returns
//! zeros (or nothing) and records `TRUNCATED`; the first fault recorded sticks, and
//! [`Reader::status`] reports it. Callers read a whole entry or operation, then check once:
//! in the client that is a few hundred bytes of WebAssembly less than a `Result` per read.

use crate::error::ErrorCode;

/// A cursor over borrowed bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    rest: &'a [u8],
    fault: Option<ErrorCode>,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self {
            rest: bytes,
            fault: None,
        }
    }

    /// Records `code` unless a fault was recorded already; nothing more is read.
    pub fn fail(&mut self, code: ErrorCode) {
        self.fault.get_or_insert(code);
        self.rest = &[];
    }

    /// The first fault recorded, if any.
    pub fn status(&self) -> Result<(), ErrorCode> {
        match self.fault {
            Some(code) => Err(code),
            None => Ok(()),
        }
    }

    /// `value`, unless a fault was recorded.
    pub fn check<T>(&self, value: T) -> Result<T, ErrorCode> {
        self.status().map(|()| value)
    }

    /// Whether every byte has been read (or a fault ended reading).
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The next `n` bytes; nothing, and `TRUNCATED`, if fewer remain.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        match self.rest.split_at_checked(n) {
            Some((taken, rest)) => {
                self.rest = rest;
                taken
            }
            None => {
                self.fail(ErrorCode::Truncated);
                &[]
            }
        }
    }

    /// The next `n` (at most 8) bytes as a little-endian number, or 0. One function for
    /// every width, not inlined: the client reads numbers in many places.
    #[inline(never)]
    pub fn le_bytes(&mut self, n: usize) -> u64 {
        let mut value = 0u64;
        for (i, byte) in self.bytes(n).iter().enumerate() {
            value |= u64::from(*byte) << (8 * i);
        }
        value
    }

    /// A byte.
    pub fn u8(&mut self) -> u8 {
        self.le_bytes(1) as u8
    }

    /// A little-endian `u16`.
    pub fn u16(&mut self) -> u16 {
        self.le_bytes(2) as u16
    }

    /// A little-endian `u32`.
    pub fn u32(&mut self) -> u32 {
        self.le_bytes(4) as u32
    }

    /// A little-endian `u64`.
    pub fn u64(&mut self) -> u64 {
        self.le_bytes(8)
    }

    /// The start both formats' headers share: `magic`, then `version`, a flags byte and a
    /// reserved `u16`, both 0.
    pub fn preamble(&mut self, magic: [u8; 4], version: u8) -> Result<(), ErrorCode> {
        if self.bytes(4) != magic {
            return Err(ErrorCode::BadMagic);
        }
        let (v, flags, reserved) = (self.u8(), self.u8(), self.u16());
        self.status()?;
        if v != version {
            return Err(ErrorCode::UnsupportedVersion);
        }
        if flags != 0 || reserved != 0 {
            return Err(ErrorCode::UnsupportedFlags);
        }
        Ok(())
    }

    /// An unsigned LEB128 varint of at most 10 bytes within 64 bits (`spec/delta.md`); 0,
    /// and `BAD_VARINT` or `TRUNCATED`, if there is none.
    pub fn varint(&mut self) -> u64 {
        let mut value: u64 = 0;
        for i in 0..10u32 {
            let byte = self.u8();
            let bits = u64::from(byte & 0x7F);
            // The tenth byte carries bit 63 only.
            if i == 9 && bits > 1 {
                break;
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                return value;
            }
        }
        self.fail(ErrorCode::BadVarint);
        0
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
            prop_assert_eq!(r.varint(), v);
            prop_assert_eq!(r.status(), Ok(()));
            prop_assert!(r.is_empty());
        }

        #[test]
        fn zigzag_round_trips(v in any::<i64>()) {
            prop_assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    fn varint(bytes: &[u8]) -> Result<u64, ErrorCode> {
        let mut r = Reader::new(bytes);
        let v = r.varint();
        r.check(v)
    }

    #[test]
    fn bad_varints_are_refused() {
        let eleven = [0x80u8; 11];
        assert_eq!(varint(&eleven), Err(ErrorCode::BadVarint));
        let mut too_big = [0xFFu8; 10];
        too_big[9] = 0x02;
        assert_eq!(varint(&too_big), Err(ErrorCode::BadVarint));
        let mut max = [0xFFu8; 10];
        max[9] = 0x01;
        assert_eq!(varint(&max), Ok(u64::MAX));
        assert_eq!(varint(&[0x80]), Err(ErrorCode::Truncated));
        assert_eq!(zigzag(0), 0);
        assert_eq!(zigzag(-1), 1);
        assert_eq!(zigzag(1), 2);
        assert_eq!(zigzag(i64::MIN), u64::MAX);
    }

    #[test]
    fn reads_are_bounds_checked_and_the_first_fault_sticks() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u16(), 0x0201);
        assert_eq!(r.status(), Ok(()));
        assert_eq!(r.remaining(), 1);
        assert_eq!(r.u16(), 0);
        assert_eq!(r.status(), Err(ErrorCode::Truncated));
        assert!(r.is_empty(), "a fault ends reading");
        assert_eq!(r.u8(), 0);
        r.fail(ErrorCode::BadOperand);
        assert_eq!(
            r.check(7),
            Err(ErrorCode::Truncated),
            "the first fault sticks"
        );
        let mut r = Reader::new(&[0; 8]);
        assert_eq!(r.u64(), 0);
        assert_eq!(r.check(1), Ok(1));
        let mut r = Reader::new(&[0; 4]);
        assert_eq!(r.bytes(5), &[] as &[u8]);
        assert_eq!(r.status(), Err(ErrorCode::Truncated));
        let mut r = Reader::new(b"HTIQ\x01\0\0\0");
        assert_eq!(r.preamble(*b"HTIP", 1), Err(ErrorCode::BadMagic));
        let mut r = Reader::new(b"HTIP\x02\0\0\0");
        assert_eq!(r.preamble(*b"HTIP", 1), Err(ErrorCode::UnsupportedVersion));
        let mut r = Reader::new(b"HTIP\x01\0\0\x01");
        assert_eq!(r.preamble(*b"HTIP", 1), Err(ErrorCode::UnsupportedFlags));
        let mut r = Reader::new(b"HTIP\x01\0");
        assert_eq!(r.preamble(*b"HTIP", 1), Err(ErrorCode::Truncated));
    }
}
