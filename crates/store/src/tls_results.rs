//! Counts of outbound TLS session outcomes for TLS reports (RFC 8460): added to as
//! sessions end (one upsert per batch), taken whole when a period's reports are built.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use crate::api::TlsResults;
use crate::error::Result;
use crate::model::TlsResult;
use crate::sql_store::SqlStore;

const KEY: &str =
    "period_start, domain, policy_type, policy, mx_patterns, result, receiving_mx, receiving_ip";

#[async_trait]
impl TlsResults for SqlStore {
    async fn add_tls_results(&self, results: &[TlsResult]) -> Result<()> {
        if results.is_empty() {
            return Ok(());
        }
        let mut w = self.db.begin_write().await?;
        for r in results {
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO tls_results (period_end, {KEY}, count) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT ({KEY}) DO UPDATE SET count = tls_results.count + excluded.count"
            )))
            .bind(r.period_end)
            .bind(r.period_start)
            .bind(&r.domain)
            .bind(&r.policy_type)
            .bind(&r.policy)
            .bind(&r.mx_patterns)
            .bind(&r.result)
            .bind(&r.receiving_mx)
            .bind(&r.receiving_ip)
            .bind(r.count)
            .execute(&mut *w.tx)
            .await?;
        }
        w.commit().await
    }

    async fn take_tls_results(&self, ended_by: i64) -> Result<Vec<TlsResult>> {
        let mut w = self.db.begin_write().await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM tls_results WHERE period_end <= $1 RETURNING period_end, {KEY}, count"
        )))
        .bind(ended_by)
        .fetch_all(&mut *w.tx)
        .await?;
        w.commit().await?;
        let mut taken = rows
            .iter()
            .map(|row| {
                Ok(TlsResult {
                    period_start: row.try_get("period_start")?,
                    period_end: row.try_get("period_end")?,
                    domain: row.try_get("domain")?,
                    policy_type: row.try_get("policy_type")?,
                    policy: row.try_get("policy")?,
                    mx_patterns: row.try_get("mx_patterns")?,
                    result: row.try_get("result")?,
                    receiving_mx: row.try_get("receiving_mx")?,
                    receiving_ip: row.try_get("receiving_ip")?,
                    count: row.try_get("count")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        taken.sort_by(|a, b| (a.period_start, &a.domain).cmp(&(b.period_start, &b.domain)));
        Ok(taken)
    }
}
