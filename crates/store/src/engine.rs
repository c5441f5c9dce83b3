//! Opening the database: engine choice, connection settings, migrations, and write
//! transactions.
//!
//! Both engines are reached through sqlx's `Any` driver so that the SQL is written once
//! (with `$1` placeholders, which SQLite accepts too); the few statements whose dialects
//! differ ask [`Kind`] which form to use. SQLite runs in WAL mode with `synchronous=FULL`,
//! so a commit is on disk when it returns; writers in this process take turns on one lock
//! and open `BEGIN IMMEDIATE` transactions so that other processes (the CLI) wait instead
//! of failing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{Any, AnyPool, AssertSqlSafe, Executor, Transaction};
use std::sync::Arc;

use tokio::sync::{Mutex, MutexGuard, Notify, broadcast};

use crate::error::{Result, StoreError};
use crate::model::MailboxChange;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The newest SQLite schema this build knows (its last migration's version).
pub(crate) fn sqlite_schema_version() -> i64 {
    SQLITE_MIGRATIONS
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Where the data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The embedded engine: one database file.
    Sqlite { path: PathBuf },
    /// A PostgreSQL server.
    Postgres { url: String },
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub backend: Backend,
    pub max_connections: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

/// The connection pool and what is needed to write safely through it.
pub(crate) struct Db {
    pub pool: AnyPool,
    /// SQLite only: readers of message bodies a batch at a time (`body_reader.rs`).
    pub bodies: Option<crate::body_reader::BodyReaders>,
    /// SQLite only: the writer of group commits (`sqlite_writer.rs`).
    pub writer: Option<crate::sqlite_writer::SqliteWriter>,
    pub kind: Kind,
    write_lock: Mutex<()>,
    /// Mailbox changes committed by this process (SQLite) or by any node (PostgreSQL).
    pub changes: broadcast::Sender<MailboxChange>,
    /// The PostgreSQL URL, for the LISTEN connection.
    pub url: Option<String>,
    /// Where accepted messages are handed over, already leased (see `Queue::hand_off`).
    pub handoff: std::sync::Mutex<Option<HandoffTarget>>,
    /// Woken when queue work becomes due now: a message with remote recipients accepted,
    /// a report queued, a retry asked for (by this process; on PostgreSQL by any node).
    pub queue_wake: Arc<Notify>,
    /// Woken when bodies wait for the search indexer (stored by this process).
    pub search_wake: Arc<Notify>,
    /// The secret SCRAM decoy salts are derived from, once read from the database.
    pub scram_secret: tokio::sync::OnceCell<Vec<u8>>,
    /// The SRS secret (`server_secrets` row `srs`), read once.
    pub srs_secret: tokio::sync::OnceCell<Vec<u8>>,
    /// Delivery statistics counted and not written yet (`stats.rs`).
    pub stats: crate::stats::StatsBuffer,
    /// The web sign-in secret (`server_secrets` row `web`), read once.
    pub web_secret: tokio::sync::OnceCell<Vec<u8>>,
}

/// This process's delivery scheduler, taking accepted messages in memory.
pub(crate) struct HandoffTarget {
    pub owner: String,
    pub lease_secs: i64,
    /// Larger bodies are not handed over: the scheduler leases and reads them.
    pub max_body: usize,
    pub sender: tokio::sync::mpsc::Sender<crate::model::Handoff>,
}

/// A write transaction; on SQLite it also holds this process's writer turn.
pub(crate) struct WriteTx<'a> {
    pub tx: Transaction<'static, Any>,
    db: &'a Db,
    _turn: Option<MutexGuard<'a, ()>>,
    pending: Vec<MailboxChange>,
    queue_changed: bool,
    search_pending: bool,
}

impl WriteTx<'_> {
    /// Announces a mailbox change to watchers once (and only if) this transaction commits.
    pub async fn changed(&mut self, change: MailboxChange) -> Result<()> {
        match self.db.kind {
            Kind::Sqlite => self.pending.push(change),
            Kind::Postgres => {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(crate::notify::CHANNEL)
                    .bind(crate::notify::encode(change))
                    .execute(&mut *self.tx)
                    .await?;
            }
        }
        Ok(())
    }

    /// The database this transaction writes to.
    pub fn db(&self) -> &Db {
        self.db
    }

    /// Announces that queue work is due now, once (and only if) this transaction commits.
    pub async fn queue_changed(&mut self) -> Result<()> {
        if self.queue_changed {
            return Ok(());
        }
        self.queue_changed = true;
        if self.db.kind == Kind::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(crate::notify::QUEUE_CHANNEL)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    /// Wakes the search indexer once (and only if) this transaction commits.
    pub fn search_pending(&mut self) {
        self.search_pending = true;
    }

    pub async fn commit(self) -> Result<()> {
        let started = std::time::Instant::now();
        self.tx.commit().await?;
        metrics::histogram!("estafeta_store_commit_seconds")
            .record(started.elapsed().as_secs_f64());
        self.db.announce(Committed {
            changes: self.pending,
            queue_changed: self.queue_changed,
            search_pending: self.search_pending,
        });
        Ok(())
    }
}

/// What a committed transaction tells this process's watchers.
#[derive(Default)]
pub(crate) struct Committed {
    pub changes: Vec<MailboxChange>,
    /// Queue work is due now.
    pub queue_changed: bool,
    /// Bodies wait for the search indexer.
    pub search_pending: bool,
}

impl Db {
    fn new(
        pool: AnyPool,
        bodies: Option<crate::body_reader::BodyReaders>,
        kind: Kind,
        url: Option<String>,
    ) -> Db {
        Db {
            pool,
            bodies,
            writer: None,
            kind,
            write_lock: Mutex::new(()),
            changes: broadcast::channel(4096).0,
            url,
            queue_wake: Arc::new(Notify::new()),
            search_wake: Arc::new(Notify::new()),
            handoff: std::sync::Mutex::new(None),
            scram_secret: tokio::sync::OnceCell::new(),
            srs_secret: tokio::sync::OnceCell::new(),
            web_secret: tokio::sync::OnceCell::new(),
            stats: Default::default(),
        }
    }

    pub async fn open(options: &StoreOptions) -> Result<Db> {
        install_default_drivers();
        match &options.backend {
            Backend::Sqlite { path } => open_sqlite(path, options.max_connections).await,
            Backend::Postgres { url } => open_postgres(url, options.max_connections).await,
        }
    }

    /// Tells watchers what a transaction changed, once it has committed (on PostgreSQL
    /// the mailbox changes went out through NOTIFY with the transaction instead).
    pub fn announce(&self, committed: Committed) {
        if committed.search_pending {
            self.search_wake.notify_one();
        }
        for change in committed.changes {
            // No receiver is not an error: nobody is watching.
            let _ = self.changes.send(change);
        }
        if committed.queue_changed {
            self.queue_wake.notify_one();
        }
    }

    /// This process's writer turn (SQLite: one writer at a time, without waiting on
    /// SQLite's own lock).
    pub async fn write_turn(&self) -> MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    pub async fn begin_write(&self) -> Result<WriteTx<'_>> {
        match self.kind {
            Kind::Sqlite => {
                let turn = self.write_lock.lock().await;
                let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                Ok(WriteTx {
                    tx,
                    db: self,
                    _turn: Some(turn),
                    pending: Vec::new(),
                    queue_changed: false,
                    search_pending: false,
                })
            }
            Kind::Postgres => Ok(WriteTx {
                tx: self.pool.begin().await?,
                db: self,
                _turn: None,
                pending: Vec::new(),
                queue_changed: false,
                search_pending: false,
            }),
        }
    }

    /// A place in the delivery scheduler's hand-over channel for a message of
    /// `body_len` bytes: (owner, lease seconds, permit); `None` when there is no scheduler
    /// here, the body is too large, or the channel is full.
    pub fn handoff_permit(
        &self,
        body_len: usize,
    ) -> Option<(
        String,
        i64,
        tokio::sync::mpsc::OwnedPermit<crate::model::Handoff>,
    )> {
        let target = self.handoff.lock().unwrap_or_else(|p| p.into_inner());
        let t = target.as_ref()?;
        if body_len > t.max_body {
            return None;
        }
        let permit = t.sender.clone().try_reserve_owned().ok()?;
        Some((t.owner.clone(), t.lease_secs, permit))
    }

    /// The clause that lets several nodes lease queue rows without waiting on each other.
    pub fn skip_locked(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite => "",
            Kind::Postgres => "FOR UPDATE SKIP LOCKED",
        }
    }

    /// Whether writers are serialised by the engine itself (SQLite's one writer), so
    /// that a row need not be locked before it is changed.
    pub fn writers_serialised(&self) -> bool {
        matches!(self.kind, Kind::Sqlite)
    }

    /// The clause that locks selected rows until commit (SQLite's writer lock already
    /// serialises writers).
    pub fn for_update(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite => "",
            Kind::Postgres => "FOR UPDATE",
        }
    }
}

/// Octets of the SQLite file each connection reads through a memory map (1 GiB; SQLite
/// maps at most the file's size).
pub const SQLITE_MMAP_SIZE: u64 = 1 << 30;

/// A rusqlite connection to the store's file beside the pool (the body readers, the
/// writer): waits 10 s for another writer as the pool does, reads through the memory map,
/// then runs `pragmas`, the settings of its kind.
pub(crate) fn open_rusqlite(path: &Path, pragmas: &str) -> Result<rusqlite::Connection> {
    let failed = |e: rusqlite::Error| StoreError::Open(format!("{}: {e}", path.display()));
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(failed)?;
    conn.busy_timeout(Duration::from_secs(10)).map_err(failed)?;
    conn.execute_batch(&format!("PRAGMA mmap_size = {SQLITE_MMAP_SIZE}; {pragmas}"))
        .map_err(failed)?;
    Ok(conn)
}

async fn open_sqlite(path: &Path, max_connections: u32) -> Result<Db> {
    let shown = path.display().to_string();
    if shown.contains('?') {
        return Err(StoreError::Open(format!(
            "{shown}: the database path may not contain '?'"
        )));
    }
    let url = format!("sqlite://{shown}?mode=rwc");
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // busy_timeout first: the journal-mode switch itself may wait on a writer.
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                // reads from the mapped file instead of a pread per page: FETCH of 10,000
                // bodies 0.24 s -> 0.15 s (docs/performance.md). Writes still go through
                // the WAL; the mapped pages are the kernel's page cache, shared, counted
                // as RssFile rather than the process's own memory
                conn.execute(AssertSqlSafe(format!(
                    "PRAGMA mmap_size = {SQLITE_MMAP_SIZE}"
                )))
                .await?;
                Ok(())
            })
        })
        .connect(&url)
        .await
        .map_err(|e| StoreError::Open(format!("{shown}: {}", describe(&e))))?;
    SQLITE_MIGRATIONS.run(&pool).await?;
    // after the migrations: the body readers only read, and find the schema made
    let bodies = crate::body_reader::BodyReaders::new(path);
    let mut db = Db::new(pool, Some(bodies), Kind::Sqlite, None);
    db.writer = Some(crate::sqlite_writer::SqliteWriter::new(path));
    Ok(db)
}

async fn open_postgres(url: &str, max_connections: u32) -> Result<Db> {
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .map_err(|e| StoreError::Open(format!("{}: {}", redact(url), describe(&e))))?;
    POSTGRES_MIGRATIONS.run(&pool).await?;
    Ok(Db::new(pool, None, Kind::Postgres, Some(url.to_string())))
}

fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => io.to_string(),
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    }
}

/// The URL without its password, for messages.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &url[..scheme_end + 3],
                    &userinfo[..colon],
                    &url[at..]
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A fresh SQLite store in `dir`, for the store's unit tests.
#[cfg(test)]
pub(crate) async fn test_sqlite(dir: &Path) -> Db {
    Db::open(&StoreOptions {
        backend: Backend::Sqlite {
            path: dir.join("d.db"),
        },
        max_connections: 2,
    })
    .await
    .expect("a test database")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kill -9 test cannot see a missing fsync (the page cache survives the process), so
    /// the settings that make a commit durable are checked on every pooled connection.
    #[tokio::test]
    async fn sqlite_commits_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_sqlite(dir.path()).await;
        let (a, b) = tokio::join!(db.pool.acquire(), db.pool.acquire());
        for mut conn in [a.unwrap(), b.unwrap()] {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(
                (mode.as_str(), sync),
                ("wal", 2),
                "WAL with synchronous=FULL"
            );
        }
    }
    #[test]
    fn redacts_password() {
        assert_eq!(
            super::redact("postgres://bob:secret@db:5432/mail"),
            "postgres://bob:***@db:5432/mail"
        );
        assert_eq!(
            super::redact("postgres://bob@db/mail"),
            "postgres://bob@db/mail"
        );
    }
}
