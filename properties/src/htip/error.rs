//! The one numbering of refusal codes that `spec/htip.md` ("Error codes"), `spec/delta.md`
//! ("Error codes") and `spec/client-abi.md` ("Error codes beyond the formats'") share: a
//! client returns them negated, so the suite must know each number and name exactly.

/// A refusal code and its spec name; the discriminant is the code's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[repr(u8)]
pub enum ErrorCode {
    /// `BAD_MAGIC`: fewer than 4 bytes, or the magic differs.
    #[error("BAD_MAGIC (1): fewer than 4 bytes, or the magic differs")]
    BadMagic = 1,
    /// `UNSUPPORTED_VERSION`: the version is not 1.
    #[error("UNSUPPORTED_VERSION (2): the version is not 1")]
    UnsupportedVersion = 2,
    /// `UNSUPPORTED_FLAGS`: a flag bit or the reserved field is not 0.
    #[error("UNSUPPORTED_FLAGS (3): a flag bit or the reserved field is not 0")]
    UnsupportedFlags = 3,
    /// `TRUNCATED`: shorter than the header or its lengths, or operands past the section.
    #[error("TRUNCATED (4): shorter than the header or its lengths, or operands cut off")]
    Truncated = 4,
    /// `TRAILING_BYTES`: longer than the header declares, or bytes after `END`.
    #[error("TRAILING_BYTES (5): longer than declared, or bytes after END")]
    TrailingBytes = 5,
    /// `BAD_ENTRY`: an entry runs past its section, or more than 65,536 strings.
    #[error("BAD_ENTRY (6): an entry past its section, or more than 65,536 strings")]
    BadEntry = 6,
    /// `INVALID_UTF8`: a string or template is not valid UTF-8.
    #[error("INVALID_UTF8 (7): a string or template is not UTF-8")]
    InvalidUtf8 = 7,
    /// `BAD_STRING_INDEX`: an operation names a string the table lacks.
    #[error("BAD_STRING_INDEX (8): a string the table lacks")]
    BadStringIndex = 8,
    /// `DUPLICATE_TEMPLATE`: a template id is defined twice.
    #[error("DUPLICATE_TEMPLATE (9): a template id defined twice")]
    DuplicateTemplate = 9,
    /// `UNDEFINED_TEMPLATE`: `CACHE` names a template this stream does not define.
    #[error("UNDEFINED_TEMPLATE (10): CACHE of a template the stream does not define")]
    UndefinedTemplate = 10,
    /// `UNKNOWN_OPCODE`: an opcode not in the table.
    #[error("UNKNOWN_OPCODE (11): an opcode not in the table")]
    UnknownOpcode = 11,
    /// `BAD_OPERAND`: `enable` not 0 or 1, `event` above 5, a handle or handler above 2^31 - 1.
    #[error("BAD_OPERAND (12): an operand out of its range")]
    BadOperand = 12,
    /// `BATCH_MISMATCH`: a nested batch, a commit without one, or `END` inside one.
    #[error("BATCH_MISMATCH (13): batches do not pair up")]
    BatchMismatch = 13,
    /// `MISSING_END`: the ops section does not end with `END`.
    #[error("MISSING_END (14): the ops section does not end with END")]
    MissingEnd = 14,
    /// `UNCACHED_TEMPLATE`: `CLONE` names a template not cached.
    #[error("UNCACHED_TEMPLATE (15): CLONE of a template not cached")]
    UncachedTemplate = 15,
    /// `UNKNOWN_NODE`: a handle names no node created yet.
    #[error("UNKNOWN_NODE (16): a handle names no node created yet")]
    UnknownNode = 16,
    /// `LIMIT_EXCEEDED`: more nodes, templates or bytes than the client can track.
    #[error("LIMIT_EXCEEDED (17): more than the client can track")]
    LimitExceeded = 17,
    /// `OUT_OF_MEMORY`: the client's allocator could not provide the memory.
    #[error("OUT_OF_MEMORY (18): the client's allocator failed")]
    OutOfMemory = 18,
    /// `HOST_FAILED`: the host refused an operation.
    #[error("HOST_FAILED (19): the host refused an operation")]
    HostFailed = 19,
    /// `WRONG_BASE`: the base's length or hash is not the one the patch names.
    #[error("WRONG_BASE (20): the patch names another base")]
    WrongBase = 20,
    /// `BAD_COPY`: a copy range is not inside the base.
    #[error("BAD_COPY (21): a copy range outside the base")]
    BadCopy = 21,
    /// `TARGET_OVERFLOW`: the output would pass `target_len`.
    #[error("TARGET_OVERFLOW (22): output past target_len")]
    TargetOverflow = 22,
    /// `TARGET_SHORT`: `END` came before `target_len` bytes.
    #[error("TARGET_SHORT (23): END before target_len bytes")]
    TargetShort = 23,
    /// `TARGET_MISMATCH`: the output's hash is not `target_hash`.
    #[error("TARGET_MISMATCH (24): the output's hash is not target_hash")]
    TargetMismatch = 24,
    /// `BAD_VARINT`: a varint longer than 10 bytes or beyond 64 bits.
    #[error("BAD_VARINT (25): a varint over 10 bytes or 64 bits")]
    BadVarint = 25,
    /// `BAD_REGION`: a pointer and length given to an export are not inside the memory.
    #[error("BAD_REGION (26): a range outside the client's memory")]
    BadRegion = 26,
    /// `UNKNOWN_HANDLER`: `on_event` for a handler no `LISTEN` attached.
    #[error("UNKNOWN_HANDLER (27): on_event for a handler never attached")]
    UnknownHandler = 27,
}

impl ErrorCode {
    /// Every code, by number.
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

    /// The code numbered `code`, if the spec has one.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The spec's name, as the tables write it (`BAD_MAGIC`).
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

    /// Whether the stream alone decides the code (1-14: "the same for every conforming
    /// decoder"), so the suite's reader can demand it, unlike 15-19, which depend on the
    /// client's state and limits (`spec/htip.md`, "Error codes").
    pub fn is_structural(self) -> bool {
        self.code() <= Self::MissingEnd.code()
    }
}

#[cfg(test)]
mod tests {
    use super::ErrorCode;

    #[test]
    fn codes_run_from_1_to_27_each_with_its_own_name() {
        let mut names = Vec::new();
        for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
            assert_eq!(usize::from(code.code()), i + 1);
            assert_eq!(ErrorCode::from_code(code.code()), Some(code));
            names.push(code.name());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 27);
        assert_eq!(ErrorCode::from_code(0), None);
        assert_eq!(ErrorCode::from_code(28), None);
        assert!(
            ErrorCode::MissingEnd.is_structural() && !ErrorCode::UncachedTemplate.is_structural()
        );
    }
}
