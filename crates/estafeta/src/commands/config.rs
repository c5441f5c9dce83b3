//! `estafeta config check|example`.

use estafeta_config::{Config, EXAMPLE};

use crate::cli::ConfigCommand;
use crate::failure::{CommandResult, Failure};
use crate::settings::Settings;

pub fn run(cmd: ConfigCommand, settings: Result<Settings, Failure>) -> CommandResult {
    match cmd {
        ConfigCommand::Example => {
            print!("{EXAMPLE}");
            Ok(())
        }
        ConfigCommand::Check { file: Some(path) } => {
            let config = Config::load(&path).map_err(Failure::config)?;
            crate::privileges::run_as_user(&config)?;
            warn_renamed(&config);
            println!("{}: ok", path.display());
            Ok(())
        }
        ConfigCommand::Check { file: None } => {
            let settings = settings?;
            crate::privileges::run_as_user(&settings.config)?;
            warn_renamed(&settings.config);
            match settings.origin {
                Some(p) => println!("{}: ok", p.display()),
                None => println!("no configuration file: the built-in defaults are in use"),
            }
            Ok(())
        }
    }
}

/// Keys given under an old name: they work, but say what to rename (on stderr, so that
/// the `ok` line stays the only output on stdout).
fn warn_renamed(config: &Config) {
    for renamed in &config.renamed {
        eprintln!("warning: {renamed}");
    }
}
