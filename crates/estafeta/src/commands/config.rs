//! `estafeta config check|example`.

use estafeta_config::{Config, EXAMPLE};

use crate::cli::ConfigCommand;
use crate::failure::{Failure, Outcome};
use crate::settings::Settings;

pub fn run(cmd: ConfigCommand, settings: Result<Settings, Failure>) -> Outcome {
    match cmd {
        ConfigCommand::Example => {
            print!("{EXAMPLE}");
            Ok(())
        }
        ConfigCommand::Check { file: Some(path) } => {
            Config::load(&path).map_err(Failure::config)?;
            println!("{}: ok", path.display());
            Ok(())
        }
        ConfigCommand::Check { file: None } => {
            let settings = settings?;
            match settings.origin {
                Some(p) => println!("{}: ok", p.display()),
                None => println!("no configuration file: the built-in defaults are in use"),
            }
            Ok(())
        }
    }
}
