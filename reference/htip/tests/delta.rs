//! The delta patch format (`spec/delta.md`): round trips on generated base and target pairs,
//! the identity patch, refusals (wrong base, corrupted patches, hostile lengths), and the
//! applier on arbitrary bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_htip::ErrorCode;
use dx_htip::delta::{self, Delta, HEADER_LEN, PatchHeader, opcode};
use proptest::prelude::*;
use rstest::rstest;

const LIMIT: usize = 1 << 24;

/// Bytes with repetition in them, as real files have, so that copies are found.
fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(prop::sample::select(b"abcd <>/\n".to_vec()), 0..2000),
        "[a-z]{1,8}( [a-z]{1,8}){0,300}".prop_map(String::into_bytes),
    ]
}

/// A target made from a base the ways files change.
fn edited(base: Vec<u8>) -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let len = base.len();
    let cut = 0..=len;
    (cut.clone(), cut, data(), 0..7u8).prop_map(move |(a, b, other, kind)| {
        let (lo, hi) = (a.min(b), a.max(b));
        let mut target = base.clone();
        match kind {
            0 => target = Vec::new(),   // emptied
            1 => target.extend(&other), // appended
            2 => target.truncate(lo),   // truncated
            3 => {
                target.splice(lo..lo, other.iter().copied()); // inserted
            }
            4 => {
                target.drain(lo..hi); // deleted
            }
            5 => {
                // Moved: a middle block to the end.
                let block: Vec<u8> = target.drain(lo..hi).collect();
                target.extend(block);
            }
            _ => target = other, // unrelated
        }
        (base.clone(), target)
    })
}

fn pair() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    data().prop_flat_map(edited)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Feature: production-readiness, Property 9: Delta Patch Round-Trip
    ///
    /// Base to target and back again, byte for byte; from the result to itself, the
    /// identity patch.
    #[test]
    fn patches_round_trip((base, target) in pair()) {
        let forward = delta::diff(&base, &target).unwrap();
        let applied = delta::apply(&base, &forward, LIMIT).unwrap();
        prop_assert_eq!(&applied, &target);
        let backward = delta::diff(&applied, &base).unwrap();
        prop_assert_eq!(delta::apply(&applied, &backward, LIMIT).unwrap(), base.clone());
        let identity = delta::diff(&applied, &applied).unwrap();
        prop_assert!(delta::is_identity(&identity));
        prop_assert_eq!(delta::apply(&applied, &identity, LIMIT).unwrap(), applied.clone());
        prop_assert_eq!(identity, delta::identity(&applied).unwrap());
    }

    /// A patch is offered only when it is smaller than the target.
    #[test]
    fn a_patch_is_never_larger_than_the_payload((base, target) in pair()) {
        match delta::delta(&base, &target).unwrap() {
            Delta::Patch(p) => {
                prop_assert!(p.len() < target.len());
                prop_assert_eq!(delta::apply(&base, &p, LIMIT).unwrap(), target);
            }
            Delta::Full => prop_assert!(delta::diff(&base, &target).unwrap().len() >= target.len()),
        }
    }

    /// A patch applied to any other base is refused before any output.
    #[test]
    fn another_base_is_refused((base, target) in pair(), other in data()) {
        prop_assume!(other != base);
        let patch = delta::diff(&base, &target).unwrap();
        prop_assert_eq!(delta::apply(&other, &patch, LIMIT), Err(ErrorCode::WrongBase));
    }

    /// Feature: production-readiness, Property 9: Delta Patch Round-Trip
    ///
    /// A corrupted patch (bytes flipped, cut or inserted) yields the target or an error code,
    /// never other output and never a panic.
    #[test]
    fn corrupted_patches_yield_the_target_or_a_code(
        (base, target) in pair(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..4),
    ) {
        let mut patch = delta::diff(&base, &target).unwrap();
        for (at, byte, kind) in edits {
            let i = at.index(patch.len());
            match kind {
                0 => patch[i] = byte,
                1 => patch.truncate(i),
                _ => patch.insert(i, byte),
            }
            if patch.is_empty() {
                break;
            }
        }
        if let Ok(out) = delta::apply(&base, &patch, LIMIT) {
            // Accepted: then it is whatever the (possibly edited) header names, hash-checked.
            let header = PatchHeader::read(&patch).unwrap();
            prop_assert_eq!(delta::hash(&out), header.target_hash);
        }
    }

    /// Any bytes as a patch: an output or an error code.
    #[test]
    fn arbitrary_patches_end_in_a_code(base in data(), patch in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = delta::apply(&base, &patch, LIMIT);
    }
}

#[test]
fn identity_patches_have_the_spec_shape() {
    let empty = delta::identity(b"").unwrap();
    assert_eq!(empty.len(), HEADER_LEN + 1);
    assert_eq!(empty[HEADER_LEN], opcode::END);
    assert!(delta::is_identity(&empty));
    let some = delta::identity(b"hello").unwrap();
    assert_eq!(&some[HEADER_LEN..], &[opcode::COPY, 0, 5, opcode::END]);
    assert!(delta::is_identity(&some));
    assert!(!delta::is_identity(
        &delta::diff(b"hello", b"hellO").unwrap()
    ));
    assert!(!delta::is_identity(b"DXDP"));
}

#[test]
fn insertions_deletions_and_moves_cost_what_they_change() {
    let base: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("line {i};\n").into_bytes())
        .collect();
    let mut inserted = base.clone();
    inserted.splice(100..100, b"a new line;\n".iter().copied());
    let mut deleted = base.clone();
    deleted.drain(5_000..5_100);
    let mut moved = base.clone();
    let block: Vec<u8> = moved.drain(1_000..3_000).collect();
    moved.extend(block);
    for (name, target) in [("insert", inserted), ("delete", deleted), ("move", moved)] {
        let patch = delta::diff(&base, &target).unwrap();
        assert!(
            patch.len() < HEADER_LEN + 64,
            "{name}: {} bytes",
            patch.len()
        );
        assert_eq!(
            delta::apply(&base, &patch, LIMIT).unwrap(),
            target,
            "{name}"
        );
    }
}

/// A patch by hand: the header of `base` and `target`, then `body`.
fn patch(base: &[u8], target: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = b"DXDP\x01\0\0\0".to_vec();
    out.extend((base.len() as u32).to_le_bytes());
    out.extend((target.len() as u32).to_le_bytes());
    out.extend(delta::hash(base).to_le_bytes());
    out.extend(delta::hash(target).to_le_bytes());
    out.extend(body);
    out
}

const BASE: &[u8] = b"0123456789";

#[rstest]
#[case::empty(vec![], ErrorCode::BadMagic)]
#[case::magic(b"DXDQ\x01\0\0\0".to_vec(), ErrorCode::BadMagic)]
#[case::header_cut(patch(BASE, b"01", &[])[..20].to_vec(), ErrorCode::Truncated)]
#[case::version({ let mut p = patch(BASE, b"01", &[0]); p[4] = 2; p }, ErrorCode::UnsupportedVersion)]
#[case::flags({ let mut p = patch(BASE, b"01", &[0]); p[5] = 1; p }, ErrorCode::UnsupportedFlags)]
#[case::reserved({ let mut p = patch(BASE, b"01", &[0]); p[7] = 1; p }, ErrorCode::UnsupportedFlags)]
#[case::wrong_base_len(patch(b"012345678", b"01", &[1, 0, 2, 0]), ErrorCode::WrongBase)]
#[case::wrong_base_hash(patch(b"0123456780", b"01", &[1, 0, 2, 0]), ErrorCode::WrongBase)]
#[case::no_end(patch(BASE, b"01", &[1, 0, 2]), ErrorCode::MissingEnd)]
#[case::after_end(patch(BASE, b"01", &[1, 0, 2, 0, 0]), ErrorCode::TrailingBytes)]
#[case::copy_before_base(patch(BASE, b"01", &[1, 1, 2, 0]), ErrorCode::BadCopy)]
#[case::copy_past_base(patch(BASE, b"01", &[1, 18, 2, 0]), ErrorCode::BadCopy)]
#[case::copy_zero(patch(BASE, b"01", &[1, 0, 0, 0]), ErrorCode::BadOperand)]
#[case::insert_zero(patch(BASE, b"01", &[2, 0, 0]), ErrorCode::BadOperand)]
#[case::insert_cut(patch(BASE, b"01", &[2, 2, b'0']), ErrorCode::Truncated)]
#[case::overflow(patch(BASE, b"01", &[1, 0, 3, 0]), ErrorCode::TargetOverflow)]
#[case::short(patch(BASE, b"01", &[1, 0, 1, 0]), ErrorCode::TargetShort)]
#[case::mismatch(patch(BASE, b"01", &[2, 2, b'1', b'0', 0]), ErrorCode::TargetMismatch)]
#[case::varint(patch(BASE, b"01", &[1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0]), ErrorCode::BadVarint)]
#[case::opcode(patch(BASE, b"01", &[3, 0]), ErrorCode::UnknownOpcode)]
fn refusals_carry_their_code(#[case] bytes: Vec<u8>, #[case] code: ErrorCode) {
    assert_eq!(delta::apply(BASE, &bytes, LIMIT), Err(code));
}

#[test]
fn the_target_length_is_capped_before_anything_is_allocated() {
    // 40 bytes asking for 4 GiB of repeated base.
    let mut body = Vec::new();
    for _ in 0..2 {
        body.extend([1, 0, 10]);
    }
    let mut hostile = patch(BASE, b"", &body);
    hostile[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(
        delta::apply(BASE, &hostile, LIMIT),
        Err(ErrorCode::LimitExceeded)
    );
    let mut small = [0u8; 4];
    let p = delta::diff(BASE, b"0123456789abc").unwrap();
    assert_eq!(
        delta::apply_into(BASE, &p, &mut small),
        Err(ErrorCode::LimitExceeded)
    );
    let mut enough = [0u8; 13];
    assert_eq!(delta::apply_into(BASE, &p, &mut enough), Ok(13));
    assert_eq!(&enough, b"0123456789abc");
}

#[test]
fn versions_are_named_by_xxh64() {
    // XXH64 test vectors (seed 0).
    assert_eq!(delta::hash(b""), 0xEF46_DB37_51D8_E999);
    assert_eq!(delta::hash_hex(b""), "ef46db3751d8e999");
    assert_eq!(delta::hash(b"a"), 0xD24E_C4F1_A98C_6E5B);
}

#[test]
fn a_patch_encodes_as_the_spec_lays_it_out() {
    // After the header: COPY +0 20 ("The quick brown fox "), INSERT 3 "lea", COPY +3 20
    // ("ps over the lazy dog", skipping "jum"), END.
    let p = delta::diff(
        b"The quick brown fox jumps over the lazy dog",
        b"The quick brown fox leaps over the lazy dog",
    )
    .unwrap();
    let hex: Vec<String> = p.iter().map(|b| format!("{b:02x}")).collect();
    insta::assert_snapshot!(hex.join(" "));
}

#[test]
fn the_target_cap_is_inclusive_and_is_identity_needs_every_part() {
    let base = b"0123456789abcdef0123456789".to_vec();
    let target = b"0123456789abcdefXYZ0123456789".to_vec();
    let patch = delta::diff(&base, &target).unwrap();
    assert_eq!(
        delta::apply(&base, &patch, target.len()),
        Ok(target.clone())
    );
    assert_eq!(
        delta::apply(&base, &patch, target.len() - 1),
        Err(ErrorCode::LimitExceeded)
    );
    // An identity patch, altered one part at a time, is no longer one.
    let identity = delta::identity(&base).unwrap();
    assert!(delta::is_identity(&identity));
    let with = |at: usize, byte: u8| {
        let mut p = identity.clone();
        p[at] = byte;
        p
    };
    // Target length (bytes 12..16) and hash (24..32) differ from the base's.
    assert!(!delta::is_identity(&with(12, 0)));
    assert!(!delta::is_identity(&with(24, identity[24] ^ 1)));
    // A copy from elsewhere, of another length, another instruction, bytes after END.
    assert!(!delta::is_identity(&with(HEADER_LEN + 1, 2)));
    assert!(!delta::is_identity(&with(HEADER_LEN + 2, 25)));
    assert!(!delta::is_identity(&with(HEADER_LEN, opcode::INSERT)));
    let mut longer = identity.clone();
    longer.push(0);
    assert!(!delta::is_identity(&longer));
    let mut no_end = identity.clone();
    no_end.pop();
    assert!(!delta::is_identity(&no_end));
    // The empty identity is END alone.
    let empty = delta::identity(b"").unwrap();
    let mut extra = empty.clone();
    extra.push(opcode::END);
    assert!(!delta::is_identity(&extra));
    let mut copy_instead = empty.clone();
    copy_instead[HEADER_LEN] = opcode::COPY;
    assert!(!delta::is_identity(&copy_instead));
}
