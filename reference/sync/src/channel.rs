//! Channel names and message positions (`spec/sync.md`, "Channels, epochs and offsets").

use std::fmt;

/// The longest channel name, in bytes.
pub const MAX_CHANNEL_LEN: usize = 128;

/// A channel name: 1 to 128 bytes of `A-Z a-z 0-9 _ . : -`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelName(String);

/// Why a channel name was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a channel name is 1 to 128 bytes of A-Z a-z 0-9 _ . : -")]
pub struct InvalidChannel;

impl ChannelName {
    /// `name`, if it is a valid channel name.
    pub fn new(name: &str) -> Result<Self, InvalidChannel> {
        let valid = (1..=MAX_CHANNEL_LEN).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(InvalidChannel)
        }
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

/// Where a message sits in its channel: the history's epoch and the message's offset in it
/// (1 for the first). Offset 0 names the point before the first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Position {
    /// One unbroken history of the channel (nonzero).
    pub epoch: u64,
    /// The message's offset within it.
    pub offset: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::one_byte("a", true)]
    #[case::every_kind("Room_1.chat:general-x", true)]
    #[case::longest(&"c".repeat(128), true)]
    #[case::empty("", false)]
    #[case::too_long(&"c".repeat(129), false)]
    #[case::space("a b", false)]
    #[case::slash("a/b", false)]
    #[case::non_ascii("café", false)]
    #[case::nul("a\0", false)]
    fn names(#[case] name: &str, #[case] valid: bool) {
        assert_eq!(ChannelName::new(name).is_ok(), valid, "{name:?}");
        if valid {
            assert_eq!(ChannelName::new(name).unwrap().to_string(), name);
        }
    }
}
