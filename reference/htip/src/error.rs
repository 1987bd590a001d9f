//! The error codes of `spec/htip.md`, `spec/delta.md` and `spec/client-abi.md`: one numbering,
//! stable across versions, so a client can return them to its host as plain integers.

/// Why a stream or a patch was refused, with its code from the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u8)]
pub enum ErrorCode {
    /// Fewer than 4 bytes, or the magic differs.
    #[error("bad magic")]
    BadMagic = 1,
    /// A version this decoder does not know.
    #[error("unsupported version")]
    UnsupportedVersion = 2,
    /// A flag bit or the reserved field is not 0.
    #[error("unsupported flags")]
    UnsupportedFlags = 3,
    /// Shorter than the header or the lengths it declares, or operands past the end.
    #[error("truncated")]
    Truncated = 4,
    /// Longer than the header declares, or bytes after `END`.
    #[error("trailing bytes")]
    TrailingBytes = 5,
    /// A string or template entry runs past its section.
    #[error("entry runs past its section")]
    BadEntry = 6,
    /// A string or template is not UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8 = 7,
    /// An operation names a string the table lacks.
    #[error("string index out of range")]
    BadStringIndex = 8,
    /// A template id is defined twice in one stream.
    #[error("template defined twice")]
    DuplicateTemplate = 9,
    /// `CACHE` names a template the stream does not define.
    #[error("template not defined in this stream")]
    UndefinedTemplate = 10,
    /// An opcode not in the table.
    #[error("unknown opcode")]
    UnknownOpcode = 11,
    /// An operand out of its range.
    #[error("operand out of range")]
    BadOperand = 12,
    /// A nested batch, a commit without a batch, or the end inside a batch.
    #[error("unbalanced batch")]
    BatchMismatch = 13,
    /// The last byte is not `END`.
    #[error("missing end marker")]
    MissingEnd = 14,
    /// `CLONE` names a template the client has not cached.
    #[error("template not cached")]
    UncachedTemplate = 15,
    /// A handle names no node created yet.
    #[error("unknown node")]
    UnknownNode = 16,
    /// More nodes, templates or bytes than the client can track.
    #[error("limit exceeded")]
    LimitExceeded = 17,
    /// The client's allocator could not provide the memory needed.
    #[error("out of memory")]
    OutOfMemory = 18,
    /// The host refused an operation.
    #[error("the host refused an operation")]
    HostFailed = 19,
    /// The patch names another base.
    #[error("wrong base")]
    WrongBase = 20,
    /// A copy range outside the base.
    #[error("copy range outside the base")]
    BadCopy = 21,
    /// The output would pass the declared target length.
    #[error("output longer than the target")]
    TargetOverflow = 22,
    /// `END` before the declared target length.
    #[error("output shorter than the target")]
    TargetShort = 23,
    /// The output's hash is not the target's.
    #[error("output does not match the target hash")]
    TargetMismatch = 24,
    /// A varint longer than 10 bytes or beyond 64 bits.
    #[error("bad varint")]
    BadVarint = 25,
    /// A pointer and length given to a client export are not inside its memory.
    #[error("region outside the client's memory")]
    BadRegion = 26,
    /// `on_event` for a handler no `LISTEN` attached.
    #[error("unknown handler")]
    UnknownHandler = 27,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 27] = [
        Self::BadMagic,
        Self::UnsupportedVersion,
        Self::UnsupportedFlags,
        Self::Truncated,
        Self::TrailingBytes,
        Self::BadEntry,
        Self::InvalidUtf8,
        Self::BadStringIndex,
        Self::DuplicateTemplate,
        Self::UndefinedTemplate,
        Self::UnknownOpcode,
        Self::BadOperand,
        Self::BatchMismatch,
        Self::MissingEnd,
        Self::UncachedTemplate,
        Self::UnknownNode,
        Self::LimitExceeded,
        Self::OutOfMemory,
        Self::HostFailed,
        Self::WrongBase,
        Self::BadCopy,
        Self::TargetOverflow,
        Self::TargetShort,
        Self::TargetMismatch,
        Self::BadVarint,
        Self::BadRegion,
        Self::UnknownHandler,
    ];

    /// The code's number.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The code with this number.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.code() == code)
    }

    /// The spec's name (`BAD_MAGIC`).
    pub fn name(self) -> &'static str {
        match self {
            Self::BadMagic => "BAD_MAGIC",
            Self::UnsupportedVersion => "UNSUPPORTED_VERSION",
            Self::UnsupportedFlags => "UNSUPPORTED_FLAGS",
            Self::Truncated => "TRUNCATED",
            Self::TrailingBytes => "TRAILING_BYTES",
            Self::BadEntry => "BAD_ENTRY",
            Self::InvalidUtf8 => "INVALID_UTF8",
            Self::BadStringIndex => "BAD_STRING_INDEX",
            Self::DuplicateTemplate => "DUPLICATE_TEMPLATE",
            Self::UndefinedTemplate => "UNDEFINED_TEMPLATE",
            Self::UnknownOpcode => "UNKNOWN_OPCODE",
            Self::BadOperand => "BAD_OPERAND",
            Self::BatchMismatch => "BATCH_MISMATCH",
            Self::MissingEnd => "MISSING_END",
            Self::UncachedTemplate => "UNCACHED_TEMPLATE",
            Self::UnknownNode => "UNKNOWN_NODE",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::OutOfMemory => "OUT_OF_MEMORY",
            Self::HostFailed => "HOST_FAILED",
            Self::WrongBase => "WRONG_BASE",
            Self::BadCopy => "BAD_COPY",
            Self::TargetOverflow => "TARGET_OVERFLOW",
            Self::TargetShort => "TARGET_SHORT",
            Self::TargetMismatch => "TARGET_MISMATCH",
            Self::BadVarint => "BAD_VARINT",
            Self::BadRegion => "BAD_REGION",
            Self::UnknownHandler => "UNKNOWN_HANDLER",
        }
    }

    /// Whether the stream alone decides this code (1-14), the same for every decoder, as
    /// opposed to the client's state and limits (15-19).
    pub fn is_structural(self) -> bool {
        self.code() <= Self::MissingEnd.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_stable_and_named_uniquely() {
        for (i, code) in ErrorCode::ALL.iter().enumerate() {
            assert_eq!(usize::from(code.code()), i + 1);
            assert_eq!(ErrorCode::from_code(code.code()), Some(*code));
        }
        assert_eq!(ErrorCode::from_code(0), None);
        assert_eq!(ErrorCode::from_code(28), None);
        let mut names: alloc::vec::Vec<_> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(ErrorCode::MissingEnd.is_structural());
        assert!(!ErrorCode::UncachedTemplate.is_structural());
    }
}
