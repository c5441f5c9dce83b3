//! What the caller decides about a connection before it is made: our EHLO name, the
//! timeouts (RFC 5321 §4.5.3.2 by default), the TLS policy, and the credentials for a
//! smarthost.

use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::client::danger::ServerCertVerifier;

/// How long to wait, stage by stage. [`Timeouts::default`] gives the RFC 5321 §4.5.3.2
/// values; tests use short ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Establishing the TCP connection (not in the RFC; Postfix uses 30 s).
    pub connect: Duration,
    /// A TLS handshake, implicit or after STARTTLS.
    pub tls_handshake: Duration,
    /// The 220 greeting: 5 minutes.
    pub greeting: Duration,
    /// EHLO/HELO, STARTTLS, AUTH, RSET and QUIT (the RFC names none; 5 minutes like MAIL).
    pub command: Duration,
    /// The reply to MAIL: 5 minutes.
    pub mail: Duration,
    /// The reply to each RCPT: 5 minutes.
    pub rcpt: Duration,
    /// The 354 after DATA: 2 minutes.
    pub data_init: Duration,
    /// Each block of message data written (DATA or BDAT): 3 minutes.
    pub data_block: Duration,
    /// The reply after the end of the message (`.` or the last BDAT chunk): 10 minutes.
    pub data_end: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        const MINUTE: u64 = 60;
        Timeouts {
            connect: Duration::from_secs(30),
            tls_handshake: Duration::from_secs(MINUTE),
            greeting: Duration::from_secs(5 * MINUTE),
            command: Duration::from_secs(5 * MINUTE),
            mail: Duration::from_secs(5 * MINUTE),
            rcpt: Duration::from_secs(5 * MINUTE),
            data_init: Duration::from_secs(2 * MINUTE),
            data_block: Duration::from_secs(3 * MINUTE),
            data_end: Duration::from_secs(10 * MINUTE),
        }
    }
}

impl Timeouts {
    /// Every stage the same, for tests.
    pub fn all(d: Duration) -> Timeouts {
        Timeouts {
            connect: d,
            tls_handshake: d,
            greeting: d,
            command: d,
            mail: d,
            rcpt: d,
            data_init: d,
            data_block: d,
            data_end: d,
        }
    }
}

/// When the outbound client uses TLS (the listeners' TLS is `estafeta_config::ListenerTls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// STARTTLS when the server offers it, plaintext when it does not (MX delivery).
    #[default]
    Opportunistic,
    /// STARTTLS must be offered and succeed, else the host fails (a policy such as
    /// MTA-STS, or a smarthost on 587).
    Required,
    /// TLS from the first byte (a smarthost on 465).
    Implicit,
    /// Never: for a second try at a host whose TLS handshake failed.
    Disabled,
}

/// A mechanism for AUTH.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMechanism {
    Plain,
    Login,
}

/// A smarthost account.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    /// The mechanism to use; `None` picks PLAIN, or LOGIN when PLAIN is not offered.
    pub mechanism: Option<AuthMechanism>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<hidden>")
            .field("mechanism", &self.mechanism)
            .finish()
    }
}

/// Everything a connection needs from the caller.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// Our name in EHLO/HELO.
    pub hostname: String,
    pub timeouts: Timeouts,
    pub tls: TlsPolicy,
    /// Roots the server's certificate must chain to (and name the host). `None`, the
    /// default, takes any certificate: opportunistic TLS (RFC 7435).
    pub verify_certificate: Option<Arc<RootCertStore>>,
    /// A check of the server's certificate other than the roots' (DANE's TLSA records);
    /// when set, it alone decides.
    pub verifier: Option<Arc<dyn ServerCertVerifier>>,
    /// AUTH after EHLO (and after TLS, when there is TLS).
    pub credentials: Option<Credentials>,
    /// Send credentials over a connection without TLS. Off by default: a password is never
    /// sent in the clear unless the caller says so (e.g. a smarthost on loopback).
    pub allow_plaintext_auth: bool,
    /// Use PIPELINING when offered (MAIL and every RCPT in one write).
    pub pipelining: bool,
    /// Use CHUNKING (BDAT) when offered, DATA otherwise.
    pub chunking: bool,
}

impl ClientSettings {
    /// Whether the server's certificate is checked (against roots, or by a verifier such
    /// as DANE's): a host whose check fails must not get the mail in plaintext instead.
    pub fn checks_certificate(&self) -> bool {
        self.verify_certificate.is_some() || self.verifier.is_some()
    }

    /// The defaults for MX delivery: opportunistic TLS without certificate checks, no
    /// AUTH, the RFC timeouts, PIPELINING and CHUNKING when offered.
    pub fn new(hostname: impl Into<String>) -> ClientSettings {
        ClientSettings {
            hostname: hostname.into(),
            timeouts: Timeouts::default(),
            tls: TlsPolicy::Opportunistic,
            verify_certificate: None,
            verifier: None,
            credentials: None,
            allow_plaintext_auth: false,
            pipelining: true,
            chunking: true,
        }
    }
}
