//! Message bodies: stored once under their SHA-256, reference-counted, deleted when the
//! last mailbox entry or queued message that uses them is gone.

use sha2::{Digest, Sha256};
use sqlx::{Any, Transaction};

use crate::error::Result;

pub fn hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Stores the body if new and adds `refs` references to it.
pub async fn retain(
    tx: &mut Transaction<'static, Any>,
    hash: &str,
    body: &[u8],
    refs: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO blobs (hash, data, size, refcount) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (hash) DO UPDATE SET refcount = blobs.refcount + excluded.refcount",
    )
    .bind(hash)
    .bind(body)
    .bind(body.len() as i64)
    .bind(refs)
    .execute(&mut **tx)
    .await?;
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
