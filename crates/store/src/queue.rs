//! The outbound queue: listing, leasing due recipients to a worker, recording outcomes
//! (and, in the same transaction, queuing the delivery report an outcome owes the
//! sender), and the operator's retry and delete.
//!
//! A lease is (owner, expiry): a worker that dies simply lets it run out and another
//! takes the recipient; on PostgreSQL `FOR UPDATE SKIP LOCKED` keeps nodes apart. A
//! message's body is released only when every recipient is final and no report is owed,
//! so a report is always built from the body it describes.

use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use crate::accept::accept_in;
use crate::address::normalize;
use crate::blobs;
use crate::engine::{Db, WriteTx};
use crate::error::{Result, StoreError};
use crate::model::{
    Accept, AttemptRecorded, LocalDelivery, Outcome, QueueRecipient, QueuedMessage, RecipientState,
    RecipientUpdate, RemoteRecipient, Report, ReportBuilder, ReportKind, Resolution,
};
use crate::sent;
use crate::{new_queue_id, now};

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
        notify: row.try_get("notify")?,
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
        ret: row.try_get("ret")?,
        size: row.try_get("size")?,
        created_at: row.try_get("created_at")?,
        recipients,
    })
}

const MESSAGE_COLUMNS: &str = "id, blob_hash, sender, envid, ret, size, created_at";

/// The prefix of a report's copy in a local INBOX: reports travel with the null sender.
const NULL_RETURN_PATH: &[u8] = b"Return-Path: <>\r\n";

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
        let mut conn = self.pool.acquire().await?;
        message_in(&mut conn, queue_id).await
    }

    /// The body of a queued message, `None` when the message is not queued (any more).
    pub async fn queue_body(&self, queue_id: &str) -> Result<Option<Vec<u8>>> {
        Ok(sqlx::query_scalar(
            "SELECT b.data FROM queue_messages m JOIN blobs b ON b.hash = m.blob_hash WHERE m.id = $1",
        )
        .bind(queue_id)
        .fetch_optional(&self.pool)
        .await?)
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

    /// Extends every lease `owner` holds to `until`; returns how many.
    pub async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64> {
        let mut w = self.begin_write().await?;
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
    pub async fn release_leases(&self, owner: &str) -> Result<u64> {
        let mut w = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE queue_recipients SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&mut *w.tx)
        .await?
        .rows_affected();
        w.queue_changed().await?;
        w.commit().await?;
        Ok(n)
    }

    /// When the next recipient becomes due (its next attempt, or the end of the lease that
    /// holds it), `None` when nothing waits.
    pub async fn queue_next_due(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until >= next_attempt \
                        THEN lease_until + 1 ELSE next_attempt END) \
             FROM queue_recipients WHERE state IN ('queued', 'deferred')",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    /// Makes the waiting recipients of one message (or of every message) due now; returns
    /// how many.
    pub async fn queue_retry(&self, queue_id: Option<&str>) -> Result<u64> {
        let mut w = self.begin_write().await?;
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
    pub async fn queue_delete(&self, queue_id: &str) -> Result<bool> {
        let mut w = self.begin_write().await?;
        let hash: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT blob_hash FROM queue_messages WHERE id = $1 {}",
            self.for_update()
        )))
        .bind(queue_id)
        .fetch_optional(&mut *w.tx)
        .await?;
        let Some(hash) = hash else {
            return Ok(false);
        };
        remove_message(&mut w, queue_id, &hash).await?;
        w.commit().await?;
        Ok(true)
    }

    pub async fn record_outcome(
        &self,
        recipient_id: i64,
        owner: &str,
        outcome: Outcome,
    ) -> Result<()> {
        let queue_id: Option<String> =
            sqlx::query_scalar("SELECT queue_id FROM queue_recipients WHERE id = $1")
                .bind(recipient_id)
                .fetch_optional(&self.pool)
                .await?;
        let conflict = || {
            StoreError::Conflict(format!(
                "recipient {recipient_id} is not leased by {owner}: another worker took it over"
            ))
        };
        let queue_id = queue_id.ok_or_else(conflict)?;
        let update = RecipientUpdate {
            recipient_id,
            queue_id,
            outcome,
            host: None,
            report: None,
        };
        let done = self.record_attempt(owner, &[update], &NoReports).await?;
        if done.conflicts.is_empty() {
            Ok(())
        } else {
            Err(conflict())
        }
    }

    /// Records outcomes of recipients leased by `owner`, all in one transaction. For each
    /// message touched, once none of its recipients is leased any more, the reports owed
    /// are built from its body (by `reports`) and queued; a message whose recipients are
    /// all final with nothing owed is removed and its body released.
    pub async fn record_attempt(
        &self,
        owner: &str,
        updates: &[RecipientUpdate],
        reports: &dyn ReportBuilder,
    ) -> Result<AttemptRecorded> {
        let at = now();
        let mut done = AttemptRecorded::default();
        // messages in a fixed order: concurrent transactions lock them in the same order
        let mut messages: Vec<&str> = updates.iter().map(|u| u.queue_id.as_str()).collect();
        messages.sort_unstable();
        messages.dedup();
        let mut w = self.begin_write().await?;
        for queue_id in messages {
            // On PostgreSQL the message row is locked first, so two workers finishing
            // recipients of one message settle it one after the other, the second seeing
            // the first's outcome (SQLite's writer lock does that already). A message
            // deleted meanwhile has no recipients left: its updates find no row.
            let exists = match self.kind {
                crate::engine::Kind::Postgres => sqlx::query_scalar::<_, String>(
                    "SELECT id FROM queue_messages WHERE id = $1 FOR UPDATE",
                )
                .bind(queue_id)
                .fetch_optional(&mut *w.tx)
                .await?
                .is_some(),
                crate::engine::Kind::Sqlite => true,
            };
            let mine = updates.iter().filter(|u| u.queue_id == queue_id);
            if !exists {
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
                self.settle(&mut w, queue_id, at, reports, &mut done)
                    .await?;
            }
        }
        w.commit().await?;
        Ok(done)
    }

    /// Queues the reports a message owes once nothing of it is in flight, and removes it
    /// when it is done.
    async fn settle(
        &self,
        w: &mut WriteTx<'_>,
        queue_id: &str,
        at: i64,
        reports: &dyn ReportBuilder,
        done: &mut AttemptRecorded,
    ) -> Result<()> {
        let row = sqlx::query(
            "SELECT \
               SUM(CASE WHEN lease_owner IS NOT NULL AND lease_until >= $2 THEN 1 ELSE 0 END) AS leased, \
               SUM(CASE WHEN report IS NOT NULL THEN 1 ELSE 0 END) AS owed, \
               SUM(CASE WHEN state IN ('queued', 'deferred') THEN 1 ELSE 0 END) AS open, \
               (SELECT blob_hash FROM queue_messages WHERE id = $1) AS hash \
             FROM queue_recipients WHERE queue_id = $1",
        )
        .bind(queue_id)
        .bind(at)
        .fetch_one(&mut *w.tx)
        .await?;
        let count =
            |name: &str| -> Result<i64> { Ok(row.try_get::<Option<i64>, _>(name)?.unwrap_or(0)) };
        let (leased, owed, open) = (count("leased")?, count("owed")?, count("open")?);
        let hash: Option<String> = row.try_get("hash")?;
        if owed > 0 && leased == 0 {
            if let Some(message) = message_in(&mut w.tx, queue_id).await? {
                let body: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT data FROM blobs WHERE hash = $1")
                        .bind(&message.blob_hash)
                        .fetch_optional(&mut *w.tx)
                        .await?;
                let reported: Vec<QueueRecipient> = message
                    .recipients
                    .iter()
                    .filter(|r| r.report.is_some())
                    .cloned()
                    .collect();
                let report = body.and_then(|b| reports.build(&message, &b, &reported));
                if let Some(report) = report
                    && let Some(accept) = self.report_accept(report, at).await?
                {
                    accept_in(w, &accept, false).await?;
                    done.reports
                        .push((queue_id.to_string(), accept.queue_id.clone()));
                }
            }
            sqlx::query(
                "UPDATE queue_recipients SET \
                   delay_reported = CASE WHEN report = 'delayed' THEN 1 ELSE delay_reported END, \
                   report = NULL \
                 WHERE queue_id = $1 AND report IS NOT NULL",
            )
            .bind(queue_id)
            .execute(&mut *w.tx)
            .await?;
        } else if owed > 0 {
            return Ok(()); // another recipient is in flight: its outcome settles the message
        }
        if let (0, Some(hash)) = (open, hash) {
            remove_message(w, queue_id, &hash).await?;
            done.finished.push(queue_id.to_string());
        }
        Ok(())
    }

    /// The acceptance of a report: to the local users the address resolves to (straight
    /// into their INBOX) and to outside addresses through the queue, from `<>`.
    async fn report_accept(&self, report: Report, at: i64) -> Result<Option<Accept>> {
        let to = match normalize(&report.to) {
            Ok(to) => to,
            Err(e) => {
                tracing::warn!(to = %report.to, error = %e, "delivery report not sent: the sender's address is not usable");
                return Ok(None);
            }
        };
        let (local, remote) = match self.resolve(&to).await? {
            Resolution::Deliver { users, external } => (
                users
                    .iter()
                    .map(|u| LocalDelivery {
                        user_id: u.id,
                        prefix: NULL_RETURN_PATH.to_vec(),
                    })
                    .collect(),
                external
                    .into_iter()
                    .map(|address| RemoteRecipient {
                        address,
                        ..RemoteRecipient::default()
                    })
                    .collect(),
            ),
            Resolution::NotLocal => (
                Vec::new(),
                vec![RemoteRecipient {
                    address: to.clone(),
                    ..RemoteRecipient::default()
                }],
            ),
            Resolution::UnknownUser => {
                tracing::warn!(to = %to, "delivery report not sent: no such local user");
                return Ok(None);
            }
        };
        if local.is_empty() && remote.is_empty() {
            return Ok(None);
        }
        Ok(Some(Accept {
            queue_id: new_queue_id(),
            body: report.body,
            sender: String::new(),
            envid: None,
            ret: None,
            auth_user: None,
            local,
            remote,
            failed: Vec::new(),
            message_id: None,
            internal_date: at,
        }))
    }
}

/// Writes one recipient's outcome if `owner` still holds its lease.
async fn record_one(
    w: &mut WriteTx<'_>,
    owner: &str,
    u: &RecipientUpdate,
    at: i64,
) -> Result<bool> {
    let (state, reply, next) = match &u.outcome {
        Outcome::Delivered { reply } => (RecipientState::Delivered, reply, None),
        Outcome::Failed { reply } => (RecipientState::Failed, reply, None),
        Outcome::Deferred {
            reply,
            next_attempt,
        } => (RecipientState::Deferred, reply, Some(*next_attempt)),
    };
    let n = sqlx::query(
        "UPDATE queue_recipients SET state = $1, attempts = attempts + 1, \
           next_attempt = COALESCE($2, next_attempt), last_reply = $3, last_host = $4, \
           last_attempt = $5, report = $6, lease_owner = NULL, lease_until = NULL, updated_at = $5 \
         WHERE id = $7 AND queue_id = $8 AND lease_owner = $9",
    )
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
    if n == 1 && matches!(u.outcome, Outcome::Delivered { .. }) {
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

async fn remove_message(w: &mut WriteTx<'_>, queue_id: &str, hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM queue_recipients WHERE queue_id = $1")
        .bind(queue_id)
        .execute(&mut *w.tx)
        .await?;
    sqlx::query("DELETE FROM queue_messages WHERE id = $1")
        .bind(queue_id)
        .execute(&mut *w.tx)
        .await?;
    blobs::release(&mut w.tx, hash, 1).await
}

/// For `record_outcome`, which owes no reports.
struct NoReports;

impl ReportBuilder for NoReports {
    fn build(&self, _: &QueuedMessage, _: &[u8], _: &[QueueRecipient]) -> Option<Report> {
        None
    }
}
