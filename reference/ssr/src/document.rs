//! The two answers for a page (`spec/ssr.md`): the whole document, server-rendered, for a
//! crawler; and the shell, for a browser: the same head, an empty root naming the page's
//! stream, and the host script (a file, so the Content-Security-Policy needs no inline
//! script) that runs the WASM client on it.

use crate::html::{Escaping, escape_attr, escape_text};

/// The `id` of the element the page's nodes hang from, in both answers.
pub const ROOT_ID: &str = "dx-root";

/// What both answers share.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    /// The document's title.
    pub title: &'a str,
    /// Its language (`lang` of `<html>`).
    pub lang: &'a str,
    /// A stylesheet to link, if any.
    pub stylesheet: Option<&'a str>,
}

/// Where the shell finds what it runs.
#[derive(Debug, Clone, Copy)]
pub struct ShellLinks<'a> {
    /// The page's HTIP stream.
    pub stream: &'a str,
    /// The WASM client.
    pub client: &'a str,
    /// The host script (an ES module).
    pub host_script: &'a str,
    /// The page's application (an ES module the host script imports once the page is
    /// rendered), if it has one.
    pub app: Option<&'a str>,
}

fn head(out: &mut String, head: &Head<'_>, escaping: Escaping) {
    out.push_str("<!DOCTYPE html>\n<html lang=\"");
    escape_attr(out, head.lang);
    out.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // No icon: a browser would otherwise ask for /favicon.ico on every page.
    out.push_str("<link rel=\"icon\" href=\"data:,\">\n");
    out.push_str("<title>");
    if escaping.escapes() {
        escape_text(out, head.title);
    } else {
        out.push_str(head.title);
    }
    out.push_str("</title>\n");
    if let Some(href) = head.stylesheet {
        out.push_str("<link rel=\"stylesheet\" href=\"");
        escape_attr(out, href);
        out.push_str("\">\n");
    }
}

/// The server-rendered document: `body` (the page's nodes as HTML) inside the root.
pub fn rendered(page: &Head<'_>, body: &str, escaping: Escaping) -> String {
    let mut out = String::with_capacity(body.len() + 512);
    head(&mut out, page, escaping);
    out.push_str("</head>\n<body>\n<main id=\"");
    out.push_str(ROOT_ID);
    out.push_str("\">");
    out.push_str(body);
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// The shell: an empty root the host script renders the stream into.
pub fn shell(page: &Head<'_>, links: &ShellLinks<'_>) -> String {
    let mut out = String::with_capacity(1024);
    head(&mut out, page, Escaping::Standard);
    out.push_str("<script type=\"module\" src=\"");
    escape_attr(&mut out, links.host_script);
    out.push_str("\"></script>\n</head>\n<body>\n<main id=\"");
    out.push_str(ROOT_ID);
    out.push_str("\" data-dx-stream=\"");
    escape_attr(&mut out, links.stream);
    out.push_str("\" data-dx-client=\"");
    escape_attr(&mut out, links.client);
    if let Some(app) = links.app {
        out.push_str("\" data-dx-app=\"");
        escape_attr(&mut out, app);
    }
    out.push_str("\"></main>\n<noscript>This page needs JavaScript and WebAssembly.</noscript>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: Head<'static> = Head {
        title: "</title><script>alert(1)</script>",
        lang: "en",
        stylesheet: Some("/_dx/app.css"),
    };

    #[test]
    fn the_rendered_document_escapes_its_title() {
        let html = rendered(&PAGE, "<p>x</p>", Escaping::Standard);
        insta::assert_snapshot!(html);
    }

    #[test]
    fn the_shell_names_its_stream_client_and_script() {
        let html = shell(
            &PAGE,
            &ShellLinks {
                stream: "/_dx/demo.htip",
                client: "/_dx/client.wasm",
                host_script: "/_dx/host.js",
                app: Some("/_dx/demo.js"),
            },
        );
        insta::assert_snapshot!(html);
    }
}
