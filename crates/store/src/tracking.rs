//! Open and click tracking — the store's [`Tracking`]: which of our domains have it
//! switched on (off by default), each tracked message our users sent with its counts of
//! opens and clicks, and the clicks on each of its links. The links and the image that
//! lead here are made and checked elsewhere (`estafeta_trust::tracking`); this module only
//! keeps what they report. Kept: messages sent in the last [`KEEP_TRACKED_FOR`], at most
//! [`MAX_TRACKED_URL`] octets of each clicked address.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use crate::address::normalize_domain;
use crate::error::Result;
use crate::sql_store::SqlStore;

/// Tracked messages older than this are forgotten (about 13 months, as the statistics).
pub const KEEP_TRACKED_FOR: i64 = 400 * 86_400;
/// The longest link address kept for a click (longer ones are cut, on a character).
pub const MAX_TRACKED_URL: usize = 2048;

/// A message sent with tracking, and what its recipients did with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrackedMessage {
    /// The queue id it was accepted under.
    pub id: String,
    /// Our domain that sent it (the sending user's).
    pub domain: String,
    pub sender: String,
    /// Its `Subject:`, as sent (shortened for the page).
    pub subject: String,
    pub recipients: i64,
    /// Links rewritten in it.
    pub links: i64,
    pub sent_at: i64,
    pub opens: i64,
    pub clicks: i64,
    pub first_open: Option<i64>,
    pub last_event: Option<i64>,
}

/// The clicks on one link of a tracked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedClick {
    pub url: String,
    pub clicks: i64,
    pub last_click: i64,
}

#[async_trait]
pub trait Tracking: Send + Sync {
    /// Switches tracking on or off for mail `domain`'s users send.
    async fn set_domain_tracking(&self, domain: &str, on: bool) -> Result<()>;
    /// Whether `domain` (ours) has tracking on; false for a domain not served here.
    async fn domain_tracking(&self, domain: &str) -> Result<bool>;
    /// Keeps a message sent with tracking (a second one under the same id is ignored),
    /// forgetting those older than [`KEEP_TRACKED_FOR`].
    async fn add_tracked_message(&self, message: &TrackedMessage) -> Result<()>;
    /// Counts an open of the message; false when no such message is kept.
    async fn record_open(&self, id: &str, at: i64) -> Result<bool>;
    /// Counts a click on `url` in the message; false when no such message is kept.
    async fn record_click(&self, id: &str, url: &str, at: i64) -> Result<bool>;
    /// The newest tracked messages (of one domain, or all), newest first.
    async fn tracked_messages(
        &self,
        domain: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TrackedMessage>>;
    /// The clicked links of one message, most clicked first.
    async fn tracked_clicks(&self, id: &str) -> Result<Vec<TrackedClick>>;
}

const COLUMNS: &str = "id, domain, sender, subject, recipients, links, sent_at, opens, clicks, \
                       first_open, last_event";

fn message_from_row(row: &sqlx::any::AnyRow) -> Result<TrackedMessage> {
    Ok(TrackedMessage {
        id: row.try_get("id")?,
        domain: row.try_get("domain")?,
        sender: row.try_get("sender")?,
        subject: row.try_get("subject")?,
        recipients: row.try_get("recipients")?,
        links: row.try_get("links")?,
        sent_at: row.try_get("sent_at")?,
        opens: row.try_get("opens")?,
        clicks: row.try_get("clicks")?,
        first_open: row.try_get("first_open")?,
        last_event: row.try_get("last_event")?,
    })
}

/// `text` cut to at most `max` octets, on a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[async_trait]
impl Tracking for SqlStore {
    async fn set_domain_tracking(&self, domain: &str, on: bool) -> Result<()> {
        self.set_domain_switch(crate::directory::DomainSwitch::Tracking, domain, on)
            .await
    }

    async fn domain_tracking(&self, domain: &str) -> Result<bool> {
        let Ok(domain) = normalize_domain(domain) else {
            return Ok(false);
        };
        let on: Option<i64> = sqlx::query_scalar("SELECT tracking FROM domains WHERE name = $1")
            .bind(&domain)
            .fetch_optional(&self.db.pool)
            .await?;
        Ok(on.unwrap_or(0) != 0)
    }

    async fn add_tracked_message(&self, m: &TrackedMessage) -> Result<()> {
        let mut w = self.db.begin_write().await?;
        sqlx::query(
            "INSERT INTO tracked_messages (id, domain, sender, subject, recipients, links, sent_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&m.id)
        .bind(m.domain.to_ascii_lowercase())
        .bind(&m.sender)
        .bind(cut(&m.subject, 200))
        .bind(m.recipients)
        .bind(m.links)
        .bind(m.sent_at)
        .execute(&mut *w.tx)
        .await?;
        let cutoff = crate::now() - KEEP_TRACKED_FOR;
        sqlx::query(
            "DELETE FROM tracked_clicks WHERE message_id IN \
             (SELECT id FROM tracked_messages WHERE sent_at < $1)",
        )
        .bind(cutoff)
        .execute(&mut *w.tx)
        .await?;
        sqlx::query("DELETE FROM tracked_messages WHERE sent_at < $1")
            .bind(cutoff)
            .execute(&mut *w.tx)
            .await?;
        w.commit().await
    }

    async fn record_open(&self, id: &str, at: i64) -> Result<bool> {
        let mut w = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tracked_messages SET opens = opens + 1, \
             first_open = COALESCE(first_open, $1), last_event = $1 WHERE id = $2",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_click(&self, id: &str, url: &str, at: i64) -> Result<bool> {
        let mut w = self.db.begin_write().await?;
        let done = sqlx::query(
            "UPDATE tracked_messages SET clicks = clicks + 1, last_event = $1 WHERE id = $2",
        )
        .bind(at)
        .bind(id)
        .execute(&mut *w.tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO tracked_clicks (message_id, url, clicks, last_click) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (message_id, url) DO UPDATE SET clicks = tracked_clicks.clicks + 1, \
             last_click = excluded.last_click",
        )
        .bind(id)
        .bind(cut(url, MAX_TRACKED_URL))
        .bind(at)
        .execute(&mut *w.tx)
        .await?;
        w.commit().await?;
        Ok(true)
    }

    async fn tracked_messages(
        &self,
        domain: Option<&str>,
        limit: i64,
    ) -> Result<Vec<TrackedMessage>> {
        let rows =
            match domain {
                Some(d) => {
                    sqlx::query(AssertSqlSafe(format!(
                        "SELECT {COLUMNS} FROM tracked_messages WHERE domain = $1 \
                     ORDER BY sent_at DESC, id DESC LIMIT $2"
                    )))
                    .bind(d.to_ascii_lowercase())
                    .bind(limit)
                    .fetch_all(&self.db.pool)
                    .await?
                }
                None => sqlx::query(AssertSqlSafe(format!(
                    "SELECT {COLUMNS} FROM tracked_messages ORDER BY sent_at DESC, id DESC LIMIT $1"
                )))
                .bind(limit)
                .fetch_all(&self.db.pool)
                .await?,
            };
        rows.iter().map(message_from_row).collect()
    }

    async fn tracked_clicks(&self, id: &str) -> Result<Vec<TrackedClick>> {
        let rows = sqlx::query(
            "SELECT url, clicks, last_click FROM tracked_clicks WHERE message_id = $1 \
             ORDER BY clicks DESC, url",
        )
        .bind(id)
        .fetch_all(&self.db.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TrackedClick {
                    url: r.try_get("url")?,
                    clicks: r.try_get("clicks")?,
                    last_click: r.try_get("last_click")?,
                })
            })
            .collect()
    }
}
