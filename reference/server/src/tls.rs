//! HTTPS in the reference (spec/security.md, "Transport"): rustls with the certificate chain
//! and key from PEM files, re-read on SIGHUP so a renewed certificate takes effect without a
//! restart, and the optional plain-HTTP listener that only redirects to HTTPS.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri, header};
use rustls::ServerConfig;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// The longest a client may take over its TLS handshake before the connection is dropped,
/// so half-open handshakes cannot pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshaken connections waiting for the server to take them.
const ACCEPT_QUEUE: usize = 64;

/// The certificate chain and private key files, both PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// Why a certificate and key cannot be served. Start-up prints it and exits; a reload logs it
/// and keeps the pair in use. It names files, never their contents, and no HTTP answer
/// carries it.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read the TLS {what} {path}: {source}")]
    Read {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no usable PEM section of its kind.
    #[error("the TLS {what} {path} is not usable: {reason}")]
    Pem {
        /// "certificate" or "key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// rustls refused the pair: most often a key that is not the certificate's.
    #[error("the TLS key {key} does not fit the certificate {cert}: {reason}")]
    Pair {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        reason: String,
    },
}

/// The certificate the server presents: the rustls configuration built from [`TlsFiles`],
/// replaced whole by [`TlsCertificate::reload`], so every handshake sees either the old
/// pair or the new one, never a mix.
#[derive(Debug, Clone)]
pub struct TlsCertificate {
    files: TlsFiles,
    current: Arc<RwLock<Arc<ServerConfig>>>,
}

impl TlsCertificate {
    /// Reads and checks the pair (PEM, key matching the certificate).
    pub fn load(files: TlsFiles) -> Result<Self, TlsError> {
        let config = server_config(&files)?;
        Ok(Self {
            files,
            current: Arc::new(RwLock::new(config)),
        })
    }

    /// Reads the files again; the new pair serves the next handshakes. A pair that does not
    /// load leaves the one in use untouched.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = config;
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        let config = Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()));
        TlsAcceptor::from(config)
    }

    /// Reloads on every SIGHUP until the process ends. The handler is installed before this
    /// returns, so a SIGHUP sent once the server says it listens never kills it.
    #[cfg(unix)]
    pub fn reload_on_sighup(&self) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        let certificate = self.clone();
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match certificate.reload() {
                    Ok(()) => tracing::info!(
                        cert = %certificate.files.cert.display(),
                        "SIGHUP: TLS certificate reloaded"
                    ),
                    Err(error) => tracing::error!(
                        %error,
                        "SIGHUP: TLS certificate not reloaded; the previous one stays in use"
                    ),
                }
            }
        });
        Ok(())
    }
}

/// The rustls configuration for `files`: ring, TLS 1.2 and 1.3, ALPN `h2` then `http/1.1`.
fn server_config(files: &TlsFiles) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_pem = read("certificate", &files.cert)?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("certificate", &files.cert, &e))?;
    if chain.is_empty() {
        return Err(pem_error(
            "certificate",
            &files.cert,
            &pem::Error::NoItemsFound,
        ));
    }
    let key_pem = read("key", &files.key)?;
    let key =
        PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| pem_error("key", &files.key, &e))?;
    let pair = |e: rustls::Error| TlsError::Pair {
        cert: files.cert.clone(),
        key: files.key.clone(),
        reason: e.to_string(),
    };
    let mut config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(pair)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(pair)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })
}

fn pem_error(what: &'static str, path: &Path, error: &pem::Error) -> TlsError {
    let reason = match (error, what) {
        (pem::Error::NoItemsFound, "certificate") => "no PEM CERTIFICATE section".to_owned(),
        (pem::Error::NoItemsFound, _) => {
            "no PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY section".to_owned()
        }
        (other, _) => other.to_string(),
    };
    TlsError::Pem {
        what,
        path: path.to_owned(),
        reason,
    }
}

/// A TCP listener whose connections come out TLS-handshaken. Handshakes run in tasks of
/// their own, so a client that stalls in its handshake delays nobody else.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Accepts on `tcp`, presenting `certificate` (as it is at each handshake).
    pub fn new(tcp: TcpListener, certificate: TlsCertificate) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let (tx, ready) = mpsc::channel(ACCEPT_QUEUE);
        tokio::spawn(accept_loop(tcp, certificate, tx));
        Ok(Self { local, ready })
    }
}

/// Accepts until the [`TlsListener`] is dropped (the server stopped), then closes the socket.
async fn accept_loop(
    tcp: TcpListener,
    certificate: TlsCertificate,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let accepted = tokio::select! {
            () = ready.closed() => return,
            accepted = tcp.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                accept_failed(error).await;
                continue;
            }
        };
        // The handshake's flights and small responses go out at once (see server.rs).
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
        let acceptor = certificate.acceptor();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = ready.send((tls, peer)).await;
                }
                Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}

/// What axum's own listener does: per-connection errors are the peer's business; others
/// (out of file descriptors) are logged and retried after a pause.
async fn accept_failed(error: std::io::Error) {
    use std::io::ErrorKind;
    if matches!(
        error.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(%error, "accept failed");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accept loop ends only when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

/// The plain-HTTP application of `--redirect-http`: every request is answered 301 to the
/// same host, path and query over HTTPS on `https_port`, with the security headers of
/// `headers` (spec/security.md, "Transport").
pub fn redirect_app(https_port: u16, headers: dx_security::SecurityHeadersLayer) -> Router {
    Router::new()
        .fallback(to_https)
        .with_state(https_port)
        .layer(headers)
}

async fn to_https(State(https_port): State<u16>, request: Request) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host.and_then(|host| https_location(host, https_port, request.uri())) {
        Some(location) => (
            StatusCode::MOVED_PERMANENTLY,
            [(header::LOCATION, location)],
        )
            .into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            "a Host header naming this server is required\n",
        )
            .into_response(),
    }
}

/// `https://host[:port]/path?query` for a request to `host` (a `Host` header value, any port
/// dropped) and `uri`; `None` when `host` is not a plain host name or address.
pub fn https_location(host: &str, https_port: u16, uri: &Uri) -> Option<String> {
    let authority: http::uri::Authority = host.parse().ok()?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return None;
    }
    let port = match https_port {
        443 => String::new(),
        port => format!(":{port}"),
    };
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    Some(format!("https://{}{port}{path}", authority.host()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("example.com", 443, "/a?b=1", Some("https://example.com/a?b=1"))]
    #[case("example.com:80", 8443, "/", Some("https://example.com:8443/"))]
    #[case("127.0.0.1:8080", 8443, "/x/y?z", Some("https://127.0.0.1:8443/x/y?z"))]
    #[case("[::1]:8080", 8443, "/", Some("https://[::1]:8443/"))]
    #[case("user@evil.example", 443, "/", None)]
    #[case("bad host", 443, "/", None)]
    #[case("", 443, "/", None)]
    fn redirects_keep_host_path_and_query(
        #[case] host: &str,
        #[case] port: u16,
        #[case] uri: &str,
        #[case] expected: Option<&str>,
    ) {
        let uri: Uri = uri.parse().unwrap();
        assert_eq!(https_location(host, port, &uri).as_deref(), expected);
    }
}
