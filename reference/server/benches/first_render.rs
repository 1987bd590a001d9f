//! Time to first render in Chromium, and bytes on the wire: the HTIP path (the shell, the
//! host script, the WASM client, the stream) against the SSR path (the server-rendered
//! document) for the same page, in the same run. The SSR path is the peer: every figure of
//! the HTIP path is printed with its ratio to it.
//!
//! Two pages: the reference's demo (`GET /`) and a list of 2,000 rows with a click listener
//! each, built with `dx-ssr` and served beside the reference's routes as the reference serves
//! its own pages (`dx_server::ssr::answer`, the stream through the delta-capable asset
//! route, so an update arrives as a DXDP patch).
//!
//! - **Time to first render** (headless Debian Chromium over WebDriver; a fresh profile per
//!   round, so the first load is cold; the second load of the same session is warm): for the
//!   HTIP path, the `dx-rendered` mark the host script sets right after the client rendered
//!   the stream; for the SSR path, `domInteractive` (the document is parsed, its content in
//!   the DOM). Also first contentful paint for both. Medians of the rounds, paths alternating.
//!   Each round checks the page shows what it must (the rows, the demo's list).
//! - **Bytes** (over HTTP from the same server, then brotli quality 11 as a server would send
//!   them; response bodies, without headers): the page's content (stream against document);
//!   a first visit on each path (the HTIP path also fetches the host script, the client and
//!   the page's application); a revisit of an unchanged page (the stream answers 304 to the
//!   version the browser holds: only the shell travels); and an update (the page's next
//!   version) as the HTIP path gets it (a DXDP patch, `226 IM Used`) and as a whole new
//!   stream, against the whole new document the SSR path sends.
//!
//! Run: `cargo bench -p dx-server --bench first_render` (needs `chromium` and
//! `chromium-driver`; about a minute once built). `ROUNDS=N` changes the rounds (default 7).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/webdriver.rs"]
mod webdriver;

use std::io::Write as _;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Query;
use axum::http::HeaderMap;
use axum::routing::get;
use dx_bench_record::Figure;
use dx_error::DxError;
use dx_htip::Event;
use dx_server::routes::assets::{Asset, HTIP_TYPE, VersionQuery};
use dx_server::ssr::{PageRequest, answer};
use dx_server::state::SharedState;
use dx_ssr::page::{Built, Component, Fragment, Page};
use fantoccini::Client;
use serde_json::Value;
use webdriver::WebDriver;

const BROWSER_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CRAWLER_UA: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
const ROWS: usize = 2_000;
const ROWS_PATH: &str = "/bench/rows";
const ROWS_STREAM: &str = "/bench/rows.htip";

/// The list page: `ROWS` rows, each with a click listener; `changed` rewrites one row's
/// text (the page's next version).
struct RowList {
    changed: bool,
}

impl Component for RowList {
    fn name(&self) -> &str {
        "rows"
    }

    fn render(&self, out: &mut Fragment) -> Result<(), DxError> {
        let list = out.template("<ul class=\"rows\"></ul>");
        let row = out.template("<li class=\"row\"></li>");
        let ul = out.clone_of(list);
        out.append(Fragment::SLOT, ul);
        for i in 0..ROWS {
            let li = out.clone_of(row);
            let text = if self.changed && i == ROWS / 2 {
                format!("Row {i}: changed in the next version")
            } else {
                format!("Row {i}: an item of the list")
            };
            out.text(li, text);
            out.attr(li, "data-row", i.to_string());
            out.listen(li, Event::Click, 1);
            out.append(ul, li);
        }
        Ok(())
    }
}

fn rows_stream(changed: bool) -> Vec<u8> {
    Page::new()
        .with(RowList { changed })
        .build()
        .expect("the rows page builds")
        .stream
}

/// The reference's routes and the rows page beside them.
fn app(state: SharedState) -> Router {
    let asset = Arc::new(Asset::new(
        ROWS_STREAM,
        HTIP_TYPE,
        vec![rows_stream(false), rows_stream(true)],
    ));
    let current = Arc::new(rows_stream(true));
    let page_state = state.clone();
    Router::new()
        .route(
            ROWS_PATH,
            get(move |headers: HeaderMap| {
                let state = page_state.clone();
                let stream = current.clone();
                async move {
                    answer(
                        &state.ssr,
                        &state.config.mutations,
                        &headers,
                        PageRequest {
                            title: "2,000 rows",
                            stream_url: ROWS_STREAM,
                            request_id: "bench",
                            app: None,
                        },
                        Ok(Built {
                            stream: stream.to_vec(),
                            failures: Vec::new(),
                        }),
                    )
                    .await
                }
            }),
        )
        .route(
            ROWS_STREAM,
            get(
                move |headers: HeaderMap, Query(query): Query<VersionQuery>| {
                    let asset = asset.clone();
                    async move { dx_server::routes::assets::serve(&asset, &headers, &query) }
                },
            ),
        )
        .merge(dx_server::app::router(state))
}

/// One page of the run.
#[derive(Clone, Copy)]
struct PageUnderTest {
    name: &'static str,
    path: &'static str,
    stream: &'static str,
    app_script: Option<&'static str>,
    /// A script returning how many items the page shows (checked on both paths).
    count: &'static str,
    expected: usize,
}

fn pages(demo_items: usize) -> [PageUnderTest; 2] {
    [
        PageUnderTest {
            name: "demo",
            path: "/",
            stream: dx_server::routes::assets::DEMO_PATH,
            app_script: Some(dx_server::ssr::DEMO_SCRIPT_PATH),
            count: "return document.querySelectorAll('#dx-root li').length",
            expected: demo_items,
        },
        PageUnderTest {
            name: "2,000 rows",
            path: ROWS_PATH,
            stream: ROWS_STREAM,
            app_script: None,
            count: "return document.querySelectorAll('#dx-root li.row').length",
            expected: ROWS,
        },
    ]
}

/// chromedriver, for the whole run.
struct Driver(WebDriver);

impl Driver {
    fn start() -> Self {
        Self(WebDriver::start().expect(
            "chromium and chromedriver are needed: apt-get install chromium chromium-driver",
        ))
    }

    /// A browser with a fresh profile (nothing cached) and `user_agent`.
    async fn session(&self, user_agent: &str, profile: &std::path::Path) -> Client {
        self.0.session(user_agent, profile, 1000, 200).await
    }
}

/// What one load measured, in milliseconds from navigation start.
#[derive(Debug, Clone, Copy)]
struct Load {
    /// The content is in the DOM: the `dx-rendered` mark (HTIP) or `domInteractive` (SSR).
    content: f64,
    /// First contentful paint.
    paint: f64,
}

/// Loads `url` and waits until the page shows its content; returns what it measured.
async fn load(client: &Client, url: &str, page: PageUnderTest, htip: bool) -> Load {
    client.goto(url).await.unwrap();
    for _ in 0..400 {
        let ready = if htip {
            "return document.getElementById('dx-root')?.dataset.dxRendered ?? null"
        } else {
            "return document.readyState === 'complete' ? 'done' : null"
        };
        match client.execute(ready, vec![]).await.unwrap() {
            Value::String(how) if how == "failed" => panic!("{} did not render", page.name),
            Value::String(_) => break,
            _ => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
    let shown = client.execute(page.count, vec![]).await.unwrap();
    assert_eq!(
        shown.as_u64(),
        Some(page.expected as u64),
        "{} on the {} path shows its items",
        page.name,
        if htip { "HTIP" } else { "SSR" }
    );
    let mut paint = Value::Null;
    for _ in 0..100 {
        paint = client
            .execute(
                "return performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null",
                vec![],
            )
            .await
            .unwrap();
        if !paint.is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let content = client
        .execute(
            if htip {
                "return performance.getEntriesByName('dx-rendered')[0].startTime"
            } else {
                "return performance.getEntriesByType('navigation')[0].domInteractive"
            },
            vec![],
        )
        .await
        .unwrap();
    Load {
        content: content.as_f64().expect("a time"),
        paint: paint.as_f64().unwrap_or(f64::NAN),
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn brotli(bytes: &[u8]) -> usize {
    let mut writer = brotli::CompressorWriter::new(Vec::new(), 4096, 11, 22);
    writer.write_all(bytes).unwrap();
    writer.into_inner().len()
}

/// GET `path` with `headers`: status and body.
async fn get_bytes(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Vec<u8>) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.bytes().await.unwrap().to_vec())
}

/// The oldest version's hash of the asset at `path` (the discovery document's list, or the
/// rows asset's own).
fn oldest_version(discovery: &Value, path: &str) -> Option<String> {
    discovery["client"]["assets"]
        .as_array()?
        .iter()
        .find(|a| a["path"] == path)?["versions"][0]
        .as_str()
        .map(str::to_owned)
}

fn row(page: &str, label: &str, ours: usize, peer: usize) {
    println!(
        "  {label:<66} {ours:>7} B  {:>6.2}x the SSR path ({peer} B)",
        ours as f64 / peer as f64
    );
    let (figure, sides) = label.split_once(": ").unwrap_or((label, ""));
    let (ours_name, peer_name) = sides.split_once(" / ").unwrap_or(("HTIP path", "SSR path"));
    Figure::lower_is_better(format!("bytes, {figure}"), "bytes")
        .group(page)
        .ours(format!("HTIP: {ours_name}"), ours as f64)
        .peer(format!("SSR: {peer_name}"), peer as f64)
        .record()
        .expect("the results file is writable");
}

async fn bytes_report(base: &str, page: PageUnderTest, oldest: &str) {
    let (_, document) = get_bytes(base, page.path, &[("user-agent", CRAWLER_UA)]).await;
    let (_, shell) = get_bytes(base, page.path, &[("user-agent", BROWSER_UA)]).await;
    let (_, stream) = get_bytes(base, page.stream, &[]).await;
    let mut shared = vec![
        dx_server::ssr::HOST_SCRIPT_PATH,
        dx_server::routes::client::CLIENT_PATH,
    ];
    shared.extend(page.app_script);
    let mut code = Vec::new();
    for path in shared {
        code.extend(get_bytes(base, path, &[]).await.1);
    }
    let (_, css) = get_bytes(base, dx_server::ssr::STYLESHEET_PATH, &[]).await;
    let tag = format!("\"{oldest}\"");
    let (status, patch) = get_bytes(
        base,
        page.stream,
        &[("a-im", "dxdp"), ("if-none-match", tag.as_str())],
    )
    .await;
    assert_eq!(status, 226, "{}: the update arrives as a patch", page.name);
    println!("\n{}: bytes, raw and after brotli (quality 11)", page.name);
    for (label, ours, peer) in [
        (
            "page content: stream / document",
            stream.len(),
            document.len(),
        ),
        (
            "first visit: shell+scripts+client+stream+css / document+css",
            shell.len() + code.len() + stream.len() + css.len(),
            document.len() + css.len(),
        ),
        (
            "revisit, nothing changed (stream 304): shell / document",
            shell.len(),
            document.len(),
        ),
        (
            "update: DXDP patch / new document",
            patch.len(),
            document.len(),
        ),
        (
            "update: whole new stream / new document",
            stream.len(),
            document.len(),
        ),
    ] {
        row(page.name, &format!("{label} (raw)"), ours, peer);
    }
    let (br_doc, br_stream, br_shell, br_code, br_css, br_patch) = (
        brotli(&document),
        brotli(&stream),
        brotli(&shell),
        brotli(&code),
        brotli(&css),
        brotli(&patch),
    );
    for (label, ours, peer) in [
        ("page content: stream / document", br_stream, br_doc),
        (
            "first visit: all of it / document+css",
            br_shell + br_code + br_stream + br_css,
            br_doc + br_css,
        ),
        (
            "revisit, nothing changed (stream 304): shell / document",
            br_shell,
            br_doc,
        ),
        ("update: DXDP patch / new document", br_patch, br_doc),
        ("update: whole new stream / new document", br_stream, br_doc),
    ] {
        row(page.name, &format!("{label} (br)"), ours, peer);
    }
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(7);
    assert!(
        dx_server::routes::client::client_wasm().is_some(),
        "dx-server was built without its WASM client (rustup target add wasm32-unknown-unknown)"
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let state = dx_server::app::build_state(dx_server::Config::conformance()).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app(state)).await.unwrap();
        });
        let discovery: Value = serde_json::from_slice(
            &get_bytes(&base, dx_server::routes::discovery::DISCOVERY_PATH, &[]).await.1,
        )
        .unwrap_or(Value::Null);
        let demo_oldest = oldest_version(&discovery, dx_server::routes::assets::DEMO_PATH)
            .expect("the discovery document lists the demo's versions");
        let rows_oldest = dx_htip::delta::hash_hex(&rows_stream(false));
        // How many items the demo page shows: counted in the rendered document.
        let (_, document) = get_bytes(&base, "/", &[("user-agent", CRAWLER_UA)]).await;
        let document = String::from_utf8_lossy(&document);
        let demo_items = document.matches("<li>").count() + document.matches("<li ").count();
        let pages = pages(demo_items);

        println!(
            "first_render: the HTIP path against the SSR path (the peer), {rounds} rounds, \
             headless {}",
            String::from_utf8_lossy(
                &Command::new(webdriver::tool("chromium").expect("chromium on PATH"))
                    .arg("--version")
                    .output()
                    .unwrap()
                    .stdout
            )
            .trim()
        );
        for (page, oldest) in pages.iter().zip([&demo_oldest, &rows_oldest]) {
            bytes_report(&base, *page, oldest).await;
        }

        let driver = Driver::start();
        for page in pages {
            let mut times: [[Vec<f64>; 4]; 2] = Default::default();
            for round in 0..rounds {
                let order = if round % 2 == 0 {
                    [true, false]
                } else {
                    [false, true]
                };
                for htip in order {
                    let profile = std::env::temp_dir().join(format!(
                        "dx-first-render-{}-{round}-{htip}",
                        std::process::id()
                    ));
                    let ua = if htip { BROWSER_UA } else { CRAWLER_UA };
                    let client = driver.session(ua, &profile).await;
                    let url = format!("{base}{}", page.path);
                    let cold = load(&client, &url, page, htip).await;
                    let warm = load(&client, &url, page, htip).await;
                    let _ = client.close().await;
                    let _ = std::fs::remove_dir_all(&profile);
                    let at = usize::from(!htip);
                    times[at][0].push(cold.content);
                    times[at][1].push(cold.paint);
                    times[at][2].push(warm.content);
                    times[at][3].push(warm.paint);
                }
            }
            println!(
                "\n{}: time to first render in Chromium, median of {rounds} (ms from navigation start)",
                page.name
            );
            for (i, label) in [
                "cold: content in the DOM",
                "cold: first contentful paint",
                "warm: content in the DOM",
                "warm: first contentful paint",
            ]
            .iter()
            .enumerate()
            {
                let htip = median(times[0][i].clone());
                let ssr = median(times[1][i].clone());
                println!(
                    "  {label:<32} HTIP {htip:>8.1}  SSR {ssr:>8.1}  ratio {:>5.2}x",
                    htip / ssr
                );
                Figure::lower_is_better(format!("time to first render, {label}"), "ms")
                    .group(page.name)
                    .ours("HTIP path (shell, host script, client, stream)", htip)
                    .peer("SSR path (the rendered document)", ssr)
                    .note(format!("median of {rounds} in headless Chromium"))
                    .record()
                    .expect("the results file is writable");
            }
        }
    });
}
