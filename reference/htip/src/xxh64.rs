//! XXH64 with seed 0 (`spec/delta.md` names versions by it), written for size: one loop per
//! stage and no indexing that can panic, so the client carries a few hundred bytes of it
//! instead of an unrolled implementation with its panic paths. The tests compare it with
//! `xxhash-rust` on arbitrary input.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

/// Not inlined, like the other steps: the multipliers are 10-byte constants in WebAssembly.
#[inline(never)]
fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

/// `h` rotated left by `by`, times P1, plus P4.
#[inline(never)]
fn mix(h: u64, by: u32) -> u64 {
    h.rotate_left(by).wrapping_mul(P1).wrapping_add(P4)
}

/// The XXH64 hash of `data` with seed 0.
pub fn xxh64(data: &[u8]) -> u64 {
    let mut rest = data;
    let mut h = if data.len() >= 32 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
        while let Some((stripe, tail)) = rest.split_first_chunk::<32>() {
            let mut lanes = &stripe[..];
            for acc in &mut v {
                if let Some((lane, more)) = lanes.split_first_chunk::<8>() {
                    *acc = round(*acc, u64::from_le_bytes(*lane));
                    lanes = more;
                }
            }
            rest = tail;
        }
        let [a, b, c, d] = v;
        let mut h = a
            .rotate_left(1)
            .wrapping_add(b.rotate_left(7))
            .wrapping_add(c.rotate_left(12))
            .wrapping_add(d.rotate_left(18));
        for acc in v {
            h = mix(h ^ round(0, acc), 0);
        }
        h
    } else {
        P5
    };
    h = h.wrapping_add(data.len() as u64);
    while let Some((lane, tail)) = rest.split_first_chunk::<8>() {
        h = mix(h ^ round(0, u64::from_le_bytes(*lane)), 27);
        rest = tail;
    }
    if let Some((word, tail)) = rest.split_first_chunk::<4>() {
        h ^= u64::from(u32::from_le_bytes(*word)).wrapping_mul(P1);
        h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        rest = tail;
    }
    for byte in rest {
        h ^= u64::from(*byte).wrapping_mul(P5);
        h = h.rotate_left(11).wrapping_mul(P1);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        // The reference implementation's published values for seed 0.
        assert_eq!(xxh64(b""), 0xEF46_DB37_51D8_E999);
        assert_eq!(xxh64(b"a"), 0xD24E_C4F1_A98C_6E5B);
        assert_eq!(xxh64(b"abc"), 0x44BC_2CF5_AD77_0999);
    }

    #[test]
    fn every_length_up_to_three_stripes() {
        let data: std::vec::Vec<u8> = (0..=255u8).cycle().take(200).collect();
        for n in 0..=data.len() {
            assert_eq!(
                xxh64(&data[..n]),
                xxhash_rust::xxh64::xxh64(&data[..n], 0),
                "{n}"
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_xxhash_rust(data in proptest::collection::vec(any::<u8>(), 0..600)) {
            prop_assert_eq!(xxh64(&data), xxhash_rust::xxh64::xxh64(&data, 0));
        }
    }
}
