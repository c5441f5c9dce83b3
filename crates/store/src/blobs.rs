//! Message bodies: stored once under their SHA-256, reference-counted, deleted when the
//! last mailbox entry or queued message that uses them is gone. A body a mailbox shows
//! waits in `search_pending` for the search indexer (`search.rs`) until it is indexed;
//! its index rows go with it. Bodies only queued for delivery are not indexed.
//!
//! A body over [`CHUNK`] octets is kept in pieces of [`CHUNK`] in `blob_chunks`, with an
//! empty `data` in `blobs` (`length(data) < size` tells it): whoever reads part of it
//! reads only the pieces that part lies in, and neither engine has to load the whole
//! value to cut a piece out of it. Readers of whole bodies put the pieces back together
//! ([`whole`]).

use sha2::{Digest, Sha256};
use sqlx::{Any, Pool, Transaction};

use crate::engine::WriteTx;
use crate::error::Result;

/// Octets per piece of a body kept in pieces, and the size above which it is.
pub const CHUNK: usize = 1 << 20;

pub fn hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Stores a body or adds references to the stored one; the references it has now.
pub(crate) const RETAIN: &str = "INSERT INTO blobs (hash, data, size, refcount) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + excluded.refcount \
     RETURNING refcount";
/// One piece of a body larger than [`CHUNK`].
pub(crate) const INSERT_CHUNK: &str =
    "INSERT INTO blob_chunks (hash, seq, data) VALUES ($1, $2, $3)";
/// A new body a mailbox shows waits for the search indexer.
pub(crate) const SEARCH_NEW: &str =
    "INSERT INTO search_pending (hash) VALUES ($1) ON CONFLICT (hash) DO NOTHING";
/// A stored body a mailbox now shows waits for the indexer unless it is indexed.
pub(crate) const SEARCH_AGAIN: &str = "INSERT INTO search_pending (hash) SELECT b.hash FROM blobs b WHERE b.hash = $1 \
     AND NOT EXISTS (SELECT 1 FROM search_docs d WHERE d.hash = $1) \
     ON CONFLICT (hash) DO NOTHING";
/// Deletes a body whose last references go (`$2` of them).
pub(crate) const DELETE_LAST: &str = "DELETE FROM blobs WHERE hash = $1 AND refcount <= $2";
/// Takes `$1` references from a body that keeps others.
pub(crate) const UNREF: &str = "UPDATE blobs SET refcount = refcount - $1 WHERE hash = $2";

/// Stores the body if new and adds `refs` references to it. A body a mailbox shows
/// (`searchable`) waits for the search indexer when it is not indexed yet; a body only
/// queued for delivery elsewhere is never indexed (nobody searches it, and indexing
/// costs more than storing), so it is made to wait if a mailbox takes it later.
pub async fn retain(
    w: &mut WriteTx<'_>,
    hash: &str,
    body: &[u8],
    refs: i64,
    searchable: bool,
) -> Result<()> {
    let in_pieces = body.len() > CHUNK;
    let data: &[u8] = if in_pieces { &[] } else { body };
    let count: i64 = sqlx::query_scalar(RETAIN)
        .bind(hash)
        .bind(data)
        .bind(body.len() as i64)
        .bind(refs)
        .fetch_one(&mut *w.tx)
        .await?;
    if count == refs {
        // inserted now (a body in use has at least one reference more)
        if in_pieces {
            for (seq, piece) in body.chunks(CHUNK).enumerate() {
                sqlx::query(INSERT_CHUNK)
                    .bind(hash)
                    .bind(seq as i64)
                    .bind(piece)
                    .execute(&mut *w.tx)
                    .await?;
            }
        }
        if searchable {
            sqlx::query(SEARCH_NEW)
                .bind(hash)
                .execute(&mut *w.tx)
                .await?;
            w.search_pending();
        }
    } else if searchable {
        // a body kept before, perhaps only for the queue (so never indexed): indexed
        // unless it is already
        let waits = sqlx::query(SEARCH_AGAIN)
            .bind(hash)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if waits > 0 {
            w.search_pending();
        }
    }
    Ok(())
}

/// Drops `refs` references; the body is deleted when none remain (one statement when
/// these were the last ones).
pub async fn release(tx: &mut Transaction<'static, Any>, hash: &str, refs: i64) -> Result<()> {
    let deleted = sqlx::query(DELETE_LAST)
        .bind(hash)
        .bind(refs)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        sqlx::query(UNREF)
            .bind(refs)
            .bind(hash)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The body named `hash` whole, given what its `blobs` row holds: `data` itself, or
/// (when shorter than `size`) its pieces put together. `None` when the pieces are gone
/// (the body was deleted since its row was read).
pub async fn whole(
    pool: &Pool<Any>,
    hash: &str,
    data: Vec<u8>,
    size: i64,
) -> Result<Option<Vec<u8>>> {
    if data.len() as i64 >= size {
        return Ok(Some(data));
    }
    let pieces = pieces(pool, hash, 0, size).await?;
    let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    for p in &pieces {
        out.extend_from_slice(p);
    }
    Ok((out.len() as i64 == size).then_some(out))
}

/// The octets `start..end` of a body kept in pieces (fewer when it is shorter), reading
/// only the pieces they lie in.
pub async fn range(pool: &Pool<Any>, hash: &str, start: i64, end: i64) -> Result<Vec<u8>> {
    let chunk = CHUNK as i64;
    if end <= start {
        return Ok(Vec::new());
    }
    let first = start / chunk;
    let pieces = pieces(pool, hash, start, end).await?;
    let mut out = Vec::with_capacity((end - start) as usize);
    for (i, p) in pieces.iter().enumerate() {
        let at = (first + i as i64) * chunk;
        let from = (start - at).clamp(0, p.len() as i64) as usize;
        let to = (end - at).clamp(0, p.len() as i64) as usize;
        out.extend_from_slice(&p[from..to]);
    }
    Ok(out)
}

/// The pieces that octets `start..end` of a body lie in, in order.
async fn pieces(pool: &Pool<Any>, hash: &str, start: i64, end: i64) -> Result<Vec<Vec<u8>>> {
    let chunk = CHUNK as i64;
    Ok(sqlx::query_scalar(
        "SELECT data FROM blob_chunks WHERE hash = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq",
    )
    .bind(hash)
    .bind(start / chunk)
    .bind((end - 1).max(0) / chunk)
    .fetch_all(pool)
    .await?)
}
