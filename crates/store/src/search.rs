//! The search index — the store's [`SearchIndex`]: which messages of a mailbox may hold a
//! string (IMAP SEARCH TEXT and BODY), and the indexer that fills it.
//!
//! IMAP compares substrings, case-insensitively, so the index is of substrings too: every
//! three characters in a row (trigrams) of each body's texts, kept in lower case exactly as
//! the IMAP matcher lowers them ([`estafeta_mime::text::index_text`]). SQLite keeps them
//! in an FTS5 table with the `trigram` tokenizer (case-sensitive: the texts are lowered
//! already) and finds a string as one quoted phrase; PostgreSQL keeps the texts under
//! pg_trgm GIN indexes and finds a string with `LIKE '%…%'`. User input never becomes
//! query syntax: the FTS5 phrase is one string literal with its `"` doubled, and the LIKE
//! pattern has `\`, `%` and `_` escaped; both are bound as parameters.
//!
//! The index only narrows: [`SearchIndex::search_candidates`] returns a superset of the
//! matches (the hits, plus every message the index cannot answer for) and the caller
//! confirms each with its matcher, so a search gives the same answer with the index as
//! without it. Bounds: a string shorter than [`MIN_NEEDLE`] characters (on PostgreSQL,
//! one without three letters or digits in a row, which pg_trgm cannot look up) is not
//! looked up (`None`: the caller scans); a longer one is looked up by its first
//! [`MAX_INDEXED_NEEDLE`] characters; each body keeps at most
//! [`estafeta_mime::text::MAX_INDEX_RAW`] octets of raw message and
//! [`estafeta_mime::text::MAX_INDEX_BODY`] of decoded text, and a body with more is
//! marked partial and always a candidate.
//!
//! Bodies are indexed after they are stored, not in the acceptance transaction: a new
//! body waits in `search_pending` (written by `blobs::retain`) until
//! [`SearchIndex::index_pending`] takes it, which [`index_in_background`] does whenever
//! the store signals new bodies. Until then the body is a candidate of every search.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use estafeta_mime::text::{IndexText, index_text};
use sqlx::{AssertSqlSafe, Row};
use tokio::sync::{Notify, watch};

use crate::api::{SearchIndex, Store};
use crate::engine::{Kind, WriteTx};
use crate::error::{Result, StoreError};
use crate::mailbox::to_u32;
use crate::model::SearchScope;
use crate::sql_store::SqlStore;

/// Bodies the indexer takes in one transaction.
pub const INDEX_BATCH: usize = 16;
/// Most body octets the indexer holds in memory at once (a body larger than this is
/// taken alone).
pub const INDEX_BATCH_BYTES: i64 = 16 << 20;
/// Characters of a search string the index looks up (its start): enough to be selective,
/// and a 4 KiB string does not become a 4,000-trigram query.
pub const MAX_INDEXED_NEEDLE: usize = 128;
/// Shorter strings have no trigram to look up.
pub const MIN_NEEDLE: usize = 3;

/// `search_docs.partial`: the raw message was too long to keep.
const PARTIAL_RAW: i64 = 1;
/// `search_docs.partial`: the decoded text was too long to keep.
const PARTIAL_BODY: i64 = 2;

/// What the index looks up for `lower` (the search string in lower case), on `kind`;
/// `None` when the index cannot narrow the search.
fn probe(lower: &str, kind: Kind) -> Option<String> {
    if lower.contains('\0') {
        return None;
    }
    let probe: String = lower.chars().take(MAX_INDEXED_NEEDLE).collect();
    if probe.chars().count() < MIN_NEEDLE {
        return None;
    }
    if kind == Kind::Postgres {
        // pg_trgm takes trigrams from runs of letters and digits only
        let mut run = 0;
        let longest = probe.chars().fold(0, |best, c| {
            run = if c.is_alphanumeric() { run + 1 } else { 0 };
            best.max(run)
        });
        if longest < MIN_NEEDLE {
            return None;
        }
    }
    Some(probe)
}

/// `s` as one FTS5 string: a phrase of its trigrams, nothing in it read as syntax.
fn fts_phrase(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `s` as a LIKE pattern that matches any text containing it.
fn like_pattern(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Whether a message with this per-recipient `prefix` before its body may hold `lower`
/// starting within the prefix: the prefix holds it, or ends with its beginning. The
/// matcher lowers prefix and body as one string; the prefix ends with a line break, where
/// lowering starts afresh, so lowering the prefix alone is the same.
fn prefix_may_hold(prefix: &[u8], lower: &str) -> bool {
    let p = String::from_utf8_lossy(prefix).to_lowercase();
    p.char_indices().any(|(i, _)| {
        let tail = &p[i..];
        tail.starts_with(lower) || lower.starts_with(tail)
    })
}

impl SqlStore {
    /// Writes one body's index rows in `w`, if this indexer is the one that removes its
    /// pending row (another node may race for it).
    async fn write_doc(&self, w: &mut WriteTx<'_>, hash: &str, text: &IndexText) -> Result<()> {
        let mine = sqlx::query("DELETE FROM search_pending WHERE hash = $1")
            .bind(hash)
            .execute(&mut *w.tx)
            .await?
            .rows_affected();
        if mine == 0 {
            return Ok(());
        }
        let partial = if text.raw_complete { 0 } else { PARTIAL_RAW }
            | if text.body_complete { 0 } else { PARTIAL_BODY };
        match self.db.kind {
            Kind::Sqlite => {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO search_docs (hash, partial) VALUES ($1, $2) RETURNING id",
                )
                .bind(hash)
                .bind(partial)
                .fetch_one(&mut *w.tx)
                .await?;
                sqlx::query("INSERT INTO search_fts (rowid, raw, body) VALUES ($1, $2, $3)")
                    .bind(id)
                    .bind(text.raw.as_str())
                    .bind(text.body.as_str())
                    .execute(&mut *w.tx)
                    .await?;
            }
            Kind::Postgres => {
                sqlx::query(
                    "INSERT INTO search_docs (hash, partial, raw, body) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (hash) DO NOTHING",
                )
                .bind(hash)
                .bind(partial as i32)
                .bind(text.raw.as_str())
                .bind(text.body.as_str())
                .execute(&mut *w.tx)
                .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl SearchIndex for SqlStore {
    async fn search_candidates(
        &self,
        mailbox_id: i64,
        needle: &str,
        scope: SearchScope,
    ) -> Result<Option<Vec<u32>>> {
        let lower = needle.to_lowercase();
        let Some(probe) = probe(&lower, self.db.kind) else {
            return Ok(None);
        };
        let pool = &self.db.pool;
        let mut uids = BTreeSet::new();
        let mut take = |rows: Vec<sqlx::any::AnyRow>| -> Result<()> {
            for row in rows {
                uids.insert(to_u32(row.try_get("uid")?)?);
            }
            Ok(())
        };
        // bodies not indexed yet, asked FIRST: the indexer deletes a body's pending row
        // and writes its index rows in one transaction, so a body is either still
        // pending here or, if its transaction committed before this read, in the index
        // the queries below read. Asked the other way round, a body indexed between two
        // reads was in neither answer (imaptest's search-body, on a fresh APPEND)
        take(
            sqlx::query(
                "SELECT m.uid FROM search_pending p CROSS JOIN mailbox_messages m \
                 WHERE m.blob_hash = p.hash AND m.mailbox_id = $1",
            )
            .bind(mailbox_id)
            .fetch_all(pool)
            .await?,
        )?;
        // the hits. On SQLite the FTS query runs once (a MATERIALIZED CTE) and the joins
        // go from its rows to their entries (CROSS JOIN fixes the order; INDEXED BY the
        // body's index, else SQLite walks the whole mailbox for each hit: 10 s for a word
        // in every one of 10,000 messages, against 0.07 s so)
        let hits = match (self.db.kind, scope) {
            (Kind::Sqlite, scope) => {
                let phrase = match scope {
                    SearchScope::Body => format!("body : {}", fts_phrase(&probe)),
                    SearchScope::Text => fts_phrase(&probe),
                };
                sqlx::query(
                    "WITH hits AS MATERIALIZED (SELECT rowid AS id FROM search_fts WHERE search_fts MATCH $2) \
                     SELECT m.uid FROM hits h CROSS JOIN search_docs d \
                     CROSS JOIN mailbox_messages m INDEXED BY mailbox_messages_blob \
                     WHERE d.id = h.id AND m.blob_hash = d.hash AND m.mailbox_id = $1",
                )
                .bind(mailbox_id)
                .bind(phrase)
                .fetch_all(pool)
                .await?
            }
            (Kind::Postgres, scope) => {
                let sql = match scope {
                    SearchScope::Body => "d.body LIKE $2",
                    SearchScope::Text => "(d.raw LIKE $2 OR d.body LIKE $2)",
                };
                sqlx::query(AssertSqlSafe(format!(
                    "SELECT m.uid FROM search_docs d JOIN mailbox_messages m ON m.blob_hash = d.hash \
                     WHERE {sql} AND m.mailbox_id = $1"
                )))
                .bind(mailbox_id)
                .bind(like_pattern(&probe))
                .fetch_all(pool)
                .await?
            }
        };
        take(hits)?;
        // bodies the index keeps only part of
        let partial = match scope {
            SearchScope::Body => format!("(d.partial & {PARTIAL_BODY}) <> 0"),
            SearchScope::Text => "1 = 1".to_string(),
        };
        take(
            sqlx::query(AssertSqlSafe(format!(
                "SELECT m.uid FROM search_docs d CROSS JOIN mailbox_messages m \
                 WHERE d.partial <> 0 AND {partial} AND m.blob_hash = d.hash AND m.mailbox_id = $1"
            )))
            .bind(mailbox_id)
            .fetch_all(pool)
            .await?,
        )?;
        // TEXT looks through the per-recipient prefix too (a Return-Path: line): few
        // distinct ones per mailbox
        if scope == SearchScope::Text {
            let prefixes: Vec<Vec<u8>> = sqlx::query_scalar(
                "SELECT DISTINCT prefix FROM mailbox_messages \
                 WHERE mailbox_id = $1 AND length(prefix) > 0",
            )
            .bind(mailbox_id)
            .fetch_all(pool)
            .await?;
            for prefix in prefixes.iter().filter(|p| prefix_may_hold(p, &lower)) {
                take(
                    sqlx::query(
                        "SELECT uid FROM mailbox_messages WHERE mailbox_id = $1 AND prefix = $2",
                    )
                    .bind(mailbox_id)
                    .bind(prefix.as_slice())
                    .fetch_all(pool)
                    .await?,
                )?;
            }
        }
        Ok(Some(uids.into_iter().collect()))
    }

    async fn index_pending(&self, max: usize) -> Result<usize> {
        let pending = sqlx::query(
            "SELECT p.hash, b.size FROM search_pending p JOIN blobs b ON b.hash = p.hash LIMIT $1",
        )
        .bind(max as i64)
        .fetch_all(&self.db.pool)
        .await?;
        if pending.is_empty() {
            return Ok(0);
        }
        // the bodies, up to INDEX_BATCH_BYTES (at least one)
        let mut bodies = Vec::with_capacity(pending.len());
        let mut bytes = 0;
        for row in &pending {
            let size: i64 = row.try_get("size")?;
            if !bodies.is_empty() && bytes + size > INDEX_BATCH_BYTES {
                break;
            }
            let hash: String = row.try_get("hash")?;
            let row = sqlx::query("SELECT data, size FROM blobs WHERE hash = $1")
                .bind(&hash)
                .fetch_optional(&self.db.pool)
                .await?;
            let data = match row {
                Some(row) => {
                    let (data, size) = (row.try_get("data")?, row.try_get("size")?);
                    crate::blobs::whole(&self.db.pool, &hash, data, size).await?
                }
                None => None,
            };
            if let Some(data) = data {
                bytes += size;
                bodies.push((hash, data));
            }
        }
        if bodies.is_empty() {
            // all gone meanwhile (their pending rows with them): the next call sees
            return Ok(pending.len());
        }
        let taken = bodies.len();
        // parsing and decoding is CPU work: off the async threads
        let docs: Vec<(String, IndexText)> = tokio::task::spawn_blocking(move || {
            bodies
                .into_iter()
                .map(|(hash, data)| (hash, index_text(&data)))
                .collect()
        })
        .await
        .map_err(|e| StoreError::Invalid(format!("search indexer failed: {e}")))?;
        match self.db.kind {
            // one writer at a time: the whole batch in one transaction
            Kind::Sqlite => {
                let mut w = self.db.begin_write().await?;
                for (hash, text) in &docs {
                    self.write_doc(&mut w, hash, text).await?;
                }
                w.commit().await?;
            }
            // One body per transaction, its `blobs` row locked first: a transaction
            // that deletes bodies locks `blobs` rows and then their `search_pending`
            // rows, in its own order; an indexer holding several bodies' rows could
            // wait for one it deletes while it waits for another the indexer holds
            // (the deadlock detector then aborted the deletion: a failed IMAP DELETE).
            // The commit need not be durable: a crash loses the index rows and the
            // removal of the pending row together, and the body is indexed again.
            Kind::Postgres => {
                for (hash, text) in &docs {
                    let mut w = self.db.begin_write().await?;
                    sqlx::query("SET LOCAL synchronous_commit TO OFF")
                        .execute(&mut *w.tx)
                        .await?;
                    let there = sqlx::query("SELECT 1 FROM blobs WHERE hash = $1 FOR KEY SHARE")
                        .bind(hash)
                        .fetch_optional(&mut *w.tx)
                        .await?;
                    if there.is_some() {
                        self.write_doc(&mut w, hash, text).await?;
                    }
                    w.commit().await?;
                }
            }
        }
        Ok(taken)
    }

    fn search_signal(&self) -> Arc<Notify> {
        self.db.search_wake.clone()
    }
}

/// While new bodies keep arriving (acceptance is busy), the indexer works at most one
/// part of the time in this many: after a batch that took `t`, it waits `(n - 1) * t`.
/// Acceptance first: on two cores, indexing flat out took SMTP from about 1,700 to
/// about 550 messages a second (docs/performance.md); a body not indexed yet is only
/// slower to search, never missed.
pub const BUSY_SHARE: u32 = 4;

/// Indexes waiting bodies until `stop` turns true: all of them at start, then whatever
/// the store signals, giving way to acceptance while it is busy ([`BUSY_SHARE`]). A
/// failure is logged and retried at the next signal.
pub async fn index_in_background(store: Arc<dyn Store>, mut stop: watch::Receiver<bool>) {
    let signal = store.search_signal();
    loop {
        loop {
            let started = std::time::Instant::now();
            match store.index_pending(INDEX_BATCH).await {
                Ok(0) => break,
                Ok(n) => tracing::trace!(bodies = n, "indexed for search"),
                Err(e) => {
                    tracing::warn!(error = %e, "search indexing failed; SEARCH looks through the bodies not indexed");
                    break;
                }
            }
            if *stop.borrow() {
                return;
            }
            // new bodies meanwhile: acceptance is busy, leave it the rest of the time
            // (the signal is taken here; the loop goes on until nothing is pending)
            let busy = tokio::time::timeout(std::time::Duration::ZERO, signal.notified())
                .await
                .is_ok();
            if busy {
                let pause = started.elapsed() * (BUSY_SHARE - 1);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    changed = stop.changed() => {
                        if changed.is_err() || *stop.borrow() {
                            return;
                        }
                    }
                }
            }
        }
        tokio::select! {
            _ = signal.notified() => {}
            changed = stop.changed() => {
                if changed.is_err() || *stop.borrow() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probes_are_bounded_and_quoted() {
        assert_eq!(probe("ab", Kind::Sqlite), None);
        assert_eq!(probe("a\0bc", Kind::Sqlite), None);
        assert_eq!(probe("...", Kind::Sqlite).as_deref(), Some("..."));
        assert_eq!(probe("...", Kind::Postgres), None);
        assert_eq!(probe("a.b.c", Kind::Postgres), None);
        assert_eq!(probe("x.abc", Kind::Postgres).as_deref(), Some("x.abc"));
        let long = "é".repeat(5000);
        assert_eq!(
            probe(&long, Kind::Sqlite).map(|p| p.chars().count()),
            Some(MAX_INDEXED_NEEDLE)
        );
        assert_eq!(fts_phrase(r#"a "b" OR c*"#), r#""a ""b"" OR c*""#);
        assert_eq!(like_pattern(r"50%_a\b"), r"%50\%\_a\\b%");
    }

    #[test]
    fn prefixes_that_may_hold_a_string() {
        let p = b"Return-Path: <Ann@Example.org>\r\n";
        assert!(prefix_may_hold(p, "ann@example"));
        assert!(prefix_may_hold(p, ">\r\nsubject: hi"));
        assert!(prefix_may_hold(p, "\nsubject"));
        assert!(!prefix_may_hold(p, "subject"));
    }
}
