//! A small HTML tree: what a template parses to, what the HTIP operations change, and how it
//! is written back as HTML (the HTML standard's fragment serialization, so a browser parsing
//! the output builds the same tree).

use std::fmt::Write as _;

use html5ever::tendril::TendrilSink;
use html5ever::{LocalName, Namespace, ParseOpts, QualName, local_name, ns, parse_fragment};
use markup5ever_rcdom::{Handle, NodeData, RcDom};

/// The namespace an element is in: it decides which elements are void and which hold raw
/// text when written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    /// HTML.
    Html,
    /// SVG.
    Svg,
    /// MathML.
    MathMl,
}

/// An element: its local name, attributes in order, and children.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// The local name, as the parser gave it (lower case for HTML elements).
    pub name: String,
    /// Its namespace.
    pub space: Space,
    /// (name, value) in document order; a name appears once.
    pub attrs: Vec<(String, String)>,
    /// The children.
    pub children: Vec<Node>,
}

/// A node of the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An element.
    Element(Element),
    /// A text node.
    Text(String),
    /// A comment.
    Comment(String),
}

/// HTML elements that have no end tag and no children.
const VOID: [&str; 18] = [
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "img", "input",
    "keygen", "link", "meta", "param", "source", "track", "wbr",
];

/// HTML elements whose text is written as it is (the standard's list; `noscript` with
/// scripting enabled, as in a browser).
const RAW_TEXT: [&str; 8] = [
    "style",
    "script",
    "xmp",
    "iframe",
    "noembed",
    "noframes",
    "plaintext",
    "noscript",
];

impl Element {
    /// Whether this element is void: no children, no end tag.
    pub fn is_void(&self) -> bool {
        self.space == Space::Html && VOID.contains(&self.name.as_str())
    }

    /// Whether it can hold only text when parsed (raw text, `<textarea>`, `<title>`).
    pub fn holds_only_text(&self) -> bool {
        self.holds_raw_text()
            || (self.space == Space::Html && matches!(self.name.as_str(), "textarea" | "title"))
    }

    /// Whether its text children are written without escaping.
    pub fn holds_raw_text(&self) -> bool {
        self.space == Space::Html && RAW_TEXT.contains(&self.name.as_str())
    }

    /// The value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets attribute `name` to `value`, in place when it exists, else at the end.
    pub fn set_attr(&mut self, name: &str, value: &str) {
        match self.attrs.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => value.clone_into(&mut slot.1),
            None => self.attrs.push((name.to_owned(), value.to_owned())),
        }
    }
}

/// Parses `html` as a `<template>` element's contents, as a browser host does with
/// `template.innerHTML`, and returns its first element: the node a clone of the template is.
/// `None` when the HTML holds no element.
pub fn parse_template(html: &str) -> Option<Element> {
    parse_fragment_in(html, local_name!("template"))
        .into_iter()
        .find_map(|node| match node {
            Node::Element(e) => Some(e),
            _ => None,
        })
}

/// Parses `html` as the contents of a `<section>`, as a browser would read the inside of a
/// component's slot.
pub fn parse_in_section(html: &str) -> Vec<Node> {
    parse_fragment_in(html, local_name!("section"))
}

fn parse_fragment_in(html: &str, context: LocalName) -> Vec<Node> {
    let context = QualName::new(None, ns!(html), context);
    let dom = parse_fragment(
        RcDom::default(),
        ParseOpts::default(),
        context,
        vec![],
        true,
    )
    .one(html);
    // The fragment's nodes are the children of the synthetic `html` element.
    let document = dom.document;
    let Some(root) = document.children.borrow().first().cloned() else {
        return Vec::new();
    };
    let children = root.children.borrow();
    children.iter().filter_map(convert).collect()
}

/// `nodes` as a parser gives them back: U+0000 as U+FFFD, adjacent texts joined, empty texts
/// gone.
pub fn normalized(nodes: &[Node]) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for node in nodes {
        match node {
            Node::Text(t) => {
                let t = t.replace('\0', "\u{fffd}");
                if let Some(Node::Text(prev)) = out.last_mut() {
                    prev.push_str(&t);
                } else if !t.is_empty() {
                    out.push(Node::Text(t));
                }
            }
            Node::Comment(c) => out.push(Node::Comment(c.clone())),
            Node::Element(e) => out.push(Node::Element(Element {
                name: e.name.clone(),
                space: e.space,
                attrs: e
                    .attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.replace('\0', "\u{fffd}")))
                    .collect(),
                children: normalized(&e.children),
            })),
        }
    }
    out
}

/// Our node for an rcdom node; `None` for kinds a template cannot hold (doctypes, processing
/// instructions).
fn convert(handle: &Handle) -> Option<Node> {
    match &handle.data {
        NodeData::Text { contents } => Some(Node::Text(contents.borrow().to_string())),
        NodeData::Comment { contents } => Some(Node::Comment(contents.to_string())),
        NodeData::Element {
            name,
            attrs,
            template_contents,
            ..
        } => {
            let space = space_of(&name.ns);
            let attrs = attrs
                .borrow()
                .iter()
                .map(|a| (attribute_name(&a.name), a.value.to_string()))
                .collect();
            // A `<template>` inside a template keeps its contents apart; they are its
            // children when written out.
            let source = template_contents
                .borrow()
                .clone()
                .unwrap_or_else(|| handle.clone());
            let children = source
                .children
                .borrow()
                .iter()
                .filter_map(convert)
                .collect();
            Some(Node::Element(Element {
                name: local(&name.local),
                space,
                attrs,
                children,
            }))
        }
        NodeData::Document | NodeData::Doctype { .. } | NodeData::ProcessingInstruction { .. } => {
            None
        }
    }
}

fn local(name: &LocalName) -> String {
    name.to_string()
}

fn space_of(ns: &Namespace) -> Space {
    if *ns == ns!(svg) {
        Space::Svg
    } else if *ns == ns!(mathml) {
        Space::MathMl
    } else {
        Space::Html
    }
}

/// An attribute's name as serialization writes it: `xlink:href` and friends keep their
/// prefix.
fn attribute_name(name: &QualName) -> String {
    match &name.prefix {
        Some(prefix) => format!("{prefix}:{}", name.local),
        None => name.local.to_string(),
    }
}

/// How text and attribute values are escaped when written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escaping {
    /// As the HTML standard serializes, plus carriage returns as `&#13;` (a parser would
    /// turn a raw one into a line feed), `<`, `>` in attribute values, and U+0000 as
    /// U+FFFD (what a parser makes of it, or drops in text).
    Standard,
    /// Nothing escaped: what dx-www's own SSR does. Only the `ssr-unescaped` mutant uses it,
    /// so only a build with the `mutants` feature has it.
    #[cfg(feature = "mutants")]
    None,
}

impl Escaping {
    /// Whether text and attribute values are escaped.
    pub fn escapes(self) -> bool {
        match self {
            Self::Standard => true,
            #[cfg(feature = "mutants")]
            Self::None => false,
        }
    }
}

/// Writes `text` escaped for text context.
pub fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            '\r' => out.push_str("&#13;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// Writes `value` escaped for a double-quoted attribute value.
pub fn escape_attr(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\u{a0}' => out.push_str("&nbsp;"),
            '\r' => out.push_str("&#13;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

/// Writes `nodes` as HTML.
pub fn serialize(out: &mut String, nodes: &[Node], escaping: Escaping) {
    for node in nodes {
        write_node(out, node, None, escaping);
    }
}

fn write_node(out: &mut String, node: &Node, parent: Option<&Element>, escaping: Escaping) {
    match node {
        Node::Text(text) => {
            if !escaping.escapes() || parent.is_some_and(Element::holds_raw_text) {
                out.push_str(text);
            } else {
                escape_text(out, text);
            }
        }
        Node::Comment(text) => {
            out.push_str("<!--");
            out.push_str(text);
            out.push_str("-->");
        }
        Node::Element(element) => {
            let _ = write!(out, "<{}", element.name);
            for (name, value) in &element.attrs {
                let _ = write!(out, " {name}=\"");
                if escaping.escapes() {
                    escape_attr(out, value);
                } else {
                    out.push_str(value);
                }
                out.push('"');
            }
            out.push('>');
            if element.is_void() {
                return;
            }
            // A parser drops one line feed right after these start tags: write one more.
            if element.space == Space::Html
                && matches!(element.name.as_str(), "pre" | "textarea" | "listing")
                && matches!(element.children.first(), Some(Node::Text(t)) if t.starts_with('\n'))
            {
                out.push('\n');
            }
            for child in &element.children {
                write_node(out, child, Some(element), escaping);
            }
            let _ = write!(out, "</{}>", element.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::list_item(
        "<li class=\"item\"><label><input type=\"checkbox\"><span></span></label></li>",
        "li"
    )]
    #[case::table_row("<tr><td>a</td></tr>", "tr")]
    #[case::leading_text("  text <p>para</p>", "p")]
    #[case::svg("<svg viewBox=\"0 0 1 1\"><path d=\"M0\"/></svg>", "svg")]
    fn a_template_is_its_first_element(#[case] html: &str, #[case] name: &str) {
        let element = parse_template(html).unwrap();
        assert_eq!(element.name, name);
    }

    #[test]
    fn a_template_without_an_element_has_no_node() {
        assert_eq!(parse_template("just text"), None);
        assert_eq!(parse_template(""), None);
    }

    #[test]
    fn a_parsed_template_is_written_back_as_it_was() {
        let html = "<li class=\"item\"><label><input type=\"checkbox\"><span></span></label></li>";
        let element = parse_template(html).unwrap();
        let mut out = String::new();
        serialize(&mut out, &[Node::Element(element)], Escaping::Standard);
        assert_eq!(out, html);
    }

    #[rstest]
    #[case::markup("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;")]
    #[case::amp("a & b", "a &amp; b")]
    #[case::nbsp("a\u{a0}b", "a&nbsp;b")]
    #[case::cr("a\r\nb", "a&#13;\nb")]
    fn text_is_escaped(#[case] text: &str, #[case] written: &str) {
        let mut out = String::new();
        escape_text(&mut out, text);
        assert_eq!(out, written);
    }

    #[rstest]
    #[case::breakout("\" onmouseover=\"x", "&quot; onmouseover=&quot;x")]
    #[case::tag("<b>", "&lt;b&gt;")]
    #[case::single_quote("it's", "it's")]
    fn attribute_values_are_escaped(#[case] value: &str, #[case] written: &str) {
        let mut out = String::new();
        escape_attr(&mut out, value);
        assert_eq!(out, written);
    }
}
