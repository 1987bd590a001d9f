//! Server-side rendering for dx-www (`spec/ssr.md`).
//!
//! - [`page`]: a page is components, each rendering HTIP operations inside its own error
//!   boundary; a failing one shows its fallback and the rest of the page renders.
//! - [`render`]: an HTIP stream to the HTML of the page it builds, as a browser's DOM would
//!   hold it, text and attributes escaped.
//! - [`document`]: the server-rendered document for crawlers and the shell for browsers.
//! - [`crawler`]: who is a crawler, from a maintained list.
//! - [`html`]: the small tree, template parsing (html5ever) and serialization.
//!
//! The server decides, per request, which answer to give; both carry `Vary: User-Agent`.

pub mod crawler;
pub mod document;
pub mod html;
pub mod page;
pub mod render;

pub use crawler::{CrawlerConfig, CrawlerRule};
pub use page::{Built, Component, Failure, Fragment, NodeRef, Page, Template};
pub use render::{RenderError, Tree, render_stream};
