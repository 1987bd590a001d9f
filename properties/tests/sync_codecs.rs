//! The suite's frame codec (`dx_conformance::sync_frames`) and the reference's
//! (`dx_sync::frame`) are two readings of `spec/sync.md`, written apart so that neither can
//! hide the other's faults. Here they are run against each other: on every frame either
//! writes, on those frames cut short, lengthened or with a byte changed, and on arbitrary
//! bytes, they accept the same bytes as the same frame and refuse the same bytes with the
//! same code and request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_conformance::sync_frames::{self as suite, ChannelName, ClientFrame, Position, ServerFrame};
use dx_sync::frame as reference;
use proptest::prelude::*;

#[path = "support/byte_changes.rs"]
mod byte_changes;
use byte_changes::{change, changed};

fn channel() -> impl Strategy<Value = ChannelName> {
    "[A-Za-z0-9_.:-]{1,128}".prop_map(|name| ChannelName::new(&name).unwrap())
}

fn position() -> impl Strategy<Value = Position> {
    (any::<u64>(), any::<u64>()).prop_map(|(epoch, offset)| Position { epoch, offset })
}

fn text() -> impl Strategy<Value = String> {
    // Up to 255 bytes of any UTF-8 (a `str8`): at most 63 scalars of up to 4 bytes each.
    proptest::collection::vec(any::<char>(), 0..63).prop_map(|c| c.into_iter().collect())
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..64)
}

fn client_frame() -> impl Strategy<Value = ClientFrame> {
    prop_oneof![
        (any::<u32>(), channel())
            .prop_map(|(request, channel)| ClientFrame::Subscribe { request, channel }),
        (any::<u32>(), channel())
            .prop_map(|(request, channel)| ClientFrame::Unsubscribe { request, channel }),
        (any::<u32>(), any::<bool>(), channel(), payload()).prop_map(
            |(request, ack, channel, payload)| ClientFrame::Publish {
                request,
                ack,
                channel,
                payload
            }
        ),
        (any::<u32>(), channel())
            .prop_map(|(request, channel)| ClientFrame::Presence { request, channel }),
        (
            any::<u32>(),
            any::<[u8; 16]>(),
            proptest::collection::btree_map(channel(), position(), 0..4)
        )
            .prop_map(|(request, session, channels)| ClientFrame::Resume {
                request,
                session,
                channels: channels.into_iter().collect(),
            }),
    ]
}

fn server_frame() -> impl Strategy<Value = ServerFrame> {
    prop_oneof![
        (
            any::<[u8; 16]>(),
            text(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u16>()
        )
            .prop_map(|(session, user, b, r, p, c)| ServerFrame::Welcome {
                session,
                user,
                buffer_size: b,
                retention_seconds: r,
                max_payload: p,
                max_channels: c,
            }),
        (any::<u32>(), channel(), position()).prop_map(|(request, channel, at)| {
            ServerFrame::Subscribed {
                request,
                channel,
                at,
            }
        }),
        (any::<u32>(), channel())
            .prop_map(|(request, channel)| ServerFrame::Unsubscribed { request, channel }),
        (channel(), position(), text(), payload()).prop_map(|(channel, at, sender, payload)| {
            ServerFrame::Message {
                channel,
                at,
                sender,
                payload,
            }
        }),
        (any::<u32>(), channel(), position()).prop_map(|(request, channel, at)| ServerFrame::Ack {
            request,
            channel,
            at
        }),
        (any::<u32>(), any::<u16>(), channel(), position()).prop_map(
            |(request, code, channel, at)| ServerFrame::Nack {
                request,
                code,
                channel,
                at
            }
        ),
        (
            any::<u32>(),
            channel(),
            proptest::collection::vec(text(), 0..4)
        )
            .prop_map(|(request, channel, users)| ServerFrame::PresenceList {
                request,
                channel,
                users,
            }),
        (channel(), any::<bool>(), text()).prop_map(|(channel, joined, user)| {
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
        (any::<u32>(), any::<u16>(), text(), text()).prop_map(
            |(request, code, channel, message)| ServerFrame::Error {
                request,
                code,
                channel,
                message,
            }
        ),
    ]
}

/// Both codecs read `bytes` as client frames alike: the same frame (its re-encoding by each is
/// `bytes`), or the same code and request.
fn client_readings_agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    match (
        ClientFrame::decode(bytes),
        reference::ClientFrame::decode(bytes),
    ) {
        (Ok(ours), Ok(theirs)) => {
            prop_assert_eq!(ours.encode(), bytes);
            prop_assert_eq!(theirs.encode(), bytes);
            prop_assert_eq!(ours.request(), theirs.request());
        }
        (Err(ours), Err(theirs)) => {
            prop_assert_eq!(
                (ours.code, ours.request),
                (theirs.code, theirs.request),
                "refusals differ on {:02x?}: suite {}",
                bytes,
                ours
            );
        }
        (ours, theirs) => prop_assert!(
            false,
            "{:02x?}: the suite reads {:?}, the reference {:?}",
            bytes,
            ours,
            theirs
        ),
    }
    Ok(())
}

/// Both codecs read `bytes` as server frames alike: both accept it (and re-encode it to
/// `bytes`), or both refuse it.
fn server_readings_agree(bytes: &[u8]) -> Result<(), TestCaseError> {
    match (
        ServerFrame::decode(bytes),
        reference::ServerFrame::decode(bytes),
    ) {
        (Ok(ours), Ok(theirs)) => {
            prop_assert_eq!(ours.encode(), bytes);
            prop_assert_eq!(theirs.encode(), bytes);
        }
        (Err(_), Err(_)) => {}
        (ours, theirs) => prop_assert!(
            false,
            "{:02x?}: the suite reads {:?}, the reference {:?}",
            bytes,
            ours,
            theirs
        ),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn client_frames_are_read_alike(frame in client_frame(), change in change()) {
        let bytes = frame.encode();
        prop_assert_eq!(ClientFrame::decode(&bytes), Ok(frame));
        client_readings_agree(&bytes)?;
        client_readings_agree(&changed(bytes, &change))?;
    }

    #[test]
    fn server_frames_are_read_alike(frame in server_frame(), change in change()) {
        let bytes = frame.encode();
        prop_assert_eq!(ServerFrame::decode(&bytes), Ok(frame));
        server_readings_agree(&bytes)?;
        server_readings_agree(&changed(bytes, &change))?;
    }

    #[test]
    fn arbitrary_bytes_are_read_alike(opcode in prop_oneof![0u8..8, 0x7Eu8..0x92], rest in proptest::collection::vec(any::<u8>(), 0..48)) {
        let mut bytes = vec![opcode];
        bytes.extend(rest);
        client_readings_agree(&bytes)?;
        server_readings_agree(&bytes)?;
    }
}

/// The codes the suite's codec names are those of `spec/error-codes.toml`, as the reference's.
#[test]
fn the_codes_are_the_spec_codes() {
    let pairs = [
        (suite::code::BAD_REQUEST, reference::code::BAD_REQUEST),
        (
            suite::code::VALIDATION_FAILED,
            reference::code::VALIDATION_FAILED,
        ),
        (
            suite::code::PAYLOAD_TOO_LARGE,
            reference::code::PAYLOAD_TOO_LARGE,
        ),
        (suite::code::RATE_LIMITED, reference::code::RATE_LIMITED),
        (suite::code::TOKEN_EXPIRED, reference::code::TOKEN_EXPIRED),
        (suite::code::TOKEN_REVOKED, reference::code::TOKEN_REVOKED),
        (
            suite::code::CHANNEL_NOT_FOUND,
            reference::code::CHANNEL_NOT_FOUND,
        ),
        (
            suite::code::DELIVERY_FAILED,
            reference::code::DELIVERY_FAILED,
        ),
        (
            suite::code::BUFFER_OVERFLOW,
            reference::code::BUFFER_OVERFLOW,
        ),
        (
            suite::code::RESOURCE_EXHAUSTED,
            reference::code::RESOURCE_EXHAUSTED,
        ),
    ];
    let spec = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../spec/error-codes.toml"),
    )
    .unwrap();
    for (ours, theirs) in pairs {
        assert_eq!(ours, theirs);
        assert!(
            spec.contains(&format!("number = {ours}")),
            "{ours} is not in spec/error-codes.toml"
        );
    }
}
