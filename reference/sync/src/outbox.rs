//! What a connection's send queue holds: a frame encoded for that connection alone, or the
//! bytes of a message encoded once and shared by every subscriber it fans out to. A message
//! to a thousand subscribers is then one encoding and a thousand reference counts, not a
//! thousand copies of its channel, sender and payload.
//!
//! A frame of its own is boxed: the queue (tokio's bounded channel) allocates its slots 32 at
//! a time, the first 32 when the connection opens, so the size of `Outgoing` is a fixed part
//! of every idle connection's memory (32 bytes a slot boxed, 88 not).

use axum::body::Bytes;

use crate::frame::{FrameError, ServerFrame};

/// One frame waiting in a connection's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// A frame for this connection only (`WELCOME`, answers, errors, replayed messages).
    Frame(Box<ServerFrame>),
    /// An encoded frame shared with other connections (a live `MESSAGE`).
    Encoded(Bytes),
}

impl Outgoing {
    /// The bytes to send.
    pub fn into_bytes(self) -> Bytes {
        match self {
            Self::Frame(frame) => frame.encode().into(),
            Self::Encoded(bytes) => bytes,
        }
    }

    /// The frame, decoding a shared one: for tests and tools that read a queue.
    pub fn frame(&self) -> Result<ServerFrame, FrameError> {
        match self {
            Self::Frame(frame) => Ok((**frame).clone()),
            Self::Encoded(bytes) => ServerFrame::decode(bytes),
        }
    }
}

impl From<ServerFrame> for Outgoing {
    fn from(frame: ServerFrame) -> Self {
        Self::Frame(Box::new(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChannelName, Position};

    #[test]
    fn a_queue_slot_is_small() {
        assert!(std::mem::size_of::<Outgoing>() <= 32);
    }

    #[test]
    fn a_shared_encoding_is_the_frame_s_own() {
        let frame = ServerFrame::Message {
            channel: ChannelName::new("room").unwrap(),
            at: Position {
                epoch: 7,
                offset: 42,
            },
            sender: "u1".into(),
            payload: b"hello".to_vec(),
        };
        let shared = Outgoing::Encoded(frame.encode().into());
        assert_eq!(shared.frame().unwrap(), frame);
        assert_eq!(
            shared.clone().into_bytes(),
            Outgoing::from(frame.clone()).into_bytes()
        );
        assert_eq!(Outgoing::from(frame.clone()).frame().unwrap(), frame);
        assert!(
            Outgoing::Encoded(Bytes::from_static(b"\xff"))
                .frame()
                .is_err()
        );
    }
}
