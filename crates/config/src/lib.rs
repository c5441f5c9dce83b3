//! Typed configuration of estafeta.
//!
//! Owns the shape of the one TOML file, the default of every key (so that no file at all is
//! a valid configuration), and validation: every wrong value becomes a [`ConfigError`] that
//! prints as `config error: <key> = <value>: <what is expected>`.

mod defaults;
mod delivery;
mod doctor;
mod error;
mod example;
mod model;
mod renamed;
mod sieve;
mod trust;
mod validate;
mod web;

pub use delivery::{DeliveryConfig, Relay, RelayAuth, RelayTls, parse_dns_server};
pub use doctor::DoctorConfig;
pub use error::ConfigError;
pub use example::EXAMPLE;
pub use model::{
    AcmeChallenge, AuthConfig, Config, Engine, ImapConfig, Listener, ListenerTls, LogConfig,
    Pop3Config, Protocol, SendmailConfig, SmtpConfig, StorageConfig, TlsConfig,
};
pub use renamed::Renamed;
pub use sieve::SieveConfig;
pub use trust::{DmarcAction, SpfFail, TrustConfig, TrustDomain};
pub use validate::parse_network;
pub use web::{MtaStsMode, WebConfig};

use std::path::Path;

impl Config {
    /// Parses and validates configuration text. `origin` names the file in error messages.
    pub fn from_toml(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::syntax(origin, text, &e))?;
        let value = toml::Value::Table(table);
        let mut config: Config = serde_path_to_error::deserialize(value.clone())
            .map_err(|e| ConfigError::from_serde(&value, e))?;
        renamed::apply(&mut config, &value)?;
        validate::validate(&config)?;
        Ok(config)
    }

    /// Reads, parses and validates a configuration file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Unreadable {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// The configuration used when there is no file at all.
    /// An empty document goes through the same path as a real file, so the two never drift.
    pub fn defaults() -> Result<Config, ConfigError> {
        Config::from_toml("", "built-in defaults")
    }
}

#[cfg(test)]
mod tests;
