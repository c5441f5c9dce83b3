//! The SQLite writer for the hot paths: a whole transaction on a blocking thread.
//!
//! Through sqlx each statement crosses to the connection's worker thread and back (a
//! channel send, a futex wake-up and a scheduler turn each way). A relayed message costs
//! about a dozen statements between its acceptance and its recorded outcome, and on the
//! relay benchmark half of the server's CPU samples were those hand-overs, not SQLite
//! (docs/performance.md). Here a group commit (accepted messages, recorded outcomes) runs
//! as one closure over rusqlite on a blocking thread: one hand-over per transaction,
//! prepared statements kept between transactions.
//!
//! It writes the same database file through the same SQLite library as the pool, with
//! the same settings (WAL, `synchronous = FULL`, foreign keys), and takes the same
//! writer turn as [`crate::engine::WriteTx`], so the two kinds of writer never wait on
//! SQLite's lock. The SQL is the engines' shared SQL (`$1` parameters, which SQLite reads
//! as names; [`bind`] binds them by name, so a statement may name them in any order).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Statement, ToSql, Transaction, TransactionBehavior};

use crate::engine::{Db, open_rusqlite};
use crate::error::{Result, StoreError};

/// The writer's connection, kept open between transactions.
pub(crate) struct SqliteWriter {
    path: PathBuf,
    conn: Mutex<Option<rusqlite::Connection>>,
}

impl SqliteWriter {
    pub fn new(path: &Path) -> SqliteWriter {
        SqliteWriter {
            path: path.to_path_buf(),
            conn: Mutex::new(None),
        }
    }

    /// Runs `work` in one `BEGIN IMMEDIATE` transaction on a blocking thread, holding this
    /// process's writer turn; commits when it returns `Ok` (the commit is on disk when
    /// this returns), rolls back otherwise.
    pub async fn run<R, F>(&self, db: &Db, work: F) -> Result<R>
    where
        R: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<R> + Send + 'static,
    {
        let _turn = db.write_turn().await;
        let kept = self.conn.lock().unwrap_or_else(|p| p.into_inner()).take();
        let path = self.path.clone();
        let (conn, done) = tokio::task::spawn_blocking(move || {
            let mut conn = match kept {
                Some(c) => c,
                None => match open(&path) {
                    Ok(c) => c,
                    Err(e) => return (None, Err(e)),
                },
            };
            let started = std::time::Instant::now();
            let done = transaction(&mut conn, work);
            if done.is_ok() {
                metrics::histogram!("estafeta_store_commit_seconds")
                    .record(started.elapsed().as_secs_f64());
            }
            (Some(conn), done)
        })
        .await
        .map_err(|e| StoreError::Open(format!("the SQLite writer stopped: {e}")))?;
        if let Some(conn) = conn {
            *self.conn.lock().unwrap_or_else(|p| p.into_inner()) = Some(conn);
        }
        done
    }
}

fn transaction<R>(
    conn: &mut rusqlite::Connection,
    work: impl FnOnce(&Transaction<'_>) -> Result<R>,
) -> Result<R> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let out = work(&tx)?;
    tx.commit()?;
    Ok(out)
}

fn open(path: &Path) -> Result<rusqlite::Connection> {
    // the pool's settings (engine.rs): durable commits, the same constraints
    let conn = open_rusqlite(
        path,
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;",
    )?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// A cached statement of the shared SQL with `params` bound to `$1`, `$2`, … by name.
pub(crate) fn bind<'c>(
    tx: &'c Transaction<'_>,
    sql: &str,
    params: &[&dyn ToSql],
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut statement = tx.prepare_cached(sql)?;
    bind_all(&mut statement, params)?;
    Ok(statement)
}

/// The parameter names of the shared SQL, `$1` to `$16`.
const NAMES: [&str; 16] = [
    "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13", "$14", "$15",
    "$16",
];

fn bind_all(statement: &mut Statement<'_>, params: &[&dyn ToSql]) -> Result<()> {
    if params.len() > NAMES.len() {
        return Err(StoreError::Invalid(format!(
            "a statement with {} parameters",
            params.len()
        )));
    }
    for (name, value) in NAMES.iter().zip(params) {
        let index = statement
            .parameter_index(name)?
            .ok_or_else(|| StoreError::Invalid(format!("the statement has no parameter {name}")))?;
        statement.raw_bind_parameter(index, value)?;
    }
    Ok(())
}

/// Runs a statement of the shared SQL; the rows it changed.
pub(crate) fn execute(tx: &Transaction<'_>, sql: &str, params: &[&dyn ToSql]) -> Result<usize> {
    Ok(bind(tx, sql, params)?.raw_execute()?)
}

/// The first row of a statement of the shared SQL, read by `read`; `None` when it has none.
pub(crate) fn first_row<T>(
    tx: &Transaction<'_>,
    sql: &str,
    params: &[&dyn ToSql],
    read: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Option<T>> {
    let mut statement = bind(tx, sql, params)?;
    let mut rows = statement.raw_query();
    match rows.next()? {
        Some(row) => Ok(Some(read(row)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::test_sqlite;

    /// A kill -9 test cannot see a missing fsync (the page cache survives the process), so
    /// the settings that make the writer's commits durable are checked on its connection,
    /// as `engine.rs` checks the pool's.
    #[tokio::test]
    async fn the_writers_commits_are_durable() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_sqlite(dir.path()).await;
        let writer = db.writer.as_ref().expect("SQLite has a writer");
        let settings = writer
            .run(&db, |tx| {
                let mode: String = tx.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                let sync: i64 = tx.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
                let keys: i64 = tx.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
                Ok((mode, sync, keys))
            })
            .await
            .unwrap();
        assert_eq!(
            settings,
            ("wal".to_string(), 2, 1),
            "WAL, synchronous=FULL, foreign keys"
        );
    }

    /// A closure that fails leaves nothing behind, and the writer stays usable.
    #[tokio::test]
    async fn a_failed_transaction_rolls_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = test_sqlite(dir.path()).await;
        let writer = db.writer.as_ref().unwrap();
        let failed = writer
            .run(&db, |tx| {
                super::execute(
                    tx,
                    "INSERT INTO domains (name, created_at) VALUES ($1, $2)",
                    &[&"a.test", &1_i64],
                )?;
                Err::<(), _>(crate::error::StoreError::Invalid("stop".into()))
            })
            .await;
        assert!(failed.is_err());
        let count = writer
            .run(&db, |tx| {
                Ok(tx.query_row("SELECT COUNT(*) FROM domains", [], |r| r.get::<_, i64>(0))?)
            })
            .await
            .unwrap();
        assert_eq!(count, 0);
    }
}
