//! Feature: production-readiness, Integration: SSR with bot detection.
//!
//! The server-rendered document, parsed by a browser-grade parser (html5ever), holds exactly
//! the nodes the stream builds: for any texts, attribute values and classes, however hostile,
//! nothing the page's content says becomes markup (`spec/ssr.md`, "The same page").

#![allow(clippy::unwrap_used, clippy::expect_used)]

use dx_htip::HtipOp;
use dx_htip::stream::encode;
use dx_ssr::document::{Head, ROOT_ID, rendered};
use dx_ssr::html::{Element, Escaping, Node, Space, normalized};
use dx_ssr::render::Tree;
use html5ever::tendril::TendrilSink;
use html5ever::{ParseOpts, parse_document};
use markup5ever_rcdom::{Handle, NodeData, RcDom};
use proptest::prelude::*;

/// Elements that nest in any order without the parser moving them, and two that hold only
/// text (the renderer refuses elements inside those).
const TEMPLATES: [(u16, &str); 6] = [
    (1, "<div></div>"),
    (2, "<span class=\"item\"><b>x</b></span>"),
    (3, "<pre></pre>"),
    (4, "<textarea></textarea>"),
    (5, "<em title=\"t\"></em>"),
    (6, "<div><!-- c --></div>"),
];

/// Text that stresses escaping: markup, quotes, entities, CR/LF, NUL, bidi and zero-width
/// characters, and anything else.
fn hostile_text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("</title><script>alert(1)</script>".to_owned()),
        Just("\" onmouseover=\"alert(1)".to_owned()),
        Just("&amp;&lt;&#x3c;&nbsp;".to_owned()),
        Just("\r\n\n\r".to_owned()),
        Just("\u{202e}evil\u{200b}\u{feff}\u{0}".to_owned()),
        "[<>&\"'\\r\\n\\t =/a-z\u{a0}\u{0}\u{2028}]{0,24}",
        any::<String>(),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Clone(u16),
    Text(u32, String),
    Attr(u32, String, String),
    Class(u32, String, bool),
    Append(u32, u32),
    Remove(u32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (1u16..=6).prop_map(Step::Clone),
        3 => (0u32..8, hostile_text()).prop_map(|(n, t)| Step::Text(n, t)),
        2 => (0u32..8, "[a-z][a-z0-9-]{0,6}", hostile_text()).prop_map(|(n, k, v)| Step::Attr(n, k, v)),
        1 => (0u32..8, "[^\\t\\n\\x0c\\r ]{1,8}", any::<bool>()).prop_map(|(n, c, e)| Step::Class(n, c, e)),
        3 => (0u32..8, 0u32..8).prop_map(|(p, c)| Step::Append(p, c)),
        1 => (1u32..8).prop_map(Step::Remove),
    ]
}

fn op(step: &Step) -> HtipOp {
    match step.clone() {
        Step::Clone(template) => HtipOp::Clone { template },
        Step::Text(node, text) => HtipOp::SetText { node, text },
        Step::Attr(node, key, value) => HtipOp::SetAttr { node, key, value },
        Step::Class(node, class, enable) => HtipOp::ToggleClass {
            node,
            class,
            enable,
        },
        Step::Append(parent, child) => HtipOp::Append { parent, child },
        Step::Remove(node) => HtipOp::Remove { node },
    }
}

fn convert(handle: &Handle) -> Option<Node> {
    match &handle.data {
        NodeData::Text { contents } => Some(Node::Text(contents.borrow().to_string())),
        NodeData::Comment { contents } => Some(Node::Comment(contents.to_string())),
        NodeData::Element { name, attrs, .. } => Some(Node::Element(Element {
            name: name.local.to_string(),
            space: Space::Html,
            attrs: attrs
                .borrow()
                .iter()
                .map(|a| (a.name.local.to_string(), a.value.to_string()))
                .collect(),
            children: handle
                .children
                .borrow()
                .iter()
                .filter_map(convert)
                .collect(),
        })),
        _ => None,
    }
}

fn find_root(handle: &Handle) -> Option<Handle> {
    if let NodeData::Element { attrs, .. } = &handle.data
        && attrs
            .borrow()
            .iter()
            .any(|a| &*a.name.local == "id" && &*a.value == ROOT_ID)
    {
        return Some(handle.clone());
    }
    handle.children.borrow().iter().find_map(find_root)
}

/// The nodes under the root of the document `html`, as a browser parses it.
fn parsed_root(html: &str) -> Vec<Node> {
    let dom = parse_document(RcDom::default(), ParseOpts::default()).one(html);
    let root = find_root(&dom.document).expect("the document has its root");
    let children: Vec<Node> = root.children.borrow().iter().filter_map(convert).collect();
    children
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Feature: production-readiness, Integration: SSR with bot detection — the rendered
    /// document parses back to the tree the stream builds.
    #[test]
    fn the_rendered_document_parses_back_to_the_streams_tree(
        steps in proptest::collection::vec(step(), 1..40),
        title in hostile_text(),
    ) {
        let mut ops: Vec<HtipOp> = (1..=6).map(|template| HtipOp::Cache { template }).collect();
        ops.extend(steps.iter().map(op));
        let stream = encode(&TEMPLATES, &ops).unwrap();
        // Apply op by op, keeping what a DOM accepts: a refused operation leaves the page as
        // it was, as a component boundary would drop the whole fragment.
        let mut tree = Tree::new(Escaping::Standard);
        let decoded = dx_htip::stream::decode(&stream).unwrap();
        let templates = decoded.templates();
        for op in decoded.ops() {
            let op = op.to_owned_op();
            let _ = tree.apply(&op, |id| {
                templates.iter().find(|(t, _)| *t == id).map(|(_, h)| (*h).to_owned())
            });
        }
        let body = tree.to_html();
        let document = rendered(&Head { title: &title, lang: "en", stylesheet: None }, &body, Escaping::Standard);
        prop_assert_eq!(parsed_root(&document), normalized(&tree.nodes()));
        // The title is the title, whatever it says.
        let dom = parse_document(RcDom::default(), ParseOpts::default()).one(document.as_str());
        let text = title_text(&dom.document);
        let expected = title.replace('\0', "\u{fffd}");
        prop_assert_eq!(text.unwrap_or_default(), expected);
    }
}

fn title_text(handle: &Handle) -> Option<String> {
    if let NodeData::Element { name, .. } = &handle.data
        && &*name.local == "title"
    {
        let mut text = String::new();
        for child in handle.children.borrow().iter() {
            if let NodeData::Text { contents } = &child.data {
                text.push_str(&contents.borrow());
            }
        }
        return Some(text);
    }
    handle.children.borrow().iter().find_map(title_text)
}

/// The unescaped renderer (dx-www's own SSR, the `ssr-unescaped` mutant) fails the property:
/// planted markup becomes elements.
#[cfg(feature = "mutants")]
#[test]
fn an_unescaped_renderer_lets_markup_in() {
    let ops = vec![
        HtipOp::Cache { template: 1 },
        HtipOp::Clone { template: 1 },
        HtipOp::SetText {
            node: 1,
            text: "<img src=x onerror=alert(1)>".into(),
        },
        HtipOp::Append {
            parent: 0,
            child: 1,
        },
    ];
    let stream = encode(&TEMPLATES, &ops).unwrap();
    let mut tree = Tree::new(Escaping::None);
    tree.apply_stream(&stream).unwrap();
    let document = rendered(
        &Head {
            title: "t",
            lang: "en",
            stylesheet: None,
        },
        &tree.to_html(),
        Escaping::None,
    );
    assert_ne!(parsed_root(&document), normalized(&tree.nodes()));
}
