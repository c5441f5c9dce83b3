//! IMAP METADATA (RFC 5464) annotations — the store's [`Metadata`]: per user, the server's
//! entries (no mailbox) and each mailbox's, by entry name. The store keeps names and
//! values as given (the IMAP server checks the syntax and lowercases names); it bounds
//! the number of entries per target inside the writing transaction, with the user's row
//! locked on PostgreSQL, so concurrent SETMETADATA cannot pass the bound together.
//! Entries are keyed by the mailbox's id: they follow RENAME, and go with DELETE
//! (`folders.rs`) and with the user.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use crate::api::Metadata;
use crate::error::Result;
use crate::model::MailboxChange;
use crate::sql_store::SqlStore;

/// The `mailbox_id` of server entries.
const SERVER: i64 = 0;

#[async_trait]
impl Metadata for SqlStore {
    async fn metadata(
        &self,
        user_id: i64,
        mailbox_id: Option<i64>,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let rows = sqlx::query(
            "SELECT name, value FROM metadata WHERE user_id = $1 AND mailbox_id = $2 ORDER BY name",
        )
        .bind(user_id)
        .bind(mailbox_id.unwrap_or(SERVER))
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("name")?, r.try_get("value")?)))
            .collect()
    }

    async fn set_metadata(
        &self,
        user_id: i64,
        mailbox_id: Option<i64>,
        changes: &[(String, Option<Vec<u8>>)],
        max_entries: usize,
    ) -> Result<bool> {
        let target = mailbox_id.unwrap_or(SERVER);
        let mut w = self.db.begin_write().await?;
        // one writer of a user's entries at a time, so that two commands cannot pass the
        // bound together (on SQLite the writer lock already does it)
        // only a fixed clause is formatted in
        sqlx::query(AssertSqlSafe(format!(
            "SELECT id FROM users WHERE id = $1 {}",
            self.db.for_update()
        )))
        .bind(user_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        for (name, value) in changes {
            match value {
                Some(v) => {
                    sqlx::query(
                        "INSERT INTO metadata (user_id, mailbox_id, name, value) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (user_id, mailbox_id, name) DO UPDATE SET value = excluded.value",
                    )
                    .bind(user_id)
                    .bind(target)
                    .bind(name)
                    .bind(v.as_slice())
                    .execute(&mut *w.tx)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "DELETE FROM metadata WHERE user_id = $1 AND mailbox_id = $2 AND name = $3",
                    )
                    .bind(user_id)
                    .bind(target)
                    .bind(name)
                    .execute(&mut *w.tx)
                    .await?;
                }
            }
        }
        let count: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM metadata WHERE user_id = $1 AND mailbox_id = $2",
        )
        .bind(user_id)
        .bind(target)
        .fetch_one(&mut *w.tx)
        .await?;
        if count as u64 > max_entries as u64 {
            // dropping the transaction rolls every change of the command back
            return Ok(false);
        }
        // watchers (IMAP NOTIFY) are told the mailbox, or 0 for the server's entries
        w.changed(MailboxChange {
            user_id,
            mailbox_id: target,
        })
        .await?;
        w.commit().await?;
        Ok(true)
    }
}
