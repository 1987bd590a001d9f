//! Any bytes as a patch, against a base taken from the input: the applier returns the target
//! the patch names (its hash checked) or a code, never panics, never allocates past the cap.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let split = data.first().map_or(0, |b| usize::from(*b)).min(data.len());
    let (base, patch) = data.split_at(split);
    if let Ok(out) = dx_htip::delta::apply(base, patch, 1 << 20) {
        let header = dx_htip::delta::PatchHeader::read(patch).expect("accepted, so it has a header");
        assert_eq!(dx_htip::delta::hash(&out), header.target_hash);
        assert_eq!(out.len() as u64, u64::from(header.target_len));
    }
    // And the generator on the same halves: the patch it writes applies exactly.
    let (a, b) = data.split_at(data.len() / 2);
    let p = dx_htip::delta::diff(a, b).expect("small inputs");
    assert_eq!(dx_htip::delta::apply(a, &p, 1 << 20).as_deref(), Ok(b));
});
