//! A page: components, each rendering into a [`Fragment`] inside its own error boundary, put
//! together into one HTIP stream (`spec/ssr.md`, "Components"). The stream is what the
//! client renders and what [`crate::render`] turns into HTML, so both paths show the same
//! page. A component that fails (an error, a panic, or operations a DOM would refuse) shows
//! its fallback; the rest of the page is built as if nothing happened.

use std::collections::HashMap;

use dx_error::{DxError, ErrorBoundary};
use dx_htip::stream::{EncodeError, encode};
use dx_htip::{Event, HtipOp};

use crate::render::{RenderError, Tree};

/// A template of a fragment (an index into its own list).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template(u16);

/// A node of a fragment: [`Fragment::SLOT`], or one it cloned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeRef(u32);

/// What one component renders: templates and operations in its own numbering, where
/// [`Fragment::SLOT`] is the element the page gave it.
#[derive(Debug, Default, Clone)]
pub struct Fragment {
    templates: Vec<String>,
    ops: Vec<HtipOp>,
    clones: u32,
}

impl Fragment {
    /// The component's own element (a `<section>` the page creates for it).
    pub const SLOT: NodeRef = NodeRef(0);

    /// A template with `html` (its first element is the node a clone is).
    pub fn template(&mut self, html: &str) -> Template {
        let index = match self.templates.iter().position(|t| t == html) {
            Some(i) => i,
            None => {
                self.templates.push(html.to_owned());
                self.templates.len() - 1
            }
        };
        Template(u16::try_from(index).unwrap_or(u16::MAX))
    }

    /// A new node, a clone of `template`, not yet in the page.
    pub fn clone_of(&mut self, template: Template) -> NodeRef {
        self.ops.push(HtipOp::Clone {
            template: template.0,
        });
        self.clones += 1;
        NodeRef(self.clones)
    }

    /// Sets `node`'s text (dropping its children).
    pub fn text(&mut self, node: NodeRef, text: impl Into<String>) {
        self.ops.push(HtipOp::SetText {
            node: node.0,
            text: text.into(),
        });
    }

    /// Sets an attribute of `node`.
    pub fn attr(&mut self, node: NodeRef, key: impl Into<String>, value: impl Into<String>) {
        self.ops.push(HtipOp::SetAttr {
            node: node.0,
            key: key.into(),
            value: value.into(),
        });
    }

    /// Adds (`enable`) or removes a class of `node`.
    pub fn class(&mut self, node: NodeRef, class: impl Into<String>, enable: bool) {
        self.ops.push(HtipOp::ToggleClass {
            node: node.0,
            class: class.into(),
            enable,
        });
    }

    /// Attaches listener `handler` for `event` to `node` (the client routes it to `on_event`).
    pub fn listen(&mut self, node: NodeRef, event: Event, handler: u32) {
        self.ops.push(HtipOp::Listen {
            node: node.0,
            event,
            handler,
        });
    }

    /// Appends `child` to `parent`.
    pub fn append(&mut self, parent: NodeRef, child: NodeRef) {
        self.ops.push(HtipOp::Append {
            parent: parent.0,
            child: child.0,
        });
    }

    /// Removes `node` from the page.
    pub fn remove(&mut self, node: NodeRef) {
        self.ops.push(HtipOp::Remove { node: node.0 });
    }

    /// Checks the fragment renders: on its own, in an empty slot.
    fn check(&self) -> Result<(), RenderError> {
        let mut tree = Tree::default();
        let mut cached = vec![false; self.templates.len()];
        for op in &self.ops {
            if let HtipOp::Clone { template } = op {
                let i = usize::from(*template);
                if !cached.get(i).copied().unwrap_or(true) {
                    tree.apply(
                        &HtipOp::Cache {
                            template: *template,
                        },
                        |t| self.templates.get(usize::from(t)).cloned(),
                    )?;
                    cached[i] = true;
                }
            }
            tree.apply(op, |t| self.templates.get(usize::from(t)).cloned())?;
        }
        tree.check_round_trip()
    }
}

/// A part of a page.
pub trait Component: Send + Sync {
    /// Its name: the slot's `data-dx-component` and the logs name it.
    fn name(&self) -> &str;

    /// Renders the component into `out`.
    fn render(&self, out: &mut Fragment) -> Result<(), DxError>;

    /// What the slot shows when rendering failed. It must not say why: that is in the log.
    fn fallback(&self, out: &mut Fragment) {
        out.attr(Fragment::SLOT, "data-dx-fallback", "");
        out.attr(Fragment::SLOT, "role", "status");
        out.text(
            Fragment::SLOT,
            "This part of the page is not available right now.",
        );
    }
}

/// A component that failed while its page was built.
#[derive(Debug)]
pub struct Failure {
    /// The component's name.
    pub component: String,
    /// Why: its error, a caught panic, or what the renderer refused.
    pub error: DxError,
}

/// A page built: its stream, and the components that showed their fallback.
#[derive(Debug)]
pub struct Built {
    /// The HTIP stream of the whole page.
    pub stream: Vec<u8>,
    /// Components that failed.
    pub failures: Vec<Failure>,
}

/// Why a page could not be built at all (never a component's failure).
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The stream could not be encoded (more than 65,535 distinct templates, a text over
    /// 65,535 bytes).
    #[error("the page's stream cannot be encoded: {0}")]
    Encode(#[from] EncodeError),
    /// More templates than a stream can name.
    #[error("the page uses more templates than a stream can name")]
    TooManyTemplates,
}

/// The template of a component's slot.
const SLOT_TEMPLATE: &str = "<section></section>";

/// A page: components in order, each behind its own boundary.
pub struct Page {
    components: Vec<(Box<dyn Component>, ErrorBoundary)>,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.components.iter().map(|(c, _)| c.name()))
            .finish()
    }
}

/// The stream being put together: global template ids and handles.
#[derive(Default)]
struct Assembly {
    templates: Vec<String>,
    ids: HashMap<String, u16>,
    ops: Vec<HtipOp>,
    handles: u32,
}

impl Assembly {
    /// The id of a template, caching it the first time.
    fn template(&mut self, html: &str) -> Result<u16, PageError> {
        if let Some(id) = self.ids.get(html) {
            return Ok(*id);
        }
        let id =
            u16::try_from(self.templates.len() + 1).map_err(|_| PageError::TooManyTemplates)?;
        self.templates.push(html.to_owned());
        self.ids.insert(html.to_owned(), id);
        self.ops.push(HtipOp::Cache { template: id });
        Ok(id)
    }

    fn clone_of(&mut self, template: u16) -> u32 {
        self.ops.push(HtipOp::Clone { template });
        self.handles += 1;
        self.handles
    }

    /// Adds `fragment`'s operations, its slot being handle `slot`.
    fn add(&mut self, fragment: &Fragment, slot: u32) -> Result<(), PageError> {
        let base = self.handles;
        let node = |n: u32| if n == 0 { slot } else { base + n };
        self.ops.push(HtipOp::BatchBegin);
        for op in &fragment.ops {
            let op = match op {
                HtipOp::Clone { template } => {
                    let html = fragment
                        .templates
                        .get(usize::from(*template))
                        .map(String::as_str)
                        .unwrap_or_default();
                    let id = self.template(html)?;
                    self.clone_of(id);
                    continue;
                }
                HtipOp::Append { parent, child } => HtipOp::Append {
                    parent: node(*parent),
                    child: node(*child),
                },
                HtipOp::Remove { node: n } => HtipOp::Remove { node: node(*n) },
                HtipOp::SetText { node: n, text } => HtipOp::SetText {
                    node: node(*n),
                    text: text.clone(),
                },
                HtipOp::SetAttr {
                    node: n,
                    key,
                    value,
                } => HtipOp::SetAttr {
                    node: node(*n),
                    key: key.clone(),
                    value: value.clone(),
                },
                HtipOp::ToggleClass {
                    node: n,
                    class,
                    enable,
                } => HtipOp::ToggleClass {
                    node: node(*n),
                    class: class.clone(),
                    enable: *enable,
                },
                HtipOp::Listen {
                    node: n,
                    event,
                    handler,
                } => HtipOp::Listen {
                    node: node(*n),
                    event: *event,
                    handler: *handler,
                },
                HtipOp::Cache { .. } | HtipOp::BatchBegin | HtipOp::BatchCommit => continue,
            };
            self.ops.push(op);
        }
        self.ops.push(HtipOp::BatchCommit);
        Ok(())
    }
}

impl Page {
    /// An empty page.
    pub fn new() -> Self {
        Self {
            components: Vec::new(),
        }
    }

    /// Adds `component` after the others.
    pub fn with(mut self, component: impl Component + 'static) -> Self {
        let boundary = ErrorBoundary::new(format!("component {}", component.name()));
        self.components.push((Box::new(component), boundary));
        self
    }

    /// The components' names, in order.
    pub fn component_names(&self) -> Vec<&str> {
        self.components.iter().map(|(c, _)| c.name()).collect()
    }

    /// Builds the page's stream: each component in its slot, or its fallback.
    pub fn build(&self) -> Result<Built, PageError> {
        let mut assembly = Assembly::default();
        let mut failures = Vec::new();
        let slot_template = assembly.template(SLOT_TEMPLATE)?;
        for (component, boundary) in &self.components {
            let slot = assembly.clone_of(slot_template);
            assembly.ops.push(HtipOp::SetAttr {
                node: slot,
                key: "data-dx-component".into(),
                value: component.name().to_owned(),
            });
            assembly.ops.push(HtipOp::Append {
                parent: 0,
                child: slot,
            });
            let rendered = boundary.run(|| {
                let mut fragment = Fragment::default();
                component.render(&mut fragment)?;
                fragment.check().map_err(|e| {
                    DxError::internal("component output cannot be rendered").with_source(e)
                })?;
                Ok(fragment)
            });
            let fragment = match rendered {
                Ok(fragment) => fragment,
                Err(error) => {
                    failures.push(Failure {
                        component: component.name().to_owned(),
                        error,
                    });
                    let mut fallback = Fragment::default();
                    component.fallback(&mut fallback);
                    if fallback.check().is_err() {
                        // A broken fallback leaves the slot empty rather than the page broken.
                        fallback = Fragment::default();
                    }
                    fallback
                }
            };
            assembly.add(&fragment, slot)?;
        }
        let templates: Vec<(u16, &str)> = assembly
            .templates
            .iter()
            .zip(1u16..)
            .map(|(html, id)| (id, html.as_str()))
            .collect();
        let stream = encode(&templates, &assembly.ops)?;
        Ok(Built { stream, failures })
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::render_stream;
    use dx_error::ErrorCode;

    struct Heading(&'static str);

    impl Component for Heading {
        fn name(&self) -> &str {
            "heading"
        }
        fn render(&self, out: &mut Fragment) -> Result<(), DxError> {
            let t = out.template("<h1></h1>");
            let h = out.clone_of(t);
            out.text(h, self.0);
            out.append(Fragment::SLOT, h);
            Ok(())
        }
    }

    enum Broken {
        Error,
        Panic,
        Refused,
        /// A `<p>` in a `<p>`: a DOM takes it, but HTML cannot write it.
        Nested,
    }

    impl Component for Broken {
        fn name(&self) -> &str {
            "broken"
        }
        fn render(&self, out: &mut Fragment) -> Result<(), DxError> {
            let t = out.template("<p></p>");
            let p = out.clone_of(t);
            out.append(Fragment::SLOT, p);
            match self {
                Broken::Error => Err(DxError::new(ErrorCode::DbConnectionFailed, "db down")),
                Broken::Panic => panic!("component bug"),
                Broken::Refused => {
                    out.attr(p, "bad name", "x");
                    Ok(())
                }
                Broken::Nested => {
                    let inner = out.clone_of(t);
                    out.append(p, inner);
                    Ok(())
                }
            }
        }
    }

    #[rstest::rstest]
    #[case::error(Broken::Error)]
    #[case::panic(Broken::Panic)]
    #[case::refused(Broken::Refused)]
    #[case::nested(Broken::Nested)]
    fn a_failing_component_shows_its_fallback_and_the_rest_renders(#[case] broken: Broken) {
        let page = Page::new()
            .with(Heading("before"))
            .with(broken)
            .with(Heading("after"));
        let built = page.build().unwrap();
        assert_eq!(built.failures.len(), 1);
        assert_eq!(built.failures[0].component, "broken");
        let html = render_stream(&built.stream).unwrap();
        assert_eq!(
            html,
            "<section data-dx-component=\"heading\"><h1>before</h1></section>\
             <section data-dx-component=\"broken\" data-dx-fallback=\"\" role=\"status\">\
             This part of the page is not available right now.</section>\
             <section data-dx-component=\"heading\"><h1>after</h1></section>"
        );
    }

    /// Every builder call of a fragment reaches the page.
    struct Everything;

    impl Component for Everything {
        fn name(&self) -> &str {
            "everything"
        }
        fn render(&self, out: &mut Fragment) -> Result<(), DxError> {
            let t = out.template("<li class=\"a\"></li>");
            assert_eq!(out.template("<li class=\"a\"></li>"), t);
            assert_ne!(out.template("<p></p>"), t);
            let kept = out.clone_of(t);
            let gone = out.clone_of(t);
            out.text(kept, "kept");
            out.class(kept, "b", true);
            out.class(kept, "a", false);
            out.listen(kept, Event::Click, 7);
            out.append(Fragment::SLOT, kept);
            out.append(Fragment::SLOT, gone);
            out.remove(gone);
            Ok(())
        }
    }

    #[test]
    fn every_fragment_operation_reaches_the_page() {
        let page = Page::new().with(Everything);
        assert_eq!(page.component_names(), ["everything"]);
        assert_eq!(format!("{page:?}"), "[\"everything\"]");
        let built = page.build().unwrap();
        assert_eq!(
            render_stream(&built.stream).unwrap(),
            "<section data-dx-component=\"everything\"><li class=\"b\">kept</li></section>"
        );
        let stream = dx_htip::stream::decode(&built.stream).unwrap();
        let listens: Vec<HtipOp> = stream
            .ops()
            .map(|op| op.to_owned_op())
            .filter(|op| matches!(op, HtipOp::Listen { .. }))
            .collect();
        assert_eq!(
            listens,
            [HtipOp::Listen {
                node: 2,
                event: Event::Click,
                handler: 7
            }]
        );
    }

    #[test]
    fn components_share_templates_and_keep_their_own_handles() {
        let page = Page::new().with(Heading("one")).with(Heading("two"));
        let built = page.build().unwrap();
        let stream = dx_htip::stream::decode(&built.stream).unwrap();
        assert_eq!(stream.templates().len(), 2);
        assert_eq!(stream.clone_count(), 4);
        assert!(built.failures.is_empty());
    }
}
