//! The `[doctor]` section: what `estafeta doctor` takes as our public addresses, and the
//! DNS blocklists it looks them up on.

use std::net::IpAddr;

use serde::Deserialize;

use crate::error::ConfigError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DoctorConfig {
    /// The addresses the world reaches this server at (MX, SPF, PTR and blocklist
    /// checks). Empty: the listeners' addresses that are neither wildcard nor loopback,
    /// else the A/AAAA records of `hostname`.
    #[serde(default)]
    pub public_addresses: Vec<IpAddr>,
    /// DNS blocklist zones (`zen.spamhaus.org`): each public address is looked up as
    /// `<reversed address>.<zone>` through the configured resolver.
    #[serde(default = "blocklists")]
    pub blocklists: Vec<String>,
}

impl Default for DoctorConfig {
    fn default() -> Self {
        DoctorConfig {
            public_addresses: Vec::new(),
            blocklists: blocklists(),
        }
    }
}

fn blocklists() -> Vec<String> {
    vec![
        "zen.spamhaus.org".into(),
        "bl.spamcop.net".into(),
        "b.barracudacentral.org".into(),
    ]
}

pub(crate) fn validate(d: &DoctorConfig) -> Result<(), ConfigError> {
    for (i, zone) in d.blocklists.iter().enumerate() {
        let ok = !zone.is_empty()
            && zone.len() <= 200
            && zone.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            });
        if !ok {
            return Err(ConfigError::invalid(
                format!("doctor.blocklists[{i}]"),
                format!("{zone:?}"),
                "expected a DNS zone name such as \"zen.spamhaus.org\"",
            ));
        }
    }
    Ok(())
}
