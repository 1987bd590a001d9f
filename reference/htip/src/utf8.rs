//! UTF-8 validation written for size: the rules of `core::str::from_utf8` (no overlong
//! forms, no surrogates, nothing above U+10FFFF) in a byte loop of a few hundred bytes of
//! WebAssembly instead of `core`'s word-at-a-time version. The tests compare the two on
//! arbitrary bytes.

/// Whether `bytes` is UTF-8.
pub fn is_valid(bytes: &[u8]) -> bool {
    let mut rest = bytes;
    while let Some((&lead, tail)) = rest.split_first() {
        rest = tail;
        let (continuation, min) = match lead {
            0x00..=0x7F => continue,
            0xC2..=0xDF => (1, 0x80),
            0xE0..=0xEF => (2, 0x800),
            0xF0..=0xF4 => (3, 0x1_0000),
            _ => return false,
        };
        let mut scalar = u32::from(lead) & (0x3F >> continuation);
        for _ in 0..continuation {
            match rest.split_first() {
                Some((&byte, tail)) if byte & 0xC0 == 0x80 => {
                    scalar = scalar << 6 | u32::from(byte & 0x3F);
                    rest = tail;
                }
                _ => return false,
            }
        }
        if scalar < min || scalar > 0x10_FFFF || (0xD800..=0xDFFF).contains(&scalar) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rstest::rstest;

    #[rstest]
    #[case::empty(b"", true)]
    #[case::ascii(b"hello", true)]
    #[case::two_bytes("é".as_bytes(), true)]
    #[case::three_bytes("€".as_bytes(), true)]
    #[case::four_bytes("𝄞".as_bytes(), true)]
    #[case::overlong_slash(&[0xC0, 0xAF], false)]
    #[case::overlong_three(&[0xE0, 0x80, 0xAF], false)]
    #[case::overlong_four(&[0xF0, 0x80, 0x80, 0xAF], false)]
    #[case::surrogate(&[0xED, 0xA0, 0x80], false)]
    #[case::above_max(&[0xF4, 0x90, 0x80, 0x80], false)]
    #[case::lone_continuation(&[0x80], false)]
    #[case::cut(&[0xE2, 0x82], false)]
    #[case::bad_continuation(&[0xE2, 0x28, 0xA1], false)]
    #[case::f5(&[0xF5, 0x80, 0x80, 0x80], false)]
    #[case::last_scalar(&[0xF4, 0x8F, 0xBF, 0xBF], true)]
    #[case::first_two_byte(&[0xC2, 0x80], true)]
    #[case::first_three_byte(&[0xE0, 0xA0, 0x80], true)]
    #[case::first_four_byte(&[0xF0, 0x90, 0x80, 0x80], true)]
    #[case::before_surrogates(&[0xED, 0x9F, 0xBF], true)]
    #[case::after_surrogates(&[0xEE, 0x80, 0x80], true)]
    #[case::last_surrogate(&[0xED, 0xBF, 0xBF], false)]
    fn cases(#[case] bytes: &[u8], #[case] valid: bool) {
        assert_eq!(is_valid(bytes), valid);
        assert_eq!(core::str::from_utf8(bytes).is_ok(), valid);
    }

    proptest! {
        #[test]
        fn agrees_with_core(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assert_eq!(is_valid(&bytes), core::str::from_utf8(&bytes).is_ok());
        }

        #[test]
        fn agrees_with_core_on_near_utf8(text in "\\PC{0,16}", at in any::<prop::sample::Index>(), byte in any::<u8>()) {
            let mut bytes = text.into_bytes();
            if !bytes.is_empty() {
                let i = at.index(bytes.len());
                bytes[i] = byte;
            }
            prop_assert_eq!(is_valid(&bytes), core::str::from_utf8(&bytes).is_ok());
        }
    }
}
