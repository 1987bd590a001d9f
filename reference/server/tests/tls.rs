//! HTTPS in the reference: HTTP/2 and HTTP/1.1 (ALPN) over TLS with a certificate from a
//! throwaway CA, WebSockets (`/_dx/sync`) over TLS, the plain listener that only redirects,
//! a certificate renewed on SIGHUP (and a broken renewal refused), and start-up failures that
//! name the file and exit 2.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use common::process::{Spawned, command, free_port};
use dx_server::tls::TlsFiles;
use dx_server::{BoundServer, Config};
use futures_util::StreamExt;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rstest::rstest;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// The six headers of spec/security.md, "Security headers".
const SECURITY_HEADERS: [&str; 6] = dx_security::headers::HEADER_NAMES;

/// A throwaway certificate authority.
struct Ca {
    pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A server certificate and its key, as PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A certificate for `localhost` and 127.0.0.1.
    fn leaf(&self, common_name: &str) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A reqwest client (native-tls) trusting this CA, not following redirects.
    fn reqwest_builder(&self) -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap())
            .redirect(reqwest::redirect::Policy::none())
    }

    fn reqwest_client(&self, redirects: bool) -> reqwest::Client {
        let builder = self.reqwest_builder();
        match redirects {
            true => builder.redirect(reqwest::redirect::Policy::limited(3)),
            false => builder,
        }
        .build()
        .unwrap()
    }

    /// A rustls client trusting this CA only, offering `alpn`.
    fn connector(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        let der = CertificateDer::from_pem_slice(self.pem.as_bytes()).unwrap();
        roots.add(der).unwrap();
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }

    /// A fresh TLS connection to `addr` as `localhost`.
    async fn connect(
        &self,
        addr: SocketAddr,
        alpn: &[&[u8]],
    ) -> tokio_rustls::client::TlsStream<TcpStream> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        self.connector(alpn)
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    }
}

use rustls::pki_types::pem::PemObject as _;

/// A directory of its own for one test's files, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let path = std::env::temp_dir().join(format!("dx-tls-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    /// Writes `text` to `name` whole (through a rename), so a reload never reads half a file.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        let partial = self.0.join(format!("{name}.partial"));
        std::fs::write(&partial, text).unwrap();
        std::fs::rename(&partial, &path).unwrap();
        path
    }

    fn files(&self, leaf: &Leaf) -> TlsFiles {
        TlsFiles {
            cert: self.write("cert.pem", &leaf.cert_pem),
            key: self.write("key.pem", &leaf.key_pem),
        }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The reference over TLS, in-process, with the redirecting listener; stops when told.
struct TlsServer {
    addr: SocketAddr,
    redirect: SocketAddr,
    stop: oneshot::Sender<()>,
    handle: tokio::task::JoinHandle<()>,
}

impl TlsServer {
    async fn start(mut config: Config, files: TlsFiles) -> Self {
        config.tls = Some(files);
        config.redirect_http = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        let bound = BoundServer::bind(config).await.unwrap();
        let addr = bound.local_addr().unwrap();
        let redirect = bound.redirect_addr().unwrap().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(async move {
            bound
                .serve(async {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Self {
            addr,
            redirect,
            stop,
            handle,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// Stops the server and waits for its graceful end.
    async fn stop(self) {
        let _ = self.stop.send(());
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("the server stops")
            .unwrap();
    }
}

fn assert_security_headers(headers: &http::HeaderMap, what: &str) {
    for name in SECURITY_HEADERS {
        assert_eq!(headers.get_all(name).iter().count(), 1, "{name} on {what}");
    }
}

#[tokio::test]
async fn https_serves_http1_and_http2() {
    let ca = Ca::new("dx test CA");
    let dir = Dir::new("serve");
    let server = TlsServer::start(Config::conformance(), dir.files(&ca.leaf("dx"))).await;

    // An OpenSSL client (reqwest's native-tls) trusting only the test CA: HTTP/2 when it
    // offers h2 by ALPN, HTTP/1.1 when it offers only http/1.1.
    for (client, version) in [
        (ca.reqwest_builder(), reqwest::Version::HTTP_2),
        (ca.reqwest_builder().http1_only(), reqwest::Version::HTTP_11),
    ] {
        let response = client
            .build()
            .unwrap()
            .get(server.url("/.well-known/dx-www"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.version(), version);
        assert_security_headers(response.headers(), "an HTTPS answer");
        let doc: serde_json::Value = response.json().await.unwrap();
        assert_eq!(doc["profile"], "conformance");
    }
    // A client offering no ALPN at all is served too (HTTP/1.1).
    let tls = ca.connect(server.addr, &[]).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), None);
    let mut tls = tls;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tls.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    server.stop().await;
}

#[tokio::test]
async fn sync_works_over_wss() {
    let ca = Ca::new("dx test CA");
    let dir = Dir::new("wss");
    let server = TlsServer::start(Config::conformance(), dir.files(&ca.leaf("dx"))).await;
    let minted: serde_json::Value = ca
        .reqwest_client(false)
        .post(server.url("/_dx/auth/mint"))
        .json(&serde_json::json!({ "sub": "tls-user", "typ": "access", "exp_offset_seconds": 600 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = minted["token"].as_str().unwrap();

    let url = format!("wss://localhost:{}/_dx/sync", server.addr.port());
    let mut request = url.into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let tls = ca.connect(server.addr, &[b"http/1.1"]).await;
    let (mut socket, response) = tokio_tungstenite::client_async(request, tls).await.unwrap();
    assert_eq!(response.status(), 101);
    let welcome = loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a frame within 5 s")
            .unwrap()
            .unwrap();
        if let Message::Binary(bytes) = message {
            break dx_sync::frame::ServerFrame::decode(&bytes).unwrap();
        }
    };
    assert!(
        matches!(welcome, dx_sync::frame::ServerFrame::Welcome { .. }),
        "{welcome:?}"
    );
    socket.close(None).await.unwrap();
    server.stop().await;
}

#[tokio::test]
async fn the_plain_listener_only_redirects_to_https() {
    let ca = Ca::new("dx test CA");
    let dir = Dir::new("redirect");
    let mut config = Config::conformance();
    config.profile = dx_server::Profile::Production;
    config.security = dx_server::config::SecuritySettings::for_profile(config.profile);
    let server = TlsServer::start(config, dir.files(&ca.leaf("dx"))).await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for (method, path) in [
        (reqwest::Method::GET, "/a/b?c=d&e"),
        (reqwest::Method::POST, "/api/v1/auth/login"),
        (reqwest::Method::GET, "/"),
    ] {
        let response = plain
            .request(
                method.clone(),
                format!("http://localhost:{}{path}", server.redirect.port()),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 301, "{method} {path}");
        assert_eq!(
            response.headers()["location"],
            format!("https://localhost:{}{path}", server.addr.port()).as_str(),
            "{method} {path}"
        );
        assert_security_headers(response.headers(), "a redirect");
        let hsts = response.headers()["strict-transport-security"]
            .to_str()
            .unwrap();
        assert_eq!(hsts, "max-age=31536000; includeSubDomains");
    }
    // A client following the redirect lands on the HTTPS answer.
    let followed = ca
        .reqwest_client(true)
        .get(format!(
            "http://localhost:{}/health",
            server.redirect.port()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(followed.status(), 200);
    assert_eq!(followed.url().scheme(), "https");
    // Without a usable Host the redirect has nowhere to go.
    let mut raw = TcpStream::connect(server.redirect).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut answer = String::new();
    raw.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.0 400"), "{answer}");
    server.stop().await;
}

/// The leaf certificate a new connection to `addr` is shown.
async fn presented(ca: &Ca, addr: SocketAddr) -> Vec<u8> {
    let tls = ca.connect(addr, &[]).await;
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

#[cfg(unix)]
#[test]
fn sighup_reloads_the_certificate_and_keeps_the_old_one_when_the_new_is_bad() {
    let ca = Ca::new("dx test CA");
    let (first, second) = (ca.leaf("first"), ca.leaf("second"));
    let dir = Dir::new("sighup");
    let files = dir.files(&first);
    let port = free_port();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = Spawned::start(
        &[
            "--profile",
            "conformance",
            "--bind",
            &addr.to_string(),
            "--tls-cert",
            files.cert.to_str().unwrap(),
            "--tls-key",
            files.key.to_str().unwrap(),
        ],
        &[],
    );
    let (listening, seen) = server.wait_for(
        |l| l.contains("dx-reference listening"),
        Duration::from_secs(20),
    );
    assert!(listening.is_some(), "{seen:?}");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert_eq!(rt.block_on(presented(&ca, addr)), first.der);

    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &server.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    };
    // A renewal whose key is not the certificate's is refused; the first pair stays.
    dir.write("key.pem", &second.key_pem);
    hangup();
    let (refused, seen) = server.wait_for(
        |l| l.contains("TLS certificate not reloaded"),
        Duration::from_secs(10),
    );
    let refused = refused.unwrap_or_else(|| panic!("{seen:?}"));
    assert!(refused.contains("does not fit"), "{refused}");
    assert_eq!(rt.block_on(presented(&ca, addr)), first.der);

    // The whole new pair is taken.
    dir.write("cert.pem", &second.cert_pem);
    hangup();
    let (reloaded, seen) = server.wait_for(
        |l| l.contains("TLS certificate reloaded"),
        Duration::from_secs(10),
    );
    assert!(reloaded.is_some(), "{seen:?}");
    assert_eq!(rt.block_on(presented(&ca, addr)), second.der);
    let mut server = server;
    assert!(server.child.try_wait().unwrap().is_none(), "still serving");
}

/// What a start-up failure's files are made of.
#[derive(Debug, Clone, Copy)]
enum Bad {
    MissingCert,
    CertWithoutKey,
    KeyWithoutCert,
    RedirectWithoutTls,
    CertNotPem,
    EmptyCert,
    KeyIsACertificate,
    KeyOfAnotherCertificate,
}

#[rstest]
#[case::missing_cert(
    Bad::MissingCert,
    "invalid setting `tls_cert` (from --tls-cert): cannot read"
)]
#[case::cert_without_key(
    Bad::CertWithoutKey,
    "`tls_cert` (from --tls-cert): needs its private key"
)]
#[case::key_without_cert(
    Bad::KeyWithoutCert,
    "`tls_key` (from --tls-key): needs its certificate"
)]
#[case::redirect_without_tls(Bad::RedirectWithoutTls, "`redirect_http` (from --redirect-http)")]
#[case::cert_not_pem(Bad::CertNotPem, "cert.pem is not usable: no PEM CERTIFICATE section")]
#[case::empty_cert(Bad::EmptyCert, "cert.pem is not usable: no PEM CERTIFICATE section")]
#[case::key_is_a_certificate(Bad::KeyIsACertificate, "key.pem is not usable: no PEM PRIVATE KEY")]
#[case::key_of_another(Bad::KeyOfAnotherCertificate, "key.pem does not fit the certificate")]
fn unusable_tls_settings_exit_2_naming_the_file(#[case] bad: Bad, #[case] expected: &str) {
    let ca = Ca::new("dx test CA");
    let (leaf, other) = (ca.leaf("dx"), ca.leaf("other"));
    let dir = Dir::new(&format!("bad-{bad:?}"));
    let cert = dir.write("cert.pem", &leaf.cert_pem);
    let key = dir.write("key.pem", &leaf.key_pem);
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut args: Vec<String> = vec![
        "--profile".into(),
        "conformance".into(),
        "--bind".into(),
        bind,
    ];
    let mut tls = |cert: String, key: Option<String>| {
        args.extend(["--tls-cert".into(), cert]);
        if let Some(key) = key {
            args.extend(["--tls-key".into(), key]);
        }
    };
    match bad {
        Bad::MissingCert => tls(path(&dir.0.join("absent.pem")), Some(path(&key))),
        Bad::CertWithoutKey => tls(path(&cert), None),
        Bad::KeyWithoutCert => args.extend(["--tls-key".into(), path(&key)]),
        Bad::RedirectWithoutTls => args.extend(["--redirect-http".into(), "127.0.0.1:0".into()]),
        Bad::CertNotPem => {
            dir.write("cert.pem", "not a certificate\n");
            tls(path(&cert), Some(path(&key)));
        }
        Bad::EmptyCert => {
            dir.write("cert.pem", "");
            tls(path(&cert), Some(path(&key)));
        }
        Bad::KeyIsACertificate => {
            dir.write("key.pem", &leaf.cert_pem);
            tls(path(&cert), Some(path(&key)));
        }
        Bad::KeyOfAnotherCertificate => {
            dir.write("key.pem", &other.key_pem);
            tls(path(&cert), Some(path(&key)));
        }
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = command(&args, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{bad:?}: {stderr}");
    assert!(stderr.contains(expected), "{bad:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{bad:?}: {stderr}");
    assert!(
        !stderr.contains("BEGIN"),
        "no key material in messages: {stderr}"
    );
}
