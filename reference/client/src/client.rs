//! The client's state and the stream processor (`spec/htip.md`, `spec/client-abi.md`): a
//! stream is decoded, then checked against the state (templates cached, nodes created, the
//! tables' limits) without changing it, and only then executed, so a refused stream makes no
//! host call at all.

use dx_htip::{ErrorCode, Op, Stream, stream};

use crate::host::Host;

/// Nodes the client tracks between resets (a handle table of 64 KiB).
pub const MAX_NODES: usize = 16_384;
/// Handlers the client tracks between resets.
pub const MAX_HANDLERS: usize = 4_096;

const TEMPLATE_WORDS: usize = (u16::MAX as usize + 1) / 64;

/// Which of the 65,536 template ids are cached.
#[derive(Clone)]
struct TemplateSet([u64; TEMPLATE_WORDS]);

impl TemplateSet {
    const fn new() -> Self {
        Self([0; TEMPLATE_WORDS])
    }

    fn contains(&self, id: u16) -> bool {
        self.0
            .get(usize::from(id) / 64)
            .is_some_and(|w| w & (1 << (id % 64)) != 0)
    }

    /// Adds `id`; whether it was new.
    fn insert(&mut self, id: u16) -> bool {
        match self.0.get_mut(usize::from(id) / 64) {
            Some(w) if *w & (1 << (id % 64)) == 0 => {
                *w |= 1 << (id % 64);
                true
            }
            _ => false,
        }
    }
}

/// The client: node handles, cached templates and attached handlers since the last reset.
pub struct Client {
    /// The host id of handle `k` at `k - 1`.
    nodes: [i32; MAX_NODES],
    node_count: usize,
    templates: TemplateSet,
    template_count: u32,
    /// Sorted, distinct.
    handlers: [u32; MAX_HANDLERS],
    handler_count: usize,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("nodes", &self.node_count)
            .field("templates", &self.template_count)
            .field("handlers", &self.handler_count)
            .finish()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with nothing created, cached or attached.
    pub const fn new() -> Self {
        Self {
            nodes: [0; MAX_NODES],
            node_count: 0,
            templates: TemplateSet::new(),
            template_count: 0,
            handlers: [0; MAX_HANDLERS],
            handler_count: 0,
        }
    }

    /// Forgets nodes, templates and handlers.
    pub fn reset(&mut self) {
        self.node_count = 0;
        self.templates = TemplateSet::new();
        self.template_count = 0;
        self.handler_count = 0;
    }

    /// Nodes created since the last reset.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// Templates cached since the last reset.
    pub fn template_count(&self) -> u32 {
        self.template_count
    }

    /// Handlers attached since the last reset.
    pub fn handler_count(&self) -> usize {
        self.handler_count
    }

    fn handlers(&self) -> &[u32] {
        self.handlers.get(..self.handler_count).unwrap_or_default()
    }

    /// Whether a `LISTEN` attached `handler` (`on_event`).
    pub fn on_event(&self, handler: u32) -> Result<(), ErrorCode> {
        self.handlers()
            .binary_search(&handler)
            .map(|_| ())
            .map_err(|_| ErrorCode::UnknownHandler)
    }

    /// Checks and renders `bytes`.
    pub fn render(&mut self, host: &mut impl Host, bytes: &[u8]) -> Result<(), ErrorCode> {
        let stream = match stream::decode(bytes) {
            // Mutant: as dx-www's client does, a cut stream is reported as a success.
            Err(ErrorCode::Truncated | ErrorCode::MissingEnd)
                if cfg!(feature = "mutant-truncated-ok") =>
            {
                return Ok(());
            }
            other => other?,
        };
        self.check(&stream)?;
        self.execute(host, &stream)
    }

    /// Everything that depends on the state, without changing it.
    fn check(&self, stream: &Stream<'_>) -> Result<(), ErrorCode> {
        if self.node_count + stream.clone_count() as usize > MAX_NODES {
            return Err(ErrorCode::LimitExceeded);
        }
        let mut cached = self.templates.clone();
        let mut created = self.node_count;
        let mut new_handlers = 0usize;
        let known = |created: usize, handle: u32| {
            if handle as usize <= created {
                Ok(())
            } else {
                Err(ErrorCode::UnknownNode)
            }
        };
        for op in stream.ops() {
            match op {
                Op::Clone { template } => {
                    if !cached.contains(template) {
                        return Err(ErrorCode::UncachedTemplate);
                    }
                    created += 1;
                }
                Op::Cache { template, .. } => {
                    cached.insert(template);
                }
                Op::Append { parent, child } => {
                    known(created, parent)?;
                    known(created, child)?;
                }
                Op::Remove { node }
                | Op::SetText { node, .. }
                | Op::SetAttr { node, .. }
                | Op::ToggleClass { node, .. } => known(created, node)?,
                Op::Listen { node, handler, .. } => {
                    known(created, node)?;
                    if self.handlers().binary_search(&handler).is_err() {
                        // Counted per LISTEN, not per distinct handler: a stream that
                        // attaches one new handler thousands of times is refused too,
                        // which the client's limits allow, and no sort is needed.
                        new_handlers += 1;
                    }
                }
                Op::BatchBegin | Op::BatchCommit => {}
            }
        }
        if self.handler_count + new_handlers > MAX_HANDLERS {
            return Err(ErrorCode::LimitExceeded);
        }
        Ok(())
    }

    /// The host id of `handle` (0 is the root).
    fn host_id(&self, handle: u32) -> i32 {
        match (handle as usize).checked_sub(1) {
            None => 0,
            Some(i) => self.nodes.get(i).copied().unwrap_or(0),
        }
    }

    fn execute(&mut self, host: &mut impl Host, stream: &Stream<'_>) -> Result<(), ErrorCode> {
        for op in stream.ops() {
            match op {
                Op::Clone { template } => {
                    let id = host.clone_template(template);
                    if id < 0 {
                        return Err(ErrorCode::HostFailed);
                    }
                    let slot = self
                        .nodes
                        .get_mut(self.node_count)
                        .ok_or(ErrorCode::LimitExceeded)?;
                    *slot = id;
                    self.node_count += 1;
                }
                Op::Cache { template, html } => {
                    host.cache_template(template, html);
                    if self.templates.insert(template) {
                        self.template_count += 1;
                    }
                }
                Op::Append { parent, child } => {
                    host.append(self.host_id(parent), self.host_id(child));
                }
                Op::Remove { node } => host.remove(self.host_id(node)),
                Op::SetText { node, text } => host.set_text(self.host_id(node), text),
                Op::SetAttr { node, key, value } => {
                    host.set_attr(self.host_id(node), key, value);
                }
                Op::ToggleClass {
                    node,
                    class,
                    enable,
                } => host.toggle_class(self.host_id(node), class, enable),
                Op::Listen {
                    node,
                    event,
                    handler,
                } => {
                    host.listen(self.host_id(node), event, handler);
                    self.attach(handler)?;
                }
                Op::BatchBegin | Op::BatchCommit => {}
            }
        }
        Ok(())
    }

    /// Adds `handler` to the sorted set.
    fn attach(&mut self, handler: u32) -> Result<(), ErrorCode> {
        let Err(at) = self.handlers().binary_search(&handler) else {
            return Ok(());
        };
        let end = self.handler_count + 1;
        let slots = self
            .handlers
            .get_mut(at..end)
            .ok_or(ErrorCode::LimitExceeded)?;
        // Shift right by one and put `handler` first (no `rotate_right`: its bounds checks
        // bring panics and formatting into the module).
        let mut carry = handler;
        for slot in slots {
            core::mem::swap(slot, &mut carry);
        }
        self.handler_count = end;
        Ok(())
    }
}
