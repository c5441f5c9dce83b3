//! Message bodies: stored once under their SHA-256, reference-counted, deleted when the
//! last mailbox entry or queued message that uses them is gone. A new body waits in
//! `search_pending` for the search indexer (`search.rs`); its index rows go with it.

use sha2::{Digest, Sha256};
use sqlx::{Any, Transaction};

use crate::engine::WriteTx;
use crate::error::Result;

pub fn hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Stores the body if new (then it waits for the search indexer) and adds `refs`
/// references to it.
pub async fn retain(w: &mut WriteTx<'_>, hash: &str, body: &[u8], refs: i64) -> Result<()> {
    let count: i64 = sqlx::query_scalar(
        "INSERT INTO blobs (hash, data, size, refcount) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + excluded.refcount \
         RETURNING refcount",
    )
    .bind(hash)
    .bind(body)
    .bind(body.len() as i64)
    .bind(refs)
    .fetch_one(&mut *w.tx)
    .await?;
    if count == refs {
        // inserted now (a body in use has at least one reference more)
        sqlx::query("INSERT INTO search_pending (hash) VALUES ($1) ON CONFLICT (hash) DO NOTHING")
            .bind(hash)
            .execute(&mut *w.tx)
            .await?;
        w.search_pending();
    }
    Ok(())
}

/// Drops `refs` references; the body is deleted when none remain (one statement when
/// these were the last ones).
pub async fn release(tx: &mut Transaction<'static, Any>, hash: &str, refs: i64) -> Result<()> {
    let deleted = sqlx::query("DELETE FROM blobs WHERE hash = $1 AND refcount <= $2")
        .bind(hash)
        .bind(refs)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if deleted == 0 {
        sqlx::query("UPDATE blobs SET refcount = refcount - $1 WHERE hash = $2")
            .bind(refs)
            .bind(hash)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
