//! The default of every key: what `estafeta serve` uses with no configuration file.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use crate::model::{Listener, Protocol, TlsMode};

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
    };
    vec![
        entry(25, Protocol::Smtp, TlsMode::Starttls),
        entry(587, Protocol::Submission, TlsMode::Starttls),
        entry(465, Protocol::Submission, TlsMode::Implicit),
        entry(2525, Protocol::Submission, TlsMode::Starttls),
        entry(143, Protocol::Imap, TlsMode::Starttls),
        entry(993, Protocol::Imap, TlsMode::Implicit),
        entry(110, Protocol::Pop3, TlsMode::Starttls),
        entry(995, Protocol::Pop3, TlsMode::Implicit),
    ]
}
