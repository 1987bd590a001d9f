//! Trees to compare (`spec/ssr.md`, "The same page"): what a browser's parser makes of a
//! target's rendered document (html5ever, the parser Servo uses), and what a browser's DOM
//! makes of the page operations the target's client asked its host for, in the MockHost.
//! Written apart from the reference's renderer, so the suite does not share its mistakes.

use std::collections::BTreeMap;

use html5ever::tendril::TendrilSink;
use html5ever::{LocalName, ParseOpts, QualName, ns, parse_document, parse_fragment};
use markup5ever_rcdom::{Handle, NodeData, RcDom};

use crate::client::DomOp;

/// A node as the spec compares them: comments dropped, attributes unordered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// An element: local name, attributes, children.
    Element {
        /// Its local name.
        name: String,
        /// Its attributes.
        attrs: BTreeMap<String, String>,
        /// Its children.
        children: Vec<Node>,
    },
    /// Text (adjacent texts joined).
    Text(String),
}

/// The id of the root element in both documents.
pub const ROOT_ID: &str = "dx-root";

/// What a parsed document holds that the checks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The children of the element with `id="dx-root"`, if there is exactly one.
    pub root: Result<Vec<Node>, String>,
    /// The root element's attributes.
    pub root_attrs: BTreeMap<String, String>,
    /// The text of the first `<title>`, if any.
    pub title: Option<String>,
    /// Every element of the document, in document order, for searches.
    pub elements: Vec<Node>,
}

/// Parses `html` as a browser parses a document.
pub fn parse(html: &str) -> Document {
    let dom = parse_document(RcDom::default(), ParseOpts::default()).one(html);
    let mut roots = Vec::new();
    find_by_id(&dom.document, ROOT_ID, &mut roots);
    let (root, root_attrs) = match roots.as_slice() {
        [one] => (
            Ok(children(one)),
            match convert(one) {
                Some(Node::Element { attrs, .. }) => attrs,
                _ => BTreeMap::new(),
            },
        ),
        [] => (
            Err(format!("no element with id=\"{ROOT_ID}\"")),
            BTreeMap::new(),
        ),
        many => (
            Err(format!("{} elements with id=\"{ROOT_ID}\"", many.len())),
            BTreeMap::new(),
        ),
    };
    let mut elements = Vec::new();
    collect(&dom.document, &mut elements);
    let title = elements.iter().find_map(|e| match e {
        Node::Element { name, children, .. } if name == "title" => Some(text_of(children)),
        _ => None,
    });
    Document {
        root,
        root_attrs,
        title,
        elements,
    }
}

fn find_by_id(handle: &Handle, id: &str, found: &mut Vec<Handle>) {
    if let NodeData::Element { attrs, .. } = &handle.data
        && attrs
            .borrow()
            .iter()
            .any(|a| &*a.name.local == "id" && &*a.value == id)
    {
        found.push(handle.clone());
    }
    for child in handle.children.borrow().iter() {
        find_by_id(child, id, found);
    }
}

fn collect(handle: &Handle, out: &mut Vec<Node>) {
    if matches!(handle.data, NodeData::Element { .. })
        && let Some(node) = convert(handle)
    {
        out.push(node);
    }
    for child in handle.children.borrow().iter() {
        collect(child, out);
    }
}

fn children(handle: &Handle) -> Vec<Node> {
    joined(
        handle
            .children
            .borrow()
            .iter()
            .filter_map(convert)
            .collect(),
    )
}

fn convert(handle: &Handle) -> Option<Node> {
    match &handle.data {
        NodeData::Text { contents } => Some(Node::Text(contents.borrow().to_string())),
        NodeData::Element {
            name,
            attrs,
            template_contents,
            ..
        } => {
            let source = template_contents
                .borrow()
                .clone()
                .unwrap_or_else(|| handle.clone());
            Some(Node::Element {
                name: name.local.to_string(),
                attrs: attrs
                    .borrow()
                    .iter()
                    .map(|a| (attribute_name(&a.name), a.value.to_string()))
                    .collect(),
                children: children(&source),
            })
        }
        _ => None,
    }
}

fn attribute_name(name: &QualName) -> String {
    match &name.prefix {
        Some(prefix) => format!("{prefix}:{}", name.local),
        None => name.local.to_string(),
    }
}

/// Joins adjacent texts and drops empty ones, as a parser reads them back.
fn joined(nodes: Vec<Node>) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for node in nodes {
        match node {
            Node::Text(t) if t.is_empty() => {}
            Node::Text(t) => match out.last_mut() {
                Some(Node::Text(prev)) => prev.push_str(&t),
                _ => out.push(Node::Text(t)),
            },
            element => out.push(element),
        }
    }
    out
}

/// The text content of `nodes`.
pub fn text_of(nodes: &[Node]) -> String {
    let mut out = String::new();
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Element { children, .. } => out.push_str(&text_of(children)),
        }
    }
    out
}

/// The first element of `html` parsed as a `<template>`'s contents: a template's node.
fn template_node(html: &str) -> Option<Node> {
    let context = QualName::new(None, ns!(html), LocalName::from("template"));
    let dom = parse_fragment(
        RcDom::default(),
        ParseOpts::default(),
        context,
        vec![],
        true,
    )
    .one(html);
    let root = dom.document.children.borrow().first().cloned()?;
    root.children
        .borrow()
        .iter()
        .filter(|c| matches!(c.data, NodeData::Element { .. }))
        .find_map(convert)
}

/// One node of the host's page while it is built.
#[derive(Debug, Clone)]
enum Live {
    Element {
        name: String,
        attrs: BTreeMap<String, String>,
        children: Vec<Child>,
        parent: Option<u32>,
    },
}

#[derive(Debug, Clone)]
enum Child {
    Own(Node),
    Node(u32),
}

/// Builds the page a browser's DOM would hold after the host calls `ops`, starting from an
/// empty root (node 0), as `spec/ssr.md` describes; an operation a DOM would throw on is an
/// error naming it.
pub fn page_from_ops(ops: &[DomOp]) -> Result<Vec<Node>, String> {
    let mut templates: BTreeMap<u32, String> = BTreeMap::new();
    let mut nodes: BTreeMap<u32, Live> = BTreeMap::new();
    nodes.insert(
        0,
        Live::Element {
            name: "main".into(),
            attrs: BTreeMap::new(),
            children: Vec::new(),
            parent: None,
        },
    );
    for op in ops {
        match op {
            DomOp::Cache { template, html } => {
                templates.insert(*template, html.clone());
            }
            DomOp::Clone { template, node } => {
                let html = templates
                    .get(template)
                    .ok_or_else(|| format!("template {template} cloned before it was cached"))?;
                let Some(Node::Element {
                    name,
                    attrs,
                    children,
                }) = template_node(html)
                else {
                    return Err(format!("template {template} holds no element"));
                };
                nodes.insert(
                    *node,
                    Live::Element {
                        name,
                        attrs,
                        children: children.into_iter().map(Child::Own).collect(),
                        parent: None,
                    },
                );
            }
            DomOp::Append { parent, child } => {
                if !nodes.contains_key(parent) || !nodes.contains_key(child) || *child == 0 {
                    return Err(format!("append of node {child} to node {parent}"));
                }
                let mut up = Some(*parent);
                while let Some(at) = up {
                    if at == *child {
                        return Err(format!("node {child} appended inside itself"));
                    }
                    up = match nodes.get(&at) {
                        Some(Live::Element { parent, .. }) => *parent,
                        None => None,
                    };
                }
                detach(&mut nodes, *child);
                if let Some(Live::Element { children, .. }) = nodes.get_mut(parent) {
                    children.push(Child::Node(*child));
                }
                if let Some(Live::Element { parent: p, .. }) = nodes.get_mut(child) {
                    *p = Some(*parent);
                }
            }
            DomOp::Remove { node } => {
                if !nodes.contains_key(node) {
                    return Err(format!("removal of node {node}"));
                }
                detach(&mut nodes, *node);
            }
            DomOp::SetText { node, text } => {
                let appended: Vec<u32> = match nodes.get(node) {
                    Some(Live::Element { children, .. }) => children
                        .iter()
                        .filter_map(|c| match c {
                            Child::Node(n) => Some(*n),
                            Child::Own(_) => None,
                        })
                        .collect(),
                    None => return Err(format!("text of node {node}")),
                };
                for n in appended {
                    detach(&mut nodes, n);
                }
                if let Some(Live::Element { children, .. }) = nodes.get_mut(node) {
                    children.clear();
                    if !text.is_empty() {
                        children.push(Child::Own(Node::Text(text.clone())));
                    }
                }
            }
            DomOp::SetAttr { node, key, value } => match nodes.get_mut(node) {
                Some(Live::Element { attrs, .. }) => {
                    attrs.insert(key.to_ascii_lowercase(), value.clone());
                }
                None => return Err(format!("attribute of node {node}")),
            },
            DomOp::ToggleClass {
                node,
                class,
                enable,
            } => match nodes.get_mut(node) {
                Some(Live::Element { attrs, .. }) => toggle(attrs, class, *enable),
                None => return Err(format!("class of node {node}")),
            },
            DomOp::Listen { .. } => {}
        }
    }
    Ok(materialize(&nodes, 0))
}

fn detach(nodes: &mut BTreeMap<u32, Live>, node: u32) {
    let parent = match nodes.get(&node) {
        Some(Live::Element { parent, .. }) => *parent,
        None => None,
    };
    if let Some(p) = parent
        && let Some(Live::Element { children, .. }) = nodes.get_mut(&p)
    {
        children.retain(|c| !matches!(c, Child::Node(n) if *n == node));
    }
    if let Some(Live::Element { parent, .. }) = nodes.get_mut(&node) {
        *parent = None;
    }
}

fn toggle(attrs: &mut BTreeMap<String, String>, class: &str, enable: bool) {
    let Some(current) = attrs.get("class").cloned().or(enable.then(String::new)) else {
        return;
    };
    let mut tokens: Vec<&str> = Vec::new();
    for t in current.split_ascii_whitespace() {
        if !tokens.contains(&t) {
            tokens.push(t);
        }
    }
    if enable {
        if !tokens.contains(&class) {
            tokens.push(class);
        }
    } else {
        tokens.retain(|t| *t != class);
    }
    attrs.insert("class".into(), tokens.join(" "));
}

fn materialize(nodes: &BTreeMap<u32, Live>, id: u32) -> Vec<Node> {
    let Some(Live::Element { children, .. }) = nodes.get(&id) else {
        return Vec::new();
    };
    joined(
        children
            .iter()
            .map(|c| match c {
                Child::Own(node) => node.clone(),
                Child::Node(n) => match nodes.get(n) {
                    Some(Live::Element { name, attrs, .. }) => Node::Element {
                        name: name.clone(),
                        attrs: attrs.clone(),
                        children: materialize(nodes, *n),
                    },
                    None => Node::Text(String::new()),
                },
            })
            .collect(),
    )
}

/// `nodes` with U+0000 read as U+FFFD, as the spec compares them.
pub fn normalized(nodes: &[Node]) -> Vec<Node> {
    nodes
        .iter()
        .map(|n| match n {
            Node::Text(t) => Node::Text(t.replace('\0', "\u{fffd}")),
            Node::Element {
                name,
                attrs,
                children,
            } => Node::Element {
                name: name.clone(),
                attrs: attrs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.replace('\0', "\u{fffd}")))
                    .collect(),
                children: normalized(children),
            },
        })
        .collect()
}

/// Where two trees first differ, as a path and both sides; `None` when they are the same.
pub fn first_difference(rendered: &[Node], built: &[Node]) -> Option<String> {
    difference_at("root", rendered, built)
}

fn describe(node: Option<&Node>) -> String {
    match node {
        None => "nothing".into(),
        Some(Node::Text(t)) => format!("text {t:?}"),
        Some(Node::Element { name, attrs, .. }) => {
            let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
            format!(
                "<{name}{}{}>",
                if attrs.is_empty() { "" } else { " " },
                attrs.join(" ")
            )
        }
    }
}

fn difference_at(path: &str, a: &[Node], b: &[Node]) -> Option<String> {
    for i in 0..a.len().max(b.len()) {
        let (x, y) = (a.get(i), b.get(i));
        let here = format!("{path} > child {}", i + 1);
        match (x, y) {
            (
                Some(Node::Element {
                    name: n1,
                    attrs: a1,
                    children: c1,
                }),
                Some(Node::Element {
                    name: n2,
                    attrs: a2,
                    children: c2,
                }),
            ) if n1 == n2 && a1 == a2 => {
                if let Some(d) = difference_at(&format!("{here} <{n1}>"), c1, c2) {
                    return Some(d);
                }
            }
            (Some(Node::Text(t1)), Some(Node::Text(t2))) if t1 == t2 => {}
            _ => {
                return Some(format!(
                    "at {here}: the rendered document has {}, the client's page has {}",
                    describe(x),
                    describe(y)
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(name: &str, attrs: &[(&str, &str)], children: Vec<Node>) -> Node {
        Node::Element {
            name: name.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            children,
        }
    }

    #[test]
    fn a_document_root_and_title_are_read_as_a_browser_reads_them() {
        let doc = parse(
            "<!DOCTYPE html><title>&lt;/title&gt;</title><main id=\"dx-root\"><p class=a>x &amp; y<!-- c --></p></main>",
        );
        assert_eq!(doc.title.as_deref(), Some("</title>"));
        assert_eq!(
            doc.root.unwrap(),
            vec![element(
                "p",
                &[("class", "a")],
                vec![Node::Text("x & y".into())]
            )]
        );
    }

    #[test]
    fn unescaped_markup_becomes_elements() {
        let doc = parse("<main id=\"dx-root\"><p><img src=x onerror=alert(1)></p></main>");
        assert_eq!(
            doc.root.unwrap(),
            vec![element(
                "p",
                &[],
                vec![element(
                    "img",
                    &[("src", "x"), ("onerror", "alert(1)")],
                    vec![]
                )]
            )]
        );
    }

    #[test]
    fn a_missing_or_repeated_root_is_named() {
        assert!(parse("<p>no root</p>").root.is_err());
        assert!(
            parse("<div id=dx-root></div><div id=dx-root></div>")
                .root
                .unwrap_err()
                .contains("2 elements")
        );
    }

    #[test]
    fn the_hosts_page_follows_dom_semantics() {
        let ops = vec![
            DomOp::Cache {
                template: 1,
                html: "<ul class=\"l\"></ul>".into(),
            },
            DomOp::Cache {
                template: 2,
                html: " <li><b>x</b></li>".into(),
            },
            DomOp::Clone {
                template: 1,
                node: 1,
            },
            DomOp::Clone {
                template: 2,
                node: 2,
            },
            DomOp::Append {
                parent: 0,
                child: 1,
            },
            DomOp::Append {
                parent: 1,
                child: 2,
            },
            DomOp::SetAttr {
                node: 2,
                key: "Data-X".into(),
                value: "1".into(),
            },
            DomOp::ToggleClass {
                node: 2,
                class: "done".into(),
                enable: true,
            },
            DomOp::ToggleClass {
                node: 1,
                class: "l".into(),
                enable: false,
            },
        ];
        assert_eq!(
            page_from_ops(&ops).unwrap(),
            vec![element(
                "ul",
                &[("class", "")],
                vec![element(
                    "li",
                    &[("data-x", "1"), ("class", "done")],
                    vec![element("b", &[], vec![Node::Text("x".into())])]
                )]
            )]
        );
    }

    #[test]
    fn setting_text_drops_appended_children() {
        let ops = vec![
            DomOp::Cache {
                template: 1,
                html: "<div></div>".into(),
            },
            DomOp::Clone {
                template: 1,
                node: 1,
            },
            DomOp::Clone {
                template: 1,
                node: 2,
            },
            DomOp::Append {
                parent: 1,
                child: 2,
            },
            DomOp::Append {
                parent: 0,
                child: 1,
            },
            DomOp::SetText {
                node: 1,
                text: "t".into(),
            },
        ];
        assert_eq!(
            page_from_ops(&ops).unwrap(),
            vec![element("div", &[], vec![Node::Text("t".into())])]
        );
    }

    #[test]
    fn the_first_difference_is_named_with_its_path() {
        let a = vec![element(
            "ul",
            &[],
            vec![element("li", &[], vec![Node::Text("a".into())])],
        )];
        let b = vec![element(
            "ul",
            &[],
            vec![element("li", &[], vec![Node::Text("b".into())])],
        )];
        let d = first_difference(&a, &b).unwrap();
        assert!(
            d.contains("root > child 1 <ul> > child 1 <li> > child 1"),
            "{d}"
        );
        assert!(d.contains("text \"a\"") && d.contains("text \"b\""), "{d}");
        assert_eq!(first_difference(&a, &a), None);
    }
}
