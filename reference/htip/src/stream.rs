//! The HTIP stream (`spec/htip.md`): `decode` checks a whole stream and borrows its strings
//! and templates in place; `encode` builds one from owned operations.
//!
//! The decoder is total: every input ends in a [`Stream`] or an [`ErrorCode`], reading each
//! byte a bounded number of times, with every read bounds-checked (no indexing that can
//! panic, no arithmetic that can overflow). The client calls it on bytes a server sent, and
//! the fuzz targets and property tests call it on everything else.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::ErrorCode;
use crate::reader::Reader;

/// The first four bytes of every stream.
pub const MAGIC: [u8; 4] = *b"HTIP";
/// The version this crate reads and writes.
pub const VERSION: u8 = 1;
/// The header's length.
pub const HEADER_LEN: usize = 20;
/// Most strings one stream can hold (indices are `u16`).
pub const MAX_STRINGS: usize = 1 << 16;
/// The largest node handle or handler id (the host ABI's `i32`).
pub const MAX_ID: u32 = i32::MAX as u32;

/// The opcodes.
pub mod opcode {
    /// Clone a cached template.
    pub const CLONE: u8 = 0x01;
    /// Hand a template to the host.
    pub const CACHE: u8 = 0x02;
    /// Append a node to another.
    pub const APPEND: u8 = 0x03;
    /// Remove a node.
    pub const REMOVE: u8 = 0x04;
    /// Set a node's text.
    pub const SET_TEXT: u8 = 0x05;
    /// Set an attribute.
    pub const SET_ATTR: u8 = 0x06;
    /// Add or remove a class.
    pub const TOGGLE_CLASS: u8 = 0x07;
    /// Attach a listener.
    pub const LISTEN: u8 = 0x08;
    /// Open a batch.
    pub const BATCH_BEGIN: u8 = 0x09;
    /// Close the open batch.
    pub const BATCH_COMMIT: u8 = 0x0A;
    /// The end of the stream.
    pub const END: u8 = 0xFF;
}

/// The events a listener can wait for, in the host ABI's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// `click`
    Click = 0,
    /// `input`
    Input = 1,
    /// `change`
    Change = 2,
    /// `submit`
    Submit = 3,
    /// `keydown`
    KeyDown = 4,
    /// `keyup`
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

    /// The event with this index.
    pub fn from_index(index: u8) -> Option<Self> {
        Self::ALL.get(usize::from(index)).copied()
    }

    /// Its index in the host ABI.
    pub fn index(self) -> u8 {
        self as u8
    }

    /// The DOM event name.
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

/// One operation of a checked stream, borrowing its text from the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Clone cached template `template`; the new node takes the next handle.
    Clone {
        /// The template id.
        template: u16,
    },
    /// Hand this stream's definition of `template` to the host.
    Cache {
        /// The template id.
        template: u16,
        /// Its HTML.
        html: &'a str,
    },
    /// Append `child` to `parent`.
    Append {
        /// The parent's handle.
        parent: u32,
        /// The child's handle.
        child: u32,
    },
    /// Remove `node`.
    Remove {
        /// The handle.
        node: u32,
    },
    /// Set `node`'s text.
    SetText {
        /// The handle.
        node: u32,
        /// The text.
        text: &'a str,
    },
    /// Set an attribute of `node`.
    SetAttr {
        /// The handle.
        node: u32,
        /// The attribute's name.
        key: &'a str,
        /// Its value.
        value: &'a str,
    },
    /// Add or remove a class of `node`.
    ToggleClass {
        /// The handle.
        node: u32,
        /// The class.
        class: &'a str,
        /// Add (true) or remove (false).
        enable: bool,
    },
    /// Attach a listener to `node`.
    Listen {
        /// The handle.
        node: u32,
        /// The event.
        event: Event,
        /// The handler id `on_event` will receive.
        handler: u32,
    },
    /// Open a batch.
    BatchBegin,
    /// Close the open batch.
    BatchCommit,
}

impl Op<'_> {
    /// The owned form, for building streams and comparing.
    pub fn to_owned_op(&self) -> HtipOp {
        match *self {
            Op::Clone { template } => HtipOp::Clone { template },
            Op::Cache { template, .. } => HtipOp::Cache { template },
            Op::Append { parent, child } => HtipOp::Append { parent, child },
            Op::Remove { node } => HtipOp::Remove { node },
            Op::SetText { node, text } => HtipOp::SetText {
                node,
                text: text.into(),
            },
            Op::SetAttr { node, key, value } => HtipOp::SetAttr {
                node,
                key: key.into(),
                value: value.into(),
            },
            Op::ToggleClass {
                node,
                class,
                enable,
            } => HtipOp::ToggleClass {
                node,
                class: class.into(),
                enable,
            },
            Op::Listen {
                node,
                event,
                handler,
            } => HtipOp::Listen {
                node,
                event,
                handler,
            },
            Op::BatchBegin => HtipOp::BatchBegin,
            Op::BatchCommit => HtipOp::BatchCommit,
        }
    }
}

/// One operation with owned text: what an encoder takes (the seed's `HtipOp`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HtipOp {
    /// Clone cached template `template`.
    Clone {
        /// The template id.
        template: u16,
    },
    /// Hand template `template` (defined in the same stream) to the host.
    Cache {
        /// The template id.
        template: u16,
    },
    /// Append `child` to `parent`.
    Append {
        /// The parent's handle.
        parent: u32,
        /// The child's handle.
        child: u32,
    },
    /// Remove `node`.
    Remove {
        /// The handle.
        node: u32,
    },
    /// Set `node`'s text.
    SetText {
        /// The handle.
        node: u32,
        /// The text.
        text: String,
    },
    /// Set an attribute of `node`.
    SetAttr {
        /// The handle.
        node: u32,
        /// The attribute's name.
        key: String,
        /// Its value.
        value: String,
    },
    /// Add or remove a class of `node`.
    ToggleClass {
        /// The handle.
        node: u32,
        /// The class.
        class: String,
        /// Add (true) or remove (false).
        enable: bool,
    },
    /// Attach a listener to `node`.
    Listen {
        /// The handle.
        node: u32,
        /// The event.
        event: Event,
        /// The handler id.
        handler: u32,
    },
    /// Open a batch.
    BatchBegin,
    /// Close the open batch.
    BatchCommit,
}

/// A checked stream: every structural rule of `spec/htip.md` holds, so its operations can
/// be read without further checks.
#[derive(Debug, Clone)]
pub struct Stream<'a> {
    strings: Vec<&'a str>,
    /// Sorted by id, each id once.
    templates: Vec<(u16, &'a str)>,
    ops: &'a [u8],
    clones: u32,
}

impl<'a> Stream<'a> {
    /// The strings, by index.
    pub fn strings(&self) -> &[&'a str] {
        &self.strings
    }

    /// The template definitions, sorted by id.
    pub fn templates(&self) -> &[(u16, &'a str)] {
        &self.templates
    }

    /// The HTML this stream defines for `id`.
    pub fn template(&self, id: u16) -> Option<&'a str> {
        self.templates
            .binary_search_by_key(&id, |(t, _)| *t)
            .ok()
            .and_then(|i| self.templates.get(i))
            .map(|(_, html)| *html)
    }

    /// How many nodes the stream creates.
    pub fn clone_count(&self) -> u32 {
        self.clones
    }

    /// The operations, in order (`END` excluded).
    pub fn ops(&self) -> Ops<'a, '_> {
        Ops {
            stream: self,
            reader: Reader::new(self.ops),
        }
    }
}

/// The operations of a checked stream.
#[derive(Debug)]
pub struct Ops<'a, 's> {
    stream: &'s Stream<'a>,
    reader: Reader<'a>,
}

impl<'a> Iterator for Ops<'a, '_> {
    type Item = Op<'a>;

    fn next(&mut self) -> Option<Op<'a>> {
        // The stream was checked, so every read succeeds; a failure ends the iteration
        // rather than panicking.
        let strings = &self.stream.strings;
        let string = |i: u16| strings.get(usize::from(i)).copied();
        let r = &mut self.reader;
        let op = match r.u8().ok()? {
            opcode::CLONE => Op::Clone {
                template: r.u16().ok()?,
            },
            opcode::CACHE => {
                let template = r.u16().ok()?;
                Op::Cache {
                    template,
                    html: self.stream.template(template)?,
                }
            }
            opcode::APPEND => Op::Append {
                parent: r.u32().ok()?,
                child: r.u32().ok()?,
            },
            opcode::REMOVE => Op::Remove {
                node: r.u32().ok()?,
            },
            opcode::SET_TEXT => Op::SetText {
                node: r.u32().ok()?,
                text: string(r.u16().ok()?)?,
            },
            opcode::SET_ATTR => Op::SetAttr {
                node: r.u32().ok()?,
                key: string(r.u16().ok()?)?,
                value: string(r.u16().ok()?)?,
            },
            opcode::TOGGLE_CLASS => Op::ToggleClass {
                node: r.u32().ok()?,
                class: string(r.u16().ok()?)?,
                enable: r.u8().ok()? == 1,
            },
            opcode::LISTEN => Op::Listen {
                node: r.u32().ok()?,
                event: Event::from_index(r.u8().ok()?)?,
                handler: r.u32().ok()?,
            },
            opcode::BATCH_BEGIN => Op::BatchBegin,
            opcode::BATCH_COMMIT => Op::BatchCommit,
            _ => return None,
        };
        Some(op)
    }
}

/// The section lengths a header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The strings section's length.
    pub strings_len: u32,
    /// The templates section's length.
    pub templates_len: u32,
    /// The ops section's length.
    pub ops_len: u32,
}

impl Header {
    /// Reads and checks the header of `bytes`, and that `bytes` is exactly as long as it
    /// declares.
    pub fn read(bytes: &[u8]) -> Result<Self, ErrorCode> {
        if bytes.get(..4) != Some(&MAGIC[..]) {
            return Err(ErrorCode::BadMagic);
        }
        let mut r = Reader::new(bytes);
        r.skip(4)?;
        let version = r.u8()?;
        let flags = r.u8()?;
        let reserved = r.u16()?;
        let header = Header {
            strings_len: r.u32()?,
            templates_len: r.u32()?,
            ops_len: r.u32()?,
        };
        if version != VERSION {
            return Err(ErrorCode::UnsupportedVersion);
        }
        if flags != 0 || reserved != 0 {
            return Err(ErrorCode::UnsupportedFlags);
        }
        // u64: three u32 lengths and the header cannot overflow it.
        let declared = HEADER_LEN as u64
            + u64::from(header.strings_len)
            + u64::from(header.templates_len)
            + u64::from(header.ops_len);
        let actual = bytes.len() as u64;
        if actual < declared {
            return Err(ErrorCode::Truncated);
        }
        if actual > declared {
            return Err(ErrorCode::TrailingBytes);
        }
        if header.ops_len == 0 {
            return Err(ErrorCode::MissingEnd);
        }
        Ok(header)
    }
}

/// Checks `bytes` as a whole stream (`spec/htip.md`, "Checking a stream").
pub fn decode(bytes: &[u8]) -> Result<Stream<'_>, ErrorCode> {
    let header = Header::read(bytes)?;
    let mut r = Reader::new(bytes);
    r.skip(HEADER_LEN)?;
    let strings = read_strings(r.bytes(header.strings_len as usize)?)?;
    let templates = read_templates(r.bytes(header.templates_len as usize)?)?;
    let ops = r.bytes(header.ops_len as usize)?;
    let mut stream = Stream {
        strings,
        templates,
        ops,
        clones: 0,
    };
    stream.clones = check_ops(&stream)?;
    Ok(stream)
}

fn read_strings(section: &[u8]) -> Result<Vec<&str>, ErrorCode> {
    let mut r = Reader::new(section);
    let mut strings = Vec::new();
    while !r.is_empty() {
        if strings.len() == MAX_STRINGS {
            return Err(ErrorCode::BadEntry);
        }
        let len = r.u16().map_err(|_| ErrorCode::BadEntry)?;
        let text = r.bytes(usize::from(len)).map_err(|_| ErrorCode::BadEntry)?;
        // `try_reserve`: in the client an allocation failure must be a code, not a trap.
        strings.try_reserve(1).map_err(|_| ErrorCode::OutOfMemory)?;
        strings.push(core::str::from_utf8(text).map_err(|_| ErrorCode::InvalidUtf8)?);
    }
    Ok(strings)
}

/// Sorts templates by id in O(n log n) without recursion or panics: `core`'s sorts cost the
/// client several kilobytes of code, this a few hundred bytes.
fn heapsort_by_id(v: &mut [(u16, &str)]) {
    fn sift_down(v: &mut [(u16, &str)], mut root: usize, end: usize) {
        loop {
            let mut child = 2 * root + 1;
            if child >= end {
                return;
            }
            let key = |v: &[(u16, &str)], i: usize| v.get(i).map_or(0, |t| t.0);
            if child + 1 < end && key(v, child) < key(v, child + 1) {
                child += 1;
            }
            if key(v, root) >= key(v, child) {
                return;
            }
            v.swap(root, child);
            root = child;
        }
    }
    let n = v.len();
    for start in (0..n / 2).rev() {
        sift_down(v, start, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

fn read_templates(section: &[u8]) -> Result<Vec<(u16, &str)>, ErrorCode> {
    let mut r = Reader::new(section);
    let mut templates = Vec::new();
    while !r.is_empty() {
        let id = r.u16().map_err(|_| ErrorCode::BadEntry)?;
        let len = r.u32().map_err(|_| ErrorCode::BadEntry)?;
        let html = r.bytes(len as usize).map_err(|_| ErrorCode::BadEntry)?;
        let html = core::str::from_utf8(html).map_err(|_| ErrorCode::InvalidUtf8)?;
        templates
            .try_reserve(1)
            .map_err(|_| ErrorCode::OutOfMemory)?;
        templates.push((id, html));
    }
    heapsort_by_id(&mut templates);
    if templates
        .windows(2)
        .any(|w| matches!(w, [a, b] if a.0 == b.0))
    {
        return Err(ErrorCode::DuplicateTemplate);
    }
    Ok(templates)
}

/// Checks every operation; returns how many nodes the stream creates.
fn check_ops(stream: &Stream<'_>) -> Result<u32, ErrorCode> {
    let mut r = Reader::new(stream.ops);
    let string_count = stream.strings.len();
    let string = |r: &mut Reader<'_>| -> Result<(), ErrorCode> {
        if usize::from(r.u16()?) < string_count {
            Ok(())
        } else {
            Err(ErrorCode::BadStringIndex)
        }
    };
    let id = |r: &mut Reader<'_>| -> Result<(), ErrorCode> {
        if r.u32()? <= MAX_ID {
            Ok(())
        } else {
            Err(ErrorCode::BadOperand)
        }
    };
    let mut in_batch = false;
    let mut clones: u32 = 0;
    loop {
        let Ok(code) = r.u8() else {
            return Err(ErrorCode::MissingEnd);
        };
        match code {
            opcode::CLONE => {
                r.u16()?;
                // At most one clone per three bytes of a u32-long section: no overflow.
                clones = clones.saturating_add(1);
            }
            opcode::CACHE => {
                if stream.template(r.u16()?).is_none() {
                    return Err(ErrorCode::UndefinedTemplate);
                }
            }
            opcode::APPEND => {
                id(&mut r)?;
                id(&mut r)?;
            }
            opcode::REMOVE => id(&mut r)?,
            opcode::SET_TEXT => {
                id(&mut r)?;
                string(&mut r)?;
            }
            opcode::SET_ATTR => {
                id(&mut r)?;
                string(&mut r)?;
                string(&mut r)?;
            }
            opcode::TOGGLE_CLASS => {
                id(&mut r)?;
                string(&mut r)?;
                if r.u8()? > 1 {
                    return Err(ErrorCode::BadOperand);
                }
            }
            opcode::LISTEN => {
                id(&mut r)?;
                if Event::from_index(r.u8()?).is_none() {
                    return Err(ErrorCode::BadOperand);
                }
                id(&mut r)?;
            }
            opcode::BATCH_BEGIN => {
                if in_batch {
                    return Err(ErrorCode::BatchMismatch);
                }
                in_batch = true;
            }
            opcode::BATCH_COMMIT => {
                if !in_batch {
                    return Err(ErrorCode::BatchMismatch);
                }
                in_batch = false;
            }
            opcode::END => {
                if in_batch {
                    return Err(ErrorCode::BatchMismatch);
                }
                if !r.is_empty() {
                    return Err(ErrorCode::TrailingBytes);
                }
                return Ok(clones);
            }
            _ => return Err(ErrorCode::UnknownOpcode),
        }
    }
}

/// Why operations could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// More distinct strings than indices.
    #[error("more than 65536 distinct strings")]
    TooManyStrings,
    /// A string longer than a `u16` length.
    #[error("a string of {0} bytes (at most 65535)")]
    StringTooLong(usize),
    /// A section longer than a `u32` length.
    #[error("a section over 4 GiB")]
    SectionTooLong,
    /// A template id defined twice.
    #[error("template {0} defined twice")]
    DuplicateTemplate(u16),
    /// `Cache` of a template not defined.
    #[error("template {0} cached but not defined")]
    UndefinedTemplate(u16),
    /// A handle or handler above `i32::MAX`.
    #[error("id {0} above 2^31 - 1")]
    IdOutOfRange(u32),
    /// Batches that do not pair up.
    #[error("unbalanced batch")]
    UnbalancedBatch,
}

/// Builds a stream of `ops` with the template definitions `templates` (id, HTML). Equal
/// strings share one entry of the string table.
pub fn encode(templates: &[(u16, &str)], ops: &[HtipOp]) -> Result<Vec<u8>, EncodeError> {
    let mut table = StringTable::default();
    let mut ops_bytes = Vec::new();
    let mut sorted: Vec<u16> = templates.iter().map(|(id, _)| *id).collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(EncodeError::DuplicateTemplate(w[0]));
    }
    let id = |v: u32| {
        if v <= MAX_ID {
            Ok(v.to_le_bytes())
        } else {
            Err(EncodeError::IdOutOfRange(v))
        }
    };
    let mut in_batch = false;
    for op in ops {
        match op {
            HtipOp::Clone { template } => {
                ops_bytes.push(opcode::CLONE);
                ops_bytes.extend(template.to_le_bytes());
            }
            HtipOp::Cache { template } => {
                if sorted.binary_search(template).is_err() {
                    return Err(EncodeError::UndefinedTemplate(*template));
                }
                ops_bytes.push(opcode::CACHE);
                ops_bytes.extend(template.to_le_bytes());
            }
            HtipOp::Append { parent, child } => {
                ops_bytes.push(opcode::APPEND);
                ops_bytes.extend(id(*parent)?);
                ops_bytes.extend(id(*child)?);
            }
            HtipOp::Remove { node } => {
                ops_bytes.push(opcode::REMOVE);
                ops_bytes.extend(id(*node)?);
            }
            HtipOp::SetText { node, text } => {
                ops_bytes.push(opcode::SET_TEXT);
                ops_bytes.extend(id(*node)?);
                ops_bytes.extend(table.index(text)?.to_le_bytes());
            }
            HtipOp::SetAttr { node, key, value } => {
                ops_bytes.push(opcode::SET_ATTR);
                ops_bytes.extend(id(*node)?);
                ops_bytes.extend(table.index(key)?.to_le_bytes());
                ops_bytes.extend(table.index(value)?.to_le_bytes());
            }
            HtipOp::ToggleClass {
                node,
                class,
                enable,
            } => {
                ops_bytes.push(opcode::TOGGLE_CLASS);
                ops_bytes.extend(id(*node)?);
                ops_bytes.extend(table.index(class)?.to_le_bytes());
                ops_bytes.push(u8::from(*enable));
            }
            HtipOp::Listen {
                node,
                event,
                handler,
            } => {
                ops_bytes.push(opcode::LISTEN);
                ops_bytes.extend(id(*node)?);
                ops_bytes.push(event.index());
                ops_bytes.extend(id(*handler)?);
            }
            HtipOp::BatchBegin => {
                if in_batch {
                    return Err(EncodeError::UnbalancedBatch);
                }
                in_batch = true;
                ops_bytes.push(opcode::BATCH_BEGIN);
            }
            HtipOp::BatchCommit => {
                if !in_batch {
                    return Err(EncodeError::UnbalancedBatch);
                }
                in_batch = false;
                ops_bytes.push(opcode::BATCH_COMMIT);
            }
        }
    }
    if in_batch {
        return Err(EncodeError::UnbalancedBatch);
    }
    ops_bytes.push(opcode::END);

    let mut template_bytes = Vec::new();
    for (tid, html) in templates {
        let len = u32::try_from(html.len()).map_err(|_| EncodeError::SectionTooLong)?;
        template_bytes.extend(tid.to_le_bytes());
        template_bytes.extend(len.to_le_bytes());
        template_bytes.extend(html.as_bytes());
    }
    let section = |b: &[u8]| u32::try_from(b.len()).map_err(|_| EncodeError::SectionTooLong);
    let (strings_len, templates_len, ops_len) = (
        section(&table.bytes)?,
        section(&template_bytes)?,
        section(&ops_bytes)?,
    );
    let mut out =
        Vec::with_capacity(HEADER_LEN + table.bytes.len() + template_bytes.len() + ops_bytes.len());
    out.extend(MAGIC);
    out.push(VERSION);
    out.push(0);
    out.extend(0u16.to_le_bytes());
    out.extend(strings_len.to_le_bytes());
    out.extend(templates_len.to_le_bytes());
    out.extend(ops_len.to_le_bytes());
    out.extend(table.bytes);
    out.extend(template_bytes);
    out.extend(ops_bytes);
    Ok(out)
}

/// The string table being built: each distinct string once.
#[derive(Default)]
struct StringTable {
    bytes: Vec<u8>,
    index: alloc::collections::BTreeMap<String, u16>,
}

impl StringTable {
    fn index(&mut self, s: &str) -> Result<u16, EncodeError> {
        if let Some(i) = self.index.get(s) {
            return Ok(*i);
        }
        let len = u16::try_from(s.len()).map_err(|_| EncodeError::StringTooLong(s.len()))?;
        let i = u16::try_from(self.index.len()).map_err(|_| EncodeError::TooManyStrings)?;
        self.bytes.extend(len.to_le_bytes());
        self.bytes.extend(s.as_bytes());
        self.index.insert(s.into(), i);
        Ok(i)
    }
}
