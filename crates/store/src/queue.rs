//! The outbound queue: listing, leasing due recipients to a worker, recording outcomes.
//! A lease is (owner, expiry): a worker that dies simply lets it run out and another
//! takes the recipient; on PostgreSQL `FOR UPDATE SKIP LOCKED` keeps nodes apart.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::blobs;
use crate::engine::Db;
use crate::error::{Result, StoreError};
use crate::model::{Outcome, QueueRecipient, QueuedMessage, RecipientState};
use crate::now;

const RCPT_COLUMNS: &str = "id, queue_id, address, domain, orcpt, notify, state, attempts, \
                            next_attempt, last_reply, lease_owner, lease_until";

fn recipient_from_row(row: &AnyRow) -> Result<QueueRecipient> {
    let state: String = row.try_get("state")?;
    Ok(QueueRecipient {
        id: row.try_get("id")?,
        queue_id: row.try_get("queue_id")?,
        address: row.try_get("address")?,
        domain: row.try_get("domain")?,
        orcpt: row.try_get("orcpt")?,
        notify: row.try_get("notify")?,
        state: RecipientState::parse(&state)
            .ok_or_else(|| StoreError::Invalid(format!("unknown queue state {state:?}")))?,
        attempts: row.try_get("attempts")?,
        next_attempt: row.try_get("next_attempt")?,
        last_reply: row.try_get("last_reply")?,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
    })
}

fn message_from_row(row: &AnyRow, recipients: Vec<QueueRecipient>) -> Result<QueuedMessage> {
    Ok(QueuedMessage {
        id: row.try_get("id")?,
        blob_hash: row.try_get("blob_hash")?,
        sender: row.try_get("sender")?,
        envid: row.try_get("envid")?,
        ret: row.try_get("ret")?,
        size: row.try_get("size")?,
        created_at: row.try_get("created_at")?,
        recipients,
    })
}

const MESSAGE_COLUMNS: &str = "id, blob_hash, sender, envid, ret, size, created_at";

impl Db {
    pub async fn queue_list(&self) -> Result<Vec<QueuedMessage>> {
        let messages = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM queue_messages ORDER BY created_at, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        let recipients = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RCPT_COLUMNS} FROM queue_recipients ORDER BY queue_id, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        let mut by_message: std::collections::HashMap<String, Vec<QueueRecipient>> =
            std::collections::HashMap::new();
        for row in &recipients {
            let r = recipient_from_row(row)?;
            by_message.entry(r.queue_id.clone()).or_default().push(r);
        }
        messages
            .iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                message_from_row(row, by_message.remove(&id).unwrap_or_default())
            })
            .collect()
    }

    pub async fn queue_get(&self, queue_id: &str) -> Result<Option<QueuedMessage>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM queue_messages WHERE id = $1"
        )))
        .bind(queue_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let recipients = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RCPT_COLUMNS} FROM queue_recipients WHERE queue_id = $1 ORDER BY id"
        )))
        .bind(queue_id)
        .fetch_all(&self.pool)
        .await?;
        let recipients = recipients
            .iter()
            .map(recipient_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Some(message_from_row(&row, recipients)?))
    }

    pub async fn lease_due(
        &self,
        owner: &str,
        now: i64,
        max: i64,
        lease_secs: i64,
    ) -> Result<Vec<QueueRecipient>> {
        let mut w = self.begin_write().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE queue_recipients SET lease_owner = $1, lease_until = $2 WHERE id IN ( \
               SELECT id FROM queue_recipients \
               WHERE state IN ('queued', 'deferred') AND next_attempt <= $3 \
                 AND (lease_until IS NULL OR lease_until < $3) \
               ORDER BY next_attempt, id LIMIT $4 {}) \
             RETURNING {RCPT_COLUMNS}",
            self.skip_locked()
        )))
        .bind(owner)
        .bind(now + lease_secs)
        .bind(now)
        .bind(max)
        .fetch_all(&mut *w.tx)
        .await?;
        w.commit().await?;
        let mut leased = rows
            .iter()
            .map(recipient_from_row)
            .collect::<Result<Vec<_>>>()?;
        leased.sort_by_key(|r| (r.next_attempt, r.id));
        Ok(leased)
    }

    pub async fn record_outcome(
        &self,
        recipient_id: i64,
        owner: &str,
        outcome: Outcome,
    ) -> Result<()> {
        let (state, reply, next) = match &outcome {
            Outcome::Delivered { reply } => (RecipientState::Delivered, reply, None),
            Outcome::Failed { reply } => (RecipientState::Failed, reply, None),
            Outcome::Deferred {
                reply,
                next_attempt,
            } => (RecipientState::Deferred, reply, Some(*next_attempt)),
        };
        let at = now();
        let mut w = self.begin_write().await?;
        let queue_id: Option<String> = sqlx::query_scalar(
            "UPDATE queue_recipients SET state = $1, attempts = attempts + 1, \
               next_attempt = COALESCE($2, next_attempt), last_reply = $3, \
               lease_owner = NULL, lease_until = NULL, updated_at = $4 \
             WHERE id = $5 AND lease_owner = $6 RETURNING queue_id",
        )
        .bind(state.as_str())
        .bind(next)
        .bind(reply)
        .bind(at)
        .bind(recipient_id)
        .bind(owner)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(queue_id) = queue_id else {
            return Err(StoreError::Conflict(format!(
                "recipient {recipient_id} is not leased by {owner}: another worker took it over"
            )));
        };
        let open: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue_recipients WHERE queue_id = $1 AND state NOT IN ('delivered', 'failed')",
        )
        .bind(&queue_id)
        .fetch_one(&mut *w.tx)
        .await?;
        if open == 0 {
            let hash: String =
                sqlx::query_scalar("SELECT blob_hash FROM queue_messages WHERE id = $1")
                    .bind(&queue_id)
                    .fetch_one(&mut *w.tx)
                    .await?;
            sqlx::query("DELETE FROM queue_recipients WHERE queue_id = $1")
                .bind(&queue_id)
                .execute(&mut *w.tx)
                .await?;
            sqlx::query("DELETE FROM queue_messages WHERE id = $1")
                .bind(&queue_id)
                .execute(&mut *w.tx)
                .await?;
            blobs::release(&mut w.tx, &hash, 1).await?;
        }
        w.commit().await
    }
}
