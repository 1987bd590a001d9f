//! The suite's HTIP and DXDP codec (`dx_conformance::htip`) and the reference's (`dx_htip`)
//! are two readings of `spec/htip.md` and `spec/delta.md`, written apart so that neither can
//! hide the other's faults. Here they are run against each other: on every stream the suite
//! writes, on those streams cut short, lengthened or with a byte changed, and on arbitrary
//! bytes, they accept the same bytes as the same operations or refuse them with the same
//! code; patches the suite writes apply in the reference's applier, the suite reads the
//! versions the reference's patches name, and both name a version by the same hash.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_conformance::htip::{self as suite, Event, HtipOp, delta, stream};
use dx_htip as reference;
use proptest::prelude::*;

#[path = "support/byte_changes.rs"]
mod byte_changes;
use byte_changes::{change, changed};

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        // A few short words, so strings repeat and the table deduplicates.
        prop::sample::select(vec!["", "a", "item", "on", "ünï"]).prop_map(str::to_owned),
        proptest::collection::vec(any::<char>(), 0..16).prop_map(|c| c.into_iter().collect()),
    ]
}

fn id() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..8, 0..=stream::MAX_ID]
}

/// Template definitions: distinct ids, HTML of any UTF-8.
fn templates() -> impl Strategy<Value = Vec<(u16, String)>> {
    proptest::collection::btree_map(prop_oneof![0u16..4, any::<u16>()], text(), 0..4)
        .prop_map(|m| m.into_iter().collect())
}

/// One operation; `Cache` picks among the defined templates.
fn op() -> impl Strategy<Value = (HtipOp, prop::sample::Index)> {
    let op = prop_oneof![
        any::<u16>().prop_map(|template| HtipOp::Clone { template }),
        Just(HtipOp::Cache { template: 0 }),
        (id(), id()).prop_map(|(parent, child)| HtipOp::Append { parent, child }),
        id().prop_map(|node| HtipOp::Remove { node }),
        (id(), text()).prop_map(|(node, text)| HtipOp::SetText { node, text }),
        (id(), text(), text()).prop_map(|(node, key, value)| HtipOp::SetAttr { node, key, value }),
        (id(), text(), any::<bool>()).prop_map(|(node, class, enable)| HtipOp::ToggleClass {
            node,
            class,
            enable
        }),
        (id(), 0u8..6, id()).prop_map(|(node, event, handler)| HtipOp::Listen {
            node,
            event: Event::from_index(event).unwrap(),
            handler,
        }),
    ];
    (op, any::<prop::sample::Index>())
}

/// A valid stream's templates and operations: batches balanced, `CACHE` of defined ids only.
fn page() -> impl Strategy<Value = (Vec<(u16, String)>, Vec<HtipOp>)> {
    let group = prop_oneof![
        3 => op().prop_map(|o| vec![o]),
        1 => (proptest::collection::vec(op(), 0..4), any::<prop::sample::Index>()).prop_map(
            |(ops, unused)| {
                let mut v = vec![(HtipOp::BatchBegin, unused)];
                v.extend(ops);
                v.push((HtipOp::BatchCommit, unused));
                v
            }
        ),
    ];
    (templates(), proptest::collection::vec(group, 0..12)).prop_map(|(templates, groups)| {
        let ops = groups
            .into_iter()
            .flatten()
            .filter_map(|(op, pick)| match op {
                HtipOp::Cache { .. } if templates.is_empty() => None,
                HtipOp::Cache { .. } => Some(HtipOp::Cache {
                    template: templates[pick.index(templates.len())].0,
                }),
                other => Some(other),
            })
            .collect();
        (templates, ops)
    })
}

fn encode(templates: &[(u16, String)], ops: &[HtipOp]) -> Vec<u8> {
    let t: Vec<(u16, &str)> = templates.iter().map(|(i, h)| (*i, h.as_str())).collect();
    stream::encode(&t, ops).unwrap()
}

/// The reference's operation in the suite's words.
fn from_reference(op: reference::HtipOp) -> HtipOp {
    use reference::HtipOp as R;
    let event = |e: reference::Event| Event::from_index(e.index()).unwrap();
    match op {
        R::Clone { template } => HtipOp::Clone { template },
        R::Cache { template } => HtipOp::Cache { template },
        R::Append { parent, child } => HtipOp::Append { parent, child },
        R::Remove { node } => HtipOp::Remove { node },
        R::SetText { node, text } => HtipOp::SetText { node, text },
        R::SetAttr { node, key, value } => HtipOp::SetAttr { node, key, value },
        R::ToggleClass {
            node,
            class,
            enable,
        } => HtipOp::ToggleClass {
            node,
            class,
            enable,
        },
        R::Listen {
            node,
            event: e,
            handler,
        } => HtipOp::Listen {
            node,
            event: event(e),
            handler,
        },
        R::BatchBegin => HtipOp::BatchBegin,
        R::BatchCommit => HtipOp::BatchCommit,
    }
}

/// Both readers read `bytes` alike: the same templates and operations, or the same code.
fn readings_agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    match (stream::decode(bytes), reference::stream::decode(bytes)) {
        (Ok(ours), Ok(theirs)) => {
            let their_ops: Vec<HtipOp> = theirs
                .ops()
                .map(|op| from_reference(op.to_owned_op()))
                .collect();
            prop_assert_eq!(ours.ops(), &their_ops[..], "operations of {:02x?}", bytes);
            // The spec orders no list of definitions: the suite keeps stream order, the
            // reference's table is by id.
            let (mut ours, mut theirs) = (ours.templates(), theirs.templates());
            ours.sort_unstable();
            theirs.sort_unstable();
            prop_assert_eq!(ours, theirs);
        }
        (Err(ours), Err(theirs)) => prop_assert_eq!(
            (ours.code(), ours.name()),
            (theirs.code(), theirs.name()),
            "refusals differ on {:02x?}",
            bytes
        ),
        (ours, theirs) => prop_assert!(
            false,
            "{:02x?}: the suite reads {:?}, the reference {:?}",
            bytes,
            ours.map(|s| s.ops().len()),
            theirs.map(|s| s.ops().count())
        ),
    }
    Ok(())
}

/// A header that declares exactly these sections.
fn framed(strings: &[u8], templates: &[u8], ops: &[u8]) -> Vec<u8> {
    let mut out = b"HTIP\x01\0\0\0".to_vec();
    for s in [strings, templates, ops] {
        out.extend((s.len() as u32).to_le_bytes());
    }
    out.extend(strings);
    out.extend(templates);
    out.extend(ops);
    out
}

/// Sections of random entries and operations near the valid ones, under a header that
/// declares them: input that gets past the lengths and into every rule on the operations.
fn near_stream() -> impl Strategy<Value = Vec<u8>> {
    let strings = prop_oneof![
        3 => proptest::collection::vec(text(), 0..4).prop_map(|t| {
            t.iter()
                .flat_map(|s| [&(s.len() as u16).to_le_bytes()[..], s.as_bytes()].concat())
                .collect::<Vec<u8>>()
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..12),
    ];
    let templates = prop_oneof![
        3 => proptest::collection::vec((0u16..4, text()), 0..3).prop_map(|t| {
            t.iter()
                .flat_map(|(id, s)| {
                    [&id.to_le_bytes()[..], &(s.len() as u32).to_le_bytes(), s.as_bytes()].concat()
                })
                .collect::<Vec<u8>>()
        }),
        1 => proptest::collection::vec(any::<u8>(), 0..12),
    ];
    // Opcodes and small operands mostly, so operations parse and name strings and templates
    // that exist now and then.
    let byte = prop_oneof![4 => 0u8..4, 3 => 0u8..=0x0B, 1 => Just(0xFF), 1 => Just(0x80), 1 => any::<u8>()];
    let ops = (proptest::collection::vec(byte, 0..40), any::<bool>()).prop_map(|(mut o, end)| {
        if end {
            o.push(0xFF);
        }
        o
    });
    (strings, templates, ops).prop_map(|(s, t, o)| framed(&s, &t, &o))
}

/// Data the way p09 builds it: short random bytes, long runs of a few symbols, words.
fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        proptest::collection::vec(prop::sample::select(b"abcd <>/\n".to_vec()), 0..2000),
        "[a-z]{1,8}( [a-z]{1,8}){0,200}".prop_map(String::into_bytes),
    ]
}

/// A base and a target made from it: appended, cut, an insertion, a deletion, a moved block,
/// or unrelated data.
fn pair() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    (
        data(),
        data(),
        0u8..6,
        any::<prop::sample::Index>(),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(base, other, kind, a, b)| {
            let (x, y) = (a.index(base.len() + 1), b.index(base.len() + 1));
            let (lo, hi) = (x.min(y), x.max(y));
            let mut target = base.clone();
            match kind {
                0 => target.extend(&other),
                1 => target.truncate(lo),
                2 => {
                    target.splice(lo..lo, other.iter().copied());
                }
                3 => {
                    target.drain(lo..hi);
                }
                4 => {
                    let block: Vec<u8> = target.drain(lo..hi).collect();
                    target.extend(block);
                }
                _ => target = other,
            }
            (base, target)
        })
}

/// Both read `patch`'s header alike: the same fields, or the same code.
fn headers_agree(patch: &[u8]) -> Result<(), TestCaseError> {
    let ours = delta::PatchHeader::read(patch)
        .map(|h| (h.base_len, h.target_len, h.base_hash, h.target_hash))
        .map_err(suite::ErrorCode::code);
    let theirs = reference::delta::PatchHeader::read(patch)
        .map(|h| (h.base_len, h.target_len, h.base_hash, h.target_hash))
        .map_err(reference::ErrorCode::code);
    prop_assert_eq!(
        ours,
        theirs,
        "headers of {:02x?}",
        &patch[..patch.len().min(40)]
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn streams_the_suite_writes_are_read_alike((templates, ops) in page(), change in change()) {
        let bytes = encode(&templates, &ops);
        let read = stream::decode(&bytes).unwrap();
        prop_assert_eq!(read.ops(), &ops[..]);
        readings_agree(&bytes)?;
        readings_agree(&changed(bytes, &change))?;
    }

    #[test]
    fn near_streams_are_read_alike(bytes in near_stream(), change in change()) {
        readings_agree(&bytes)?;
        readings_agree(&changed(bytes, &change))?;
    }

    #[test]
    fn arbitrary_bytes_are_read_alike(
        prefix in prop_oneof![Just(&b""[..]), Just(&b"HTIP"[..]), Just(&b"HTIP\x01\0\0\0"[..])],
        rest in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        readings_agree(&[prefix, &rest[..]].concat())?;
    }

    #[test]
    fn suite_patches_apply_in_the_reference((base, target) in pair()) {
        for (from, to) in [(&base, &target), (&target, &base), (&target, &target)] {
            let patch = delta::diff(from, to).unwrap();
            prop_assert_eq!(
                reference::delta::apply(from, &patch, to.len()),
                Ok(to.clone()),
                "the suite's patch {:02x?}",
                patch
            );
            headers_agree(&patch)?;
        }
        // Both write the spec's identity patch, byte for byte.
        prop_assert_eq!(
            delta::diff(&target, &target).unwrap(),
            reference::delta::diff(&target, &target).unwrap()
        );
    }

    #[test]
    fn reference_patches_name_the_versions_the_suite_hashes((base, target) in pair(), change in change()) {
        let patch = reference::delta::diff(&base, &target).unwrap();
        let header = delta::PatchHeader::read(&patch).unwrap();
        prop_assert_eq!(
            header,
            delta::PatchHeader {
                base_len: base.len() as u32,
                target_len: target.len() as u32,
                base_hash: delta::hash(&base),
                target_hash: delta::hash(&target),
            }
        );
        headers_agree(&patch)?;
        headers_agree(&changed(patch, &change))?;
    }

    #[test]
    fn arbitrary_patch_headers_are_read_alike(
        prefix in prop_oneof![Just(&b""[..]), Just(&b"DXDP"[..]), Just(&b"DXDP\x01\0\0\0"[..])],
        rest in proptest::collection::vec(prop_oneof![3 => 0u8..3, 1 => any::<u8>()], 0..40),
    ) {
        headers_agree(&[prefix, &rest[..]].concat())?;
    }

    #[test]
    fn hashes_agree(data in data()) {
        prop_assert_eq!(delta::hash(&data), reference::delta::hash(&data));
        prop_assert_eq!(delta::hash_hex(&data), reference::delta::hash_hex(&data));
    }
}

/// The suite's writer exercises the whole instruction set on edits the client checks make:
/// continuing, forward and backward copies, and inserts.
#[test]
fn suite_patches_use_every_instruction() {
    let base = b"<ul><li>one</li><li>two</li><li>three</li></ul>".to_vec();
    let mut target = base.clone();
    // Move "<li>one</li>" to the end and insert a new item in front.
    let block: Vec<u8> = target.drain(4..16).collect();
    target.splice(4..4, b"<li>zero</li>".iter().copied());
    let end = target.len() - 5;
    target.splice(end..end, block);
    let patch = delta::diff(&base, &target).unwrap();
    let body = &patch[delta::HEADER_LEN..];
    assert!(body.contains(&delta::opcode::COPY) && body.contains(&delta::opcode::INSERT));
    assert_eq!(
        reference::delta::apply(&base, &patch, target.len()),
        Ok(target)
    );
}

/// The codes are the spec's, numbered and named as the reference numbers and names them.
#[test]
fn the_codes_agree() {
    assert_eq!(suite::ErrorCode::ALL.len(), reference::ErrorCode::ALL.len());
    for (ours, theirs) in suite::ErrorCode::ALL.iter().zip(reference::ErrorCode::ALL) {
        assert_eq!((ours.code(), ours.name()), (theirs.code(), theirs.name()));
        assert_eq!(ours.is_structural(), theirs.is_structural());
    }
    for (ours, theirs) in Event::ALL.iter().zip(reference::Event::ALL) {
        assert_eq!((ours.index(), ours.name()), (theirs.index(), theirs.name()));
    }
}

/// Boundaries random input seldom reaches: the largest table and one entry more, and handles
/// and handlers either side of 2^31 - 1.
#[test]
fn boundaries_are_read_alike() {
    let ops = |n: u32| -> Vec<HtipOp> {
        (0..n)
            .map(|i| HtipOp::SetText {
                node: 0,
                text: i.to_string(),
            })
            .collect()
    };
    let full = encode(&[], &ops(65_536));
    let strings_len = u32::from_le_bytes(full[8..12].try_into().unwrap());
    let mut more = full.clone();
    more[8..12].copy_from_slice(&(strings_len + 2).to_le_bytes());
    let at = 20 + strings_len as usize;
    more.splice(at..at, [0, 0]);
    let mut cases = vec![full, more];
    for id in [stream::MAX_ID, stream::MAX_ID + 1, u32::MAX] {
        let [a, b, c, d] = id.to_le_bytes();
        cases.push(framed(&[], &[], &[0x04, a, b, c, d, 0xFF]));
        cases.push(framed(&[], &[], &[0x08, 0, 0, 0, 0, 1, a, b, c, d, 0xFF]));
    }
    for bytes in cases {
        readings_agree(&bytes).unwrap();
    }
}
