//! Backup and restore of the embedded (SQLite) store, whose one file holds everything,
//! message bodies included. A backup is `VACUUM INTO` on a connection of its own: one
//! read transaction, so the copy is the database as it stood at one commit — every
//! message acknowledged before the backup began is in it — while the server goes on
//! writing (WAL readers do not block writers). It is written under a temporary name,
//! fsync'd, checked (`PRAGMA integrity_check`), and only then renamed into place, so a
//! file under the asked name is always a whole backup. A restore checks the backup the
//! same way, keeps the current database beside it (`estafeta.db.before-restore-<time>`,
//! with its `-wal`), and puts the backup in place by copy, fsync and rename. PostgreSQL
//! has its own tools (`pg_dump`); nothing here touches it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Result, StoreError};

/// What a backup holds, read from it after it was written (or before it is restored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub bytes: u64,
    /// The newest schema migration applied to it.
    pub schema_version: i64,
    pub domains: i64,
    pub users: i64,
    /// Messages in mailboxes (copies counted), and messages waiting in the queue.
    pub messages: i64,
    pub queued: i64,
}

fn failed(what: &str, path: &Path) -> impl Fn(std::io::Error) -> StoreError {
    let context = format!("{what} {}", path.display());
    move |e| StoreError::Invalid(format!("cannot {context}: {e}"))
}

/// Writes a consistent copy of the SQLite database `db` to `to` (which must not exist).
pub async fn backup(db: &Path, to: &Path) -> Result<Snapshot> {
    let (db, to) = (db.to_path_buf(), to.to_path_buf());
    blocking(move || {
        if to.exists() {
            return Err(StoreError::AlreadyExists(format!(
                "{} already exists: give a new file name (a backup never overwrites)",
                to.display()
            )));
        }
        if !db.exists() {
            return Err(StoreError::NotFound(format!(
                "no database at {}: is the data directory right (--data-dir)?",
                db.display()
            )));
        }
        let partial = sibling(&to, &format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_file(&partial);
        let result = (|| {
            let conn = rusqlite::Connection::open_with_flags(
                &db,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                    | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )?;
            conn.busy_timeout(Duration::from_secs(30))?;
            let target = partial.to_str().ok_or_else(|| {
                StoreError::Invalid(format!("{}: the path is not UTF-8", partial.display()))
            })?;
            conn.execute("VACUUM INTO ?1", [target])?;
            drop(conn);
            sync_file(&partial)?;
            let snapshot = check_file(&partial)?;
            std::fs::rename(&partial, &to).map_err(failed("rename the backup to", &to))?;
            sync_dir(&to)?;
            Ok(snapshot)
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    })
    .await
}

/// Reads a backup file: whole (`integrity_check`), an estafeta database, and what it
/// holds.
pub async fn check(path: &Path) -> Result<Snapshot> {
    let path = path.to_path_buf();
    blocking(move || check_file(&path)).await
}

/// Puts the backup `from` in place of the database `db` (the server must be stopped);
/// returns what it holds and where the database it replaced was kept (`None` when there
/// was none). A backup from a newer estafeta (a schema this one does not know) is
/// refused.
pub async fn restore(from: &Path, db: &Path) -> Result<(Snapshot, Option<PathBuf>)> {
    let (from, db) = (from.to_path_buf(), db.to_path_buf());
    let known_schema = crate::engine::sqlite_schema_version();
    blocking(move || {
        let snapshot = check_file(&from)?;
        if snapshot.schema_version > known_schema {
            return Err(StoreError::Invalid(format!(
                "{} was made by a newer estafeta (schema {}, this one knows up to {known_schema}): \
                 restore it with that version",
                from.display(),
                snapshot.schema_version
            )));
        }
        let incoming = sibling(&db, "restoring");
        std::fs::copy(&from, &incoming).map_err(failed("copy the backup to", &incoming))?;
        sync_file(&incoming)?;
        let kept = match db.exists() {
            true => {
                let kept = sibling(&db, &format!("before-restore-{}", crate::now()));
                std::fs::rename(&db, &kept).map_err(failed("move aside", &db))?;
                for suffix in ["-wal", "-shm"] {
                    let side = PathBuf::from(format!("{}{suffix}", db.display()));
                    if side.exists() {
                        let to = PathBuf::from(format!("{}{suffix}", kept.display()));
                        std::fs::rename(&side, &to).map_err(failed("move aside", &side))?;
                    }
                }
                Some(kept)
            }
            false => None,
        };
        std::fs::rename(&incoming, &db).map_err(failed("put the backup in place at", &db))?;
        sync_dir(&db)?;
        Ok((snapshot, kept))
    })
    .await
}

fn check_file(path: &Path) -> Result<Snapshot> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Open(format!("{}: {e}", path.display())))?;
    let not_ours = |e: rusqlite::Error| {
        StoreError::Invalid(format!(
            "{} is not an estafeta database backup: {e}",
            path.display()
        ))
    };
    let verdict: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(not_ours)?;
    if verdict != "ok" {
        return Err(StoreError::Invalid(format!(
            "{} is damaged (integrity check: {verdict}): take another backup",
            path.display()
        )));
    }
    let count = |sql: &str| {
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .map_err(not_ours)
    };
    Ok(Snapshot {
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
        schema_version: count(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success = 1",
        )?,
        domains: count("SELECT COUNT(*) FROM domains")?,
        users: count("SELECT COUNT(*) FROM users")?,
        messages: count("SELECT COUNT(*) FROM mailbox_messages")?,
        queued: count("SELECT COUNT(*) FROM queue_messages")?,
    })
}

/// `path` with `.suffix` added to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{suffix}"));
    path.with_file_name(name)
}

fn sync_file(path: &Path) -> Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(failed("write to disk", path))
}

fn sync_dir(path: &Path) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(failed("write to disk the folder of", path))
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Invalid(format!("backup task failed: {e}")))?
}
