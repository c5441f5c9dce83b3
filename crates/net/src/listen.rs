//! The listener table on real sockets: binding (with errors that say what to do), and the
//! accept loop that gives each connection to its protocol's [`Service`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use estafeta_config::{Listener, Protocol, TlsMode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::stream::MaybeTls;
use crate::tls::TlsSetup;

/// How long a client may take to finish a TLS handshake.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// One accepted connection, TLS already up on implicit-TLS listeners.
pub struct Connection {
    pub stream: MaybeTls,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub listener: Listener,
}

/// A protocol server: SMTP, submission, IMAP, POP3.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    async fn handle(&self, conn: Connection);
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
    for b in bound {
        let service = service_for(b.spec.protocol);
        loops.spawn(accept_loop(b, service, tls.clone(), shutdown.clone()));
    }
    while loops.join_next().await.is_some() {}
}

async fn accept_loop(
    bound: Bound,
    service: Arc<dyn Service>,
    tls: TlsSetup,
    mut shutdown: watch::Receiver<bool>,
) {
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
        let service = service.clone();
        let spec = bound.spec.clone();
        let local = bound.local_addr;
        let acceptor = tls.acceptor.clone();
        tokio::spawn(async move {
            let stream = if spec.tls == TlsMode::Implicit {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(s)) => MaybeTls::Tls(Box::new(s.into())),
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
                MaybeTls::Plain(tcp)
            };
            service
                .handle(Connection {
                    stream,
                    peer,
                    local,
                    listener: spec,
                })
                .await;
        });
    }
}
