//! Keys that moved to another section: still read under their old name, so that existing
//! files keep working, moved to the new key at load, and listed in [`Config::renamed`] so
//! that `serve` warns at start and `config check` says what to rename. A file giving both
//! names of one key is refused: it is not clear which it means.

use std::fmt;

use crate::error::ConfigError;
use crate::model::Config;

/// A key given under its old name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Renamed {
    pub old: &'static str,
    pub new: &'static str,
}

impl fmt::Display for Renamed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is the old name of {}: it still works, but rename it in the configuration file",
            self.old, self.new
        )
    }
}

/// Moves the old `smtp.auth_*` keys the document gives to `auth.*`.
pub(crate) fn apply(config: &mut Config, document: &toml::Value) -> Result<(), ConfigError> {
    let (s, a) = (&mut config.smtp, &mut config.auth);
    let mut moved = Vec::new();
    let mut rename = |old: &'static str, new: &'static str| {
        moved.push(Renamed { old, new });
        let key = new.trim_start_matches("auth.");
        if document.get("auth").and_then(|t| t.get(key)).is_some() {
            return Err(format!(
                "{new} is set too; keep only {new} ({old} is its old name)"
            ));
        }
        Ok(())
    };
    let refused =
        |old: &str, value: &dyn fmt::Display, why: String| ConfigError::invalid(old, value, &why);
    if let Some(v) = s.auth_max_failures.take() {
        let old = "smtp.auth_max_failures";
        rename(old, "auth.max_failures").map_err(|why| refused(old, &v, why))?;
        a.max_failures = v;
    }
    if let Some(v) = s.auth_max_failures_per_address.take() {
        let old = "smtp.auth_max_failures_per_address";
        rename(old, "auth.max_failures_per_address").map_err(|why| refused(old, &v, why))?;
        a.max_failures_per_address = v;
    }
    if let Some(v) = s.auth_failure_delay_ms.take() {
        let old = "smtp.auth_failure_delay_ms";
        rename(old, "auth.failure_delay_ms").map_err(|why| refused(old, &v, why))?;
        a.failure_delay_ms = v;
    }
    if let Some(v) = s.auth_block_time.take() {
        let old = "smtp.auth_block_time";
        rename(old, "auth.block_time").map_err(|why| refused(old, &v, why))?;
        a.block_time = v;
    }
    config.renamed = moved;
    Ok(())
}

impl Config {
    /// The name the file gave `key` (its old one when it was renamed), for messages about
    /// its value.
    pub fn key_as_given(&self, key: &'static str) -> &'static str {
        self.renamed
            .iter()
            .find(|r| r.new == key)
            .map_or(key, |r| r.old)
    }
}
