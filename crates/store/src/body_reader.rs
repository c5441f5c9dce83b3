//! Message bodies for readers on SQLite, a batch at a time on a blocking thread.
//!
//! Through sqlx every row crosses from the connection's worker thread to the session's
//! task on its own (a channel send and a wake-up per row): for `FETCH 1:* BODY[]` that
//! hand-over, not SQLite, was most of the time (a third of it in the scheduler and in
//! futex waits; docs/performance.md). Here one blocking task runs the whole batch's query
//! with rusqlite over the same SQLite library and returns it in one piece: one hand-over
//! per batch.
//!
//! The connections only read (`query_only`), through the same memory map as the pool's;
//! at most [`READERS`] at once, kept open between batches.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::Semaphore;

use crate::engine::open_rusqlite;
use crate::error::{Result, StoreError};

/// Batches read at the same time, each on a connection of its own.
pub const READERS: usize = 4;

/// One message of a batch: its UID, and its octets when the body is in its row (prefix
/// then body), or its prefix and the hash and size of a body kept in pieces.
pub type Read = (u32, Vec<u8>, Option<(String, i64)>);

pub(crate) struct BodyReaders {
    path: PathBuf,
    idle: Mutex<Vec<rusqlite::Connection>>,
    turns: Semaphore,
}

const QUERY: &str = "SELECT m.uid, m.prefix, m.blob_hash, b.data, b.size FROM mailbox_messages m \
     JOIN blobs b ON b.hash = m.blob_hash \
     WHERE m.mailbox_id = ?1 AND m.uid >= ?2 AND m.uid <= ?3 ORDER BY m.uid";

impl BodyReaders {
    pub fn new(path: &Path) -> BodyReaders {
        BodyReaders {
            path: path.to_path_buf(),
            idle: Mutex::new(Vec::new()),
            turns: Semaphore::new(READERS),
        }
    }

    /// The messages with UIDs `first..=last` of a mailbox, in UID order.
    pub async fn read(&self, mailbox_id: i64, first: u32, last: u32) -> Result<Vec<Read>> {
        let _turn = self
            .turns
            .acquire()
            .await
            .map_err(|_| StoreError::Open("the body readers are closed".into()))?;
        let kept = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let path = self.path.clone();
        let (conn, read) = tokio::task::spawn_blocking(move || {
            let conn = match kept {
                Some(c) => c,
                None => open_rusqlite(&path, "PRAGMA query_only = ON;")?,
            };
            let read = batch(&conn, mailbox_id, first, last);
            Ok::<_, StoreError>((conn, read))
        })
        .await
        .map_err(|e| StoreError::Open(format!("a body reader stopped: {e}")))??;
        // a connection whose query failed is dropped, not kept
        if read.is_ok() {
            self.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(conn);
        }
        read
    }
}

fn batch(conn: &rusqlite::Connection, mailbox_id: i64, first: u32, last: u32) -> Result<Vec<Read>> {
    let mut statement = conn.prepare(QUERY)?;
    let mut rows = statement.query((mailbox_id, i64::from(first), i64::from(last)))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let uid: i64 = row.get(0)?;
        let prefix = blob(row.get_ref(1)?)?;
        let data = blob(row.get_ref(3)?)?;
        let size: i64 = row.get(4)?;
        out.push(assemble(uid, prefix, data, size, || row.get(2))?);
    }
    Ok(out)
}

/// A BLOB column's octets (none for NULL).
fn blob(v: rusqlite::types::ValueRef<'_>) -> Result<&[u8]> {
    Ok(v.as_blob_or_null()
        .map_err(rusqlite::Error::from)?
        .unwrap_or_default())
}

/// One row: the message when its body is in the row (one copy, prefix then body), else
/// its prefix and what reads the pieces (`hash` gives the body's hash).
pub(crate) fn assemble<E>(
    uid: i64,
    prefix: &[u8],
    data: &[u8],
    size: i64,
    hash: impl FnOnce() -> std::result::Result<String, E>,
) -> Result<Read>
where
    StoreError: From<E>,
{
    let uid = crate::mailbox::to_u32(uid)?;
    if (data.len() as i64) < size {
        return Ok((uid, prefix.to_vec(), Some((hash()?, size))));
    }
    let mut bytes = Vec::with_capacity(prefix.len() + data.len());
    bytes.extend_from_slice(prefix);
    bytes.extend_from_slice(data);
    Ok((uid, bytes, None))
}
