//! The DXDP patch of `spec/delta.md`, as far as the suite needs it to test a client's
//! applier: [`diff`] writes spec-valid patches that copy ranges of the base (forwards,
//! backwards and continuing) and insert literal bytes, [`PatchHeader::read`] reads the
//! versions a patch names, and [`hash`] names a version as the spec does (XXH64, seed 0,
//! computed by the `xxhash-rust` crate so that it is not a third reading of the algorithm).
//!
//! How small a patch is does not matter here ("How good a patch is (its size) is not
//! conformance"): the writer matches 4-byte windows greedily and is only as clever as it
//! takes to exercise every instruction.

use std::collections::HashMap;

use super::ErrorCode;

/// The magic, `"DXDP"`.
pub const MAGIC: [u8; 4] = *b"DXDP";
/// The only version the page defines.
pub const VERSION: u8 = 1;
/// The header's length in bytes.
pub const HEADER_LEN: usize = 32;

/// The instruction opcodes.
pub mod opcode {
    /// `END`, the patch's last byte.
    pub const END: u8 = 0x00;
    /// `COPY delta: varint, len: varint`.
    pub const COPY: u8 = 0x01;
    /// `INSERT len: varint`, then `len` bytes.
    pub const INSERT: u8 = 0x02;
}

/// The name of a version: XXH64 of its bytes with seed 0.
pub fn hash(data: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(data, 0)
}

/// The name of a version as ETags write it: 16 lower-case hexadecimal digits.
pub fn hash_hex(data: &[u8]) -> String {
    format!("{:016x}", hash(data))
}

/// The base and target a patch names (its header's fields after the magic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PatchHeader {
    /// `base_len`.
    pub base_len: u32,
    /// `target_len`.
    pub target_len: u32,
    /// `base_hash`.
    pub base_hash: u64,
    /// `target_hash`.
    pub target_hash: u64,
}

impl PatchHeader {
    /// The header naming `base` and `target`, or the length that does not fit its `u32`.
    pub fn between(base: &[u8], target: &[u8]) -> Result<Self, PatchError> {
        let len =
            |data: &[u8]| u32::try_from(data.len()).map_err(|_| PatchError::TooLong(data.len()));
        Ok(Self {
            base_len: len(base)?,
            target_len: len(target)?,
            base_hash: hash(base),
            target_hash: hash(target),
        })
    }

    /// Reads the 32-byte header at the start of `patch`, with the header's codes of
    /// `spec/delta.md`; the instructions after it are not looked at.
    pub fn read(patch: &[u8]) -> Result<Self, ErrorCode> {
        if patch.get(..4) != Some(MAGIC.as_slice()) {
            return Err(ErrorCode::BadMagic);
        }
        // As for the HTIP header: the first 8 bytes (magic, version, flags, reserved) are
        // judged once they are all there, the lengths and hashes then.
        let Some(preamble) = patch.get(..8) else {
            return Err(ErrorCode::Truncated);
        };
        if preamble[4] != VERSION {
            return Err(ErrorCode::UnsupportedVersion);
        }
        if preamble[5..].iter().any(|b| *b != 0) {
            return Err(ErrorCode::UnsupportedFlags);
        }
        let Some(h) = patch.get(..HEADER_LEN) else {
            return Err(ErrorCode::Truncated);
        };
        let le = |range: std::ops::Range<usize>| {
            h[range]
                .iter()
                .rev()
                .fold(0u64, |value, byte| (value << 8) | u64::from(*byte))
        };
        Ok(Self {
            base_len: le(8..12) as u32,
            target_len: le(12..16) as u32,
            base_hash: le(16..24),
            target_hash: le(24..32),
        })
    }

    /// The header's 32 bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0; HEADER_LEN];
        out[..4].copy_from_slice(&MAGIC);
        out[4] = VERSION;
        out[8..12].copy_from_slice(&self.base_len.to_le_bytes());
        out[12..16].copy_from_slice(&self.target_len.to_le_bytes());
        out[16..24].copy_from_slice(&self.base_hash.to_le_bytes());
        out[24..32].copy_from_slice(&self.target_hash.to_le_bytes());
        out
    }
}

/// Why [`diff`] could not write a patch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// Data longer than the header's `u32` lengths can name.
    #[error("{0} bytes: longer than a patch can name (4 GiB)")]
    TooLong(usize),
}

/// The shortest range worth a `COPY`.
const MIN_MATCH: usize = 4;
/// Base offsets remembered per 4-byte window, so repetitive data stays linear.
const CANDIDATES: usize = 8;

/// Appends an unsigned LEB128 varint.
pub fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Zigzag encoding: 0, -1, 1, -2, 2 … to 0, 1, 2, 3, 4 …
pub fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

/// The instructions being written, with the base cursor they move.
struct Instructions {
    out: Vec<u8>,
    cursor: usize,
}

impl Instructions {
    fn copy(&mut self, offset: usize, len: usize) {
        self.out.push(opcode::COPY);
        varint(&mut self.out, zigzag(offset as i64 - self.cursor as i64));
        varint(&mut self.out, len as u64);
        self.cursor = offset + len;
    }

    fn insert(&mut self, literal: &[u8]) {
        if literal.is_empty() {
            return;
        }
        self.out.push(opcode::INSERT);
        varint(&mut self.out, literal.len() as u64);
        self.out.extend_from_slice(literal);
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// A patch from `base` to `target`; from data to itself, the spec's identity patch
/// (`COPY 0, len`, `END`, or only `END` for empty data).
pub fn diff(base: &[u8], target: &[u8]) -> Result<Vec<u8>, PatchError> {
    let header = PatchHeader::between(base, target)?;
    let mut w = Instructions {
        out: header.to_bytes().to_vec(),
        cursor: 0,
    };
    if base == target {
        if !base.is_empty() {
            w.copy(0, base.len());
        }
        w.out.push(opcode::END);
        return Ok(w.out);
    }
    let mut windows: HashMap<&[u8], Vec<usize>> = HashMap::new();
    for (offset, window) in base.windows(MIN_MATCH).enumerate() {
        let seen = windows.entry(window).or_default();
        if seen.len() < CANDIDATES {
            seen.push(offset);
        }
    }
    let (mut at, mut literal) = (0, 0);
    while at + MIN_MATCH <= target.len() {
        let rest = &target[at..];
        // Where the last copy ended first, so a tie continues it (`delta` 0).
        let candidates = std::iter::once(w.cursor).chain(
            windows
                .get(&rest[..MIN_MATCH])
                .into_iter()
                .flatten()
                .copied(),
        );
        let mut best: Option<(usize, usize)> = None;
        for offset in candidates {
            let len = common_prefix(base.get(offset..).unwrap_or_default(), rest);
            if len >= MIN_MATCH && best.is_none_or(|(_, longest)| len > longest) {
                best = Some((offset, len));
            }
        }
        match best {
            Some((offset, len)) => {
                w.insert(&target[literal..at]);
                w.copy(offset, len);
                at += len;
                literal = at;
            }
            None => at += 1,
        }
    }
    w.insert(&target[literal..]);
    w.out.push(opcode::END);
    Ok(w.out)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::empty(b"", 0xEF46_DB37_51D8_E999)]
    #[case::abc(b"abc", 0x44BC_2CF5_AD77_0999)]
    fn versions_are_named_by_xxh64_seed_0(#[case] data: &[u8], #[case] want: u64) {
        assert_eq!(hash(data), want);
        assert_eq!(hash_hex(data), format!("{want:016x}"));
        assert_eq!(hash_hex(b""), "ef46db3751d8e999");
    }

    #[rstest]
    #[case(0, &[0])]
    #[case(-1, &[1])]
    #[case(1, &[2])]
    #[case(-64, &[0x7F])]
    #[case(64, &[0x80, 0x01])]
    #[case(i64::MIN, &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01])]
    fn deltas_are_zigzag_varints(#[case] delta: i64, #[case] bytes: &[u8]) {
        let mut out = Vec::new();
        varint(&mut out, zigzag(delta));
        assert_eq!(out, bytes);
    }

    #[test]
    fn a_patch_is_laid_out_as_the_spec_says() {
        let base = b"hello world, hello";
        let target = b"hello brave world, hello";
        let patch = diff(base, target).unwrap();
        let want = [
            &b"DXDP"[..],
            &[1, 0, 0, 0],
            &(base.len() as u32).to_le_bytes(),
            &(target.len() as u32).to_le_bytes(),
            &hash(base).to_le_bytes(),
            &hash(target).to_le_bytes(),
            // COPY delta 0, len 6: "hello ".
            &[0x01, 0, 6],
            // INSERT "brave".
            &[0x02, 5],
            b"brave",
            // COPY " world, hello" from offset 5, the cursor at 6: delta -1, zigzag 1.
            &[0x01, 1, 13],
            &[0x00],
        ]
        .concat();
        assert_eq!(patch, want);
        assert_eq!(
            PatchHeader::read(&patch),
            Ok(PatchHeader {
                base_len: 18,
                target_len: 24,
                base_hash: hash(base),
                target_hash: hash(target),
            })
        );
    }

    #[test]
    fn a_moved_block_is_copied_from_behind() {
        // "BBBB" first (offset 4: delta +4 is zigzag 8), then "AAAA" (offset 0, the cursor
        // at 8: delta -8 is zigzag 15).
        let patch = diff(b"AAAABBBB", b"BBBBAAAA").unwrap();
        assert_eq!(patch[HEADER_LEN..], [0x01, 8, 4, 0x01, 15, 4, 0x00]);
    }

    #[rstest]
    #[case::empty(b"", &[0x00])]
    #[case::short(b"ab", &[0x01, 0, 2, 0x00])]
    #[case::long(&[7; 300], &[0x01, 0, 0xAC, 0x02, 0x00])]
    fn the_patch_from_data_to_itself_is_the_identity_patch(
        #[case] data: &[u8],
        #[case] instructions: &[u8],
    ) {
        let patch = diff(data, data).unwrap();
        let header = PatchHeader::read(&patch).unwrap();
        assert_eq!(
            (header.base_len, header.base_hash),
            (header.target_len, header.target_hash)
        );
        assert_eq!(&patch[HEADER_LEN..], instructions);
    }

    #[rstest]
    #[case::short(b"DXD".to_vec(), ErrorCode::BadMagic)]
    #[case::magic(b"DXDQ\x01\0\0\0".to_vec(), ErrorCode::BadMagic)]
    #[case::cut(diff(b"a", b"b").unwrap()[..31].to_vec(), ErrorCode::Truncated)]
    #[case::preamble_cut(b"DXDP\x02".to_vec(), ErrorCode::Truncated)]
    #[case::cut_with_version_2(b"DXDP\x02\0\0\0".to_vec(), ErrorCode::UnsupportedVersion)]
    #[case::version({ let mut p = diff(b"a", b"b").unwrap(); p[4] = 2; p }, ErrorCode::UnsupportedVersion)]
    #[case::flags({ let mut p = diff(b"a", b"b").unwrap(); p[5] = 1; p }, ErrorCode::UnsupportedFlags)]
    #[case::reserved({ let mut p = diff(b"a", b"b").unwrap(); p[6] = 1; p }, ErrorCode::UnsupportedFlags)]
    fn a_bad_header_gets_its_code(#[case] patch: Vec<u8>, #[case] code: ErrorCode) {
        assert_eq!(PatchHeader::read(&patch), Err(code));
    }
}
