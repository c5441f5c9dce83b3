//! The outbound queue — the store's [`Queue`]: acceptance (through the group committer),
//! listing, leasing due recipients to a worker, recording outcomes, the delivery reports
//! they owe, and the operator's retry and delete.
//!
//! A lease is (owner, expiry): a worker that dies simply lets it run out and another
//! takes the recipient; on PostgreSQL `FOR UPDATE SKIP LOCKED` keeps nodes apart.
//!
//! Reports take two transactions, and a crash between them loses nothing. The first
//! (`record_attempt`) records outcomes with the report each owes (the recipient's `report`
//! mark) and names the messages owing one with nothing in flight; delivery builds the
//! reports from their bodies and hands them over in the second (`queue_reports`), which
//! queues them, clears the marks, and only then releases the body. A message keeps its
//! body while any mark is set, and `reports_owed` finds marks left by a process that
//! stopped in between. A hand-over applies only if the marks it names are all still set,
//! so a report is never queued twice, even by two nodes.
//!
//! On SQLite, `record_attempt` runs on the blocking writer (`record_embedded.rs`) with
//! the SQL constants below; the sqlx code here is PostgreSQL's.

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::accept::accept_in;
use crate::api::Queue;
use crate::blobs;
use crate::dsn_params::{Notify, Ret};
use crate::engine::WriteTx;
use crate::error::{Result, StoreError};
use crate::model::{
    Accept, Accepted, AttemptRecorded, DeliveryOutcome, Handoff, QueueRecipient, QueuedMessage,
    RecipientState, RecipientUpdate, ReportHandover, ReportKind, ReportsQueued, SentMessage,
};
use crate::now;
use crate::sent;
use crate::sql_store::SqlStore;

const RCPT_COLUMNS: &str = "id, queue_id, address, domain, orcpt, notify, state, attempts, \
                            next_attempt, last_reply, last_host, last_attempt, report, \
                            delay_reported, lease_owner, lease_until, failure";

fn recipient_from_row(row: &AnyRow) -> Result<QueueRecipient> {
    let state: String = row.try_get("state")?;
    let report: Option<String> = row.try_get("report")?;
    let delay_reported: i64 = row.try_get("delay_reported")?;
    Ok(QueueRecipient {
        id: row.try_get("id")?,
        queue_id: row.try_get("queue_id")?,
        address: row.try_get("address")?,
        domain: row.try_get("domain")?,
        orcpt: row.try_get("orcpt")?,
        notify: row
            .try_get::<Option<String>, _>("notify")?
            .as_deref()
            .and_then(Notify::parse),
        state: RecipientState::parse(&state)
            .ok_or_else(|| StoreError::Invalid(format!("unknown queue state {state:?}")))?,
        attempts: row.try_get("attempts")?,
        next_attempt: row.try_get("next_attempt")?,
        last_reply: row.try_get("last_reply")?,
        last_host: row.try_get("last_host")?,
        last_attempt: row.try_get("last_attempt")?,
        report: report.as_deref().and_then(ReportKind::parse),
        delay_reported: delay_reported != 0,
        lease_owner: row.try_get("lease_owner")?,
        lease_until: row.try_get("lease_until")?,
        failure: row.try_get("failure")?,
    })
}

fn message_from_row(row: &AnyRow, recipients: Vec<QueueRecipient>) -> Result<QueuedMessage> {
    Ok(QueuedMessage {
        id: row.try_get("id")?,
        blob_hash: row.try_get("blob_hash")?,
        sender: row.try_get("sender")?,
        envid: row.try_get("envid")?,
        ret: row
            .try_get::<Option<String>, _>("ret")?
            .as_deref()
            .and_then(Ret::parse),
        size: row.try_get("size")?,
        created_at: row.try_get("created_at")?,
        auth_user: row.try_get("auth_user")?,
        recipients,
    })
}

const MESSAGE_COLUMNS: &str = "id, blob_hash, sender, envid, ret, size, created_at, auth_user";

#[async_trait]
impl Queue for SqlStore {
    async fn accept(&self, message: Accept) -> Result<Accepted> {
        self.committer.accept(message).await
    }

    async fn queue_list(&self) -> Result<Vec<QueuedMessage>> {
        let messages = sqlx::query(AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM queue_messages ORDER BY created_at, id"
        )))
        .fetch_all(&self.db.pool)
        .await?;
        let recipients = sqlx::query(AssertSqlSafe(format!(
            "SELECT {RCPT_COLUMNS} FROM queue_recipients ORDER BY queue_id, id"
        )))
        .fetch_all(&self.db.pool)
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

    async fn queue_summary(&self) -> Result<(i64, Option<i64>)> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n, CAST(MIN(created_at) AS BIGINT) AS oldest FROM queue_messages",
        )
        .fetch_one(&self.db.pool)
        .await?;
        Ok((row.try_get("n")?, row.try_get("oldest")?))
    }

    async fn queue_get(&self, queue_id: &str) -> Result<Option<QueuedMessage>> {
        let mut conn = self.db.pool.acquire().await?;
        message_in(&mut conn, queue_id).await
    }

    /// The body of a queued message, `None` when the message is not queued (any more).
    async fn queue_body(&self, queue_id: &str) -> Result<Option<Vec<u8>>> {
        let row = sqlx::query(
            "SELECT b.hash, b.data, b.size FROM queue_messages m JOIN blobs b ON b.hash = m.blob_hash WHERE m.id = $1",
        )
        .bind(queue_id)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let hash: String = row.try_get("hash")?;
        crate::blobs::whole(
            &self.db.pool,
            &hash,
            row.try_get("data")?,
            row.try_get("size")?,
        )
        .await
    }

    async fn lease_due(
        &self,
        owner: &str,
        now: i64,
        max: i64,
        lease_secs: i64,
    ) -> Result<Vec<QueueRecipient>> {
        let mut w = self.db.begin_write().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "UPDATE queue_recipients SET lease_owner = $1, lease_until = $2 WHERE id IN ( \
               SELECT id FROM queue_recipients \
               WHERE state IN ('queued', 'deferred') AND next_attempt <= $3 \
                 AND (lease_until IS NULL OR lease_until < $3) \
               ORDER BY next_attempt, id LIMIT $4 {}) \
             RETURNING {RCPT_COLUMNS}",
            self.db.skip_locked()
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

    /// Extends every lease `owner` holds to `until`; returns how many.
    async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64> {
        let mut w = self.db.begin_write().await?;
        let n = sqlx::query("UPDATE queue_recipients SET lease_until = $1 WHERE lease_owner = $2")
            .bind(until)
            .bind(owner)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        w.commit().await?;
        Ok(n)
    }

    /// Gives up every lease `owner` holds (a worker stopping cleanly); returns how many.
    async fn release_leases(&self, owner: &str) -> Result<u64> {
        let mut w = self.db.begin_write().await?;
        let n = sqlx::query(
            "UPDATE queue_recipients SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM nodes WHERE owner = $1")
            .bind(owner)
            .execute(&mut *w.tx)
            .await?;
        w.queue_changed().await?;
        w.commit().await?;
        Ok(n)
    }

    async fn heartbeat(&self, owner: &str, now: i64, dead_before: i64) -> Result<u64> {
        let mut w = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO nodes (owner, heartbeat) VALUES ($1, $2) \
             ON CONFLICT (owner) DO UPDATE SET heartbeat = excluded.heartbeat",
        )
        .bind(owner)
        .bind(now)
        .execute(&mut *w.tx)
        .await?;
        let dead: Vec<String> =
            sqlx::query_scalar("SELECT owner FROM nodes WHERE heartbeat < $1 AND owner <> $2")
                .bind(dead_before)
                .bind(owner)
                .fetch_all(&mut *w.tx)
                .await?;
        let mut freed = 0;
        for node in &dead {
            freed += sqlx::query(
                "UPDATE queue_recipients SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            )
            .bind(node)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
            sqlx::query("DELETE FROM nodes WHERE owner = $1")
                .bind(node)
                .execute(&mut *w.tx)
                .await?;
        }
        if freed > 0 {
            // every node looks: the work is due again
            w.queue_changed().await?;
        }
        w.commit().await?;
        for node in &dead {
            tracing::warn!(node = %node, "a delivery node stopped beating: its leases freed");
        }
        Ok(freed)
    }

    async fn release_other_leases(&self, owner: &str) -> Result<u64> {
        let mut w = self.db.begin_write().await?;
        let n = sqlx::query(
            "UPDATE queue_recipients SET lease_owner = NULL, lease_until = NULL \
             WHERE lease_owner IS NOT NULL AND lease_owner <> $1",
        )
        .bind(owner)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM nodes WHERE owner <> $1")
            .bind(owner)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(n)
    }

    /// When the next recipient becomes due (its next attempt, or the end of the lease that
    /// holds it), `None` when nothing waits.
    async fn queue_next_due(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until >= next_attempt \
                        THEN lease_until + 1 ELSE next_attempt END) \
             FROM queue_recipients WHERE state IN ('queued', 'deferred')",
        )
        .fetch_one(&self.db.pool)
        .await?)
    }

    /// Makes the waiting recipients of one message (or of every message) due now; returns
    /// how many.
    async fn queue_retry(&self, queue_id: Option<&str>) -> Result<u64> {
        let mut w = self.db.begin_write().await?;
        let at = now();
        let n = match queue_id {
            Some(id) => sqlx::query(
                "UPDATE queue_recipients SET next_attempt = $1 \
                 WHERE state IN ('queued', 'deferred') AND queue_id = $2",
            )
            .bind(at)
            .bind(id)
            .execute(&mut *w.tx)
            .await?
            .rows_affected(),
            None => sqlx::query(
                "UPDATE queue_recipients SET next_attempt = $1 WHERE state IN ('queued', 'deferred')",
            )
            .bind(at)
            .execute(&mut *w.tx)
            .await?
            .rows_affected(),
        };
        if n > 0 {
            w.queue_changed().await?;
        }
        w.commit().await?;
        Ok(n)
    }

    /// Removes a message from the queue without a report; false when it is not queued.
    async fn queue_delete(&self, queue_id: &str) -> Result<bool> {
        let mut w = self.db.begin_write().await?;
        let Some(hash) = lock_message(&mut w, queue_id).await? else {
            return Ok(false);
        };
        remove_message(&mut w, queue_id, &hash).await?;
        w.commit().await?;
        Ok(true)
    }

    async fn record_attempt(
        &self,
        owner: &str,
        updates: &[RecipientUpdate],
    ) -> Result<AttemptRecorded> {
        if let Some(writer) = &self.db.writer {
            return crate::record_embedded::record_attempt(&self.db, writer, owner, updates).await;
        }
        let at = now();
        let mut done = AttemptRecorded::default();
        let messages = in_lock_order(updates);
        let mut w = self.db.begin_write().await?;
        let serialised = w.db().writers_serialised();
        for queue_id in messages {
            // The message row is locked first (PostgreSQL; SQLite's writer lock does that
            // already, so there it is not read), so two workers finishing recipients of
            // one message settle it one after the other, the second seeing the first's
            // outcome. A message deleted meanwhile has no recipients left: its updates
            // find no row.
            let mine = updates.iter().filter(|u| u.queue_id == queue_id);
            if !serialised && lock_message(&mut w, queue_id).await?.is_none() {
                done.conflicts.extend(mine.map(|u| u.recipient_id));
                continue;
            }
            let mut recorded = false;
            for u in mine {
                if record_one(&mut w, owner, u, at).await? {
                    recorded = true;
                } else {
                    done.conflicts.push(u.recipient_id);
                }
            }
            if recorded {
                settle(&mut w, queue_id, at, &mut done).await?;
            }
        }
        if any_delivered(updates) {
            sent::expire(&mut w, at).await?;
        }
        w.commit().await?;
        Ok(done)
    }

    async fn reports_owed(&self, max: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT DISTINCT r.queue_id FROM queue_recipients r \
             WHERE r.report IS NOT NULL AND NOT EXISTS ( \
               SELECT 1 FROM queue_recipients l WHERE l.queue_id = r.queue_id \
                 AND l.lease_owner IS NOT NULL AND l.lease_until >= $1) \
             ORDER BY r.queue_id LIMIT $2",
        )
        .bind(now())
        .bind(max)
        .fetch_all(&self.db.pool)
        .await?)
    }

    async fn queue_reports(&self, reports: &[ReportHandover]) -> Result<ReportsQueued> {
        let at = now();
        let mut done = ReportsQueued::default();
        if reports.is_empty() {
            return Ok(done);
        }
        // in the order record_attempt locks messages in
        let mut order: Vec<&ReportHandover> = reports.iter().collect();
        order.sort_by(|a, b| a.queue_id.cmp(&b.queue_id));
        let mut w = self.db.begin_write().await?;
        for h in order {
            if !still_owed(&mut w, h).await? {
                done.stale.push(h.queue_id.clone());
                continue;
            }
            if let Some(report) = &h.report {
                accept_in(&mut w, report, false).await?;
                done.reports
                    .push((h.queue_id.clone(), report.queue_id.clone()));
            }
            for (id, _) in &h.recipients {
                sqlx::query(
                    "UPDATE queue_recipients SET \
                       delay_reported = CASE WHEN report = 'delayed' THEN 1 ELSE delay_reported END, \
                       report = NULL \
                     WHERE id = $1",
                )
                .bind(id)
                .execute(&mut *w.tx)
                .await?;
            }
            let t = tally(&mut w, &h.queue_id, at).await?;
            if let (0, 0, Some(hash)) = (t.owed, t.open, t.hash) {
                remove_message(&mut w, &h.queue_id, &hash).await?;
                done.finished.push(h.queue_id.clone());
            }
        }
        w.commit().await?;
        Ok(done)
    }

    fn hand_off(
        &self,
        owner: &str,
        lease_secs: i64,
        max_body: usize,
        sender: tokio::sync::mpsc::Sender<Handoff>,
    ) {
        let mut target = self.db.handoff.lock().unwrap_or_else(|p| p.into_inner());
        *target = Some(crate::engine::HandoffTarget {
            owner: owner.to_string(),
            lease_secs,
            max_body,
            sender,
        });
    }

    async fn sent_messages(
        &self,
        queue_ids: &[String],
        message_ids: &[String],
    ) -> Result<Vec<SentMessage>> {
        self.db.sent_messages(queue_ids, message_ids).await
    }
}

/// The messages `updates` touch, each once, in a fixed order: concurrent transactions
/// lock them in the same order.
pub(crate) fn in_lock_order(updates: &[RecipientUpdate]) -> Vec<&str> {
    let mut messages: Vec<&str> = updates.iter().map(|u| u.queue_id.as_str()).collect();
    messages.sort_unstable();
    messages.dedup();
    messages
}

/// Whether any update is a delivery (the sent-messages record is then trimmed).
pub(crate) fn any_delivered(updates: &[RecipientUpdate]) -> bool {
    updates
        .iter()
        .any(|u| matches!(u.outcome, DeliveryOutcome::Delivered { .. }))
}

/// Locks a queued message's row until the transaction ends (PostgreSQL; SQLite's writer
/// lock serialises writers anyway); its body's hash, `None` when it is not queued.
async fn lock_message(w: &mut WriteTx<'_>, queue_id: &str) -> Result<Option<String>> {
    let for_update = w.db().for_update();
    Ok(sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT blob_hash FROM queue_messages WHERE id = $1 {for_update}"
    )))
    .bind(queue_id)
    .fetch_optional(&mut *w.tx)
    .await?)
}

/// A message's recipients at `$2`: in flight (leased), owing a report, still waiting;
/// and its body's hash.
pub(crate) const TALLY: &str = "SELECT \
       SUM(CASE WHEN lease_owner IS NOT NULL AND lease_until >= $2 THEN 1 ELSE 0 END) AS leased, \
       SUM(CASE WHEN report IS NOT NULL THEN 1 ELSE 0 END) AS owed, \
       SUM(CASE WHEN state IN ('queued', 'deferred') THEN 1 ELSE 0 END) AS open, \
       (SELECT blob_hash FROM queue_messages WHERE id = $1) AS hash \
     FROM queue_recipients WHERE queue_id = $1";

/// A message's recipients at `at`: in flight (leased), owing a report, still waiting.
pub(crate) struct Tally {
    pub leased: i64,
    pub owed: i64,
    pub open: i64,
    pub hash: Option<String>,
}

/// What becomes of a message once outcomes were written for it.
pub(crate) enum Settled {
    /// Recipients wait still, or reports are owed with some recipient in flight.
    Waits,
    /// Reports are owed and nothing is in flight: they are to be built now; the body
    /// stays for them (`queue_reports` removes the message).
    OwesReports,
    /// Every recipient is final and nothing is owed: the message goes, with its body.
    Finished(String),
}

impl Tally {
    pub fn settled(self) -> Settled {
        if self.owed > 0 {
            return if self.leased == 0 {
                Settled::OwesReports
            } else {
                Settled::Waits
            };
        }
        match (self.open, self.hash) {
            (0, Some(hash)) => Settled::Finished(hash),
            _ => Settled::Waits,
        }
    }
}

async fn tally(w: &mut WriteTx<'_>, queue_id: &str, at: i64) -> Result<Tally> {
    let row = sqlx::query(TALLY)
        .bind(queue_id)
        .bind(at)
        .fetch_one(&mut *w.tx)
        .await?;
    let count =
        |name: &str| -> Result<i64> { Ok(row.try_get::<Option<i64>, _>(name)?.unwrap_or(0)) };
    Ok(Tally {
        leased: count("leased")?,
        owed: count("owed")?,
        open: count("open")?,
        hash: row.try_get("hash")?,
    })
}

/// After outcomes were written for a message: lists it as owing reports once nothing of
/// it is in flight (a wait that groups the recipients failing in one round into one
/// report), or removes it when every recipient is final and nothing is owed.
async fn settle(
    w: &mut WriteTx<'_>,
    queue_id: &str,
    at: i64,
    done: &mut AttemptRecorded,
) -> Result<()> {
    match tally(w, queue_id, at).await?.settled() {
        Settled::Waits => {}
        Settled::OwesReports => done.owed.push(queue_id.to_string()),
        Settled::Finished(hash) => {
            remove_message(w, queue_id, &hash).await?;
            done.finished.push(queue_id.to_string());
        }
    }
    Ok(())
}

/// Whether every recipient the hand-over names still owes the report it names (the
/// message row locked first, as `record_attempt` does).
async fn still_owed(w: &mut WriteTx<'_>, h: &ReportHandover) -> Result<bool> {
    if h.recipients.is_empty() || lock_message(w, &h.queue_id).await?.is_none() {
        return Ok(false);
    }
    let rows = sqlx::query(
        "SELECT id, report FROM queue_recipients WHERE queue_id = $1 AND report IS NOT NULL",
    )
    .bind(&h.queue_id)
    .fetch_all(&mut *w.tx)
    .await?;
    let mut marked = Vec::with_capacity(rows.len());
    for row in &rows {
        let report: String = row.try_get("report")?;
        marked.push((row.try_get::<i64, _>("id")?, ReportKind::parse(&report)));
    }
    Ok(h.recipients
        .iter()
        .all(|(id, kind)| marked.contains(&(*id, Some(*kind)))))
}

/// Writes a recipient's outcome if `$9` still holds its lease.
pub(crate) const RECORD_OUTCOME: &str = "UPDATE queue_recipients SET state = $1, attempts = attempts + 1, \
       next_attempt = COALESCE($2, next_attempt), last_reply = $3, last_host = $4, \
       last_attempt = $5, report = $6, lease_owner = NULL, lease_until = NULL, updated_at = $5 \
     WHERE id = $7 AND queue_id = $8 AND lease_owner = $9";

impl DeliveryOutcome {
    /// The recipient's new state, the reply, and the next attempt when deferred.
    pub(crate) fn columns(&self) -> (RecipientState, &String, Option<i64>) {
        match self {
            DeliveryOutcome::Delivered { reply } => (RecipientState::Delivered, reply, None),
            DeliveryOutcome::Failed { reply } => (RecipientState::Failed, reply, None),
            DeliveryOutcome::Deferred {
                reply,
                next_attempt,
            } => (RecipientState::Deferred, reply, Some(*next_attempt)),
        }
    }
}

/// Writes one recipient's outcome if `owner` still holds its lease.
async fn record_one(
    w: &mut WriteTx<'_>,
    owner: &str,
    u: &RecipientUpdate,
    at: i64,
) -> Result<bool> {
    let (state, reply, next) = u.outcome.columns();
    let n = sqlx::query(RECORD_OUTCOME)
        .bind(state.as_str())
        .bind(next)
        .bind(reply)
        .bind(&u.host)
        .bind(at)
        .bind(u.report.map(ReportKind::as_str))
        .bind(u.recipient_id)
        .bind(&u.queue_id)
        .bind(owner)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
    if n == 1 && matches!(u.outcome, DeliveryOutcome::Delivered { .. }) {
        sent::record(w, u.recipient_id, at).await?;
    }
    Ok(n == 1)
}

/// A queued message with its recipients, read through `conn` (a pooled connection or an
/// open transaction).
async fn message_in(
    conn: &mut sqlx::AnyConnection,
    queue_id: &str,
) -> Result<Option<QueuedMessage>> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {MESSAGE_COLUMNS} FROM queue_messages WHERE id = $1"
    )))
    .bind(queue_id)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let recipients = sqlx::query(AssertSqlSafe(format!(
        "SELECT {RCPT_COLUMNS} FROM queue_recipients WHERE queue_id = $1 ORDER BY id"
    )))
    .bind(queue_id)
    .fetch_all(&mut *conn)
    .await?;
    let recipients = recipients
        .iter()
        .map(recipient_from_row)
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(message_from_row(&row, recipients)?))
}

pub(crate) const DELETE_RECIPIENTS: &str = "DELETE FROM queue_recipients WHERE queue_id = $1";
pub(crate) const DELETE_MESSAGE: &str = "DELETE FROM queue_messages WHERE id = $1";

async fn remove_message(w: &mut WriteTx<'_>, queue_id: &str, hash: &str) -> Result<()> {
    sqlx::query(DELETE_RECIPIENTS)
        .bind(queue_id)
        .execute(&mut *w.tx)
        .await?;
    sqlx::query(DELETE_MESSAGE)
        .bind(queue_id)
        .execute(&mut *w.tx)
        .await?;
    blobs::release(&mut w.tx, hash, 1).await
}
