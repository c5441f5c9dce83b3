//! Mailboxes and their entries — the store's [`Mailboxes`]: listing, reading, summaries,
//! expunge. Every change bumps the mailbox's HIGHESTMODSEQ and gives the changed entries
//! that MODSEQ (RFC 7162).

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::api::Mailboxes;
use crate::blobs;
use crate::engine::WriteTx;
use crate::error::{Result, StoreError};
use crate::flags::Flags;
use crate::model::{Mailbox, MailboxChange, MailboxEntry, Summary};
use crate::sql_store::SqlStore;

/// A mailbox's columns, and whether its name is subscribed (a subscription is kept by
/// name, apart from the mailbox: see `folders.rs`).
const MAILBOX_COLUMNS: &str = "id, user_id, name, special_use, uidvalidity, uidnext, highestmodseq, recent_uid, \
     CASE WHEN EXISTS (SELECT 1 FROM subscriptions s \
       WHERE s.user_id = mailboxes.user_id AND s.name = mailboxes.name) THEN 1 ELSE 0 END AS subscribed";

fn mailbox_from_row(row: &AnyRow) -> Result<Mailbox> {
    Ok(Mailbox {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        name: row.try_get("name")?,
        special_use: row.try_get("special_use")?,
        uidvalidity: to_u32(row.try_get("uidvalidity")?)?,
        uidnext: to_u32(row.try_get("uidnext")?)?,
        highestmodseq: row.try_get("highestmodseq")?,
        subscribed: row.try_get::<i64, _>("subscribed")? != 0,
        recent_uid: to_u32(row.try_get("recent_uid")?)?,
    })
}

pub(crate) fn entry_from_row(row: &AnyRow) -> Result<MailboxEntry> {
    Ok(MailboxEntry {
        mailbox_id: row.try_get("mailbox_id")?,
        uid: to_u32(row.try_get("uid")?)?,
        blob_hash: row.try_get("blob_hash")?,
        flags: Flags::parse(&row.try_get::<String, _>("flags")?),
        internal_date: row.try_get("internal_date")?,
        size: row.try_get("size")?,
        modseq: row.try_get("modseq")?,
        saved_at: row.try_get("saved_at")?,
    })
}

pub(crate) fn to_u32(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Invalid(format!("value {v} out of 32-bit range")))
}

/// Takes the next MODSEQ of a mailbox (and, with `new_uid`, the next UID too).
/// Returns (user id, UID or 0, MODSEQ). The row stays locked until the transaction ends,
/// so on PostgreSQL concurrent writers to one mailbox take their numbers in commit order.
pub(crate) async fn bump(
    w: &mut WriteTx<'_>,
    mailbox_id: i64,
    new_uid: bool,
) -> Result<(i64, u32, i64)> {
    let sql = if new_uid {
        "UPDATE mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 \
         WHERE id = $1 RETURNING user_id, uidnext - 1 AS uid, highestmodseq"
    } else {
        "UPDATE mailboxes SET highestmodseq = highestmodseq + 1 \
         WHERE id = $1 RETURNING user_id, 0 AS uid, highestmodseq"
    };
    let row = sqlx::query(sql)
        .bind(mailbox_id)
        .fetch_optional(&mut *w.tx)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id} does not exist")))?;
    let user_id: i64 = row.try_get("user_id")?;
    let uid = to_u32(row.try_get::<i64, _>("uid")?)?;
    let modseq: i64 = row.try_get("highestmodseq")?;
    w.changed(MailboxChange {
        user_id,
        mailbox_id,
    })
    .await?;
    Ok((user_id, uid, modseq))
}

#[async_trait]
impl Mailboxes for SqlStore {
    async fn list_mailboxes(&self, user_id: i64) -> Result<Vec<Mailbox>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = $1 ORDER BY id"
        )))
        .bind(user_id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(mailbox_from_row).collect()
    }

    async fn mailbox_by_id(&self, mailbox_id: i64) -> Result<Option<Mailbox>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = $1"
        )))
        .bind(mailbox_id)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(mailbox_from_row).transpose()
    }

    async fn claim_recent(&self, mailbox_id: i64) -> Result<(u32, u32)> {
        let mut w = self.db.begin_write().await?;
        // the row locked first (PostgreSQL), so that two sessions cannot take the same
        // messages; SQLite's write transactions are one at a time anyway
        sqlx::query("UPDATE mailboxes SET recent_uid = recent_uid WHERE id = $1")
            .bind(mailbox_id)
            .execute(&mut *w.tx)
            .await?;
        let row = sqlx::query("SELECT recent_uid, uidnext FROM mailboxes WHERE id = $1")
            .bind(mailbox_id)
            .fetch_optional(&mut *w.tx)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("mailbox {mailbox_id} does not exist")))?;
        let from = to_u32(row.try_get("recent_uid")?)?;
        let to = to_u32(row.try_get::<i64, _>("uidnext")? - 1)?;
        if to > from {
            sqlx::query("UPDATE mailboxes SET recent_uid = $1 WHERE id = $2")
                .bind(i64::from(to))
                .bind(mailbox_id)
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit().await?;
        Ok((from, to.max(from)))
    }

    /// The cached summaries of the bodies of UIDs `first..=last`, in UID order.
    async fn read_summaries(&self, mailbox_id: i64, first: u32, last: u32) -> Result<Vec<Summary>> {
        let rows = sqlx::query(
            "SELECT m.uid, m.blob_hash, b.summary FROM mailbox_messages m \
             JOIN blobs b ON b.hash = m.blob_hash \
             WHERE m.mailbox_id = $1 AND m.uid >= $2 AND m.uid <= $3 ORDER BY m.uid",
        )
        .bind(mailbox_id)
        .bind(i64::from(first))
        .bind(i64::from(last))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(Summary {
                    uid: to_u32(row.try_get("uid")?)?,
                    blob_hash: row.try_get("blob_hash")?,
                    summary: row.try_get("summary")?,
                })
            })
            .collect()
    }

    /// Keeps summaries beside their bodies (bodies gone meanwhile are skipped).
    async fn save_summaries(&self, summaries: &[(String, Vec<u8>)]) -> Result<()> {
        if summaries.is_empty() {
            return Ok(());
        }
        let mut w = self.db.begin_write().await?;
        for (hash, summary) in summaries {
            sqlx::query("UPDATE blobs SET summary = $1 WHERE hash = $2")
                .bind(summary.as_slice())
                .bind(hash.as_str())
                .execute(&mut *w.tx)
                .await?;
        }
        w.commit().await
    }

    async fn get_mailbox(&self, user_id: i64, name: &str) -> Result<Option<Mailbox>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE user_id = $1 AND name = $2"
        )))
        .bind(user_id)
        .bind(name)
        .fetch_optional(&self.db.pool)
        .await?;
        row.as_ref().map(mailbox_from_row).transpose()
    }

    async fn list_messages(&self, mailbox_id: i64) -> Result<Vec<MailboxEntry>> {
        let rows = sqlx::query(
            "SELECT mailbox_id, uid, blob_hash, flags, internal_date, size, modseq, saved_at \
             FROM mailbox_messages WHERE mailbox_id = $1 ORDER BY uid",
        )
        .bind(mailbox_id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Messages with UIDs in `first..=last`, as readers see them, in UID order.
    async fn read_messages(
        &self,
        mailbox_id: i64,
        first: u32,
        last: u32,
    ) -> Result<Vec<(u32, Vec<u8>)>> {
        const QUERY: &str = "SELECT m.uid, m.prefix, m.blob_hash, b.data, b.size FROM mailbox_messages m \
             JOIN blobs b ON b.hash = m.blob_hash \
             WHERE m.mailbox_id = $1 AND m.uid >= $2 AND m.uid <= $3 ORDER BY m.uid";
        let read: Vec<crate::body_reader::Read> = if let Some(bodies) = &self.db.bodies {
            bodies.read(mailbox_id, first, last).await?
        } else {
            let rows = sqlx::query(QUERY)
                .bind(mailbox_id)
                .bind(i64::from(first))
                .bind(i64::from(last))
                .fetch_all(&self.db.pool)
                .await?;
            let mut read = Vec::with_capacity(rows.len());
            for row in rows {
                let prefix: &[u8] = row.try_get("prefix")?;
                let data: &[u8] = row.try_get("data")?;
                let size: i64 = row.try_get("size")?;
                read.push(crate::body_reader::assemble(
                    row.try_get("uid")?,
                    prefix,
                    data,
                    size,
                    || row.try_get("blob_hash"),
                )?);
            }
            read
        };
        let mut out = Vec::with_capacity(read.len());
        for (uid, mut bytes, in_pieces) in read {
            if let Some((hash, size)) = in_pieces {
                // a body kept in pieces, put together; gone meanwhile: as if expunged
                let Some(body) = blobs::whole(&self.db.pool, &hash, Vec::new(), size).await? else {
                    continue;
                };
                bytes.extend_from_slice(&body);
            }
            out.push((uid, bytes));
        }
        Ok(out)
    }

    async fn read_message_range(
        &self,
        mailbox_id: i64,
        uid: u32,
        start: u64,
        len: u64,
    ) -> Result<Option<Vec<u8>>> {
        // the prefix is a few lines, read whole; of the body only the piece asked for
        // (substr counts from 1; both engines take it on a BLOB/BYTEA). A body kept in
        // pieces has an empty `data`: its piece comes from the pieces it lies in.
        // no stored message reaches 2 GiB: both fit the engines' INTEGER
        let start = start.min(i32::MAX as u64) as i64;
        let len = len.min(i32::MAX as u64) as i64;
        let row = sqlx::query(
            "SELECT m.prefix, m.blob_hash, b.size, CAST(length(b.data) AS BIGINT) AS kept, substr(b.data, \
               CAST((CASE WHEN $3 > length(m.prefix) THEN $3 - length(m.prefix) ELSE 0 END) + 1 AS INTEGER), \
               CAST($4 AS INTEGER)) AS piece \
             FROM mailbox_messages m JOIN blobs b ON b.hash = m.blob_hash \
             WHERE m.mailbox_id = $1 AND m.uid = $2",
        )
        .bind(mailbox_id)
        .bind(i64::from(uid))
        .bind(start)
        .bind(len)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let prefix: Vec<u8> = row.try_get("prefix")?;
        let size: i64 = row.try_get("size")?;
        let kept: i64 = row.try_get("kept")?;
        let piece: Vec<u8> = if kept < size {
            let hash: String = row.try_get("blob_hash")?;
            let from = (start - prefix.len() as i64).max(0);
            let to = (start + len - prefix.len() as i64).clamp(0, size);
            blobs::range(&self.db.pool, &hash, from, to).await?
        } else {
            row.try_get("piece")?
        };
        let len = len as usize;
        let mut out = Vec::with_capacity(len.min(prefix.len() + piece.len()));
        if let Some(head) = usize::try_from(start).ok().and_then(|s| prefix.get(s..)) {
            out.extend_from_slice(&head[..head.len().min(len)]);
        }
        let room = len - out.len();
        out.extend_from_slice(&piece[..piece.len().min(room)]);
        Ok(Some(out))
    }

    async fn expunge(&self, mailbox_id: i64, uids: &[u32]) -> Result<i64> {
        self.expunge_where(mailbox_id, uids, false)
            .await
            .map(|(m, _)| m)
    }

    /// IMAP EXPUNGE: removes those of `uids` that carry `\Deleted` at this moment (another
    /// session may have taken the flag off since the client looked). Returns the UIDs removed.
    async fn expunge_deleted(&self, mailbox_id: i64, uids: &[u32]) -> Result<Vec<u32>> {
        self.expunge_where(mailbox_id, uids, true)
            .await
            .map(|(_, gone)| gone)
    }
}

impl SqlStore {
    async fn expunge_where(
        &self,
        mailbox_id: i64,
        uids: &[u32],
        only_deleted: bool,
    ) -> Result<(i64, Vec<u32>)> {
        let mut w = self.db.begin_write().await?;
        let (_, _, modseq) = bump(&mut w, mailbox_id, false).await?;
        let mut gone = Vec::with_capacity(uids.len());
        for &uid in uids {
            if only_deleted {
                let flags: Option<String> = sqlx::query_scalar(
                    "SELECT flags FROM mailbox_messages WHERE mailbox_id = $1 AND uid = $2",
                )
                .bind(mailbox_id)
                .bind(i64::from(uid))
                .fetch_optional(&mut *w.tx)
                .await?;
                if !flags.is_some_and(|f| Flags::parse(&f).contains("\\Deleted")) {
                    continue;
                }
            }
            let hash: Option<String> = sqlx::query_scalar(
                "DELETE FROM mailbox_messages WHERE mailbox_id = $1 AND uid = $2 RETURNING blob_hash",
            )
            .bind(mailbox_id)
            .bind(i64::from(uid))
            .fetch_optional(&mut *w.tx)
            .await?;
            let Some(hash) = hash else { continue };
            blobs::release(&mut w.tx, &hash, 1).await?;
            crate::messages::record_expunged(&mut w, mailbox_id, uid, modseq, Some(&hash)).await?;
            gone.push(uid);
        }
        w.commit().await?;
        Ok((modseq, gone))
    }
}
