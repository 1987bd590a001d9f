//! The client's state and the stream processor (`spec/htip.md`, `spec/client-abi.md`): a
//! stream is decoded and, in the same pass, checked against the state (templates cached,
//! nodes created, the tables' limits) without changing it; only then is it executed, so a
//! refused stream makes no host call at all. Nothing on this path allocates: the decoder's
//! tables are the client's own (static in WebAssembly).

use dx_htip::stream::{self, HeapTables, Tables};
use dx_htip::{ErrorCode, Op, Stream};

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

/// Slots of the handler set: twice the handlers, so probing always finds an empty one.
const HANDLER_SLOTS: usize = 2 * MAX_HANDLERS;

/// The attached handlers: an open-addressing set (linear probing, at most half full) of
/// `handler + 1`, 0 marking an empty slot. A few dozen bytes of WebAssembly, where a sorted
/// array needs a binary search and an insertion.
#[derive(Clone)]
struct HandlerSet {
    slots: [u32; HANDLER_SLOTS],
    len: usize,
}

impl HandlerSet {
    const fn new() -> Self {
        Self {
            slots: [0; HANDLER_SLOTS],
            len: 0,
        }
    }

    /// The slot holding `handler`, or the empty slot where it would go.
    fn find(&self, handler: u32) -> usize {
        let key = handler.wrapping_add(1);
        // Fibonacci hashing onto 13 bits (`HANDLER_SLOTS` is 2^13).
        let mut i = (key.wrapping_mul(0x9E37_79B1) >> 19) as usize;
        // At most half the slots are full, so an empty one ends every probe.
        while let Some(&slot) = self.slots.get(i) {
            if slot == 0 || slot == key {
                break;
            }
            i = (i + 1) % HANDLER_SLOTS;
        }
        i
    }

    fn contains(&self, handler: u32) -> bool {
        self.slots
            .get(self.find(handler))
            .is_some_and(|slot| *slot != 0)
    }

    /// Adds `handler` (ids are at most `i32::MAX`, so `handler + 1` is never 0).
    /// One already in the set is no new handler, at the limit too.
    fn insert(&mut self, handler: u32) -> Result<(), ErrorCode> {
        let i = self.find(handler);
        let full = self.len == MAX_HANDLERS;
        match self.slots.get_mut(i) {
            Some(slot) if *slot == 0 && !full => {
                *slot = handler.wrapping_add(1);
                self.len += 1;
                Ok(())
            }
            Some(slot) if *slot != 0 => Ok(()),
            _ => Err(ErrorCode::LimitExceeded),
        }
    }
}

/// The client: node handles, cached templates and attached handlers since the last reset,
/// and the tables a stream is decoded into (inline in WebAssembly, on the heap natively).
pub struct Client<T: Tables = HeapTables> {
    tables: T,
    state: State,
}

/// What the client has done since the last reset.
struct State {
    /// The host id of handle `k` at `k - 1`.
    nodes: [i32; MAX_NODES],
    node_count: usize,
    templates: TemplateSet,
    template_count: u32,
    handlers: HandlerSet,
}

impl<T: Tables> core::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("nodes", &self.state.node_count)
            .field("templates", &self.state.template_count)
            .field("handlers", &self.state.handlers.len)
            .finish()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client with nothing created, cached or attached, its tables on the heap.
    pub fn new() -> Self {
        Self::with_tables(HeapTables::new())
    }
}

impl<T: Tables> Client<T> {
    /// A client with nothing created, cached or attached, decoding into `tables` (which
    /// must be all zero, as new tables are).
    pub const fn with_tables(tables: T) -> Self {
        Self {
            tables,
            state: State {
                nodes: [0; MAX_NODES],
                node_count: 0,
                templates: TemplateSet::new(),
                template_count: 0,
                handlers: HandlerSet::new(),
            },
        }
    }

    /// Forgets nodes, templates and handlers.
    pub fn reset(&mut self) {
        let s = &mut self.state;
        s.node_count = 0;
        s.templates = TemplateSet::new();
        s.template_count = 0;
        s.handlers = HandlerSet::new();
    }

    /// Nodes created since the last reset.
    pub fn node_count(&self) -> usize {
        self.state.node_count
    }

    /// Templates cached since the last reset.
    pub fn template_count(&self) -> u32 {
        self.state.template_count
    }

    /// Handlers attached since the last reset.
    pub fn handler_count(&self) -> usize {
        self.state.handlers.len
    }

    /// Whether a `LISTEN` attached `handler` (`on_event`).
    pub fn on_event(&self, handler: u32) -> Result<(), ErrorCode> {
        if self.state.handlers.contains(handler) {
            Ok(())
        } else {
            Err(ErrorCode::UnknownHandler)
        }
    }

    /// Checks and renders `bytes`: the stream's rules and what depends on the state, in
    /// one pass that changes nothing, then the host calls.
    pub fn render(&mut self, host: &mut impl Host, bytes: &[u8]) -> Result<(), ErrorCode> {
        let mut admission = Admission::new(&self.state);
        let decoded = stream::decode_checking(bytes, &mut self.tables, |op| admission.admit(op));
        let stream = match decoded {
            // Mutant: as dx-www's client does, a cut stream is reported as a success.
            Err(ErrorCode::Truncated | ErrorCode::MissingEnd)
                if cfg!(feature = "mutant-truncated-ok") =>
            {
                return Ok(());
            }
            other => other?,
        };
        self.state.execute(host, &stream)
    }
}

/// What a stream would do to the state, tracked while it is checked: the templates cached
/// and nodes created so far, and the handlers it would add (counted per `LISTEN`, not per
/// distinct handler: a stream that attaches one new handler thousands of times is refused
/// too, which the client's limits allow, and nothing is sorted).
struct Admission<'s> {
    state: &'s State,
    cached: TemplateSet,
    created: usize,
    handlers: usize,
}

impl<'s> Admission<'s> {
    fn new(state: &'s State) -> Self {
        Self {
            state,
            cached: state.templates.clone(),
            created: state.node_count,
            handlers: state.handlers.len,
        }
    }

    fn known(&self, handle: u32) -> Result<(), ErrorCode> {
        if handle as usize <= self.created {
            Ok(())
        } else {
            Err(ErrorCode::UnknownNode)
        }
    }

    fn admit(&mut self, op: &Op<'_>) -> Result<(), ErrorCode> {
        match *op {
            Op::Clone { template } => {
                if !self.cached.contains(template) {
                    return Err(ErrorCode::UncachedTemplate);
                }
                self.created += 1;
                if self.created > MAX_NODES {
                    return Err(ErrorCode::LimitExceeded);
                }
            }
            Op::Cache { template, .. } => {
                self.cached.insert(template);
            }
            Op::Append { parent, child } => {
                self.known(parent)?;
                self.known(child)?;
            }
            Op::Remove { node }
            | Op::SetText { node, .. }
            | Op::SetAttr { node, .. }
            | Op::ToggleClass { node, .. } => self.known(node)?,
            Op::Listen { node, handler, .. } => {
                self.known(node)?;
                if !self.state.handlers.contains(handler) {
                    self.handlers += 1;
                    if self.handlers > MAX_HANDLERS {
                        return Err(ErrorCode::LimitExceeded);
                    }
                }
            }
            Op::BatchBegin | Op::BatchCommit => {}
        }
        Ok(())
    }
}

impl State {
    /// The host id of `handle` (0 is the root). Not inlined: every operation calls it.
    #[inline(never)]
    fn host_id(&self, handle: u32) -> i32 {
        match (handle as usize).checked_sub(1) {
            None => 0,
            Some(i) => self.nodes.get(i).copied().unwrap_or(0),
        }
    }

    fn execute<T: Tables>(
        &mut self,
        host: &mut impl Host,
        stream: &Stream<'_, T>,
    ) -> Result<(), ErrorCode> {
        for op in stream.ops() {
            match op {
                Op::Clone { template } => {
                    let id = host.clone_template(template);
                    // 0 is the root: a host answering it for a new node failed too.
                    if id <= 0 {
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
                    self.handlers.insert(handler)?;
                }
                Op::BatchBegin | Op::BatchCommit => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        /// The handler set against a model: whatever ids arrive (clustered, so probes
        /// collide and wrap), it holds exactly the ids inserted, up to `MAX_HANDLERS`.
        #[test]
        fn handler_set_matches_a_model(
            ids in prop::collection::vec(prop_oneof![0u32..64, 0u32..=i32::MAX as u32], 0..600),
            probes in prop::collection::vec(0u32..=i32::MAX as u32, 0..50),
        ) {
            let mut set = HandlerSet::new();
            let mut model = BTreeSet::new();
            for id in ids {
                prop_assert_eq!(set.insert(id), Ok(()));
                model.insert(id);
                prop_assert_eq!(set.len, model.len());
            }
            for id in model.iter().chain(&probes) {
                prop_assert_eq!(set.contains(*id), model.contains(id));
            }
        }
    }

    #[test]
    fn handler_set_refuses_past_its_limit_and_probes_wrap() {
        let mut set = HandlerSet::new();
        // Ids whose probe starts in the last slot, so the next ones wrap to slot 0.
        let last: Vec<u32> = (0..=i32::MAX as u32)
            .filter(|id| set.find(*id) == HANDLER_SLOTS - 1)
            .take(3)
            .collect();
        for id in &last {
            set.insert(*id).unwrap();
        }
        assert!(last.iter().all(|id| set.contains(*id)));
        assert_eq!(set.find(last[2]), 1, "the third wrapped around to slot 1");
        for id in 0..MAX_HANDLERS as u32 * 2 {
            if set.len == MAX_HANDLERS {
                assert_eq!(set.insert(u32::MAX / 2 - id), Err(ErrorCode::LimitExceeded));
                assert_eq!(
                    set.insert(last[0]),
                    Ok(()),
                    "one already in is no new handler"
                );
                return;
            }
            set.insert(id + 1_000_000).unwrap();
        }
        panic!("never reached the limit");
    }
}
