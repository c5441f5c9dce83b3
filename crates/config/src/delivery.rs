//! The `[delivery]` section: outbound connection limits, the retry schedule, DNS, and the
//! relays (a global smarthost, routes per domain) — their types, defaults and checks.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::error::ConfigError;

/// How estafeta delivers to other servers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Outbound SMTP connections open at once, over all destinations.
    #[serde(default = "max_connections")]
    pub max_connections: u32,
    /// Outbound connections open at once to one destination (a domain, or a relay).
    #[serde(default = "max_connections_per_destination")]
    pub max_connections_per_destination: u32,
    /// Messages sent over one connection (RSET between them) before it is closed.
    #[serde(default = "max_messages_per_connection")]
    pub max_messages_per_connection: u32,
    /// Seconds a connection with no message waiting stays open for its destination's
    /// next one (Postfix's smtp_connection_cache_time_limit); 0: closed at once.
    #[serde(default = "connection_cache_time")]
    pub connection_cache_time: u64,
    /// Seconds to wait after the 1st, 2nd, … failed attempt; the last value repeats.
    #[serde(default = "retry_schedule")]
    pub retry_schedule: Vec<u64>,
    /// Seconds a message may stay in the queue; after that a recipient that still fails
    /// temporarily is bounced.
    #[serde(default = "max_queue_time")]
    pub max_queue_time: u64,
    /// Seconds after which a recipient that asked for NOTIFY=DELAY gets a "delayed"
    /// report, once; 0 never sends one.
    #[serde(default = "delay_warning")]
    pub delay_warning: u64,
    /// Seconds a host that refused or dropped a connection is skipped, for every message.
    #[serde(default = "host_retry_after")]
    pub host_retry_after: u64,
    /// Seconds a worker holds a recipient before another node may take it (renewed while
    /// the worker runs).
    #[serde(default = "lease_time")]
    pub lease_time: u64,
    /// Seconds between scans of the queue for work that nothing announced (changes made by
    /// the CLI on SQLite, leases of a node that died).
    #[serde(default = "scan_interval")]
    pub scan_interval: u64,
    /// Seconds to wait for a TCP connection to a host.
    #[serde(default = "connect_timeout")]
    pub connect_timeout: u64,
    /// The port MX hosts (and A/AAAA fallbacks) are contacted on. 25 except in tests.
    #[serde(default = "mx_port")]
    pub mx_port: u16,
    /// The port MTA-STS policies are fetched from (HTTPS). 443 except in tests.
    #[serde(default = "https_port")]
    pub https_port: u16,
    /// DNS servers for MX and address lookups (`"192.0.2.53"` or `"127.0.0.1:5353"`);
    /// empty uses the system's (/etc/resolv.conf).
    #[serde(default)]
    pub dns_servers: Vec<String>,
    /// Relay every message through this server (except domains with their own route).
    #[serde(default)]
    pub smarthost: Option<Relay>,
    /// Relays for some domains, before the smarthost and MX.
    #[serde(default, rename = "route")]
    pub routes: Vec<Relay>,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_connections: max_connections(),
            max_connections_per_destination: max_connections_per_destination(),
            max_messages_per_connection: max_messages_per_connection(),
            connection_cache_time: connection_cache_time(),
            retry_schedule: retry_schedule(),
            max_queue_time: max_queue_time(),
            delay_warning: delay_warning(),
            host_retry_after: host_retry_after(),
            lease_time: lease_time(),
            scan_interval: scan_interval(),
            connect_timeout: connect_timeout(),
            mx_port: mx_port(),
            https_port: https_port(),
            dns_servers: Vec::new(),
            smarthost: None,
            routes: Vec::new(),
        }
    }
}

/// How TLS is used with a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayTls {
    /// STARTTLS is required: a relay that does not offer it is not used (port 587).
    Starttls,
    /// TLS from the first byte (port 465).
    Implicit,
    /// STARTTLS when offered, plaintext otherwise (as with MX hosts).
    Opportunistic,
    /// Plaintext only.
    None,
}

/// A SASL mechanism for a relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RelayAuth {
    Plain,
    Login,
}

/// A server to hand mail to instead of the recipient domain's MX: the smarthost, or a
/// route for some domains.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Relay {
    /// Routes only: the recipient domain this route is for.
    #[serde(default)]
    pub domain: Option<String>,
    /// Host name (its A/AAAA records are used, not MX) or IP address.
    pub host: String,
    /// Default: 465 with implicit TLS; else 587 for the smarthost and 25 for a route.
    #[serde(default)]
    pub port: Option<u16>,
    /// Default: "starttls" for the smarthost, "opportunistic" for a route.
    #[serde(default)]
    pub tls: Option<RelayTls>,
    /// AUTH with this user name.
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// A file whose first line is the password (instead of `password`).
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// Default: PLAIN, or LOGIN when the relay offers only LOGIN.
    #[serde(default)]
    pub auth_mechanism: Option<RelayAuth>,
    /// PEM file of the certificate authorities the relay's certificate must chain to,
    /// instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Check the relay's certificate (chain and name). On by default; `false` is an
    /// explicit opt-out, warned about at start.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// Send the password even without TLS (a relay on loopback).
    #[serde(default)]
    pub allow_plaintext_auth: bool,
}

impl Relay {
    /// The TLS mode, with the default of the smarthost (`is_route` false) or a route.
    pub fn tls_mode(&self, is_route: bool) -> RelayTls {
        self.tls.unwrap_or(if is_route {
            RelayTls::Opportunistic
        } else {
            RelayTls::Starttls
        })
    }

    /// The port, with the defaults of [`Relay::port`].
    pub fn port_number(&self, is_route: bool) -> u16 {
        self.port.unwrap_or(match self.tls_mode(is_route) {
            RelayTls::Implicit => 465,
            _ if is_route => 25,
            _ => 587,
        })
    }
}

fn max_connections() -> u32 {
    100
}

fn yes() -> bool {
    true
}

fn max_connections_per_destination() -> u32 {
    // Postfix's default_destination_concurrency_limit. A connection carries one message
    // at a time whose outcome is not yet written (at most one sent twice after a crash),
    // so a destination's rate is about this many messages per commit of the store.
    20
}

fn max_messages_per_connection() -> u32 {
    100
}

/// Postfix's smtp_connection_cache_time_limit.
fn connection_cache_time() -> u64 {
    2
}

/// The longest `connection_cache_time`: an idle connection holds a connection slot.
pub const MAX_CONNECTION_CACHE_TIME: u64 = 300;

/// 5 m, 10 m, 20 m, 40 m, 1 h, 2 h, 4 h, then every 4 h.
fn retry_schedule() -> Vec<u64> {
    vec![300, 600, 1200, 2400, 3600, 7200, 14400]
}

/// 5 days.
fn max_queue_time() -> u64 {
    5 * 86_400
}

/// 4 hours.
fn delay_warning() -> u64 {
    4 * 3600
}

fn host_retry_after() -> u64 {
    300
}

fn lease_time() -> u64 {
    300
}

fn scan_interval() -> u64 {
    30
}

fn connect_timeout() -> u64 {
    30
}

fn mx_port() -> u16 {
    25
}

fn https_port() -> u16 {
    443
}

/// A DNS server as written in `delivery.dns_servers`: an address, with port 53 unless one
/// is given.
pub fn parse_dns_server(s: &str) -> Option<SocketAddr> {
    let t = s.trim();
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Some(a);
    }
    t.trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, 53))
}

pub(crate) fn validate(d: &DeliveryConfig) -> Result<(), ConfigError> {
    if d.connection_cache_time > MAX_CONNECTION_CACHE_TIME {
        return Err(ConfigError::invalid(
            "delivery.connection_cache_time",
            d.connection_cache_time,
            "at most 300 seconds (an idle connection holds one of delivery.max_connections); 0 closes connections at once",
        ));
    }
    for (key, value) in [
        ("delivery.max_connections", u64::from(d.max_connections)),
        (
            "delivery.max_connections_per_destination",
            u64::from(d.max_connections_per_destination),
        ),
        (
            "delivery.max_messages_per_connection",
            u64::from(d.max_messages_per_connection),
        ),
        ("delivery.max_queue_time", d.max_queue_time),
        ("delivery.lease_time", d.lease_time),
        ("delivery.scan_interval", d.scan_interval),
        ("delivery.connect_timeout", d.connect_timeout),
        ("delivery.mx_port", u64::from(d.mx_port)),
        ("delivery.https_port", u64::from(d.https_port)),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(key, 0, "expected at least 1"));
        }
    }
    if d.retry_schedule.is_empty() {
        return Err(ConfigError::invalid(
            "delivery.retry_schedule",
            "[]",
            "expected at least one delay in seconds, such as [300, 600, 1200]",
        ));
    }
    if let Some(i) = d.retry_schedule.iter().position(|&s| s == 0) {
        return Err(ConfigError::invalid(
            format!("delivery.retry_schedule[{i}]"),
            0,
            "expected a delay of at least 1 second",
        ));
    }
    for (i, s) in d.dns_servers.iter().enumerate() {
        if parse_dns_server(s).is_none() {
            return Err(ConfigError::invalid(
                format!("delivery.dns_servers[{i}]"),
                format!("{s:?}"),
                "expected an IP address, optionally with a port, such as \"192.0.2.53\" or \"127.0.0.1:5353\"",
            ));
        }
    }
    if let Some(s) = &d.smarthost {
        validate_relay("delivery.smarthost", s, false)?;
    }
    let mut seen = std::collections::HashSet::new();
    for (i, r) in d.routes.iter().enumerate() {
        let key = format!("delivery.route[{i}]");
        validate_relay(&key, r, true)?;
        if let Some(domain) = &r.domain
            && !seen.insert(domain.to_ascii_lowercase())
        {
            return Err(ConfigError::invalid(
                format!("{key}.domain"),
                format!("{domain:?}"),
                "another route is already for this domain; each domain may have one route",
            ));
        }
    }
    Ok(())
}

fn validate_relay(key: &str, r: &Relay, is_route: bool) -> Result<(), ConfigError> {
    match (&r.domain, is_route) {
        (None, true) => {
            return Err(ConfigError::invalid(
                format!("{key}.domain"),
                "(missing)",
                "a route needs the recipient domain it is for, such as \"example.org\"",
            ));
        }
        (Some(d), true) if !crate::validate::is_hostname(d) => {
            return Err(ConfigError::invalid(
                format!("{key}.domain"),
                format!("{d:?}"),
                "expected a domain name such as \"example.org\"",
            ));
        }
        (Some(d), false) => {
            return Err(ConfigError::invalid(
                format!("{key}.domain"),
                format!("{d:?}"),
                "the smarthost takes every domain; use a [[delivery.route]] for one domain",
            ));
        }
        _ => {}
    }
    let host_ok =
        crate::validate::is_hostname(&r.host) || r.host.parse::<std::net::IpAddr>().is_ok();
    if !host_ok {
        return Err(ConfigError::invalid(
            format!("{key}.host"),
            format!("{:?}", r.host),
            "expected a host name such as \"smtp.example.net\" or an IP address",
        ));
    }
    if r.port == Some(0) {
        return Err(ConfigError::invalid(
            format!("{key}.port"),
            0,
            "expected a port number from 1 to 65535",
        ));
    }
    if let (false, Some(file)) = (r.tls_verify, &r.ca_file) {
        return Err(ConfigError::invalid(
            format!("{key}.tls_verify"),
            false,
            &format!(
                "ca_file = {:?} is set, so the certificate is to be checked: remove \
                 tls_verify = false, or remove ca_file",
                file.display().to_string()
            ),
        ));
    }
    if let (Some(_), Some(file)) = (&r.password, &r.password_file) {
        return Err(ConfigError::invalid(
            format!("{key}.password_file"),
            format!("{:?}", file.display().to_string()),
            "give the password or a password file, not both",
        ));
    }
    let has_password = r.password.is_some() || r.password_file.is_some();
    match (&r.username, has_password) {
        (Some(_), false) => Err(ConfigError::invalid(
            format!("{key}.password"),
            "(missing)",
            "a username needs a password or a password_file",
        )),
        (None, true) => Err(ConfigError::invalid(
            format!("{key}.username"),
            "(missing)",
            "a password needs the username it belongs to",
        )),
        _ => Ok(()),
    }
}
