//! Delta patches (`spec/delta.md`): `diff` writes a patch of copies from anywhere in the base
//! and literal inserts, `apply` checks the base by length and hash before writing anything and
//! the output by length and hash at the end, so a patch applied to the wrong base, or a
//! corrupted one, is an error code and never a wrong file.
//!
//! The generator indexes every 8-byte window of the base (a hash table with chains of recent
//! positions), then walks the target: it first tries to continue the previous copy, else the
//! longest of a few candidate matches, extended backwards over pending literals. That finds
//! insertions, deletions and moved blocks; the instruction stream (offsets as zigzag deltas
//! from the last copy's end, so sequential copies cost a byte) is left to HTTP compression.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::ErrorCode;
use crate::reader::{Reader, unzigzag, write_varint, zigzag};

/// The first four bytes of every patch.
pub const MAGIC: [u8; 4] = *b"DXDP";
/// The version this crate reads and writes.
pub const VERSION: u8 = 1;
/// The header's length.
pub const HEADER_LEN: usize = 32;

/// The instructions.
pub mod opcode {
    /// The end of the patch.
    pub const END: u8 = 0x00;
    /// Copy a range of the base.
    pub const COPY: u8 = 0x01;
    /// Insert literal bytes.
    pub const INSERT: u8 = 0x02;
}

/// The shortest match worth a copy: a copy costs 3 to 6 bytes of instructions.
const MIN_MATCH: usize = 8;
/// The window the index hashes. Longer than `MIN_MATCH`: in text full of repeated runs
/// (`";\nline "`), short windows share a bucket with thousands of places and the chain
/// never reaches the right one; 16 bytes of minified code or markup are nearly unique.
const WINDOW: usize = 16;
/// Candidates examined per position: more finds longer matches, slower.
const MAX_CHAIN: usize = 32;

/// A version's name: XXH64 with seed 0.
pub fn hash(data: &[u8]) -> u64 {
    crate::xxh64::xxh64(data)
}

/// A version's name as HTTP shows it: 16 lower-case hexadecimal digits.
pub fn hash_hex(data: &[u8]) -> alloc::string::String {
    alloc::format!("{:016x}", hash(data))
}

/// What a patch says about its base and target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchHeader {
    /// The base's length.
    pub base_len: u32,
    /// The target's length.
    pub target_len: u32,
    /// The base's hash.
    pub base_hash: u64,
    /// The target's hash.
    pub target_hash: u64,
}

impl PatchHeader {
    /// Reads and checks the header of `patch`.
    pub fn read(patch: &[u8]) -> Result<Self, ErrorCode> {
        let mut r = Reader::new(patch);
        r.preamble(MAGIC, VERSION)?;
        let header = PatchHeader {
            base_len: r.u32(),
            target_len: r.u32(),
            base_hash: r.u64(),
            target_hash: r.u64(),
        };
        r.check(header)
    }

    fn of(base: &[u8], target: &[u8]) -> Result<Self, DiffError> {
        Ok(Self {
            base_len: u32::try_from(base.len()).map_err(|_| DiffError::TooLarge)?,
            target_len: u32::try_from(target.len()).map_err(|_| DiffError::TooLarge)?,
            base_hash: hash(base),
            target_hash: hash(target),
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend(MAGIC);
        out.push(VERSION);
        out.push(0);
        out.extend(0u16.to_le_bytes());
        out.extend(self.base_len.to_le_bytes());
        out.extend(self.target_len.to_le_bytes());
        out.extend(self.base_hash.to_le_bytes());
        out.extend(self.target_hash.to_le_bytes());
    }
}

/// Why a patch could not be generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DiffError {
    /// A base or target of 4 GiB or more.
    #[error("base or target of 4 GiB or more")]
    TooLarge,
}

/// What a server should send a client that holds the base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// This patch: smaller than the target.
    Patch(Vec<u8>),
    /// The target itself: a patch would not be smaller (`spec/delta.md`).
    Full,
}

/// The patch if it is smaller than `target`, else [`Delta::Full`].
pub fn delta(base: &[u8], target: &[u8]) -> Result<Delta, DiffError> {
    let patch = diff(base, target)?;
    Ok(if patch.len() < target.len() {
        Delta::Patch(patch)
    } else {
        Delta::Full
    })
}

/// The patch from `base` to `target` (whatever its size). From data to itself it is the
/// identity patch.
pub fn diff(base: &[u8], target: &[u8]) -> Result<Vec<u8>, DiffError> {
    let header = PatchHeader::of(base, target)?;
    let mut out = Vec::with_capacity(HEADER_LEN + target.len() / 8 + 16);
    header.write(&mut out);
    let mut writer = Writer {
        out,
        cursor: 0,
        literal_start: 0,
    };
    if base == target {
        if !target.is_empty() {
            writer.copy(0, target.len());
        }
        writer.out.push(opcode::END);
        return Ok(writer.out);
    }
    let index = Index::new(base);
    let mut i = 0;
    while i < target.len() {
        match index.best_match(base, target, i, writer.cursor, i - writer.literal_start) {
            Some((start, len)) => {
                // Extend backwards over bytes that would otherwise be literals.
                let mut back = 0;
                while back < i - writer.literal_start
                    && back < start
                    && base.get(start - back - 1) == target.get(i - back - 1)
                {
                    back += 1;
                }
                writer.literals(target, i - back);
                writer.copy(start - back, len + back);
                i += len;
                writer.literal_start = i;
            }
            None => i += 1,
        }
    }
    writer.literals(target, target.len());
    writer.out.push(opcode::END);
    Ok(writer.out)
}

/// The instruction writer.
struct Writer {
    out: Vec<u8>,
    /// Where the last copy ended in the base.
    cursor: usize,
    /// The first target byte not yet written.
    literal_start: usize,
}

impl Writer {
    fn copy(&mut self, start: usize, len: usize) {
        self.out.push(opcode::COPY);
        write_varint(&mut self.out, zigzag(start as i64 - self.cursor as i64));
        write_varint(&mut self.out, len as u64);
        self.cursor = start + len;
    }

    /// Writes target bytes from `literal_start` up to `end` as an insert.
    fn literals(&mut self, target: &[u8], end: usize) {
        if let Some(bytes) = target.get(self.literal_start..end)
            && !bytes.is_empty()
        {
            self.out.push(opcode::INSERT);
            write_varint(&mut self.out, bytes.len() as u64);
            self.out.extend_from_slice(bytes);
        }
        self.literal_start = end;
    }
}

/// Every `MIN_MATCH`-byte window of the base, by hash, with chains to earlier positions.
struct Index {
    /// Latest position + 1 per bucket (0: none).
    heads: Vec<u32>,
    /// For each position, the previous position + 1 in its bucket.
    chain: Vec<u32>,
    mask: usize,
}

impl Index {
    fn new(base: &[u8]) -> Self {
        let windows = base.len().saturating_sub(WINDOW - 1);
        let buckets = windows.next_power_of_two().max(1 << 10);
        let mut index = Self {
            heads: vec![0; buckets],
            chain: vec![0; windows],
            mask: buckets - 1,
        };
        for pos in 0..windows {
            if let Some(window) = base.get(pos..pos + WINDOW) {
                let bucket = index.bucket(window);
                if let (Some(head), Some(link)) =
                    (index.heads.get_mut(bucket), index.chain.get_mut(pos))
                {
                    *link = *head;
                    *head = pos as u32 + 1;
                }
            }
        }
        index
    }

    fn bucket(&self, window: &[u8]) -> usize {
        (hash(window) >> 16) as usize & self.mask
    }

    /// The longest match for `target[at..]`: the continuation of the last copy, or the same
    /// place after the `pending` literal bytes (a substitution), if at least `MIN_MATCH`
    /// long; else the best of the chain.
    fn best_match(
        &self,
        base: &[u8],
        target: &[u8],
        at: usize,
        cursor: usize,
        pending: usize,
    ) -> Option<(usize, usize)> {
        let rest = target.get(at..)?;
        for start in [cursor, cursor.saturating_add(pending)] {
            let continued = common_prefix(base.get(start..).unwrap_or_default(), rest);
            if continued >= MIN_MATCH {
                return Some((start, continued));
            }
        }
        let window = rest.get(..WINDOW)?;
        let mut next = *self.heads.get(self.bucket(window))?;
        let mut best: Option<(usize, usize)> = None;
        for _ in 0..MAX_CHAIN {
            let Some(pos) = (next as usize).checked_sub(1) else {
                break;
            };
            let len = common_prefix(base.get(pos..).unwrap_or_default(), rest);
            if len >= MIN_MATCH && best.is_none_or(|(_, l)| len > l) {
                best = Some((pos, len));
            }
            next = self.chain.get(pos).copied().unwrap_or(0);
        }
        best
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Applies `patch` to `base`, refusing a target over `max_target_len` bytes (a patch can
/// repeat base ranges: without a cap, a few bytes could ask for gigabytes).
pub fn apply(base: &[u8], patch: &[u8], max_target_len: usize) -> Result<Vec<u8>, ErrorCode> {
    let header = PatchHeader::read(patch)?;
    let target_len = header.target_len as usize;
    if target_len > max_target_len {
        return Err(ErrorCode::LimitExceeded);
    }
    check_base(&header, base)?;
    let mut out = vec![0u8; target_len];
    let written = apply_into(base, patch, &mut out)?;
    out.truncate(written);
    Ok(out)
}

fn check_base(header: &PatchHeader, base: &[u8]) -> Result<(), ErrorCode> {
    if base.len() as u64 != u64::from(header.base_len) || hash(base) != header.base_hash {
        return Err(ErrorCode::WrongBase);
    }
    Ok(())
}

/// Applies `patch` to `base`, writing the target into `out` (at least the header's
/// `target_len` bytes); returns the target's length. On an error, what `out` holds is not
/// the target and must not be used as one.
pub fn apply_into(base: &[u8], patch: &[u8], out: &mut [u8]) -> Result<usize, ErrorCode> {
    let header = PatchHeader::read(patch)?;
    check_base(&header, base)?;
    let target_len = header.target_len as usize;
    let out = out.get_mut(..target_len).ok_or(ErrorCode::LimitExceeded)?;
    let mut r = Reader::new(patch);
    r.bytes(HEADER_LEN);
    let mut written = 0usize;
    let mut cursor: u64 = 0;
    loop {
        let code = r.u8();
        if r.status().is_err() {
            return Err(ErrorCode::MissingEnd);
        }
        let bytes = match code {
            opcode::END => {
                if !r.is_empty() {
                    return Err(ErrorCode::TrailingBytes);
                }
                if written != target_len {
                    return Err(ErrorCode::TargetShort);
                }
                if hash(out) != header.target_hash {
                    return Err(ErrorCode::TargetMismatch);
                }
                return Ok(written);
            }
            opcode::COPY => {
                let delta = unzigzag(r.varint());
                let len = r.varint();
                r.status()?;
                if len == 0 {
                    return Err(ErrorCode::BadOperand);
                }
                // `cursor` is at most the base's length (a u32): no overflow converting it.
                let start = (cursor as i64)
                    .checked_add(delta)
                    .and_then(|s| u64::try_from(s).ok())
                    .ok_or(ErrorCode::BadCopy)?;
                let end = start
                    .checked_add(len)
                    .filter(|end| *end <= u64::from(header.base_len))
                    .ok_or(ErrorCode::BadCopy)?;
                cursor = end;
                base.get(start as usize..end as usize)
                    .ok_or(ErrorCode::BadCopy)?
            }
            opcode::INSERT => {
                let len = r.varint();
                r.status()?;
                if len == 0 {
                    return Err(ErrorCode::BadOperand);
                }
                // Past the patch's end is TRUNCATED; past the target's, TARGET_OVERFLOW.
                let len = usize::try_from(len).map_err(|_| ErrorCode::Truncated)?;
                if len > target_len - written {
                    return Err(ErrorCode::TargetOverflow);
                }
                let bytes = r.bytes(len);
                r.check(bytes)?
            }
            _ => return Err(ErrorCode::UnknownOpcode),
        };
        let to = written
            .checked_add(bytes.len())
            .filter(|to| *to <= target_len)
            .ok_or(ErrorCode::TargetOverflow)?;
        copy(out.get_mut(written..to), bytes)?;
        written = to;
    }
}

/// Copies `from` into `to`, which the caller sized to match (no length check that could
/// panic: a mismatch is an error).
fn copy(to: Option<&mut [u8]>, from: &[u8]) -> Result<(), ErrorCode> {
    match to {
        Some(to) if to.len() == from.len() => {
            for (d, s) in to.iter_mut().zip(from) {
                *d = *s;
            }
            Ok(())
        }
        _ => Err(ErrorCode::TargetOverflow),
    }
}

/// The identity patch of `data` (`spec/delta.md`): what `diff(data, data)` returns.
pub fn identity(data: &[u8]) -> Result<Vec<u8>, DiffError> {
    diff(data, data)
}

/// Whether `patch` is an identity patch: same base and target, one copy of all or nothing.
pub fn is_identity(patch: &[u8]) -> bool {
    let Ok(header) = PatchHeader::read(patch) else {
        return false;
    };
    if header.base_len != header.target_len || header.base_hash != header.target_hash {
        return false;
    }
    let mut r = Reader::new(patch);
    r.bytes(HEADER_LEN);
    let whole = header.target_len == 0
        || (r.u8() == opcode::COPY
            && r.varint() == 0
            && r.varint() == u64::from(header.target_len));
    whole && r.u8() == opcode::END && r.is_empty() && r.status().is_ok()
}
