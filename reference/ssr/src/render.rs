//! Renders an HTIP stream (`spec/htip.md`) to the HTML of the page it builds: each operation
//! does to a tree what `spec/client-abi.md`'s host imports do to a browser's DOM, and the tree
//! is then written out so that a browser parsing it builds the same nodes
//! (`spec/ssr.md`, "The same page").
//!
//! What a DOM would refuse, or what HTML cannot write so that it parses back the same (text
//! closing the `<script>` it sits in, a child of a void element), is refused with a
//! [`RenderError`]: a page's component boundary then shows its fallback instead.

use std::collections::HashMap;

use dx_htip::stream::decode;
use dx_htip::{ErrorCode, HtipOp};

use crate::html::{self, Element, Escaping, Node};

/// Why a stream cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The stream itself is refused by the decoder.
    #[error("the stream is not valid HTIP (code {0:?})")]
    Stream(ErrorCode),
    /// `CLONE` of a template no `CACHE` handed over.
    #[error("template {0} cloned before it was cached")]
    UncachedTemplate(u16),
    /// A template whose HTML holds no element.
    #[error("template {0} holds no element")]
    EmptyTemplate(u16),
    /// A handle no `CLONE` created.
    #[error("node {0} does not exist")]
    UnknownNode(u32),
    /// An append that would put a node inside itself, or move the root.
    #[error("node {child} cannot be appended to node {parent}")]
    Hierarchy {
        /// The parent's handle.
        parent: u32,
        /// The child's handle.
        child: u32,
    },
    /// Children or text for an element HTML writes without them (`<input>`, `<br>` …).
    #[error("node {0} is a void element and cannot hold children or text")]
    VoidElement(u32),
    /// An element as the child of a raw text element (`<script>`, `<style>` …).
    #[error("node {0} holds raw text and cannot hold elements")]
    RawTextParent(u32),
    /// Raw text that would end its own element when parsed back (`</script` in a script).
    #[error("text of node {0} cannot be written inside its element")]
    UnrepresentableText(u32),
    /// An attribute name a DOM refuses (empty, or holding whitespace, `/`, `>`, `=`, quotes,
    /// `<` or NUL).
    #[error("attribute name {0:?} is not valid")]
    AttributeName(String),
    /// A tree HTML cannot write so that it parses back the same (a `<p>` inside a `<p>`, a
    /// `<div>` inside a `<table>`: the parser would move or close elements).
    #[error("the page's nodes would not parse back as they are")]
    NotRepresentable,
    /// A class a DOM refuses (empty, or holding whitespace).
    #[error("class {0:?} is not valid")]
    ClassName(String),
}

/// One child of a live node: a node of its template, or a node appended by handle.
#[derive(Debug, Clone)]
enum Child {
    Owned(Node),
    Handle(u32),
}

/// A node created by `CLONE` (or the root, handle 0).
#[derive(Debug, Clone)]
struct Live {
    element: Element,
    children: Vec<Child>,
    /// Where it hangs: `None` while detached.
    parent: Option<u32>,
}

/// The page a stream builds, being built.
#[derive(Debug)]
pub struct Tree {
    /// By handle; 0 is the root (the host's mount point).
    nodes: Vec<Live>,
    templates: HashMap<u16, Element>,
    escaping: Escaping,
}

impl Default for Tree {
    fn default() -> Self {
        Self::new(Escaping::Standard)
    }
}

impl Tree {
    /// An empty page, written with `escaping`.
    pub fn new(escaping: Escaping) -> Self {
        let root = Live {
            element: Element {
                name: "main".into(),
                space: html::Space::Html,
                attrs: Vec::new(),
                children: Vec::new(),
            },
            children: Vec::new(),
            parent: None,
        };
        Self {
            nodes: vec![root],
            templates: HashMap::new(),
            escaping,
        }
    }

    /// Renders the stream `bytes` onto this page.
    pub fn apply_stream(&mut self, bytes: &[u8]) -> Result<(), RenderError> {
        let stream = decode(bytes).map_err(RenderError::Stream)?;
        let templates = stream.templates();
        for op in stream.ops() {
            let op = op.to_owned_op();
            self.apply(&op, |id| {
                templates
                    .iter()
                    .find(|(t, _)| *t == id)
                    .map(|(_, html)| (*html).to_owned())
            })?;
        }
        Ok(())
    }

    /// Applies one operation; `template_html` gives the stream's definition of a template.
    pub fn apply(
        &mut self,
        op: &HtipOp,
        template_html: impl Fn(u16) -> Option<String>,
    ) -> Result<(), RenderError> {
        match op {
            HtipOp::Cache { template } => {
                let html = template_html(*template).unwrap_or_default();
                let element =
                    html::parse_template(&html).ok_or(RenderError::EmptyTemplate(*template))?;
                self.templates.insert(*template, element);
            }
            HtipOp::Clone { template } => {
                let element = self
                    .templates
                    .get(template)
                    .cloned()
                    .ok_or(RenderError::UncachedTemplate(*template))?;
                // The template's children become the live node's; its element keeps none.
                let mut element = element;
                let children = std::mem::take(&mut element.children)
                    .into_iter()
                    .map(Child::Owned)
                    .collect();
                self.nodes.push(Live {
                    element,
                    children,
                    parent: None,
                });
            }
            HtipOp::Append { parent, child } => self.append(*parent, *child)?,
            HtipOp::Remove { node } => {
                self.live(*node)?;
                if *node == 0 {
                    return Err(RenderError::Hierarchy {
                        parent: 0,
                        child: 0,
                    });
                }
                self.detach(*node);
            }
            HtipOp::SetText { node, text } => self.set_text(*node, text)?,
            HtipOp::SetAttr { node, key, value } => {
                check_attribute_name(key)?;
                let live = self.live_mut(*node)?;
                let name = if live.element.space == html::Space::Html {
                    key.to_ascii_lowercase()
                } else {
                    key.clone()
                };
                live.element.set_attr(&name, value);
            }
            HtipOp::ToggleClass {
                node,
                class,
                enable,
            } => {
                if class.is_empty() || class.chars().any(is_ascii_whitespace) {
                    return Err(RenderError::ClassName(class.clone()));
                }
                toggle_class(&mut self.live_mut(*node)?.element, class, *enable);
            }
            HtipOp::Listen { node, .. } => {
                // Listeners are the client's; the server's page only has to exist.
                self.live(*node)?;
            }
            HtipOp::BatchBegin | HtipOp::BatchCommit => {}
        }
        Ok(())
    }

    fn live(&self, handle: u32) -> Result<&Live, RenderError> {
        self.nodes
            .get(handle as usize)
            .ok_or(RenderError::UnknownNode(handle))
    }

    fn live_mut(&mut self, handle: u32) -> Result<&mut Live, RenderError> {
        self.nodes
            .get_mut(handle as usize)
            .ok_or(RenderError::UnknownNode(handle))
    }

    fn append(&mut self, parent: u32, child: u32) -> Result<(), RenderError> {
        let parent_element = &self.live(parent)?.element;
        self.live(child)?;
        if child == 0 {
            return Err(RenderError::Hierarchy { parent, child });
        }
        if parent != 0 {
            if parent_element.is_void() {
                return Err(RenderError::VoidElement(parent));
            }
            if parent_element.holds_only_text() {
                return Err(RenderError::RawTextParent(parent));
            }
        }
        // A node cannot go inside itself or its own descendants.
        let mut up = Some(parent);
        while let Some(at) = up {
            if at == child {
                return Err(RenderError::Hierarchy { parent, child });
            }
            up = self.nodes.get(at as usize).and_then(|n| n.parent);
        }
        self.detach(child);
        if let Some(p) = self.nodes.get_mut(parent as usize) {
            p.children.push(Child::Handle(child));
        }
        if let Some(c) = self.nodes.get_mut(child as usize) {
            c.parent = Some(parent);
        }
        Ok(())
    }

    fn detach(&mut self, handle: u32) {
        let Some(parent) = self.nodes.get(handle as usize).and_then(|n| n.parent) else {
            return;
        };
        if let Some(p) = self.nodes.get_mut(parent as usize) {
            p.children
                .retain(|c| !matches!(c, Child::Handle(h) if *h == handle));
        }
        if let Some(c) = self.nodes.get_mut(handle as usize) {
            c.parent = None;
        }
    }

    fn set_text(&mut self, handle: u32, text: &str) -> Result<(), RenderError> {
        let live = self.live(handle)?;
        if handle != 0 && !text.is_empty() {
            if live.element.is_void() {
                return Err(RenderError::VoidElement(handle));
            }
            if live.element.holds_raw_text() && closes(&live.element.name, text) {
                return Err(RenderError::UnrepresentableText(handle));
            }
        }
        // Setting a node's text content drops every child, appended ones included.
        let appended: Vec<u32> = live
            .children
            .iter()
            .filter_map(|c| match c {
                Child::Handle(h) => Some(*h),
                Child::Owned(_) => None,
            })
            .collect();
        for h in appended {
            self.detach(h);
        }
        let live = self.live_mut(handle)?;
        live.children.clear();
        if !text.is_empty() {
            live.children
                .push(Child::Owned(Node::Text(text.to_owned())));
        }
        Ok(())
    }

    /// The page's nodes: what hangs from the root, as a tree.
    pub fn nodes(&self) -> Vec<Node> {
        self.children_of(0)
    }

    fn children_of(&self, handle: u32) -> Vec<Node> {
        let Some(live) = self.nodes.get(handle as usize) else {
            return Vec::new();
        };
        live.children
            .iter()
            .map(|c| match c {
                Child::Owned(node) => node.clone(),
                Child::Handle(h) => Node::Element(self.element_of(*h)),
            })
            .collect()
    }

    fn element_of(&self, handle: u32) -> Element {
        let element = self
            .nodes
            .get(handle as usize)
            .map(|l| l.element.clone())
            .unwrap_or_else(|| Element {
                name: "template".into(),
                space: html::Space::Html,
                attrs: Vec::new(),
                children: Vec::new(),
            });
        Element {
            children: self.children_of(handle),
            ..element
        }
    }

    /// Checks that the page, written out and parsed back as a section's contents, is the same
    /// tree: what a component renders must survive the trip to a crawler.
    pub fn check_round_trip(&self) -> Result<(), RenderError> {
        let nodes = self.nodes();
        if html::parse_in_section(&self.to_html()) == html::normalized(&nodes) {
            Ok(())
        } else {
            Err(RenderError::NotRepresentable)
        }
    }

    /// The page as HTML: the root's children, written out.
    pub fn to_html(&self) -> String {
        let mut out = String::new();
        html::serialize(&mut out, &self.nodes(), self.escaping);
        out
    }
}

/// Renders the stream `bytes` on an empty page and returns the page's HTML.
pub fn render_stream(bytes: &[u8]) -> Result<String, RenderError> {
    let mut tree = Tree::default();
    tree.apply_stream(bytes)?;
    Ok(tree.to_html())
}

fn is_ascii_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ')
}

/// Whether `text` inside raw text element `name` would end it when parsed: `</name`
/// (any case) followed by whitespace, `/`, `>` or the end.
fn closes(name: &str, text: &str) -> bool {
    if name == "plaintext" {
        return false;
    }
    let lower = text.to_ascii_lowercase();
    let needle = format!("</{name}");
    lower.match_indices(&needle).any(|(at, _)| {
        matches!(
            lower.as_bytes().get(at + needle.len()),
            None | Some(b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'/' | b'>')
        )
    })
}

/// A DOM's "valid attribute local name": not empty, and none of ASCII whitespace, NUL, `/`,
/// `>`, `=`; we also refuse quotes and `<`, which the HTML parser would read differently.
fn check_attribute_name(name: &str) -> Result<(), RenderError> {
    let bad = name.is_empty()
        || name.chars().any(|c| {
            is_ascii_whitespace(c) || matches!(c, '\0' | '/' | '>' | '=' | '"' | '\'' | '<')
        });
    if bad {
        Err(RenderError::AttributeName(name.to_owned()))
    } else {
        Ok(())
    }
}

/// `classList.add` / `classList.remove`: the class attribute as an ordered set of tokens,
/// written back joined by single spaces; removing from an element without the attribute
/// leaves it without one.
fn toggle_class(element: &mut Element, class: &str, enable: bool) {
    let current = element.attr("class");
    if current.is_none() && !enable {
        return;
    }
    let mut tokens: Vec<&str> = Vec::new();
    for token in current.unwrap_or_default().split(is_ascii_whitespace) {
        if !token.is_empty() && !tokens.contains(&token) {
            tokens.push(token);
        }
    }
    if enable {
        if !tokens.contains(&class) {
            tokens.push(class);
        }
    } else {
        tokens.retain(|t| *t != class);
    }
    let value = tokens.join(" ");
    element.set_attr("class", &value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use dx_htip::stream::encode;
    use rstest::rstest;

    const ITEM: (u16, &str) = (1, "<li class=\"item\"><span></span></li>");
    const LIST: (u16, &str) = (2, "<ul></ul>");
    const SCRIPT: (u16, &str) = (3, "<script></script>");
    const INPUT: (u16, &str) = (4, "<input type=\"checkbox\">");

    fn render(ops: &[HtipOp]) -> Result<String, RenderError> {
        let stream = encode(&[ITEM, LIST, SCRIPT, INPUT], ops).unwrap();
        render_stream(&stream)
    }

    fn cached() -> Vec<HtipOp> {
        (1..=4).map(|template| HtipOp::Cache { template }).collect()
    }

    #[test]
    fn a_list_renders_as_the_client_builds_it() {
        let mut ops = cached();
        ops.extend([
            HtipOp::Clone { template: 2 },
            HtipOp::Append {
                parent: 0,
                child: 1,
            },
            HtipOp::Clone { template: 1 },
            HtipOp::SetText {
                node: 2,
                text: "<b>milk</b> & \"eggs\"".into(),
            },
            HtipOp::SetAttr {
                node: 2,
                key: "data-Item".into(),
                value: "\" onclick=\"x".into(),
            },
            HtipOp::ToggleClass {
                node: 2,
                class: "done".into(),
                enable: true,
            },
            HtipOp::Append {
                parent: 1,
                child: 2,
            },
        ]);
        assert_eq!(
            render(&ops).unwrap(),
            "<ul><li class=\"item done\" data-item=\"&quot; onclick=&quot;x\">\
             &lt;b&gt;milk&lt;/b&gt; &amp; \"eggs\"</li></ul>"
        );
    }

    #[test]
    fn appending_moves_a_node_and_setting_text_drops_appended_children() {
        let mut ops = cached();
        ops.extend([
            HtipOp::Clone { template: 2 },
            HtipOp::Clone { template: 1 },
            HtipOp::Append {
                parent: 0,
                child: 2,
            },
            HtipOp::Append {
                parent: 1,
                child: 2,
            },
            HtipOp::Append {
                parent: 0,
                child: 1,
            },
        ]);
        let with_child = render(&ops).unwrap();
        assert_eq!(with_child, "<ul><li class=\"item\"><span></span></li></ul>");
        ops.push(HtipOp::SetText {
            node: 1,
            text: String::new(),
        });
        assert_eq!(render(&ops).unwrap(), "<ul></ul>");
    }

    #[rstest]
    #[case::script_close("</script>", true)]
    #[case::script_close_upper("</SCRIPT >", true)]
    #[case::script_close_slash("</script/", true)]
    #[case::script_like("</scripts>", false)]
    #[case::plain("let a = 1 < 2;", false)]
    fn raw_text_that_would_close_its_element_is_refused(#[case] text: &str, #[case] refused: bool) {
        let mut ops = cached();
        ops.extend([
            HtipOp::Clone { template: 3 },
            HtipOp::SetText {
                node: 1,
                text: text.into(),
            },
            HtipOp::Append {
                parent: 0,
                child: 1,
            },
        ]);
        assert_eq!(
            render(&ops) == Err(RenderError::UnrepresentableText(1)),
            refused
        );
    }

    #[rstest]
    #[case::cycle(vec![HtipOp::Clone { template: 2 }, HtipOp::Clone { template: 2 },
        HtipOp::Append { parent: 1, child: 2 }, HtipOp::Append { parent: 2, child: 1 }],
        RenderError::Hierarchy { parent: 2, child: 1 })]
    #[case::into_itself(vec![HtipOp::Clone { template: 2 }, HtipOp::Append { parent: 1, child: 1 }],
        RenderError::Hierarchy { parent: 1, child: 1 })]
    #[case::root(vec![HtipOp::Clone { template: 2 }, HtipOp::Append { parent: 1, child: 0 }],
        RenderError::Hierarchy { parent: 1, child: 0 })]
    #[case::unknown(vec![HtipOp::Append { parent: 0, child: 7 }], RenderError::UnknownNode(7))]
    #[case::void_parent(vec![HtipOp::Clone { template: 4 }, HtipOp::Clone { template: 1 },
        HtipOp::Append { parent: 1, child: 2 }], RenderError::VoidElement(1))]
    #[case::void_text(vec![HtipOp::Clone { template: 4 },
        HtipOp::SetText { node: 1, text: "x".into() }], RenderError::VoidElement(1))]
    #[case::into_script(vec![HtipOp::Clone { template: 3 }, HtipOp::Clone { template: 1 },
        HtipOp::Append { parent: 1, child: 2 }], RenderError::RawTextParent(1))]
    #[case::attr_name(vec![HtipOp::Clone { template: 1 },
        HtipOp::SetAttr { node: 1, key: "a b".into(), value: String::new() }],
        RenderError::AttributeName("a b".into()))]
    #[case::attr_quote(vec![HtipOp::Clone { template: 1 },
        HtipOp::SetAttr { node: 1, key: "x\"".into(), value: String::new() }],
        RenderError::AttributeName("x\"".into()))]
    #[case::class(vec![HtipOp::Clone { template: 1 },
        HtipOp::ToggleClass { node: 1, class: "a b".into(), enable: true }],
        RenderError::ClassName("a b".into()))]
    fn what_a_dom_refuses_is_refused(#[case] ops: Vec<HtipOp>, #[case] error: RenderError) {
        let mut all = cached();
        all.extend(ops);
        assert_eq!(render(&all), Err(error));
    }

    #[rstest]
    #[case::add_new(Some("a b"), "c", true, Some("a b c"))]
    #[case::add_present(Some("a b"), "a", true, Some("a b"))]
    #[case::dedup(Some("a  a\tb"), "c", true, Some("a b c"))]
    #[case::remove(Some("a b a"), "a", false, Some("b"))]
    #[case::remove_absent_attribute(None, "a", false, None)]
    #[case::add_no_attribute(None, "a", true, Some("a"))]
    fn classes_follow_dom_token_list(
        #[case] before: Option<&str>,
        #[case] class: &str,
        #[case] enable: bool,
        #[case] after: Option<&str>,
    ) {
        let mut element = Element {
            name: "p".into(),
            space: html::Space::Html,
            attrs: before
                .map(|b| vec![("class".to_owned(), b.to_owned())])
                .unwrap_or_default(),
            children: Vec::new(),
        };
        toggle_class(&mut element, class, enable);
        assert_eq!(element.attr("class"), after);
    }

    #[test]
    fn raw_text_is_written_as_it_is_and_pre_keeps_its_leading_line_feed() {
        let mut ops = cached();
        ops.extend([
            HtipOp::Clone { template: 3 },
            HtipOp::SetText {
                node: 1,
                text: "if (a < b && c > d) {}".into(),
            },
            HtipOp::Append {
                parent: 0,
                child: 1,
            },
        ]);
        assert_eq!(
            render(&ops).unwrap(),
            "<script>if (a < b && c > d) {}</script>"
        );
        let stream = encode(
            &[
                (1, "<pre></pre>"),
                (2, "<textarea></textarea>"),
                (3, "<p></p>"),
            ],
            &[
                HtipOp::Cache { template: 1 },
                HtipOp::Cache { template: 2 },
                HtipOp::Cache { template: 3 },
                HtipOp::Clone { template: 1 },
                HtipOp::SetText {
                    node: 1,
                    text: "\nline".into(),
                },
                HtipOp::Append {
                    parent: 0,
                    child: 1,
                },
                HtipOp::Clone { template: 2 },
                HtipOp::SetText {
                    node: 2,
                    text: "\nx".into(),
                },
                HtipOp::Append {
                    parent: 0,
                    child: 2,
                },
                HtipOp::Clone { template: 3 },
                HtipOp::SetText {
                    node: 3,
                    text: "\np".into(),
                },
                HtipOp::Append {
                    parent: 0,
                    child: 3,
                },
            ],
        )
        .unwrap();
        assert_eq!(
            render_stream(&stream).unwrap(),
            "<pre>\n\nline</pre><textarea>\n\nx</textarea><p>\np</p>"
        );
    }

    #[test]
    fn a_node_can_be_removed_but_not_the_root_and_a_void_element_takes_empty_text() {
        let mut ops = cached();
        ops.extend([
            HtipOp::Clone { template: 2 },
            HtipOp::Append {
                parent: 0,
                child: 1,
            },
            HtipOp::Clone { template: 4 },
            HtipOp::SetText {
                node: 2,
                text: String::new(),
            },
            HtipOp::Append {
                parent: 0,
                child: 2,
            },
            HtipOp::Remove { node: 1 },
        ]);
        assert_eq!(render(&ops).unwrap(), "<input type=\"checkbox\">");
        ops.push(HtipOp::Remove { node: 0 });
        assert_eq!(
            render(&ops),
            Err(RenderError::Hierarchy {
                parent: 0,
                child: 0
            })
        );
    }

    #[test]
    fn an_invalid_stream_is_refused() {
        assert!(matches!(
            render_stream(b"not a stream"),
            Err(RenderError::Stream(_))
        ));
    }
}
