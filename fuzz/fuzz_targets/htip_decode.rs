//! Any bytes as an HTIP stream: the decoder returns a stream or a code, never panics, and a
//! stream it accepts re-encodes to a stream of the same operations.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(stream) = dx_htip::stream::decode(data) {
        let ops: Vec<dx_htip::HtipOp> = stream.ops().map(|op| op.to_owned_op()).collect();
        let again = dx_htip::stream::encode(&stream.templates(), &ops)
            .expect("an accepted stream re-encodes");
        let reread = dx_htip::stream::decode(&again).expect("a re-encoded stream decodes");
        let reread: Vec<dx_htip::HtipOp> = reread.ops().map(|op| op.to_owned_op()).collect();
        assert_eq!(reread, ops);
    }
});
