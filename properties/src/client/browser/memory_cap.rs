//! The suite's memory cap for Chromium. In wasmi the store refuses growth past
//! [`MEMORY_CAP`](crate::client::runtime::MEMORY_CAP), so `memory.grow` returns -1 there as a
//! browser's does at its own limit. Chromium's limit is gigabytes away; to judge a client by
//! the same cap, the module's memory gets that maximum written into its own declaration
//! before Chromium compiles it. Nothing else of the module changes.

/// Why a module's memory could not be capped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    /// The bytes end inside a section or a number.
    #[error("the module ends inside its {0}")]
    Truncated(&'static str),
    /// A memory the cap cannot be written into (shared or 64-bit).
    #[error("memory {index} has limits flags {flags:#04x}, which the suite cannot cap")]
    Unsupported {
        /// The memory's index.
        index: u32,
        /// Its limits flags.
        flags: u8,
    },
}

/// The memory section's id.
const MEMORY_SECTION: u8 = 5;
/// The size of a WebAssembly page.
const PAGE: usize = 65_536;

/// `wasm` with every memory it defines given at most `cap` bytes (a declared maximum already
/// lower stays). A module with no memory section comes back as it is.
pub fn cap_memory(wasm: &[u8], cap: usize) -> Result<Vec<u8>, CapError> {
    let cap_pages = u32::try_from(cap / PAGE).unwrap_or(u32::MAX);
    let header = wasm.get(..8).ok_or(CapError::Truncated("header"))?;
    let mut out = header.to_vec();
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        let (size, after) = leb_u32(wasm, at + 1, "section size")?;
        let end = after
            .checked_add(size as usize)
            .filter(|end| *end <= wasm.len())
            .ok_or(CapError::Truncated("section"))?;
        let payload = &wasm[after..end];
        if id == MEMORY_SECTION {
            let capped = cap_section(payload, cap_pages)?;
            out.push(id);
            push_leb(&mut out, u32::try_from(capped.len()).unwrap_or(u32::MAX));
            out.extend_from_slice(&capped);
        } else {
            out.extend_from_slice(&wasm[at..end]);
        }
        at = end;
    }
    Ok(out)
}

fn cap_section(payload: &[u8], cap_pages: u32) -> Result<Vec<u8>, CapError> {
    let (count, mut at) = leb_u32(payload, 0, "memory count")?;
    let mut out = Vec::with_capacity(payload.len() + 8);
    push_leb(&mut out, count);
    for index in 0..count {
        let flags = *payload
            .get(at)
            .ok_or(CapError::Truncated("memory limits"))?;
        let (min, after_min) = leb_u32(payload, at + 1, "memory minimum")?;
        let (max, after) = match flags {
            0 => (cap_pages, after_min),
            1 => {
                let (max, after_max) = leb_u32(payload, after_min, "memory maximum")?;
                (max.min(cap_pages), after_max)
            }
            _ => return Err(CapError::Unsupported { index, flags }),
        };
        out.push(1);
        push_leb(&mut out, min);
        push_leb(&mut out, max);
        at = after;
    }
    out.extend_from_slice(payload.get(at..).unwrap_or_default());
    Ok(out)
}

/// An unsigned LEB128 number at `at`, and where the bytes after it start.
fn leb_u32(bytes: &[u8], mut at: usize, what: &'static str) -> Result<(u32, usize), CapError> {
    let mut value: u64 = 0;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(at).ok_or(CapError::Truncated(what))?;
        at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return u32::try_from(value)
                .map(|v| (v, at))
                .map_err(|_| CapError::Truncated(what));
        }
    }
    Err(CapError::Truncated(what))
}

fn push_leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A module of one memory with `limits` (flags, min, max) and a custom section after it.
    fn module(limits: &[u8]) -> Vec<u8> {
        let mut wasm = b"\0asm\x01\0\0\0".to_vec();
        let mut section = vec![1];
        section.extend_from_slice(limits);
        wasm.push(MEMORY_SECTION);
        push_leb(&mut wasm, section.len() as u32);
        wasm.extend_from_slice(&section);
        wasm.extend_from_slice(&[0, 4, 3, b'a', b'b', b'c']);
        wasm
    }

    #[test]
    fn a_memory_without_maximum_gets_the_cap() {
        let capped = cap_memory(&module(&[0, 17]), 64 << 20).unwrap();
        assert_eq!(capped, module(&[1, 17, 0x80, 0x08]));
    }

    #[test]
    fn a_lower_maximum_stays_and_a_higher_one_is_lowered() {
        assert_eq!(
            cap_memory(&module(&[1, 2, 3]), 64 << 20).unwrap(),
            module(&[1, 2, 3])
        );
        assert_eq!(
            cap_memory(&module(&[1, 2, 0x80, 0x80, 0x04]), 64 << 20).unwrap(),
            module(&[1, 2, 0x80, 0x08])
        );
    }

    #[test]
    fn shared_memories_and_cut_modules_are_refused() {
        assert_eq!(
            cap_memory(&module(&[3, 1, 2]), 1 << 20),
            Err(CapError::Unsupported { index: 0, flags: 3 })
        );
        let whole = module(&[0, 17]);
        // Cut after the header it is a module without sections; anywhere else, cut short.
        for cut in (1..whole.len() - 6).filter(|cut| *cut != 8) {
            assert!(cap_memory(&whole[..cut], 1 << 20).is_err(), "cut at {cut}");
        }
        let none = b"\0asm\x01\0\0\0".to_vec();
        assert_eq!(cap_memory(&none, 1 << 20).unwrap(), none);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn numbers_read_back_as_written(value in any::<u32>()) {
            let mut bytes = Vec::new();
            push_leb(&mut bytes, value);
            prop_assert_eq!(leb_u32(&bytes, 0, "n").unwrap(), (value, bytes.len()));
        }
    }
}
