//! The frames of `spec/sync.md` ("Frames"), as the suite writes and reads them.
//!
//! This is the suite's own codec, written from the spec and sharing no code with the
//! reference (`reference/sync`): were the two one codec, a fault in it (a field in the wrong
//! order, big-endian integers, a missing trailing-bytes check) would be made on both ends of
//! every connection and no check could see it. `tests/sync_codecs.rs` runs the two against
//! each other on arbitrary frames and bytes.
//!
//! Reading is strict, as the spec words it: every frame is an opcode byte, then its fields in
//! the order the tables give, little-endian, and ends exactly after its last field. Bytes that
//! are not a frame give a [`FrameError`] saying why, with the refusal code a server answers a
//! client frame like it with (`spec/sync.md`, "Refusals") and the request read so far.

use std::fmt;

/// A session id (`WELCOME`, `RESUME`): `id16`.
pub type SessionId = [u8; 16];

/// The opcodes of the spec's two tables.
pub mod opcode {
    /// Client: `SUBSCRIBE`.
    pub const SUBSCRIBE: u8 = 0x01;
    /// Client: `UNSUBSCRIBE`.
    pub const UNSUBSCRIBE: u8 = 0x02;
    /// Client: `PUBLISH`.
    pub const PUBLISH: u8 = 0x03;
    /// Client: `PRESENCE`.
    pub const PRESENCE: u8 = 0x04;
    /// Client: `RESUME`.
    pub const RESUME: u8 = 0x05;
    /// Server: `WELCOME`.
    pub const WELCOME: u8 = 0x80;
    /// Server: `SUBSCRIBED`.
    pub const SUBSCRIBED: u8 = 0x81;
    /// Server: `UNSUBSCRIBED`.
    pub const UNSUBSCRIBED: u8 = 0x82;
    /// Server: `MESSAGE`.
    pub const MESSAGE: u8 = 0x83;
    /// Server: `ACK`.
    pub const ACK: u8 = 0x84;
    /// Server: `NACK`.
    pub const NACK: u8 = 0x85;
    /// Server: `PRESENCE_LIST`.
    pub const PRESENCE_LIST: u8 = 0x86;
    /// Server: `PRESENCE_EVENT`.
    pub const PRESENCE_EVENT: u8 = 0x87;
    /// Server: `RESUMED`.
    pub const RESUMED: u8 = 0x88;
    /// Server: `ERROR`.
    pub const ERROR: u8 = 0x8F;
}

/// `PUBLISH`'s flag bit 0: an acknowledgment is requested ("the other bits 0").
pub const FLAG_ACK: u8 = 0x01;

/// The codes of `spec/error-codes.md` the sync protocol answers with.
pub mod code {
    /// 4000: a malformed frame (unknown opcode, truncated, trailing bytes, unknown flags).
    pub const BAD_REQUEST: u16 = 4000;
    /// 4001: a channel name that breaks the rule, or a channel a `RESUME` lists twice.
    pub const VALIDATION_FAILED: u16 = 4001;
    /// 4013: a payload or frame over the limits.
    pub const PAYLOAD_TOO_LARGE: u16 = 4013;
    /// 1005: publishing faster than the connection's limit.
    pub const RATE_LIMITED: u16 = 1005;
    /// 1002: the connection's token expired.
    pub const TOKEN_EXPIRED: u16 = 1002;
    /// 1004: the connection's token was revoked.
    pub const TOKEN_REVOKED: u16 = 1004;
    /// 3002: the channel had no subscriber (`NACK`).
    pub const CHANNEL_NOT_FOUND: u16 = 3002;
    /// 3003: no subscriber received the message (`NACK`).
    pub const DELIVERY_FAILED: u16 = 3003;
    /// 3004: a gap the server cannot replay, or a subscriber that overflowed.
    pub const BUFFER_OVERFLOW: u16 = 3004;
    /// 5003: more subscriptions than `max_channels`.
    pub const RESOURCE_EXHAUSTED: u16 = 5003;
}

/// The longest channel name, in bytes.
pub const MAX_CHANNEL_LEN: usize = 128;

/// A channel name: "1 to 128 bytes of `A-Z a-z 0-9 _ . : -`".
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);

/// Why a channel name breaks the spec's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a channel name is 1 to 128 bytes of A-Z a-z 0-9 _ . : -")]
pub struct InvalidChannel;

impl ChannelName {
    /// `name`, if it keeps the rule.
    pub fn new(name: &str) -> Result<Self, InvalidChannel> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_.:-".contains(&b);
        if name.is_empty() || name.len() > MAX_CHANNEL_LEN || !name.bytes().all(allowed) {
            return Err(InvalidChannel);
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ChannelName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message's place in its channel: the epoch (one unbroken history) and the offset in it,
/// 1 for the first message; offset 0 is the point before the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// The epoch.
    pub epoch: u64,
    /// The offset within it.
    pub offset: u64,
}

/// A frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientFrame {
    /// `0x01 SUBSCRIBE`: `request: u32`, `channel: str8`.
    Subscribe {
        /// Echoed in the answer.
        request: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// `0x02 UNSUBSCRIBE`: `request: u32`, `channel: str8`.
    Unsubscribe {
        /// Echoed in the answer.
        request: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// `0x03 PUBLISH`: `request: u32`, `flags: u8`, `channel: str8`, `payload: bytes32`.
    Publish {
        /// Echoed in the answer.
        request: u32,
        /// Flag bit 0.
        ack: bool,
        /// The channel.
        channel: ChannelName,
        /// The message.
        payload: Vec<u8>,
    },
    /// `0x04 PRESENCE`: `request: u32`, `channel: str8`.
    Presence {
        /// Echoed in the answer.
        request: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// `0x05 RESUME`: `request: u32`, `session: id16`, `count: u16`, then per channel
    /// `channel: str8`, `epoch: u64`, `offset: u64`.
    Resume {
        /// Echoed in the answers.
        request: u32,
        /// The session of the connection that was lost.
        session: SessionId,
        /// Each channel with the position last received.
        channels: Vec<(ChannelName, Position)>,
    },
}

/// A frame a server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerFrame {
    /// `0x80 WELCOME`.
    Welcome {
        /// The connection's session.
        session: SessionId,
        /// The token's subject.
        user: String,
        /// Messages kept per channel.
        buffer_size: u32,
        /// How long they are kept.
        retention_seconds: u32,
        /// The largest payload.
        max_payload: u32,
        /// Subscriptions per connection.
        max_channels: u16,
    },
    /// `0x81 SUBSCRIBED`.
    Subscribed {
        /// The `SUBSCRIBE`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
        /// The channel's last position when the subscription took effect.
        at: Position,
    },
    /// `0x82 UNSUBSCRIBED`.
    Unsubscribed {
        /// The `UNSUBSCRIBE`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
    },
    /// `0x83 MESSAGE`.
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
    /// `0x84 ACK`.
    Ack {
        /// The `PUBLISH`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
        /// The message's position.
        at: Position,
    },
    /// `0x85 NACK`.
    Nack {
        /// The `PUBLISH`'s request.
        request: u32,
        /// 3002 or 3003.
        code: u16,
        /// The channel.
        channel: ChannelName,
        /// The message's position.
        at: Position,
    },
    /// `0x86 PRESENCE_LIST`.
    PresenceList {
        /// The `PRESENCE`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
        /// The users, as sent.
        users: Vec<String>,
    },
    /// `0x87 PRESENCE_EVENT`.
    PresenceEvent {
        /// The channel.
        channel: ChannelName,
        /// 1 joined, 0 left.
        joined: bool,
        /// The user.
        user: String,
    },
    /// `0x88 RESUMED`.
    Resumed {
        /// The `RESUME`'s request.
        request: u32,
        /// The channel.
        channel: ChannelName,
        /// The position replayed up to.
        at: Position,
    },
    /// `0x8F ERROR`.
    Error {
        /// The refused frame's request.
        request: u32,
        /// The code.
        code: u16,
        /// The channel the refused frame named, or empty.
        channel: String,
        /// The message.
        message: String,
    },
}

/// Why bytes are not a frame of the spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct FrameError {
    /// What a server answers a client frame like this with: 4000, or 4001 for a bad channel.
    pub code: u16,
    /// The frame's request, 0 when the bytes end before it.
    pub request: u32,
    /// The last valid channel name read, or empty.
    pub channel: String,
    /// What is wrong, for a report.
    pub reason: String,
}

/// Reads fields front to back, remembering the request and channel for the error.
struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
    request: u32,
    channel: String,
}

impl<'a> Fields<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            at: 1,
            request: 0,
            channel: String::new(),
        }
    }

    fn error(&self, code: u16, reason: String) -> FrameError {
        FrameError {
            code,
            request: self.request,
            channel: self.channel.clone(),
            reason,
        }
    }

    fn slice(&mut self, len: usize, field: &str) -> Result<&'a [u8], FrameError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len());
        let Some(end) = end else {
            let left = self.bytes.len() - self.at;
            return Err(self.error(
                code::BAD_REQUEST,
                format!(
                    "truncated: `{field}` needs {len} bytes at byte {}, {left} left",
                    self.at
                ),
            ));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, field: &str) -> Result<[u8; N], FrameError> {
        let slice = self.slice(N, field)?;
        let mut array = [0; N];
        array.copy_from_slice(slice);
        Ok(array)
    }

    fn u8(&mut self, field: &str) -> Result<u8, FrameError> {
        Ok(self.array::<1>(field)?[0])
    }

    fn u16(&mut self, field: &str) -> Result<u16, FrameError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &str) -> Result<u32, FrameError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &str) -> Result<u64, FrameError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }

    fn request(&mut self) -> Result<u32, FrameError> {
        self.request = self.u32("request")?;
        Ok(self.request)
    }

    fn str8(&mut self, field: &str) -> Result<String, FrameError> {
        let len = self.u8(field)?;
        let bytes = self.slice(usize::from(len), field)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => Ok(text.to_owned()),
            Err(_) => Err(self.error(
                code::BAD_REQUEST,
                format!("`{field}` is not UTF-8: {bytes:02x?}"),
            )),
        }
    }

    fn bytes32(&mut self, field: &str) -> Result<Vec<u8>, FrameError> {
        let len = self.u32(field)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        Ok(self.slice(len, field)?.to_vec())
    }

    fn channel(&mut self) -> Result<ChannelName, FrameError> {
        let len = self.u8("channel")?;
        let bytes = self.slice(usize::from(len), "channel")?;
        let channel = std::str::from_utf8(bytes)
            .ok()
            .and_then(|name| ChannelName::new(name).ok());
        let Some(channel) = channel else {
            return Err(self.error(
                code::VALIDATION_FAILED,
                format!("`channel` {bytes:02x?} is not a channel name"),
            ));
        };
        self.channel = channel.as_str().to_owned();
        Ok(channel)
    }

    fn position(&mut self) -> Result<Position, FrameError> {
        Ok(Position {
            epoch: self.u64("epoch")?,
            offset: self.u64("offset")?,
        })
    }

    /// The frame, if nothing follows its last field.
    fn finish<T>(self, frame: T) -> Result<T, FrameError> {
        let extra = self.bytes.len() - self.at;
        if extra == 0 {
            Ok(frame)
        } else {
            Err(self.error(
                code::BAD_REQUEST,
                format!("{extra} byte(s) after the last field"),
            ))
        }
    }
}

/// The opcode, or the error for bytes without one.
fn opcode_of(bytes: &[u8]) -> Result<u8, FrameError> {
    bytes.first().copied().ok_or_else(|| FrameError {
        code: code::BAD_REQUEST,
        request: 0,
        channel: String::new(),
        reason: "an empty frame".to_owned(),
    })
}

fn unknown(op: u8, side: &str) -> FrameError {
    FrameError {
        code: code::BAD_REQUEST,
        request: 0,
        channel: String::new(),
        reason: format!("0x{op:02X} is not an opcode a {side} sends"),
    }
}

impl ClientFrame {
    /// Reads one client frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let op = opcode_of(bytes)?;
        let mut f = Fields::new(bytes);
        let frame = match op {
            opcode::SUBSCRIBE => Self::Subscribe {
                request: f.request()?,
                channel: f.channel()?,
            },
            opcode::UNSUBSCRIBE => Self::Unsubscribe {
                request: f.request()?,
                channel: f.channel()?,
            },
            opcode::PUBLISH => {
                let request = f.request()?;
                let flags = f.u8("flags")?;
                if flags & !FLAG_ACK != 0 {
                    return Err(f.error(
                        code::BAD_REQUEST,
                        format!("flags 0x{flags:02X}: only bit 0 is defined"),
                    ));
                }
                Self::Publish {
                    request,
                    ack: flags & FLAG_ACK != 0,
                    channel: f.channel()?,
                    payload: f.bytes32("payload")?,
                }
            }
            opcode::PRESENCE => Self::Presence {
                request: f.request()?,
                channel: f.channel()?,
            },
            opcode::RESUME => {
                let request = f.request()?;
                let session = f.array::<16>("session")?;
                let count = f.u16("count")?;
                // An entry is at least 18 bytes (a one-byte name, two u64): a count the
                // frame cannot hold is a truncated frame, whatever its entries say.
                let left = f.bytes.len() - f.at;
                if usize::from(count) * 18 > left {
                    return Err(f.error(
                        code::BAD_REQUEST,
                        format!(
                            "truncated: `count` {count} needs at least {} bytes, {left} left",
                            usize::from(count) * 18
                        ),
                    ));
                }
                let mut channels: Vec<(ChannelName, Position)> = Vec::new();
                for _ in 0..count {
                    let channel = f.channel()?;
                    let at = f.position()?;
                    if channels.iter().any(|(c, _)| *c == channel) {
                        return Err(f.error(
                            code::VALIDATION_FAILED,
                            format!("channel `{channel}` listed twice"),
                        ));
                    }
                    channels.push((channel, at));
                }
                Self::Resume {
                    request,
                    session,
                    channels,
                }
            }
            other => return Err(unknown(other, "client")),
        };
        f.finish(frame)
    }

    /// The frame's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Self::Subscribe { request, channel } => {
                w.u8(opcode::SUBSCRIBE).u32(*request).str8(channel.as_str());
            }
            Self::Unsubscribe { request, channel } => {
                w.u8(opcode::UNSUBSCRIBE)
                    .u32(*request)
                    .str8(channel.as_str());
            }
            Self::Publish {
                request,
                ack,
                channel,
                payload,
            } => {
                let flags = if *ack { FLAG_ACK } else { 0 };
                w.u8(opcode::PUBLISH)
                    .u32(*request)
                    .u8(flags)
                    .str8(channel.as_str())
                    .bytes32(payload);
            }
            Self::Presence { request, channel } => {
                w.u8(opcode::PRESENCE).u32(*request).str8(channel.as_str());
            }
            Self::Resume {
                request,
                session,
                channels,
            } => {
                let count = u16::try_from(channels.len()).unwrap_or(u16::MAX);
                w.u8(opcode::RESUME).u32(*request).raw(session).u16(count);
                for (channel, at) in channels.iter().take(usize::from(count)) {
                    w.str8(channel.as_str()).position(*at);
                }
            }
        }
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
    /// Reads one server frame.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        let op = opcode_of(bytes)?;
        let mut f = Fields::new(bytes);
        let frame = match op {
            opcode::WELCOME => Self::Welcome {
                session: f.array::<16>("session")?,
                user: f.str8("user")?,
                buffer_size: f.u32("buffer_size")?,
                retention_seconds: f.u32("retention_seconds")?,
                max_payload: f.u32("max_payload")?,
                max_channels: f.u16("max_channels")?,
            },
            opcode::SUBSCRIBED => Self::Subscribed {
                request: f.request()?,
                channel: f.channel()?,
                at: f.position()?,
            },
            opcode::UNSUBSCRIBED => Self::Unsubscribed {
                request: f.request()?,
                channel: f.channel()?,
            },
            opcode::MESSAGE => Self::Message {
                channel: f.channel()?,
                at: f.position()?,
                sender: f.str8("sender")?,
                payload: f.bytes32("payload")?,
            },
            opcode::ACK => Self::Ack {
                request: f.request()?,
                channel: f.channel()?,
                at: f.position()?,
            },
            opcode::NACK => Self::Nack {
                request: f.request()?,
                code: f.u16("code")?,
                channel: f.channel()?,
                at: f.position()?,
            },
            opcode::PRESENCE_LIST => {
                let request = f.request()?;
                let channel = f.channel()?;
                let count = f.u16("count")?;
                let users = (0..count)
                    .map(|_| f.str8("user"))
                    .collect::<Result<_, _>>()?;
                Self::PresenceList {
                    request,
                    channel,
                    users,
                }
            }
            opcode::PRESENCE_EVENT => {
                let channel = f.channel()?;
                let joined = match f.u8("joined")? {
                    0 => false,
                    1 => true,
                    other => {
                        return Err(f.error(
                            code::BAD_REQUEST,
                            format!("`joined` is {other}, not 1 or 0"),
                        ));
                    }
                };
                Self::PresenceEvent {
                    channel,
                    joined,
                    user: f.str8("user")?,
                }
            }
            opcode::RESUMED => Self::Resumed {
                request: f.request()?,
                channel: f.channel()?,
                at: f.position()?,
            },
            opcode::ERROR => Self::Error {
                request: f.request()?,
                code: f.u16("code")?,
                channel: f.str8("channel")?,
                message: f.str8("message")?,
            },
            other => return Err(unknown(other, "server")),
        };
        f.finish(frame)
    }

    /// The frame's bytes (the suite's test servers and proxies send these).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::default();
        match self {
            Self::Welcome {
                session,
                user,
                buffer_size,
                retention_seconds,
                max_payload,
                max_channels,
            } => {
                w.u8(opcode::WELCOME)
                    .raw(session)
                    .str8(user)
                    .u32(*buffer_size)
                    .u32(*retention_seconds)
                    .u32(*max_payload)
                    .u16(*max_channels);
            }
            Self::Subscribed {
                request,
                channel,
                at,
            } => {
                w.u8(opcode::SUBSCRIBED)
                    .u32(*request)
                    .str8(channel.as_str())
                    .position(*at);
            }
            Self::Unsubscribed { request, channel } => {
                w.u8(opcode::UNSUBSCRIBED)
                    .u32(*request)
                    .str8(channel.as_str());
            }
            Self::Message {
                channel,
                at,
                sender,
                payload,
            } => {
                w.u8(opcode::MESSAGE)
                    .str8(channel.as_str())
                    .position(*at)
                    .str8(sender)
                    .bytes32(payload);
            }
            Self::Ack {
                request,
                channel,
                at,
            } => {
                w.u8(opcode::ACK)
                    .u32(*request)
                    .str8(channel.as_str())
                    .position(*at);
            }
            Self::Nack {
                request,
                code,
                channel,
                at,
            } => {
                w.u8(opcode::NACK)
                    .u32(*request)
                    .u16(*code)
                    .str8(channel.as_str())
                    .position(*at);
            }
            Self::PresenceList {
                request,
                channel,
                users,
            } => {
                let count = u16::try_from(users.len()).unwrap_or(u16::MAX);
                w.u8(opcode::PRESENCE_LIST)
                    .u32(*request)
                    .str8(channel.as_str())
                    .u16(count);
                for user in users.iter().take(usize::from(count)) {
                    w.str8(user);
                }
            }
            Self::PresenceEvent {
                channel,
                joined,
                user,
            } => {
                w.u8(opcode::PRESENCE_EVENT)
                    .str8(channel.as_str())
                    .u8(u8::from(*joined))
                    .str8(user);
            }
            Self::Resumed {
                request,
                channel,
                at,
            } => {
                w.u8(opcode::RESUMED)
                    .u32(*request)
                    .str8(channel.as_str())
                    .position(*at);
            }
            Self::Error {
                request,
                code,
                channel,
                message,
            } => {
                w.u8(opcode::ERROR)
                    .u32(*request)
                    .u16(*code)
                    .str8(channel)
                    .str8(message);
            }
        }
        w.0
    }
}

/// Appends fields.
#[derive(Default)]
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    fn position(&mut self, at: Position) -> &mut Self {
        self.0.extend_from_slice(&at.epoch.to_le_bytes());
        self.0.extend_from_slice(&at.offset.to_le_bytes());
        self
    }

    fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.0.extend_from_slice(bytes);
        self
    }

    /// A `str8`: a text over 255 bytes is cut at the last character boundary that fits
    /// (every text the spec puts in a `str8` is at most 255 bytes).
    fn str8(&mut self, text: &str) -> &mut Self {
        let mut len = text.len().min(usize::from(u8::MAX));
        while !text.is_char_boundary(len) {
            len -= 1;
        }
        self.0.push(u8::try_from(len).unwrap_or(u8::MAX));
        self.0.extend_from_slice(&text.as_bytes()[..len]);
        self
    }

    fn bytes32(&mut self, bytes: &[u8]) -> &mut Self {
        let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        self.u32(len);
        self.0.extend_from_slice(&bytes[..len as usize]);
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rstest::rstest;

    use super::*;

    fn room() -> ChannelName {
        ChannelName::new("room").unwrap()
    }

    /// The spec's layouts, byte for byte, for a frame of each opcode.
    #[rstest]
    #[case::subscribe(
        ClientFrame::Subscribe { request: 7, channel: room() }.encode(),
        "01 07000000 04 726f6f6d"
    )]
    #[case::publish(
        ClientFrame::Publish { request: 1, ack: true, channel: room(), payload: b"hi".to_vec() }
            .encode(),
        "03 01000000 01 04 726f6f6d 02000000 6869"
    )]
    #[case::resume(
        ClientFrame::Resume {
            request: 2,
            session: [0xAB; 16],
            channels: vec![(room(), Position { epoch: 3, offset: 258 })],
        }
        .encode(),
        "05 02000000 abababababababababababababababab 0100 04 726f6f6d 0300000000000000 0201000000000000"
    )]
    #[case::message(
        ServerFrame::Message {
            channel: room(),
            at: Position { epoch: 1, offset: 2 },
            sender: "u".to_owned(),
            payload: vec![0xFF],
        }
        .encode(),
        "83 04 726f6f6d 0100000000000000 0200000000000000 01 75 01000000 ff"
    )]
    #[case::nack(
        ServerFrame::Nack { request: 5, code: 3002, channel: room(), at: Position { epoch: 1, offset: 0 } }
            .encode(),
        "85 05000000 ba0b 04 726f6f6d 0100000000000000 0000000000000000"
    )]
    #[case::error(
        ServerFrame::Error { request: 0, code: 4000, channel: String::new(), message: "m".to_owned() }
            .encode(),
        "8f 00000000 a00f 00 01 6d"
    )]
    fn frames_are_laid_out_as_the_spec_says(#[case] bytes: Vec<u8>, #[case] hex: &str) {
        let want: Vec<u8> = hex
            .split_whitespace()
            .flat_map(|group| {
                (0..group.len())
                    .step_by(2)
                    .map(move |i| u8::from_str_radix(&group[i..i + 2], 16).unwrap())
            })
            .collect();
        assert_eq!(bytes, want);
    }

    #[rstest]
    #[case::empty(&[], code::BAD_REQUEST, 0)]
    #[case::unknown_opcode(&[0x06], code::BAD_REQUEST, 0)]
    #[case::server_opcode(&[0x80], code::BAD_REQUEST, 0)]
    #[case::cut_in_request(&[0x01, 7, 0], code::BAD_REQUEST, 0)]
    #[case::cut_in_channel(&[0x01, 7, 0, 0, 0, 4, b'r'], code::BAD_REQUEST, 7)]
    #[case::bad_channel(&[0x01, 7, 0, 0, 0, 1, b'/'], code::VALIDATION_FAILED, 7)]
    #[case::empty_channel(&[0x01, 7, 0, 0, 0, 0], code::VALIDATION_FAILED, 7)]
    #[case::trailing(&[0x02, 7, 0, 0, 0, 1, b'r', 0], code::BAD_REQUEST, 7)]
    #[case::flag_bit_1(&[0x03, 7, 0, 0, 0, 2, 1, b'r', 0, 0, 0, 0], code::BAD_REQUEST, 7)]
    #[case::payload_cut(&[0x03, 7, 0, 0, 0, 0, 1, b'r', 2, 0, 0, 0, 1], code::BAD_REQUEST, 7)]
    fn malformed_client_frames_are_refused(
        #[case] bytes: &[u8],
        #[case] code: u16,
        #[case] request: u32,
    ) {
        let error = ClientFrame::decode(bytes).unwrap_err();
        assert_eq!((error.code, error.request), (code, request), "{error}");
    }

    #[test]
    fn a_resume_listing_a_channel_twice_names_it() {
        let mut bytes = vec![0x05, 9, 0, 0, 0];
        bytes.extend([0; 16]);
        bytes.extend([2, 0]);
        for _ in 0..2 {
            bytes.extend([1, b'r']);
            bytes.extend([0; 16]);
        }
        let error = ClientFrame::decode(&bytes).unwrap_err();
        assert_eq!(
            (error.code, error.request, error.channel.as_str()),
            (code::VALIDATION_FAILED, 9, "r")
        );
    }

    #[rstest]
    #[case::joined_two(&[0x87, 1, b'r', 2, 0], "`joined` is 2")]
    #[case::trailing(&[0x82, 1, 0, 0, 0, 1, b'r', 9], "1 byte(s) after the last field")]
    #[case::not_utf8(&[0x87, 1, b'r', 1, 1, 0xFF], "not UTF-8")]
    #[case::cut(&[0x84, 1, 0, 0, 0, 1, b'r', 0], "truncated: `epoch` needs 8 bytes")]
    #[case::client_opcode(&[0x01], "not an opcode a server sends")]
    fn malformed_server_frames_say_why(#[case] bytes: &[u8], #[case] reason: &str) {
        let error = ServerFrame::decode(bytes).unwrap_err();
        assert!(error.reason.contains(reason), "{error}");
    }
}
