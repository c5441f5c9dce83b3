//! How the binary fails: one line on standard error and an exit code
//! (2 for configuration and usage errors, 1 for everything else).

use std::fmt;

pub struct Failure {
    pub message: String,
    pub code: i32,
}

impl Failure {
    pub fn new(message: impl fmt::Display) -> Failure {
        Failure {
            message: format!("error: {message}"),
            code: 1,
        }
    }

    /// A configuration error prints as it is (`config error: …`) and exits with 2.
    pub fn config(e: estafeta_config::ConfigError) -> Failure {
        Failure {
            message: e.to_string(),
            code: 2,
        }
    }
}

impl From<estafeta_store::StoreError> for Failure {
    fn from(e: estafeta_store::StoreError) -> Failure {
        Failure::new(e)
    }
}

pub type CommandResult = Result<(), Failure>;
