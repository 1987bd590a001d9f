//! The loopback server of the suite's page: the page, its worker script, and the one
//! WebSocket over which the suite's requests and the page's answers travel. It runs on a
//! thread of its own with its own runtime, so the suite's checks (synchronous, like wasmi's
//! calls) can wait for answers without the server ever waiting for them.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::{Link, lock};

const PAGE_HTML: &str = include_str!("page.html");
const PAGE_JS: &str = include_str!("page.js");
const WORKER_JS: &str = include_str!("worker.js");
/// The largest message either side sends: a read of the client's memory, base64-encoded.
const MAX_MESSAGE: usize = 256 << 20;

/// What the page's routes share.
#[derive(Clone)]
struct PageState {
    token: Arc<str>,
    link: Arc<Link>,
    /// The suite's requests, taken by the first page that connects with the token.
    to_page: Arc<Mutex<Option<UnboundedReceiver<String>>>>,
    opened: Arc<Mutex<Option<std::sync::mpsc::Sender<String>>>>,
}

/// The running server.
#[derive(Debug)]
pub(crate) struct PageServer {
    address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PageServer {
    /// Serves the page on a free loopback port; `opened` hears once the page has connected.
    pub(crate) fn start(
        token: String,
        link: Arc<Link>,
        to_page: UnboundedReceiver<String>,
        opened: std::sync::mpsc::Sender<String>,
    ) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        let state = PageState {
            token: token.into(),
            link,
            to_page: Arc::new(Mutex::new(Some(to_page))),
            opened: Arc::new(Mutex::new(Some(opened))),
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("dx-conformance-chromium-page".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                        return;
                    };
                    let app = Router::new()
                        .route(
                            "/",
                            get(|| async { file("text/html; charset=utf-8", PAGE_HTML) }),
                        )
                        .route(
                            "/page.js",
                            get(|| async { file("text/javascript", PAGE_JS) }),
                        )
                        .route(
                            "/worker.js",
                            get(|| async { file("text/javascript", WORKER_JS) }),
                        )
                        .route("/socket", get(socket))
                        .with_state(state);
                    let _ = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                });
            })?;
        Ok(Self {
            address,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where the page is served.
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving (the browser is gone by then).
    pub(crate) fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct SocketQuery {
    token: String,
}

/// The page's WebSocket: only the page opened with this run's token gets it, and only once.
async fn socket(
    State(state): State<PageState>,
    Query(query): Query<SocketQuery>,
    upgrade: WebSocketUpgrade,
) -> Response {
    if *query.token != *state.token {
        return StatusCode::FORBIDDEN.into_response();
    }
    let Some(to_page) = lock(&state.to_page).take() else {
        return StatusCode::CONFLICT.into_response();
    };
    upgrade
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| relay(socket, to_page, state))
}

/// Requests to the page, answers to whoever waits for them, until either side ends.
async fn relay(socket: WebSocket, mut to_page: UnboundedReceiver<String>, state: PageState) {
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            request = to_page.recv() => {
                let Some(request) = request else { break };
                if sink.send(Message::Text(request.into())).await.is_err() {
                    break;
                }
            }
            incoming = stream.next() => {
                let Some(Ok(message)) = incoming else { break };
                let Message::Text(text) = message else { continue };
                let Ok(answer) = serde_json::from_str::<Value>(&text) else { continue };
                if let Some(agent) = answer.get("hello").and_then(Value::as_str) {
                    if let Some(opened) = lock(&state.opened).take() {
                        let _ = opened.send(agent.to_owned());
                    }
                    continue;
                }
                state.link.answered(answer);
            }
        }
    }
    state.link.closed();
}
