//! Server-side rendering in the reference (`spec/ssr.md`): which answer a page request gets
//! (the rendered document for a crawler, the shell for anyone else), the pages a conformance
//! run plants, and logging each component that fell back, with the request id.

use std::collections::VecDeque;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use dx_error::{DxError, ErrorCode, SafeMutex};
use dx_ssr::document::{self, Head, ShellLinks};
use dx_ssr::html::Escaping;
use dx_ssr::page::{Built, Component, Fragment, Page};
use dx_ssr::{CrawlerConfig, CrawlerRule};

use crate::api_error::ApiError;
use crate::mutants::{Mutant, Mutations};

/// Where the host script is served.
pub const HOST_SCRIPT_PATH: &str = "/_dx/host.js";
/// Where the demo application's script is served.
pub const DEMO_SCRIPT_PATH: &str = "/_dx/demo.js";
/// Where the pages' stylesheet is served.
pub const STYLESHEET_PATH: &str = "/_dx/app.css";
/// Where planted pages live (conformance profile only).
pub const PLANTED_BASE: &str = "/_dx/planted";
/// The most planted pages kept; older ones are forgotten first.
pub const MAX_PLANTED: usize = 64;
/// The most texts a planted page holds, and the longest one, in bytes.
pub const MAX_PLANTED_TEXTS: usize = 32;
/// The longest text or title of a planted page, in bytes.
pub const MAX_PLANTED_TEXT_BYTES: usize = 4096;

/// The SSR state of a server.
#[derive(Debug)]
pub struct Ssr {
    crawlers: CrawlerRule,
    planted: SafeMutex<VecDeque<(String, Planted)>>,
}

impl Ssr {
    /// The state for the crawler rule `config`.
    pub fn build(config: &CrawlerConfig) -> Result<Self, DxError> {
        let crawlers = CrawlerRule::new(config)
            .map_err(|e| DxError::config("crawler_patterns", e.to_string()))?;
        Ok(Self {
            crawlers,
            planted: SafeMutex::new(VecDeque::new()),
        })
    }

    /// The crawler rule, as the discovery document describes it.
    pub fn crawler_rule(&self) -> &str {
        self.crawlers.describe()
    }

    /// Whether the request's `User-Agent` is a crawler's, as `mutations` would decide.
    fn is_crawler(&self, headers: &HeaderMap, mutations: &Mutations) -> bool {
        let ua = headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok());
        if mutations.is(Mutant::SsrTenCrawlers) {
            return dx_ssr::crawler::upstream_rule(ua);
        }
        self.crawlers.is_crawler(ua)
    }

    /// Keeps `page` and returns its id.
    pub fn plant(&self, page: Planted) -> Result<String, DxError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut pages = self
            .planted
            .lock()
            .map_err(|e| DxError::internal("planted pages unavailable").with_source(e))?;
        if pages.len() >= MAX_PLANTED {
            pages.pop_front();
        }
        pages.push_back((id.clone(), page));
        Ok(id)
    }

    /// The planted page `id`.
    pub fn planted(&self, id: &str) -> Option<Planted> {
        let pages = self.planted.lock().ok()?;
        pages.iter().find(|(i, _)| i == id).map(|(_, p)| p.clone())
    }
}

/// What a page request is answered with, built from the page's stream.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest<'a> {
    /// The document's title.
    pub title: &'a str,
    /// The URL of the page's stream, for the shell.
    pub stream_url: &'a str,
    /// The request id, for the log of a component that fell back.
    pub request_id: &'a str,
    /// The page's application script, if any.
    pub app: Option<&'a str>,
}

/// Builds `page` off the async workers: parsing templates and checking each component's
/// output is CPU work that grows with the page.
pub async fn build_page(page: Page) -> Result<Built, DxError> {
    match tokio::task::spawn_blocking(move || page.build()).await {
        Ok(Ok(built)) => Ok(built),
        Ok(Err(e)) => Err(DxError::internal("the page could not be built").with_source(e)),
        Err(e) => Err(DxError::internal("the page could not be built").with_source(e)),
    }
}

/// Answers a page request: the rendered document for a crawler, the shell for anyone else,
/// both with `Vary: User-Agent`. Rendering runs off the async workers, as building does.
pub async fn answer(
    ssr: &Ssr,
    mutations: &Mutations,
    headers: &HeaderMap,
    request: PageRequest<'_>,
    built: Result<Built, DxError>,
) -> Response {
    let built = match built {
        Ok(built) => built,
        Err(e) => return ApiError(e).into_response(),
    };
    for failure in &built.failures {
        tracing::error!(
            request_id = %request.request_id,
            component = %failure.component,
            error = %failure.error,
            cause = ?failure.error.source_chain(),
            "component failed; its fallback was rendered"
        );
    }
    if !built.failures.is_empty() && mutations.is(Mutant::SsrComponentTakesPageDown) {
        return ApiError(DxError::new(
            ErrorCode::Internal,
            ErrorCode::Internal.default_message(),
        ))
        .into_response();
    }
    let head = Head {
        title: request.title,
        lang: "en",
        stylesheet: Some(STYLESHEET_PATH),
    };
    let html = if ssr.is_crawler(headers, mutations) {
        let escaping = if mutations.is(Mutant::SsrUnescaped) {
            unescaped()
        } else {
            Escaping::Standard
        };
        let stream = built.stream;
        let rendered = tokio::task::spawn_blocking(move || {
            let mut tree = dx_ssr::Tree::new(escaping);
            tree.apply_stream(&stream).map(|()| tree.to_html())
        })
        .await;
        let failed = |e: Box<dyn std::error::Error + Send + Sync>| {
            ApiError(DxError::internal("the page could not be rendered").with_source(e))
                .into_response()
        };
        match rendered {
            Ok(Ok(body)) => document::rendered(&head, &body, escaping),
            Ok(Err(e)) => return failed(Box::new(e)),
            Err(e) => return failed(Box::new(e)),
        }
    } else {
        document::shell(
            &head,
            &ShellLinks {
                stream: request.stream_url,
                client: crate::routes::client::CLIENT_PATH,
                host_script: HOST_SCRIPT_PATH,
                app: request.app,
            },
        )
    };
    let mut response = html.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if !mutations.is(Mutant::SsrNoVary) {
        headers.insert(header::VARY, HeaderValue::from_static("User-Agent"));
    }
    response
}

#[cfg(feature = "mutants")]
fn unescaped() -> Escaping {
    Escaping::None
}

#[cfg(not(feature = "mutants"))]
fn unescaped() -> Escaping {
    Escaping::Standard
}

/// A page a conformance run planted: hostile content the server must escape, and a component
/// that fails when asked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Planted {
    /// The document title and the heading.
    pub title: String,
    /// Each is a paragraph's text and, as the attribute `data-planted`, its value.
    pub texts: Vec<String>,
    /// How the page's `faulty` component fails: not at all, with an error, or by panicking.
    #[serde(default)]
    pub fail: PlantedFailure,
    /// What the failure says (its error's message or its panic's), which no answer may show.
    #[serde(default)]
    pub message: Option<String>,
}

/// How the planted page's `faulty` component fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlantedFailure {
    /// It renders.
    #[default]
    None,
    /// It returns an error.
    Error,
    /// It panics.
    Panic,
}

impl Planted {
    /// Checks the page's size.
    pub fn validate(&self) -> Result<(), DxError> {
        let too_long = |t: &String| t.len() > MAX_PLANTED_TEXT_BYTES;
        let message_too_long = self.message.as_ref().is_some_and(too_long);
        if self.texts.len() > MAX_PLANTED_TEXTS
            || too_long(&self.title)
            || message_too_long
            || self.texts.iter().any(too_long)
        {
            return Err(DxError::request(
                ErrorCode::ValidationFailed,
                format!(
                    "a planted page holds at most {MAX_PLANTED_TEXTS} texts of at most {MAX_PLANTED_TEXT_BYTES} bytes"
                ),
            ));
        }
        Ok(())
    }

    /// The page: heading, the planted texts, the faulty component, a footer.
    pub fn page(&self) -> Page {
        Page::new()
            .with(crate::demo::Heading(self.title.clone()))
            .with(PlantedTexts(self.texts.clone()))
            .with(Faulty(
                self.fail,
                self.message
                    .clone()
                    .unwrap_or_else(|| "planted failure".to_owned()),
            ))
            .with(Footer)
    }
}

/// The planted texts, each a paragraph with the text as its content and its attribute.
struct PlantedTexts(Vec<String>);

impl Component for PlantedTexts {
    fn name(&self) -> &str {
        "planted"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), DxError> {
        let template = out.template("<p class=\"planted\"></p>");
        for text in &self.0 {
            let p = out.clone_of(template);
            out.text(p, text.clone());
            out.attr(p, "data-planted", text.clone());
            out.append(Fragment::SLOT, p);
        }
        Ok(())
    }
}

/// A component that fails as planted.
struct Faulty(PlantedFailure, String);

/// What the faulty component says when it works.
pub const FAULTY_TEXT: &str = "This component rendered.";

impl Component for Faulty {
    fn name(&self) -> &str {
        "faulty"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), DxError> {
        match self.0 {
            PlantedFailure::None => {
                let template = out.template("<p></p>");
                let p = out.clone_of(template);
                out.text(p, FAULTY_TEXT);
                out.append(Fragment::SLOT, p);
                Ok(())
            }
            PlantedFailure::Error => {
                Err(DxError::new(ErrorCode::DbConnectionFailed, self.1.clone()))
            }
            #[allow(clippy::panic)]
            PlantedFailure::Panic => panic!("{}", self.1),
        }
    }
}

/// The last component, so a failure before it is seen not to stop the page.
struct Footer;

/// The footer's text.
pub const FOOTER_TEXT: &str = "Rendered by dx-reference.";

impl Component for Footer {
    fn name(&self) -> &str {
        "footer"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), DxError> {
        let template = out.template("<footer></footer>");
        let footer = out.clone_of(template);
        out.text(footer, FOOTER_TEXT);
        out.append(Fragment::SLOT, footer);
        Ok(())
    }
}
