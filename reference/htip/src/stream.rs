//! The HTIP stream (`spec/htip.md`): `decode` checks a whole stream and borrows its strings
//! and templates in place, recording where each starts in [`Tables`] (on the heap, or the
//! caller's own, so the client decodes without allocating); `encode` builds one from owned
//! operations.
//!
//! The decoder is total: every input ends in a [`Stream`] or an [`ErrorCode`], reading each
//! byte a bounded number of times, with every read bounds-checked (no indexing that can
//! panic, no arithmetic that can overflow). The client calls it on bytes a server sent, and
//! the fuzz targets and property tests call it on everything else.

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::ErrorCode;
use crate::reader::Reader;
use crate::utf8;

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
        html: Text<'a>,
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
        text: Text<'a>,
    },
    /// Set an attribute of `node`.
    SetAttr {
        /// The handle.
        node: u32,
        /// The attribute's name.
        key: Text<'a>,
        /// Its value.
        value: Text<'a>,
    },
    /// Add or remove a class of `node`.
    ToggleClass {
        /// The handle.
        node: u32,
        /// The class.
        class: Text<'a>,
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
                text: text.as_str().into(),
            },
            Op::SetAttr { node, key, value } => HtipOp::SetAttr {
                node,
                key: key.as_str().into(),
                value: value.as_str().into(),
            },
            Op::ToggleClass {
                node,
                class,
                enable,
            } => HtipOp::ToggleClass {
                node,
                class: class.as_str().into(),
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

/// Text of a checked stream: bytes `decode` found to be UTF-8, borrowed in place. The
/// client hands the bytes to its host as they are; `as_str` is for native readers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Text<'a>(&'a [u8]);

impl<'a> Text<'a> {
    /// The UTF-8 bytes.
    pub fn as_bytes(self) -> &'a [u8] {
        self.0
    }

    /// The text (UTF-8, checked when the stream was decoded).
    pub fn as_str(self) -> &'a str {
        core::str::from_utf8(self.0).unwrap_or_default()
    }

    /// Its length in bytes.
    pub fn len(self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for Text<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self.as_str(), f)
    }
}

impl core::fmt::Display for Text<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Text<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// The number of template ids (`u16`).
pub const TEMPLATE_IDS: usize = 1 << 16;

/// Where `decode` records each string's and each template's entry, so a checked stream finds
/// either in one step and nothing is sorted: where string `i`'s text starts in the strings
/// section (its `u16` length just before), and where template `id`'s HTML starts in the
/// templates section (never 0: its id and `u32` length come first, the length just before).
/// The client keeps them in static arrays, so rendering allocates nothing
/// ([`InlineTables`]); [`HeapTables`] keeps only what a stream uses. Between decodes no
/// template is recorded (a [`Stream`] clears them when it is dropped).
pub trait Tables {
    /// Where string `i`'s text starts, if recorded.
    fn string(&self, i: usize) -> Option<u32>;
    /// Records string `i`, the next one (`i` strings are recorded); false when the table is
    /// full ([`MAX_STRINGS`]).
    fn set_string(&mut self, i: usize, at: u32) -> bool;
    /// Where template `id`'s HTML starts, or 0.
    fn template(&self, id: u16) -> u32;
    /// Records template `id` at `at` (not 0).
    fn set_template(&mut self, id: u16, at: u32);
    /// Forgets every template.
    fn clear_templates(&mut self);
}

impl<T: Tables + ?Sized> Tables for &mut T {
    fn string(&self, i: usize) -> Option<u32> {
        (**self).string(i)
    }
    fn set_string(&mut self, i: usize, at: u32) -> bool {
        (**self).set_string(i, at)
    }
    fn template(&self, id: u16) -> u32 {
        (**self).template(id)
    }
    fn set_template(&mut self, id: u16, at: u32) {
        (**self).set_template(id, at);
    }
    fn clear_templates(&mut self) {
        (**self).clear_templates();
    }
}

/// Tables on the heap, as large as the streams decoded with them.
#[derive(Debug, Clone, Default)]
pub struct HeapTables {
    strings: Vec<u32>,
    templates: alloc::collections::BTreeMap<u16, u32>,
}

impl HeapTables {
    /// Empty tables.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Tables for HeapTables {
    fn string(&self, i: usize) -> Option<u32> {
        self.strings.get(i).copied()
    }
    fn set_string(&mut self, i: usize, at: u32) -> bool {
        self.strings.truncate(i);
        if i != self.strings.len() || i >= MAX_STRINGS {
            return false;
        }
        self.strings.push(at);
        true
    }
    fn template(&self, id: u16) -> u32 {
        self.templates.get(&id).copied().unwrap_or(0)
    }
    fn set_template(&mut self, id: u16, at: u32) {
        self.templates.insert(id, at);
    }
    fn clear_templates(&mut self) {
        self.templates.clear();
    }
}

/// Tables inline (512 KiB): for a `static`, as the client keeps them.
#[derive(Debug)]
pub struct InlineTables {
    strings: [u32; MAX_STRINGS],
    templates: [u32; TEMPLATE_IDS],
}

impl InlineTables {
    /// Empty tables.
    pub const fn new() -> Self {
        Self {
            strings: [0; MAX_STRINGS],
            templates: [0; TEMPLATE_IDS],
        }
    }
}

impl Default for InlineTables {
    fn default() -> Self {
        Self::new()
    }
}

impl Tables for InlineTables {
    fn string(&self, i: usize) -> Option<u32> {
        self.strings.get(i).copied()
    }
    fn set_string(&mut self, i: usize, at: u32) -> bool {
        match self.strings.get_mut(i) {
            Some(slot) => {
                *slot = at;
                true
            }
            None => false,
        }
    }
    fn template(&self, id: u16) -> u32 {
        self.templates.get(usize::from(id)).copied().unwrap_or(0)
    }
    fn set_template(&mut self, id: u16, at: u32) {
        if let Some(slot) = self.templates.get_mut(usize::from(id)) {
            *slot = at;
        }
    }
    fn clear_templates(&mut self) {
        // One `memory.fill` in the client.
        self.templates.fill(0);
    }
}

/// A checked stream: every structural rule of `spec/htip.md` holds, so its operations can
/// be read without further checks.
pub struct Stream<'a, T: Tables = HeapTables> {
    strings: &'a [u8],
    templates: &'a [u8],
    ops: &'a [u8],
    tables: T,
    string_count: usize,
    clones: u32,
}

impl<T: Tables> core::fmt::Debug for Stream<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stream")
            .field("strings", &self.string_count)
            .field("templates_len", &self.templates.len())
            .field("ops_len", &self.ops.len())
            .field("clones", &self.clones)
            .finish()
    }
}

impl<T: Tables> Drop for Stream<'_, T> {
    #[inline(never)]
    fn drop(&mut self) {
        // Back to no template recorded, when any was.
        if !self.templates.is_empty() {
            self.tables.clear_templates();
        }
    }
}

/// One entry of the templates section: its id and HTML (a cut entry records `TRUNCATED`).
fn template_entry<'a>(r: &mut Reader<'a>) -> (u16, &'a [u8]) {
    let id = r.u16();
    let len = r.u32();
    (id, r.bytes(len as usize))
}

/// One entry of the strings section (a cut entry records `TRUNCATED`).
fn string_entry<'a>(r: &mut Reader<'a>) -> &'a [u8] {
    let len = r.u16();
    r.bytes(usize::from(len))
}

/// The text at `at` of `section`, its length the `width` bytes before it (how both
/// tables record entries).
fn text_at(section: &[u8], at: u32, width: usize) -> Option<Text<'_>> {
    let at = at as usize;
    let mut len = Reader::new(section.get(at.checked_sub(width)?..at)?);
    let len = len.le_bytes(width) as usize;
    section.get(at..at.checked_add(len)?).map(Text)
}

impl<'a, T: Tables> Stream<'a, T> {
    /// String `i`, if the stream has it.
    pub fn string(&self, i: u16) -> Option<Text<'a>> {
        if usize::from(i) >= self.string_count {
            return None;
        }
        text_at(self.strings, self.tables.string(usize::from(i))?, 2)
    }

    /// How many strings the stream holds.
    pub fn string_count(&self) -> usize {
        self.string_count
    }

    /// The HTML this stream defines for `id`.
    pub fn template(&self, id: u16) -> Option<Text<'a>> {
        match self.tables.template(id) {
            0 => None,
            at => text_at(self.templates, at, 4),
        }
    }

    /// The template definitions, sorted by id.
    pub fn templates(&self) -> Vec<(u16, &'a str)> {
        let mut r = Reader::new(self.templates);
        let mut all = Vec::new();
        while !r.is_empty() {
            let (id, html) = template_entry(&mut r);
            all.push((id, Text(html).as_str()));
        }
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }

    /// How many nodes the stream creates.
    pub fn clone_count(&self) -> u32 {
        self.clones
    }

    /// The operations, in order (`END` excluded).
    pub fn ops(&self) -> Ops<'a, '_, T> {
        Ops {
            stream: self,
            reader: Reader::new(self.ops),
        }
    }

    /// Reads and checks one operation at `r`: `None` at `END`. The one place operations
    /// are parsed: `decode` checks a stream with it, [`Ops`] reads a checked one.
    fn read_op(&self, r: &mut Reader<'a>) -> Result<Option<Op<'a>>, ErrorCode> {
        let code = r.u8();
        if r.status().is_err() {
            return Err(ErrorCode::MissingEnd);
        }
        let op = match code {
            opcode::CLONE => Op::Clone { template: r.u16() },
            opcode::CACHE => {
                let template = r.u16();
                let html = self.template(template);
                if html.is_none() {
                    r.fail(ErrorCode::UndefinedTemplate);
                }
                Op::Cache {
                    template,
                    html: html.unwrap_or(Text(&[])),
                }
            }
            opcode::APPEND => Op::Append {
                parent: read_id(r),
                child: read_id(r),
            },
            opcode::REMOVE => Op::Remove { node: read_id(r) },
            opcode::SET_TEXT => Op::SetText {
                node: read_id(r),
                text: self.read_string(r),
            },
            opcode::SET_ATTR => Op::SetAttr {
                node: read_id(r),
                key: self.read_string(r),
                value: self.read_string(r),
            },
            opcode::TOGGLE_CLASS => Op::ToggleClass {
                node: read_id(r),
                class: self.read_string(r),
                enable: match r.u8() {
                    0 => false,
                    1 => true,
                    _ => {
                        r.fail(ErrorCode::BadOperand);
                        false
                    }
                },
            },
            opcode::LISTEN => Op::Listen {
                node: read_id(r),
                event: Event::from_index(r.u8()).unwrap_or_else(|| {
                    r.fail(ErrorCode::BadOperand);
                    Event::Click
                }),
                handler: read_id(r),
            },
            opcode::BATCH_BEGIN => Op::BatchBegin,
            opcode::BATCH_COMMIT => Op::BatchCommit,
            opcode::END => return Ok(None),
            _ => return Err(ErrorCode::UnknownOpcode),
        };
        r.check(Some(op))
    }

    /// A string index, and the string (an index the table lacks records `BAD_STRING_INDEX`).
    fn read_string(&self, r: &mut Reader<'a>) -> Text<'a> {
        let i = r.u16();
        self.string(i).unwrap_or_else(|| {
            r.fail(ErrorCode::BadStringIndex);
            Text(&[])
        })
    }
}

/// A node handle or handler id (one above `MAX_ID` records `BAD_OPERAND`).
fn read_id(r: &mut Reader<'_>) -> u32 {
    let id = r.u32();
    if id > MAX_ID {
        r.fail(ErrorCode::BadOperand);
    }
    id
}

/// The operations of a checked stream.
#[derive(Debug)]
pub struct Ops<'a, 's, T: Tables = HeapTables> {
    stream: &'s Stream<'a, T>,
    reader: Reader<'a>,
}

impl<'a, T: Tables> Iterator for Ops<'a, '_, T> {
    type Item = Op<'a>;

    fn next(&mut self) -> Option<Op<'a>> {
        // The stream was checked, so every read succeeds and `END` comes last.
        self.stream.read_op(&mut self.reader).ok().flatten()
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
        let mut r = Reader::new(bytes);
        r.preamble(MAGIC, VERSION)?;
        let header = Header {
            strings_len: r.u32(),
            templates_len: r.u32(),
            ops_len: r.u32(),
        };
        r.status()?;
        // u64: three u32 lengths cannot overflow it.
        let declared = u64::from(header.strings_len)
            + u64::from(header.templates_len)
            + u64::from(header.ops_len);
        let actual = r.remaining() as u64;
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

/// Checks `bytes` as a whole stream (`spec/htip.md`, "Checking a stream"), with its tables
/// on the heap.
pub fn decode(bytes: &[u8]) -> Result<Stream<'_>, ErrorCode> {
    decode_with(bytes, HeapTables::new())
}

/// Checks `bytes` as a whole stream, recording its strings and templates in `tables`.
pub fn decode_with<T: Tables>(bytes: &[u8], tables: T) -> Result<Stream<'_, T>, ErrorCode> {
    decode_checking(bytes, tables, |_| Ok(()))
}

/// Checks `bytes` as a whole stream, and each operation, in order, with `check` too (a
/// client's checks of its own state, made in the same pass).
pub fn decode_checking<'a, T: Tables>(
    bytes: &'a [u8],
    tables: T,
    check: impl FnMut(&Op<'a>) -> Result<(), ErrorCode>,
) -> Result<Stream<'a, T>, ErrorCode> {
    let header = Header::read(bytes)?;
    let mut r = Reader::new(bytes);
    r.bytes(HEADER_LEN);
    // `Header::read` checked that the sections fill the rest exactly.
    let mut stream = Stream {
        strings: r.bytes(header.strings_len as usize),
        templates: r.bytes(header.templates_len as usize),
        ops: r.bytes(header.ops_len as usize),
        tables,
        string_count: 0,
        clones: 0,
    };
    // From here an error drops `stream`, which clears the template slots it set.
    index_strings(&mut stream)?;
    index_templates(&mut stream)?;
    check_ops(&mut stream, check)?;
    Ok(stream)
}

fn index_strings<T: Tables>(stream: &mut Stream<'_, T>) -> Result<(), ErrorCode> {
    let section = stream.strings;
    let mut r = Reader::new(section);
    let mut count = 0;
    while !r.is_empty() {
        let text = string_entry(&mut r);
        // Section lengths are u32, so offsets fit.
        let at = (section.len() - r.remaining() - text.len()) as u32;
        if r.status().is_err() {
            return Err(ErrorCode::BadEntry);
        }
        if !stream.tables.set_string(count, at) {
            return Err(ErrorCode::BadEntry);
        }
        if !utf8::is_valid(text) {
            return Err(ErrorCode::InvalidUtf8);
        }
        count += 1;
    }
    stream.string_count = count;
    Ok(())
}

fn index_templates<T: Tables>(stream: &mut Stream<'_, T>) -> Result<(), ErrorCode> {
    let section = stream.templates;
    let mut r = Reader::new(section);
    while !r.is_empty() {
        let (id, html) = template_entry(&mut r);
        // Section lengths are u32, so offsets fit; an HTML start is at least 6.
        let at = (section.len() - r.remaining() - html.len()) as u32;
        if r.status().is_err() {
            return Err(ErrorCode::BadEntry);
        }
        if !utf8::is_valid(html) {
            return Err(ErrorCode::InvalidUtf8);
        }
        if stream.tables.template(id) != 0 {
            return Err(ErrorCode::DuplicateTemplate);
        }
        stream.tables.set_template(id, at);
    }
    Ok(())
}

/// Checks every operation, with `check` too, and counts the nodes the stream creates.
fn check_ops<'a, T: Tables>(
    stream: &mut Stream<'a, T>,
    mut check: impl FnMut(&Op<'a>) -> Result<(), ErrorCode>,
) -> Result<(), ErrorCode> {
    let mut r = Reader::new(stream.ops);
    let mut in_batch = false;
    let mut clones: u32 = 0;
    while let Some(op) = stream.read_op(&mut r)? {
        check(&op)?;
        match op {
            // At most one clone per three bytes of a u32-long section: no overflow.
            Op::Clone { .. } => clones = clones.saturating_add(1),
            Op::BatchBegin | Op::BatchCommit => {
                if in_batch == matches!(op, Op::BatchBegin) {
                    return Err(ErrorCode::BatchMismatch);
                }
                in_batch = !in_batch;
            }
            _ => {}
        }
    }
    if in_batch {
        return Err(ErrorCode::BatchMismatch);
    }
    if !r.is_empty() {
        return Err(ErrorCode::TrailingBytes);
    }
    stream.clones = clones;
    Ok(())
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
