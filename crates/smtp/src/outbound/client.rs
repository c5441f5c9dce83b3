//! Opening a session with one server: connect, implicit TLS when asked, the greeting,
//! EHLO (HELO when EHLO is refused), STARTTLS and EHLO again, AUTH; then RSET between
//! messages and QUIT at the end. The transaction itself is in `transaction`.

use std::net::SocketAddr;

use rustls_pki_types::ServerName;
use tracing::Instrument;

use super::auth;
use super::conn::{Conn, TlsInfo};
use super::error::{Error, Stage};
use super::extensions::Extensions;
use super::reply::Reply;
use super::settings::{ClientSettings, Timeouts, TlsPolicy};

/// What was learnt about the server while opening the session.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub greeting: Reply,
    /// EHLO was accepted (false: HELO, and no extensions).
    pub esmtp: bool,
    /// From the last EHLO (after TLS, when there is TLS).
    pub extensions: Extensions,
    /// The TLS session, `None` on plaintext.
    pub tls: Option<TlsInfo>,
    /// AUTH succeeded.
    pub authenticated: bool,
}

/// One SMTP session with one server, for one message or several in a row.
pub struct SmtpClient {
    pub(crate) conn: Conn,
    pub(crate) info: ServerInfo,
    pub(crate) timeouts: Timeouts,
    pub(crate) pipelining: bool,
    pub(crate) chunking: bool,
    /// Where the session goes, for the `smtp_out` span of each step.
    pub(crate) remote: SocketAddr,
    pub(crate) host: String,
    /// A transaction (or a failed MAIL) happened since the last RSET.
    pub(crate) needs_rset: bool,
    /// A connection-level failure happened: nothing more can be sent.
    pub(crate) broken: bool,
}

impl SmtpClient {
    /// Opens a session with the server at `addr`. `server_name` is the host's name (the
    /// MX name), for TLS SNI and, when certificates are verified, the name the
    /// certificate must hold.
    pub async fn connect(
        addr: SocketAddr,
        server_name: &str,
        settings: &ClientSettings,
    ) -> Result<SmtpClient, Error> {
        let span = session_span(addr, server_name);
        let opened = open(addr, server_name, settings)
            .instrument(span.clone())
            .await;
        match opened {
            Ok((conn, info)) => Ok(SmtpClient {
                conn,
                info,
                timeouts: settings.timeouts,
                pipelining: settings.pipelining,
                chunking: settings.chunking,
                remote: addr,
                host: server_name.to_string(),
                needs_rset: false,
                broken: false,
            }),
            Err(e) => {
                span.in_scope(|| tracing::info!(error = %e, "session not opened"));
                Err(e)
            }
        }
    }

    /// The span for the next step, made inside the caller's current span: a connection
    /// reused for another message logs under that message's span.
    pub(crate) fn span(&self) -> tracing::Span {
        session_span(self.remote, &self.host)
    }

    pub fn server(&self) -> &ServerInfo {
        &self.info
    }

    pub fn tls(&self) -> Option<&TlsInfo> {
        self.info.tls.as_ref()
    }

    /// False after a connection-level failure: open a new session.
    pub fn is_usable(&self) -> bool {
        !self.broken
    }

    /// Ends the session politely: QUIT and its reply. Failures are logged, not returned:
    /// the messages are already delivered or not.
    pub async fn quit(mut self) {
        if self.broken {
            return;
        }
        let span = self.span();
        async {
            let t = self.timeouts.command;
            let result = match self.conn.write(b"QUIT\r\n", t, Stage::Quit).await {
                Ok(()) => self.conn.read_reply(t, Stage::Quit).await.map(|_| ()),
                Err(e) => Err(e),
            };
            match result {
                Ok(()) => tracing::debug!("QUIT"),
                Err(e) => tracing::debug!(error = %e, "QUIT without a proper reply"),
            }
        }
        .instrument(span)
        .await
    }
}

fn session_span(remote: SocketAddr, host: &str) -> tracing::Span {
    tracing::info_span!("smtp_out", %remote, %host)
}

async fn open(
    addr: SocketAddr,
    server_name: &str,
    settings: &ClientSettings,
) -> Result<(Conn, ServerInfo), Error> {
    let t = &settings.timeouts;
    let mut conn = Conn::connect(addr, t.connect).await?;
    let connector = match settings.tls {
        TlsPolicy::Disabled => None,
        _ => Some(
            match &settings.verifier {
                Some(v) => estafeta_net::client_tls::connector_with(v.clone()),
                None => estafeta_net::client_tls::connector(settings.verify_certificate.clone()),
            }
            .map_err(|e| Error::Tls(format!("client set-up: {e}")))?,
        ),
    };
    let name = ServerName::try_from(server_name.to_string())
        .unwrap_or_else(|_| ServerName::IpAddress(addr.ip().into()));
    if let (TlsPolicy::Implicit, Some(c)) = (settings.tls, &connector) {
        conn = conn.start_tls(c, name.clone(), t.tls_handshake).await?;
    }
    let greeting = conn.read_reply(t.greeting, Stage::Greeting).await?;
    if greeting.code != 220 {
        // RFC 5321 §3.1: a client refused at the greeting should still say QUIT
        let _ = conn.write(b"QUIT\r\n", t.command, Stage::Quit).await;
        return Err(Error::Rejected {
            stage: Stage::Greeting,
            reply: greeting,
        });
    }
    let (mut esmtp, mut extensions) = hello(&mut conn, settings).await?;
    let wants_starttls = matches!(settings.tls, TlsPolicy::Opportunistic | TlsPolicy::Required);
    if let (true, false, Some(c)) = (wants_starttls, conn.is_tls(), &connector) {
        if extensions.starttls {
            conn.write(b"STARTTLS\r\n", t.command, Stage::StartTls)
                .await?;
            let reply = conn.read_reply(t.command, Stage::StartTls).await?;
            if reply.code == 220 {
                conn = conn.start_tls(c, name, t.tls_handshake).await?;
                // RFC 3207 §4.2: what the server said before TLS counts no more
                (esmtp, extensions) = hello(&mut conn, settings).await?;
            } else if settings.tls == TlsPolicy::Required {
                return Err(Error::Rejected {
                    stage: Stage::StartTls,
                    reply,
                });
            } else {
                tracing::info!(%reply, "STARTTLS refused: going on in plaintext");
            }
        } else if settings.tls == TlsPolicy::Required {
            let _ = conn.write(b"QUIT\r\n", t.command, Stage::Quit).await;
            return Err(Error::Tls(
                "TLS is required but the server does not offer STARTTLS".into(),
            ));
        }
    }
    let tls = conn.tls_info();
    let mut authenticated = false;
    if let Some(creds) = &settings.credentials {
        auth::authenticate(
            &mut conn,
            creds,
            &extensions,
            settings.allow_plaintext_auth,
            t.command,
        )
        .await?;
        authenticated = true;
    }
    tracing::info!(
        esmtp,
        tls_version = tls.as_ref().map(|t| t.version.as_str()),
        tls_cipher = tls.as_ref().map(|t| t.cipher.as_str()),
        extensions = %extensions.names().join(" "),
        authenticated,
        "session opened"
    );
    Ok((
        conn,
        ServerInfo {
            greeting,
            esmtp,
            extensions,
            tls,
            authenticated,
        },
    ))
}

/// EHLO, or HELO when EHLO gets a 5xx. Returns whether EHLO worked and the extensions.
async fn hello(conn: &mut Conn, settings: &ClientSettings) -> Result<(bool, Extensions), Error> {
    let t = settings.timeouts.command;
    let host = &settings.hostname;
    conn.write(format!("EHLO {host}\r\n").as_bytes(), t, Stage::Ehlo)
        .await?;
    let (reply, raw) = conn.read_reply_raw(t, Stage::Ehlo).await?;
    if reply.is_positive() {
        let extensions = Extensions::parse(&raw).unwrap_or_else(|| {
            tracing::warn!(%reply, "EHLO reply not understood: using no extensions");
            Extensions::default()
        });
        return Ok((true, extensions));
    }
    if !reply.is_permanent() {
        return Err(Error::Rejected {
            stage: Stage::Ehlo,
            reply,
        });
    }
    tracing::info!(%reply, "EHLO refused: trying HELO");
    conn.write(format!("HELO {host}\r\n").as_bytes(), t, Stage::Helo)
        .await?;
    let reply = conn.read_reply(t, Stage::Helo).await?;
    if reply.is_positive() {
        Ok((false, Extensions::default()))
    } else {
        Err(Error::Rejected {
            stage: Stage::Helo,
            reply,
        })
    }
}
