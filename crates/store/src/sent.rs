//! What left this server: for each recipient a remote server accepted a queued message
//! for, the message's queue id, Message-ID and envelope sender, written in the
//! transaction that records the delivery and kept [`SENT_RETENTION_SECS`]. A delivery
//! report that comes back is believed only when it is about one of these messages and
//! names recipients it was sent to (see `estafeta_smtp::inbound::reports`).

use sqlx::{AssertSqlSafe, Row};

use crate::engine::{Db, WriteTx};
use crate::error::Result;
use crate::model::SentMessage;

/// How long a sent message is remembered: reports come back within days (a remote queue
/// gives up after five by default), 30 days leaves room for slow ones.
pub const SENT_RETENTION_SECS: i64 = 30 * 86_400;

/// Most identifiers looked up for one report.
pub const MAX_LOOKUP_IDS: usize = 16;

/// Records recipient `$2`'s message as sent at `$1` (not for the null sender's).
pub(crate) const RECORD: &str = "INSERT INTO sent_messages (queue_id, recipient, message_id, sender, sent_at) \
     SELECT m.id, r.address, m.message_id, m.sender, $1 \
     FROM queue_recipients r JOIN queue_messages m ON m.id = r.queue_id \
     WHERE r.id = $2 AND m.sender <> '' \
     ON CONFLICT (queue_id, recipient) DO UPDATE SET sent_at = excluded.sent_at";
/// Forgets what was sent before `$1`.
pub(crate) const EXPIRE: &str = "DELETE FROM sent_messages WHERE sent_at < $1";

/// Records the delivered queue recipient `recipient_id` (its message is still queued: the
/// outcome is being written in `w`), and forgets what is older than the retention.
/// Mail from the null sender (reports) is not recorded: nothing reports about it.
pub(crate) async fn record(w: &mut WriteTx<'_>, recipient_id: i64, at: i64) -> Result<()> {
    sqlx::query(RECORD)
        .bind(at)
        .bind(recipient_id)
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

/// Forgets what was sent before the retention: once per transaction that recorded
/// deliveries, not once per recipient.
pub(crate) async fn expire(w: &mut WriteTx<'_>, at: i64) -> Result<()> {
    sqlx::query(EXPIRE)
        .bind(at - SENT_RETENTION_SECS)
        .execute(&mut *w.tx)
        .await?;
    Ok(())
}

impl Db {
    /// The sent messages (within the retention) whose queue id is one of `queue_ids` or
    /// whose Message-ID is one of `message_ids`; at most [`MAX_LOOKUP_IDS`] of each are
    /// looked up.
    pub async fn sent_messages(
        &self,
        queue_ids: &[String],
        message_ids: &[String],
    ) -> Result<Vec<SentMessage>> {
        let queue_ids: Vec<String> = queue_ids
            .iter()
            .take(MAX_LOOKUP_IDS)
            .map(|q| q.to_ascii_uppercase())
            .collect();
        let message_ids = &message_ids[..message_ids.len().min(MAX_LOOKUP_IDS)];
        if queue_ids.is_empty() && message_ids.is_empty() {
            return Ok(Vec::new());
        }
        // one placeholder per identifier: the same SQL for both engines
        let mut n = 1;
        let mut list = |count: usize| {
            let marks: Vec<String> = (0..count)
                .map(|_| {
                    let m = format!("${n}");
                    n += 1;
                    m
                })
                .collect();
            if marks.is_empty() {
                "NULL".to_string()
            } else {
                marks.join(", ")
            }
        };
        let by_queue = list(queue_ids.len());
        let by_message = list(message_ids.len());
        let cutoff = format!("${n}");
        let sql = format!(
            "SELECT queue_id, recipient, message_id, sender, sent_at FROM sent_messages \
             WHERE (queue_id IN ({by_queue}) OR message_id IN ({by_message})) AND sent_at >= {cutoff} \
             ORDER BY queue_id, recipient"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for id in queue_ids.iter().chain(message_ids) {
            query = query.bind(id.clone());
        }
        let rows = query
            .bind(crate::now() - SENT_RETENTION_SECS)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<SentMessage> = Vec::new();
        for row in &rows {
            let queue_id: String = row.try_get("queue_id")?;
            let recipient: String = row.try_get("recipient")?;
            let sent_at: i64 = row.try_get("sent_at")?;
            match out.last_mut() {
                Some(last) if last.queue_id == queue_id => {
                    last.recipients.push(recipient);
                    last.sent_at = last.sent_at.max(sent_at);
                }
                _ => out.push(SentMessage {
                    queue_id,
                    message_id: row.try_get("message_id")?,
                    sender: row.try_get("sender")?,
                    recipients: vec![recipient],
                    sent_at,
                }),
            }
        }
        Ok(out)
    }
}
