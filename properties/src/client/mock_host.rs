//! The seed's `MockHost`: the host side of `spec/client-abi.md`, recording what a client asks
//! of the page. Node ids are handed out 1, 2, 3 … by `host_clone_template`, so after a fresh
//! start a stream's node handle *k* is host node *k*.

use std::collections::{BTreeMap, HashMap};

use crate::htip::stream::{self, EncodeError};
use crate::htip::{Event, HtipOp};

/// One call a client made to its host, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DomOp {
    /// `host_clone_template`: template cloned into node `node`.
    Clone {
        /// The template.
        template: u32,
        /// The node id the host returned.
        node: u32,
    },
    /// `host_cache_template`.
    Cache {
        /// The template.
        template: u32,
        /// Its HTML.
        html: String,
    },
    /// `host_append`.
    Append {
        /// The parent.
        parent: u32,
        /// The child.
        child: u32,
    },
    /// `host_remove`.
    Remove {
        /// The node.
        node: u32,
    },
    /// `host_set_text`.
    SetText {
        /// The node.
        node: u32,
        /// The text.
        text: String,
    },
    /// `host_set_attr`.
    SetAttr {
        /// The node.
        node: u32,
        /// The name.
        key: String,
        /// The value.
        value: String,
    },
    /// `host_toggle_class`.
    ToggleClass {
        /// The node.
        node: u32,
        /// The class.
        class: String,
        /// Added or removed.
        enable: bool,
    },
    /// `host_listen`.
    Listen {
        /// The node.
        node: u32,
        /// The event index.
        event: u32,
        /// The handler.
        handler: u32,
    },
}

impl DomOp {
    /// The page operations a client must cause for `ops`, with `templates` defined in the
    /// stream, when its host hands out node ids after `last_node` one by one (so handles
    /// name host ids). Batches cause no operation.
    pub fn expected(ops: &[HtipOp], templates: &[(u16, &str)], last_node: u32) -> Vec<DomOp> {
        let mut next = last_node;
        ops.iter()
            .filter_map(|op| {
                Some(match op {
                    HtipOp::Clone { template } => {
                        next += 1;
                        DomOp::Clone {
                            template: u32::from(*template),
                            node: next,
                        }
                    }
                    HtipOp::Cache { template } => DomOp::Cache {
                        template: u32::from(*template),
                        html: templates
                            .iter()
                            .find(|(id, _)| id == template)
                            .map(|(_, h)| (*h).to_owned())
                            .unwrap_or_default(),
                    },
                    HtipOp::Append { parent, child } => DomOp::Append {
                        parent: *parent,
                        child: *child,
                    },
                    HtipOp::Remove { node } => DomOp::Remove { node: *node },
                    HtipOp::SetText { node, text } => DomOp::SetText {
                        node: *node,
                        text: text.clone(),
                    },
                    HtipOp::SetAttr { node, key, value } => DomOp::SetAttr {
                        node: *node,
                        key: key.clone(),
                        value: value.clone(),
                    },
                    HtipOp::ToggleClass {
                        node,
                        class,
                        enable,
                    } => DomOp::ToggleClass {
                        node: *node,
                        class: class.clone(),
                        enable: *enable,
                    },
                    HtipOp::Listen {
                        node,
                        event,
                        handler,
                    } => DomOp::Listen {
                        node: *node,
                        event: u32::from(event.index()),
                        handler: *handler,
                    },
                    HtipOp::BatchBegin | HtipOp::BatchCommit => return None,
                })
            })
            .collect()
    }
}

/// A text argument as a runtime read it from the client's memory (`ptr`, `len`): the text,
/// or why it could not be read (outside the memory, a negative part, not UTF-8), in the words
/// both runtimes use.
pub type TextRead = Result<String, String>;

/// A node, event or handler argument as the host keeps it: a negative one is no id any
/// node has.
fn node(id: i32) -> u32 {
    u32::try_from(id).unwrap_or(u32::MAX)
}

/// The host: what the client did, and the templates tests define.
#[derive(Debug, Default)]
pub struct MockHost {
    /// Templates cloned, in order.
    pub cloned_templates: Vec<u32>,
    /// Templates the client cached, by id.
    pub cached_templates: HashMap<u32, Vec<u8>>,
    /// Every page operation, in order.
    pub dom_ops: Vec<DomOp>,
    /// Listeners attached: (node, event, handler).
    pub listeners: Vec<(u32, u32, u32)>,
    /// Base data for delta patching, by asset id.
    pub cache: HashMap<u32, Vec<u8>>,
    /// Values passed to `host_log`.
    pub logs: Vec<i32>,
    /// Imports called with a range outside the client's memory, text that is not UTF-8, or
    /// values out of their range: each a violation of `spec/client-abi.md`.
    pub violations: Vec<String>,
    /// Template definitions for [`MockHost::create_htip_stream`].
    templates: BTreeMap<u16, String>,
    next_node: u32,
}

impl MockHost {
    /// A host with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// Defines a template that streams built by [`Self::create_htip_stream`] carry.
    pub fn define_template(&mut self, id: u16, html: impl Into<String>) {
        self.templates.insert(id, html.into());
    }

    /// An HTIP stream of `ops`, carrying the templates they cache (the seed's
    /// `create_htip_stream`).
    pub fn create_htip_stream(&self, ops: &[HtipOp]) -> Result<Vec<u8>, EncodeError> {
        let cached: Vec<(u16, &str)> = self
            .templates
            .iter()
            .filter(|(id, _)| {
                ops.iter()
                    .any(|op| matches!(op, HtipOp::Cache { template } if template == *id))
            })
            .map(|(id, html)| (*id, html.as_str()))
            .collect();
        stream::encode(&cached, ops)
    }

    /// Whether exactly `expected` happened, in order (the seed's `verify_ops`).
    pub fn verify_ops(&self, expected: &[DomOp]) -> bool {
        self.dom_ops == expected
    }

    /// The operations `ops` must produce on a fresh client and this host, with the
    /// templates this host defined: handles are host ids.
    pub fn expected_ops(&self, ops: &[HtipOp]) -> Vec<DomOp> {
        let templates: Vec<(u16, &str)> = self
            .templates
            .iter()
            .map(|(id, html)| (*id, html.as_str()))
            .collect();
        DomOp::expected(ops, &templates, self.next_node)
    }

    /// Forgets what was recorded (not the template definitions); node ids start at 1 again.
    pub fn clear(&mut self) {
        let templates = std::mem::take(&mut self.templates);
        *self = Self {
            templates,
            ..Self::default()
        };
    }

    /// Page operations recorded (everything but logs).
    pub fn page_calls(&self) -> usize {
        self.dom_ops.len()
    }

    /// The node id the next `host_clone_template` hands out is this plus one.
    pub(crate) fn last_node(&self) -> u32 {
        self.next_node
    }

    /// `host_cache_template(template, ptr, len)`, its text as the runtime read it.
    pub(crate) fn import_cache_template(&mut self, template: i32, html: TextRead) {
        self.with_text("host_cache_template", html, |html| DomOp::Cache {
            template: node(template),
            html,
        });
    }

    /// `host_append(parent, child)`.
    pub(crate) fn import_append(&mut self, parent: i32, child: i32) {
        self.record(DomOp::Append {
            parent: node(parent),
            child: node(child),
        });
    }

    /// `host_remove(node)`.
    pub(crate) fn import_remove(&mut self, id: i32) {
        self.record(DomOp::Remove { node: node(id) });
    }

    /// `host_set_text(node, ptr, len)`.
    pub(crate) fn import_set_text(&mut self, id: i32, text: TextRead) {
        self.with_text("host_set_text", text, |text| DomOp::SetText {
            node: node(id),
            text,
        });
    }

    /// `host_set_attr(node, key, value)`: a key that cannot be read is reported before a
    /// value that cannot.
    pub(crate) fn import_set_attr(&mut self, id: i32, key: TextRead, value: TextRead) {
        match (key, value) {
            (Ok(key), Ok(value)) => self.record(DomOp::SetAttr {
                node: node(id),
                key,
                value,
            }),
            (Err(why), _) | (_, Err(why)) => {
                self.violations.push(format!("host_set_attr: {why}"));
            }
        }
    }

    /// `host_toggle_class(node, ptr, len, enable)`.
    pub(crate) fn import_toggle_class(&mut self, id: i32, class: TextRead, enable: i32) {
        if !(0..=1).contains(&enable) {
            self.violations
                .push(format!("host_toggle_class: enable {enable} is not 0 or 1"));
        }
        self.with_text("host_toggle_class", class, |class| DomOp::ToggleClass {
            node: node(id),
            class,
            enable: enable != 0,
        });
    }

    /// `host_listen(node, event, handler)`.
    pub(crate) fn import_listen(&mut self, id: i32, event: i32, handler: i32) {
        self.record(DomOp::Listen {
            node: node(id),
            event: node(event),
            handler: node(handler),
        });
    }

    /// `host_log(value)`.
    pub(crate) fn import_log(&mut self, value: i32) {
        self.logs.push(value);
    }

    /// Records `op` of the text read, or the violation of reading it.
    fn with_text(&mut self, import: &str, text: TextRead, op: impl FnOnce(String) -> DomOp) {
        match text {
            Ok(text) => self.record(op(text)),
            Err(why) => self.violations.push(format!("{import}: {why}")),
        }
    }

    pub(crate) fn clone_template(&mut self, template: i32) -> i32 {
        let Ok(template) = u32::try_from(template) else {
            self.violations.push(format!(
                "host_clone_template({template}): negative template id"
            ));
            return -1;
        };
        self.next_node += 1;
        self.cloned_templates.push(template);
        self.dom_ops.push(DomOp::Clone {
            template,
            node: self.next_node,
        });
        i32::try_from(self.next_node).unwrap_or(-1)
    }

    pub(crate) fn record(&mut self, op: DomOp) {
        match &op {
            DomOp::Cache { template, html } => {
                self.cached_templates
                    .insert(*template, html.as_bytes().to_vec());
            }
            DomOp::Listen {
                node,
                event,
                handler,
            } => {
                if Event::from_index(u8::try_from(*event).unwrap_or(u8::MAX)).is_none() {
                    self.violations
                        .push(format!("host_listen: event {event} is not 0-5"));
                }
                self.listeners.push((*node, *event, *handler));
            }
            _ => {}
        }
        self.dom_ops.push(op);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_carry_the_templates_they_cache_and_expected_ops_follow_handles() {
        let mut host = MockHost::new();
        host.define_template(1, "<p></p>");
        host.define_template(2, "<b></b>");
        let ops = [
            HtipOp::Cache { template: 1 },
            HtipOp::Clone { template: 1 },
            HtipOp::Append {
                parent: 0,
                child: 1,
            },
        ];
        let bytes = host.create_htip_stream(&ops).unwrap();
        let decoded = stream::decode(&bytes).unwrap();
        assert_eq!(decoded.templates(), &[(1, "<p></p>")]);
        assert_eq!(
            host.expected_ops(&ops),
            [
                DomOp::Cache {
                    template: 1,
                    html: "<p></p>".into()
                },
                DomOp::Clone {
                    template: 1,
                    node: 1
                },
                DomOp::Append {
                    parent: 0,
                    child: 1
                },
            ]
        );
        assert_eq!(host.clone_template(1), 1);
        assert_eq!(host.clone_template(-3), -1);
        assert_eq!(host.violations.len(), 1);
        host.clear();
        assert!(host.dom_ops.is_empty() && host.violations.is_empty());
        assert_eq!(host.clone_template(1), 1, "ids start again");
        assert!(!host.verify_ops(&[]));
    }
}
