//! The default of every key: what `estafeta serve` uses with no configuration file.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::model::{Listener, ListenerTls, Protocol};

/// The system's host name, or `localhost` when it has none usable.
pub fn hostname() -> String {
    let name = gethostname::gethostname().to_string_lossy().to_lowercase();
    if crate::validate::is_hostname(&name) {
        name
    } else {
        "localhost".to_string()
    }
}

pub fn data_dir() -> PathBuf {
    PathBuf::from("./estafeta-data")
}

/// Database connections (`storage.max_connections`).
pub fn max_db_connections() -> u32 {
    16
}

pub fn max_message_size() -> u64 {
    25 * 1024 * 1024
}

pub fn max_recipients() -> u32 {
    100
}

pub fn idle_timeout() -> u64 {
    300
}

/// A whole command line (`smtp.command_timeout`): Postfix's `smtpd_timeout`.
pub fn command_timeout() -> u64 {
    300
}

/// A whole message or BDAT chunk (`smtp.data_timeout`): RFC 5321 §4.5.3.2.6 gives the
/// server 10 minutes for the end of data.
pub fn data_timeout() -> u64 {
    600
}

/// Error replies per session (`smtp.max_errors`): Postfix's `smtpd_hard_error_limit`.
pub fn max_errors() -> u32 {
    20
}

/// `Received:` fields per message (`smtp.max_hops`): Postfix's `hopcount_limit`.
pub fn max_hops() -> u32 {
    50
}

/// SMTP connections in total (`smtp.max_connections`).
pub fn max_connections() -> u32 {
    1000
}

pub fn max_connections_per_ip() -> u32 {
    20
}

pub fn trusted_networks() -> Vec<String> {
    vec!["127.0.0.0/8".to_string(), "::1/128".to_string()]
}

pub fn auth_max_failures() -> u32 {
    5
}

/// Failed logins from one address, whatever the user names (`smtp.auth_max_failures_per_address`):
/// four times the per-user limit, so that a few users behind one NAT who mistype do not
/// lock each other out, while a guesser rotating user names is still stopped.
pub fn auth_max_failures_per_address() -> u32 {
    20
}

/// IPv6 clients are counted by their /64 (`smtp.ipv6_prefix`): one customer usually holds
/// a whole /64 and can change addresses within it at will.
pub fn ipv6_prefix() -> u8 {
    64
}

/// SMTP commands per minute from one address before authentication
/// (`smtp.unauthenticated_commands_per_minute`): an MTA may send 750 one-recipient
/// messages a minute from one address (MAIL, RCPT, DATA, RSET: four commands each).
pub fn smtp_unauthenticated_commands_per_minute() -> u32 {
    3000
}

/// IMAP and POP3 commands per minute from one address before login
/// (`imap.unauthenticated_commands_per_minute`, `pop3.…`): a login takes a handful, so an
/// office of a hundred clients behind one address logging in every minute stays below it.
pub fn mailbox_unauthenticated_commands_per_minute() -> u32 {
    1000
}

pub fn auth_failure_delay_ms() -> u64 {
    1000
}

pub fn auth_block_time() -> u64 {
    300
}

/// The window of the sending rate limits, in seconds (`smtp.rate_limit_window`).
pub fn rate_limit_window() -> u64 {
    3600
}

/// IMAP connections in total (`imap.max_connections`): clients keep one or more open
/// all day, so this is high.
pub fn imap_max_connections() -> u32 {
    20_000
}

/// IMAP connections from one IP (`imap.max_connections_per_ip`): an office behind one
/// address has several clients with several connections each.
pub fn imap_max_connections_per_ip() -> u32 {
    200
}

/// POP3 connections in total (`pop3.max_connections`).
pub fn pop3_max_connections() -> u32 {
    1000
}

/// POP3 connections from one IP (`pop3.max_connections_per_ip`).
pub fn pop3_max_connections_per_ip() -> u32 {
    50
}

/// Seconds an IMAP command or a POP3 command line may take to arrive, from its first
/// octet (`imap.command_timeout`, `pop3.command_timeout`): a client typing by hand
/// manages, one that sends an octet now and then to keep the connection is cut off.
pub fn mailbox_command_timeout() -> u64 {
    60
}

/// IMAP SEARCH TEXT/BODY narrowed by the store's search index (`imap.search_index`).
pub fn imap_search_index() -> bool {
    true
}

/// `BAD` replies in one IMAP session before it is closed (`imap.max_bad_commands`), as
/// Dovecot's 20.
pub fn max_bad_commands() -> u32 {
    20
}

/// `-ERR` replies in one POP3 session before it is closed (`pop3.max_errors`).
pub fn pop3_max_errors() -> u32 {
    20
}

pub fn log_level() -> String {
    "info".to_string()
}

pub fn listen_address() -> IpAddr {
    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
}

/// The listener table of the product brief.
pub fn listeners() -> Vec<Listener> {
    let entry = |port, protocol, tls| Listener {
        address: listen_address(),
        port,
        protocol,
        tls,
        proxy_protocol: false,
        proxy_trusted: Vec::new(),
    };
    vec![
        entry(25, Protocol::Smtp, ListenerTls::Starttls),
        entry(587, Protocol::Submission, ListenerTls::Starttls),
        entry(465, Protocol::Submission, ListenerTls::Implicit),
        entry(2525, Protocol::Submission, ListenerTls::Starttls),
        entry(143, Protocol::Imap, ListenerTls::Starttls),
        entry(993, Protocol::Imap, ListenerTls::Implicit),
        entry(110, Protocol::Pop3, ListenerTls::Starttls),
        entry(995, Protocol::Pop3, ListenerTls::Implicit),
        entry(4190, Protocol::Managesieve, ListenerTls::Starttls),
    ]
}

/// Let's Encrypt's production directory.
pub fn acme_directory() -> String {
    "https://acme-v02.api.letsencrypt.org/directory".into()
}

/// Let's Encrypt's certificates last 90 days (shorter ones are coming): renew with 30 left.
pub fn acme_renew_days() -> u32 {
    30
}

/// Twice a day.
pub fn acme_check_interval() -> u64 {
    12 * 3600
}

pub fn sendmail_allowed_users() -> Vec<String> {
    vec!["*".to_string()]
}
