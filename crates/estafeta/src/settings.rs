//! Turns the command line and the configuration file into what the commands need:
//! the validated configuration, a usable data directory, and the store's options.

use std::path::{Path, PathBuf};

use estafeta_config::{Config, ConfigError, Engine};
use estafeta_store::{Backend, StoreOptions};

use crate::cli::Cli;
use crate::failure::Failure;

const SYSTEM_CONFIG: &str = "/etc/estafeta/estafeta.toml";

pub struct Settings {
    pub config: Config,
    /// The file the configuration came from, `None` for the built-in defaults.
    pub origin: Option<PathBuf>,
}

impl Settings {
    pub fn load(cli: &Cli) -> Result<Settings, Failure> {
        let origin = match &cli.config {
            Some(p) => Some(p.clone()),
            None if Path::new(SYSTEM_CONFIG).exists() => Some(PathBuf::from(SYSTEM_CONFIG)),
            None => None,
        };
        let mut config = match &origin {
            Some(p) => Config::load(p).map_err(Failure::config)?,
            None => Config::defaults().map_err(Failure::config)?,
        };
        if let Some(dir) = &cli.data_dir {
            if dir.as_os_str().is_empty() {
                return Err(Failure::config(ConfigError::invalid(
                    "data_dir",
                    "\"\"",
                    "expected a directory path (from --data-dir or ESTAFETA_DATA_DIR)",
                )));
            }
            config.data_dir = dir.clone();
        }
        Ok(Settings { config, origin })
    }

    /// Creates the data directory if needed and checks that it can be written to.
    pub fn prepare_data_dir(&self) -> Result<&Path, Failure> {
        let dir = self.config.data_dir.as_path();
        let way_out =
            "choose another with --data-dir or ESTAFETA_DATA_DIR, or fix its owner and permissions";
        std::fs::create_dir_all(dir).map_err(|e| {
            Failure::new(format!(
                "cannot create the data directory {}: {}; {way_out}",
                dir.display(),
                reason(&e)
            ))
        })?;
        let probe = dir.join(".estafeta-write-test");
        std::fs::write(&probe, b"").map_err(|e| {
            Failure::new(format!(
                "the data directory {} is not writable: {}; {way_out}",
                dir.display(),
                reason(&e)
            ))
        })?;
        let _ = std::fs::remove_file(&probe);
        Ok(dir)
    }

    pub fn store_options(&self) -> StoreOptions {
        let backend = match self.config.storage.engine {
            Engine::Sqlite => Backend::Sqlite {
                path: self.config.data_dir.join("estafeta.db"),
            },
            Engine::Postgres => Backend::Postgres {
                url: self.config.storage.url.clone().unwrap_or_default(),
            },
        };
        StoreOptions {
            backend,
            max_connections: self.config.storage.max_connections,
        }
    }

    /// Opens the store the configuration names (creating the data directory for SQLite).
    /// [`close_stores`] closes it when the command ends.
    pub async fn open_store(&self) -> Result<std::sync::Arc<dyn estafeta_store::Store>, Failure> {
        if self.config.storage.engine == Engine::Sqlite {
            self.prepare_data_dir()?;
        }
        let store = estafeta_store::open(&self.store_options()).await?;
        OPENED
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(store.clone());
        Ok(store)
    }
}

/// The stores commands opened, closed when the command ends.
static OPENED: std::sync::Mutex<Vec<std::sync::Arc<dyn estafeta_store::Store>>> =
    std::sync::Mutex::new(Vec::new());

/// Closes every store a command opened: each pooled connection ends with the database's
/// goodbye (PostgreSQL's Terminate) instead of a reset when the process exits, which
/// PostgreSQL would log as "could not receive data from client".
pub async fn close_stores() {
    let opened = std::mem::take(&mut *OPENED.lock().unwrap_or_else(|p| p.into_inner()));
    for store in opened {
        store.close().await;
    }
}

fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::NotADirectory => "a part of the path is a file, not a directory".into(),
        _ => e.to_string(),
    }
}
