//! Debian's `pebble`, the ACME test server, run for a test: its own HTTPS certificate made
//! here (an rcgen CA and a leaf for 127.0.0.1 and localhost; the server under test trusts
//! that CA through `tls.acme_ca_certificate`), validation through a [`crate::dns::TestDns`]
//! and on the ports of the server under test; and a TLS client that checks what a
//! listener presents against pebble's issuing root.
//!
//! Without `pebble` on the PATH the tests are skipped with a visible note, except under
//! `CI=true` (set by `.ci/run`, which installs it), where they fail.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running pebble; killed when dropped.
pub struct Pebble {
    /// The ACME directory URL.
    pub directory: String,
    /// The PEM file of the CA pebble's HTTPS certificate chains to.
    pub https_ca: PathBuf,
    management: SocketAddr,
    child: tokio::process::Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1 (bound, then let go).
pub fn free_port() -> u16 {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("address").port()
}

/// Whether pebble can be run; `false` (and a note past libtest's capture) when it is
/// missing outside CI; a panic when it is missing under `CI=true`.
pub fn available() -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join("pebble").is_file()));
    if found {
        return true;
    }
    let test = std::thread::current()
        .name()
        .unwrap_or("an ACME test")
        .to_string();
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!(
            "{test}: pebble is not installed under CI=true; the ACME tests must run in CI (apt-get install pebble)"
        );
    }
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED {test}: pebble is not installed (apt-get install pebble runs it)"
    );
    false
}

impl Pebble {
    /// Starts pebble resolving names through `dns`, validating HTTP-01 on `http_port` and
    /// TLS-ALPN-01 on `tls_port` of the addresses `dns` gives; returns once its directory
    /// answers.
    pub async fn start(dns: SocketAddr, http_port: u16, tls_port: u16) -> Pebble {
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "pebble test HTTPS CA");
        let ca = rcgen::CertifiedIssuer::self_signed(ca, ca_key).expect("CA");
        let leaf_key = rcgen::KeyPair::generate().expect("key");
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".into(), "localhost".into()])
            .expect("params")
            .signed_by(&leaf_key, &ca)
            .expect("leaf");
        let https_ca = dir.path().join("https-ca.pem");
        std::fs::write(&https_ca, ca.as_ref().pem()).expect("write");
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, leaf.pem()).expect("write");
        std::fs::write(&key, leaf_key.serialize_pem()).expect("write");
        let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let management = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = serde_json::json!({"pebble": {
            "listenAddress": listen.to_string(),
            "managementListenAddress": management.to_string(),
            "certificate": cert,
            "privateKey": key,
            "httpPort": http_port,
            "tlsPort": tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        }});
        let config_file = dir.path().join("pebble.json");
        std::fs::write(&config_file, config.to_string()).expect("write");
        let log = dir.path().join("pebble.log");
        let out = std::fs::File::create(&log).expect("log");
        let child = tokio::process::Command::new("pebble")
            .arg("-config")
            .arg(&config_file)
            .arg("-dnsserver")
            .arg(dns.to_string())
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .expect("pebble starts");
        let pebble = Pebble {
            directory: format!("https://{listen}/dir"),
            https_ca,
            management,
            child,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match pebble.get(listen, "/dir").await {
                Ok(body) if body.contains("newOrder") => break,
                other if Instant::now() > deadline => {
                    panic!("pebble did not answer: {other:?}\n{}", pebble.log())
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
        pebble
    }

    /// What pebble wrote so far, for a failing test's message.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The root pebble issues under (it makes a new one at each start).
    pub async fn issuing_root(&self) -> CertificateDer<'static> {
        let pem = self.get(self.management, "/roots/0").await.expect("root");
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("root PEM")
    }

    /// Stops pebble now.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }

    /// A GET over HTTPS trusting the test CA; the body of a 200 answer.
    async fn get(&self, at: SocketAddr, path: &str) -> Result<String, String> {
        let mut roots = rustls::RootCertStore::empty();
        let ca = CertificateDer::from_pem_file(&self.https_ca).map_err(|e| e.to_string())?;
        roots.add(ca).map_err(|e| e.to_string())?;
        let mut tls = connect(at, "127.0.0.1", roots, &[]).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {at}\r\nConnection: close\r\n\r\n");
        tls.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        let read = tokio::time::timeout(Duration::from_secs(10), tls.read_to_string(&mut answer));
        // pebble may close without close_notify: what was read counts
        let _ = read.await.map_err(|_| "timed out".to_string())?;
        if !answer.starts_with("HTTP/1.1 200") {
            return Err(answer);
        }
        Ok(answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
            .unwrap_or_default())
    }
}

/// A TLS connection to `at` for `name` whose certificate chains to `roots` and names
/// `name`, offering `alpn`.
pub async fn connect(
    at: SocketAddr,
    name: &str,
    roots: rustls::RootCertStore,
    alpn: &[&[u8]],
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = ServerName::try_from(name.to_string()).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect(at)
        .await
        .map_err(|e| e.to_string())?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())
}

/// Roots holding only `root`.
pub fn roots_of(root: &CertificateDer<'static>) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).expect("root");
    roots
}

/// The serial number of the certificate `stream`'s server presented.
pub fn peer_serial(stream: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> String {
    let certs = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("certificates");
    estafeta_net::acme::serial(&certs[0])
}

/// The public key (SPKI, DER) of the certificate `stream`'s server presented.
pub fn peer_public_key(stream: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> Vec<u8> {
    let certs = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("certificates");
    let cert = webpki::EndEntityCert::try_from(&certs[0]).expect("certificate");
    cert.subject_public_key_info().as_ref().to_vec()
}
