//! The `[sieve]` section: filtering at delivery (Sieve, RFC 5228) and its management over
//! ManageSieve (RFC 5804, `protocol = "managesieve"` listeners, port 4190): the bounds of
//! users' scripts, the server-wide scripts run before and after each user's, and the
//! ManageSieve server's connection limits.

use serde::Deserialize;

use crate::error::ConfigError;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SieveConfig {
    /// Run users' active scripts (and `before`/`after`) at delivery.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Largest script, in octets.
    #[serde(default = "max_script_size")]
    pub max_script_size: usize,
    /// Scripts one user may keep.
    #[serde(default = "max_scripts")]
    pub max_scripts: usize,
    /// Octets of scripts one user may keep in all.
    #[serde(default = "max_storage")]
    pub max_storage: usize,
    /// Actions one run may take (fileinto, redirect, vacation…); beyond: an error, and
    /// the message is kept.
    #[serde(default = "max_actions")]
    pub max_actions: usize,
    /// Redirects one run may make.
    #[serde(default = "max_redirects")]
    pub max_redirects: usize,
    /// A script file (path) run for every local recipient before their own script.
    #[serde(default)]
    pub before: Option<String>,
    /// A script file (path) run after the user's script (unless a script stopped).
    #[serde(default)]
    pub after: Option<String>,
    /// The folder of global scripts (`include :global "name"` reads `<dir>/name.sieve`).
    #[serde(default)]
    pub global_dir: Option<String>,
    /// Simultaneous ManageSieve connections in total.
    #[serde(default = "max_connections")]
    pub max_connections: u32,
    /// Simultaneous ManageSieve connections from one IP address.
    #[serde(default = "max_connections_per_ip")]
    pub max_connections_per_ip: u32,
}

impl Default for SieveConfig {
    fn default() -> Self {
        SieveConfig {
            enabled: enabled(),
            max_script_size: max_script_size(),
            max_scripts: max_scripts(),
            max_storage: max_storage(),
            max_actions: max_actions(),
            max_redirects: max_redirects(),
            before: None,
            after: None,
            global_dir: None,
            max_connections: max_connections(),
            max_connections_per_ip: max_connections_per_ip(),
        }
    }
}

fn enabled() -> bool {
    true
}

fn max_script_size() -> usize {
    // Dovecot's Pigeonhole default is 1 MiB; a person's filters fit in far less
    256 * 1024
}

fn max_scripts() -> usize {
    20
}

fn max_storage() -> usize {
    1024 * 1024
}

fn max_actions() -> usize {
    32
}

fn max_redirects() -> usize {
    4
}

fn max_connections() -> u32 {
    100
}

fn max_connections_per_ip() -> u32 {
    10
}

pub(crate) fn validate(sieve: &SieveConfig) -> Result<(), ConfigError> {
    let ranges: [(&str, usize, usize, usize); 5] = [
        (
            "sieve.max_script_size",
            sieve.max_script_size,
            1024,
            16 << 20,
        ),
        ("sieve.max_scripts", sieve.max_scripts, 1, 1000),
        ("sieve.max_storage", sieve.max_storage, 1024, 256 << 20),
        ("sieve.max_actions", sieve.max_actions, 1, 1000),
        ("sieve.max_redirects", sieve.max_redirects, 0, 100),
    ];
    for (key, value, low, high) in ranges {
        if !(low..=high).contains(&value) {
            return Err(ConfigError::invalid(
                key,
                value,
                &format!("expected a number from {low} to {high}"),
            ));
        }
    }
    if sieve.max_storage < sieve.max_script_size {
        return Err(ConfigError::invalid(
            "sieve.max_storage",
            sieve.max_storage,
            "expected at least sieve.max_script_size: one script must fit",
        ));
    }
    for (key, path) in [
        ("sieve.before", &sieve.before),
        ("sieve.after", &sieve.after),
    ] {
        if let Some(path) = path
            && path.trim().is_empty()
        {
            return Err(ConfigError::invalid(
                key,
                format!("{path:?}"),
                "expected the path of a Sieve script file, or leave the key out",
            ));
        }
    }
    Ok(())
}
