//! The suite's HTTP client. Every call yields an [`Exchange`]: the request as sent and the
//! response as received, which failures quote and turn into a replayable `curl` line.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, Method, StatusCode};
use url::Url;

use crate::budget::{Budgets, Refusal, Ticket};
use crate::rules::RuleLedger;

/// How long one request may take before it counts as a transport failure.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The chunk size of chunked request bodies.
const CHUNK: usize = 16 * 1024;
/// How much of a body a report quotes.
const QUOTE_LIMIT: usize = 2048;

/// A request that failed below HTTP (refused, reset, timed out).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{method} {url}: {reason}")]
pub struct TransportError {
    /// The method.
    pub method: String,
    /// The URL.
    pub url: String,
    /// What happened.
    pub reason: String,
    /// The replay line.
    pub replay: String,
    /// Set when the request was never answered because the target's rate-limit budget
    /// would have made the check wait past `--max-wait`: the check is then not verified,
    /// never failed (spec/conformance.md, "Rate limits of the target").
    pub rate_limited: Option<Box<crate::budget::RateLimited>>,
}

/// A request to send.
#[derive(Debug, Clone)]
pub struct RequestSpec {
    /// Method.
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Option<Vec<u8>>,
    /// Send the body chunked (`Transfer-Encoding: chunked`, no `Content-Length`).
    pub chunked: bool,
}

impl RequestSpec {
    /// A request with no body.
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            headers: Vec::new(),
            body: None,
            chunked: false,
        }
    }

    /// `GET path`.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// `POST path` with a JSON body.
    pub fn post_json(path: impl Into<String>, body: &serde_json::Value) -> Self {
        Self::new(Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_string().into_bytes())
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: Vec<u8>) -> Self {
        self.body = Some(body);
        self
    }

    /// Sends the body in chunks of 16 KiB with `Transfer-Encoding: chunked`, declaring no
    /// length, as a streaming client does.
    pub fn chunked(mut self) -> Self {
        self.chunked = true;
        self
    }
}

/// One request and its response.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The full URL requested.
    pub url: String,
    /// What was sent.
    pub request: RequestSpec,
    /// The status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: HeaderMap,
    /// The response body.
    pub body: Vec<u8>,
    /// For a probe sent as raw bytes (`crate::raw`), the line that replays it; `None` for
    /// requests sent through [`HttpClient`], which replay as `curl`.
    pub raw_replay: Option<String>,
}

impl Exchange {
    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The response's `Date` header (RFC 9110 §6.6.1): the server's clock when it answered.
    pub fn date(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.header("date")
            .and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok())
            .map(|d| d.with_timezone(&chrono::Utc))
    }

    /// A `curl` command that sends the same request.
    pub fn replay(&self) -> String {
        self.raw_replay
            .clone()
            .unwrap_or_else(|| curl_line(&self.url, &self.request))
    }

    /// A short quote of the response for reports: status, headers, body (truncated).
    pub fn describe_response(&self) -> String {
        let mut out = format!("HTTP {}\n", self.status);
        for (name, value) in &self.headers {
            let _ = writeln!(out, "{}: {}", name, value.to_str().unwrap_or("<binary>"));
        }
        out.push('\n');
        out.push_str(&quote(&self.body));
        out
    }
}

/// A body quoted for a report, cut at [`QUOTE_LIMIT`] bytes: text as text, other bytes as
/// `\xNN` (`crate::wire_text`).
pub fn quote(body: &[u8]) -> String {
    let text = crate::wire_text::bytes(&body[..body.len().min(QUOTE_LIMIT)]);
    if body.len() > QUOTE_LIMIT {
        format!("{text}… ({} bytes in all)", body.len())
    } else {
        text
    }
}

/// A `curl` line for `request` to `url`, shell-quoted; large or binary bodies are described.
pub fn curl_line(url: &str, request: &RequestSpec) -> String {
    crate::accounts::redact(&raw_curl_line(url, request))
}

/// [`curl_line`] before the test accounts' passwords are cut out.
fn raw_curl_line(url: &str, request: &RequestSpec) -> String {
    let mut line = format!("curl -i -X {} {}", request.method, shell_quote(url));
    if request.chunked {
        line.push_str(" -H 'Transfer-Encoding: chunked'");
    }
    for (name, value) in &request.headers {
        let _ = write!(line, " -H {}", shell_quote(&format!("{name}: {value}")));
    }
    if let Some(body) = &request.body {
        match std::str::from_utf8(body) {
            Ok(text) if body.len() <= QUOTE_LIMIT => {
                let _ = write!(line, " --data-binary {}", shell_quote(text));
            }
            _ => {
                let _ = write!(
                    line,
                    " --data-binary @body.bin  # {} bytes, first bytes {:02x?}",
                    body.len(),
                    &body[..body.len().min(16)]
                );
            }
        }
    }
    line
}

/// `s` quoted for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The HTTP client bound to one target.
#[derive(Debug, Clone)]
pub struct HttpClient {
    base: Url,
    client: reqwest::Client,
    partition_header: Option<String>,
    budgets: Arc<Budgets>,
    ledger: Arc<RuleLedger>,
    /// The check or scenario this client's responses are recorded for in the ledger.
    attribution: Option<Arc<str>>,
}

impl HttpClient {
    /// A client for `base` (scheme, host, port; any path is ignored).
    pub fn new(base: Url) -> Result<Self, TransportError> {
        // HTTP/1.1 over TLS too (ALPN `http/1.1`): the contract is written for it
        // (spec/http-contract.md), and a verdict must not change with the transport. Over
        // HTTP/2 a 64 KiB header, for one, meets the peer's frame limits instead.
        let mut builder = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none());
        for root in crate::tls::reqwest_roots() {
            builder = builder.add_root_certificate(root);
        }
        let client = builder.build().map_err(|e| TransportError {
            method: "-".into(),
            url: base.to_string(),
            reason: format!("cannot build the HTTP client: {e}"),
            replay: String::new(),
            rate_limited: None,
        })?;
        Ok(Self {
            base,
            client,
            partition_header: None,
            budgets: Arc::new(Budgets::unpublished()),
            ledger: Arc::new(RuleLedger::default()),
            attribution: None,
        })
    }

    /// Records every response this client receives for the check or scenario `id`: checks
    /// and scenarios that run at once each send through a clone of their own, so the rules'
    /// ledger names the right one wherever its requests are sent from.
    pub fn with_attribution(mut self, id: &str) -> Self {
        self.attribution = Some(Arc::from(id));
        self
    }

    /// The check or scenario this client's responses are recorded for, when it was given one.
    pub fn attribution(&self) -> Option<&str> {
        self.attribution.as_deref()
    }

    /// Records the rules every response obeys in `ledger` (one deployment's instances share
    /// one).
    pub fn with_ledger(mut self, ledger: Arc<RuleLedger>) -> Self {
        self.ledger = ledger;
        self
    }

    /// Where the rules every response obeys are recorded ([`crate::rules`]).
    pub fn ledger(&self) -> &Arc<RuleLedger> {
        &self.ledger
    }

    /// Paces every request within `budgets` (the deployment's published rate limits, shared
    /// by all its instances) and waits out refusals before sending again.
    pub fn with_budgets(mut self, budgets: Arc<Budgets>) -> Self {
        self.budgets = budgets;
        self
    }

    /// The budgets this client paces its requests within.
    pub fn budgets(&self) -> &Arc<Budgets> {
        &self.budgets
    }

    /// Whether `request` names its own rate-limit partition: a rate-limit check's request,
    /// which is never paced and whose 429 is its answer.
    pub fn names_partition(&self, headers: &[(String, String)]) -> bool {
        self.partition_header.as_ref().is_some_and(|partition| {
            headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(partition))
        })
    }

    /// Sends every request that does not name its own partition with a fresh value of
    /// `header`, the rate-limit partition header a conformance target publishes
    /// (spec/security.md): checks of other properties never share, or exhaust, a budget.
    /// Rate-limit checks set the header themselves, to one value per case.
    pub fn with_partition_header(mut self, header: impl Into<String>) -> Self {
        self.partition_header = Some(header.into());
        self
    }

    /// The partition header, when the target publishes one.
    pub fn partition_header(&self) -> Option<&str> {
        self.partition_header.as_deref()
    }

    /// The target's base URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// The full URL of `path` on the target. `path` is used as-is (already percent-encoded).
    pub fn url_of(&self, path: &str) -> String {
        let base = self.base.as_str().trim_end_matches('/');
        format!("{base}{path}")
    }

    /// Sends `request`, within the target's rate-limit budgets: paced so as not to spend
    /// more than a category allows, and sent again after a refusal's `Retry-After`. A
    /// request that names its own rate-limit partition is sent at once, and its 429 is its
    /// answer.
    pub async fn send(&self, request: RequestSpec) -> Result<Exchange, TransportError> {
        let paced = !self.names_partition(&request.headers);
        loop {
            let ticket = if paced {
                self.budgets
                    .acquire(&request.path)
                    .await
                    .map_err(|limited| TransportError {
                        method: request.method.to_string(),
                        url: self.url_of(&request.path),
                        reason: limited.describe(),
                        replay: curl_line(&self.url_of(&request.path), &request),
                        rate_limited: Some(Box::new(limited)),
                    })?
            } else {
                Ticket::unpaced()
            };
            let exchange = self.send_once(request.clone()).await?;
            if !paced {
                return Ok(exchange);
            }
            let refusal = self
                .budgets
                .observe(&ticket, exchange.status, &exchange.headers);
            if refusal == Refusal::Admitted {
                return Ok(exchange);
            }
            self.budgets
                .wait_out(&refusal)
                .await
                .map_err(|limited| TransportError {
                    method: request.method.to_string(),
                    url: exchange.url.clone(),
                    reason: limited.describe(),
                    replay: exchange.replay(),
                    rate_limited: Some(Box::new(limited)),
                })?;
        }
    }

    /// Sends `request` once, outside the budgets: for a check that spends a category on
    /// purpose (Properties 13 and 14 against a target's real budgets), whose 429 is its
    /// answer.
    pub async fn send_unpaced(&self, request: RequestSpec) -> Result<Exchange, TransportError> {
        self.send_once(request).await
    }

    /// Sends `request` once, whatever the budgets.
    async fn send_once(&self, request: RequestSpec) -> Result<Exchange, TransportError> {
        let url = self.url_of(&request.path);
        let fail = |reason: String| TransportError {
            method: request.method.to_string(),
            url: url.clone(),
            reason,
            replay: curl_line(&url, &request),
            rate_limited: None,
        };
        let mut builder = self.client.request(request.method.clone(), &url);
        for (name, value) in &request.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        if let Some(partition) = &self.partition_header
            && !request
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(partition))
        {
            builder = builder.header(
                partition.as_str(),
                uuid::Uuid::new_v4().simple().to_string(),
            );
        }
        if let Some(body) = &request.body {
            builder = if request.chunked {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    body.chunks(CHUNK).map(|c| Ok(c.to_vec())).collect();
                // hyper's client frames a streamed GET or HEAD body only when told to.
                builder
                    .header(http::header::TRANSFER_ENCODING, "chunked")
                    .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                        chunks,
                    )))
            } else {
                builder.body(body.clone())
            };
        }
        let response = builder.send().await.map_err(|e| fail(error_chain(&e)))?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response
            .bytes()
            .await
            .map_err(|e| fail(error_chain(&e)))?
            .to_vec();
        Ok(Exchange {
            url,
            request,
            status,
            headers,
            body,
            raw_replay: None,
        })
    }
}

/// An error and its causes on one line (reqwest hides the useful part in the source).
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        let _ = write!(text, ": {cause}");
        next = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn curl_lines_quote_everything() {
        let req = RequestSpec::post_json("/x", &serde_json::json!({"m": "it's"}))
            .header("x-request-id", "a b");
        let line = curl_line("http://h:1/x", &req);
        assert_eq!(
            line,
            r#"curl -i -X POST 'http://h:1/x' -H 'content-type: application/json' -H 'x-request-id: a b' --data-binary '{"m":"it'\''s"}'"#
        );
        let binary = RequestSpec::new(Method::POST, "/x").body(vec![0xff; 4]);
        assert!(curl_line("http://h/x", &binary).contains("4 bytes"));
    }

    /// The first bytes a request arrives as, read by a bare TCP listener.
    async fn wire_form(request: RequestSpec) -> String {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let client = HttpClient::new(base).unwrap();
        let sending = tokio::spawn(async move { client.send(request).await });
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut seen = vec![0u8; 512];
        let n = socket.read(&mut seen).await.unwrap();
        sending.abort();
        String::from_utf8_lossy(&seen[..n]).to_lowercase()
    }

    #[tokio::test]
    async fn chunked_bodies_are_chunked_for_every_method() {
        for method in [Method::GET, Method::POST, Method::DELETE] {
            let head = wire_form(
                RequestSpec::new(method.clone(), "/x")
                    .body(vec![b'a'; 40_000])
                    .chunked(),
            )
            .await;
            assert!(
                head.contains("transfer-encoding: chunked"),
                "{method}: {head}"
            );
            assert!(!head.contains("content-length"), "{method}: {head}");
        }
        let head = wire_form(RequestSpec::new(Method::GET, "/x").body(vec![b'a'; 10])).await;
        assert!(head.contains("content-length: 10"), "{head}");
    }

    #[test]
    fn quotes_are_truncated() {
        assert_eq!(quote(b"abc"), "abc");
        assert!(quote(&vec![b'a'; 5000]).ends_with("(5000 bytes in all)"));
    }
}
