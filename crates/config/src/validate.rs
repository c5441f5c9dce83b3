//! Checks that serde cannot express: values that parse but make no sense together.

use std::collections::HashSet;

use crate::error::ConfigError;
use crate::model::{Config, Engine, Listener};

pub fn validate(config: &Config) -> Result<(), ConfigError> {
    if !is_hostname(&config.hostname) {
        return Err(ConfigError::invalid(
            "hostname",
            quoted(&config.hostname),
            "expected a host name such as \"mail.example.com\" (letters, digits, '-' and '.')",
        ));
    }
    if config.data_dir.as_os_str().is_empty() {
        return Err(ConfigError::invalid(
            "data_dir",
            "\"\"",
            "expected a directory path such as \"/var/lib/estafeta\"",
        ));
    }
    if let Some(user) = &config.run_as {
        let ok = !user.is_empty()
            && user.len() <= 32
            && user
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
        if !ok {
            return Err(ConfigError::invalid(
                "run_as",
                quoted(user),
                "expected a user name such as \"estafeta\" (letters, digits, '_', '-', '.')",
            ));
        }
    }
    validate_storage(config)?;
    validate_tls(config)?;
    if config.storage.max_connections == 0 {
        return Err(ConfigError::invalid(
            "storage.max_connections",
            0,
            "expected at least 1",
        ));
    }
    validate_smtp(config)?;
    validate_auth(config)?;
    crate::doctor::validate(&config.doctor)?;
    if config.trust.report_period == 0 || 86_400 % config.trust.report_period != 0 {
        return Err(ConfigError::invalid(
            "trust.report_period",
            config.trust.report_period,
            "expected a number of seconds that divides a day (86400, the RFC's period)",
        ));
    }
    if config.trust.timeout == 0 {
        return Err(ConfigError::invalid(
            "trust.timeout",
            0,
            "expected at least 1 (seconds the checks of one message may take)",
        ));
    }
    for (i, d) in config.trust.domain.iter().enumerate() {
        if !is_hostname(&d.name) {
            return Err(ConfigError::invalid(
                format!("trust.domain[{i}].name"),
                quoted(&d.name),
                "expected one of our domains, such as \"example.com\"",
            ));
        }
    }
    for (key, value) in [
        ("imap.command_timeout", config.imap.command_timeout),
        (
            "imap.max_bad_commands",
            u64::from(config.imap.max_bad_commands),
        ),
        ("pop3.command_timeout", config.pop3.command_timeout),
        ("pop3.max_errors", u64::from(config.pop3.max_errors)),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(key, 0, "expected at least 1"));
        }
    }
    crate::delivery::validate(&config.delivery)?;
    crate::web::validate(&config.web)?;
    crate::sieve::validate(&config.sieve)?;
    let mut seen = HashSet::new();
    for (i, l) in config.listeners.iter().enumerate() {
        validate_proxy(i, l)?;
        validate_web_listener(i, l)?;
        if l.port != 0 && !seen.insert((l.address, l.port)) {
            return Err(ConfigError::invalid(
                format!("listener[{i}].port"),
                l.port,
                &format!(
                    "{}:{} is already used by another listener; each address and port may appear once",
                    l.address, l.port
                ),
            ));
        }
    }
    Ok(())
}

/// HTTP is plaintext or TLS from the first byte: there is no STARTTLS in HTTP.
fn validate_web_listener(i: usize, l: &Listener) -> Result<(), ConfigError> {
    use crate::model::{ListenerTls, Protocol};
    let wanted = match l.protocol {
        Protocol::Http => ListenerTls::None,
        Protocol::Https => ListenerTls::Implicit,
        _ => return Ok(()),
    };
    if l.tls != wanted {
        return Err(ConfigError::invalid(
            format!("listener[{i}].tls"),
            quoted(l.tls.as_str()),
            &format!(
                "protocol {:?} takes tls = {:?} (HTTP has no STARTTLS; use protocol \"https\" with tls = \"implicit\" for TLS)",
                l.protocol.as_str(),
                wanted.as_str()
            ),
        ));
    }
    Ok(())
}

/// `proxy_protocol` needs the proxies' networks, and they mean nothing without it.
fn validate_proxy(i: usize, l: &Listener) -> Result<(), ConfigError> {
    let key = format!("listener[{i}].proxy_trusted");
    if l.proxy_protocol && l.proxy_trusted.is_empty() {
        return Err(ConfigError::invalid(
            key,
            "[]",
            "proxy_protocol = true needs the networks of the proxies that may connect, such as [\"127.0.0.1/32\"]; every other client is refused",
        ));
    }
    if !l.proxy_protocol && !l.proxy_trusted.is_empty() {
        return Err(ConfigError::invalid(
            key,
            format!("{:?}", l.proxy_trusted),
            "only used with proxy_protocol = true on the same listener",
        ));
    }
    for (j, net) in l.proxy_trusted.iter().enumerate() {
        if parse_network(net).is_none() {
            return Err(ConfigError::invalid(
                format!("listener[{i}].proxy_trusted[{j}]"),
                quoted(net),
                "expected a network in CIDR form such as \"127.0.0.1/32\" or \"10.0.0.0/24\"",
            ));
        }
    }
    Ok(())
}

fn validate_storage(config: &Config) -> Result<(), ConfigError> {
    let url = config.storage.url.as_deref();
    match (config.storage.engine, url) {
        (Engine::Postgres, None) => Err(ConfigError::invalid(
            "storage.url",
            "(missing)",
            "engine = \"postgres\" needs a URL such as \"postgres://estafeta@127.0.0.1:5432/estafeta\"",
        )),
        (Engine::Postgres, Some(u))
            if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) =>
        {
            Err(ConfigError::invalid(
                "storage.url",
                quoted(u),
                "expected a URL starting with postgres:// or postgresql://",
            ))
        }
        (Engine::Sqlite, Some(u)) => Err(ConfigError::invalid(
            "storage.url",
            quoted(u),
            "only used with engine = \"postgres\"; SQLite keeps its file in data_dir",
        )),
        _ => Ok(()),
    }
}

fn validate_tls(config: &Config) -> Result<(), ConfigError> {
    match (&config.tls.certificate, &config.tls.private_key) {
        (Some(_), None) => Err(ConfigError::invalid(
            "tls.private_key",
            "(missing)",
            "tls.certificate is set, so the matching private key's PEM file is needed too",
        )),
        (None, Some(_)) => Err(ConfigError::invalid(
            "tls.certificate",
            "(missing)",
            "tls.private_key is set, so the certificate's PEM file is needed too",
        )),
        _ => Ok(()),
    }?;
    validate_acme(config)
}

/// `acme = true`: a contact, no configured files, and a listener the CA can reach for the
/// chosen challenge.
fn validate_acme(config: &Config) -> Result<(), ConfigError> {
    use crate::model::{AcmeChallenge, Protocol};
    let tls = &config.tls;
    if !tls.acme {
        return Ok(());
    }
    if let Some(cert) = &tls.certificate {
        return Err(ConfigError::invalid(
            "tls.certificate",
            quoted(&cert.display().to_string()),
            "acme = true obtains the certificate itself: remove certificate and private_key, or set acme = false",
        ));
    }
    match tls.acme_contact.as_deref() {
        None => {
            return Err(ConfigError::invalid(
                "tls.acme_contact",
                "(missing)",
                "acme = true needs a contact address for the CA's account, such as \"mailto:postmaster@example.com\"",
            ));
        }
        Some(c) if !is_mailto(c) => {
            return Err(ConfigError::invalid(
                "tls.acme_contact",
                quoted(c),
                "expected a mailto: URL such as \"mailto:postmaster@example.com\"",
            ));
        }
        Some(_) => {}
    }
    if !config.hostname.contains('.') || config.hostname.eq_ignore_ascii_case("localhost") {
        return Err(ConfigError::invalid(
            "hostname",
            quoted(&config.hostname),
            "acme = true needs the server's public DNS name, such as \"mail.example.com\": a CA issues certificates only for such names",
        ));
    }
    if !tls.acme_directory.starts_with("https://") {
        return Err(ConfigError::invalid(
            "tls.acme_directory",
            quoted(&tls.acme_directory),
            "expected an https:// URL such as \"https://acme-v02.api.letsencrypt.org/directory\"",
        ));
    }
    for (i, name) in tls.acme_names.iter().enumerate() {
        if !is_hostname(name) || !name.contains('.') {
            return Err(ConfigError::invalid(
                format!("tls.acme_names[{i}]"),
                quoted(name),
                "expected a DNS name such as \"imap.example.com\" (no wildcards, no IP addresses)",
            ));
        }
    }
    if tls.acme_renew_days == 0 {
        return Err(ConfigError::invalid(
            "tls.acme_renew_days",
            0,
            "expected at least 1 (days of validity left when the certificate is renewed)",
        ));
    }
    if tls.acme_check_interval == 0 {
        return Err(ConfigError::invalid(
            "tls.acme_check_interval",
            0,
            "expected at least 1 (seconds between two checks of the certificate)",
        ));
    }
    let (protocol, port) = match tls.acme_challenge {
        AcmeChallenge::TlsAlpn01 => (Protocol::Https, 443),
        AcmeChallenge::Http01 => (Protocol::Http, 80),
    };
    if !config.listeners.iter().any(|l| l.protocol == protocol) {
        return Err(ConfigError::invalid(
            "tls.acme_challenge",
            quoted(tls.acme_challenge.as_str()),
            &format!(
                "the CA connects to port {port} to check the challenge, and no listener has protocol {:?}: add a [[listener]] with port = {port}, protocol = {:?}, tls = {:?}",
                protocol.as_str(),
                protocol.as_str(),
                if port == 443 { "implicit" } else { "none" }
            ),
        ));
    }
    Ok(())
}

fn is_mailto(contact: &str) -> bool {
    contact
        .strip_prefix("mailto:")
        .and_then(|a| a.split_once('@'))
        .is_some_and(|(local, domain)| {
            !local.is_empty() && is_hostname(domain) && !contact.contains(',')
        })
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

/// A DNS host name: labels of letters, digits and hyphens, not starting or ending with '-'.
pub fn is_hostname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn validate_smtp(config: &Config) -> Result<(), ConfigError> {
    let s = &config.smtp;
    for (key, value) in [
        ("smtp.max_message_size", s.max_message_size),
        ("smtp.max_recipients", u64::from(s.max_recipients)),
        ("smtp.idle_timeout", s.idle_timeout),
        ("smtp.command_timeout", s.command_timeout),
        ("smtp.data_timeout", s.data_timeout),
        ("smtp.max_errors", u64::from(s.max_errors)),
        ("smtp.max_hops", u64::from(s.max_hops)),
        ("smtp.max_connections", u64::from(s.max_connections)),
        (
            "smtp.max_connections_per_ip",
            u64::from(s.max_connections_per_ip),
        ),
    ] {
        if value == 0 {
            return Err(ConfigError::invalid(key, 0, "expected at least 1"));
        }
    }
    if !(32..=128).contains(&s.ipv6_prefix) {
        return Err(ConfigError::invalid(
            "smtp.ipv6_prefix",
            s.ipv6_prefix,
            "expected a prefix length from 32 to 128 (64: one customer's /64 counts as one client)",
        ));
    }
    for (i, net) in s.trusted_networks.iter().enumerate() {
        if parse_network(net).is_none() {
            return Err(ConfigError::invalid(
                format!("smtp.trusted_networks[{i}]"),
                quoted(net),
                "expected a network in CIDR form such as \"192.168.1.0/24\" or \"::1/128\"",
            ));
        }
    }
    Ok(())
}

/// The throttle's limits, named as the file gave them (`smtp.auth_*` or `auth.*`).
fn validate_auth(config: &Config) -> Result<(), ConfigError> {
    let a = &config.auth;
    let per_user = config.key_as_given("auth.max_failures");
    if a.max_failures == 0 {
        return Err(ConfigError::invalid(per_user, 0, "expected at least 1"));
    }
    if a.max_failures_per_address < a.max_failures {
        return Err(ConfigError::invalid(
            config.key_as_given("auth.max_failures_per_address"),
            a.max_failures_per_address,
            &format!(
                "expected at least {per_user} ({}): the address's count holds the failures of all its user names",
                a.max_failures
            ),
        ));
    }
    Ok(())
}

/// Parses `address/prefix` (or a bare address) into (network address, prefix length).
pub fn parse_network(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, prefix) = match s.trim().split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s.trim(), None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some((addr, prefix))
}
