//! Delivery statistics — the store's [`Statistics`]: counts per hour, per domain of ours
//! and per sending user of what happened to recipients (accepted, delivered, deferred,
//! bounced, refused), and the last delivery failures with their replies.
//!
//! Counting is in memory ([`Statistics::count`], [`Statistics::failure`]: a lock and a
//! map entry, nothing written on the mail path), and [`Statistics::flush_stats`] writes
//! what was counted in one transaction, adding to the hours' rows. `serve` flushes every
//! [`FLUSH_EVERY`] and when it stops, and the statistics page before it reads: a crash
//! loses at most the counts of the last interval, never mail. Kept: hourly rows for
//! [`KEEP_HOURS_FOR`], the newest [`KEEP_FAILURES`] failures.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;

use crate::error::Result;
use crate::sql_store::SqlStore;

/// How often `serve` writes the counts.
pub const FLUSH_EVERY: Duration = Duration::from_secs(10);
/// Hourly rows older than this are deleted (about 13 months).
pub const KEEP_HOURS_FOR: i64 = 400 * 86_400;
/// Failures kept for the statistics page.
pub const KEEP_FAILURES: i64 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StatEvent {
    /// A recipient taken with the message (250 after DATA).
    Accepted,
    /// Put in a local mailbox, or taken by the next server with a 2xx.
    Delivered,
    /// A temporary failure; tried again later.
    Deferred,
    /// Failed for good: a 5xx, or out of time; the sender gets a bounce.
    Bounced,
    /// Refused during the SMTP session (RCPT or end of DATA).
    Refused,
}

impl StatEvent {
    pub const ALL: [StatEvent; 5] = [
        StatEvent::Accepted,
        StatEvent::Delivered,
        StatEvent::Deferred,
        StatEvent::Bounced,
        StatEvent::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StatEvent::Accepted => "accepted",
            StatEvent::Delivered => "delivered",
            StatEvent::Deferred => "deferred",
            StatEvent::Bounced => "bounced",
            StatEvent::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<StatEvent> {
        StatEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// The count of one event in one hour for one domain and sending user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatCount {
    /// The hour's start, Unix seconds.
    pub hour: i64,
    /// Our domain concerned: the sending user's for mail our users send, the recipient's
    /// for mail to us.
    pub domain: String,
    /// The authenticated sender, or empty for mail from outside.
    pub user: String,
    pub event: StatEvent,
    pub count: i64,
}

/// A delivery that failed (deferred or bounced), with the reply that said why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFailure {
    pub at: i64,
    pub queue_id: String,
    pub sender: String,
    pub recipient: String,
    pub reply: String,
    /// For good (a bounce) rather than deferred.
    pub bounced: bool,
}

/// What was counted and not written yet.
#[derive(Default)]
pub(crate) struct StatsBuffer {
    counts: Mutex<HashMap<(i64, String, String, StatEvent), i64>>,
    failures: Mutex<Vec<DeliveryFailure>>,
}

/// A lock that a panic elsewhere does not poison for good (the counts stay usable).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// At most this many failures wait in memory between two flushes (the newest are kept).
const MAX_PENDING_FAILURES: usize = 1000;

#[async_trait]
pub trait Statistics: Send + Sync {
    /// Counts `n` of `event` now, in memory.
    fn count(&self, event: StatEvent, domain: &str, user: &str, n: i64);
    /// Keeps a failure for the statistics page, in memory.
    fn failure(&self, failure: DeliveryFailure);
    /// Writes what was counted; returns how many rows it added to.
    async fn flush_stats(&self) -> Result<usize>;
    /// Hourly counts from `since` (Unix seconds) on, oldest first.
    async fn stats_since(&self, since: i64) -> Result<Vec<StatCount>>;
    /// The newest failures, newest first.
    async fn recent_failures(&self, limit: i64) -> Result<Vec<DeliveryFailure>>;
}

#[async_trait]
impl Statistics for SqlStore {
    fn count(&self, event: StatEvent, domain: &str, user: &str, n: i64) {
        if n == 0 {
            return;
        }
        let hour = crate::now() / 3600 * 3600;
        let mut counts = lock(&self.db.stats.counts);
        *counts
            .entry((hour, domain.to_ascii_lowercase(), user.to_string(), event))
            .or_insert(0) += n;
    }

    fn failure(&self, failure: DeliveryFailure) {
        let mut failures = lock(&self.db.stats.failures);
        if failures.len() >= MAX_PENDING_FAILURES {
            failures.remove(0);
        }
        failures.push(failure);
    }

    async fn flush_stats(&self) -> Result<usize> {
        let counts = std::mem::take(&mut *lock(&self.db.stats.counts));
        let failures = std::mem::take(&mut *lock(&self.db.stats.failures));
        if counts.is_empty() && failures.is_empty() {
            return Ok(0);
        }
        let written = self.write_stats(&counts, &failures).await;
        if written.is_err() {
            // put them back for the next flush
            let mut pending = lock(&self.db.stats.counts);
            for (key, n) in counts {
                *pending.entry(key).or_insert(0) += n;
            }
        }
        written
    }

    async fn stats_since(&self, since: i64) -> Result<Vec<StatCount>> {
        let rows = sqlx::query(
            "SELECT hour, domain, sender, event, count FROM delivery_stats WHERE hour >= $1 \
             ORDER BY hour, domain, sender, event",
        )
        .bind(since)
        .fetch_all(&self.db.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let event: String = row.try_get("event")?;
            let Some(event) = StatEvent::parse(&event) else {
                continue;
            };
            out.push(StatCount {
                hour: row.try_get("hour")?,
                domain: row.try_get("domain")?,
                user: row.try_get("sender")?,
                event,
                count: row.try_get("count")?,
            });
        }
        Ok(out)
    }

    async fn recent_failures(&self, limit: i64) -> Result<Vec<DeliveryFailure>> {
        let rows = sqlx::query(
            "SELECT at, queue_id, sender, recipient, reply, bounced FROM delivery_failures \
             ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryFailure {
                    at: row.try_get("at")?,
                    queue_id: row.try_get("queue_id")?,
                    sender: row.try_get("sender")?,
                    recipient: row.try_get("recipient")?,
                    reply: row.try_get("reply")?,
                    bounced: row.try_get::<i64, _>("bounced")? != 0,
                })
            })
            .collect()
    }
}

impl SqlStore {
    async fn write_stats(
        &self,
        counts: &HashMap<(i64, String, String, StatEvent), i64>,
        failures: &[DeliveryFailure],
    ) -> Result<usize> {
        let mut w = self.db.begin_write().await?;
        for ((hour, domain, user, event), n) in counts {
            sqlx::query(
                "INSERT INTO delivery_stats (hour, domain, sender, event, count) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (hour, domain, sender, event) DO UPDATE SET count = delivery_stats.count + excluded.count",
            )
            .bind(hour)
            .bind(domain)
            .bind(user)
            .bind(event.as_str())
            .bind(n)
            .execute(&mut *w.tx)
            .await?;
        }
        for f in failures {
            sqlx::query(
                "INSERT INTO delivery_failures (at, queue_id, sender, recipient, reply, bounced) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(f.at)
            .bind(&f.queue_id)
            .bind(&f.sender)
            .bind(&f.recipient)
            .bind(&f.reply)
            .bind(i64::from(f.bounced))
            .execute(&mut *w.tx)
            .await?;
        }
        if !failures.is_empty() {
            sqlx::query(
                "DELETE FROM delivery_failures WHERE id <= (SELECT MAX(id) FROM delivery_failures) - $1",
            )
            .bind(KEEP_FAILURES)
            .execute(&mut *w.tx)
            .await?;
        }
        sqlx::query("DELETE FROM delivery_stats WHERE hour < $1")
            .bind(crate::now() - KEEP_HOURS_FOR)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await?;
        Ok(counts.len())
    }
}

/// Writes the counts every [`FLUSH_EVERY`] until `stop`, and once more then. The last
/// write may race the store's close at stop; `RunningServer::stop` flushes after the
/// sessions and delivery are done.
pub async fn flush_in_background(
    store: std::sync::Arc<dyn crate::Store>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FLUSH_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        if let Err(e) = store.flush_stats().await {
            tracing::warn!(error = %e, "statistics not written; kept for the next try");
        }
    }
}
