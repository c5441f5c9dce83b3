//! Counts the nodes of a cluster share — the store's [`SharedCounts`]: each node writes
//! its own counts of a scope (sending rates, failed logins) and reads the sum of the other
//! nodes' fresh ones, in one transaction. The limits that use them are an approximation
//! made exact by nothing: what the other nodes counted since their last exchange is not
//! seen (see `docs/operations.md`). At most [`MAX_KEYS`] keys of a node are written per
//! exchange; rows untouched for a minute are removed.

use async_trait::async_trait;
use sqlx::Row;

use crate::api::SharedCounts;
use crate::error::Result;
use crate::sql_store::SqlStore;

/// Keys of one node and scope written per exchange (the largest counts first).
pub const MAX_KEYS: usize = 5000;
/// Rows older than this (seconds) are removed.
const FORGET_AFTER: i64 = 60;

#[async_trait]
impl SharedCounts for SqlStore {
    async fn exchange_counts(
        &self,
        node: &str,
        scope: &str,
        counts: &[(String, u64)],
        now: i64,
        fresh_after: i64,
    ) -> Result<Vec<(String, u64)>> {
        let mut mine: Vec<&(String, u64)> = counts.iter().filter(|(_, n)| *n > 0).collect();
        mine.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        mine.truncate(MAX_KEYS);
        let mut w = self.db.begin_write().await?;
        sqlx::query(
            "DELETE FROM shared_counts WHERE (node = $1 AND scope = $2) OR updated_at < $3",
        )
        .bind(node)
        .bind(scope)
        .bind(now - FORGET_AFTER)
        .execute(&mut *w.tx)
        .await?;
        for (key, n) in mine {
            sqlx::query(
                "INSERT INTO shared_counts (node, scope, key, count, updated_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(node)
            .bind(scope)
            .bind(key)
            .bind(i64::try_from(*n).unwrap_or(i64::MAX))
            .bind(now)
            .execute(&mut *w.tx)
            .await?;
        }
        let rows = sqlx::query(
            "SELECT key, CAST(SUM(count) AS BIGINT) AS total FROM shared_counts \
             WHERE scope = $1 AND node <> $2 AND updated_at >= $3 GROUP BY key",
        )
        .bind(scope)
        .bind(node)
        .bind(fresh_after)
        .fetch_all(&mut *w.tx)
        .await?;
        w.commit().await?;
        rows.iter()
            .map(|r| {
                let total: i64 = r.try_get("total")?;
                Ok((r.try_get("key")?, u64::try_from(total).unwrap_or(0)))
            })
            .collect()
    }
}
