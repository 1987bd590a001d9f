//! The HTIP stream's encoder and decoder (`spec/htip.md`): round trips of generated
//! operations, every refusal of the error table, and the decoder on arbitrary and mutated
//! bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_htip::stream::{self, EncodeError, HEADER_LEN, MAX_ID, opcode};
use dx_htip::{ErrorCode, Event, HtipOp};
use proptest::prelude::*;
use rstest::rstest;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z ]{0,12}",
        any::<String>(),
        Just("<script>\"'&\u{0}\u{FFFF}".to_owned()),
    ]
}

fn id() -> impl Strategy<Value = u32> {
    prop_oneof![0..8u32, Just(MAX_ID), 0..=MAX_ID]
}

fn op(templates: u16) -> impl Strategy<Value = HtipOp> {
    prop_oneof![
        (0..templates.max(1)).prop_map(|template| HtipOp::Clone { template }),
        (0..templates.max(1)).prop_map(|template| HtipOp::Cache { template }),
        (id(), id()).prop_map(|(parent, child)| HtipOp::Append { parent, child }),
        id().prop_map(|node| HtipOp::Remove { node }),
        (id(), text()).prop_map(|(node, text)| HtipOp::SetText { node, text }),
        (id(), text(), text()).prop_map(|(node, key, value)| HtipOp::SetAttr { node, key, value }),
        (id(), text(), any::<bool>()).prop_map(|(node, class, enable)| HtipOp::ToggleClass {
            node,
            class,
            enable
        }),
        (id(), 0..6u8, id()).prop_map(|(node, e, handler)| HtipOp::Listen {
            node,
            event: Event::from_index(e).unwrap(),
            handler
        }),
    ]
}

/// Operations with balanced batches around some of them.
fn ops(templates: u16) -> impl Strategy<Value = Vec<HtipOp>> {
    prop::collection::vec((op(templates), 0..4u8), 0..40).prop_map(|ops| {
        let mut out = Vec::new();
        let mut open = false;
        for (op, toss) in ops {
            if toss == 0 && !open {
                out.push(HtipOp::BatchBegin);
                open = true;
            } else if toss == 1 && open {
                out.push(HtipOp::BatchCommit);
                open = false;
            }
            out.push(op);
        }
        if open {
            out.push(HtipOp::BatchCommit);
        }
        out
    })
}

fn templates(n: u16) -> Vec<(u16, String)> {
    (0..n)
        .map(|i| (i, format!("<div class=\"t{i}\"><span></span></div>")))
        .collect()
}

fn encode(templates: &[(u16, String)], ops: &[HtipOp]) -> Vec<u8> {
    let borrowed: Vec<(u16, &str)> = templates.iter().map(|(i, h)| (*i, h.as_str())).collect();
    stream::encode(&borrowed, ops).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Encoding then decoding gives back the same operations, templates and node count.
    #[test]
    fn streams_round_trip(n in 1..5u16, ops in ops(5)) {
        let defined = templates(5);
        let _ = n;
        let bytes = encode(&defined, &ops);
        let decoded = stream::decode(&bytes).unwrap();
        let back: Vec<HtipOp> = decoded.ops().map(|op| op.to_owned_op()).collect();
        prop_assert_eq!(&back, &ops);
        let clones = ops.iter().filter(|o| matches!(o, HtipOp::Clone { .. })).count();
        prop_assert_eq!(decoded.clone_count() as usize, clones);
        for (id, html) in &defined {
            prop_assert_eq!(decoded.template(*id).map(|t| t.as_str()), Some(html.as_str()));
        }
    }

    /// Feature: production-readiness, Property 11: Malformed Stream Resilience
    ///
    /// Any bytes at all: the decoder returns a stream or an error code, and never panics.
    #[test]
    fn arbitrary_bytes_end_in_a_stream_or_a_code(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(s) = stream::decode(&bytes) {
            // Whatever was accepted can be walked to its end.
            prop_assert!(s.ops().count() < bytes.len());
        }
    }

    /// Feature: production-readiness, Property 11: Malformed Stream Resilience
    ///
    /// A valid stream with bytes flipped, cut, or inserted: a stream or an error code. A
    /// stream the decoder still accepts re-encodes to a valid stream of the same operations.
    #[test]
    fn mutated_streams_end_in_a_stream_or_a_code(
        ops in ops(3),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0..3u8), 1..6),
    ) {
        let defined = templates(3);
        let mut bytes = encode(&defined, &ops);
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => bytes.truncate(i),
                _ => bytes.insert(i, byte),
            }
        }
        if let Ok(s) = stream::decode(&bytes) {
            let ops: Vec<HtipOp> = s.ops().map(|o| o.to_owned_op()).collect();
            let defined: Vec<(u16, &str)> = s.templates().to_vec();
            let again = stream::encode(&defined, &ops).unwrap();
            let reread = stream::decode(&again).unwrap();
            let reread: Vec<HtipOp> = reread.ops().map(|o| o.to_owned_op()).collect();
            prop_assert_eq!(reread, ops);
        }
    }
}

/// A stream built by hand: header fields, sections and ops as given.
fn raw(
    version: u8,
    flags: u8,
    reserved: u16,
    strings: &[u8],
    templates: &[u8],
    ops: &[u8],
) -> Vec<u8> {
    let mut out = b"HTIP".to_vec();
    out.push(version);
    out.push(flags);
    out.extend(reserved.to_le_bytes());
    out.extend((strings.len() as u32).to_le_bytes());
    out.extend((templates.len() as u32).to_le_bytes());
    out.extend((ops.len() as u32).to_le_bytes());
    out.extend(strings);
    out.extend(templates);
    out.extend(ops);
    out
}

fn ok(ops: &[u8]) -> Vec<u8> {
    // One string "a", one template 7.
    raw(1, 0, 0, &[1, 0, b'a'], &[7, 0, 2, 0, 0, 0, b'<', b'p'], ops)
}

const N: [u8; 4] = [1, 0, 0, 0];

#[rstest]
#[case::empty(vec![], ErrorCode::BadMagic)]
#[case::short_magic(b"HTI".to_vec(), ErrorCode::BadMagic)]
#[case::wrong_magic(b"HTIQ\x01\0\0\0".to_vec(), ErrorCode::BadMagic)]
#[case::header_cut(b"HTIP\x01\0\0\0\0\0".to_vec(), ErrorCode::Truncated)]
#[case::version_0(raw(0, 0, 0, &[], &[], &[opcode::END]), ErrorCode::UnsupportedVersion)]
#[case::version_2(raw(2, 0, 0, &[], &[], &[opcode::END]), ErrorCode::UnsupportedVersion)]
#[case::flags(raw(1, 1, 0, &[], &[], &[opcode::END]), ErrorCode::UnsupportedFlags)]
#[case::reserved(raw(1, 0, 1, &[], &[], &[opcode::END]), ErrorCode::UnsupportedFlags)]
#[case::body_cut({ let mut s = ok(&[opcode::END]); s.pop(); s }, ErrorCode::Truncated)]
#[case::body_long({ let mut s = ok(&[opcode::END]); s.push(0); s }, ErrorCode::TrailingBytes)]
#[case::no_ops(raw(1, 0, 0, &[], &[], &[]), ErrorCode::MissingEnd)]
#[case::string_past_section(raw(1, 0, 0, &[5, 0, b'a'], &[], &[opcode::END]), ErrorCode::BadEntry)]
#[case::string_length_cut(raw(1, 0, 0, &[5], &[], &[opcode::END]), ErrorCode::BadEntry)]
#[case::string_not_utf8(raw(1, 0, 0, &[1, 0, 0xFF], &[], &[opcode::END]), ErrorCode::InvalidUtf8)]
#[case::template_past_section(raw(1, 0, 0, &[], &[1, 0, 9, 0, 0, 0, b'x'], &[opcode::END]), ErrorCode::BadEntry)]
#[case::template_not_utf8(raw(1, 0, 0, &[], &[1, 0, 1, 0, 0, 0, 0xC3], &[opcode::END]), ErrorCode::InvalidUtf8)]
#[case::template_twice(raw(1, 0, 0, &[], &[1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], &[opcode::END]), ErrorCode::DuplicateTemplate)]
#[case::cache_undefined(ok(&[opcode::CACHE, 8, 0, opcode::END]), ErrorCode::UndefinedTemplate)]
#[case::string_index(ok(&[opcode::SET_TEXT, 1, 0, 0, 0, 1, 0, opcode::END]), ErrorCode::BadStringIndex)]
#[case::attr_value_index(ok(&[opcode::SET_ATTR, 1, 0, 0, 0, 0, 0, 9, 0, opcode::END]), ErrorCode::BadStringIndex)]
#[case::unknown_opcode(ok(&[0x0B, opcode::END]), ErrorCode::UnknownOpcode)]
#[case::zero_opcode(ok(&[0x00, opcode::END]), ErrorCode::UnknownOpcode)]
#[case::enable_2(ok(&[opcode::TOGGLE_CLASS, 1, 0, 0, 0, 0, 0, 2, opcode::END]), ErrorCode::BadOperand)]
#[case::event_6(ok(&[opcode::LISTEN, 1, 0, 0, 0, 6, 1, 0, 0, 0, opcode::END]), ErrorCode::BadOperand)]
#[case::node_above_i32(ok(&[opcode::REMOVE, 0, 0, 0, 0x80, opcode::END]), ErrorCode::BadOperand)]
#[case::handler_above_i32(ok(&[opcode::LISTEN, 1, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, opcode::END]), ErrorCode::BadOperand)]
#[case::nested_batch(ok(&[opcode::BATCH_BEGIN, opcode::BATCH_BEGIN, opcode::BATCH_COMMIT, opcode::BATCH_COMMIT, opcode::END]), ErrorCode::BatchMismatch)]
#[case::commit_alone(ok(&[opcode::BATCH_COMMIT, opcode::END]), ErrorCode::BatchMismatch)]
#[case::end_in_batch(ok(&[opcode::BATCH_BEGIN, opcode::END]), ErrorCode::BatchMismatch)]
#[case::operands_cut(ok(&[opcode::APPEND, 1, 0, 0, 0, 2]), ErrorCode::Truncated)]
#[case::no_end(ok(&[opcode::REMOVE, 1, 0, 0, 0]), ErrorCode::MissingEnd)]
#[case::after_end(ok(&[opcode::END, opcode::END]), ErrorCode::TrailingBytes)]
fn refusals_carry_their_code(#[case] bytes: Vec<u8>, #[case] code: ErrorCode) {
    assert_eq!(stream::decode(&bytes).map(|_| ()), Err(code));
}

#[test]
fn every_structural_code_has_a_refusal_case() {
    // The rstest table above covers codes 1-14; this keeps a new code from going untested.
    let covered = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
    for code in ErrorCode::ALL.iter().filter(|c| c.is_structural()) {
        assert!(covered.contains(&code.code()), "{code:?}");
    }
}

#[test]
fn valid_edges_are_accepted() {
    // The largest handle and handler, every event, both toggles, an empty string.
    let ops = [
        opcode::LISTEN,
        0xFF,
        0xFF,
        0xFF,
        0x7F,
        5,
        0xFF,
        0xFF,
        0xFF,
        0x7F,
        opcode::TOGGLE_CLASS,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        opcode::TOGGLE_CLASS,
        0,
        0,
        0,
        0,
        0,
        0,
        1,
        opcode::CACHE,
        7,
        0,
        opcode::CLONE,
        7,
        0,
        opcode::CLONE,
        9,
        0,
        opcode::BATCH_BEGIN,
        opcode::BATCH_COMMIT,
        opcode::APPEND,
        0,
        0,
        0,
        0,
        N[0],
        N[1],
        N[2],
        N[3],
        opcode::END,
    ];
    let bytes = ok(&ops);
    let s = stream::decode(&bytes).unwrap();
    assert_eq!(
        s.clone_count(),
        2,
        "a clone of a template not in this stream is the client's to judge"
    );
    assert_eq!(s.ops().count(), 9);
    let empty = raw(1, 0, 0, &[0, 0], &[], &[opcode::END]);
    let decoded = stream::decode(&empty).unwrap();
    assert_eq!(decoded.string_count(), 1);
    assert_eq!(decoded.string(0).unwrap(), "");
    assert_eq!(decoded.string(1), None);
    assert_eq!(
        stream::decode(&raw(1, 0, 0, &[], &[], &[opcode::END]))
            .unwrap()
            .ops()
            .count(),
        0
    );
}

#[test]
fn the_string_table_holds_at_most_65536_strings() {
    let mut strings = Vec::new();
    for _ in 0..65_536 {
        strings.extend([0, 0]);
    }
    assert!(stream::decode(&raw(1, 0, 0, &strings, &[], &[opcode::END])).is_ok());
    strings.extend([0, 0]);
    assert_eq!(
        stream::decode(&raw(1, 0, 0, &strings, &[], &[opcode::END])).map(|_| ()),
        Err(ErrorCode::BadEntry)
    );
}

#[test]
fn the_encoder_refuses_what_it_cannot_encode() {
    let t = [(1u16, "<p>")];
    assert_eq!(
        stream::encode(&[(1, "a"), (1, "b")], &[]),
        Err(EncodeError::DuplicateTemplate(1))
    );
    assert_eq!(
        stream::encode(&t, &[HtipOp::Cache { template: 2 }]),
        Err(EncodeError::UndefinedTemplate(2))
    );
    assert_eq!(
        stream::encode(&t, &[HtipOp::Remove { node: MAX_ID + 1 }]),
        Err(EncodeError::IdOutOfRange(MAX_ID + 1))
    );
    assert_eq!(
        stream::encode(&t, &[HtipOp::BatchBegin]),
        Err(EncodeError::UnbalancedBatch)
    );
    assert_eq!(
        stream::encode(&t, &[HtipOp::BatchCommit]),
        Err(EncodeError::UnbalancedBatch)
    );
    assert_eq!(
        stream::encode(&t, &[HtipOp::BatchBegin, HtipOp::BatchBegin]),
        Err(EncodeError::UnbalancedBatch)
    );
    let long = "x".repeat(65_536);
    assert_eq!(
        stream::encode(
            &t,
            &[HtipOp::SetText {
                node: 0,
                text: long
            }]
        ),
        Err(EncodeError::StringTooLong(65_536))
    );
    let many: Vec<HtipOp> = (0..=65_536u32)
        .map(|i| HtipOp::SetText {
            node: 0,
            text: i.to_string(),
        })
        .collect();
    assert_eq!(stream::encode(&t, &many), Err(EncodeError::TooManyStrings));
    // Equal strings share an entry.
    let twice = [
        HtipOp::SetText {
            node: 0,
            text: "same".into(),
        },
        HtipOp::SetText {
            node: 1,
            text: "same".into(),
        },
    ];
    let bytes = stream::encode(&t, &twice).unwrap();
    let decoded = stream::decode(&bytes).unwrap();
    assert_eq!(decoded.string_count(), 1);
    assert_eq!(decoded.string(0).unwrap(), "same");
    assert_eq!(bytes.len(), HEADER_LEN + 6 + 9 + 15);
}

/// The byte layout of `spec/htip.md`, as a reader checks it against the page.
#[test]
fn a_small_page_encodes_as_the_spec_lays_it_out() {
    let ops = [
        HtipOp::Cache { template: 1 },
        HtipOp::BatchBegin,
        HtipOp::Clone { template: 1 },
        HtipOp::SetText {
            node: 1,
            text: "Hello".into(),
        },
        HtipOp::SetAttr {
            node: 1,
            key: "id".into(),
            value: "greeting".into(),
        },
        HtipOp::ToggleClass {
            node: 1,
            class: "shown".into(),
            enable: true,
        },
        HtipOp::Listen {
            node: 1,
            event: Event::Click,
            handler: 42,
        },
        HtipOp::Append {
            parent: 0,
            child: 1,
        },
        HtipOp::BatchCommit,
    ];
    let bytes = stream::encode(&[(1, "<p></p>")], &ops).unwrap();
    insta::assert_snapshot!(hex_dump(&bytes));
}

fn hex_dump(bytes: &[u8]) -> String {
    bytes
        .chunks(16)
        .enumerate()
        .map(|(i, row)| {
            let hex: Vec<String> = row.iter().map(|b| format!("{b:02x}")).collect();
            let text: String = row
                .iter()
                .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
                .collect();
            format!("{:04x}  {:<47}  {text}", i * 16, hex.join(" "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Tables are reused from one stream to the next (the client's are static): a stream
/// dropped, accepted or refused, leaves no template behind, so the next one defining the
/// same ids is not refused as a duplicate and does not see the old definitions.
#[test]
fn tables_are_clean_for_the_next_stream() {
    use dx_htip::stream::{HeapTables, InlineTables, Tables};
    fn run<T: Tables>(tables: &mut T) {
        let first = stream::encode(
            &[(3, "<a></a>"), (9, "<b></b>")],
            &[HtipOp::Cache { template: 3 }],
        )
        .unwrap();
        let second = stream::encode(
            &[(9, "<i></i>")],
            &[
                HtipOp::Cache { template: 9 },
                HtipOp::SetText {
                    node: 0,
                    text: "one".into(),
                },
                HtipOp::SetText {
                    node: 0,
                    text: "two".into(),
                },
            ],
        )
        .unwrap();
        let s = stream::decode_with(&first, &mut *tables).unwrap();
        assert_eq!(s.template(9).unwrap(), "<b></b>");
        drop(s);
        let s = stream::decode_with(&second, &mut *tables).unwrap();
        assert_eq!(s.template(9).unwrap(), "<i></i>");
        assert_eq!(s.string_count(), 2);
        assert_eq!(s.string(0).unwrap(), "one");
        assert_eq!(s.string(1).unwrap(), "two");
        assert_eq!(
            s.template(3),
            None,
            "template 3 belonged to the first stream"
        );
        drop(s);
        // A refused stream (a duplicate after one good entry) cleans up too.
        let entries: Vec<u8> = [(5u16, "x"), (5, "y")]
            .iter()
            .flat_map(|(id, html)| {
                let mut e = id.to_le_bytes().to_vec();
                e.extend((html.len() as u32).to_le_bytes());
                e.extend(html.as_bytes());
                e
            })
            .collect();
        let dup = raw(1, 0, 0, &[], &entries, &[opcode::END]);
        assert_eq!(
            stream::decode_with(&dup, &mut *tables).unwrap_err(),
            ErrorCode::DuplicateTemplate
        );
        let five = stream::encode(&[(5, "<p></p>")], &[HtipOp::Cache { template: 5 }]).unwrap();
        assert_eq!(
            stream::decode_with(&five, &mut *tables)
                .unwrap()
                .template(5)
                .unwrap(),
            "<p></p>"
        );
    }
    run(&mut HeapTables::new());
    run(&mut *Box::new(InlineTables::new()));
}

#[test]
fn events_texts_and_streams_show_what_they_are() {
    let names: Vec<&str> = Event::ALL.iter().map(|e| e.name()).collect();
    assert_eq!(
        names,
        ["click", "input", "change", "submit", "keydown", "keyup"]
    );
    for (i, e) in Event::ALL.iter().enumerate() {
        assert_eq!(Event::from_index(i as u8), Some(*e));
        assert_eq!(usize::from(e.index()), i);
    }
    assert_eq!(Event::from_index(6), None);
    let bytes = stream::encode(
        &[(2, "<p>é</p>")],
        &[
            HtipOp::Cache { template: 2 },
            HtipOp::SetText {
                node: 0,
                text: "".into(),
            },
            HtipOp::SetAttr {
                node: 0,
                key: "k".into(),
                value: "vé".into(),
            },
        ],
    )
    .unwrap();
    let s = stream::decode(&bytes).unwrap();
    assert_eq!(s.string_count(), 3);
    let html = s.template(2).unwrap();
    assert_eq!(html.as_bytes(), "<p>é</p>".as_bytes());
    assert_eq!((html.len(), html.is_empty()), (9, false));
    assert_eq!(format!("{html:?} {html}"), "\"<p>é</p>\" <p>é</p>");
    assert!(html == "<p>é</p>" && html != "<p>e</p>");
    let empty = s.string(0).unwrap();
    assert_eq!(
        (empty.len(), empty.is_empty(), empty.as_str()),
        (0, true, "")
    );
    assert_eq!(s.string(2).unwrap(), "vé");
    assert_eq!(s.string(3), None);
    assert_eq!(
        format!("{s:?}"),
        format!(
            "Stream {{ strings: 3, templates_len: 15, ops_len: {}, clones: 0 }}",
            bytes.len() - HEADER_LEN - 10 - 15
        )
    );
}
