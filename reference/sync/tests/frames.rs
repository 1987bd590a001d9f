//! The frame codec against `spec/sync.md`, "Frames" and "Refusals": every frame round-trips,
//! every byte of every opcode is either a frame or a refusal with the spec's code, and a
//! refusal names the frame's request once the frame got that far. Snapshots pin the bytes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_sync::frame::{ClientFrame, FrameError, ServerFrame, code, opcode};
use dx_sync::{ChannelName, Position};
use proptest::prelude::*;
use rstest::rstest;

fn channel() -> impl Strategy<Value = ChannelName> {
    "[A-Za-z0-9_.:-]{1,128}".prop_map(|s| ChannelName::new(&s).unwrap())
}

fn position() -> impl Strategy<Value = Position> {
    (1u64.., any::<u64>()).prop_map(|(epoch, offset)| Position { epoch, offset })
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (any::<u32>(), channel())
            .prop_map(|(request, channel)| ClientFrame::Subscribe { request, channel }),
        (any::<u32>(), channel())
            .prop_map(|(request, channel)| ClientFrame::Unsubscribe { request, channel }),
        (
            any::<u32>(),
            any::<bool>(),
            channel(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(request, ack, channel, payload)| ClientFrame::Publish {
                request,
                ack,
                channel,
                payload
            }),
        (any::<u32>(), channel())
            .prop_map(|(request, channel)| ClientFrame::Presence { request, channel }),
        (
            any::<u32>(),
            any::<[u8; 16]>(),
            prop::collection::btree_map(channel(), position(), 0..6)
        )
            .prop_map(|(request, session, channels)| ClientFrame::Resume {
                request,
                session,
                channels: channels.into_iter().collect(),
            }),
    ]
}

fn user() -> impl Strategy<Value = String> {
    "\\PC{1,40}".prop_filter("at most 255 bytes", |u| u.len() <= 255)
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    prop_oneof![
        (
            any::<[u8; 16]>(),
            user(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>()
        )
            .prop_map(
                |(session, user, buffer_size, retention_seconds, max_payload, max_channels)| {
                    ServerFrame::Welcome {
                        session,
                        user,
                        buffer_size,
                        retention_seconds,
                        max_payload,
                        max_channels,
                    }
                }
            ),
        (any::<u32>(), channel(), position()).prop_map(|(request, channel, at)| {
            ServerFrame::Subscribed {
                request,
                channel,
                at,
            }
        }),
        (any::<u32>(), channel())
            .prop_map(|(request, channel)| ServerFrame::Unsubscribed { request, channel }),
        (
            channel(),
            position(),
            user(),
            prop::collection::vec(any::<u8>(), 0..300)
        )
            .prop_map(|(channel, at, sender, payload)| ServerFrame::Message {
                channel,
                at,
                sender,
                payload
            }),
        (any::<u32>(), channel(), position()).prop_map(|(request, channel, at)| ServerFrame::Ack {
            request,
            channel,
            at
        }),
        (
            any::<u32>(),
            prop_oneof![Just(3002u16), Just(3003)],
            channel(),
            position()
        )
            .prop_map(|(request, code, channel, at)| ServerFrame::Nack {
                request,
                code,
                channel,
                at
            }),
        (
            any::<u32>(),
            channel(),
            prop::collection::btree_set(user(), 0..8)
        )
            .prop_map(|(request, channel, users)| ServerFrame::PresenceList {
                request,
                channel,
                users: users.into_iter().collect()
            }),
        (channel(), any::<bool>(), user()).prop_map(|(channel, joined, user)| {
            ServerFrame::PresenceEvent {
                channel,
                joined,
                user,
            }
        }),
        (any::<u32>(), channel(), position()).prop_map(|(request, channel, at)| {
            ServerFrame::Resumed {
                request,
                channel,
                at,
            }
        }),
        (any::<u32>(), any::<u16>(), "[a-z]{0,20}", "[A-Za-z ]{0,60}").prop_map(
            |(request, code, channel, message)| ServerFrame::Error {
                request,
                code,
                channel,
                message
            }
        ),
    ]
}

/// The request a refusal must name: the four bytes after the opcode, once the frame holds
/// them (every frame with a request carries it first).
fn request_of(bytes: &[u8], has_request: bool) -> u32 {
    match bytes.get(1..5) {
        Some(b) if has_request => u32::from_le_bytes(b.try_into().unwrap()),
        _ => 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn client_frames_round_trip_and_every_cut_is_refused(frame in client_frame()) {
        let bytes = frame.encode();
        prop_assert_eq!(ClientFrame::decode(&bytes), Ok(frame.clone()));
        for cut in 0..bytes.len() {
            let err = ClientFrame::decode(&bytes[..cut]).unwrap_err();
            prop_assert_eq!(err.code, code::BAD_REQUEST, "cut at {}", cut);
            prop_assert_eq!(err.request, if cut >= 5 { frame.request() } else { 0 });
        }
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert_eq!(
            ClientFrame::decode(&longer),
            Err(FrameError { code: code::BAD_REQUEST, request: frame.request(), channel: last_channel(&frame) })
        );
    }

    #[test]
    fn server_frames_round_trip_and_every_cut_is_refused(frame in server_frame()) {
        let bytes = frame.encode();
        prop_assert_eq!(ServerFrame::decode(&bytes), Ok(frame.clone()));
        let has_request = !matches!(
            frame,
            ServerFrame::Welcome { .. } | ServerFrame::Message { .. } | ServerFrame::PresenceEvent { .. }
        );
        for cut in 0..bytes.len() {
            let err = ServerFrame::decode(&bytes[..cut]).unwrap_err();
            prop_assert_eq!(err.code, code::BAD_REQUEST, "cut at {}", cut);
            prop_assert_eq!(err.request, request_of(&bytes[..cut], has_request));
        }
    }

    /// Any bytes: a frame or a refusal, never a panic; a frame decoded re-encodes to the
    /// same bytes (one encoding per frame).
    #[test]
    fn any_bytes_are_a_frame_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..64), op in 0u8..6) {
        let mut framed = bytes;
        framed.insert(0, op);
        if let Ok(frame) = ClientFrame::decode(&framed) {
            prop_assert_eq!(frame.encode(), framed.clone());
        }
        if let Ok(frame) = ServerFrame::decode(&framed) {
            prop_assert_eq!(frame.encode(), framed);
        }
    }
}

#[test]
fn every_opcode_outside_the_table_is_refused() {
    let client = [
        opcode::SUBSCRIBE,
        opcode::UNSUBSCRIBE,
        opcode::PUBLISH,
        opcode::PRESENCE,
        opcode::RESUME,
    ];
    for op in 0..=u8::MAX {
        let mut bytes = vec![op];
        bytes.extend(7u32.to_le_bytes());
        bytes.extend([1, b'a']);
        let got = ClientFrame::decode(&bytes);
        if client.contains(&op) {
            assert!(
                !matches!(got, Err(FrameError { request: 0, .. })),
                "opcode {op:#04x} is a client frame"
            );
        } else {
            assert_eq!(
                got,
                Err(FrameError {
                    code: code::BAD_REQUEST,
                    request: 0,
                    channel: String::new(),
                }),
                "opcode {op:#04x}"
            );
        }
    }
    assert_eq!(
        ClientFrame::decode(&[]),
        Err(FrameError {
            code: code::BAD_REQUEST,
            request: 0,
            channel: String::new(),
        })
    );
}

#[rstest]
#[case::empty_name(&[0u8][..])]
#[case::space(&[3, b'a', b' ', b'b'][..])]
#[case::non_ascii(&[2, 0xC3, 0xA9][..])]
#[case::invalid_utf8(&[1, 0xFF][..])]
#[case::slash(&[3, b'a', b'/', b'b'][..])]
fn channel_names_that_break_the_rule_name_the_request(#[case] name: &[u8]) {
    for op in [opcode::SUBSCRIBE, opcode::UNSUBSCRIBE, opcode::PRESENCE] {
        let mut bytes = vec![op];
        bytes.extend(42u32.to_le_bytes());
        bytes.extend(name);
        assert_eq!(
            ClientFrame::decode(&bytes),
            Err(FrameError {
                code: code::VALIDATION_FAILED,
                request: 42,
                channel: String::new(),
            }),
            "opcode {op:#04x}"
        );
    }
}

#[test]
fn a_129_byte_name_is_refused() {
    // A str8 can say 129: the rule, not the encoding, refuses it.
    let mut bytes = vec![opcode::SUBSCRIBE];
    bytes.extend(5u32.to_le_bytes());
    bytes.push(129);
    bytes.extend([b'c'; 129]);
    assert_eq!(
        ClientFrame::decode(&bytes),
        Err(FrameError {
            code: code::VALIDATION_FAILED,
            request: 5,
            channel: String::new(),
        })
    );
}

#[rstest]
#[case::flag_bit_1(0x02)]
#[case::flag_bit_7(0x80)]
#[case::ack_and_another(0x03)]
fn publish_flags_other_than_ack_are_refused(#[case] flags: u8) {
    let mut bytes = vec![opcode::PUBLISH];
    bytes.extend(9u32.to_le_bytes());
    bytes.push(flags);
    bytes.extend([1, b'a']);
    bytes.extend(0u32.to_le_bytes());
    assert_eq!(
        ClientFrame::decode(&bytes),
        Err(FrameError {
            code: code::BAD_REQUEST,
            request: 9,
            channel: String::new(),
        })
    );
}

#[test]
fn resume_refuses_a_count_the_frame_cannot_hold_and_repeated_channels() {
    let mut bytes = vec![opcode::RESUME];
    bytes.extend(3u32.to_le_bytes());
    bytes.extend([0u8; 16]);
    bytes.extend(u16::MAX.to_le_bytes());
    assert_eq!(
        ClientFrame::decode(&bytes),
        Err(FrameError {
            code: code::BAD_REQUEST,
            request: 3,
            channel: String::new(),
        })
    );
    let a = ChannelName::new("a").unwrap();
    let at = Position {
        epoch: 1,
        offset: 2,
    };
    let twice = ClientFrame::Resume {
        request: 4,
        session: [7; 16],
        channels: vec![(a.clone(), at), (a, at)],
    };
    assert_eq!(
        ClientFrame::decode(&twice.encode()),
        Err(FrameError {
            code: code::VALIDATION_FAILED,
            request: 4,
            // The ERROR names the channel listed twice.
            channel: "a".into(),
        })
    );
}

#[test]
fn presence_events_say_joined_with_0_or_1_only() {
    let frame = ServerFrame::PresenceEvent {
        channel: ChannelName::new("a").unwrap(),
        joined: true,
        user: "u".into(),
    };
    let mut bytes = frame.encode();
    bytes[3] = 2;
    assert_eq!(
        ServerFrame::decode(&bytes),
        Err(FrameError {
            code: code::BAD_REQUEST,
            request: 0,
            channel: "a".into(),
        })
    );
}

/// The bytes of one frame of each kind, as `spec/sync.md` lays them out.
#[test]
fn encodings() {
    let ch = ChannelName::new("room:1").unwrap();
    let at = Position {
        epoch: 0x0102,
        offset: 3,
    };
    let frames: Vec<(&str, Vec<u8>)> = vec![
        (
            "SUBSCRIBE",
            ClientFrame::Subscribe {
                request: 1,
                channel: ch.clone(),
            }
            .encode(),
        ),
        (
            "UNSUBSCRIBE",
            ClientFrame::Unsubscribe {
                request: 2,
                channel: ch.clone(),
            }
            .encode(),
        ),
        (
            "PUBLISH",
            ClientFrame::Publish {
                request: 3,
                ack: true,
                channel: ch.clone(),
                payload: b"hi".to_vec(),
            }
            .encode(),
        ),
        (
            "PRESENCE",
            ClientFrame::Presence {
                request: 4,
                channel: ch.clone(),
            }
            .encode(),
        ),
        (
            "RESUME",
            ClientFrame::Resume {
                request: 5,
                session: [0xAB; 16],
                channels: vec![(ch.clone(), at)],
            }
            .encode(),
        ),
        (
            "WELCOME",
            ServerFrame::Welcome {
                session: [0xAB; 16],
                user: "alice".into(),
                buffer_size: 1000,
                retention_seconds: 300,
                max_payload: 65536,
                max_channels: 256,
            }
            .encode(),
        ),
        (
            "SUBSCRIBED",
            ServerFrame::Subscribed {
                request: 1,
                channel: ch.clone(),
                at,
            }
            .encode(),
        ),
        (
            "UNSUBSCRIBED",
            ServerFrame::Unsubscribed {
                request: 2,
                channel: ch.clone(),
            }
            .encode(),
        ),
        (
            "MESSAGE",
            ServerFrame::Message {
                channel: ch.clone(),
                at,
                sender: "bob".into(),
                payload: b"hi".to_vec(),
            }
            .encode(),
        ),
        (
            "ACK",
            ServerFrame::Ack {
                request: 3,
                channel: ch.clone(),
                at,
            }
            .encode(),
        ),
        (
            "NACK",
            ServerFrame::Nack {
                request: 3,
                code: 3002,
                channel: ch.clone(),
                at,
            }
            .encode(),
        ),
        (
            "PRESENCE_LIST",
            ServerFrame::PresenceList {
                request: 4,
                channel: ch.clone(),
                users: vec!["alice".into(), "bob".into()],
            }
            .encode(),
        ),
        (
            "PRESENCE_EVENT",
            ServerFrame::PresenceEvent {
                channel: ch.clone(),
                joined: false,
                user: "bob".into(),
            }
            .encode(),
        ),
        (
            "RESUMED",
            ServerFrame::Resumed {
                request: 5,
                channel: ch.clone(),
                at,
            }
            .encode(),
        ),
        (
            "ERROR",
            ServerFrame::Error {
                request: 6,
                code: 4001,
                channel: "bad name".into(),
                message: "Validation failed".into(),
            }
            .encode(),
        ),
    ];
    let text: String = frames
        .iter()
        .map(|(name, bytes)| {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("{name:<15} {}\n", hex.join(" "))
        })
        .collect();
    insta::assert_snapshot!(text);
}

/// Strings longer than a `str8` holds are cut at 255 bytes, on a character boundary.
#[test]
fn long_strings_are_cut_on_a_character_boundary() {
    let frame = ServerFrame::Error {
        request: 1,
        code: 4000,
        channel: String::new(),
        message: "é".repeat(200),
    };
    let ServerFrame::Error { message, .. } = ServerFrame::decode(&frame.encode()).unwrap() else {
        unreachable!()
    };
    assert_eq!(message, "é".repeat(127));
    let ascii = ServerFrame::Error {
        request: 1,
        code: 4000,
        channel: String::new(),
        message: "x".repeat(300),
    };
    let ServerFrame::Error { message, .. } = ServerFrame::decode(&ascii.encode()).unwrap() else {
        unreachable!()
    };
    assert_eq!(message.len(), 255);
}

/// The last channel a client frame names (what a refusal after it names).
fn last_channel(frame: &ClientFrame) -> String {
    match frame {
        ClientFrame::Subscribe { channel, .. }
        | ClientFrame::Unsubscribe { channel, .. }
        | ClientFrame::Publish { channel, .. }
        | ClientFrame::Presence { channel, .. } => channel.as_str().to_owned(),
        ClientFrame::Resume { channels, .. } => channels
            .last()
            .map(|(c, _)| c.as_str().to_owned())
            .unwrap_or_default(),
    }
}
