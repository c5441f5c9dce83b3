//! Structured logs (tracing) on standard error. `ESTAFETA_LOG` overrides `log.level`.

use std::io::IsTerminal;

use estafeta_config::ConfigError;
use tracing_subscriber::EnvFilter;

/// Starts logging; `quiet` (the CLI's management commands) shows warnings and errors only.
pub fn init(level: &str, quiet: bool) -> Result<(), ConfigError> {
    let filter = match std::env::var("ESTAFETA_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(&v).map_err(|e| {
            ConfigError::invalid("ESTAFETA_LOG", format!("{v:?}"), &format!("expected a tracing filter such as \"info\" ({e})"))
        })?,
        _ if quiet => EnvFilter::new("warn"),
        _ => EnvFilter::try_new(level).map_err(|e| {
            ConfigError::invalid(
                "log.level",
                format!("{level:?}"),
                &format!("expected a tracing filter such as \"info\" or \"estafeta_store=debug,info\" ({e})"),
            )
        })?,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
}
