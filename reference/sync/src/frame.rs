//! The frames of `spec/sync.md`, "Frames": one binary WebSocket message each, an opcode byte
//! then little-endian fields. Decoding is total: any bytes give a frame or a [`FrameError`]
//! carrying the code the spec's refusal table names and the frame's `request` when it got
//! that far, so the server can answer `ERROR` for the right request.

use crate::channel::{ChannelName, Position};

/// A session id (`WELCOME`, `RESUME`).
pub type SessionId = [u8; 16];

/// The opcodes.
pub mod opcode {
    /// Client: subscribe to a channel.
    pub const SUBSCRIBE: u8 = 0x01;
    /// Client: unsubscribe.
    pub const UNSUBSCRIBE: u8 = 0x02;
    /// Client: publish a message.
    pub const PUBLISH: u8 = 0x03;
    /// Client: ask who is present.
    pub const PRESENCE: u8 = 0x04;
    /// Client: resume after reconnecting.
    pub const RESUME: u8 = 0x05;
    /// Server: the connection's session and limits.
    pub const WELCOME: u8 = 0x80;
    /// Server: a subscription took effect.
    pub const SUBSCRIBED: u8 = 0x81;
    /// Server: a subscription ended.
    pub const UNSUBSCRIBED: u8 = 0x82;
    /// Server: a message of a channel.
    pub const MESSAGE: u8 = 0x83;
    /// Server: a message reached a subscriber.
    pub const ACK: u8 = 0x84;
    /// Server: a message reached no subscriber.
    pub const NACK: u8 = 0x85;
    /// Server: who is present.
    pub const PRESENCE_LIST: u8 = 0x86;
    /// Server: a user joined or left a channel.
    pub const PRESENCE_EVENT: u8 = 0x87;
    /// Server: a channel is replayed up to here.
    pub const RESUMED: u8 = 0x88;
    /// Server: a frame was refused.
    pub const ERROR: u8 = 0x8F;
}

/// `PUBLISH`'s flag asking for an acknowledgment.
pub const FLAG_ACK: u8 = 0x01;

/// The codes a refused frame gets (`spec/error-codes.md`).
pub mod code {
    /// Malformed: unknown opcode, truncated, trailing bytes, unknown flags, text frames.
    pub const BAD_REQUEST: u16 = 4000;
    /// A channel name that breaks the rule, or a channel listed twice.
    pub const VALIDATION_FAILED: u16 = 4001;
    /// A payload or frame over the limits.
    pub const PAYLOAD_TOO_LARGE: u16 = 4013;
    /// Publishing faster than the per-connection limit.
    pub const RATE_LIMITED: u16 = 1005;
    /// The token expired while the connection was open.
    pub const TOKEN_EXPIRED: u16 = 1002;
    /// The token was revoked while the connection was open.
    pub const TOKEN_REVOKED: u16 = 1004;
    /// Acknowledgment: the channel had no subscriber.
    pub const CHANNEL_NOT_FOUND: u16 = 3002;
    /// Acknowledgment: no subscriber received the message.
    pub const DELIVERY_FAILED: u16 = 3003;
    /// A connection overflowed, or a channel cannot be resumed without a gap.
    pub const BUFFER_OVERFLOW: u16 = 3004;
    /// More subscriptions than `max_channels`.
    pub const RESOURCE_EXHAUSTED: u16 = 5003;
}

/// A frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// `SUBSCRIBE`.
    Subscribe {
        /// Echoed in the answer.
        request: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// `UNSUBSCRIBE`.
    Unsubscribe {
        /// Echoed in the answer.
        request: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// `PUBLISH`.
    Publish {
        /// Echoed in the answer.
        request: u32,
        /// Whether an `ACK` or `NACK` is wanted.
        ack: bool,
        /// The channel.
        channel: ChannelName,
        /// The message.
        payload: Vec<u8>,
    },
    /// `PRESENCE`.
    Presence {
        /// Echoed in the answer.
        request: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// `RESUME`.
    Resume {
        /// Echoed in the answers.
        request: u32,
        /// The session the client had.
        session: SessionId,
        /// Each channel with the last position received, each channel once.
        channels: Vec<(ChannelName, Position)>,
    },
}

/// A frame a server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// `WELCOME`.
    Welcome {
        /// The connection's session.
        session: SessionId,
        /// The token's subject.
        user: String,
        /// Messages kept per channel for replay.
        buffer_size: u32,
        /// How long they are kept.
        retention_seconds: u32,
        /// The largest payload accepted.
        max_payload: u32,
        /// Subscriptions per connection.
        max_channels: u16,
    },
    /// `SUBSCRIBED`.
    Subscribed {
        /// The `SUBSCRIBE`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
        /// The channel's last position when the subscription took effect.
        at: Position,
    },
    /// `UNSUBSCRIBED`.
    Unsubscribed {
        /// The `UNSUBSCRIBE`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// `MESSAGE`.
    Message {
        /// The channel.
        channel: ChannelName,
        /// The message's position.
        at: Position,
        /// Who published it.
        sender: String,
        /// The message.
        payload: Vec<u8>,
    },
    /// `ACK`.
    Ack {
        /// The `PUBLISH`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
        /// The message's position.
        at: Position,
    },
    /// `NACK`.
    Nack {
        /// The `PUBLISH`'s request.
        request: u32,
        /// 3002 or 3003.
        code: u16,
        /// The channel.
        channel: ChannelName,
        /// The message's position (it is kept for replay).
        at: Position,
    },
    /// `PRESENCE_LIST`.
    PresenceList {
        /// The `PRESENCE`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
        /// The users present, sorted, each once.
        users: Vec<String>,
    },
    /// `PRESENCE_EVENT`.
    PresenceEvent {
        /// The channel.
        channel: ChannelName,
        /// Joined (true) or left.
        joined: bool,
        /// The user.
        user: String,
    },
    /// `RESUMED`.
    Resumed {
        /// The `RESUME`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
        /// The position replayed up to.
        at: Position,
    },
    /// `ERROR`.
    Error {
        /// The refused frame's request (0 when it had none).
        request: u32,
        /// The code (`spec/error-codes.md`).
        code: u16,
        /// The channel the frame named, or empty.
        channel: String,
        /// The code's public message.
        message: String,
    },
}

/// Why bytes are not a frame: the code to answer with, and the frame's request and channel
/// as far as they were read (`spec/sync.md`, "Refusals": the `ERROR` names both).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame refused with {code} (request {request})")]
pub struct FrameError {
    /// `code::BAD_REQUEST` or `code::VALIDATION_FAILED`.
    pub code: u16,
    /// The request, or 0 when the frame ended before it.
    pub request: u32,
    /// The last valid channel name read before the fault (for a `RESUME` listing a channel
    /// twice, that channel), or empty.
    pub channel: String,
}

/// A cursor that refuses with `BAD_REQUEST` when the frame ends early.
struct Reader<'a> {
    rest: &'a [u8],
    request: u32,
    channel: String,
}

impl<'a> Reader<'a> {
    fn fail(&self, code: u16) -> FrameError {
        FrameError {
            code,
            request: self.request,
            channel: self.channel.clone(),
        }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let (taken, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or_else(|| self.fail(code::BAD_REQUEST))?;
        self.rest = rest;
        Ok(*taken)
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let (taken, rest) = self
            .rest
            .split_at_checked(n)
            .ok_or_else(|| self.fail(code::BAD_REQUEST))?;
        self.rest = rest;
        Ok(taken)
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        self.take::<1>().map(|[b]| b)
    }

    fn u16(&mut self) -> Result<u16, FrameError> {
        self.take().map(u16::from_le_bytes)
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        self.take().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, FrameError> {
        self.take().map(u64::from_le_bytes)
    }

    /// The request field, remembered for the errors after it.
    fn request(&mut self) -> Result<u32, FrameError> {
        self.request = self.u32()?;
        Ok(self.request)
    }

    fn str8(&mut self) -> Result<String, FrameError> {
        let len = self.u8()?;
        let bytes = self.bytes(usize::from(len))?;
        String::from_utf8(bytes.to_vec()).map_err(|_| self.fail(code::BAD_REQUEST))
    }

    fn bytes32(&mut self) -> Result<Vec<u8>, FrameError> {
        let len = self.u32()?;
        Ok(self.bytes(len as usize)?.to_vec())
    }

    fn channel(&mut self) -> Result<ChannelName, FrameError> {
        let len = self.u8()?;
        let bytes = self.bytes(usize::from(len))?;
        let channel = std::str::from_utf8(bytes)
            .ok()
            .and_then(|name| ChannelName::new(name).ok())
            .ok_or_else(|| self.fail(code::VALIDATION_FAILED))?;
        self.channel = channel.as_str().to_owned();
        Ok(channel)
    }

    fn position(&mut self) -> Result<Position, FrameError> {
        Ok(Position {
            epoch: self.u64()?,
            offset: self.u64()?,
        })
    }

    fn id16(&mut self) -> Result<SessionId, FrameError> {
        self.take()
    }

    fn end<T>(&self, value: T) -> Result<T, FrameError> {
        if self.rest.is_empty() {
            Ok(value)
        } else {
            Err(self.fail(code::BAD_REQUEST))
        }
    }
}

/// A frame being written.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }
    fn u16(mut self, v: u16) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn u32(mut self, v: u32) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    fn position(mut self, at: Position) -> Self {
        self.0.extend(at.epoch.to_le_bytes());
        self.0.extend(at.offset.to_le_bytes());
        self
    }
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend(bytes);
        self
    }
    /// At most 255 bytes, cut at a character boundary (user ids and messages are shorter).
    fn str8(mut self, s: &str) -> Self {
        let mut end = s.len().min(255);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.0.push(end as u8);
        self.0.extend(&s.as_bytes()[..end]);
        self
    }
    fn bytes32(mut self, bytes: &[u8]) -> Self {
        self.0.extend((bytes.len() as u32).to_le_bytes());
        self.0.extend(bytes);
        self
    }
}

impl ClientFrame {
    /// Decodes one client frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let mut r = Reader {
            rest: bytes,
            request: 0,
            channel: String::new(),
        };
        let frame = match r.u8()? {
            opcode::SUBSCRIBE => Self::Subscribe {
                request: r.request()?,
                channel: r.channel()?,
            },
            opcode::UNSUBSCRIBE => Self::Unsubscribe {
                request: r.request()?,
                channel: r.channel()?,
            },
            opcode::PUBLISH => {
                let request = r.request()?;
                let flags = r.u8()?;
                if flags & !FLAG_ACK != 0 {
                    return Err(r.fail(code::BAD_REQUEST));
                }
                Self::Publish {
                    request,
                    ack: flags & FLAG_ACK != 0,
                    channel: r.channel()?,
                    payload: r.bytes32()?,
                }
            }
            opcode::PRESENCE => Self::Presence {
                request: r.request()?,
                channel: r.channel()?,
            },
            opcode::RESUME => {
                let request = r.request()?;
                let session = r.id16()?;
                let count = r.u16()?;
                // Each entry takes at least 18 bytes: a count the frame cannot hold is
                // refused before anything is reserved for it.
                if usize::from(count) * 18 > r.rest.len() {
                    return Err(r.fail(code::BAD_REQUEST));
                }
                let mut channels: Vec<(ChannelName, Position)> =
                    Vec::with_capacity(usize::from(count));
                for _ in 0..count {
                    let channel = r.channel()?;
                    let at = r.position()?;
                    if channels.iter().any(|(c, _)| *c == channel) {
                        return Err(r.fail(code::VALIDATION_FAILED));
                    }
                    channels.push((channel, at));
                }
                Self::Resume {
                    request,
                    session,
                    channels,
                }
            }
            _ => return Err(r.fail(code::BAD_REQUEST)),
        };
        r.end(frame)
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let w = Writer::default();
        let w = match self {
            Self::Subscribe { request, channel } => {
                w.u8(opcode::SUBSCRIBE).u32(*request).str8(channel.as_str())
            }
            Self::Unsubscribe { request, channel } => w
                .u8(opcode::UNSUBSCRIBE)
                .u32(*request)
                .str8(channel.as_str()),
            Self::Publish {
                request,
                ack,
                channel,
                payload,
            } => w
                .u8(opcode::PUBLISH)
                .u32(*request)
                .u8(if *ack { FLAG_ACK } else { 0 })
                .str8(channel.as_str())
                .bytes32(payload),
            Self::Presence { request, channel } => {
                w.u8(opcode::PRESENCE).u32(*request).str8(channel.as_str())
            }
            Self::Resume {
                request,
                session,
                channels,
            } => {
                let mut w = w
                    .u8(opcode::RESUME)
                    .u32(*request)
                    .raw(session)
                    .u16(channels.len() as u16);
                for (channel, at) in channels {
                    w = w.str8(channel.as_str()).position(*at);
                }
                w
            }
        };
        w.0
    }

    /// The frame's request.
    pub fn request(&self) -> u32 {
        match self {
            Self::Subscribe { request, .. }
            | Self::Unsubscribe { request, .. }
            | Self::Publish { request, .. }
            | Self::Presence { request, .. }
            | Self::Resume { request, .. } => *request,
        }
    }
}

impl ServerFrame {
    /// Decodes one server frame (what a client or the suite reads).
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let mut r = Reader {
            rest: bytes,
            request: 0,
            channel: String::new(),
        };
        let frame = match r.u8()? {
            opcode::WELCOME => Self::Welcome {
                session: r.id16()?,
                user: r.str8()?,
                buffer_size: r.u32()?,
                retention_seconds: r.u32()?,
                max_payload: r.u32()?,
                max_channels: r.u16()?,
            },
            opcode::SUBSCRIBED => Self::Subscribed {
                request: r.request()?,
                channel: r.channel()?,
                at: r.position()?,
            },
            opcode::UNSUBSCRIBED => Self::Unsubscribed {
                request: r.request()?,
                channel: r.channel()?,
            },
            opcode::MESSAGE => Self::Message {
                channel: r.channel()?,
                at: r.position()?,
                sender: r.str8()?,
                payload: r.bytes32()?,
            },
            opcode::ACK => Self::Ack {
                request: r.request()?,
                channel: r.channel()?,
                at: r.position()?,
            },
            opcode::NACK => Self::Nack {
                request: r.request()?,
                code: r.u16()?,
                channel: r.channel()?,
                at: r.position()?,
            },
            opcode::PRESENCE_LIST => {
                let request = r.request()?;
                let channel = r.channel()?;
                let count = r.u16()?;
                if usize::from(count) > r.rest.len() {
                    return Err(r.fail(code::BAD_REQUEST));
                }
                let users = (0..count)
                    .map(|_| r.str8())
                    .collect::<Result<Vec<_>, _>>()?;
                Self::PresenceList {
                    request,
                    channel,
                    users,
                }
            }
            opcode::PRESENCE_EVENT => Self::PresenceEvent {
                channel: r.channel()?,
                joined: match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(r.fail(code::BAD_REQUEST)),
                },
                user: r.str8()?,
            },
            opcode::RESUMED => Self::Resumed {
                request: r.request()?,
                channel: r.channel()?,
                at: r.position()?,
            },
            opcode::ERROR => Self::Error {
                request: r.request()?,
                code: r.u16()?,
                channel: r.str8()?,
                message: r.str8()?,
            },
            _ => return Err(r.fail(code::BAD_REQUEST)),
        };
        r.end(frame)
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let w = Writer::default();
        let w = match self {
            Self::Welcome {
                session,
                user,
                buffer_size,
                retention_seconds,
                max_payload,
                max_channels,
            } => w
                .u8(opcode::WELCOME)
                .raw(session)
                .str8(user)
                .u32(*buffer_size)
                .u32(*retention_seconds)
                .u32(*max_payload)
                .u16(*max_channels),
            Self::Subscribed {
                request,
                channel,
                at,
            } => w
                .u8(opcode::SUBSCRIBED)
                .u32(*request)
                .str8(channel.as_str())
                .position(*at),
            Self::Unsubscribed { request, channel } => w
                .u8(opcode::UNSUBSCRIBED)
                .u32(*request)
                .str8(channel.as_str()),
            Self::Message {
                channel,
                at,
                sender,
                payload,
            } => w
                .u8(opcode::MESSAGE)
                .str8(channel.as_str())
                .position(*at)
                .str8(sender)
                .bytes32(payload),
            Self::Ack {
                request,
                channel,
                at,
            } => w
                .u8(opcode::ACK)
                .u32(*request)
                .str8(channel.as_str())
                .position(*at),
            Self::Nack {
                request,
                code,
                channel,
                at,
            } => w
                .u8(opcode::NACK)
                .u32(*request)
                .u16(*code)
                .str8(channel.as_str())
                .position(*at),
            Self::PresenceList {
                request,
                channel,
                users,
            } => {
                let mut w = w
                    .u8(opcode::PRESENCE_LIST)
                    .u32(*request)
                    .str8(channel.as_str())
                    .u16(users.len().min(usize::from(u16::MAX)) as u16);
                for user in users.iter().take(usize::from(u16::MAX)) {
                    w = w.str8(user);
                }
                w
            }
            Self::PresenceEvent {
                channel,
                joined,
                user,
            } => w
                .u8(opcode::PRESENCE_EVENT)
                .str8(channel.as_str())
                .u8(u8::from(*joined))
                .str8(user),
            Self::Resumed {
                request,
                channel,
                at,
            } => w
                .u8(opcode::RESUMED)
                .u32(*request)
                .str8(channel.as_str())
                .position(*at),
            Self::Error {
                request,
                code,
                channel,
                message,
            } => w
                .u8(opcode::ERROR)
                .u32(*request)
                .u16(*code)
                .str8(channel)
                .str8(message),
        };
        w.0
    }
}
