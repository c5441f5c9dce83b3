//! Automatic certificates against a real ACME server, Debian's `pebble`: issuance with
//! TLS-ALPN-01 and with HTTP-01, renewal swapped in while connections stay open, and a
//! restart that serves the stored certificate without asking the CA. Pebble resolves the
//! names through a test DNS server that points them at 127.0.0.1, and validates on the
//! ports of our `https` and `http` listeners.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use estafeta_config::{Config, Protocol};
use estafeta_server::RunningServer;
use estafeta_testkit::dns::{Records, TestDns};
use estafeta_testkit::pebble::{
    self, Pebble, connect, free_port, peer_public_key, peer_serial, roots_of,
};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HOST: &str = "mail.test";
const LOOPBACK: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

struct Ca {
    _dns: TestDns,
    pebble: Pebble,
    https_port: u16,
    http_port: u16,
}

/// Pebble and its DNS, or `None` when pebble is not installed (outside CI).
async fn ca() -> Option<Ca> {
    if !pebble::available() {
        return None;
    }
    let dns = TestDns::start(
        Records::new()
            .a(HOST, LOOPBACK)
            .a("autoconfig.example.com", LOOPBACK)
            .a("mta-sts.example.com", LOOPBACK),
    )
    .await;
    let (https_port, http_port) = (free_port(), free_port());
    let pebble = Pebble::start(dns.addr, http_port, https_port).await;
    Some(Ca {
        _dns: dns,
        pebble,
        https_port,
        http_port,
    })
}

/// The configuration of a server under test: ACME from pebble, an `https` and an `http`
/// listener on the ports pebble validates on, and `tls` lines added to `[tls]`.
fn config(dir: &std::path::Path, ca: &Ca, tls: &str) -> Config {
    let toml = format!(
        "hostname = {HOST:?}\ndata_dir = {:?}\n\
         [tls]\nacme = true\nacme_contact = \"mailto:postmaster@example.com\"\n\
         acme_directory = {:?}\nacme_ca_certificate = {:?}\n{tls}\n\
         [trust]\nchecks = false\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {}\nprotocol = \"https\"\ntls = \"implicit\"\n\
         [[listener]]\naddress = \"127.0.0.1\"\nport = {}\nprotocol = \"http\"\ntls = \"none\"\n",
        dir.display().to_string(),
        ca.pebble.directory,
        ca.pebble.https_ca.display().to_string(),
        ca.https_port,
        ca.http_port,
    );
    Config::from_toml(&toml, "test").expect("config")
}

async fn start(dir: &std::path::Path, config: &Config) -> (RunningServer, SocketAddr) {
    let store = estafeta_testkit::sqlite_store(dir).await;
    if store.list_domains().await.expect("domains").is_empty() {
        store.add_domain("example.com").await.expect("domain");
    }
    let server = estafeta_testkit::serve(config, store).await;
    let https = server
        .listeners()
        .iter()
        .find(|(l, _)| l.protocol == Protocol::Https)
        .map(|(_, a)| *a)
        .expect("https listener");
    (server, https)
}

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

/// A connection offering ALPN h2 and http/1.1, as a browser does, once the listener
/// presents a certificate for `name` that chains to pebble's `root`.
async fn pebble_certificate(
    at: SocketAddr,
    name: &str,
    root: &CertificateDer<'static>,
    ca: &Ca,
) -> Tls {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match connect(at, name, roots_of(root), &[b"h2", b"http/1.1"]).await {
            Ok(tls) => return tls,
            Err(e) if Instant::now() > deadline => {
                panic!(
                    "no certificate from pebble for {name}: {e}\npebble:\n{}",
                    ca.pebble.log()
                )
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// An HTTP/1.1 request on a kept-alive connection; the status line of the answer.
async fn get(tls: &mut Tls, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {HOST}\r\n\r\n");
    tls.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), tls.read(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    text.lines().next().unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn_01_issues_a_certificate_for_the_host_and_the_domains_names() {
    let Some(ca) = ca().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &ca, "acme_challenge = \"tls-alpn-01\"");
    let (_server, https) = start(dir.path(), &config).await;
    let root = ca.pebble.issuing_root().await;

    // a client offering h2 and http/1.1 connects and is served (the ALPN list of the
    // listeners stays empty: acme-tls/1 is only spoken to the CA)
    let mut tls = pebble_certificate(https, HOST, &root, &ca).await;
    assert_eq!(
        get(&mut tls, "/.well-known/acme-challenge/none").await,
        "HTTP/1.1 404 Not Found"
    );
    for name in ["autoconfig.example.com", "mta-sts.example.com"] {
        connect(https, name, roots_of(&root), &[])
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // acme-tls/1 with no challenge pending: no handshake
    assert!(
        connect(https, HOST, roots_of(&root), &[b"acme-tls/1"])
            .await
            .is_err()
    );

    let acme = dir.path().join("tls/acme");
    let mode = |f: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(acme.join(f))
            .expect(f)
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("private_key.pem"), 0o600);
    assert_eq!(mode("account.json"), 0o600);
    assert!(acme.join("certificate.pem").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_01_issues_a_certificate_and_leaves_out_a_name_that_fails() {
    let Some(ca) = ca().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    // missing.example.com has no DNS record: its validation fails, and the certificate
    // is issued without it
    let config = config(
        dir.path(),
        &ca,
        "acme_challenge = \"http-01\"\nacme_names = [\"missing.example.com\"]",
    );
    let (_server, https) = start(dir.path(), &config).await;
    let root = ca.pebble.issuing_root().await;
    pebble_certificate(https, HOST, &root, &ca).await;
    connect(https, "mta-sts.example.com", roots_of(&root), &[])
        .await
        .expect("mta-sts name covered");
    let Err(e) = connect(https, "missing.example.com", roots_of(&root), &[]).await else {
        panic!("the failed name is not covered");
    };
    assert!(e.contains("not valid for name"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renewal_is_swapped_in_while_connections_stay_open() {
    let Some(ca) = ca().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    // pebble's certificates last about five years: with 100 years asked for, every check
    // (each second, through the test-only short interval) renews
    let config = config(
        dir.path(),
        &ca,
        "acme_renew_days = 36500\nacme_check_interval = 1",
    );
    let (_server, https) = start(dir.path(), &config).await;
    let root = ca.pebble.issuing_root().await;
    let mut old = pebble_certificate(https, HOST, &root, &ca).await;
    let first = peer_serial(&old);
    let deadline = Instant::now() + Duration::from_secs(60);
    let renewed = loop {
        let new = pebble_certificate(https, HOST, &root, &ca).await;
        if peer_serial(&new) != first {
            break new;
        }
        assert!(Instant::now() < deadline, "no renewal\n{}", ca.pebble.log());
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_ne!(peer_serial(&renewed), first);
    // the key is kept across renewals (a DANE 3 1 1 record of it stays true)
    assert_eq!(peer_public_key(&renewed), peer_public_key(&old));
    // the connection opened before the renewal is still served, on its old certificate
    assert_eq!(
        get(&mut old, "/.well-known/acme-challenge/x").await,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(peer_serial(&old), first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_serves_the_stored_certificate_without_the_ca() {
    let Some(ca) = ca().await else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let config = config(dir.path(), &ca, "");
    let (server, https) = start(dir.path(), &config).await;
    let root = ca.pebble.issuing_root().await;
    let serial = peer_serial(&pebble_certificate(https, HOST, &root, &ca).await);
    server.stop().await;
    let Ca { pebble, _dns, .. } = ca;
    pebble.stop().await;

    // the CA is gone: only the stored certificate can be served, from the first handshake
    let (_server, https) = start(dir.path(), &config).await;
    let tls = connect(https, HOST, roots_of(&root), &[])
        .await
        .expect("the stored certificate at once");
    assert_eq!(peer_serial(&tls), serial);
}
