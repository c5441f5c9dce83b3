//! JMAP's view of a user's messages — the store's [`Emails`]: every copy in every folder
//! of the user at once (an Email is the user's copies of one body: its id is the body's
//! hash), the copies of given bodies, what was expunged since a MODSEQ with its body's
//! hash, and the blobs uploaded over JMAP, kept a day.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use crate::api::Emails;
use crate::error::{Result, StoreError};
use crate::mailbox::{entry_from_row, to_u32};
use crate::model::MailboxEntry;
use crate::sql_store::SqlStore;

/// How long an upload is kept (RFC 8620 §6.1 asks for at least an hour).
pub const UPLOAD_LIFETIME_SECS: i64 = 24 * 3600;

/// Most hashes looked up in one statement.
const HASHES_PER_QUERY: usize = 500;

const ENTRY_COLUMNS: &str =
    "m.mailbox_id, m.uid, m.blob_hash, m.flags, m.internal_date, m.size, m.modseq, m.saved_at";

/// An upload read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub content_type: String,
    pub data: Vec<u8>,
}

#[async_trait]
impl Emails for SqlStore {
    async fn user_messages(&self, user_id: i64) -> Result<Vec<MailboxEntry>> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM mailbox_messages m JOIN mailboxes b ON b.id = m.mailbox_id \
             WHERE b.user_id = $1 ORDER BY m.mailbox_id, m.uid"
        )))
        .bind(user_id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    async fn messages_by_hash(&self, user_id: i64, hashes: &[String]) -> Result<Vec<MailboxEntry>> {
        let mut out = Vec::new();
        for chunk in hashes.chunks(HASHES_PER_QUERY) {
            // only placeholders are formatted in
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT {ENTRY_COLUMNS} FROM mailbox_messages m JOIN mailboxes b ON b.id = m.mailbox_id \
                 WHERE b.user_id = $1 AND m.blob_hash IN ({}) ORDER BY m.mailbox_id, m.uid",
                marks.join(",")
            );
            let mut q = sqlx::query(AssertSqlSafe(sql)).bind(user_id);
            for h in chunk {
                q = q.bind(h.as_str());
            }
            for row in q.fetch_all(&self.db.pool).await? {
                out.push(entry_from_row(&row)?);
            }
        }
        Ok(out)
    }

    async fn mailbox_emails(
        &self,
        mailbox_id: i64,
        newest_first: bool,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<(String, i64)>> {
        // only a fixed word is formatted in
        let order = if newest_first { "DESC" } else { "ASC" };
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT blob_hash, MIN(internal_date) AS received FROM mailbox_messages WHERE mailbox_id = $1 \
             GROUP BY blob_hash ORDER BY received {order}, blob_hash LIMIT $2 OFFSET $3"
        )))
        .bind(mailbox_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("blob_hash")?, r.try_get("received")?)))
            .collect()
    }

    async fn mailbox_email_count(&self, mailbox_id: i64) -> Result<i64> {
        Ok(sqlx::query_scalar(
            "SELECT CAST(COUNT(DISTINCT blob_hash) AS BIGINT) FROM mailbox_messages WHERE mailbox_id = $1",
        )
        .bind(mailbox_id)
        .fetch_one(&self.db.pool)
        .await?)
    }

    async fn expunged_since(
        &self,
        mailbox_id: i64,
        modseq: i64,
    ) -> Result<Vec<(u32, Option<String>)>> {
        let rows = sqlx::query(
            "SELECT uid, blob_hash FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
        )
        .bind(mailbox_id)
        .bind(modseq)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((to_u32(r.try_get("uid")?)?, r.try_get("blob_hash")?)))
            .collect()
    }

    async fn put_upload(
        &self,
        user_id: i64,
        id: &str,
        content_type: &str,
        data: &[u8],
        now: i64,
        max_total: i64,
    ) -> Result<()> {
        let mut w = self.db.begin_write().await?;
        sqlx::query("DELETE FROM jmap_uploads WHERE created_at < $1")
            .bind(now - UPLOAD_LIFETIME_SECS)
            .execute(&mut *w.tx)
            .await?;
        // one uploader of a user's blobs at a time (on SQLite the writer lock does it)
        sqlx::query(AssertSqlSafe(format!(
            "SELECT id FROM users WHERE id = $1 {}",
            self.db.for_update()
        )))
        .bind(user_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let held: i64 = sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM jmap_uploads WHERE user_id = $1",
        )
        .bind(user_id)
        .fetch_one(&mut *w.tx)
        .await?;
        let size = data.len() as i64;
        if held + size > max_total {
            return Err(StoreError::OverQuota(format!(
                "uploads: {held} of {max_total} bytes held, {size} more requested"
            )));
        }
        sqlx::query(
            "INSERT INTO jmap_uploads (id, user_id, content_type, data, size, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(user_id)
        .bind(content_type)
        .bind(data)
        .bind(size)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(())
    }

    async fn upload(&self, user_id: i64, id: &str, now: i64) -> Result<Option<Upload>> {
        let row = sqlx::query(
            "SELECT content_type, data FROM jmap_uploads WHERE id = $1 AND user_id = $2 AND created_at >= $3",
        )
        .bind(id)
        .bind(user_id)
        .bind(now - UPLOAD_LIFETIME_SECS)
        .fetch_optional(&self.db.pool)
        .await?;
        row.map(|r| {
            Ok(Upload {
                content_type: r.try_get("content_type")?,
                data: r.try_get("data")?,
            })
        })
        .transpose()
    }
}
