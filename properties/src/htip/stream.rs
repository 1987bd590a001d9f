//! The HTIP stream of `spec/htip.md`: [`encode`] writes the streams the client checks send,
//! and [`decode`] is their oracle, reading bytes the way the spec words it (header, strings,
//! templates, then each operation in order) and answering either the operations a valid stream
//! encodes or the code a malformed one must get.
//!
//! Where a stream has several faults the spec leaves the code to the decoder ("Error codes");
//! this reader reports the first it meets reading front to back, judging each field as soon
//! as it is read (a handle out of range before the operand after it that is cut off, `END`
//! inside a batch before the bytes after it), once it has checked the header's first 8 bytes
//! as one unit, then the lengths the header declares.

use std::collections::{BTreeSet, HashMap};

use super::ErrorCode;

/// The magic, `"HTIP"`.
pub const MAGIC: [u8; 4] = *b"HTIP";
/// The only version this page defines.
pub const VERSION: u8 = 1;
/// The header's length in bytes.
pub const HEADER_LEN: usize = 20;
/// The most strings a table may hold (indices are `u16`).
pub const MAX_STRINGS: usize = 65_536;
/// The largest handle or handler: host ids are `i32`.
pub const MAX_ID: u32 = 0x7FFF_FFFF;

/// The opcodes of the ops table.
pub mod opcode {
    /// `CLONE template: u16`.
    pub const CLONE: u8 = 0x01;
    /// `CACHE template: u16`.
    pub const CACHE: u8 = 0x02;
    /// `APPEND parent: u32, child: u32`.
    pub const APPEND: u8 = 0x03;
    /// `REMOVE node: u32`.
    pub const REMOVE: u8 = 0x04;
    /// `SET_TEXT node: u32, text: u16`.
    pub const SET_TEXT: u8 = 0x05;
    /// `SET_ATTR node: u32, key: u16, value: u16`.
    pub const SET_ATTR: u8 = 0x06;
    /// `TOGGLE_CLASS node: u32, class: u16, enable: u8`.
    pub const TOGGLE_CLASS: u8 = 0x07;
    /// `LISTEN node: u32, event: u8, handler: u32`.
    pub const LISTEN: u8 = 0x08;
    /// `BATCH_BEGIN`.
    pub const BATCH_BEGIN: u8 = 0x09;
    /// `BATCH_COMMIT`.
    pub const BATCH_COMMIT: u8 = 0x0A;
    /// `END`, the ops section's last byte.
    pub const END: u8 = 0xFF;
}

/// The events `LISTEN` may name, by their index in the host ABI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// 0, `click`.
    Click = 0,
    /// 1, `input`.
    Input = 1,
    /// 2, `change`.
    Change = 2,
    /// 3, `submit`.
    Submit = 3,
    /// 4, `keydown`.
    KeyDown = 4,
    /// 5, `keyup`.
    KeyUp = 5,
}

impl Event {
    /// Every event, by index.
    pub const ALL: [Event; 6] = [
        Self::Click,
        Self::Input,
        Self::Change,
        Self::Submit,
        Self::KeyDown,
        Self::KeyUp,
    ];

    /// The event at `index`, if it is 0-5.
    pub fn from_index(index: u8) -> Option<Self> {
        Self::ALL.get(usize::from(index)).copied()
    }

    /// Its index, the `event` operand.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The DOM event's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Click => "click",
            Self::Input => "input",
            Self::Change => "change",
            Self::Submit => "submit",
            Self::KeyDown => "keydown",
            Self::KeyUp => "keyup",
        }
    }
}

/// One operation, its string operands resolved to their text: what the suite writes and
/// what a valid stream is read back as.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HtipOp {
    /// `CLONE`: a new node, the next handle, from a cached template.
    Clone {
        /// The template id.
        template: u16,
    },
    /// `CACHE`: this stream's definition of `template`, handed to the host.
    Cache {
        /// The template id.
        template: u16,
    },
    /// `APPEND`.
    Append {
        /// The parent's handle.
        parent: u32,
        /// The child's handle.
        child: u32,
    },
    /// `REMOVE`.
    Remove {
        /// The handle.
        node: u32,
    },
    /// `SET_TEXT`.
    SetText {
        /// The handle.
        node: u32,
        /// The text.
        text: String,
    },
    /// `SET_ATTR`.
    SetAttr {
        /// The handle.
        node: u32,
        /// The attribute's name.
        key: String,
        /// Its value.
        value: String,
    },
    /// `TOGGLE_CLASS`.
    ToggleClass {
        /// The handle.
        node: u32,
        /// The class.
        class: String,
        /// Added (true) or removed.
        enable: bool,
    },
    /// `LISTEN`.
    Listen {
        /// The handle.
        node: u32,
        /// The event.
        event: Event,
        /// The handler id `on_event` is called with.
        handler: u32,
    },
    /// `BATCH_BEGIN`.
    BatchBegin,
    /// `BATCH_COMMIT`.
    BatchCommit,
}

/// A stream [`decode`] accepted: its string table, its template definitions in stream order,
/// and its operations in order (without the final `END`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stream {
    strings: Vec<String>,
    templates: Vec<(u16, String)>,
    ops: Vec<HtipOp>,
}

impl Stream {
    /// The operations, in order.
    pub fn ops(&self) -> &[HtipOp] {
        &self.ops
    }

    /// The template definitions (id, HTML), in stream order.
    pub fn templates(&self) -> Vec<(u16, &str)> {
        self.templates
            .iter()
            .map(|(id, html)| (*id, html.as_str()))
            .collect()
    }

    /// The string table, by index.
    pub fn strings(&self) -> &[String] {
        &self.strings
    }
}

/// The header's three section lengths, once magic, version, flags and reserved are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `strings_len`.
    pub strings_len: u32,
    /// `templates_len`.
    pub templates_len: u32,
    /// `ops_len`.
    pub ops_len: u32,
}

impl Header {
    /// Reads the 20-byte header at the start of `bytes`.
    pub fn read(bytes: &[u8]) -> Result<Self, ErrorCode> {
        if bytes.get(..4) != Some(MAGIC.as_slice()) {
            return Err(ErrorCode::BadMagic);
        }
        // The first 8 bytes (magic, version, flags, reserved) are one unit, as in the patch
        // header: what they say is judged once they are all there, the lengths then.
        let Some(preamble) = bytes.get(..8) else {
            return Err(ErrorCode::Truncated);
        };
        if preamble[4] != VERSION {
            return Err(ErrorCode::UnsupportedVersion);
        }
        if preamble[5..].iter().any(|b| *b != 0) {
            return Err(ErrorCode::UnsupportedFlags);
        }
        let Some(header) = bytes.get(..HEADER_LEN) else {
            return Err(ErrorCode::Truncated);
        };
        let word = |at: usize| {
            u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        Ok(Self {
            strings_len: word(8),
            templates_len: word(12),
            ops_len: word(16),
        })
    }
}

/// A cursor over one section: reads past its end are `None`, so each caller names the code
/// its section's spec gives for running out.
struct Section<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Section<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn is_done(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

fn text(bytes: &[u8]) -> Result<String, ErrorCode> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| ErrorCode::InvalidUtf8)
}

/// Checks `bytes` as one whole stream by every rule of "Checking a stream" that the stream
/// alone decides (codes 1-14).
pub fn decode(bytes: &[u8]) -> Result<Stream, ErrorCode> {
    let header = Header::read(bytes)?;
    let lengths = [header.strings_len, header.templates_len, header.ops_len].map(u64::from);
    let declared = HEADER_LEN as u64 + lengths.iter().sum::<u64>();
    let actual = bytes.len() as u64;
    if actual < declared {
        return Err(ErrorCode::Truncated);
    }
    if actual > declared {
        return Err(ErrorCode::TrailingBytes);
    }
    // "`ops_len`: at least 1": an empty ops section cannot end with `END`.
    if header.ops_len == 0 {
        return Err(ErrorCode::MissingEnd);
    }
    // Every length now fits in `bytes`, so in `usize`.
    let [strings_len, templates_len, _] = lengths.map(|l| l as usize);
    let (strings_bytes, rest) = bytes[HEADER_LEN..].split_at(strings_len);
    let (templates_bytes, ops_bytes) = rest.split_at(templates_len);
    let strings = read_strings(strings_bytes)?;
    let templates = read_templates(templates_bytes)?;
    let ops = read_ops(ops_bytes, &strings, &templates)?;
    Ok(Stream {
        strings,
        templates,
        ops,
    })
}

fn read_strings(section: &[u8]) -> Result<Vec<String>, ErrorCode> {
    let mut s = Section::new(section);
    let mut strings = Vec::new();
    while !s.is_done() {
        let len = s.u16().ok_or(ErrorCode::BadEntry)?;
        let bytes = s.take(usize::from(len)).ok_or(ErrorCode::BadEntry)?;
        if strings.len() == MAX_STRINGS {
            return Err(ErrorCode::BadEntry);
        }
        strings.push(text(bytes)?);
    }
    Ok(strings)
}

fn read_templates(section: &[u8]) -> Result<Vec<(u16, String)>, ErrorCode> {
    let mut s = Section::new(section);
    let mut templates = Vec::new();
    let mut seen = BTreeSet::new();
    while !s.is_done() {
        let id = s.u16().ok_or(ErrorCode::BadEntry)?;
        let len = s.u32().ok_or(ErrorCode::BadEntry)?;
        let bytes = usize::try_from(len)
            .ok()
            .and_then(|len| s.take(len))
            .ok_or(ErrorCode::BadEntry)?;
        let html = text(bytes)?;
        if !seen.insert(id) {
            return Err(ErrorCode::DuplicateTemplate);
        }
        templates.push((id, html));
    }
    Ok(templates)
}

fn read_ops(
    section: &[u8],
    strings: &[String],
    templates: &[(u16, String)],
) -> Result<Vec<HtipOp>, ErrorCode> {
    let mut s = Section::new(section);
    let mut ops = Vec::new();
    let mut in_batch = false;
    // An operand cut off by the section's end, or one out of its range.
    let string = |i: Option<u16>| {
        let i = i.ok_or(ErrorCode::Truncated)?;
        strings
            .get(usize::from(i))
            .cloned()
            .ok_or(ErrorCode::BadStringIndex)
    };
    let handle = |id: Option<u32>| match id {
        None => Err(ErrorCode::Truncated),
        Some(id) if id > MAX_ID => Err(ErrorCode::BadOperand),
        Some(id) => Ok(id),
    };
    loop {
        let Some(code) = s.u8() else {
            return Err(ErrorCode::MissingEnd);
        };
        let op = match code {
            opcode::END => {
                if in_batch {
                    return Err(ErrorCode::BatchMismatch);
                }
                if !s.is_done() {
                    return Err(ErrorCode::TrailingBytes);
                }
                return Ok(ops);
            }
            opcode::CLONE => {
                let template = s.u16().ok_or(ErrorCode::Truncated)?;
                HtipOp::Clone { template }
            }
            opcode::CACHE => {
                let template = s.u16().ok_or(ErrorCode::Truncated)?;
                if !templates.iter().any(|(id, _)| *id == template) {
                    return Err(ErrorCode::UndefinedTemplate);
                }
                HtipOp::Cache { template }
            }
            opcode::APPEND => {
                let parent = handle(s.u32())?;
                let child = handle(s.u32())?;
                HtipOp::Append { parent, child }
            }
            opcode::REMOVE => {
                let node = handle(s.u32())?;
                HtipOp::Remove { node }
            }
            opcode::SET_TEXT => {
                let node = handle(s.u32())?;
                let text = string(s.u16())?;
                HtipOp::SetText { node, text }
            }
            opcode::SET_ATTR => {
                let node = handle(s.u32())?;
                let key = string(s.u16())?;
                let value = string(s.u16())?;
                HtipOp::SetAttr { node, key, value }
            }
            opcode::TOGGLE_CLASS => {
                let node = handle(s.u32())?;
                let class = string(s.u16())?;
                let enable = match s.u8().ok_or(ErrorCode::Truncated)? {
                    0 => false,
                    1 => true,
                    _ => return Err(ErrorCode::BadOperand),
                };
                HtipOp::ToggleClass {
                    node,
                    class,
                    enable,
                }
            }
            opcode::LISTEN => {
                let node = handle(s.u32())?;
                let event = s.u8().ok_or(ErrorCode::Truncated)?;
                let event = Event::from_index(event).ok_or(ErrorCode::BadOperand)?;
                let handler = handle(s.u32())?;
                HtipOp::Listen {
                    node,
                    event,
                    handler,
                }
            }
            opcode::BATCH_BEGIN => {
                if in_batch {
                    return Err(ErrorCode::BatchMismatch);
                }
                in_batch = true;
                HtipOp::BatchBegin
            }
            opcode::BATCH_COMMIT => {
                if !in_batch {
                    return Err(ErrorCode::BatchMismatch);
                }
                in_batch = false;
                HtipOp::BatchCommit
            }
            _ => return Err(ErrorCode::UnknownOpcode),
        };
        ops.push(op);
    }
}

/// Why [`encode`] could not write a stream the spec accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The table would need more than 65,536 distinct strings.
    #[error("more than 65,536 distinct strings")]
    TooManyStrings,
    /// A string longer than its `u16` length can say.
    #[error("a string of {0} bytes (at most 65,535)")]
    StringTooLong(usize),
    /// A template or section longer than its `u32` length can say.
    #[error("a template or section of {0} bytes (at most 4 GiB)")]
    TooLong(usize),
    /// Two definitions of one template id.
    #[error("template {0} defined twice")]
    DuplicateTemplate(u16),
    /// `CACHE` of a template the stream does not define.
    #[error("template {0} cached but not defined")]
    UndefinedTemplate(u16),
    /// A handle or handler above 2^31 - 1.
    #[error("handle or handler {0} above 2^31 - 1")]
    IdOutOfRange(u32),
    /// A nested batch, a commit without one, or a batch left open.
    #[error("batches that do not pair up")]
    UnbalancedBatch,
}

/// The string table being built: equal strings share one entry, in order of first use.
#[derive(Default)]
struct StringTable {
    bytes: Vec<u8>,
    index: HashMap<String, u16>,
}

impl StringTable {
    fn index_of(&mut self, text: &str) -> Result<[u8; 2], EncodeError> {
        if let Some(i) = self.index.get(text) {
            return Ok(i.to_le_bytes());
        }
        let i = u16::try_from(self.index.len()).map_err(|_| EncodeError::TooManyStrings)?;
        let len = u16::try_from(text.len()).map_err(|_| EncodeError::StringTooLong(text.len()))?;
        self.bytes.extend(len.to_le_bytes());
        self.bytes.extend(text.as_bytes());
        self.index.insert(text.to_owned(), i);
        Ok(i.to_le_bytes())
    }
}

fn id(value: u32) -> Result<[u8; 4], EncodeError> {
    if value <= MAX_ID {
        Ok(value.to_le_bytes())
    } else {
        Err(EncodeError::IdOutOfRange(value))
    }
}

fn section_len(section: &[u8]) -> Result<[u8; 4], EncodeError> {
    u32::try_from(section.len())
        .map(u32::to_le_bytes)
        .map_err(|_| EncodeError::TooLong(section.len()))
}

/// Writes a stream of `ops` (`END` added) with the template definitions `templates` (id,
/// HTML), in the order given; refuses what the spec would refuse rather than write it.
pub fn encode(templates: &[(u16, &str)], ops: &[HtipOp]) -> Result<Vec<u8>, EncodeError> {
    let mut defined = BTreeSet::new();
    let mut templates_bytes = Vec::new();
    for (template, html) in templates {
        if !defined.insert(*template) {
            return Err(EncodeError::DuplicateTemplate(*template));
        }
        let len = u32::try_from(html.len()).map_err(|_| EncodeError::TooLong(html.len()))?;
        templates_bytes.extend(template.to_le_bytes());
        templates_bytes.extend(len.to_le_bytes());
        templates_bytes.extend(html.as_bytes());
    }
    let mut table = StringTable::default();
    let mut out = Vec::new();
    let mut in_batch = false;
    for op in ops {
        match op {
            HtipOp::Clone { template } => {
                out.push(opcode::CLONE);
                out.extend(template.to_le_bytes());
            }
            HtipOp::Cache { template } => {
                if !defined.contains(template) {
                    return Err(EncodeError::UndefinedTemplate(*template));
                }
                out.push(opcode::CACHE);
                out.extend(template.to_le_bytes());
            }
            HtipOp::Append { parent, child } => {
                out.push(opcode::APPEND);
                out.extend(id(*parent)?);
                out.extend(id(*child)?);
            }
            HtipOp::Remove { node } => {
                out.push(opcode::REMOVE);
                out.extend(id(*node)?);
            }
            HtipOp::SetText { node, text } => {
                out.push(opcode::SET_TEXT);
                out.extend(id(*node)?);
                out.extend(table.index_of(text)?);
            }
            HtipOp::SetAttr { node, key, value } => {
                out.push(opcode::SET_ATTR);
                out.extend(id(*node)?);
                out.extend(table.index_of(key)?);
                out.extend(table.index_of(value)?);
            }
            HtipOp::ToggleClass {
                node,
                class,
                enable,
            } => {
                out.push(opcode::TOGGLE_CLASS);
                out.extend(id(*node)?);
                out.extend(table.index_of(class)?);
                out.push(u8::from(*enable));
            }
            HtipOp::Listen {
                node,
                event,
                handler,
            } => {
                out.push(opcode::LISTEN);
                out.extend(id(*node)?);
                out.push(event.index());
                out.extend(id(*handler)?);
            }
            HtipOp::BatchBegin => {
                if in_batch {
                    return Err(EncodeError::UnbalancedBatch);
                }
                in_batch = true;
                out.push(opcode::BATCH_BEGIN);
            }
            HtipOp::BatchCommit => {
                if !in_batch {
                    return Err(EncodeError::UnbalancedBatch);
                }
                in_batch = false;
                out.push(opcode::BATCH_COMMIT);
            }
        }
    }
    if in_batch {
        return Err(EncodeError::UnbalancedBatch);
    }
    out.push(opcode::END);
    let mut stream =
        Vec::with_capacity(HEADER_LEN + table.bytes.len() + templates_bytes.len() + out.len());
    stream.extend(MAGIC);
    stream.extend([VERSION, 0, 0, 0]);
    stream.extend(section_len(&table.bytes)?);
    stream.extend(section_len(&templates_bytes)?);
    stream.extend(section_len(&out)?);
    stream.extend(table.bytes);
    stream.extend(templates_bytes);
    stream.extend(out);
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// A header for sections of these lengths.
    fn header(strings: u32, templates: u32, ops: u32) -> Vec<u8> {
        let mut h = b"HTIP\x01\x00\x00\x00".to_vec();
        for len in [strings, templates, ops] {
            h.extend(len.to_le_bytes());
        }
        h
    }

    #[rstest]
    #[case::only_end(&[], &[], [0xFF].to_vec())]
    #[case::a_page(
        &[(7, "<p>")],
        &[
            HtipOp::Cache { template: 7 },
            HtipOp::Clone { template: 7 },
            HtipOp::Append { parent: 0, child: 1 },
            HtipOp::SetText { node: 1, text: "hi".into() },
            HtipOp::SetAttr { node: 1, key: "id".into(), value: "hi".into() },
        ],
        [
            // Strings: "hi" (0), "id" (1): deduplicated, in order of first use.
            &[2, 0, b'h', b'i', 2, 0, b'i', b'd'][..],
            // Template 7, 3 bytes.
            &[7, 0, 3, 0, 0, 0, b'<', b'p', b'>'],
            &[0x02, 7, 0],
            &[0x01, 7, 0],
            &[0x03, 0, 0, 0, 0, 1, 0, 0, 0],
            &[0x05, 1, 0, 0, 0, 0, 0],
            &[0x06, 1, 0, 0, 0, 1, 0, 0, 0],
            &[0xFF],
        ].concat(),
    )]
    #[case::batch_class_listen(
        &[],
        &[
            HtipOp::BatchBegin,
            HtipOp::ToggleClass { node: 0x0102_0304, class: "on".into(), enable: true },
            HtipOp::Listen { node: 0, event: Event::KeyUp, handler: 0x7FFF_FFFF },
            HtipOp::Remove { node: 9 },
            HtipOp::BatchCommit,
        ],
        [
            &[2, 0, b'o', b'n'][..],
            &[0x09],
            &[0x07, 4, 3, 2, 1, 0, 0, 1],
            &[0x08, 0, 0, 0, 0, 5, 0xFF, 0xFF, 0xFF, 0x7F],
            &[0x04, 9, 0, 0, 0],
            &[0x0A, 0xFF],
        ].concat(),
    )]
    fn streams_are_laid_out_as_the_spec_says(
        #[case] templates: &[(u16, &str)],
        #[case] ops: &[HtipOp],
        #[case] sections: Vec<u8>,
    ) {
        let bytes = encode(templates, ops).unwrap();
        let strings_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        let templates_len = u32::from_le_bytes(bytes[12..16].try_into().unwrap());
        let ops_len = u32::from_le_bytes(bytes[16..20].try_into().unwrap());
        assert_eq!(
            bytes[..HEADER_LEN],
            header(strings_len, templates_len, ops_len)[..]
        );
        assert_eq!(bytes[HEADER_LEN..], sections[..]);
        assert_eq!(
            bytes.len(),
            HEADER_LEN + (strings_len + templates_len + ops_len) as usize
        );
        let read = decode(&bytes).unwrap();
        assert_eq!(read.ops(), ops);
        assert_eq!(read.templates(), templates);
    }

    #[test]
    fn a_page_has_its_header_byte_for_byte() {
        let bytes = encode(&[(1, "<b>")], &[HtipOp::Cache { template: 1 }]).unwrap();
        assert_eq!(
            bytes,
            [
                &b"HTIP"[..],
                &[1, 0, 0, 0],
                &[0, 0, 0, 0],
                &[9, 0, 0, 0],
                &[4, 0, 0, 0],
                &[1, 0, 3, 0, 0, 0, b'<', b'b', b'>'],
                &[0x02, 1, 0, 0xFF],
            ]
            .concat()
        );
    }

    /// A stream with these sections, and a valid header for them.
    fn raw(strings: &[u8], templates: &[u8], ops: &[u8]) -> Vec<u8> {
        let mut out = header(
            strings.len() as u32,
            templates.len() as u32,
            ops.len() as u32,
        );
        out.extend(strings);
        out.extend(templates);
        out.extend(ops);
        out
    }

    const TPL: &[u8] = &[7, 0, 3, 0, 0, 0, b'<', b'p', b'>'];

    #[rstest]
    #[case::short(b"HTI".to_vec(), ErrorCode::BadMagic)]
    #[case::magic([&b"HTIQ"[..], &raw(&[], &[], &[0xFF])[4..]].concat(), ErrorCode::BadMagic)]
    #[case::header_cut(b"HTIP\x01\0\0\0".to_vec(), ErrorCode::Truncated)]
    #[case::header_cut_with_version_2(b"HTIP\x02\0\0\0\0\0\0\0".to_vec(), ErrorCode::UnsupportedVersion)]
    #[case::preamble_cut(b"HTIP\x02".to_vec(), ErrorCode::Truncated)]
    #[case::version({ let mut b = raw(&[], &[], &[0xFF]); b[4] = 2; b }, ErrorCode::UnsupportedVersion)]
    #[case::flags({ let mut b = raw(&[], &[], &[0xFF]); b[5] = 0x80; b }, ErrorCode::UnsupportedFlags)]
    #[case::reserved({ let mut b = raw(&[], &[], &[0xFF]); b[7] = 1; b }, ErrorCode::UnsupportedFlags)]
    #[case::cut({ let mut b = raw(&[], &[], &[0xFF]); b.pop(); b }, ErrorCode::Truncated)]
    #[case::long({ let mut b = raw(&[], &[], &[0xFF]); b.push(0xFF); b }, ErrorCode::TrailingBytes)]
    #[case::no_ops(raw(&[], &[], &[]), ErrorCode::MissingEnd)]
    #[case::string_length_cut(raw(&[1], &[], &[0xFF]), ErrorCode::BadEntry)]
    #[case::string_past(raw(&[2, 0, b'a'], &[], &[0xFF]), ErrorCode::BadEntry)]
    #[case::string_utf8(raw(&[1, 0, 0x80], &[], &[0xFF]), ErrorCode::InvalidUtf8)]
    #[case::template_head_cut(raw(&[], &[7, 0, 3, 0, 0], &[0xFF]), ErrorCode::BadEntry)]
    #[case::template_past(raw(&[], &[7, 0, 4, 0, 0, 0, b'<', b'p', b'>'], &[0xFF]), ErrorCode::BadEntry)]
    #[case::template_utf8(raw(&[], &[7, 0, 1, 0, 0, 0, 0xC0], &[0xFF]), ErrorCode::InvalidUtf8)]
    #[case::template_twice(raw(&[], &[TPL, TPL].concat(), &[0xFF]), ErrorCode::DuplicateTemplate)]
    #[case::string_index(raw(&[0, 0], &[], &[0x05, 0, 0, 0, 0, 1, 0, 0xFF]), ErrorCode::BadStringIndex)]
    #[case::undefined(raw(&[], TPL, &[0x02, 8, 0, 0xFF]), ErrorCode::UndefinedTemplate)]
    #[case::opcode(raw(&[], &[], &[0x00, 0xFF]), ErrorCode::UnknownOpcode)]
    #[case::enable(raw(&[0, 0], &[], &[0x07, 0, 0, 0, 0, 0, 0, 2, 0xFF]), ErrorCode::BadOperand)]
    #[case::event(raw(&[], &[], &[0x08, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0xFF]), ErrorCode::BadOperand)]
    #[case::handler(raw(&[], &[], &[0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0xFF]), ErrorCode::BadOperand)]
    #[case::nested(raw(&[], &[], &[0x09, 0x09, 0x0A, 0x0A, 0xFF]), ErrorCode::BatchMismatch)]
    #[case::commit(raw(&[], &[], &[0x0A, 0xFF]), ErrorCode::BatchMismatch)]
    #[case::end_in_batch(raw(&[], &[], &[0x09, 0xFF]), ErrorCode::BatchMismatch)]
    #[case::after_end(raw(&[], &[], &[0xFF, 0xFF]), ErrorCode::TrailingBytes)]
    #[case::operands_cut(raw(&[], &[], &[0x03, 0, 0, 0, 0, 0]), ErrorCode::Truncated)]
    #[case::no_end(raw(&[], &[], &[0x04, 0, 0, 0, 0]), ErrorCode::MissingEnd)]
    fn each_fault_gets_its_code(#[case] bytes: Vec<u8>, #[case] code: ErrorCode) {
        assert_eq!(decode(&bytes), Err(code));
    }

    #[test]
    fn the_writer_refuses_what_the_spec_refuses() {
        let too_long = "x".repeat(65_536);
        for (templates, ops, error) in [
            (
                &[(1, "a"), (1, "b")][..],
                vec![],
                EncodeError::DuplicateTemplate(1),
            ),
            (
                &[],
                vec![HtipOp::Cache { template: 3 }],
                EncodeError::UndefinedTemplate(3),
            ),
            (
                &[],
                vec![HtipOp::Remove { node: 1 << 31 }],
                EncodeError::IdOutOfRange(1 << 31),
            ),
            (&[], vec![HtipOp::BatchBegin], EncodeError::UnbalancedBatch),
            (&[], vec![HtipOp::BatchCommit], EncodeError::UnbalancedBatch),
            (
                &[],
                vec![HtipOp::SetText {
                    node: 0,
                    text: too_long.clone(),
                }],
                EncodeError::StringTooLong(65_536),
            ),
        ] {
            assert_eq!(encode(templates, &ops), Err(error));
        }
    }

    #[test]
    fn a_table_of_65_536_strings_is_the_most() {
        let ops = |n: u32| -> Vec<HtipOp> {
            (0..n)
                .map(|i| HtipOp::SetText {
                    node: 0,
                    text: i.to_string(),
                })
                .collect()
        };
        let bytes = encode(&[], &ops(65_536)).unwrap();
        assert_eq!(decode(&bytes).map(|s| s.strings().len()), Ok(65_536));
        assert_eq!(encode(&[], &ops(65_537)), Err(EncodeError::TooManyStrings));
        // One more entry in the table, by hand: refused even though no operation names it.
        let strings_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap());
        let mut more = bytes.clone();
        more[8..12].copy_from_slice(&(strings_len + 2).to_le_bytes());
        let at = HEADER_LEN + strings_len as usize;
        more.splice(at..at, [0, 0]);
        assert_eq!(decode(&more), Err(ErrorCode::BadEntry));
    }
}
