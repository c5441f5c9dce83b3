//! `estafeta backup FILE` and `estafeta restore FILE`: the SQLite store copied while the
//! server runs, and put back while it is stopped (`estafeta_store::backup`). PostgreSQL
//! is backed up with its own tools; both commands say so.

use std::path::Path;

use estafeta_config::Engine;
use estafeta_store::backup::{self, Snapshot};

use crate::failure::{CommandResult, Failure};
use crate::settings::Settings;

fn sqlite_only(settings: &Settings, what: &str) -> CommandResult {
    match settings.config.storage.engine {
        Engine::Sqlite => Ok(()),
        Engine::Postgres => Err(Failure::new(format!(
            "the store is PostgreSQL: {what} it with PostgreSQL's tools \
             (pg_dump -Fc / pg_restore, see docs/operations.md, Backups)"
        ))),
    }
}

fn summary(s: &Snapshot) -> String {
    format!(
        "{} domain(s), {} user(s), {} message(s) in mailboxes, {} queued; schema {}; {} bytes",
        s.domains, s.users, s.messages, s.queued, s.schema_version, s.bytes
    )
}

pub async fn backup(settings: &Settings, file: &Path) -> CommandResult {
    sqlite_only(settings, "back up")?;
    let db = settings.config.data_dir.join("estafeta.db");
    let snapshot = backup::backup(&db, file).await?;
    println!(
        "backup written to {}: {}",
        file.display(),
        summary(&snapshot)
    );
    Ok(())
}

pub async fn restore(settings: &Settings, file: &Path) -> CommandResult {
    sqlite_only(settings, "restore")?;
    let data_dir = settings.prepare_data_dir()?;
    let _lock = crate::data_lock::take(data_dir, "restoring a backup")?;
    let db = data_dir.join("estafeta.db");
    let (snapshot, kept) = backup::restore(file, &db).await?;
    println!("restored {}: {}", file.display(), summary(&snapshot));
    if let Some(kept) = kept {
        println!(
            "the store it replaced is kept as {} (delete it once the restore is checked)",
            kept.display()
        );
    }
    Ok(())
}
