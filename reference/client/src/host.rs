//! What the client asks of its host: the DOM operations of `spec/client-abi.md`, with the
//! host's node ids. In WebAssembly they are the `env` imports (`wasm.rs`); natively, any
//! implementation (the tests record them).

use dx_htip::{Event, Text};

/// The host's side of the ABI.
pub trait Host {
    /// Clones cached template `template`; the new node's id (≥ 1), or negative.
    fn clone_template(&mut self, template: u16) -> i32;
    /// Stores a template's HTML.
    fn cache_template(&mut self, template: u16, html: Text<'_>);
    /// Appends `child` to `parent`.
    fn append(&mut self, parent: i32, child: i32);
    /// Removes `node`.
    fn remove(&mut self, node: i32);
    /// Sets `node`'s text.
    fn set_text(&mut self, node: i32, text: Text<'_>);
    /// Sets an attribute.
    fn set_attr(&mut self, node: i32, key: Text<'_>, value: Text<'_>);
    /// Adds or removes a class.
    fn toggle_class(&mut self, node: i32, class: Text<'_>, enable: bool);
    /// Attaches a listener.
    fn listen(&mut self, node: i32, event: Event, handler: u32);
}
