//! The suite against an `https://` target: the reference served over TLS with a certificate
//! from a throwaway CA, trusted as `--ca-cert` trusts one. Checks that use each way the suite
//! connects (reqwest, raw bytes, WebSockets) must reach the verdicts they reach over plain
//! HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;

use dx_conformance::{CaseConfig, Target, TargetSpec, Verdict, run_property};
use dx_server::tls::TlsFiles;
use dx_server::{BoundServer, Config};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

/// A CA certificate (PEM) and a `localhost` certificate and key it signed, written to `dir`.
fn pki(dir: &std::path::Path) -> (std::path::PathBuf, TlsFiles) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "dx suite test CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let leaf_key = KeyPair::generate().unwrap();
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    std::fs::create_dir_all(dir).unwrap();
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    (
        write("ca.pem", ca_cert.pem()),
        TlsFiles {
            cert: write("cert.pem", leaf_cert.pem()),
            key: write("key.pem", leaf_key.serialize_pem()),
        },
    )
}

/// The reference in the conformance profile over TLS, on an ephemeral port.
async fn serve_tls(files: TlsFiles) -> SocketAddr {
    let mut config = Config::conformance();
    config.tls = Some(files);
    let bound = BoundServer::bind(config).await.unwrap();
    let addr = bound.local_addr().unwrap();
    tokio::spawn(async move { bound.serve(std::future::pending()).await.unwrap() });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_target_gets_the_verdicts_of_plain_http() {
    let dir = std::env::temp_dir().join(format!("dx-suite-tls-{}", std::process::id()));
    let (ca, files) = pki(&dir);
    let addr = serve_tls(files).await;
    let url = format!("https://localhost:{}", addr.port());

    // Before the CA is trusted the target cannot be reached: the certificate is checked.
    let untrusted = Target::connect(TargetSpec::Url(url.clone())).await;
    assert!(
        untrusted.is_err(),
        "a certificate from an unknown CA was accepted"
    );

    assert_eq!(dx_conformance::tls::trust_ca_file(&ca).unwrap(), 1);
    let https = Target::connect(TargetSpec::Url(url)).await.unwrap();
    let plain = Target::embedded(Config::conformance()).await.unwrap();
    let config = CaseConfig {
        cases: 10,
        ..CaseConfig::default()
    };
    // 2: reqwest and raw bytes; 8: raw probes of the request checks; 12: headers on every
    // answer; 17: CSRF cookies; 22: pub/sub over WebSockets.
    for property in [2, 8, 12, 17, 22] {
        let over_tls = run_property(&https, property, config).await.unwrap();
        let over_http = run_property(&plain, property, config).await.unwrap();
        assert_eq!(
            // A failure's details name the URL, which differs: compare the kinds.
            over_tls.verdict.label(),
            over_http.verdict.label(),
            "Property {property}: {:?}",
            over_tls.verdict
        );
        assert_eq!(over_tls.verdict, Verdict::Pass, "Property {property}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unusable_ca_files_are_refused_with_the_path() {
    let dir = std::env::temp_dir().join(format!("dx-suite-ca-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let not_pem = dir.join("not.pem");
    std::fs::write(&not_pem, "hello\n").unwrap();
    let e = dx_conformance::tls::trust_ca_file(&not_pem)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("not.pem") && e.contains("no PEM CERTIFICATE"),
        "{e}"
    );
    let e = dx_conformance::tls::trust_ca_file(&dir.join("absent.pem"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("absent.pem: No such file"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}
