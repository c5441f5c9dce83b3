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

/// Moves the old keys the document gives to their new place.
pub(crate) fn apply(config: &mut Config, document: &toml::Value) -> Result<(), ConfigError> {
    let (smtp, auth) = (&mut config.smtp, &mut config.auth);
    let mut moved = Vec::new();
    move_key(
        &mut smtp.auth_max_failures,
        &mut auth.max_failures,
        "max_failures",
        document,
        &mut moved,
    )?;
    move_key(
        &mut smtp.auth_max_failures_per_address,
        &mut auth.max_failures_per_address,
        "max_failures_per_address",
        document,
        &mut moved,
    )?;
    move_key(
        &mut smtp.auth_failure_delay_ms,
        &mut auth.failure_delay_ms,
        "failure_delay_ms",
        document,
        &mut moved,
    )?;
    move_key(
        &mut smtp.auth_block_time,
        &mut auth.block_time,
        "block_time",
        document,
        &mut moved,
    )?;
    config.renamed = moved;
    Ok(())
}

/// `smtp.auth_<key>` to `auth.<key>`.
fn move_key<T: fmt::Display>(
    old: &mut Option<T>,
    new: &mut T,
    key: &'static str,
    document: &toml::Value,
    moved: &mut Vec<Renamed>,
) -> Result<(), ConfigError> {
    let Some(value) = old.take() else {
        return Ok(());
    };
    let names = NAMES
        .iter()
        .find(|n| n.new.ends_with(key))
        .copied()
        .expect("every moved key is in NAMES");
    if document.get("auth").and_then(|a| a.get(key)).is_some() {
        return Err(ConfigError::invalid(
            names.old,
            value,
            &format!(
                "{} is set too; keep only {} ({} is its old name)",
                names.new, names.new, names.old
            ),
        ));
    }
    *new = value;
    moved.push(names);
    Ok(())
}

const NAMES: [Renamed; 4] = [
    Renamed {
        old: "smtp.auth_max_failures",
        new: "auth.max_failures",
    },
    Renamed {
        old: "smtp.auth_max_failures_per_address",
        new: "auth.max_failures_per_address",
    },
    Renamed {
        old: "smtp.auth_failure_delay_ms",
        new: "auth.failure_delay_ms",
    },
    Renamed {
        old: "smtp.auth_block_time",
        new: "auth.block_time",
    },
];

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
