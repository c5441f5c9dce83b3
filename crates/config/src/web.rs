//! The `[web]` section: what the HTTP listeners (`protocol = "http"` / `"https"`) serve
//! besides client set-up documents: the MTA-STS policy of our domains, who may read
//! `/metrics`, how long a web sign-in lasts, and the address tracking links name.

use serde::Deserialize;

use crate::error::ConfigError;

/// The MTA-STS policy mode published for our domains (RFC 8461 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtaStsMode {
    /// Senders report failures (TLS-RPT) but deliver anyway: the mode to start with.
    Testing,
    /// Senders deliver only over TLS with a valid certificate for an `mx` name.
    Enforce,
    /// Tells senders that the domain has withdrawn its policy.
    None,
}

impl MtaStsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MtaStsMode::Testing => "testing",
            MtaStsMode::Enforce => "enforce",
            MtaStsMode::None => "none",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Client networks (CIDR) that may read `/metrics` without signing in.
    #[serde(default = "metrics_networks")]
    pub metrics_networks: Vec<String>,
    /// The MTA-STS policy served at `https://mta-sts.<domain>/.well-known/mta-sts.txt`.
    #[serde(default = "mta_sts_mode")]
    pub mta_sts_mode: MtaStsMode,
    /// Seconds senders may cache the policy (RFC 8461 allows up to 31557600).
    #[serde(default = "mta_sts_max_age")]
    pub mta_sts_max_age: u64,
    /// Seconds a web sign-in lasts.
    #[serde(default = "session_lifetime")]
    pub session_lifetime: u64,
    /// The address readers' mail apps reach the web side at, for open and click tracking
    /// links (`https://mail.example.com`). Unset: `https://<hostname>` from the first
    /// `https` listener (its port when not 443), else `http://` from the first `http` one.
    #[serde(default)]
    pub public_url: Option<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            metrics_networks: metrics_networks(),
            mta_sts_mode: mta_sts_mode(),
            mta_sts_max_age: mta_sts_max_age(),
            session_lifetime: session_lifetime(),
            public_url: None,
        }
    }
}

fn metrics_networks() -> Vec<String> {
    vec!["127.0.0.0/8".into(), "::1/128".into()]
}

fn mta_sts_mode() -> MtaStsMode {
    MtaStsMode::Testing
}

fn mta_sts_max_age() -> u64 {
    // a week: long enough to protect, short enough to change one's mind
    604_800
}

fn session_lifetime() -> u64 {
    // a working day
    8 * 3600
}

pub(crate) fn validate(web: &WebConfig) -> Result<(), ConfigError> {
    for (i, n) in web.metrics_networks.iter().enumerate() {
        if crate::validate::parse_network(n).is_none() {
            return Err(ConfigError::invalid(
                format!("web.metrics_networks[{i}]"),
                format!("{n:?}"),
                "expected a network in CIDR form, such as \"127.0.0.0/8\" or \"::1/128\"",
            ));
        }
    }
    if !(86_400..=31_557_600).contains(&web.mta_sts_max_age) {
        return Err(ConfigError::invalid(
            "web.mta_sts_max_age",
            web.mta_sts_max_age,
            "expected seconds from 86400 (a day; RFC 8461 advises weeks) to 31557600 (a year, its maximum)",
        ));
    }
    if !(60..=30 * 86_400).contains(&web.session_lifetime) {
        return Err(ConfigError::invalid(
            "web.session_lifetime",
            web.session_lifetime,
            "expected seconds from 60 to 2592000 (30 days)",
        ));
    }
    if let Some(url) = &web.public_url {
        let rest = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"));
        let host = rest.map(|r| r.trim_end_matches('/')).unwrap_or_default();
        if host.is_empty() || host.contains(['/', '?', '#', ' ']) || url.len() > 200 {
            return Err(ConfigError::invalid(
                "web.public_url",
                format!("{url:?}"),
                "expected https:// or http:// and a host name (with a port if not the default), \
                 nothing after it, such as \"https://mail.example.com\"",
            ));
        }
    }
    Ok(())
}
