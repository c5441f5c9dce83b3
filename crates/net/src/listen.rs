//! The listener table on real sockets: binding (with errors that say what to do), and the
//! accept loop that gives each connection to its protocol's [`Service`].
//!
//! Limits come before work: a connection is counted against its protocol's total and
//! per-IP limits as soon as it is accepted, before any TLS handshake, and an implicit-TLS
//! connection needs one of [`MAX_TLS_HANDSHAKES`] handshake places to start one. A refused
//! plaintext connection is told so in its protocol's words; a refused implicit-TLS one is
//! closed at once (the handshake is the work being saved).
//!
//! On `proxy_protocol` listeners only the `proxy_trusted` networks may connect (anyone
//! else is refused in its protocol's words, `Refusal::NotAProxy`); each connection takes
//! its place in the total limit at accept, then must send its PROXY header (see `proxy`)
//! before anything else happens: the client it names takes the per-IP place, is the
//! session's peer (relay policy, throttles, logs, `Received:`), and the destination it
//! names is the session's local address. Then the TLS handshake on implicit-TLS
//! listeners. A connection without a valid header in time is closed without a word.
//!
//! The implicit-TLS handshake reads the ClientHello first: one offering ALPN `acme-tls/1`
//! is an ACME CA validating a TLS-ALPN-01 challenge, answered with the challenge
//! certificate of the name it asks for and closed after the handshake (RFC 8737), never
//! handed to a service.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use estafeta_config::{Listener, ListenerTls, Protocol};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::limits::{ConnectionLimits, ConnectionSlot, Refusal, RefusalWords};
use crate::networks::Networks;
use crate::proxy;
use crate::stream::MaybeTls;
use crate::tls::TlsSetup;

/// How long a client may take to finish a TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Implicit-TLS handshakes in progress at one time, over all listeners; a connection
/// beyond them is closed without a handshake.
pub const MAX_TLS_HANDSHAKES: usize = 100;

/// One accepted connection, TLS already up on implicit-TLS listeners.
pub struct Connection {
    pub stream: MaybeTls,
    /// The client: on `proxy_protocol` listeners, the one the PROXY header names.
    pub peer: SocketAddr,
    /// The address the client connected to: on `proxy_protocol` listeners, the proxy's
    /// address as the header gives it (the one the client sees).
    pub local: SocketAddr,
    /// The proxy the connection came through, on `proxy_protocol` listeners.
    pub proxy: Option<SocketAddr>,
    pub listener: Listener,
    /// The connection's place in its protocol's limits, held for its life.
    pub slot: ConnectionSlot,
}

/// A protocol server: SMTP, submission, IMAP, POP3.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    async fn handle(&self, conn: Connection);
    /// The protocol's connection limits, applied before any TLS handshake.
    fn limits(&self) -> &Arc<ConnectionLimits>;
    /// How the protocol words the line that tells a plaintext client it was refused.
    fn refusal_words(&self) -> &RefusalWords;
}

/// A listener of the table, bound.
pub struct Bound {
    pub spec: Listener,
    pub local_addr: SocketAddr,
    socket: TcpListener,
}

/// A listener that could not be bound, with the reason and the way out.
#[derive(Debug)]
pub struct BindError {
    pub spec: Listener,
    pub error: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.spec;
        let at = SocketAddr::new(s.address, s.port);
        let way_out = match self.error.kind() {
            io::ErrorKind::PermissionDenied => format!(
                "ports below 1024 need root or the capability to bind them: run as root, or \
                 `setcap cap_net_bind_service=+ep <path to estafeta>`, or give this listener \
                 another port in the [[listener]] table (e.g. {})",
                10000 + s.port
            ),
            io::ErrorKind::AddrInUse => format!(
                "another program already listens there (see `ss -ltnp 'sport = :{}'`): stop it, \
                 or give this listener another port in the [[listener]] table",
                s.port
            ),
            io::ErrorKind::AddrNotAvailable => {
                "this machine has no such address: use one of its own, or 0.0.0.0".to_string()
            }
            _ => "check the [[listener]] table".to_string(),
        };
        write!(
            f,
            "cannot listen on {at} ({}, tls {}): {}; {way_out}",
            s.protocol.as_str(),
            s.tls.as_str(),
            plain_reason(&self.error)
        )
    }
}

impl std::error::Error for BindError {}

fn plain_reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::AddrInUse => "address already in use".into(),
        io::ErrorKind::AddrNotAvailable => "address not available".into(),
        _ => e.to_string(),
    }
}

/// Binds every listener, or fails on the first that cannot be bound.
pub async fn bind_all(specs: &[Listener]) -> Result<Vec<Bound>, BindError> {
    let mut bound = Vec::with_capacity(specs.len());
    for spec in specs {
        let at = SocketAddr::new(spec.address, spec.port);
        let socket = TcpListener::bind(at).await.map_err(|error| BindError {
            spec: spec.clone(),
            error,
        })?;
        let local_addr = socket.local_addr().map_err(|error| BindError {
            spec: spec.clone(),
            error,
        })?;
        bound.push(Bound {
            spec: spec.clone(),
            local_addr,
            socket,
        });
    }
    Ok(bound)
}

/// Accepts connections on every bound listener until `shutdown` turns true, handing each
/// to `service_for(protocol)`. Returns once every accept loop has stopped.
pub async fn serve(
    bound: Vec<Bound>,
    service_for: impl Fn(Protocol) -> Arc<dyn Service>,
    tls: TlsSetup,
    shutdown: watch::Receiver<bool>,
) {
    let mut loops = JoinSet::new();
    let handshakes = Arc::new(Semaphore::new(MAX_TLS_HANDSHAKES));
    for b in bound {
        let service = service_for(b.spec.protocol);
        loops.spawn(accept_loop(
            b,
            service,
            tls.clone(),
            handshakes.clone(),
            shutdown.clone(),
        ));
    }
    while loops.join_next().await.is_some() {}
}

async fn accept_loop(
    bound: Bound,
    service: Arc<dyn Service>,
    tls: TlsSetup,
    handshakes: Arc<Semaphore>,
    mut shutdown: watch::Receiver<bool>,
) {
    let proxies = bound
        .spec
        .proxy_protocol
        .then(|| Networks::parse(&bound.spec.proxy_trusted));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            a = bound.socket.accept() => a,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: say so, give the system a moment.
                tracing::warn!(listener = %bound.local_addr, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let local = bound.local_addr;
        let implicit = bound.spec.tls == ListenerTls::Implicit;
        let protocol = bound.spec.protocol.as_str();
        if let Some(proxies) = &proxies
            && !proxies.contains(peer.ip())
        {
            refuse(
                &*service,
                tcp,
                peer,
                local,
                protocol,
                implicit,
                Refusal::NotAProxy,
            );
            continue;
        }
        metrics::counter!("estafeta_connections_total", "protocol" => protocol).increment(1);
        let slot = match service.limits().admit_total() {
            Ok(slot) => slot,
            Err(refusal) => {
                refuse(&*service, tcp, peer, local, protocol, implicit, refusal);
                continue;
            }
        };
        let service = service.clone();
        let spec = bound.spec.clone();
        let tls = tls.clone();
        let handshakes = handshakes.clone();
        tokio::spawn(async move {
            let opened = Opened {
                tcp,
                peer,
                local,
                proxy: None,
                slot,
            };
            let Some(mut opened) = (if spec.proxy_protocol {
                read_proxy_header(opened).await
            } else {
                Some(opened)
            }) else {
                return;
            };
            if let Err(refusal) = opened.slot.admit_ip(opened.peer.ip()) {
                let Opened {
                    tcp, peer, local, ..
                } = opened;
                refuse(&*service, tcp, peer, local, protocol, implicit, refusal);
                return;
            }
            let stream = if implicit {
                let Ok(place) = handshakes.try_acquire_owned() else {
                    tracing::warn!(peer = %opened.peer, local = %opened.local, protocol, max = MAX_TLS_HANDSHAKES, "connection refused: too many TLS handshakes in progress");
                    return;
                };
                let done =
                    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(&tls, opened.tcp)).await;
                drop(place);
                let (peer, local) = (opened.peer, opened.local);
                match done {
                    Ok(Ok(Some(s))) => MaybeTls::Tls(Box::new(s.into())),
                    Ok(Ok(None)) => {
                        tracing::info!(%peer, %local, "ACME TLS-ALPN-01 validation handshake answered");
                        return;
                    }
                    Ok(Err(e)) => {
                        tracing::info!(%peer, %local, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%peer, %local, "TLS handshake timed out");
                        return;
                    }
                }
            } else {
                MaybeTls::Plain(opened.tcp)
            };
            service
                .handle(Connection {
                    stream,
                    peer: opened.peer,
                    local: opened.local,
                    proxy: opened.proxy,
                    listener: spec,
                    slot: opened.slot,
                })
                .await;
        });
    }
}

/// The server side of an implicit-TLS handshake. A ClientHello offering ALPN `acme-tls/1`
/// is a CA validating a TLS-ALPN-01 challenge: it gets the challenge certificate of the
/// name it asks for (or the handshake fails when none is pending), and the connection is
/// closed once the handshake is done, never served (RFC 8737 §3): `Ok(None)`. Everyone
/// else gets the shared configuration, whose ALPN list stays empty, so clients offering
/// `h2`, `http/1.1` or `imap` connect as before.
async fn handshake(
    tls: &TlsSetup,
    tcp: tokio::net::TcpStream,
) -> io::Result<Option<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>> {
    let start =
        tokio_rustls::LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp).await?;
    let hello = start.client_hello();
    if !crate::certs::offers_acme_tls(&hello) {
        return start.into_stream(tls.config.clone()).await.map(Some);
    }
    let Some(config) = tls.certs.challenge_config(hello.server_name()) else {
        return Err(io::Error::other(format!(
            "ALPN acme-tls/1 for {:?}, which has no pending challenge",
            hello.server_name().unwrap_or("(no name)")
        )));
    };
    let mut stream = start.into_stream(config).await?;
    use tokio::io::AsyncWriteExt;
    let _ = stream.shutdown().await;
    Ok(None)
}

/// A connection between accept and its session.
struct Opened {
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    proxy: Option<SocketAddr>,
    slot: ConnectionSlot,
}

/// Reads the PROXY header of a connection from a trusted proxy and puts the client it
/// names in the proxy's place; `None` (the connection is closed) when there is no valid
/// header in time: a proxy must send one.
async fn read_proxy_header(mut c: Opened) -> Option<Opened> {
    let proxy = c.peer;
    match proxy::read_header(&mut c.tcp).await {
        Ok(proxy::Proxied::Client {
            source,
            destination,
        }) => {
            // an IPv4 client in an IPv6 header (::ffff:a.b.c.d) is that IPv4 client
            let source = SocketAddr::new(source.ip().to_canonical(), source.port());
            tracing::debug!(%proxy, client = %source, %destination, "PROXY header");
            c.peer = source;
            c.local = destination;
        }
        Ok(proxy::Proxied::Local) => {
            tracing::debug!(%proxy, "PROXY header without a client: the proxy's own connection");
        }
        Err(e) => {
            tracing::info!(%proxy, local = %c.local, error = %e, "connection closed: no valid PROXY header");
            return None;
        }
    }
    c.proxy = Some(proxy);
    Some(c)
}

/// Logs a refusal and tells a plaintext client in its protocol's words; an implicit-TLS
/// client is closed at once (the handshake is the work being saved).
fn refuse(
    service: &dyn Service,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
    protocol: &'static str,
    implicit: bool,
    refusal: Refusal,
) {
    tracing::info!(%peer, %local, protocol, reason = refusal.reason(), "connection refused");
    metrics::counter!("estafeta_connections_refused_total", "protocol" => protocol, "reason" => refusal.reason())
        .increment(1);
    if !implicit {
        let line = refusal.line(service.refusal_words());
        tokio::spawn(tell_and_close(tcp, line));
    }
}

/// Writes one refusal line to a plaintext client and closes.
async fn tell_and_close(mut tcp: tokio::net::TcpStream, line: String) {
    use tokio::io::AsyncWriteExt;
    let write = async {
        tcp.write_all(line.as_bytes()).await?;
        tcp.write_all(b"\r\n").await?;
        tcp.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), write).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    /// Takes any certificate and signature: a TLS-ALPN-01 certificate's critical
    /// acmeIdentifier extension stops webpki from even reading its key, and what is
    /// checked here is which certificate comes, not the PKI.
    #[derive(Debug)]
    struct NoCheck(Arc<rustls::crypto::CryptoProvider>);

    impl rustls::client::danger::ServerCertVerifier for NoCheck {
        fn verify_server_cert(
            &self,
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &[rustls_pki_types::CertificateDer<'_>],
            _: &rustls_pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }

        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }

    /// A client offering `alpn` for `name`, taking any certificate.
    async fn client(
        at: SocketAddr,
        name: &str,
        alpn: &[&[u8]],
    ) -> io::Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoCheck(provider)))
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = tokio::net::TcpStream::connect(at).await?;
        let name =
            rustls_pki_types::ServerName::try_from(name.to_string()).map_err(io::Error::other)?;
        tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }

    /// Serves one handshake on a loopback port; its outcome: `Some(true)` a connection to
    /// serve, `Some(false)` an acme-tls/1 handshake closed, `None` no handshake.
    async fn serve_one(tls: TlsSetup) -> (SocketAddr, tokio::task::JoinHandle<Option<bool>>) {
        let socket = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = socket.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (tcp, _) = socket.accept().await.unwrap();
            match handshake(&tls, tcp).await {
                Ok(Some(_)) => Some(true),
                Ok(None) => Some(false),
                Err(_) => None,
            }
        });
        (at, task)
    }

    #[tokio::test]
    async fn acme_tls_alpn_gets_the_challenge_certificate_and_is_closed() {
        let dir = tempfile::tempdir().unwrap();
        let tls = TlsSetup::load_or_generate(
            &estafeta_config::TlsConfig::default(),
            "mail.example.test",
            dir.path(),
        )
        .unwrap();
        let challenge =
            crate::certs::challenge_certificate("mail.example.test", &[9u8; 32]).unwrap();
        tls.certs
            .add_challenge("mail.example.test", challenge.clone())
            .unwrap();

        // the CA: acme-tls/1 negotiated, the challenge certificate, then end of stream
        let (at, server) = serve_one(tls.clone()).await;
        let mut ca = client(at, "mail.example.test", &[crate::certs::ACME_TLS_ALPN])
            .await
            .expect("handshake");
        let (_, session) = ca.get_ref();
        assert_eq!(session.alpn_protocol(), Some(crate::certs::ACME_TLS_ALPN));
        assert_eq!(session.peer_certificates().unwrap()[0], challenge.cert[0]);
        assert_eq!(server.await.unwrap(), Some(false), "never served");
        let mut rest = Vec::new();
        let _ = ca.read_to_end(&mut rest).await;
        assert!(rest.is_empty());

        // a browser offering h2 and http/1.1 gets the current certificate, no ALPN, and is served
        let (at, server) = serve_one(tls.clone()).await;
        let browser = client(at, "mail.example.test", &[b"h2", b"http/1.1"])
            .await
            .expect("handshake");
        let (_, session) = browser.get_ref();
        assert_eq!(session.alpn_protocol(), None);
        assert_eq!(
            session.peer_certificates().unwrap()[0],
            tls.certs.current().cert[0]
        );
        assert_eq!(server.await.unwrap(), Some(true));

        // acme-tls/1 for a name with no pending challenge: no handshake
        let (at, server) = serve_one(tls.clone()).await;
        assert!(
            client(at, "other.example.test", &[crate::certs::ACME_TLS_ALPN])
                .await
                .is_err()
        );
        assert_eq!(server.await.unwrap(), None);
    }
}
