//! estafeta's HTTP side, served on the `http` and `https` listeners of the table: the
//! documents mail apps set themselves up from (Thunderbird autoconfig, Outlook
//! autodiscover, Apple profiles), the MTA-STS policy of our domains, the answers to the
//! ACME client's HTTP-01 challenges, the account page
//! where a user signs in with their mail password and reads their settings, and
//! Prometheus metrics.
//!
//! Each accepted connection (TLS already up on `https`) is served by hyper's HTTP/1.1
//! server with axum's router ([`routes`]). Bounds, beside the listener's connection limits
//! ([`WebServer::new`]): request headers must arrive within [`HEADER_TIMEOUT`] and be at
//! most [`MAX_HEADER_BYTES`] (hyper's read buffer stops at twice that); a request body is at most [`MAX_BODY`]
//! octets and must arrive within [`BODY_TIMEOUT`]; a connection lives at most
//! [`CONNECTION_LIFETIME`].

mod account;
mod admin;
mod autoconfig;
mod autodiscover;
mod clients;
mod html;
mod jmap;
pub mod metrics;
mod mobileconfig;
pub mod mta_sts;
mod routes;
mod session;
mod statistics;
mod tracking;
mod vacation;
mod webmail;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use estafeta_config::{Config, Listener, Protocol};
use estafeta_net::certs::Http01Tokens;
use estafeta_net::{AuthThrottle, Connection, ConnectionLimits, Networks, RefusalWords, Service};
use estafeta_store::Store;
use std::net::SocketAddr;

pub use clients::{ClientSettings, public_url};
pub use jmap::Submitter;
pub use jmap::inputs::EmailView;

/// What the web side reads from a client before anyone signs in, for the fuzz targets
/// (`crates/fuzzing`, target `web_request`).
pub mod inputs {
    pub use crate::autodiscover::requested_address;
    pub use crate::mta_sts::domain_of_host;
    pub use crate::routes::host_name;

    /// The `Cookie:` value (`name=value`) of a session for `address` signed with `secret`.
    pub fn session_cookie(secret: &[u8], address: &str, expires: i64) -> String {
        let set = crate::session::Session::new(secret, address, expires).set_cookie(false, 0);
        set.split(';').next().unwrap_or_default().to_string()
    }

    /// What JMAP reads from a request body before any method runs: the request object
    /// (`using`, method calls, `createdIds`), result references resolved against
    /// `responses` (JSON pointers with `*`), and the ids and states a client sends back.
    /// `Err` says why the request is refused; `Ok` holds the calls' arguments resolved.
    pub fn jmap_request(
        body: &[u8],
        responses: &[serde_json::Value],
    ) -> Result<Vec<serde_json::Value>, String> {
        crate::jmap::inputs::request(body, responses)
    }

    /// A JMAP state string read back and written again (`None`: not one of ours).
    pub fn jmap_state(text: &str) -> Option<String> {
        crate::jmap::inputs::state(text)
    }

    /// A message as JMAP and the webmail show it: the `textBody`/`htmlBody`/`attachments`
    /// part indexes, the `bodyStructure`, every header form of every field, and the
    /// webmail's rendering with remote images blocked: (lists, structure, rendering,
    /// blocked images, number of parts).
    pub fn jmap_email(raw: &[u8]) -> crate::jmap::inputs::EmailView {
        crate::jmap::inputs::email(raw)
    }

    /// The address the session in a `Cookie:` header value names, if `secret` signed it
    /// and it lasts past `now`.
    pub fn session_address(secret: &[u8], cookie: &str, now: i64) -> Option<String> {
        let mut headers = axum::http::HeaderMap::new();
        headers.insert(
            axum::http::header::COOKIE,
            axum::http::HeaderValue::from_str(cookie).ok()?,
        );
        crate::session::Session::from_headers(secret, &headers, now).map(|s| s.address)
    }
}

/// How long a client may take to send a request's headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request line and headers answered (hyper reads at most about twice this).
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The largest request body read (sign-in forms, autodiscover requests).
pub const MAX_BODY: usize = 64 * 1024;
/// How long a client may take to send a request's body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest one connection is served, however busy.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(600);

/// Simultaneous HTTP connections, in total and from one address.
const MAX_CONNECTIONS: u32 = 2_000;
const MAX_CONNECTIONS_PER_IP: u32 = 64;

/// What every request handler reads.
pub(crate) struct WebState {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub throttle: Arc<AuthThrottle>,
    pub clients: ClientSettings,
    pub metrics_from: Networks,
    pub gauges: metrics::Gauges,
    /// Pending ACME HTTP-01 challenges, served at `/.well-known/acme-challenge/<token>`.
    pub acme_tokens: Arc<Http01Tokens>,
    /// The SMTP server's submission path, for JMAP's EmailSubmission (`None`: no sending).
    pub submitter: Option<Arc<dyn Submitter>>,
    /// The Thread of each body seen, for JMAP.
    pub threads: jmap::ThreadKeys,
    /// JMAP requests and uploads in progress, per user.
    pub jmap_in_flight: jmap::InFlight,
    pub jmap_uploads: jmap::InFlight,
    /// What JMAP submissions were sent as, for EmailSubmission/get.
    pub submissions: jmap::Submissions,
}

/// The HTTP server of the `http` and `https` listeners.
pub struct WebServer {
    router: axum::Router,
    limits: Arc<ConnectionLimits>,
}

impl WebServer {
    /// `open_connections`: the other protocols' connection limits, whose open counts
    /// `/metrics` shows. `acme_tokens`: the ACME client's pending HTTP-01 challenges.
    /// `submitter`: the SMTP server's submission path, for JMAP's EmailSubmission.
    pub fn new(
        config: &Config,
        listeners: &[(Listener, SocketAddr)],
        store: Arc<dyn Store>,
        throttle: Arc<AuthThrottle>,
        open_connections: Vec<(&'static str, Arc<ConnectionLimits>)>,
        acme_tokens: Arc<Http01Tokens>,
        submitter: Option<Arc<dyn Submitter>>,
    ) -> WebServer {
        // the recorder costs a little on every count: only where someone can read it
        if listeners
            .iter()
            .any(|(l, _)| matches!(l.protocol, Protocol::Http | Protocol::Https))
        {
            metrics::install();
        }
        let limits = ConnectionLimits::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_IP);
        let mut open = open_connections;
        open.push(("http", limits.clone()));
        let state = Arc::new(WebState {
            clients: ClientSettings::from_listeners(&config.hostname, listeners),
            metrics_from: Networks::parse(&config.web.metrics_networks),
            gauges: metrics::Gauges::new(open),
            config: config.clone(),
            store,
            throttle,
            acme_tokens,
            submitter,
            threads: jmap::ThreadKeys::default(),
            jmap_in_flight: jmap::InFlight::default(),
            jmap_uploads: jmap::InFlight::default(),
            submissions: jmap::Submissions::default(),
        });
        WebServer {
            router: routes::router(state),
            limits,
        }
    }
}

#[async_trait]
impl Service for WebServer {
    async fn handle(&self, conn: Connection) {
        let peer = conn.peer;
        let secure = conn.stream.is_tls();
        let router = self
            .router
            .clone()
            .layer(axum::Extension(routes::Client { peer, secure }));
        let service = hyper_util::service::TowerToHyperService::new(router);
        let io = hyper_util::rt::TokioIo::new(conn.stream);
        let serving = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_TIMEOUT)
            .max_buf_size(MAX_HEADER_BYTES)
            .serve_connection(io, service);
        match tokio::time::timeout(CONNECTION_LIFETIME, serving).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "HTTP connection ended"),
            Err(_) => tracing::debug!(%peer, "HTTP connection closed: served its lifetime"),
        }
        drop(conn.slot);
    }

    fn limits(&self) -> &Arc<ConnectionLimits> {
        &self.limits
    }

    fn refusal_words(&self) -> &RefusalWords {
        // said before any request is read: a bare status line, then the connection closes
        static WORDS: RefusalWords = RefusalWords {
            permanent: Cow::Borrowed("HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n"),
            temporary: Cow::Borrowed(
                "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n\r\n",
            ),
        };
        &WORDS
    }
}
