//! The configuration's types, as they appear in the TOML file.

use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;

use crate::defaults;

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name this server gives itself in greetings and `Received:` headers.
    #[serde(default = "defaults::hostname")]
    pub hostname: String,
    /// Where the database, the TLS certificate and other state live.
    #[serde(default = "defaults::data_dir")]
    pub data_dir: PathBuf,
    /// The user `serve` becomes once its ports are bound and its keys read, when started
    /// as root. Unset: the `estafeta` user if the machine has one.
    #[serde(default)]
    pub run_as: Option<String>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub smtp: SmtpConfig,
    #[serde(default)]
    pub imap: ImapConfig,
    #[serde(default)]
    pub pop3: Pop3Config,
    #[serde(default)]
    pub delivery: crate::delivery::DeliveryConfig,
    #[serde(default)]
    pub trust: crate::trust::TrustConfig,
    #[serde(default)]
    pub web: crate::web::WebConfig,
    #[serde(default)]
    pub sendmail: SendmailConfig,
    #[serde(default)]
    pub doctor: crate::doctor::DoctorConfig,
    #[serde(default)]
    pub sieve: crate::sieve::SieveConfig,
    /// The listener table; a file that has `[[listener]]` entries replaces the defaults.
    #[serde(default = "defaults::listeners", rename = "listener")]
    pub listeners: Vec<Listener>,
    /// Keys of the file given under an old name (see `renamed`), to warn about at start.
    #[serde(skip)]
    pub renamed: Vec<crate::renamed::Renamed>,
}

/// Which database holds everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    /// Embedded: one file under the data directory.
    #[default]
    Sqlite,
    /// A PostgreSQL server named by `storage.url`, shareable by several nodes.
    Postgres,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub engine: Engine,
    /// `postgres://user@host:port/database`; required when `engine = "postgres"`.
    #[serde(default)]
    pub url: Option<String>,
    /// Largest number of database connections this process opens.
    #[serde(default = "defaults::max_db_connections")]
    pub max_connections: u32,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            engine: Engine::Sqlite,
            url: None,
            max_connections: defaults::max_db_connections(),
        }
    }
}

/// The certificate every TLS listener presents: configured files, automatic certificates
/// from an ACME certification authority (RFC 8555), or a self-signed one.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the certificate chain, leaf first. Unset: a self-signed certificate is
    /// generated for `hostname` on first start and kept under `<data_dir>/tls/`.
    #[serde(default)]
    pub certificate: Option<PathBuf>,
    /// PEM file with the private key matching `certificate`.
    #[serde(default)]
    pub private_key: Option<PathBuf>,
    /// Obtain and renew certificates from an ACME CA (Let's Encrypt by default).
    #[serde(default)]
    pub acme: bool,
    /// The account's contact, `mailto:postmaster@example.com`; required with `acme`.
    #[serde(default)]
    pub acme_contact: Option<String>,
    /// The ACME directory URL.
    #[serde(default = "defaults::acme_directory")]
    pub acme_directory: String,
    /// How the CA checks that the names are ours.
    #[serde(default)]
    pub acme_challenge: AcmeChallenge,
    /// Names the certificate covers besides `hostname` and each domain's `autoconfig.`
    /// and `mta-sts.` names.
    #[serde(default)]
    pub acme_names: Vec<String>,
    /// PEM file of a root certificate the directory's HTTPS certificate must chain to
    /// (a private CA, a test CA); unset: the publicly trusted roots (webpki-roots).
    #[serde(default)]
    pub acme_ca_certificate: Option<PathBuf>,
    /// Renew when fewer than this many days of validity remain.
    #[serde(default = "defaults::acme_renew_days")]
    pub acme_renew_days: u32,
    /// Seconds between two checks of whether the certificate is due (12 hours). Lower
    /// values are for tests.
    #[serde(default = "defaults::acme_check_interval")]
    pub acme_check_interval: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            certificate: None,
            private_key: None,
            acme: false,
            acme_contact: None,
            acme_directory: defaults::acme_directory(),
            acme_challenge: AcmeChallenge::default(),
            acme_names: Vec::new(),
            acme_ca_certificate: None,
            acme_renew_days: defaults::acme_renew_days(),
            acme_check_interval: defaults::acme_check_interval(),
        }
    }
}

/// The ACME challenge type (RFC 8555 §8.3, RFC 8737).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum AcmeChallenge {
    /// A TLS handshake with ALPN `acme-tls/1` on an `https` listener (port 443 for a real CA).
    #[default]
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// `GET /.well-known/acme-challenge/<token>` on an `http` listener (port 80 for a real CA).
    #[serde(rename = "http-01")]
    Http01,
}

impl AcmeChallenge {
    pub fn as_str(self) -> &'static str {
        match self {
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
            AcmeChallenge::Http01 => "http-01",
        }
    }
}

/// Logging in, for SMTP AUTH, IMAP and POP3 alike: where a password may be sent, and the
/// failed-login throttle they share.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Accept passwords over unencrypted connections that come from a loopback address.
    #[serde(default)]
    pub allow_plaintext_on_loopback: bool,
    /// Failed logins of one user name from one client address (grouped) before that pair is
    /// blocked for `block_time` seconds.
    #[serde(default = "defaults::auth_max_failures")]
    pub max_failures: u32,
    /// Failed logins from one client address (grouped), whatever the user names, before the
    /// address is blocked for `block_time` seconds.
    #[serde(default = "defaults::auth_max_failures_per_address")]
    pub max_failures_per_address: u32,
    /// Delay after a failed login, in milliseconds, multiplied by the failures so far.
    #[serde(default = "defaults::auth_failure_delay_ms")]
    pub failure_delay_ms: u64,
    /// Seconds a client (or a user name from it) stays blocked after too many failures.
    #[serde(default = "defaults::auth_block_time")]
    pub block_time: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            allow_plaintext_on_loopback: false,
            max_failures: defaults::auth_max_failures(),
            max_failures_per_address: defaults::auth_max_failures_per_address(),
            failure_delay_ms: defaults::auth_failure_delay_ms(),
            block_time: defaults::auth_block_time(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, `estafeta_store=debug,info`, …
    /// The environment variable `ESTAFETA_LOG` overrides it.
    #[serde(default = "defaults::log_level")]
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: defaults::log_level(),
        }
    }
}

/// What is spoken on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// SMTP from other servers (MX, port 25): local recipients, relaying only when allowed.
    Smtp,
    /// Message submission from clients (587, 465, 2525): authentication required.
    Submission,
    Imap,
    Pop3,
    /// HTTP: client set-up documents, the MTA-STS policy, sign-in pages, metrics
    /// (`tls = "none"`).
    Http,
    /// The same over TLS from the first byte (`tls = "implicit"`).
    Https,
    /// ManageSieve (RFC 5804, port 4190): users manage their Sieve scripts
    /// (`tls = "starttls"`, or `"none"` behind a TLS proxy).
    Managesieve,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Submission => "submission",
            Protocol::Imap => "imap",
            Protocol::Pop3 => "pop3",
            Protocol::Http => "http",
            Protocol::Https => "https",
            Protocol::Managesieve => "managesieve",
        }
    }
}

/// How TLS is used on a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerTls {
    /// Plaintext only, no TLS offered.
    None,
    /// Plaintext first, TLS after STARTTLS / STLS.
    Starttls,
    /// TLS from the first byte.
    Implicit,
}

impl ListenerTls {
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerTls::None => "none",
            ListenerTls::Starttls => "starttls",
            ListenerTls::Implicit => "implicit",
        }
    }
}

/// One entry of the listener table.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listener {
    #[serde(default = "defaults::listen_address")]
    pub address: IpAddr,
    /// 0 lets the system choose a free port (useful in tests).
    pub port: u16,
    pub protocol: Protocol,
    pub tls: ListenerTls,
    /// Every connection starts with a PROXY protocol header (v1 or v2) that names the real
    /// client; only the networks of `proxy_trusted` may connect.
    #[serde(default)]
    pub proxy_protocol: bool,
    /// The proxies (CIDR) allowed to connect to a `proxy_protocol` listener; required there.
    #[serde(default)]
    pub proxy_trusted: Vec<String>,
}

/// The IMAP server's connection limits and what one session may cost.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    /// Simultaneous IMAP connections in total.
    #[serde(default = "defaults::imap_max_connections")]
    pub max_connections: u32,
    /// Simultaneous IMAP connections from one IP address.
    #[serde(default = "defaults::imap_max_connections_per_ip")]
    pub max_connections_per_ip: u32,
    /// Seconds a command may take to arrive, from its first octet (each literal adds as
    /// much again, plus time for its size).
    #[serde(default = "defaults::mailbox_command_timeout")]
    pub command_timeout: u64,
    /// `BAD` replies in one session before `* BYE Too many invalid commands`.
    #[serde(default = "defaults::max_bad_commands")]
    pub max_bad_commands: u32,
    /// Commands per minute from one client address (grouped) before login (0: no limit).
    #[serde(default = "defaults::mailbox_unauthenticated_commands_per_minute")]
    pub unauthenticated_commands_per_minute: u32,
    /// SEARCH TEXT/BODY asks the store's search index which messages may match, and looks
    /// only through those; off, it looks through every message.
    #[serde(default = "defaults::imap_search_index")]
    pub search_index: bool,
}

impl Default for ImapConfig {
    fn default() -> Self {
        ImapConfig {
            max_connections: defaults::imap_max_connections(),
            max_connections_per_ip: defaults::imap_max_connections_per_ip(),
            command_timeout: defaults::mailbox_command_timeout(),
            max_bad_commands: defaults::max_bad_commands(),
            unauthenticated_commands_per_minute:
                defaults::mailbox_unauthenticated_commands_per_minute(),
            search_index: defaults::imap_search_index(),
        }
    }
}

/// The POP3 server's connection limits and what one session may cost.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pop3Config {
    /// Simultaneous POP3 connections in total.
    #[serde(default = "defaults::pop3_max_connections")]
    pub max_connections: u32,
    /// Simultaneous POP3 connections from one IP address.
    #[serde(default = "defaults::pop3_max_connections_per_ip")]
    pub max_connections_per_ip: u32,
    /// Seconds a command line may take to arrive, from its first octet.
    #[serde(default = "defaults::mailbox_command_timeout")]
    pub command_timeout: u64,
    /// `-ERR` replies in one session before `-ERR too many errors` and disconnect.
    #[serde(default = "defaults::pop3_max_errors")]
    pub max_errors: u32,
    /// Commands per minute from one client address (grouped) before login (0: no limit).
    #[serde(default = "defaults::mailbox_unauthenticated_commands_per_minute")]
    pub unauthenticated_commands_per_minute: u32,
}

impl Default for Pop3Config {
    fn default() -> Self {
        Pop3Config {
            max_connections: defaults::pop3_max_connections(),
            max_connections_per_ip: defaults::pop3_max_connections_per_ip(),
            command_timeout: defaults::mailbox_command_timeout(),
            max_errors: defaults::pop3_max_errors(),
            unauthenticated_commands_per_minute:
                defaults::mailbox_unauthenticated_commands_per_minute(),
        }
    }
}

/// The SMTP server: limits and relay policy.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Largest message accepted, in bytes (announced in EHLO SIZE).
    #[serde(default = "defaults::max_message_size")]
    pub max_message_size: u64,
    /// Most recipients in one transaction.
    #[serde(default = "defaults::max_recipients")]
    pub max_recipients: u32,
    /// Seconds a client may stay silent before `421 4.4.2`.
    #[serde(default = "defaults::idle_timeout")]
    pub idle_timeout: u64,
    /// Seconds in which a whole command line (or AUTH response) must arrive.
    #[serde(default = "defaults::command_timeout")]
    pub command_timeout: u64,
    /// Seconds in which a whole message after DATA, or a whole BDAT chunk, must arrive.
    #[serde(default = "defaults::data_timeout")]
    pub data_timeout: u64,
    /// Error replies in one session before `421 4.7.0` and disconnect.
    #[serde(default = "defaults::max_errors")]
    pub max_errors: u32,
    /// Most `Received:` header fields a message may have, ours included (loop limit);
    /// delivery applies it too.
    #[serde(default = "defaults::max_hops")]
    pub max_hops: u32,
    /// Simultaneous SMTP connections in total.
    #[serde(default = "defaults::max_connections")]
    pub max_connections: u32,
    /// Simultaneous SMTP connections from one IP address.
    #[serde(default = "defaults::max_connections_per_ip")]
    pub max_connections_per_ip: u32,
    /// Networks allowed to relay without authentication (CIDR), like Postfix's mynetworks.
    #[serde(default = "defaults::trusted_networks")]
    pub trusted_networks: Vec<String>,
    /// The old name of `auth.max_failures`, still read (see `renamed`); `None` once loaded.
    #[serde(default)]
    pub auth_max_failures: Option<u32>,
    /// The old name of `auth.max_failures_per_address`.
    #[serde(default)]
    pub auth_max_failures_per_address: Option<u32>,
    /// IPv6 clients are grouped by this prefix length for the login throttle and the
    /// command budgets before authentication (IPv4: each address on its own).
    #[serde(default = "defaults::ipv6_prefix")]
    pub ipv6_prefix: u8,
    /// Commands per minute from one client address (grouped), over all its sessions,
    /// before authentication; trusted networks are exempt (0: no limit).
    #[serde(default = "defaults::smtp_unauthenticated_commands_per_minute")]
    pub unauthenticated_commands_per_minute: u32,
    /// The old name of `auth.failure_delay_ms`.
    #[serde(default)]
    pub auth_failure_delay_ms: Option<u64>,
    /// The old name of `auth.block_time`.
    #[serde(default)]
    pub auth_block_time: Option<u64>,
    /// Name the authenticated user in the Received: header.
    #[serde(default)]
    pub received_show_auth_user: bool,
    /// Messages one authenticated user may send per window (0: no limit).
    #[serde(default)]
    pub user_messages_per_hour: u32,
    /// Recipients one authenticated user may send to per window (0: no limit).
    #[serde(default)]
    pub user_recipients_per_hour: u32,
    /// Messages with a sender in one of our domains, per domain and window (0: no limit).
    #[serde(default)]
    pub domain_messages_per_hour: u32,
    /// Recipients of messages from one of our domains, per domain and window (0: no limit).
    #[serde(default)]
    pub domain_recipients_per_hour: u32,
    /// The window of the rate limits, in seconds.
    #[serde(default = "defaults::rate_limit_window")]
    pub rate_limit_window: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            max_message_size: defaults::max_message_size(),
            max_recipients: defaults::max_recipients(),
            idle_timeout: defaults::idle_timeout(),
            command_timeout: defaults::command_timeout(),
            data_timeout: defaults::data_timeout(),
            max_errors: defaults::max_errors(),
            max_hops: defaults::max_hops(),
            max_connections: defaults::max_connections(),
            max_connections_per_ip: defaults::max_connections_per_ip(),
            trusted_networks: defaults::trusted_networks(),
            auth_max_failures: None,
            auth_max_failures_per_address: None,
            ipv6_prefix: defaults::ipv6_prefix(),
            unauthenticated_commands_per_minute: defaults::smtp_unauthenticated_commands_per_minute(
            ),
            auth_failure_delay_ms: None,
            auth_block_time: None,
            received_show_auth_user: false,
            user_messages_per_hour: 0,
            user_recipients_per_hour: 0,
            domain_messages_per_hour: 0,
            domain_recipients_per_hour: 0,
            rate_limit_window: defaults::rate_limit_window(),
        }
    }
}

/// The `sendmail` command (`estafeta sendmail`, or the binary called `sendmail`): which
/// local Unix users may hand mail to the server with it, with any envelope sender, as
/// Postfix's `authorized_submit_users` does.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendmailConfig {
    /// User names, or `"*"` for every user of the machine; root may always.
    #[serde(default = "defaults::sendmail_allowed_users")]
    pub allowed_users: Vec<String>,
}

impl Default for SendmailConfig {
    fn default() -> Self {
        SendmailConfig {
            allowed_users: defaults::sendmail_allowed_users(),
        }
    }
}
