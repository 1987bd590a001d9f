//! Requests as raw bytes over TCP, for what an HTTP client library will not send: malformed
//! request lines, oversized or contradictory header sections, bodies that stall, and
//! `Expect: 100-continue` (spec/http-contract.md, "The order of request checks"). An
//! `https://` target gets the same bytes inside TLS (HTTP/1.1 by ALPN).

use std::fmt::Write as _;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use url::Url;

use crate::http::{Exchange, RequestSpec, shell_quote};

/// The most a probe reads of an answer.
const MAX_ANSWER: usize = 1024 * 1024;

/// How a raw probe ended.
#[derive(Debug)]
pub enum RawAnswer {
    /// A response (the first one, interim responses included), as an exchange.
    Response(Box<Exchange>),
    /// The connection closed (or was reset) before a complete response head.
    Closed(String),
    /// Writing the request failed part-way (the server closed while the client was still
    /// sending), with whatever answer could be read afterwards.
    WriteFailed {
        /// The error.
        error: String,
        /// The bytes written before it.
        written: usize,
        /// The answer read after the failure, if any.
        answer: Option<Box<Exchange>>,
    },
    /// Nothing complete arrived within the time limit.
    Silent,
}

/// One raw request: its bytes, sent in parts with a pause after each.
#[derive(Clone)]
pub struct RawRequest {
    /// What it is, for reports.
    pub description: String,
    /// The bytes to send and the pause after each part.
    pub parts: Vec<(Vec<u8>, Duration)>,
}

impl std::fmt::Debug for RawRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes: Vec<u8> = self.parts.iter().flat_map(|(b, _)| b.clone()).collect();
        let shown = crate::http::quote(&bytes[..bytes.len().min(160)]);
        write!(f, "{} ({} bytes: {shown:?})", self.description, bytes.len())
    }
}

impl RawRequest {
    /// A request sent at once.
    pub fn whole(description: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            description: description.into(),
            parts: vec![(bytes, Duration::ZERO)],
        }
    }

    /// The same request with the header line `name: value` added after the request line,
    /// when the first part has one (a request without a line ending is left as it is).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        if let Some((first, _)) = self.parts.first_mut()
            && let Some(end) = first.windows(2).position(|w| w == b"\r\n")
        {
            let line = format!("{name}: {value}\r\n").into_bytes();
            first.splice(end + 2..end + 2, line);
        }
        self
    }

    /// The request target of the request line (`GET /path HTTP/1.1` gives `/path`), when
    /// the first part has a readable one: the path whose rate-limit budget it spends.
    pub fn path(&self) -> Option<String> {
        let first = self.parts.first()?.0.as_slice();
        let line_end = first.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&first[..line_end]).ok()?;
        let target = line.split(' ').nth(1)?;
        target.starts_with('/').then(|| target.to_owned())
    }

    /// A `printf … | nc` line that sends the same bytes (pauses are not replayed).
    pub fn replay(&self, host: &str, port: u16) -> String {
        self.replay_over(host, port, false)
    }

    /// [`RawRequest::replay`], with `openssl s_client` in place of `nc` for a TLS target.
    pub fn replay_over(&self, host: &str, port: u16, tls: bool) -> String {
        let mut escaped = String::new();
        for (bytes, _) in &self.parts {
            for b in bytes.iter().take(4096) {
                match b {
                    b'\r' => escaped.push_str("\\r"),
                    b'\n' => escaped.push_str("\\n"),
                    b'%' => escaped.push_str("%%"),
                    b'\\' => escaped.push_str("\\\\"),
                    0x20..=0x7e => escaped.push(char::from(*b)),
                    _ => {
                        let _ = write!(escaped, "\\{b:03o}");
                    }
                }
            }
        }
        let sink = if tls {
            format!(
                "openssl s_client -quiet -alpn http/1.1 -servername {host} -connect {host}:{port}"
            )
        } else {
            format!("nc {host} {port}")
        };
        format!(
            "printf {} | {sink}  # {}",
            shell_quote(&escaped),
            self.description
        )
    }
}

/// Sends `request` to the target at `base` (`http`, or `https` inside TLS) and reads the
/// first response.
pub async fn send_raw(
    base: &Url,
    request: &RawRequest,
    limit: Duration,
) -> Result<RawAnswer, String> {
    let tls = match base.scheme() {
        "http" => false,
        "https" => true,
        other => return Err(format!("raw probes need an http(s):// target, not {other}")),
    };
    let host = base.host_str().unwrap_or("127.0.0.1").to_owned();
    let port = base.port_or_known_default().unwrap_or(80);
    let replay = request.replay_over(&host, port, tls);
    let attempt = async {
        let tcp = TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
        if !tls {
            return exchange(tcp, base, request, &replay).await;
        }
        let connector = tokio_native_tls::TlsConnector::from(crate::tls::connector()?);
        // A bracketed IPv6 literal is verified without its brackets.
        let name = host.trim_start_matches('[').trim_end_matches(']');
        let stream = connector
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake with {host}:{port} failed: {e}"))?;
        exchange(stream, base, request, &replay).await
    };
    match tokio::time::timeout(limit, attempt).await {
        Ok(result) => result,
        Err(_) => Ok(RawAnswer::Silent),
    }
}

/// Writes `request`'s parts with their pauses, then reads the answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    base: &Url,
    request: &RawRequest,
    replay: &str,
) -> Result<RawAnswer, String> {
    {
        let mut written = 0;
        for (bytes, pause) in &request.parts {
            if let Err(e) = stream.write_all(bytes).await {
                let answer = match read_answer(&mut stream, base, request, replay).await {
                    Some(RawAnswer::Response(ex)) => Some(ex),
                    _ => None,
                };
                return Ok(RawAnswer::WriteFailed {
                    error: e.to_string(),
                    written,
                    answer,
                });
            }
            written += bytes.len();
            if !pause.is_zero() {
                tokio::time::sleep(*pause).await;
            }
        }
        read_answer(&mut stream, base, request, replay)
            .await
            .ok_or_else(|| "no answer".to_owned())
    }
}

async fn read_answer<S: AsyncRead + Unpin>(
    stream: &mut S,
    base: &Url,
    request: &RawRequest,
    replay: &str,
) -> Option<RawAnswer> {
    let answer = |parsed: Parsed| {
        RawAnswer::Response(Box::new(Exchange {
            url: base.to_string(),
            request: RequestSpec::get(format!("(raw) {}", request.description)),
            status: parsed.status,
            headers: parsed.headers,
            body: parsed.body,
            raw_replay: Some(replay.to_owned()),
        }))
    };
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(parsed) = parse_response(&buffer).filter(|p| p.complete) {
            return Some(answer(parsed));
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                return Some(parse_response(&buffer).map_or_else(
                    || {
                        RawAnswer::Closed(format!(
                            "the connection closed after {} bytes of answer",
                            buffer.len()
                        ))
                    },
                    answer,
                ));
            }
            Ok(n) => {
                buffer.extend_from_slice(&chunk[..n]);
                if buffer.len() > MAX_ANSWER {
                    return None;
                }
            }
        }
    }
}

/// A response head (and as much body as arrived) parsed from raw bytes.
#[derive(Debug)]
struct Parsed {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    /// Whether the body is complete (by `Content-Length`, or an interim 1xx response).
    complete: bool,
}

fn parse_response(bytes: &[u8]) -> Option<Parsed> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&bytes[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next()?;
    let code = status_line.split(' ').nth(1)?.parse::<u16>().ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
        let value = HeaderValue::from_str(value.trim()).ok()?;
        headers.append(name, value);
    }
    let body = bytes[end + 4..].to_vec();
    let length = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let complete = status.is_informational() || length.is_some_and(|n| body.len() >= n);
    let body = match length {
        Some(n) if body.len() > n => body[..n].to_vec(),
        _ => body,
    };
    Some(Parsed {
        status,
        headers,
        body,
        complete,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_heads_and_bodies() {
        let p = parse_response(
            b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\nx-a: 1\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(p.status, 413);
        assert!(p.complete);
        assert_eq!(p.body, b"{}");
        assert_eq!(p.headers["x-a"], "1");
        let partial = parse_response(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nab").unwrap();
        assert!(!partial.complete);
        assert!(
            parse_response(b"HTTP/1.1 100 Continue\r\n\r\n")
                .unwrap()
                .complete
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\n").is_none());
        assert!(parse_response(b"garbage\r\n\r\n").is_none());
    }

    #[test]
    fn replay_lines_escape_control_bytes() {
        let r = RawRequest::whole("x", b"GET / HTTP/1.1\r\n\x01%'\r\n".to_vec());
        assert_eq!(
            r.replay("h", 1),
            r"printf 'GET / HTTP/1.1\r\n\001%%'\''\r\n' | nc h 1  # x"
        );
    }
}
