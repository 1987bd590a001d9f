//! Server-side rendering (`spec/ssr.md`, requirements 10.1-10.4, the seed's integration test
//! "SSR with bot detection"), judged over HTTP: who gets the rendered document and who the
//! shell, `Vary`, escaping of planted content, a failing component, and the rendered tree
//! against the tree the target's own client builds from the same stream in the MockHost.
//! The scenarios of `features/ssr.feature` are made of these.

pub mod dom;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::CaseFailure;
use crate::checks::client::ClientArea;
use crate::clause::ssr as cl;
use crate::http::{Exchange, RequestSpec};
use crate::target::Target;

use dom::{Document, Node};

/// A page the target lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRef {
    /// Its path.
    pub path: String,
    /// Its stream's URL.
    pub stream: String,
    /// Its title, if listed.
    pub title: Option<String>,
}

/// The target's `ssr` member.
#[derive(Debug, Clone)]
pub struct SsrArea {
    /// The pages.
    pub pages: Vec<PageRef>,
    /// Whether the conformance hook plants pages.
    pub planting: bool,
}

#[derive(Deserialize)]
struct Member {
    pages: Vec<PageMember>,
    #[serde(default)]
    planting: bool,
}

#[derive(Deserialize)]
struct PageMember {
    path: String,
    stream: String,
    #[serde(default)]
    title: Option<String>,
}

/// The target's pages, or why there are none to check (*not verified*).
pub fn area(target: &Target) -> Result<SsrArea, CaseFailure> {
    let raw = target
        .discovery()
        .raw
        .get("ssr")
        .cloned()
        .unwrap_or(Value::Null);
    if raw.is_null() {
        return Err(CaseFailure::blocked(
            "the target lists no pages (no `ssr` member in its discovery document)",
        ));
    }
    let member: Member = serde_json::from_value(raw)
        .map_err(|e| CaseFailure::plain(cl::PAGES.cite(), format!("the `ssr` member: {e}")))?;
    Ok(SsrArea {
        pages: member
            .pages
            .into_iter()
            .map(|p| PageRef {
                path: p.path,
                stream: p.stream,
                title: p.title,
            })
            .collect(),
        planting: member.planting,
    })
}

/// A user agent of `spec/crawlers.toml`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Agent {
    /// Who sends it.
    pub name: String,
    /// The `User-Agent`.
    pub ua: String,
    /// Whether dx-www's ten-name rule misses it.
    #[serde(default)]
    pub beyond_ten: bool,
}

#[derive(Deserialize)]
struct Pinned {
    crawlers: Vec<Agent>,
    browsers: Vec<Agent>,
}

/// The pinned crawlers and browsers (`spec/crawlers.toml`, compiled in).
pub fn pinned() -> (Vec<Agent>, Vec<Agent>) {
    match toml::from_str::<Pinned>(include_str!("../../../../spec/crawlers.toml")) {
        Ok(p) => (p.crawlers, p.browsers),
        Err(_) => (Vec::new(), Vec::new()),
    }
}

/// A crawler's agent for checks that need one: the first pinned crawler.
pub fn a_crawler() -> Agent {
    pinned().0.into_iter().next().unwrap_or(Agent {
        name: "Googlebot".into(),
        ua: "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into(),
        beyond_ten: false,
    })
}

/// A browser's agent for checks that need one: the first pinned browser.
pub fn a_browser() -> Agent {
    pinned().1.into_iter().next().unwrap_or(Agent {
        name: "Chrome".into(),
        ua: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36".into(),
        beyond_ten: false,
    })
}

/// `GET path` as `agent`.
pub async fn fetch_as(target: &Target, path: &str, agent: &Agent) -> Result<Exchange, CaseFailure> {
    Ok(target
        .http()
        .send(RequestSpec::get(path).header("user-agent", agent.ua.clone()))
        .await?)
}

/// Which document an answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The rendered document: its root holds nodes.
    Rendered(Document),
    /// The shell: an empty root naming the stream.
    Shell(Document),
}

/// Reads an answer to a page request: `200`, HTML, one root; then which document it is.
pub fn read_answer(ex: &Exchange) -> Result<Answer, CaseFailure> {
    if ex.status != 200 {
        return Err(CaseFailure::violates(
            ex,
            &cl::ANSWERS,
            format!("HTTP {}", ex.status),
        ));
    }
    let html = ex
        .header("content-type")
        .is_some_and(|t| t.to_ascii_lowercase().starts_with("text/html"));
    if !html {
        return Err(CaseFailure::violates(
            ex,
            &cl::ANSWERS,
            format!("Content-Type {:?}", ex.header("content-type").unwrap_or("")),
        ));
    }
    let doc = dom::parse(&ex.text());
    let root = match &doc.root {
        Ok(root) => root,
        Err(e) => return Err(CaseFailure::violates(ex, &cl::ONE_ROOT, e.clone())),
    };
    if root.is_empty() {
        if doc
            .root_attrs
            .get("data-dx-stream")
            .is_some_and(|s| !s.is_empty())
        {
            Ok(Answer::Shell(doc))
        } else {
            Err(CaseFailure::violates(
                ex,
                &cl::SHELL,
                "an empty root without data-dx-stream",
            ))
        }
    } else {
        Ok(Answer::Rendered(doc))
    }
}

/// Whether `ex` carries a `Vary` naming `User-Agent` or `*`.
pub fn varies_by_user_agent(ex: &Exchange) -> bool {
    ex.headers.get_all("vary").iter().any(|v| {
        v.to_str().is_ok_and(|v| {
            v.split(',')
                .map(str::trim)
                .any(|t| t == "*" || t.eq_ignore_ascii_case("user-agent"))
        })
    })
}

/// Hostile texts planted in a page, by name: markup, attribute breakouts, `</title>`,
/// references, control, bidirectional and look-alike characters.
pub const HOSTILE: &[(&str, &str)] = &[
    ("script element", "<script>alert(1)</script>"),
    ("closing title", "</title><script>alert(1)</script>"),
    ("attribute breakout", "\"><img src=x onerror=alert(1)>"),
    ("single-quoted breakout", "' onmouseover='alert(1)"),
    (
        "closing the root",
        "</p></section></main><script>alert(1)</script>",
    ),
    ("svg handler", "<svg onload=alert(1)>"),
    ("comment", "<!-- a comment --> after"),
    ("already escaped", "&lt;b&gt; &amp; &#x3c;i&#x3e; &nbsp;"),
    ("CDATA", "]]><![CDATA[<b>x</b>]]>"),
    ("template syntax", "{{7*7}} ${7*7} <%= 7*7 %>"),
    ("javascript URL", "javascript:alert(1)"),
    ("line breaks", "one\r\ntwo\rthree\nfour"),
    ("right-to-left override", "\u{202e}txt.exe"),
    ("zero-width", "zero\u{200b}width\u{feff}joiner\u{200d}"),
    (
        "full-width markup",
        "\u{ff1c}script\u{ff1e}alert(1)\u{ff1c}/script\u{ff1e}",
    ),
    ("line separator", "a\u{2028}b\u{2029}c"),
    ("combining", "e\u{301} n\u{303} \u{1f469}\u{200d}\u{1f4bb}"),
    ("non-breaking space", "a\u{a0}b"),
];

/// The hostile title.
pub const HOSTILE_TITLE: &str = "</title><script>alert('title')</script> & more";

/// A page planted through the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlantedPage {
    /// The page's path.
    pub path: String,
    /// Its stream.
    pub stream: String,
}

/// How the planted page's faulty component fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failing {
    /// It does not.
    None,
    /// With an error.
    Error,
    /// By panicking.
    Panic,
}

impl Failing {
    fn wire(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Error => "error",
            Self::Panic => "panic",
        }
    }
}

/// Plants a page with `title` and `texts` whose faulty component fails as `fail`.
pub async fn plant(
    target: &Target,
    title: &str,
    texts: &[&str],
    fail: Failing,
    message: &str,
) -> Result<PlantedPage, CaseFailure> {
    let Some(hooks) = target.discovery().fault_hooks.as_ref() else {
        return Err(CaseFailure::blocked(
            "planting pages needs the fault hooks (the conformance profile)",
        ));
    };
    let body = json!({ "title": title, "texts": texts, "fail": fail.wire(), "message": message });
    let ex = target
        .http()
        .send(RequestSpec::post_json(
            format!("{}/ssr-page", hooks.base),
            &body,
        ))
        .await?;
    let read = |key: &str| {
        ex.json()
            .and_then(|v| v.get(key).and_then(Value::as_str).map(str::to_owned))
    };
    match (ex.status.as_u16(), read("path"), read("stream")) {
        (201, Some(path), Some(stream)) => Ok(PlantedPage { path, stream }),
        (404, ..) => Err(CaseFailure::blocked(
            "the target's fault hooks do not plant pages (404 from {fault_hooks.base}/ssr-page)",
        )),
        _ => Err(CaseFailure::at(
            &ex,
            "spec/ssr.md, \"Conformance hook\": The answer is `201` with `path`, the planted page, and `stream`, its stream.",
            ex.describe_response(),
        )),
    }
}

/// The elements with `data-planted`, in document order: (attribute, text content).
fn planted_elements(doc: &Document) -> Vec<(String, String)> {
    doc.elements
        .iter()
        .filter_map(|e| match e {
            Node::Element {
                attrs, children, ..
            } => attrs
                .get("data-planted")
                .map(|v| (v.clone(), dom::text_of(children))),
            Node::Text(_) => None,
        })
        .collect()
}

/// Judges a rendered planted page: the title and every text read back exactly, in elements
/// of their own, and no element the page's content could have made.
pub fn judge_planted(
    ex: &Exchange,
    doc: &Document,
    title: &str,
    texts: &[(&str, &str)],
) -> Result<(), CaseFailure> {
    let mut wrong = Vec::new();
    let read_title = doc.title.clone().unwrap_or_default();
    if read_title != title {
        wrong.push(format!("the title read back as {read_title:?}"));
    }
    let found = planted_elements(doc);
    for (i, (name, text)) in texts.iter().enumerate() {
        match found.get(i) {
            Some((attr, content)) if attr == text && content == text => {}
            Some((attr, content)) => wrong.push(format!(
                "{name}: read back as text {content:?} and attribute {attr:?}"
            )),
            None => wrong.push(format!("{name}: no element with data-planted")),
        }
    }
    if found.len() > texts.len() {
        wrong.push(format!(
            "{} elements with data-planted where {} texts were planted",
            found.len(),
            texts.len()
        ));
    }
    let scripts = doc
        .elements
        .iter()
        .filter(|e| matches!(e, Node::Element { name, .. } if name == "script" || name == "img" || name == "svg"))
        .count();
    if scripts > 0 {
        wrong.push(format!(
            "{scripts} script, img or svg element(s) in a page whose content planted them as text"
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(CaseFailure::violates(ex, &cl::ESCAPED, wrong.join("; ")))
    }
}

/// `nodes` without the subtree of the element with `data-dx-component="faulty"`, and that
/// subtree.
pub fn split_faulty(nodes: &[Node]) -> (Vec<Node>, Option<Node>) {
    let mut faulty = None;
    let rest = without_faulty(nodes, &mut faulty);
    (rest, faulty)
}

fn without_faulty(nodes: &[Node], faulty: &mut Option<Node>) -> Vec<Node> {
    let mut out = Vec::new();
    for node in nodes {
        match node {
            Node::Element {
                name,
                attrs,
                children,
            } => {
                if attrs.get("data-dx-component").map(String::as_str) == Some("faulty") {
                    faulty.get_or_insert_with(|| node.clone());
                    continue;
                }
                out.push(Node::Element {
                    name: name.clone(),
                    attrs: attrs.clone(),
                    children: without_faulty(children, faulty),
                });
            }
            Node::Text(t) => out.push(Node::Text(t.clone())),
        }
    }
    out
}

/// The stack the client runs on here: wasmi compiles a function on its first call, and in a
/// debug build its translator's frames do not fit what is left of a test thread's 2 MiB
/// under cucumber's futures.
const CLIENT_STACK_BYTES: usize = 16 << 20;

/// The tree the target's client builds from `stream` in a fresh MockHost, run on a thread
/// of its own ([`CLIENT_STACK_BYTES`]).
pub fn client_page(client: &ClientArea, stream: &[u8]) -> Result<Vec<Node>, CaseFailure> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("dx-conformance-client".into())
            .stack_size(CLIENT_STACK_BYTES)
            .spawn_scoped(scope, || client_page_here(client, stream))
            .map_err(|e| CaseFailure::blocked(format!("no thread for the client: {e}")))?
            .join()
            .unwrap_or_else(|_| {
                Err(CaseFailure::plain(
                    cl::RENDERED.cite(),
                    "the suite's client host panicked",
                ))
            })
    })
}

fn client_page_here(client: &ClientArea, stream: &[u8]) -> Result<Vec<Node>, CaseFailure> {
    let mut instance = client.instance()?;
    let call = instance
        .render(stream)
        .map_err(|c| CaseFailure::plain("the client renders the page's stream", c.describe()))?;
    match call.returned() {
        Some(0) => {}
        other => {
            return Err(CaseFailure::plain(
                cl::RENDERED.cite(),
                format!("the target's client refused the page's stream: {other:?}"),
            ));
        }
    }
    dom::page_from_ops(&instance.host().dom_ops)
        .map_err(|e| CaseFailure::plain(cl::RENDERED.cite(), format!("the client's page: {e}")))
}

/// Judges the rendered root against the client's page.
pub fn judge_same_tree(
    ex: &Exchange,
    rendered: &[Node],
    built: &[Node],
) -> Result<(), CaseFailure> {
    match dom::first_difference(&dom::normalized(rendered), &dom::normalized(built)) {
        None => Ok(()),
        Some(d) => Err(CaseFailure::violates(ex, &cl::SAME_TREE, d)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn the_pinned_list_loads_with_teeth() {
        let (crawlers, browsers) = pinned();
        assert!(crawlers.len() >= 20 && browsers.len() >= 10);
        assert!(crawlers.iter().filter(|c| c.beyond_ten).count() >= 5);
    }

    #[test]
    fn the_faulty_component_is_split_off() {
        let page = vec![
            Node::Element {
                name: "section".into(),
                attrs: attrs(&[("data-dx-component", "heading")]),
                children: vec![Node::Text("t".into())],
            },
            Node::Element {
                name: "section".into(),
                attrs: attrs(&[("data-dx-component", "faulty")]),
                children: vec![Node::Text("oops".into())],
            },
        ];
        let (rest, faulty) = split_faulty(&page);
        assert_eq!(rest.len(), 1);
        assert!(faulty.is_some());
    }
}
