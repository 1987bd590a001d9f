//! Trust for `https://` and `wss://` targets: the system's roots plus the private CAs given
//! with `--ca-cert`. One run checks one deployment, so the trusted CAs are the process's:
//! every connection the suite opens (reqwest, WebSockets, raw probes) reads them here, and
//! none of the dozens of places that open one has to carry them.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// The extra CAs, DER.
static EXTRA_ROOTS: RwLock<Vec<Vec<u8>>> = RwLock::new(Vec::new());

/// Why a CA file cannot be trusted.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The file could not be read.
    #[error("cannot read the CA certificate file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// It holds no PEM certificate, or one that does not parse.
    #[error("the CA certificate file {path} is not usable: {reason}")]
    Unusable {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Trusts every certificate of the PEM file at `path` (one CA or a bundle) for the rest of
/// the process, beside the system's roots; returns how many were added.
pub fn trust_ca_file(path: &Path) -> Result<usize, TrustError> {
    let pem = std::fs::read(path).map_err(|source| TrustError::Read {
        path: path.to_owned(),
        source,
    })?;
    let unusable = |reason: String| TrustError::Unusable {
        path: path.to_owned(),
        reason,
    };
    let ders = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| unusable(e.to_string()))?;
    if ders.is_empty() {
        return Err(unusable("no PEM CERTIFICATE section".to_owned()));
    }
    for der in &ders {
        native_tls::Certificate::from_der(der).map_err(|e| unusable(e.to_string()))?;
    }
    let count = ders.len();
    EXTRA_ROOTS
        .write()
        .unwrap_or_else(|p| p.into_inner())
        .extend(ders);
    Ok(count)
}

fn extra_roots() -> Vec<Vec<u8>> {
    EXTRA_ROOTS
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// The extra CAs for reqwest.
pub(crate) fn reqwest_roots() -> Vec<reqwest::Certificate> {
    extra_roots()
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der).ok())
        .collect()
}

/// The connector for HTTP/1.1 over TLS, built once per set of roots: building one reads and
/// parses the system's whole root store, which per WebSocket or raw probe made the sync checks
/// several times slower over TLS than over plain HTTP.
static CONNECTOR: Mutex<Option<(usize, native_tls::TlsConnector)>> = Mutex::new(None);

/// A TLS connector trusting the system's roots and the extra CAs, offering HTTP/1.1 by ALPN
/// (the version the suite speaks, `crate::http`).
pub(crate) fn connector() -> Result<native_tls::TlsConnector, String> {
    let roots = extra_roots();
    let mut cached = CONNECTOR.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((count, connector)) = cached.as_ref()
        && *count == roots.len()
    {
        return Ok(connector.clone());
    }
    let mut builder = native_tls::TlsConnector::builder();
    for der in &roots {
        let certificate = native_tls::Certificate::from_der(der).map_err(|e| e.to_string())?;
        builder.add_root_certificate(certificate);
    }
    builder.request_alpns(&["http/1.1"]);
    let connector = builder
        .build()
        .map_err(|e| format!("cannot build the TLS client: {e}"))?;
    *cached = Some((roots.len(), connector.clone()));
    Ok(connector)
}
